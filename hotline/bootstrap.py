"""The composition root: builds the service's object graph, and what the features ask of Asterisk.

Only this package knows every feature. It hands each one what it needs, so that no feature imports
another's internals and the Asterisk boundary (``telephony``) imports no feature. Building the
graph does no I/O: one database (one engine, one pair of session factories) for every store, the
AMI client, the FastAGI server with its routes, the records path and the features' services.
``hotline.service`` then only starts and stops them, in order.

Each AMI event is parsed once, here, into a typed event and fanned out to the record builder, the
live routing state and the console hub.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from callbacks import policy as callback_policy
from callbacks.agi import CallbackOfferHandler
from callbacks.db import CallbackStore
from callbacks.service import CallbackService, Faults
from cases.agi import CaseFollowHandler, CaseReadbackHandler, CaseReportHandler, VoiceNotes
from cases.db import CaseStore
from cases.service import CaseService
from cases.webhooks import WebhookSettings
from cdr.builder import RecordBuilder
from cdr.db import RecordStore
from cdr.service import RecordService
from cdr.wrapup import Wrapups
from console.app import Console
from console.db import ConsoleStore
from hotline.messages import leave_message, wait_estimate
from hotline.settings import Settings
from ivr.calendar_db import Calendar
from ivr.handler import IvrHandler
from ivr.menu import prompt_plan
from ivr.message import MessageHandler
from outbound.campaign_db import CampaignStore
from outbound.list_db import ListStore
from outbound.manual import ACTION_PREFIX as MANUAL_ACTION
from outbound.manual import EVENTS as MANUAL_EVENTS
from outbound.manual import ManualDialler
from outbound.prompts import campaign_prompt_plan
from outbound.service import ACTION_PREFIX as CAMPAIGN_ACTION
from outbound.service import CampaignService
from profiles.model import Profile
from recording.db import RecordingStore
from recording.prompts import recording_prompt_plan
from recording.service import RecordingService
from routing.agi import AgentFeatureHandler
from routing.conference import EVENTS as CONFERENCE_EVENTS
from routing.conference import ROUTE as CONFERENCE_ROUTE
from routing.conference import ConferenceKeyHandler, Conferences
from routing.db import RoutingStore
from routing.ear import Ear
from routing.place import EVENTS as PLACE_EVENTS
from routing.place import PlaceInLine
from routing.queues import build_queues, default_queue
from routing.service import AgentDesk
from routing.state import Snapshot
from routing.whisper import whisper_prompt_plan
from screening.db import ScreeningStore
from screening.prompts import prompt_plan as screening_prompts
from screening.service import ScreeningService
from storage.engine import Database
from survey.agi import SurveyHandler, survey_prompt_plan
from survey.db import SurveyStore
from telephony.agi import AGIServer
from telephony.ami.client import AMIClient
from telephony.ami.message import Message
from telephony.asterisk import Credentials, Plan
from telephony.events import EventParseError, OriginateResponse, decode_event, parse_event
from telephony.names import RECORDINGS_DIR, VOICE_NOTES_DIR
from telephony.prompts import hold_music_plan, transfer_hold_plan

log = logging.getLogger(__name__)

INBOUND_CONTEXT = "hotline-inbound"
#: The AMI events that records are built from (routing's own come from the desk's state).
RECORD_EVENTS = frozenset(
    {
        "Newchannel",
        "UserEvent",
        "QueueCallerJoin",
        "QueueCallerAbandon",
        "QueueCallerLeave",
        "AgentConnect",
        "AgentComplete",
        "Hangup",
        "BlindTransfer",  # the legs of a call (issue 12): transfers and the destinations dialled
        "AttendedTransfer",
        "DialEnd",
    }
)


def asterisk_plan(profile: Profile) -> Plan:
    """The queues (with their members), the IVR's fallback queue and every prompt, for rendering."""
    prompts = prompt_plan(profile) | hold_music_plan(profile)  # each language's hold music (telephony.prompts)
    prompts |= screening_prompts(profile)  # what blocked and warned callers hear (screening)
    prompts |= survey_prompt_plan(profile)  # the survey's questions and thanks (survey)
    prompts |= whisper_prompt_plan(profile)  # what the agent of a whispering topic hears on connect (routing)
    prompts |= transfer_hold_plan(profile)  # what a caller handed on blind hears first (optional)
    prompts |= recording_prompt_plan(profile)  # "this call may be recorded", before a recorded topic's queue
    prompts |= campaign_prompt_plan(profile)  # an outbound campaign's script (greeting, question, after each key)
    return Plan(queues=build_queues(profile), default_queue=default_queue(profile), prompts=prompts)


def place_estimate(snapshot: Snapshot, queue: str, position: int, now: datetime) -> float:
    """The place in line speaks the callback offer's estimate: the same wait, the same recent handle time."""
    aht = callback_policy.aht_from_snapshot(snapshot, now, queue)
    return callback_policy.estimated_wait(snapshot, queue, position, aht, now)


def instance_name(agi_port: int) -> str:
    """Stable across restarts of one service (so it recovers its own callback claims), distinct between two."""
    return f"{socket.gethostname()}:{agi_port}"


@dataclass
class ServiceConfig:
    settings: Settings
    profile: Profile
    credentials: Credentials
    sounds_dir: str  # the prompt folder as Asterisk sees it
    token_file: Path | None = None  # where the admin token for local tools is written (mode 0600)
    sounds_host_dir: Path | None = None  # the prompt folder from here (to switch the callback offer)
    spool_dir: Path | None = None  # completed records wait here until stored (None: beside the token file)
    asterisk_log_dir: Path | None = None  # queue_log and cdr-csv/Master.csv: the gap of a restart is read here
    prompt_cache: Path | None = None  # prompts made at call time are cached here (None: the settings' cache)
    gap_hours: float = 24.0  # how far back a start looks for calls that ended without a record
    faults: Faults = field(default_factory=Faults)  # fault injection, for the end-to-end tests only
    counters: dict[str, int] = field(default_factory=lambda: {"events": 0})


class Service:
    """Every long-lived part of one running service, wired together; constructors only, no I/O."""

    def __init__(self, config: ServiceConfig) -> None:
        settings, profile = config.settings, config.profile
        self.config = config
        self.profile = profile
        self.db = Database(settings.db_url)
        self.local_token: str | None = None  # the admin token for local tools, made at start
        self.public_origin = settings.public_origin  # the console's origin behind a TLS proxy
        self.trusted_proxies = settings.trusted_proxies  # ... and the proxies whose X-Forwarded-For is believed
        self.ami = AMIClient(
            "127.0.0.1", settings.ami_port, config.credentials.ami_username, config.credentials.ami_secret
        )
        self.builder = RecordBuilder(number=profile.number, context=INBOUND_CONTEXT)
        spool = config.spool_dir
        if spool is None and config.token_file is not None:
            spool = config.token_file.parent / "record-spool"
        self.records = RecordService(RecordStore(self.db), spool)
        # the calls connected to each person (the desk's screen pop) and their wrap-up codes
        self.wrapups = Wrapups(profile, self.records.store, self.builder.in_progress)
        self.desk = AgentDesk(profile, self.ami, RoutingStore(self.db))
        #: The live calls, and the supervisor's phone rung into ChanSpy on one of them (routing.ear).
        self.ear = Ear(profile, self.ami)
        self.callbacks = CallbackService(
            profile,
            self.ami,
            CallbackStore(self.db),
            self.desk,
            config.sounds_host_dir,
            instance_name(settings.agi_port),
            faults=config.faults,
        )
        #: Outbound campaigns (None when the profile has none): the paced dialler, the script's keys, the alerts.
        self.campaigns: CampaignService | None = None
        if profile.outbound is not None and profile.outbound.campaigns:
            self.campaigns = CampaignService(
                profile, self.ami, CampaignStore(self.db), self.desk, instance_name(settings.agi_port)
            )
        #: Place in line: each waiting caller hears their position and the estimated wait (routing.place).
        self.place = PlaceInLine(
            profile,
            self.ami,
            self.desk,
            sounds_dir=config.sounds_dir,
            sounds_host_dir=config.sounds_host_dir,
            prompt_cache=config.prompt_cache or settings.cache_dir / "prompts",
            estimate=place_estimate,
        )
        self.ami.add_event_handler(self.place.on_message, events=PLACE_EVENTS)
        #: Cases (None when the profile keeps none: the API answers 404 "this hotline keeps no cases").
        self.cases: CaseService | None = None
        if profile.cases is not None:
            webhooks = WebhookSettings(settings.case_webhook_urls, settings.case_webhook_secret or "")
            self.cases = CaseService(profile, CaseStore(self.db), webhooks=webhooks)
        #: Nuisance callers: the block list and the detection (fed by the records), checked at call start.
        self.screening = ScreeningService(profile, ScreeningStore(self.db))
        #: The post-call survey's answers (the console's satisfaction pages read them too).
        self.survey = SurveyStore(self.db)
        #: Call recordings (topics with record: true): the rows, the purge, the disk; the console plays them.
        recordings = config.sounds_host_dir.parent / RECORDINGS_DIR if config.sounds_host_dir else None
        self.recording = RecordingService(profile, RecordingStore(self.db), recordings, self.ami)
        #: Click-to-call from the desk (outbound.manual): None without outbound or with manual_dialling false.
        self.manual: ManualDialler | None = None
        if profile.outbound is not None and profile.outbound.manual_dialling:
            self.manual = ManualDialler(profile, self.ami, self.db)
            self.ami.add_event_handler(self.manual.on_message, events=MANUAL_EVENTS)
        #: Contact lists and the do-not-call list (outbound.list_db): None without an outbound section.
        self.lists: ListStore | None = ListStore(self.db) if profile.outbound is not None else None
        self.console = Console(self, ConsoleStore(self.db))
        self.records.add_hook(self.callbacks.on_record)
        self.records.add_hook(self.console.on_record)
        self.records.add_hook(self.screening.on_record)
        if self.campaigns is not None:
            self.records.add_hook(self.campaigns.on_record)  # a campaign call's end, and who took a "doctor"
            self.ami.add_event_handler(self.campaigns.on_message, events=["UserEvent"])  # the script's keys
        if self.recording.enabled:
            self.records.add_hook(self.recording.on_record)
            self.ami.add_event_handler(self.recording.on_event, events=["UserEvent"])
        self.agi = AGIServer(
            settings.agi_host,
            settings.agi_port,
            secret=config.credentials.agi_secret,
            call_deadline=settings.ivr_deadline_seconds,
        )
        # the calendar: special days from the console; information topics; messages left while a topic is closed
        self.calendar = Calendar(profile, self.db)
        ivr = IvrHandler(profile, config.sounds_dir, screen=self.screening.screen, special_days=self.calendar.current,
                         wait=wait_estimate(self.desk), sounds_host_dir=config.sounds_host_dir,
                         prompt_cache=config.prompt_cache or settings.cache_dir / "prompts")  # fmt: skip
        self.agi.add_route("ivr", ivr)
        if any(topic.when_closed == "message" for topic in profile.topics):
            left = config.sounds_host_dir.parent / VOICE_NOTES_DIR if config.sounds_host_dir else None
            leave = leave_message(self.cases, self.callbacks)
            self.agi.add_route("message", MessageHandler(profile, leave, left, self.calendar.current))
        self.agi.add_route("agent", AgentFeatureHandler(profile, self.desk, config.sounds_dir, self.wrapups))
        self.agi.add_route("callback", CallbackOfferHandler(profile, self.callbacks, config.sounds_dir))
        if self.cases is not None:  # the number read back, the self-service report, follow a report
            self.agi.add_route("case_readback", CaseReadbackHandler(profile, self.cases, config.sounds_dir))
            notes = VoiceNotes.beside(config.sounds_dir, config.sounds_host_dir)
            self.agi.add_route("case_report", CaseReportHandler(profile, self.cases, config.sounds_dir, notes))
            follow = CaseFollowHandler(
                profile,
                self.cases,
                config.sounds_dir,
                sounds_host_dir=config.sounds_host_dir,
                prompt_cache=config.prompt_cache or settings.cache_dir / "prompts",
            )
            self.agi.add_route("case_follow", follow)
        if profile.survey is not None:  # after a person (and the read-back), within the AGI deadline
            budget = max(5.0, settings.ivr_deadline_seconds - 10)
            self.agi.add_route("survey", SurveyHandler(profile, self.survey, config.sounds_dir, budget_seconds=budget))
        #: The conference (an agent adds a destination of the profile to a call): None without destinations.
        self.conference: Conferences | None = None
        if profile.destinations:
            self.conference = Conferences(profile, self.ami)
            self.ami.add_event_handler(self.conference.on_message, events=CONFERENCE_EVENTS)
            key = ConferenceKeyHandler(profile, self.conference, config.sounds_dir)
            self.agi.add_route(CONFERENCE_ROUTE, key)
        self.ami.add_event_handler(self.on_ami_event, events=RECORD_EVENTS | self.desk.events)
        self.ami.add_event_handler(self.on_originate_response, events=["OriginateResponse"])

    def on_ami_event(self, message: Message) -> None:
        """One AMI event: parsed once, then to the record builder, the routing desk and the console."""
        self.config.counters["events"] += 1
        try:
            event = decode_event(message)
        except EventParseError as exc:
            log.warning("AMI event ignored: %s", exc)
            return
        if event is None:
            return
        for record in self.builder.feed(event):
            self.records.submit(record)
        self.wrapups.on_event(event)
        self.desk.on_event(event)
        self.ear.on_event(event)
        if type(event) in self.desk.event_types:
            self.console.hub.poke()

    async def on_originate_response(self, message: Message) -> None:
        event = parse_event(message)
        if isinstance(event, OriginateResponse):
            if event.action_id.startswith(CAMPAIGN_ACTION):
                if self.campaigns is not None:
                    await self.campaigns.on_originate_response(event)
                return
            if event.action_id.startswith(MANUAL_ACTION):
                if self.manual is not None:
                    await self.manual.on_originate_response(event)
                return
            await self.callbacks.on_originate_response(event)
            self.ear.on_originate_response(event)
