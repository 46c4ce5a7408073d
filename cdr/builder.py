"""Builds exactly one call record per call to the hotline number from typed AMI events.

Pure module (no I/O, no clock): time only enters through event times (``event.at``, an aware UTC
datetime) and ``expire(now, ...)``.
It takes the typed events of ``telephony.events``, parsed once at the Asterisk boundary; the root
feeds it every typed event, and the ones it has no rule for (routing's, QueueStatus rows) are ignored.
Modelled on wazo-call-logd's CEL interpretor: each event type is handled by one method, chosen
through a ``{event type: handler}`` table.

A call is identified by its Linkedid, which equals the Uniqueid of the caller's channel (the
channel whose ``Newchannel`` started the call). Events about other channels of the same call
(e.g. the agent leg) are ignored except where a rule names them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from telephony import names as v
from telephony.events import (
    AgentComplete,
    AgentConnect,
    CallbackBooked,
    CallbackStart,
    Event,
    Hangup,
    HotlineRoute,
    Newchannel,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
)

__all__ = ["CallInProgress", "CallRecord", "Outcome", "RecordBuilder"]

_UNKNOWN_CALLER_ID = frozenset({"", "<unknown>"})
#: HotlineRoute results of a caller served without a person: an information topic, a message left, a
#: self-service report, "follow a report" (telephony.names); a later result (a person after all) clears it
_SELF_SERVED_RESULTS = frozenset({v.RESULT_INFO, v.RESULT_MESSAGE, v.RESULT_REPORT, v.RESULT_FOLLOW})


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED_QUEUE = "abandoned_queue"
    ABANDONED_IVR = "abandoned_ivr"
    FAILED = "failed"
    SELF_SERVED = "self_served"  # information (INFO), a message (MESSAGE), a case by phone (REPORT, FOLLOW): no person
    BLOCKED = "blocked"  # a screened number (HotlineRoute Result BLOCKED): hung up, never queued


@dataclass(frozen=True, slots=True)
class CallRecord:
    linkedid: str
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    language: str | None
    topic: str | None
    specialty: str | None
    queue: str | None
    wait_seconds: float | None
    outcome: Outcome
    agent: str | None
    talk_seconds: float | None
    hangup_cause: int | None
    hangup_cause_text: str | None
    ended_at: datetime | None
    kind: str = "inbound"  # or "callback": an attempt to call a caller back
    callback_of: str | None = None  # for a callback: the linkedid of the call it answers
    transferred_to: str | None = None  # the queue a transfer took the caller on to
    wrapup_seconds: float | None = None
    wrapup_code: str | None = None  # the disposition (a profile id) the agent chose for the call
    legs: tuple[Leg, ...] = ()  # every person and place the call was connected to, in order (issue 12)


@dataclass(frozen=True, slots=True)
class Leg:
    """One person or place a call was connected to, in the order they were (issue 12: transfers, conference).
    The first leg is where the call was first answered; reports count the call there, once."""

    kind: str  # "person" (a person of the profile), "destination" (a named place outside), "conference"
    target: str  # the person's or the destination's id
    queue: str | None  # the queue it was answered from, if any
    answered_at: datetime
    ended_at: datetime | None
    talk_seconds: float | None
    how: str | None = None  # how it got there: None for the first answer; "blind", "attended", "refer", "conference"


@dataclass(frozen=True, slots=True)
class CallInProgress:
    """What is known of a call still in progress (for the agent's screen pop)."""

    linkedid: str
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    language: str | None
    topic: str | None
    specialty: str | None
    queue: str | None
    routed: bool  # the IVR routed the caller (False: its fallback, the default queue)
    agent: str | None
    connected_at: datetime | None
    kind: str


@dataclass(slots=True)
class _CallState:
    """What we know so far about one call in progress (private, mutable)."""

    linkedid: str
    caller_number: str | None
    caller_name: str | None
    started_at: datetime
    language: str | None = None
    topic: str | None = None
    specialty: str | None = None
    queue: str | None = None
    route_seen: bool = False
    routed: bool = False  # the route's result was OK (not the dialplan's fallback)
    first_join_at: datetime | None = None
    in_queue: bool = False
    last_leave_at: datetime | None = None
    connect_at: datetime | None = None
    agent: str | None = None
    abandoned: bool = False
    wait_seconds: float | None = None
    talk_time: int | None = None  # from AgentComplete, used only when the Hangup never comes
    completed_at: datetime | None = None  # AgentComplete: the talk ended (the caller may stay, e.g. a read-back)
    kind: str = "inbound"
    callback_of: str | None = None
    callback_booked: bool = False
    blocked: bool = False
    self_served: bool = False  # the last route was information or a message (a later OK route clears it)


def _seconds(span: timedelta) -> float:
    return max(0.0, span.total_seconds())


def _caller_id(value: str) -> str | None:
    return None if value.strip() in _UNKNOWN_CALLER_ID else value


def _optional(value: str) -> str | None:
    return value if value.strip() else None


class RecordBuilder:
    """Feeds on AMI events; returns each ``CallRecord`` once, when its call is complete."""

    def __init__(self, number: str, context: str) -> None:
        self._number = number
        self._context = context
        self._calls: dict[str, _CallState] = {}
        self._handlers: Mapping[type, Callable[[Any], list[CallRecord]]] = MappingProxyType(
            {
                Newchannel: self._on_newchannel,
                HotlineRoute: self._on_route,
                CallbackStart: self._on_callback_start,
                CallbackBooked: self._on_callback_booked,
                QueueCallerJoin: self._on_queue_join,
                QueueCallerLeave: self._on_queue_leave,
                QueueCallerAbandon: self._on_queue_abandon,
                AgentConnect: self._on_agent_connect,
                AgentComplete: self._on_agent_complete,
                Hangup: self._on_hangup,
            }
        )

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    def in_progress(self, linkedid: str) -> CallInProgress | None:
        """The call ``linkedid`` while it is in progress; None once its record is complete (or unknown)."""
        call = self._calls.get(linkedid)
        if call is None:
            return None
        return CallInProgress(
            linkedid=call.linkedid,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            started_at=call.started_at,
            language=call.language,
            topic=call.topic,
            specialty=call.specialty,
            queue=call.queue,
            routed=call.routed,
            agent=call.agent,
            connected_at=call.connect_at,
            kind=call.kind,
        )

    def feed(self, event: Event) -> list[CallRecord]:
        """Apply one event; returns the records it completed (usually none, at most one)."""
        handler = self._handlers.get(type(event))
        if handler is None:
            return []
        return handler(event)

    def feed_all(self, events: Iterable[Event | None]) -> list[CallRecord]:
        """Feed events in order (``None`` entries, i.e. unparsed events, are skipped)."""
        records: list[CallRecord] = []
        for event in events:
            if event is not None:
                records.extend(self.feed(event))
        return records

    def expire(self, now: datetime, max_age_seconds: float) -> list[CallRecord]:
        """Complete calls that started at least ``max_age_seconds`` before ``now`` without a Hangup.

        Outcome follows the same rules as on Hangup; the end time is unknown, so ``ended_at``,
        ``hangup_cause`` and durations that would need it are None (talk time comes from
        AgentComplete's TalkTime when that was seen).
        """
        oldest = now - timedelta(seconds=max_age_seconds)
        stale = [lid for lid, call in self._calls.items() if call.started_at <= oldest]
        return [self._complete(self._calls.pop(lid), end=None, hangup=None) for lid in stale]

    # -- handlers -------------------------------------------------------------------------------

    def _caller_call(self, uniqueid: str, linkedid: str) -> _CallState | None:
        """The call in progress whose caller channel this is, if any."""
        if uniqueid != linkedid:
            return None
        return self._calls.get(linkedid)

    def _on_newchannel(self, event: Newchannel) -> list[CallRecord]:
        starts_call = (
            event.uniqueid == event.linkedid
            and event.context == self._context
            and event.exten == self._number
            and event.linkedid not in self._calls
        )
        if starts_call:
            self._calls[event.linkedid] = _CallState(
                linkedid=event.linkedid,
                caller_number=_caller_id(event.caller_id_num),
                caller_name=_caller_id(event.caller_id_name),
                started_at=event.at,
            )
        return []

    def _on_callback_start(self, event: CallbackStart) -> list[CallRecord]:
        """A called-back caller answered: their callback call is a record of its own, linked back."""
        if event.uniqueid == event.linkedid and event.linkedid not in self._calls:
            self._calls[event.linkedid] = _CallState(
                linkedid=event.linkedid,
                caller_number=_optional(event.number),
                caller_name=None,
                started_at=event.at,
                language=_optional(event.language),
                queue=_optional(event.queue),
                route_seen=True,
                kind="callback",
                callback_of=_optional(event.callback_of),
            )
        return []

    def _on_callback_booked(self, event: CallbackBooked) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None:
            call.callback_booked = True
        return []

    def _on_route(self, event: HotlineRoute) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None:
            call.route_seen = True
            call.routed = event.result == "OK"
            call.blocked = event.result == "BLOCKED"
            call.self_served = event.result in _SELF_SERVED_RESULTS
            call.language = _optional(event.language)
            call.topic = _optional(event.topic)
            call.specialty = _optional(event.specialty)
            call.queue = _optional(event.queue) or call.queue
        return []

    def _on_queue_join(self, event: QueueCallerJoin) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None:
            call.queue = _optional(event.queue) or call.queue
            call.in_queue = True
            if call.first_join_at is None:
                call.first_join_at = event.at
        return []

    def _on_queue_leave(self, event: QueueCallerLeave) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None:
            call.in_queue = False
            call.last_leave_at = event.at
        return []

    def _on_queue_abandon(self, event: QueueCallerAbandon) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None and call.connect_at is None:
            call.abandoned = True
            call.in_queue = False
            call.wait_seconds = self._wait(call, event.at, event.hold_time)
        return []

    def _on_agent_connect(self, event: AgentConnect) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None and call.connect_at is None:
            call.connect_at = event.at
            call.agent = _optional(event.member_name)
            call.queue = _optional(event.queue) or call.queue
            call.in_queue = False
            call.wait_seconds = self._wait(call, event.at, event.hold_time)
        return []

    def _on_agent_complete(self, event: AgentComplete) -> list[CallRecord]:
        call = self._caller_call(event.uniqueid, event.linkedid)
        if call is not None and call.connect_at is not None:
            call.talk_time = event.talk_time
            call.completed_at = event.at
        return []

    def _on_hangup(self, event: Hangup) -> list[CallRecord]:
        if event.uniqueid != event.linkedid:
            return []
        call = self._calls.pop(event.linkedid, None)
        if call is None:
            return []
        return [self._complete(call, end=event.at, hangup=event)]

    # -- completion -----------------------------------------------------------------------------

    @staticmethod
    def _wait(call: _CallState, at: datetime, hold_time: int) -> float:
        if call.first_join_at is None:
            return float(hold_time)
        return _seconds(at - call.first_join_at)

    @staticmethod
    def _complete(call: _CallState, end: datetime | None, hangup: Hangup | None) -> CallRecord:
        wait = call.wait_seconds
        talk: float | None = None
        if call.blocked:
            outcome = Outcome.BLOCKED
        elif call.connect_at is not None:
            outcome = Outcome.ANSWERED
            # The talk ends when the bridge does (AgentComplete), not when the caller hangs up: with
            # Queue option c the caller stays on for the case read-back or the survey.
            if call.completed_at is not None:
                talk = _seconds(call.completed_at - call.connect_at)
            elif end is not None:
                talk = _seconds(end - call.connect_at)
            elif call.talk_time is not None:
                talk = float(call.talk_time)
        elif call.abandoned:
            outcome = Outcome.ABANDONED_QUEUE
        elif call.in_queue:
            # Hung up while waiting, but app_queue's QueueCallerAbandon never reached us.
            outcome = Outcome.ABANDONED_QUEUE
            if end is not None and call.first_join_at is not None:
                wait = _seconds(end - call.first_join_at)
        elif call.first_join_at is not None:
            # Left the queue(s) unanswered: by choice with a callback (it keeps their place, and the
            # callback call has a record of its own), or by a failure (timeout, empty queue, ...).
            outcome = Outcome.ABANDONED_QUEUE if call.callback_booked else Outcome.FAILED
            if call.last_leave_at is not None:
                wait = _seconds(call.last_leave_at - call.first_join_at)
        elif call.self_served:
            outcome = Outcome.SELF_SERVED
        elif call.route_seen:
            outcome = Outcome.FAILED  # routed, but never got into a queue
        else:
            outcome = Outcome.ABANDONED_IVR
        return CallRecord(
            linkedid=call.linkedid,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            started_at=call.started_at,
            language=call.language,
            topic=call.topic,
            specialty=call.specialty,
            queue=call.queue,
            wait_seconds=wait,
            outcome=outcome,
            agent=call.agent,
            talk_seconds=talk,
            hangup_cause=hangup.cause if hangup is not None else None,
            hangup_cause_text=_optional(hangup.cause_txt) if hangup is not None else None,
            ended_at=end,
            kind=call.kind,
            callback_of=call.callback_of,
        )
