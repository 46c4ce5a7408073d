"""Live routing state, reduced from Asterisk 22 AMI events. Pure: no I/O, no clock, no asyncio.

:class:`LiveState` is fed one typed event at a time (``apply(event, now)``, the events of
:mod:`telephony.events`, parsed once at the Asterisk boundary) and is rebuilt after a reconnect
from the typed rows of a ``QueueStatus`` list (:meth:`LiveState.reset_from_queue_status`).
:meth:`LiveState.snapshot` gives an immutable :class:`Snapshot` that :mod:`routing.policy` decides on.

Events handled (a dispatch table on the event's type; anything else is ignored):

* membership: ``QueueMemberAdded``, ``QueueMemberRemoved``, ``QueueMemberPause``,
  ``QueueMemberPenalty``, ``QueueMemberStatus`` (any member event for an unknown membership adds
  it: the state converges even when it started late);
* calls to members: ``AgentCalled`` (ringing), ``AgentRingNoAnswer`` (a missed ring),
  ``AgentConnect`` (on call), ``AgentComplete`` (wrap-up, then available once ``now`` passes the
  wrap-up end);
* waiting callers: ``QueueCallerJoin``, ``QueueCallerLeave``, ``QueueCallerAbandon``;
* ``VarSet`` of ``QUEUE_PRIO`` on the caller channel: remembered as the priority of that caller
  when it joins a queue (``QueueCallerJoin`` does not carry the priority).

A person is identified by the member name; members whose name is not a known person id are
ignored. Numbers come parsed (malformed ones already read as their default or as "not given").

Load figures kept per person, bounded: the call intervals and the logged-in intervals of the last
``history_seconds`` (one hour by default), the total number of calls, the idle-since time (end of
the last call's wrap-up, or the login). They survive logout and :meth:`reset_from_queue_status`.

Times are aware UTC datetimes (``now``, and every time kept: login, call start and end, wrap-up end,
when a caller joined). The epochs Asterisk sends (a member's ``LoginTime`` and ``LastCall``) become
datetimes where the state takes them (:func:`telephony.clock.utc`); "never" is
:data:`telephony.clock.EPOCH`. Durations are timedeltas.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from telephony import names
from telephony.clock import EPOCH, utc
from telephony.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    Event,
    MemberEvent,
    QueueCallerAbandon,
    QueueCallerJoin,
    QueueCallerLeave,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRemoved,
    QueueMemberRinginuse,
    QueueMemberStatus,
    QueueStatusRow,
    VarSet,
)

__all__ = [
    "DeviceState",
    "LiveState",
    "Membership",
    "PersonState",
    "PersonView",
    "Snapshot",
    "WaitingCall",
]

HOUR = timedelta(hours=1)
_NO_TIME = timedelta(0)
_MAX_CALLS_KEPT = 256  # call intervals kept per person (more than an hour of 15 s calls)
_MAX_SESSIONS_KEPT = 32  # logged-in intervals kept per person
_MAX_PENDING_PRIORITIES = 4096  # QUEUE_PRIO values seen for channels that have not joined yet
_EMPTY: Mapping[str, Membership] = MappingProxyType({})
_LONGEST = 366 * 86400.0  # a duration from AMI (talk, wait, wrap-up) is read as at most a year
_RESYNC_SLACK = timedelta(seconds=1)  # a login later than the known session's by more: out and in meanwhile


def _duration(seconds: float) -> timedelta:
    """Seconds from AMI as a duration, within 0 and a year (a garbled number must not overflow a datetime)."""
    return timedelta(seconds=min(max(seconds, 0.0), _LONGEST))


class PersonState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class DeviceState:
    """The ``Status`` numbers of queue member events (Asterisk device states)."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


_DEVICE_BUSY = frozenset({DeviceState.INUSE, DeviceState.BUSY, DeviceState.RINGINUSE, DeviceState.ONHOLD})
_DEVICE_UNREACHABLE = frozenset({DeviceState.INVALID, DeviceState.UNAVAILABLE})


# -- immutable views -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Membership:
    """A person's membership of one queue, as Asterisk has it now."""

    queue: str
    interface: str
    penalty: int
    paused: bool
    pause_reason: str
    login_time: datetime


@dataclass(frozen=True, slots=True)
class PersonView:
    """One person at the snapshot's time. ``history`` holds ``(start, end)`` of the calls of the
    last hour, ``sessions`` the logged-in intervals (``end`` None for the current one)."""

    person_id: str
    state: PersonState
    pause_reason: str
    reachable: bool  # the device is not INVALID/UNAVAILABLE
    queues: Mapping[str, Membership]
    login_time: datetime | None  # start of the current session; None when logged out
    idle_since: datetime
    calls_taken: int  # calls completed since this service knows the person
    history: tuple[tuple[datetime, datetime], ...]
    sessions: tuple[tuple[datetime, datetime | None], ...]
    missed_rings: int  # consecutive unanswered rings (reset by a connect or an unpause)
    call_uniqueid: str | None  # the caller's Uniqueid while on a queue call ("" if unknown)
    call_started: datetime | None
    wrapup_until: datetime
    free: bool  # available and reachable: may be rung in the queues where not paused
    call_queue: str = ""  # the queue of the call the person is on ("" if none or unknown)

    def can_take(self, queue: str) -> bool:
        """Whether app_queue may ring this person for ``queue`` now."""
        if not self.free:
            return False
        membership = self.queues.get(queue)
        return membership is not None and not membership.paused

    def occupancy(self, now: datetime, window: timedelta = HOUR) -> float:
        """Time on call / time logged in, over the ``window`` before ``now`` (0..1)."""
        start = now - window
        busy = _NO_TIME
        for begin, end in self.history:
            if end > start:
                busy += min(end, now) - max(begin, start)
        if self.call_started is not None:
            busy += now - max(self.call_started, start)
        logged = _NO_TIME
        for begin, maybe_end in self.sessions:
            end = now if maybe_end is None else maybe_end
            if end > start:
                logged += min(end, now) - max(begin, start)
        if logged <= _NO_TIME or busy <= _NO_TIME:
            return 0.0
        return min(busy / logged, 1.0)

    def calls_in_window(self, now: datetime, window: timedelta = HOUR) -> int:
        """Calls ended in the ``window`` before ``now``, plus the current one."""
        start = now - window
        count = sum(1 for _, end in self.history if end > start)
        return count + (1 if self.call_started is not None else 0)


@dataclass(frozen=True, slots=True)
class WaitingCall:
    uniqueid: str
    queue: str
    joined_at: datetime
    position: int
    priority: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of the live state at ``at``. ``queues`` maps each queue with logged-in
    members to their person ids (sorted); ``calls`` the waiting callers by Uniqueid."""

    at: datetime
    people: Mapping[str, PersonView]
    queues: Mapping[str, tuple[str, ...]]
    calls: Mapping[str, WaitingCall]


# -- mutable internals ---------------------------------------------------------------------------


class _Member:
    __slots__ = ("interface", "login_time", "paused", "penalty", "reason", "wrapup")

    def __init__(self, interface: str, login_time: datetime) -> None:
        self.interface = interface
        self.penalty = 0
        self.paused = False
        self.reason = ""
        self.login_time = login_time
        self.wrapup = _NO_TIME  # member-specific wrap-up time (0: the queue's)


class _Person:
    __slots__ = (
        "call_queue",
        "call_start",
        "call_uid",
        "calls_total",
        "device",
        "history",
        "idle_since",
        "members",
        "missed",
        "on_call",
        "pid",
        "ringing",
        "session_start",
        "sessions",
        "wrapup_until",
    )  # fmt: skip

    def __init__(self, pid: str) -> None:
        self.pid = pid
        self.members: dict[str, _Member] = {}
        self.device = DeviceState.UNKNOWN
        self.ringing: str | None = None  # caller Uniqueid while AgentCalled is pending
        self.on_call = False
        self.call_uid = ""
        self.call_start = EPOCH
        self.call_queue = ""
        self.wrapup_until = EPOCH
        self.idle_since = EPOCH
        self.calls_total = 0
        self.history: deque[tuple[datetime, datetime]] = deque(maxlen=_MAX_CALLS_KEPT)
        self.sessions: deque[tuple[datetime, datetime]] = deque(maxlen=_MAX_SESSIONS_KEPT)
        self.session_start: datetime | None = None
        self.missed = 0


Handler = Callable[[Any, datetime], None]

_MEMBER_EVENTS = (
    QueueMemberAdded, QueueMemberRemoved, QueueMemberPause, QueueMemberPenalty, QueueMemberStatus,
    QueueMemberRinginuse,
)  # fmt: skip


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


@runtime_checkable
class _Staffed(Protocol):
    """What the state reads of a profile (``profiles.model.Profile``): its people, each with an id."""

    @property
    def people(self) -> Iterable[_Identified]: ...


class LiveState:
    """Live queue and person state, reduced from AMI events.

    ``people``: the known person ids, or a profile (its people); other members are ignored.
    ``wrapup_seconds``: the queues' wrap-up time, one number or a mapping queue -> seconds (a
    member's own ``Wrapuptime`` > 0 wins). ``history_seconds``: how far back load is kept. Both
    are settings in seconds; times are aware UTC datetimes.
    """

    def __init__(
        self,
        people: Iterable[str] | _Staffed,
        *,
        wrapup_seconds: float | Mapping[str, float] = 5.0,
        history_seconds: float = HOUR.total_seconds(),
    ) -> None:
        if isinstance(people, _Staffed):
            self._known = frozenset(p.id for p in people.people)
        else:
            self._known = frozenset(people)
        if isinstance(wrapup_seconds, Mapping):
            self._wrapup_default = _NO_TIME
            self._wrapup_by_queue = {str(k): timedelta(seconds=float(v)) for k, v in wrapup_seconds.items()}
        else:
            self._wrapup_default = timedelta(seconds=float(wrapup_seconds))
            self._wrapup_by_queue = {}
        self._history = timedelta(seconds=float(history_seconds))
        self._people: dict[str, _Person] = {}
        self._queues: dict[str, dict[str, None]] = {}  # queue -> member ids (insertion order)
        self._calls: dict[str, WaitingCall] = {}
        self._queue_calls: dict[str, dict[str, None]] = {}  # queue -> waiting Uniqueids
        self._ringing_for: dict[str, set[str]] = {}  # caller Uniqueid -> people ringing for it
        self._pending_prio: dict[str, int] = {}
        # snapshot caches
        self._views: dict[str, PersonView] = {}
        self._dirty: set[str] = set()
        self._timed: set[str] = set()  # people whose view changes with time (wrap-up)
        self._queue_views: dict[str, tuple[str, ...]] = {}
        self._dirty_queues: set[str] = set()
        self._last_snapshot: datetime | None = None
        self._dispatch: dict[type, Handler] = {
            QueueMemberAdded: self._on_member_added,
            QueueMemberRemoved: self._on_member_removed,
            QueueMemberPause: self._on_member_pause,
            QueueMemberPenalty: self._on_member_status,
            QueueMemberStatus: self._on_member_status,
            QueueMemberRinginuse: self._on_member_status,
            AgentCalled: self._on_agent_called,
            AgentRingNoAnswer: self._on_ring_no_answer,
            AgentConnect: self._on_agent_connect,
            AgentComplete: self._on_agent_complete,
            QueueCallerJoin: self._on_caller_join,
            QueueCallerLeave: self._on_caller_leave,
            QueueCallerAbandon: self._on_caller_leave,
            VarSet: self._on_varset,
        }

    @classmethod
    def from_profile(
        cls,
        profile: _Staffed,
        *,
        wrapup_seconds: float | Mapping[str, float] | None = None,
        history_seconds: float = HOUR.total_seconds(),
    ) -> LiveState:
        """A state knowing the profile's people, with its queues' wrap-up time (unless ``wrapup_seconds`` is given)."""
        if wrapup_seconds is None:
            settings = getattr(profile, "queue_settings", None)
            wrapup_seconds = float(getattr(settings, "wrapup_seconds", 5))
        return cls(profile, wrapup_seconds=wrapup_seconds, history_seconds=history_seconds)

    @property
    def event_types(self) -> frozenset[type]:
        """The typed events (``telephony.events``) this state uses."""
        return frozenset(self._dispatch)

    @property
    def events(self) -> frozenset[str]:
        """The AMI event names this state uses (for an event filter, or the console hub)."""
        return frozenset(t.__name__ for t in self._dispatch)

    # -- events ---------------------------------------------------------------------------------

    def apply(self, event: Event | None, now: datetime) -> bool:
        """Apply one typed event (``telephony.events``: AMI is parsed once, at the boundary) received
        at ``now``. Events this state does not use (and None) are ignored. Returns whether the event
        is one this state uses (a hint to re-decide; it may still have changed nothing).
        """
        handler = self._dispatch.get(type(event))
        if handler is None:
            return False
        handler(event, now)
        return True

    def set_call_priority(self, uniqueid: str, priority: int) -> None:
        """Record a waiting caller's priority (or the priority it will have when it joins)."""
        call = self._calls.get(uniqueid)
        if call is not None:
            self._calls[uniqueid] = WaitingCall(call.uniqueid, call.queue, call.joined_at, call.position, priority)
        else:
            self._remember_priority(uniqueid, priority)

    def _person(self, pid: str) -> _Person | None:
        if not pid or pid not in self._known:
            return None
        person = self._people.get(pid)
        if person is None:
            person = self._people[pid] = _Person(pid)
        return person

    def _touch(self, person: _Person) -> None:
        self._dirty.add(person.pid)

    def _upsert_member(self, person: _Person, event: MemberEvent, now: datetime) -> _Member | None:
        """Create or update the membership an event describes (all member-blob fields)."""
        queue = event.queue
        if not queue:
            return None
        member = person.members.get(queue)
        if member is None:
            login = utc(event.login_time) if event.login_time else now
            member = _Member(event.interface or names.interface(person.pid), login)
            if not person.members:
                self._login(person, login, now)
            person.members[queue] = member
            self._queues.setdefault(queue, {})[person.pid] = None
            self._dirty_queues.add(queue)
        if event.penalty is not None:
            member.penalty = event.penalty
        if event.paused is not None:
            member.paused = event.paused
            member.reason = event.paused_reason if member.paused else ""
        if event.wrapup is not None:
            member.wrapup = _duration(event.wrapup)
        if event.status is not None:
            person.device = event.status
        return member

    @staticmethod
    def _login(person: _Person, login: datetime, now: datetime) -> None:
        start = min(login, now)
        person.session_start = start
        person.idle_since = max(start, person.wrapup_until)

    def _logout(self, person: _Person, now: datetime) -> None:
        if person.session_start is not None:
            person.sessions.append((person.session_start, now))
            person.session_start = None
        self._stop_ringing(person)

    def _on_member_added(self, event: MemberEvent, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is not None and self._upsert_member(person, event, now) is not None:
            self._touch(person)

    _on_member_status = _on_member_added

    def _on_member_pause(self, event: MemberEvent, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is None:
            return
        member = self._upsert_member(person, event, now)
        if member is not None:
            if not member.paused:
                person.missed = 0
            self._touch(person)

    def _on_member_removed(self, event: MemberEvent, now: datetime) -> None:
        person = self._person(event.member_name)
        queue = event.queue
        if person is None or not queue or person.members.pop(queue, None) is None:
            return
        members = self._queues.get(queue)
        if members is not None:
            members.pop(person.pid, None)
            if not members:
                del self._queues[queue]
            self._dirty_queues.add(queue)
        if not person.members:
            self._logout(person, now)
        self._touch(person)

    def _on_agent_called(self, event: AgentCalled, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is None:
            return
        self._stop_ringing(person)
        uid = event.uniqueid
        person.ringing = uid
        self._ringing_for.setdefault(uid, set()).add(person.pid)
        self._touch(person)

    def _on_ring_no_answer(self, event: AgentRingNoAnswer, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is None:
            return
        self._stop_ringing(person)
        person.missed += 1
        self._touch(person)

    def _on_agent_connect(self, event: AgentConnect, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is None:
            return
        self._stop_ringing(person)
        person.on_call = True
        person.call_uid = event.uniqueid
        person.call_start = now
        person.call_queue = event.queue
        person.missed = 0
        self._touch(person)

    def _on_agent_complete(self, event: AgentComplete, now: datetime) -> None:
        person = self._person(event.member_name)
        if person is None:
            return
        queue = event.queue or person.call_queue
        self._end_call(person, queue, now, now, _duration(event.talk_time))
        self._touch(person)

    def _end_call(self, person: _Person, queue: str, ended: datetime, now: datetime, talk: timedelta) -> None:
        start = person.call_start if person.on_call else ended - talk
        if ended > start:
            person.history.append((start, ended))
        person.calls_total += 1
        person.on_call = False
        person.call_uid = ""
        person.call_queue = ""
        self._stop_ringing(person)
        member = person.members.get(queue)
        wrapup = member.wrapup if member is not None and member.wrapup > _NO_TIME else None
        if wrapup is None:
            wrapup = self._wrapup_by_queue.get(queue, self._wrapup_default)
        person.wrapup_until = max(person.wrapup_until, ended + wrapup)
        person.idle_since = max(person.idle_since, person.wrapup_until)
        self._prune(person, now)

    def _prune(self, person: _Person, now: datetime) -> None:
        horizon = now - self._history
        history = person.history
        while history and history[0][1] <= horizon:
            history.popleft()
        sessions = person.sessions
        while sessions and sessions[0][1] <= horizon:
            sessions.popleft()

    def _stop_ringing(self, person: _Person) -> None:
        uid = person.ringing
        if uid is None:
            return
        person.ringing = None
        ringing = self._ringing_for.get(uid)
        if ringing is not None:
            ringing.discard(person.pid)
            if not ringing:
                del self._ringing_for[uid]

    def _on_caller_join(self, event: QueueCallerJoin, now: datetime) -> None:
        uid = event.uniqueid
        queue = event.queue
        if not uid or not queue:
            return
        priority = self._pending_prio.pop(uid, None)
        if priority is None:
            priority = event.priority or 0
        old = self._calls.get(uid)
        if old is not None:
            self._drop_call(old)
        self._calls[uid] = WaitingCall(uid, queue, now, event.position, priority)
        self._queue_calls.setdefault(queue, {})[uid] = None

    def _on_caller_leave(self, event: QueueCallerLeave | QueueCallerAbandon, now: datetime) -> None:
        uid = event.uniqueid
        if not uid:
            return
        call = self._calls.get(uid)
        if call is not None:
            self._drop_call(call)
        ringing = self._ringing_for.pop(uid, None)
        if ringing:
            for pid in ringing:
                person = self._people.get(pid)
                if person is not None and person.ringing == uid:
                    person.ringing = None
                    self._dirty.add(pid)

    def _drop_call(self, call: WaitingCall) -> None:
        """Forget a waiting call; the callers behind it move up one position."""
        calls = self._calls
        del calls[call.uniqueid]
        in_queue = self._queue_calls.get(call.queue)
        if in_queue is None:
            return
        in_queue.pop(call.uniqueid, None)
        if not in_queue:
            del self._queue_calls[call.queue]
            return
        for uid in in_queue:
            other = calls[uid]
            if other.position > call.position:
                calls[uid] = WaitingCall(uid, other.queue, other.joined_at, other.position - 1, other.priority)

    def _on_varset(self, event: VarSet, now: datetime) -> None:
        if event.variable != "QUEUE_PRIO" or not event.uniqueid:
            return
        self.set_call_priority(event.uniqueid, event.number or 0)

    def _remember_priority(self, uid: str, priority: int) -> None:
        pending = self._pending_prio
        pending[uid] = priority
        if len(pending) > _MAX_PENDING_PRIORITIES:
            del pending[next(iter(pending))]

    # -- resync ---------------------------------------------------------------------------------

    def reset_from_queue_status(self, rows: Iterable[QueueStatusRow], now: datetime) -> None:
        """Rebuild memberships and waiting calls from the rows of a ``QueueStatus`` list
        (``telephony.events.parse_queue_status``: QueueParams, QueueMember, QueueEntry). Load
        figures (call history, sessions, calls taken, missed rings) of the people are kept.
        """
        seen: dict[str, list[QueueMember]] = {}
        entries: list[QueueEntry] = []
        for row in rows:
            if isinstance(row, QueueMember):
                if row.member_name in self._known:
                    seen.setdefault(row.member_name, []).append(row)
            elif isinstance(row, QueueEntry):
                entries.append(row)
        # People who are gone: logged out now (their load figures stay).
        for person in self._people.values():
            if person.pid not in seen and person.members:
                person.members.clear()
                self._logout(person, now)
                self._dirty.add(person.pid)
        self._queues.clear()
        self._ringing_for.clear()
        for pid, member_rows in seen.items():
            known = self._people.get(pid)
            if known is None:
                known = self._people[pid] = _Person(pid)
            self._resync_person(known, member_rows, now)
        for person in self._people.values():
            for queue in person.members:
                self._queues.setdefault(queue, {})[person.pid] = None
        self._calls = {}
        self._queue_calls = {}
        for entry in entries:
            uid = entry.uniqueid
            queue = entry.queue
            if uid and queue:
                self._calls[uid] = WaitingCall(uid, queue, now - _duration(entry.wait), entry.position, entry.priority)
                self._queue_calls.setdefault(queue, {})[uid] = None
        self._views.clear()
        self._timed.clear()
        self._dirty = set(self._people)
        self._queue_views.clear()
        self._dirty_queues = set(self._queues)

    def _resync_person(self, person: _Person, rows: list[QueueMember], now: datetime) -> None:
        was_logged_in = person.session_start is not None
        old_members = person.members
        person.members = {}
        person.ringing = None
        login = min((utc(row.login_time) for row in rows if row.login_time > 0), default=now)
        if was_logged_in and person.session_start is not None and login > person.session_start + _RESYNC_SLACK:
            # Logged out and in again while we were away.
            person.sessions.append((person.session_start, login))
            person.session_start = None
            was_logged_in = False
        in_call = False
        last_call = EPOCH
        for row in rows:
            queue = row.queue
            if not queue:
                continue
            old = old_members.get(queue)
            member = _Member(
                row.interface or (old.interface if old else names.interface(person.pid)),
                utc(row.login_time) if row.login_time else (old.login_time if old else now),
            )
            member.penalty = row.penalty
            member.paused = row.paused
            member.reason = row.paused_reason if member.paused else ""
            member.wrapup = _duration(row.wrapup)
            person.members[queue] = member
            person.device = row.status
            in_call = in_call or row.in_call
            if row.last_call > 0:
                last_call = max(last_call, utc(row.last_call))
        if not was_logged_in:
            self._login(person, login, now)
        if person.on_call and not in_call:
            queue = person.call_queue
            self._end_call(person, queue, last_call if last_call >= person.call_start else now, now, _NO_TIME)
        elif in_call and not person.on_call:
            person.on_call = True
            person.call_uid = ""
            person.call_start = now
            person.call_queue = ""
        if last_call > EPOCH and not person.on_call:
            wrapup = max((m.wrapup for m in person.members.values()), default=_NO_TIME)
            if wrapup <= _NO_TIME:
                wrapup = max(
                    (self._wrapup_by_queue.get(q, self._wrapup_default) for q in person.members),
                    default=self._wrapup_default,
                )
            person.wrapup_until = max(person.wrapup_until, last_call + wrapup)
            person.idle_since = max(person.idle_since, person.wrapup_until)

    # -- queries --------------------------------------------------------------------------------

    def person_state(self, person_id: str, now: datetime) -> PersonState:
        person = self._people.get(person_id)
        if person is None:
            return PersonState.LOGGED_OUT
        return self._state_of(person, now)[0]

    def next_change_at(self, now: datetime) -> datetime | None:
        """The earliest time after ``now`` at which a state changes without an event (the end of
        a wrap-up), or None. The adapter should re-decide then."""
        ends = [p.wrapup_until for p in self._people.values() if p.wrapup_until > now and p.members]
        return min(ends) if ends else None

    @staticmethod
    def _state_of(person: _Person, now: datetime) -> tuple[PersonState, str]:
        members = person.members
        if not members:
            return PersonState.LOGGED_OUT, ""
        reasons = {m.reason for m in members.values() if m.paused}
        paused_all = all(m.paused for m in members.values())
        reason = ",".join(sorted(r for r in reasons if r)) if paused_all else ""
        if person.on_call:
            return PersonState.ON_CALL, reason
        if person.ringing is not None:
            return PersonState.RINGING, reason
        if now < person.wrapup_until:
            return PersonState.WRAP_UP, reason
        if paused_all:
            return PersonState.PAUSED, reason
        device = person.device
        if device in _DEVICE_BUSY:
            return PersonState.ON_CALL, reason
        if device == DeviceState.RINGING:
            return PersonState.RINGING, reason
        return PersonState.AVAILABLE, reason

    def _view(self, person: _Person, now: datetime) -> PersonView:
        self._prune(person, now)
        state, reason = self._state_of(person, now)
        queues = (
            MappingProxyType(
                {
                    q: Membership(q, m.interface, m.penalty, m.paused, m.reason, m.login_time)
                    for q, m in person.members.items()
                }
            )
            if person.members
            else _EMPTY
        )
        sessions: tuple[tuple[datetime, datetime | None], ...] = tuple(person.sessions)
        if person.session_start is not None:
            sessions = (*sessions, (person.session_start, None))
        reachable = person.device not in _DEVICE_UNREACHABLE
        return PersonView(
            person_id=person.pid,
            state=state,
            pause_reason=reason,
            reachable=reachable,
            queues=queues,
            login_time=person.session_start,
            idle_since=person.idle_since,
            calls_taken=person.calls_total,
            history=tuple(person.history),
            sessions=sessions,
            missed_rings=person.missed,
            call_uniqueid=person.call_uid if person.on_call else None,
            call_started=person.call_start if person.on_call else None,
            wrapup_until=person.wrapup_until,
            free=reachable and state is PersonState.AVAILABLE,
            call_queue=person.call_queue if person.on_call else "",
        )

    def snapshot(self, now: datetime) -> Snapshot:
        """An immutable view at ``now``. Only people changed since the last snapshot (or whose
        wrap-up ended) are rebuilt."""
        people = self._people
        views = self._views
        timed = self._timed
        if self._last_snapshot is not None and now < self._last_snapshot:
            self._dirty.update(people)  # the clock went backwards: wrap-ups may apply again
        elif timed:
            for pid in timed:
                if now >= views[pid].wrapup_until:
                    self._dirty.add(pid)
        self._last_snapshot = now
        if self._dirty:
            for pid in self._dirty:
                person = people[pid]
                view = self._view(person, now)
                views[pid] = view
                if view.state is PersonState.WRAP_UP:
                    timed.add(pid)
                else:
                    timed.discard(pid)
            self._dirty.clear()
        if self._dirty_queues:
            for queue in self._dirty_queues:
                members = self._queues.get(queue)
                if members:
                    self._queue_views[queue] = tuple(sorted(members))
                else:
                    self._queue_views.pop(queue, None)
            self._dirty_queues.clear()
        return Snapshot(
            at=now,
            people=MappingProxyType(dict(views)),
            queues=MappingProxyType(dict(self._queue_views)),
            calls=MappingProxyType(dict(self._calls)),
        )
