"""The supervisor's ear (issue 12): from the console, a supervisor listens to, whispers to, or barges into a live call.

The service rings the supervisor's own phone (a PJSIP endpoint of the profile's ``supervisors``, linked to their
console user by its ``person``) with an AMI ``Originate`` straight into ``ChanSpy`` on the agent's channel of that
call: ``q`` quiet (no beep, no channel name spoken), ``E`` ends when the agent's channel hangs up, ``S`` when there
is nothing left to spy on; ``w`` lets the supervisor talk to the agent only (whisper), ``B`` to both (barge). The
caller hears nothing of a listen or a whisper.

What a request may name is narrow: a live call by its id (the caller's Uniqueid, as app_queue's ``AgentConnect``
gave it), one of three modes, and at most the supervisor's own phone. The channel ChanSpy is given is never taken
from a request: it is the agent's channel that Asterisk reported for that call. Every refusal says why
(:class:`EarError`); every call rung is audited by the host (``call.listen``, ``call.whisper``, ``call.barge``).

The live calls are kept from the typed events the root fans out (:meth:`Ear.on_event`): ``AgentConnect`` adds one,
``AgentComplete`` and the ``Hangup`` of either channel end it. A conference (``routing.conference``) moves the caller
and the agent out of Queue() into a ConfBridge, and app_queue's ``AgentComplete`` then no longer means the agent
stopped talking: while the call is a conference (the service's ``HotlineConference`` facts ``adding`` / ``joined``),
or after a ``transfer`` that no ``BlindTransfer`` / ``AttendedTransfer`` of the agent's channel explains (the move),
the call stays live (the agent's channel is the same one, now in the ConfBridge, so ChanSpy on it still works) until
the agent leaves (``agent-left``), the conference ends (``ended``) or either channel hangs up.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from profiles.model import Profile
from telephony import names
from telephony.ami.client import AMIClient, AMIDisconnected, AMIException
from telephony.clock import utc_now
from telephony.events import (
    AgentComplete,
    AgentConnect,
    AttendedTransfer,
    BlindTransfer,
    Event,
    Hangup,
    HotlineConference,
    OriginateResponse,
)

log = logging.getLogger(__name__)

#: ChanSpy's options per mode (see the module).
MODES = {"listen": "qES", "whisper": "qESw", "barge": "qESB"}
RING_TIMEOUT_MS = 30_000  # how long the supervisor's phone rings
#: A call's id: the caller's Uniqueid (epoch seconds, a dot, a sequence number).
CALL_ID = re.compile(r"[0-9]{1,20}\.[0-9]{1,10}")
#: The agent's channel as Asterisk names it: ``PJSIP/<person>-<8 hex>``; nothing ChanSpy could read as more.
AGENT_CHANNEL = re.compile(r"PJSIP/[A-Za-z0-9_.-]{1,64}-[0-9a-f]{8}")
ACTION_PREFIX = "ear-"
_MAX_PENDING = 64  # rings remembered until Asterisk says how they ended
_MAX_CONFERENCES = 10_000  # conferences remembered whose end never reached us (an AMI gap)


class EarError(Exception):
    """A request the ear refuses. ``reason``: ``bad_call``, ``unknown_call``, ``bad_mode``, ``no_phone``,
    ``not_your_phone`` (a refusal of the request) or ``unavailable`` (Asterisk could not be asked)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A caller connected to a person by app_queue."""

    call: str  # the caller's Uniqueid
    linkedid: str
    queue: str
    person: str
    agent_channel: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Rung:
    """A supervisor's phone rung to spy on a live call."""

    call: LiveCall
    mode: str
    phone: str
    action_id: str


class Ear:
    """The live calls, and the supervisor's phone rung into ChanSpy on one of them (see the module)."""

    def __init__(self, profile: Profile, ami: AMIClient, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.profile = profile
        self.ami = ami
        self.clock = clock
        self.people = frozenset(p.id for p in profile.people)
        self.supervisors = frozenset(s.id for s in profile.supervisors)
        self.calls: dict[str, LiveCall] = {}  # the caller's Uniqueid -> the call
        self._handed_on: set[str] = set()  # live calls (the caller's Uniqueid) whose agent transferred the caller
        self._conferences: dict[str, None] = {}  # linkedids that are conferences now (ordered: the oldest first)
        self._sequence = itertools.count(1)
        self._rung: dict[str, Rung] = {}  # ActionID -> the ring not yet answered or failed
        self.unanswered: list[Rung] = []  # the last rings the supervisor's phone did not answer (kept bounded)

    # -- live calls --------------------------------------------------------------------------------------
    def on_event(self, event: Event | None) -> None:
        """A typed AMI event: ``AgentConnect`` opens a live call, ``AgentComplete`` or a hang-up ends it."""
        if isinstance(event, AgentConnect):
            person = event.member_name
            if (
                CALL_ID.fullmatch(event.uniqueid)
                and person in self.people
                and AGENT_CHANNEL.fullmatch(event.dest_channel)
                and names.person_of_channel(event.dest_channel) == person
            ):
                self.calls[event.uniqueid] = LiveCall(
                    event.uniqueid, event.linkedid, event.queue, person, event.dest_channel, event.at
                )
                self._handed_on.discard(event.uniqueid)
        elif isinstance(event, AgentComplete):
            call = self.calls.get(event.uniqueid)
            if call is not None and call.person == event.member_name and not self._in_conference(call, event):
                self._end(call.call)
        elif isinstance(event, BlindTransfer):
            self._transferred(event.transferer_channel)
        elif isinstance(event, AttendedTransfer):
            self._transferred(event.orig_transferer_channel, event.second_transferer_channel)
        elif isinstance(event, HotlineConference):
            self._conference(event)
        elif isinstance(event, Hangup):
            self._end(event.uniqueid)
            for call in [c for c in self.calls.values() if c.agent_channel == event.channel]:
                self._end(call.call)
            if event.uniqueid == event.linkedid:
                self._conferences.pop(event.linkedid, None)

    def _in_conference(self, call: LiveCall, event: AgentComplete) -> bool:
        """app_queue ended its call, but the agent still talks in the conference the call was moved into."""
        if call.linkedid in self._conferences:
            return True
        return event.reason.lower() == "transfer" and call.call not in self._handed_on

    def _transferred(self, *channels: str) -> None:
        for call in self.calls.values():
            if call.agent_channel in channels:
                self._handed_on.add(call.call)

    def _conference(self, event: HotlineConference) -> None:
        linkedid = event.call
        if event.state in ("adding", names.CONFERENCE_JOINED):
            if any(c.linkedid == linkedid for c in self.calls.values()):
                self._conferences[linkedid] = None
                while len(self._conferences) > _MAX_CONFERENCES:
                    self._conferences.pop(next(iter(self._conferences)))
        elif event.state in (names.CONFERENCE_AGENT_LEFT, "ended"):
            for call in [c for c in self.calls.values() if c.linkedid == linkedid]:
                if event.state == "ended" or not event.agent or call.person == event.agent:
                    self._end(call.call)
            if event.state == "ended" or not any(c.linkedid == linkedid for c in self.calls.values()):
                self._conferences.pop(linkedid, None)

    def _end(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self._handed_on.discard(call_id)

    def live(self) -> list[LiveCall]:
        """The live calls, oldest first."""
        return sorted(self.calls.values(), key=lambda c: (c.since, c.call))

    def call_of(self, person: str) -> LiveCall | None:
        return next((c for c in self.calls.values() if c.person == person), None)

    # -- checks ------------------------------------------------------------------------------------------
    def phone_of(self, supervisor: str | None, asked: str | None = None) -> str:
        """The phone to ring: the acting supervisor's own (``supervisor``, their console user's person). A
        request naming a phone (``asked``) may name that one only."""
        if supervisor is None or supervisor not in self.supervisors:
            known = ", ".join(sorted(self.supervisors)) or "none in this profile"
            raise EarError(
                "no_phone",
                "your console user has no supervisor's phone of this hotline: link it with "
                f"'hotline user add NAME --role supervisor --person ID' (supervisors' phones: {known})",
            )
        if asked is not None and asked != supervisor:
            raise EarError("not_your_phone", f"only your own phone ({supervisor}) can be rung, not {asked!r}")
        return supervisor

    def live_call(self, call_id: str) -> LiveCall:
        if not CALL_ID.fullmatch(call_id):
            raise EarError(
                "bad_call", f"{call_id[:80]!r} is not a call id: name a live call by its id (e.g. 1733140000.42)"
            )
        call = self.calls.get(call_id)
        if call is None:
            raise EarError("unknown_call", f"no live call {call_id!r} is connected to a person now")
        return call

    # -- ringing the supervisor ----------------------------------------------------------------------------
    async def ring(self, call_id: str, mode: str, supervisor: str | None, asked_phone: str | None = None) -> Rung:
        """Ring the supervisor's own phone into ChanSpy on the agent's channel of ``call_id`` (see the module)."""
        options = MODES.get(mode)
        if options is None:
            raise EarError("bad_mode", f"mode must be one of {', '.join(MODES)}, not {mode[:40]!r}")
        phone = self.phone_of(supervisor, asked_phone)
        call = self.live_call(call_id)
        action_id = f"{ACTION_PREFIX}{mode}-{next(self._sequence)}"
        action = {
            "Action": "Originate",
            "Channel": names.interface(phone),
            "Application": "ChanSpy",
            "Data": f"{call.agent_channel},{options}",
            "Async": "true",
            "Timeout": str(RING_TIMEOUT_MS),
            "CallerID": f'"{mode} {call.person}"',  # what the supervisor's phone shows
            "ActionID": action_id,
        }
        try:
            await self.ami.send_action(action)
        except AMIDisconnected:
            raise EarError("unavailable", "Asterisk is not reachable now: try again in a moment") from None
        except AMIException as exc:
            log.warning("ear: the %s of call %s by %s was not sent: %s", mode, call.call, phone, exc)
            raise EarError("unavailable", f"Asterisk refused to ring {phone}: {exc}") from None
        log.info("ear: %s rung to %s call %s (%s, %s)", phone, mode, call.call, call.person, call.agent_channel)
        rung = Rung(call, mode, phone, action_id)
        self._rung[action_id] = rung
        while len(self._rung) > _MAX_PENDING:
            self._rung.pop(next(iter(self._rung)))
        return rung

    def on_originate_response(self, event: OriginateResponse) -> None:
        """The outcome of a ring (the root hands over each typed OriginateResponse): a phone that is not
        registered, busy or not answered is logged (the console said "ringing")."""
        rung = self._rung.pop(event.action_id, None)
        if rung is None or event.success:
            return
        log.warning("ear: %s did not answer the %s of call %s (reason %s): the phone may not be registered",
                    rung.phone, rung.mode, rung.call.call, event.reason)  # fmt: skip
        self.unanswered = [*self.unanswered[-(_MAX_PENDING - 1) :], rung]
