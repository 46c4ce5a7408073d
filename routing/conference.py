"""The conference (issue 12): an agent adds one of the profile's destinations to their call, a three-way call
on ConfBridge, then may leave while the caller and the destination stay.

One operation, :meth:`Conferences.add`, for both ways in: the agent's desk page (``console.desk``: "add to
call", a destination by its id) and the agent's phone (the profile's ``transfers.conference`` key, then a
destination's short code: the features.conf applicationmap runs the FastAGI route ``conference`` on the
agent's own channel, :class:`ConferenceKeyHandler`). What it does, through AMI:

1. it checks everything before it changes anything: the destination is one of the profile's (by id, or by
   a short code that is a destination's: a queue's or a person's code is refused), the call id is an Asterisk
   id, and the agent's own phone is on that call, talking to the caller (``CoreShowChannels``: a channel
   ``PJSIP/<person>-xxxxxxxx`` with the call's linkedid, in the caller's bridge). Anything else is a
   :class:`ConferenceError` and nothing is sent;
2. it moves the caller and the agent into the ConfBridge named by the call (``hotline-<linkedid>``): one
   ``Redirect`` of both channels to the dialplan context ``hotline-conference`` (extensions ``caller`` and
   ``agent``; confbridge.conf.j2 has their profiles). Once the call is a conference, a further destination
   only joins it;
3. it originates the destination into the conference: ``Local/<destination id>@hotline-destinations/n``
   (the one place where the dialplan dials outside, one extension per destination of the profile) with the
   application ``ConfBridge``. The originated channel carries ``HOTLINE_LINKEDID`` (the call) and
   ``HOTLINE_DESTINATION`` (inherited by the dialled leg) for the record.

The conference goes on when the agent leaves; it ends when only one party is left: Asterisk itself ends it
when the caller leaves (the caller is the marked user; the others have ``end_marked``), and this service
hangs up the last one left otherwise (on ``ConfbridgeLeave``, or when the destination could not be reached
and nobody else is left). Until then a lone caller hears music, never silence.

For the record (``cdr``) the service sends the ``UserEvent`` :data:`USEREVENT` (AMI stamps its time) with
``Call`` (the caller's linkedid: the destination's channel has its own), ``Conference``, ``Destination`` (an
id of the profile), ``Agent`` (a person id) and ``State``, one of: ``adding`` (the agent asked, ``Via``:
``desk`` or ``phone``; the destination is being dialled), ``failed`` (it could not be reached), ``joined``
(it answered and is in the conference with the caller), ``agent-left`` (the agent left the conference),
``left`` (the destination left), ``ended`` (the service ended the conference with one party left). They are
made from Asterisk's own ``ConfbridgeJoin`` / ``ConfbridgeLeave`` of the conference named by the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from profiles.model import Destination, Profile
from telephony import names as v
from telephony.agi import AGIHangup, AGISession
from telephony.ami.message import ActionValue, Message

log = logging.getLogger(__name__)

#: The dialplan context the caller and the agent are moved into (extensions.conf.j2).
CONTEXT = "hotline-conference"
CALLER_EXTEN = "caller"
AGENT_EXTEN = "agent"
#: H1's context: one extension per destination of the profile; the only place that dials outside.
DESTINATIONS_CONTEXT = v.DESTINATIONS_CONTEXT  # "hotline-destinations"
#: confbridge.conf.j2's profiles and menu.
BRIDGE_PROFILE = "hotline-bridge"
CALLER_PROFILE = "hotline-caller"
AGENT_PROFILE = "hotline-agent"
DESTINATION_PROFILE = "hotline-destination"
MENU = "hotline-menu"
#: A conference is named by its call: ``hotline-<linkedid>``.
PREFIX = "hotline-"
#: features.conf's applicationmap item (enabled on the agent's channel only, by a pre-dial handler).
FEATURE = "hotline-conference"
#: The FastAGI route the phone's key runs.
ROUTE = "conference"
USEREVENT = v.CONFERENCE_USEREVENT  # "HotlineConference"
LINKEDID_VARIABLE = "HOTLINE_LINKEDID"
DESTINATION_VARIABLE = "HOTLINE_DESTINATION"
#: The AMI events this module listens to.
EVENTS = ("ConfbridgeJoin", "ConfbridgeLeave", "OriginateResponse")
ORIGINATE_TIMEOUT_MS = 45_000
MAX_CODE_DIGITS = 6  # a short code is 2 to 6 digits (profiles.model.ShortCode)

# An Asterisk unique id ("1733150000.12", optionally after a system name): nothing that could say more.
_LINKEDID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CHANNEL_SUFFIX = re.compile(r"[0-9a-f]{8}")  # chan_pjsip names a channel "PJSIP/<endpoint>-%08x"
_CODE = re.compile(r"[0-9]{2,6}")


class ConferenceError(ValueError):
    """A conference that cannot be made: bad input, or a state of the call that does not allow it."""

    status = 400


class NotYourCall(ConferenceError):
    """The agent's phone is not on that call (another agent's call, an ended call, a made-up id)."""

    status = 403


class UnknownDestination(ConferenceError):
    """Not a destination of the profile (an unknown id, a queue's or a person's code, a crafted string)."""

    status = 400


class Ami(Protocol):
    async def send_action(self, action: Mapping[str, ActionValue], timeout: float | None = 10.0) -> Message: ...
    async def send_action_list(
        self, action: Mapping[str, ActionValue], timeout: float | None = 30.0
    ) -> list[Message]: ...


@dataclass(frozen=True)
class Plan:
    """What :meth:`Conferences.add` checked and will do."""

    linkedid: str
    person: str
    destination: Destination
    caller_channel: str
    agent_channel: str
    joined: bool  # the call is already a conference: the destination only joins it
    via: str

    @property
    def conference(self) -> str:
        return conference_name(self.linkedid)


def conference_name(linkedid: str) -> str:
    return f"{PREFIX}{linkedid}"


def destination_of(channel: str) -> str | None:
    """``Local/emergency-control-room@hotline-destinations-0000001a;1`` -> ``emergency-control-room``."""
    if not channel.startswith("Local/"):
        return None
    exten, at, rest = channel[len("Local/") :].partition("@")
    return exten if at and rest.startswith(DESTINATIONS_CONTEXT + "-") and exten else None


class Conferences:
    """The conference operation and the rule that ends a conference with one party left."""

    def __init__(self, profile: Profile, ami: Ami) -> None:
        self.profile = profile
        self.ami = ami
        self.by_id = {d.id: d for d in profile.destinations}
        self.by_code = {d.code: d for d in profile.destinations}
        self.people = {p.id for p in profile.people}
        self.added = 0
        self._pending: dict[str, Plan] = {}  # Originate ActionID -> its plan, until its response
        self._dialling: dict[str, int] = {}  # conference -> destinations dialled that have not joined yet
        self._latest: dict[str, str] = {}  # conference -> the destination added last (every fact names one)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- checks (nothing is changed) --------------------------------------------------------------
    def destination(self, destination_id: str) -> Destination:
        found = self.by_id.get(destination_id) if isinstance(destination_id, str) else None
        if found is None:
            raise UnknownDestination(f"{str(destination_id)[:40]!r} is not a destination of this hotline")
        return found

    def destination_by_code(self, code: str) -> Destination:
        found = self.by_code.get(code) if _CODE.fullmatch(code or "") else None
        if found is None:
            raise UnknownDestination(f"code {str(code)[:8]!r} is not the code of a destination of this hotline")
        return found

    async def plan(self, person: str, linkedid: str, destination: Destination, via: str) -> Plan:
        if person not in self.people:
            raise NotYourCall(f"{person[:40]!r} is not a person of this hotline")
        if not isinstance(linkedid, str) or not _LINKEDID.fullmatch(linkedid):
            raise NotYourCall("not a call id")
        channels = [c for c in await self._channels() if c.get("Linkedid") == linkedid]
        caller = next((c for c in channels if c.get("Uniqueid") == linkedid), None)
        prefix = v.interface(person) + "-"
        agent = next(
            (
                c
                for c in channels
                if c.get("Channel", "").startswith(prefix)
                and _CHANNEL_SUFFIX.fullmatch(c.get("Channel", "")[len(prefix) :])
                and c is not caller
            ),
            None,
        )
        if agent is None:
            raise NotYourCall(f"call {linkedid} is not connected to {person}'s phone")
        if caller is None:
            raise ConferenceError(f"the caller of call {linkedid} has left")
        joined = caller.get("Application") == "ConfBridge" and agent.get("Application") == "ConfBridge"
        bridge = caller.get("BridgeId", "")
        if not joined and (not bridge or agent.get("BridgeId") != bridge):
            raise ConferenceError(f"{person} is not talking to the caller of call {linkedid}")
        return Plan(linkedid, person, destination, caller["Channel"], agent["Channel"], joined, via)

    async def _channels(self) -> list[dict[str, str]]:
        events = await self.ami.send_action_list({"Action": "CoreShowChannels"})
        return [dict(e.headers) for e in events if e.event == "CoreShowChannel"]

    # -- the operation ----------------------------------------------------------------------------
    async def add(self, person: str, linkedid: str, destination_id: str, via: str = "desk") -> Plan:
        """Add the destination ``destination_id`` to ``person``'s call ``linkedid``; ConferenceError refuses."""
        plan = await self.plan(person, linkedid, self.destination(destination_id), via)
        await self.carry_out(plan)
        return plan

    async def carry_out(self, plan: Plan) -> None:
        if not plan.joined:
            await self.ami.send_action(
                {
                    "Action": "Redirect",
                    "Channel": plan.caller_channel,
                    "Context": CONTEXT,
                    "Exten": CALLER_EXTEN,
                    "Priority": "1",
                    "ExtraChannel": plan.agent_channel,
                    "ExtraContext": CONTEXT,
                    "ExtraExten": AGENT_EXTEN,
                    "ExtraPriority": "1",
                }
            )
        action_id = f"conference-{uuid.uuid4().hex}"
        self._latest[plan.conference] = plan.destination.id
        while len(self._latest) > 10_000:  # conferences whose end never reached us
            del self._latest[next(iter(self._latest))]
        self._pending[action_id] = plan
        self._dialling[plan.conference] = self._dialling.get(plan.conference, 0) + 1
        await self._fact(plan.linkedid, "adding", destination=plan.destination.id, agent=plan.person, via=plan.via)
        try:
            await self.ami.send_action(
                {
                    "Action": "Originate",
                    "Channel": f"Local/{plan.destination.id}@{DESTINATIONS_CONTEXT}/n",
                    "Application": "ConfBridge",
                    "Data": f"{plan.conference},{BRIDGE_PROFILE},{DESTINATION_PROFILE},{MENU}",
                    "Async": "true",
                    "Timeout": str(ORIGINATE_TIMEOUT_MS),
                    "CallerID": f'"{self.profile.number}" <{self.profile.number}>',
                    "Variable": [
                        f"__{LINKEDID_VARIABLE}={plan.linkedid}",
                        f"__{DESTINATION_VARIABLE}={plan.destination.id}",
                    ],
                    "ActionID": action_id,
                }
            )
        except Exception:
            self._pending.pop(action_id, None)
            self._not_dialling(plan.conference)
            raise
        self.added += 1
        log.info("conference %s: %s adds %s (%s)", plan.conference, plan.person, plan.destination.id, plan.via)

    async def _fact(self, linkedid: str, state: str, **headers: str) -> None:
        """One ``UserEvent`` :data:`USEREVENT` for the record; the call goes on without it if it fails. Each
        names a destination (the one added last when the fact is about the agent or the end)."""
        conference = conference_name(linkedid)
        headers.setdefault("destination", self._latest.get(conference, ""))
        action = {"Action": "UserEvent", "UserEvent": USEREVENT, "Call": linkedid, "Conference": conference,
                  "State": state}  # fmt: skip
        action |= {name.capitalize(): value for name, value in headers.items() if value}
        try:
            await self.ami.send_action(action)
        except Exception as exc:
            log.warning("conference of call %s: the fact %s was not sent: %s", linkedid, state, exc)

    def _not_dialling(self, conference: str) -> None:
        left = self._dialling.get(conference, 0) - 1
        if left > 0:
            self._dialling[conference] = left
        else:
            self._dialling.pop(conference, None)

    # -- events: the end with one party left ------------------------------------------------------
    def on_message(self, message: Message) -> None:
        """An AMI event (:data:`EVENTS`); the checks that need AMI run as tasks."""
        name = message.event
        if name == "OriginateResponse":
            plan = self._pending.pop(message.get("ActionID") or "", None)
            if plan is None or (message.get("Response") or "").lower() == "success":
                return  # answered: the destination joins (ConfbridgeJoin) in a moment
            self._not_dialling(plan.conference)
            log.warning("conference %s: %s could not be reached (reason %s)", plan.conference,
                        plan.destination.id, message.get("Reason"))  # fmt: skip
            self._spawn(self._failed(plan))
            return
        conference = message.get("Conference") or ""
        if not conference.startswith(PREFIX):
            return
        linkedid = conference[len(PREFIX) :]
        channel = message.get("Channel") or ""
        destination = destination_of(channel)
        person = v.person_of_channel(channel)
        if name == "ConfbridgeJoin":
            if destination is not None:
                self._not_dialling(conference)
                self._spawn(self._fact(linkedid, v.CONFERENCE_JOINED, destination=destination))
        elif name == "ConfbridgeLeave":
            if destination is not None:
                self._spawn(self._fact(linkedid, v.CONFERENCE_LEFT, destination=destination))
            elif person in self.people and message.get("Uniqueid") != linkedid:  # not a caller on an agent's phone
                self._spawn(self._fact(linkedid, v.CONFERENCE_AGENT_LEFT, agent=person))
            self._spawn(self._one_left(conference))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="hotline-conference")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _failed(self, plan: Plan) -> None:
        await self._fact(plan.linkedid, "failed", destination=plan.destination.id, agent=plan.person)
        await self._one_left(plan.conference)

    async def _one_left(self, conference: str) -> None:
        """With one party left (and no destination on its way), the conference ends: hang that one up."""
        if self._dialling.get(conference):
            return
        try:
            events = await self.ami.send_action_list({"Action": "ConfbridgeList", "Conference": conference})
        except Exception:  # an ended conference answers an error: nothing to do
            return
        members = [e.get("Channel") for e in events if e.event == "ConfbridgeList"]
        if len(members) != 1 or not members[0] or self._dialling.get(conference):
            return
        log.info("conference %s: only %s is left; it ends", conference, members[0])
        with contextlib.suppress(Exception):
            await self.ami.send_action({"Action": "Hangup", "Channel": members[0], "Cause": "16"})
        await self._fact(conference[len(PREFIX) :], "ended")
        self._latest.pop(conference, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)


class ConferenceKeyHandler:
    """The FastAGI route ``conference``: the agent keyed the conference key on their phone during a call.

    The applicationmap runs it on the agent's own channel with ``${CHANNEL(linkedid)}`` and
    ``${CHANNEL(endpoint)}``; the channel name, the endpoint and the profile must agree (as for the feature
    codes, ``routing.agi``). It collects the destination's short code (up to 6 digits, the profile's digit
    timeout), checks everything, and answers at once; the channels are moved once this AGI call is over (the
    agent's channel is running it). A refusal: the agent hears "could not be done", and the call goes on."""

    def __init__(self, profile: Profile, conferences: Conferences, sounds_dir: str) -> None:
        self.profile = profile
        self.conferences = conferences
        self.sounds_dir = sounds_dir.rstrip("/")
        self.timeout_ms = profile.transfers.digit_timeout_seconds * 1000
        self.languages = {p.id: max(p.languages, key=lambda code: p.languages[code]) for p in profile.people}

    def person_of(self, session: AGISession) -> str | None:
        endpoint = session.args[1] if len(session.args) > 1 else ""
        prefix = v.interface(endpoint) + "-"
        if endpoint not in self.languages or not session.channel.startswith(prefix):
            return None
        return endpoint if _CHANNEL_SUFFIX.fullmatch(session.channel[len(prefix) :]) else None

    async def __call__(self, session: AGISession) -> None:
        linkedid = session.args[0] if session.args else ""
        person = self.person_of(session)
        if person is None:
            log.warning("conference key from channel %r refused: not a phone of the profile", session.channel)
            return
        try:
            code = await session.get_data(f"{self.sounds_dir}/beep", self.timeout_ms, MAX_CODE_DIGITS)
        except AGIHangup:
            return
        try:
            destination = self.conferences.destination_by_code(code)
            plan = await self.conferences.plan(person, linkedid, destination, "phone")
        except ConferenceError as exc:
            log.info("conference key from %s refused: %s", person, exc)
            await self._refused(session, person)
            return
        except Exception:
            log.exception("conference key from %s failed", person)
            await self._refused(session, person)
            return
        # the agent's channel runs this AGI inside the feature: move it once the AGI call is over
        self.conferences._spawn(self._carry_out(plan))

    async def _carry_out(self, plan: Plan) -> None:
        await asyncio.sleep(0)
        try:
            await self.conferences.carry_out(plan)
        except Exception:
            log.exception("conference %s from the phone of %s failed", plan.conference, plan.person)

    async def _refused(self, session: AGISession, person: str) -> None:
        prompt = v.agent_prompt(self.languages[person], "agent_failed")
        with contextlib.suppress(AGIHangup):
            await session.stream_file(f"{self.sounds_dir}/{prompt}")
