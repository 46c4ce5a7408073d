"""Wrap-up codes: the calls each person answered, and the code (a disposition of the call's topic) they choose.

The root hands :meth:`Wrapups.on_event` every typed event, after the record builder has seen it: on
``AgentConnect`` the call is known as the person's (with what the builder knows of it: the caller's
number, language, topic, specialty, whether the IVR routed it), and its listeners are told (the
agent's desk pushes its screen pop); on ``AgentComplete`` the call is over (the person is in wrap-up).

A conference (issue 12, ``routing.conference``) moves the caller and the agent out of Queue() into a ConfBridge:
app_queue's ``AgentComplete`` then no longer means the person stopped talking (it comes for the move, Reason
``transfer`` with no transfer event of the person's channel, or when either channel of the queue's call goes,
while the person may still be in the conference). While the call is a conference (the service's
``HotlineConference`` facts ``adding`` / ``joined``), or after such a ``transfer`` that no ``BlindTransfer`` /
``AttendedTransfer`` of the person's channel explains, the call stays live on the desk; it ends when the person
leaves the conference (``agent-left``), the conference ends (``ended``), or the person's channel or the caller's
hangs up.

A code is chosen on the desk page (a disposition id, for one of the person's calls) or keyed on the
phone (``*5`` and the disposition's code, for the person's last call). It must be one of the
dispositions of the call's topic. ``cdr.db.RecordStore.set_wrapup`` keeps it on the call record,
or pending until the record is stored. A call this service no longer remembers (a restart) is
looked up in the records.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cdr.builder import CallInProgress
from cdr.db import RecordStore, WrapupRefused
from profiles.model import Disposition, Profile
from telephony import names
from telephony.events import (
    AgentComplete,
    AgentConnect,
    AttendedTransfer,
    BlindTransfer,
    Event,
    Hangup,
    HotlineConference,
)

__all__ = ["AgentCall", "WrapupError", "Wrapups"]

log = logging.getLogger(__name__)

MAX_TALKING = 10_000  # calls in progress remembered
KEEP_CALLS = 20  # the latest calls remembered per person (the desk lists them; a code may be chosen for each)


class WrapupError(ValueError):
    """A wrap-up code that cannot be chosen: unknown for the call's topic, or not the person's call."""


@dataclass(frozen=True, slots=True)
class AgentCall:
    """A call connected to a person: what their desk shows, and what a wrap-up code is chosen for."""

    linkedid: str
    person: str
    connected_at: datetime
    caller_number: str | None = None
    caller_name: str | None = None
    language: str | None = None
    topic: str | None = None
    specialty: str | None = None
    queue: str | None = None
    routed: bool = False  # the IVR routed the caller (False: the dialplan's fallback to the default queue)
    ended_at: datetime | None = None
    wrapup_code: str | None = None  # the disposition id chosen

    @property
    def in_progress(self) -> bool:
        return self.ended_at is None


Listener = Callable[[AgentCall], None]


class Wrapups:
    """``lookup``: the record builder's call in progress by linkedid (``RecordBuilder.in_progress``)."""

    def __init__(
        self,
        profile: Profile,
        store: RecordStore,
        lookup: Callable[[str], CallInProgress | None],
        keep: int = KEEP_CALLS,
    ) -> None:
        self.profile = profile
        self.store = store
        self.lookup = lookup
        self.keep = keep
        self.topics = {t.id: t for t in profile.topics}
        self._calls: dict[str, deque[AgentCall]] = {}
        self._talking: dict[str, set[str]] = {}  # linkedid -> the people connected to it, until it ends
        self._channels: dict[str, tuple[str, str]] = {}  # a person's channel (Uniqueid) -> (linkedid, person)
        self._handed_on: set[str] = set()  # people's channels (Uniqueid) that transferred their call
        self._conferences: set[str] = set()  # linkedids that are conferences now (HotlineConference)
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """``listener(call)`` on each change of a person's call (connected, ended, code chosen); it must not block."""
        self._listeners.append(listener)

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, AgentConnect):
            self._connected(event)
        elif isinstance(event, AgentComplete):
            if not self._still_talking(event):
                self._ended(event.member_name, event.linkedid, event.at)
        elif isinstance(event, BlindTransfer):
            self._handed_on.add(event.transferer_uniqueid)
        elif isinstance(event, AttendedTransfer):
            self._handed_on.update((event.orig_transferer_uniqueid, event.second_transferer_uniqueid))
        elif isinstance(event, HotlineConference):
            self._conference(event)
        elif isinstance(event, Hangup):
            if event.uniqueid == event.linkedid:  # the caller is gone (no AgentComplete came, or a conference)
                for person in list(self._talking.get(event.linkedid, ())):
                    self._ended(person, event.linkedid, event.at)
                self._conferences.discard(event.linkedid)
            leg = self._channels.pop(event.uniqueid, None)
            self._handed_on.discard(event.uniqueid)
            if leg is not None:  # the person's own channel is gone: whatever app_queue said, they are not talking
                self._ended(leg[1], leg[0], event.at)

    def _still_talking(self, event: AgentComplete) -> bool:
        """app_queue ended its call, but the person still talks in the conference the call was moved into."""
        if event.member_name not in self._talking.get(event.linkedid, ()):
            return False
        if event.linkedid in self._conferences:
            return True
        if event.reason.lower() != "transfer":
            return False
        channel = self._channel_of(event.linkedid, event.member_name)
        return channel is not None and channel not in self._handed_on  # moved, not transferred

    def _channel_of(self, linkedid: str, person: str) -> str | None:
        return next((u for u, leg in self._channels.items() if leg == (linkedid, person)), None)

    def _conference(self, event: HotlineConference) -> None:
        linkedid = event.call
        if event.state in ("adding", names.CONFERENCE_JOINED):
            if linkedid in self._talking:
                self._conferences.add(linkedid)
        elif event.state == names.CONFERENCE_AGENT_LEFT:
            people = [event.agent] if event.agent else list(self._talking.get(linkedid, ()))
            for person in people:
                self._ended(person, linkedid, event.at)
        elif event.state == "ended":
            for person in list(self._talking.get(linkedid, ())):
                self._ended(person, linkedid, event.at)
            self._conferences.discard(linkedid)

    def _ended(self, person: str, linkedid: str, at: datetime) -> None:
        people = self._talking.get(linkedid)
        if people is not None:
            people.discard(person)
            if not people:
                del self._talking[linkedid]
                self._conferences.discard(linkedid)
        channel = self._channel_of(linkedid, person)
        if channel is not None:
            del self._channels[channel]
            self._handed_on.discard(channel)
        call = self.call(person, linkedid)
        if call is not None and call.ended_at is None:
            self._replace(dataclasses.replace(call, ended_at=at))

    def _connected(self, event: AgentConnect) -> None:
        person = event.member_name
        if not person or self.call(person, event.linkedid) is not None:
            return
        known = self.lookup(event.linkedid)
        call = AgentCall(event.linkedid, person, event.at, queue=event.queue or None)
        if known is not None:
            call = dataclasses.replace(
                call,
                caller_number=known.caller_number,
                caller_name=known.caller_name,
                language=known.language,
                topic=known.topic,
                specialty=known.specialty,
                queue=known.queue or call.queue,
                routed=known.routed,
            )
        calls = self._calls.setdefault(person, deque(maxlen=self.keep))
        calls.appendleft(call)
        self._talking.setdefault(event.linkedid, set()).add(person)
        if event.dest_uniqueid:
            self._channels[event.dest_uniqueid] = (event.linkedid, person)
        while len(self._talking) > MAX_TALKING:  # calls whose end never reached us (an AMI gap)
            forgotten = next(iter(self._talking))
            del self._talking[forgotten]
            self._conferences.discard(forgotten)
            for channel in [u for u, leg in self._channels.items() if leg[0] == forgotten]:
                del self._channels[channel]
                self._handed_on.discard(channel)
        while len(self._handed_on) > MAX_TALKING:
            self._handed_on.pop()
        self._tell(call)

    def _replace(self, call: AgentCall) -> None:
        calls = self._calls.get(call.person)
        if calls is None:
            return
        for i, old in enumerate(calls):
            if old.linkedid == call.linkedid:
                calls[i] = call
                self._tell(call)
                return

    def _tell(self, call: AgentCall) -> None:
        for listener in self._listeners:
            try:
                listener(call)
            except Exception:  # a listener's failure must not stop the events
                log.exception("wrap-up listener failed for call %s", call.linkedid)

    # -- what a person's desk asks -----------------------------------------------------------------
    def calls_of(self, person: str) -> list[AgentCall]:
        """The person's latest calls, newest first."""
        return list(self._calls.get(person, ()))

    def call(self, person: str, linkedid: str) -> AgentCall | None:
        for call in self._calls.get(person, ()):
            if call.linkedid == linkedid:
                return call
        return None

    def last_call(self, person: str) -> AgentCall | None:
        calls = self._calls.get(person)
        return calls[0] if calls else None

    def dispositions(self, topic: str | None) -> tuple[Disposition, ...]:
        found = self.topics.get(topic) if topic is not None else None
        return found.dispositions if found is not None else ()

    async def call_of(self, person: str, linkedid: str) -> AgentCall:
        """One of ``person``'s calls (remembered, else its stored record); WrapupError if it is not theirs."""
        call = self.call(person, linkedid)
        if call is not None:
            return call
        record = await self.store.get(linkedid)
        if record is None or (record.agent != person and all(leg.target != person for leg in record.legs)):
            raise WrapupError(f"call {linkedid!r} is not one of {person}'s calls")
        return AgentCall(
            linkedid, person, record.started_at, record.caller_number, record.caller_name, record.language,
            record.topic, record.specialty, record.queue, True, record.ended_at, record.wrapup_code,
        )  # fmt: skip

    async def choose(self, person: str, linkedid: str, disposition_id: str) -> Disposition:
        """Choose the wrap-up code of one of ``person``'s calls by its disposition id (the desk page)."""
        call = await self.call_of(person, linkedid)
        for disposition in self.dispositions(call.topic):
            if disposition.id == disposition_id:
                return await self._store(call, disposition)
        raise WrapupError(self._unknown(call, repr(disposition_id)))

    async def choose_by_code(self, person: str, code: str) -> tuple[AgentCall, Disposition]:
        """Choose the wrap-up code of ``person``'s last call by the digits keyed on the phone."""
        call = self.last_call(person)
        if call is None:
            raise WrapupError(f"{person} has no call to wrap up")
        for disposition in self.dispositions(call.topic):
            if disposition.code == code:
                return call, await self._store(call, disposition)
        raise WrapupError(self._unknown(call, f"code {code!r}"))

    def _unknown(self, call: AgentCall, what: str) -> str:
        known = ", ".join(f"{d.code} {d.id}" for d in self.dispositions(call.topic))
        if not known:
            return f"the topic {call.topic or '(none)'} of call {call.linkedid} has no wrap-up codes"
        return f"{what} is not a wrap-up code of the topic {call.topic} (codes: {known})"

    async def _store(self, call: AgentCall, disposition: Disposition) -> Disposition:
        try:
            stored = await self.store.set_wrapup(call.linkedid, disposition.id, call.person)
        except WrapupRefused as exc:
            raise WrapupError(str(exc)) from None
        log.info("%s: wrap-up %s for call %s (%s)", call.person, disposition.id, call.linkedid,
                 "stored" if stored else "pending until its record is stored")  # fmt: skip
        self._replace(dataclasses.replace(call, wrapup_code=disposition.id))
        return disposition
