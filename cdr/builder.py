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

**Legs** (issue 12): ``CallRecord.legs`` lists every person and place the caller was connected to, in
the order they answered. The first is the first answer (the first ``AgentConnect``): the call is counted
there, once, and the record's own ``agent``, ``queue``, ``wait_seconds`` and ``talk_seconds`` stay that
first answer's. Later legs come from

* a blind transfer (``BlindTransfer``; ``how`` "blind", or "refer" when ``IsExternal`` says Asterisk did
  not do it by itself: a SIP REFER from a softphone, or the AMI BlindTransfer action): the caller's own
  channel goes on through ``hotline-transfer`` into a queue (a later ``AgentConnect`` on the caller's
  channel) or to an outside destination (``HotlineDestination`` then the ``DialEnd`` that answered);
* an attended transfer: the person's consultation call reaches a queue (an ``AgentConnect`` on the Local
  channel of the consultation, same Linkedid) or a destination; it becomes a leg of the caller's call only
  when ``AttendedTransfer`` succeeds (``how`` "attended", or "refer" for a REFER with Replaces: external).
  A consultation the person gave up is no leg: the caller never talked to it;
* a conference (``HotlineConference``): the destination joins (kind "conference", ``how`` "conference"),
  the person may leave, the destination leaves.

A leg ends when its person or place leaves the caller: the transfer event that hands the caller on (it
stands, whatever app_queue's ``AgentComplete`` says after), ``AgentComplete`` of that member (the end of the
bridge: it wins over the phone's own hang-up), the ``Hangup`` of the person's or destination's own channel,
or the end of the call. Its ``talk_seconds`` is ``ended_at - answered_at``: the time that person or place was on
the call (for an attended transfer, the consultation counts for both people: both were on the phone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from telephony import names as v
from telephony.events import (
    AgentComplete,
    AgentConnect,
    AttendedTransfer,
    BlindTransfer,
    CallbackBooked,
    CallbackStart,
    DialEnd,
    Event,
    Hangup,
    HotlineConference,
    HotlineDestination,
    HotlineRoute,
    Newchannel,
    OutboundStart,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
)

__all__ = ["CallInProgress", "CallRecord", "Leg", "Outcome", "RecordBuilder"]

PERSON, DESTINATION, CONFERENCE = "person", "destination", "conference"  # Leg.kind
BLIND, ATTENDED, REFER = "blind", "attended", "refer"  # Leg.how of a transfer (CONFERENCE for a conference)

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
    kind: str = "inbound"  # or "callback": an attempt to call a caller back; "campaign", "manual": outbound (issue 14)
    callback_of: str | None = None  # for a callback: the linkedid of the call it answers
    transferred_to: str | None = None  # the queue a transfer took the caller on to
    wrapup_seconds: float | None = None
    wrapup_code: str | None = None  # the disposition (a profile id) the agent chose for the call
    legs: tuple[Leg, ...] = ()  # every person and place the call was connected to, in order (issue 12)
    # "live" (built from the events as the call happened), "reconciled" (from Asterisk's own logs at a start,
    # for a call that ended while the service was down), "imported" (`hotline import-records`)
    source: str = "live"


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
class _LegState:
    """A leg being built (private, mutable). ``channel``: the person's or destination's own channel, whose
    Hangup ends the leg; a leg reached from a consultation call is ``pending`` until the transfer completes."""

    kind: str
    target: str
    queue: str | None
    answered_at: datetime | None
    channel: str = ""
    how: str | None = None
    ended_at: datetime | None = None
    pending: bool = False  # reached by a consultation, not (yet) by the caller
    handed_on: bool = False  # ended by a transfer event: that end stands (app_queue's AgentComplete may come later)
    moved: bool = False  # ended by app_queue's AgentComplete "transfer" with no transfer: the caller was moved

    def end(self, at: datetime, *, surely: bool = False) -> None:
        """The leg ended at ``at``; ``surely``: this fact knows better than an end seen before."""
        if (self.ended_at is None or surely) and self.answered_at is not None:
            self.ended_at = max(at, self.answered_at)

    def leg(self, end: datetime | None) -> Leg:
        assert self.answered_at is not None
        ended = self.ended_at if self.ended_at is not None else end
        if ended is not None:
            ended = max(ended, self.answered_at)
        talk = _seconds(ended - self.answered_at) if ended is not None else None
        return Leg(self.kind, self.target, self.queue, self.answered_at, ended, talk, self.how)


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
    legs: list[_LegState] = field(default_factory=list)  # answered legs, in order, and consultations pending
    next_how: str | None = None  # a blind transfer handed the caller on: how the next leg came
    consult_how: str | None = None  # an attended transfer completed before its consultation was answered
    # channel -> (kind, id) it is dialling: a destination, or a person's phone (a transfer to a person's code)
    dialling: dict[str, tuple[str, str]] = field(default_factory=dict)


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
                OutboundStart: self._on_outbound_start,
                CallbackBooked: self._on_callback_booked,
                QueueCallerJoin: self._on_queue_join,
                QueueCallerLeave: self._on_queue_leave,
                QueueCallerAbandon: self._on_queue_abandon,
                AgentConnect: self._on_agent_connect,
                AgentComplete: self._on_agent_complete,
                BlindTransfer: self._on_blind_transfer,
                AttendedTransfer: self._on_attended_transfer,
                HotlineDestination: self._on_destination,
                DialEnd: self._on_dial_end,
                HotlineConference: self._on_conference,
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

    def _on_outbound_start(self, event: OutboundStart) -> list[CallRecord]:
        """An outbound call answered by the number (a campaign's, or an agent's click-to-call): a record of its
        own, of kind ``campaign`` or ``manual``, its caller the number called.

        A manual call's event comes from the agent's channel once they answered, before the number is dialled: the
        record has the agent at once, is answered when the number answers (the ``DialEnd`` of that channel) and
        failed when it does not (``route_seen``: never "abandoned in the IVR")."""
        if event.uniqueid == event.linkedid and event.linkedid not in self._calls:
            manual = event.kind == "manual"
            self._calls[event.linkedid] = _CallState(
                linkedid=event.linkedid,
                caller_number=_optional(event.number),
                caller_name=None,
                started_at=event.at,
                language=_optional(event.language),
                kind=event.kind,
                agent=_optional(event.person) if manual else None,
                route_seen=manual,
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
            if call.connect_at is not None:
                return []  # a route after the answer (a transfer back through the menu) changes nothing counted
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
            if call.connect_at is None:  # once answered, the call stays counted where it was first answered
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
        call = self._calls.get(event.linkedid)
        if call is None:
            return []
        member = _optional(event.member_name) or _optional(event.interface) or "?"
        queue = _optional(event.queue)
        if event.uniqueid != event.linkedid:
            # A consultation call (an attended transfer) reached a queue: a leg only if the transfer completes.
            if call.connect_at is not None:
                self._consulted(call, _LegState(PERSON, member, queue, event.at, event.dest_uniqueid))
            return []
        if call.connect_at is None:
            call.connect_at = event.at
            call.agent = _optional(event.member_name)
            call.queue = queue or call.queue
            call.in_queue = False
            call.wait_seconds = self._wait(call, event.at, event.hold_time)
            call.legs.append(_LegState(PERSON, member, queue, event.at, event.dest_uniqueid))
        else:
            # The caller entered a queue again after a transfer and was answered there.
            call.in_queue = False
            self._answered(call, _LegState(PERSON, member, queue, event.at, event.dest_uniqueid, how=call.next_how))
        return []

    def _on_agent_complete(self, event: AgentComplete) -> list[CallRecord]:
        call = self._calls.get(event.linkedid)
        if call is None or call.connect_at is None:
            return []
        member = _optional(event.member_name) or _optional(event.interface) or "?"
        # "transfer" without a transfer event: the caller was moved out of the queue's bridge (into a conference,
        # where the person goes on talking): their leg ends when they leave, not now
        moved = event.reason.lower() == "transfer" and not any(x.handed_on for x in call.legs if x.target == member)
        if moved and self._in_conference(call):
            return []
        leg = self._open_leg(call, lambda leg: leg.kind == PERSON and leg.target == member)
        if leg is not None:
            leg.end(event.at)
            leg.moved = moved
        first = call.legs[0] if call.legs else None
        if event.uniqueid == event.linkedid and call.completed_at is None and (first is None or first.target == member):
            call.talk_time = event.talk_time
            call.completed_at = event.at
            if first is not None and not first.handed_on and not self._in_conference(call):
                first.end(event.at, surely=True)  # the bridge's end (the record's talk), not the phone's hang-up
                first.moved = moved
        return []

    def _on_blind_transfer(self, event: BlindTransfer) -> list[CallRecord]:
        call = self._calls.get(event.transferee_linkedid) or self._calls.get(event.transferer_linkedid)
        if call is None or event.result.lower() != "success":
            return []
        self._end_channel(call, event.transferer_uniqueid, event.at, handed_on=True)
        call.next_how = REFER if event.is_external else BLIND
        return []

    def _on_attended_transfer(self, event: AttendedTransfer) -> list[CallRecord]:
        call = self._calls.get(event.orig_transferer_linkedid) or self._calls.get(event.transferee_linkedid)
        if call is None or event.result.lower() != "success":
            return []
        how = REFER if event.is_external else ATTENDED
        for uniqueid in (event.orig_transferer_uniqueid, event.second_transferer_uniqueid):
            self._end_channel(call, uniqueid, event.at, handed_on=True)
        # The consultation the transfer completed: the latest one still pending (and not over).
        consulted = next((leg for leg in reversed(call.legs) if leg.pending and leg.ended_at is None), None)
        if consulted is None:
            call.consult_how = how  # completed before the consultation was answered: what answers it is the leg
            return []
        consulted.how = how
        call.legs.remove(consulted)
        consulted.pending = False
        self._answered(call, consulted)
        return []

    def _on_destination(self, event: HotlineDestination) -> list[CallRecord]:
        call = self._calls.get(event.linkedid)
        if call is not None:
            call.dialling[event.uniqueid] = (PERSON if event.kind == "person" else DESTINATION, event.destination)
        return []

    def _on_dial_end(self, event: DialEnd) -> list[CallRecord]:
        call = self._calls.get(event.linkedid)
        if call is None:
            return []
        if call.kind == "manual" and event.uniqueid == event.linkedid and call.connect_at is None:
            # the agent's channel dialled the number: its answer is the call's (the agent talks to it from now)
            if event.dial_status.upper() == "ANSWER":
                call.connect_at = event.at
                call.legs.append(_LegState(PERSON, call.agent or "?", None, event.at, event.dest_uniqueid))
            return []
        dialled = call.dialling.pop(event.uniqueid, None)
        if dialled is None or event.dial_status.upper() != "ANSWER":
            return []
        leg = _LegState(dialled[0], dialled[1], None, event.at, event.dest_uniqueid)
        if event.uniqueid == event.linkedid:  # the caller's own channel dials it (a blind transfer)
            leg.how = call.next_how
            self._answered(call, leg)
            return []
        self._consulted(call, leg)
        return []

    def _consulted(self, call: _CallState, leg: _LegState) -> None:
        """A consultation call (an attended transfer's Local channel) was answered by ``leg``: a leg of the
        caller's call when the transfer completes, or now if it already has (a transfer before the answer)."""
        if call.consult_how is not None:
            leg.how, call.consult_how = call.consult_how, None
            self._answered(call, leg)
        else:
            leg.pending = True
            call.legs.append(leg)

    def _on_conference(self, event: HotlineConference) -> list[CallRecord]:
        call = self._calls.get(event.call)
        if call is None or call.connect_at is None:
            return []
        if event.state == v.CONFERENCE_JOINED:
            # beside the person, not instead: a conference hands the caller on to nobody. The person moved into it
            # with the caller is still on the call (app_queue ended its queue call when they were moved).
            for leg in call.legs:
                if leg.moved and leg.kind == PERSON:
                    leg.ended_at, leg.moved = None, False
            call.legs.append(_LegState(CONFERENCE, event.destination, None, event.at, how=CONFERENCE))
            return []
        agent = _optional(event.agent)
        if event.state == v.CONFERENCE_AGENT_LEFT:
            # When the person leaves, whatever app_queue said when the caller was moved into the conference.
            leaving = next(
                (x for x in reversed(call.legs) if not x.pending and x.kind == PERSON and agent in (None, x.target)),
                None,
            )
            if leaving is not None:
                leaving.end(event.at, surely=True)
            return []
        elif event.state == v.CONFERENCE_LEFT:
            leaving = self._open_leg(call, lambda x: x.kind == CONFERENCE and x.target == event.destination)
        else:
            leaving = None
        if leaving is not None:
            leaving.end(event.at)
        return []

    def _on_hangup(self, event: Hangup) -> list[CallRecord]:
        if event.uniqueid != event.linkedid:
            call = self._calls.get(event.linkedid)
            if call is not None:
                self._end_channel(call, event.uniqueid, event.at, hangup=True)
                call.dialling.pop(event.uniqueid, None)
            return []
        call = self._calls.pop(event.linkedid, None)
        if call is None:
            return []
        return [self._complete(call, end=event.at, hangup=event)]

    # -- legs -----------------------------------------------------------------------------------

    @staticmethod
    def _open_leg(call: _CallState, match: Callable[[_LegState], bool]) -> _LegState | None:
        """The latest answered leg of the caller still open that ``match`` accepts."""
        return next(
            (leg for leg in reversed(call.legs) if not leg.pending and leg.ended_at is None and match(leg)),
            None,
        )

    @staticmethod
    def _in_conference(call: _CallState) -> bool:
        return any(leg.kind == CONFERENCE and not leg.pending for leg in call.legs)

    @staticmethod
    def _end_channel(
        call: _CallState, uniqueid: str, at: datetime, *, hangup: bool = False, handed_on: bool = False
    ) -> None:
        """The person's or destination's channel ``uniqueid`` left: its legs end (a pending consultation too).
        In a conference a person's hang-up is when they left, whatever app_queue said when the caller moved."""
        if not uniqueid:
            return
        joined = [x.answered_at for x in call.legs if x.kind == CONFERENCE and not x.pending and x.answered_at]
        for leg in call.legs:
            if leg.channel == uniqueid:
                # ended when the caller was moved into the conference: the person was still on the call
                moved = hangup and leg.kind == PERSON and bool(joined) and leg.ended_at is not None
                if handed_on and leg.ended_at is None and not leg.pending:
                    leg.handed_on = True
                leg.end(at, surely=moved and leg.ended_at is not None and leg.ended_at <= min(joined))

    @staticmethod
    def _answered(call: _CallState, leg: _LegState) -> None:
        """A later leg answered the caller (a transfer): the previous people have left, unless in a conference."""
        in_conference = any(x.kind == CONFERENCE and not x.pending and x.ended_at is None for x in call.legs)
        if not in_conference:
            for earlier in call.legs:
                if not earlier.pending and earlier.kind != CONFERENCE:
                    assert leg.answered_at is not None
                    earlier.end(leg.answered_at)
        # keep the order of answers: before any consultation still pending
        position = next((i for i, x in enumerate(call.legs) if x.pending), len(call.legs))
        call.legs.insert(position, leg)
        call.next_how = None

    # -- completion -----------------------------------------------------------------------------

    @staticmethod
    def _wait(call: _CallState, at: datetime, hold_time: int) -> float:
        if call.first_join_at is None:
            return float(hold_time)
        return _seconds(at - call.first_join_at)

    @staticmethod
    def _legs(call: _CallState, end: datetime | None) -> tuple[Leg, ...]:
        answered = [leg for leg in call.legs if not leg.pending and leg.answered_at is not None]
        return tuple(sorted((leg.leg(end) for leg in answered), key=lambda leg: leg.answered_at))

    @staticmethod
    def _complete(call: _CallState, end: datetime | None, hangup: Hangup | None) -> CallRecord:
        legs = RecordBuilder._legs(call, end)
        onward = next((leg for leg in legs[1:] if leg.how in (BLIND, ATTENDED, REFER)), None)
        wait = call.wait_seconds
        talk: float | None = None
        if call.blocked:
            outcome = Outcome.BLOCKED
        elif call.connect_at is not None:
            outcome = Outcome.ANSWERED
            # The talk ends when the bridge does (AgentComplete), not when the caller hangs up: with
            # Queue option c the caller stays on for the case read-back or the survey.
            if legs and legs[0].talk_seconds is not None:
                talk = legs[0].talk_seconds  # the first answer's; the legs carry everyone's
            elif call.completed_at is not None:
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
        elif call.self_served or call.kind == "campaign":
            # A campaign's person answered and heard the script (well, emergency, no key): no person was due.
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
            transferred_to=None if onward is None else (onward.queue or onward.target),
            legs=legs if outcome == Outcome.ANSWERED else (),
        )
