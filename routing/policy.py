"""Skill- and load-aware routing decisions. Pure and deterministic: a :class:`routing.state.Snapshot`,
the profile and the time in, plain data out. The adapter turns :class:`Decisions` into AMI actions.

How the decisions map onto app_queue (which rings the available member with the lowest penalty):

* penalty = ``tier * 100 + rank``. Tier 0: exact match; tier 1: widened (the person's level is
  below ``routing.min_skill_level``, or their level in the queue's language is below
  ``routing.min_language_level``, or they are in the queue without the profile listing them
  there). Callers enter with ``QUEUE_MAX_PENALTY=99`` and a penalty rule raising it to 199 after
  T1 (``widen_after_seconds``), so tier 1 is only rung after T1.
* rank: inside a tier, the members who can take a call in that queue now are ranked 0, 1, 2...
  (at most 98) by load: longest idle first (earliest ``idle_since``), then lowest occupancy over
  the last hour, then fewest calls in the last hour, then person id. Everyone else in the tier
  (on a call, ringing, in wrap-up, paused, unreachable, logged out) gets rank 99.
* after T2 (``overflow_after_seconds``) the dialplan moves the caller to the overflow queue of
  the same language (``routing.overflow_topic`` or the default topic).
* seats: in each queue, the first N members by login time (then person id) hold a seat; the
  others are paused in that queue with reason ``no-seat``; a ``no-seat`` pause is lifted when
  the member holds a seat again. Other pauses are never touched by the seat plan.
* centre-wide seats: ``Profile.centre_seats_for(shift)`` (or a supervisor's live figure) caps the people
  taking calls in the whole centre. People are taken in login order (their earliest login, then person
  id); each holds a seat in every queue of theirs that still has one, and holds a centre seat when they
  hold any queue seat; once the centre's seats are all held, everyone after waits in all their queues
  (``no-seat``), so never more people take calls than the centre's seats. Someone paused everywhere for
  another reason (a break, missed rings) takes no seat of either kind while paused. No centre limit:
  the queues' seats alone, as above.
* auto-pause: ``routing.max_missed_rings`` consecutive missed rings pause the person in all
  queues with reason ``missed-rings`` (0 disables).

``now`` and every time here are aware UTC datetimes; the profile's T1 and T2 are seconds, and how
long a caller has waited is counted in seconds from two datetimes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TypeGuard

from profiles.model import Profile, RoutingRules, Topic
from routing.queues import build_queues, tier
from routing.state import Membership, PersonState, PersonView, Snapshot, WaitingCall
from telephony.clock import EPOCH
from telephony.names import EXACT, MAX_RANK, TIER_WIDTH, WIDENED, interface, overflow_queue_name

__all__ = [
    "CALLBACK_BONUS",
    "CENTRE",
    "MISSED_RINGS",
    "NO_SEAT",
    "Choice",
    "Decisions",
    "PauseChange",
    "PenaltyChange",
    "SeatPlan",
    "auto_pauses",
    "call_priority",
    "centre_seats",
    "choose_for_call",
    "decide",
    "desired_penalties",
    "overflow_queue",
    "seat_plan",
]

NO_SEAT = "no-seat"
#: The key of the centre-wide seats among the live seat overrides (never a queue name: queues have no '*').
CENTRE = "*centre"
MISSED_RINGS = "missed-rings"
CALLBACK_BONUS = 5
_AVAILABLE_MAX_RANK = MAX_RANK - 1  # rank 99 is for members who cannot take a call now
_HOUR = timedelta(hours=1)
_FREE_IF_UNPAUSED = frozenset({PersonState.AVAILABLE, PersonState.PAUSED})


@dataclass(frozen=True, slots=True)
class Choice:
    """What app_queue will do for a waiting call: ring ``person_id`` (of ``tier``), or move the
    caller to ``overflow_to``, or (both None, only in :class:`Decisions`) keep it waiting."""

    uniqueid: str
    queue: str
    waited: float  # seconds since the caller joined
    person_id: str | None = None
    tier: int | None = None
    overflow_to: str | None = None


@dataclass(frozen=True, slots=True)
class SeatPlan:
    queue: str
    seats: int
    active: tuple[str, ...]  # hold a seat: the first ``seats`` members by login time
    waiting: tuple[str, ...]  # logged in, beyond the seats, in login order
    pause: tuple[str, ...]  # waiting and not paused yet: pause in this queue, reason "no-seat"
    unpause: tuple[str, ...]  # active but paused "no-seat": a seat freed, unpause in this queue


@dataclass(frozen=True, slots=True)
class PenaltyChange:
    queue: str
    person_id: str
    interface: str
    penalty: int


@dataclass(frozen=True, slots=True)
class PauseChange:
    """``QueuePause``: ``queue`` None means all the person's queues."""

    person_id: str
    interface: str
    queue: str | None
    paused: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Decisions:
    penalties: tuple[PenaltyChange, ...]  # only those differing from the current penalties
    pauses: tuple[PauseChange, ...]  # auto-pauses first, then seat pauses/unpauses
    choices: tuple[Choice, ...]  # every waiting call, highest priority first; person_id and
    # overflow_to both None: nobody can take it yet
    seats: Mapping[str, SeatPlan]
    recheck_at: datetime | None  # next time a decision changes without an event (T1, T2, wrap-up end)


# -- the profile, indexed once -------------------------------------------------------------------


class _Index:
    __slots__ = ("language", "members", "queue_tiers", "rules", "tiers")

    def __init__(self, profile: Profile) -> None:
        self.rules = profile.routing
        self.language: dict[str, str] = {}
        self.members: dict[str, tuple[str, ...]] = {}
        self.tiers: dict[tuple[str, str], int] = {}
        # queue -> person id -> tier; someone in a queue the profile does not give them is at
        # best a widened match (WIDENED when absent)
        self.queue_tiers: dict[str, dict[str, int]] = {}
        people = {p.id: p for p in profile.people}
        for spec in build_queues(profile):
            self.language[spec.name] = spec.language
            self.members[spec.name] = tuple(sorted(m.person_id for m in spec.members))
            by_person = self.queue_tiers[spec.name] = {}
            for m in spec.members:
                by_person[m.person_id] = tier(people[m.person_id], spec.language, self.rules)
                self.tiers[(spec.name, m.person_id)] = by_person[m.person_id]

    def language_of(self, queue: str) -> str:
        return self.language.get(queue) or queue.partition("-")[0]


_INDEXES: dict[int, tuple[Profile, _Index]] = {}


def _index(profile: Profile) -> _Index:
    cached = _INDEXES.get(id(profile))
    if cached is not None and cached[0] is profile:
        return cached[1]
    if len(_INDEXES) > 8:
        _INDEXES.clear()
    index = _Index(profile)
    _INDEXES[id(profile)] = (profile, index)
    return index


# -- availability, with the pauses a decision is about to apply ------------------------------------


class _Pending:
    """Pauses decided but not applied yet: availability is judged as if they were."""

    __slots__ = ("paused_everywhere", "paused_in", "unpaused_in")

    def __init__(self) -> None:
        self.paused_everywhere: set[str] = set()
        self.paused_in: dict[str, set[str]] = {}  # queue -> person ids
        self.unpaused_in: dict[str, set[str]] = {}

    def rules_for(self, queue: str) -> tuple[frozenset[str] | set[str], frozenset[str] | set[str]]:
        """(blocked, freed) person ids in ``queue``."""
        paused = self.paused_in.get(queue)
        blocked = self.paused_everywhere | paused if paused else self.paused_everywhere
        return blocked, self.unpaused_in.get(queue) or _NONE


_NONE: frozenset[str] = frozenset()
_NOTHING_PENDING = _Pending()


def _free_in(
    view: PersonView | None, queue: str, blocked: Collection[str], freed: Collection[str]
) -> TypeGuard[PersonView]:
    """Whether ``view`` can take a call in ``queue`` once the pending pauses are applied (never for None)."""
    if view is None:
        return False
    pid = view.person_id
    if pid in freed:
        return queue in view.queues and view.reachable and view.state in _FREE_IF_UNPAUSED
    if not view.free:
        return False
    membership = view.queues.get(queue)
    return membership is not None and not membership.paused and pid not in blocked


def _load_key(view: PersonView, now: datetime) -> tuple[datetime, float, int, str]:
    return (view.idle_since, view.occupancy(now, _HOUR), view.calls_in_window(now, _HOUR), view.person_id)


# -- penalties ------------------------------------------------------------------------------------


def desired_penalties(snapshot: Snapshot, profile: Profile, now: datetime) -> dict[tuple[str, str], int]:
    """The penalty every (queue, person) pair should have: every live membership and every
    membership the profile gives (for the penalty of a ``QueueAdd`` at login). Sorted by queue,
    then person id."""
    return _penalties(snapshot, _index(profile), now, _NOTHING_PENDING)


def _penalties(snapshot: Snapshot, index: _Index, now: datetime, pending: _Pending) -> dict[tuple[str, str], int]:
    """Penalties that keep each tier's free members in load order while changing as few as possible.

    Dense ranks would renumber everyone behind a person who starts or ends a call: hundreds of
    QueuePenalty actions per call at 2,000 agents. Only the order of the free members matters to
    app_queue, and only the tier band to the caller's max penalty. So a member keeps the penalty
    Asterisk has when it is in the right band and (for free members) above the one before it in load
    order; the others take the next number, and a band that runs out is renumbered densely.
    """
    people = snapshot.people
    keys: dict[str, tuple[datetime, float, int, str]] = {}
    result: dict[tuple[str, str], int] = {}
    for queue in sorted(set(index.members).union(snapshot.queues)):
        live = snapshot.queues.get(queue, ())
        members = index.members.get(queue, ())
        pids = sorted(set(members).union(live)) if live else members
        available: tuple[list[str], list[str]] = ([], [])
        blocked, freed = pending.rules_for(queue)
        tier_of = index.queue_tiers.get(queue, {})
        current: dict[str, int] = {}
        for pid in pids:
            member_tier = tier_of.get(pid, WIDENED)
            view = people.get(pid)
            base = member_tier * TIER_WIDTH
            membership = view.queues.get(queue) if view is not None else None
            if membership is not None and base <= membership.penalty <= base + MAX_RANK:
                current[pid] = membership.penalty
            if _free_in(view, queue, blocked, freed):
                available[member_tier].append(pid)
                if pid not in keys:
                    keys[pid] = _load_key(view, now)
            # Busy, paused or absent: app_queue does not ring them, so any penalty in the band will do.
            result[(queue, pid)] = current.get(pid, base + MAX_RANK)
        for member_tier, ranked in enumerate(available):
            ranked.sort(key=keys.__getitem__)
            base = member_tier * TIER_WIDTH
            top = base + _AVAILABLE_MAX_RANK
            assigned: list[int] = []
            previous = base - 1
            for pid in ranked:
                keep = current.get(pid)
                penalty = keep if keep is not None and previous < keep <= top else previous + 1
                assigned.append(penalty)
                previous = penalty
            if assigned and assigned[-1] > top:  # the band ran out: renumber it densely
                assigned = [base + min(rank, _AVAILABLE_MAX_RANK) for rank in range(len(ranked))]
            for pid, penalty in zip(ranked, assigned, strict=True):
                result[(queue, pid)] = penalty
    return result


# -- one call ---------------------------------------------------------------------------------------


def overflow_queue(profile: Profile, queue: str) -> str:
    """The overflow queue for callers of ``queue``: same language, the overflow topic."""
    index = _index(profile)
    return overflow_queue_name(index.language_of(queue), profile.overflow_topic)


def call_priority(topic: str | Topic, is_callback: bool, profile: Profile) -> int:
    """The QUEUE_PRIO for a caller: the topic's priority, plus 5 for a callback."""
    topic_obj = profile.topic(topic) if isinstance(topic, str) else topic
    return topic_obj.priority + (CALLBACK_BONUS if is_callback else 0)


def choose_for_call(
    snapshot: Snapshot,
    call: WaitingCall,
    profile: Profile,
    now: datetime,
    exclude: Collection[str] = (),
) -> Choice | None:
    """The person app_queue will ring for ``call`` (best free tier-0 member, then after T1 the
    best free tier-1 member), an overflow Choice after T2, or None when nobody can take it.
    ``exclude``: people already taken by other calls."""
    return _choose(snapshot, _index(profile), profile, call, now, exclude, _NOTHING_PENDING)


def _choose(
    snapshot: Snapshot,
    index: _Index,
    profile: Profile,
    call: WaitingCall,
    now: datetime,
    exclude: Collection[str],
    pending: _Pending,
) -> Choice | None:
    rules = index.rules
    waited = (now - call.joined_at).total_seconds()
    if waited >= rules.overflow_after_seconds:
        target = overflow_queue(profile, call.queue)
        if target != call.queue:
            return Choice(call.uniqueid, call.queue, waited, overflow_to=target)
    max_tier = WIDENED if waited >= rules.widen_after_seconds else EXACT
    queue = call.queue
    people = snapshot.people
    tier_of = index.queue_tiers.get(queue, {})
    plain = pending is _NOTHING_PENDING
    blocked, freed = pending.rules_for(queue)
    # One pass on (tier, idle_since) only; the costlier load figures break exact ties. This is
    # the hot path of the benchmark: cheap tests first.
    best_tier = WIDENED + 1
    best_idle = EPOCH
    tied: list[PersonView] = []
    for pid in snapshot.queues.get(queue, ()):
        view = people[pid]
        if plain:
            if not view.free or view.queues[queue].paused:
                continue
        elif not _free_in(view, queue, blocked, freed):
            continue
        member_tier = tier_of.get(pid, WIDENED)
        if member_tier > max_tier or member_tier > best_tier or pid in exclude:
            continue
        idle = view.idle_since
        if member_tier < best_tier or idle < best_idle:
            best_tier = member_tier
            best_idle = idle
            tied = [view]
        elif idle == best_idle:
            tied.append(view)
    if not tied:
        return None
    chosen = tied[0] if len(tied) == 1 else min(tied, key=lambda v: _load_key(v, now))
    return Choice(call.uniqueid, queue, waited, person_id=chosen.person_id, tier=best_tier)


# -- seats and auto-pauses ----------------------------------------------------------------------------


def centre_seats(profile: Profile, now: datetime, overrides: Mapping[str, int] | None = None) -> int | None:
    """The seats of the whole centre at ``now``: the live override (key :data:`CENTRE`), else the
    profile's for the shift at ``now``; None: no centre-wide limit."""
    override = (overrides or {}).get(CENTRE)
    if override is not None:
        return max(int(override), 0)
    shift = profile.shift_at(now) if profile.shifts else None
    return profile.centre_seats_for(shift.id if shift is not None else None)


def seat_plan(
    snapshot: Snapshot,
    profile: Profile,
    now: datetime,
    overrides: Mapping[str, int] | None = None,
) -> dict[str, SeatPlan]:
    """For every queue with logged-in members: who holds a seat (the first N by login time, then
    person id), who waits, whom to pause ``no-seat`` and whom to unpause. N is the live override
    for the queue, else the profile's seats for the queue in the shift at ``now``. With a
    centre-wide limit (:func:`centre_seats`), people beyond it hold no seat anywhere (module doc)."""
    overrides = overrides or {}
    shift = profile.shift_at(now) if profile.shifts else None
    shift_id = shift.id if shift is not None else None
    people = snapshot.people
    limits: dict[str, int] = {}
    members: dict[str, list[tuple[datetime, str, Membership]]] = {}
    for queue in sorted(snapshot.queues):
        seats = overrides.get(queue)
        if seats is None:
            seats = profile.seats_for(queue, shift_id)
        limits[queue] = max(int(seats), 0)
        listed = members[queue] = []
        for pid in snapshot.queues[queue]:
            membership = people[pid].queues.get(queue)
            if membership is not None:
                listed.append((membership.login_time, pid, membership))
        listed.sort(key=lambda item: (item[0], item[1]))
    centre = centre_seats(profile, now, overrides)
    holders = _seat_holders(limits, members, people, centre) if centre is not None else None
    plans: dict[str, SeatPlan] = {}
    for queue, listed in members.items():
        if holders is None:
            active = listed[: limits[queue]]
            waiting = listed[limits[queue] :]
        else:
            held = holders.get(queue, set())
            active = [item for item in listed if item[1] in held]
            waiting = [item for item in listed if item[1] not in held]
        plans[queue] = SeatPlan(
            queue=queue,
            seats=limits[queue],
            active=tuple(pid for _, pid, _ in active),
            waiting=tuple(pid for _, pid, _ in waiting),
            pause=tuple(pid for _, pid, m in waiting if not m.paused),
            unpause=tuple(pid for _, pid, m in active if m.paused and m.pause_reason == NO_SEAT),
        )
    return plans


def _seat_holders(
    limits: Mapping[str, int],
    members: Mapping[str, list[tuple[datetime, str, Membership]]],
    people: Mapping[str, PersonView],
    centre: int,
) -> dict[str, set[str]]:
    """Queue -> the people holding a seat there under the centre-wide limit ``centre`` (module doc)."""
    first_login: dict[str, datetime] = {}
    for listed in members.values():
        for login, pid, _ in listed:
            if pid not in first_login or login < first_login[pid]:
                first_login[pid] = login
    left = dict(limits)
    holders: dict[str, set[str]] = {}
    held = 0
    for pid in sorted(first_login, key=lambda p: (first_login[p], p)):
        if held >= centre:
            break
        view = people[pid]
        if all(m.paused and m.pause_reason != NO_SEAT for m in view.queues.values()):
            continue  # on a break (or paused for missed rings): not taking calls, holds no seat
        queues = [q for q in sorted(view.queues) if q in left and left[q] > 0]
        if not queues:
            continue
        held += 1
        for queue in queues:
            left[queue] -= 1
            holders.setdefault(queue, set()).add(pid)
    return holders


def auto_pauses(snapshot: Snapshot, rules: RoutingRules) -> list[str]:
    """People to pause in all queues (reason ``missed-rings``): ``rules.max_missed_rings``
    consecutive missed rings, logged in and not already paused everywhere."""
    limit = rules.max_missed_rings
    if limit <= 0:
        return []
    return sorted(
        view.person_id
        for view in snapshot.people.values()
        if view.missed_rings >= limit and view.queues and not all(m.paused for m in view.queues.values())
    )


# -- everything at once ---------------------------------------------------------------------------------


def decide(
    snapshot: Snapshot,
    profile: Profile,
    now: datetime,
    seat_overrides: Mapping[str, int] | None = None,
) -> Decisions:
    """All decisions for ``snapshot`` at ``now``. Penalties and choices take the pauses decided
    here as applied."""
    index = _index(profile)
    rules = index.rules
    people = snapshot.people
    pending = _Pending()
    pauses: list[PauseChange] = []

    for pid in auto_pauses(snapshot, rules):
        view = people[pid]
        pending.paused_everywhere.add(pid)
        pauses.append(PauseChange(pid, _interface(view), None, True, MISSED_RINGS))

    seats = seat_plan(snapshot, profile, now, seat_overrides)
    for queue, plan in seats.items():
        for pid in plan.pause:
            pending.paused_in.setdefault(queue, set()).add(pid)
            pauses.append(PauseChange(pid, _interface(people[pid], queue), queue, True, NO_SEAT))
        for pid in plan.unpause:
            if pid in pending.paused_everywhere:
                continue
            pending.unpaused_in.setdefault(queue, set()).add(pid)
            pauses.append(PauseChange(pid, _interface(people[pid], queue), queue, False, NO_SEAT))

    desired = _penalties(snapshot, index, now, pending)
    changes: list[PenaltyChange] = []
    for queue in sorted(snapshot.queues):
        for pid in snapshot.queues[queue]:
            membership = people[pid].queues.get(queue)
            if membership is None:
                continue
            wanted = desired.get((queue, pid))
            if wanted is not None and wanted != membership.penalty:
                changes.append(PenaltyChange(queue, pid, membership.interface, wanted))

    choices: list[Choice] = []
    taken: set[str] = set()
    for call in sorted(snapshot.calls.values(), key=_call_order):
        choice = _choose(snapshot, index, profile, call, now, taken, pending)
        if choice is None:
            choice = Choice(call.uniqueid, call.queue, (now - call.joined_at).total_seconds())  # keeps waiting
        elif choice.person_id is not None:
            taken.add(choice.person_id)
        choices.append(choice)

    return Decisions(
        penalties=tuple(changes),
        pauses=tuple(pauses),
        choices=tuple(choices),
        seats=MappingProxyType(seats),
        recheck_at=_recheck_at(snapshot, rules, now),
    )


def _call_order(call: WaitingCall) -> tuple[int, datetime, int, str]:
    return (-call.priority, call.joined_at, call.position, call.uniqueid)


def _interface(view: PersonView, queue: str | None = None) -> str:
    membership = view.queues.get(queue) if queue is not None else None
    if membership is None and view.queues:
        membership = view.queues[min(view.queues)]
    return membership.interface if membership is not None else interface(view.person_id)


def _recheck_at(snapshot: Snapshot, rules: RoutingRules, now: datetime) -> datetime | None:
    widen = timedelta(seconds=rules.widen_after_seconds)
    overflow = timedelta(seconds=rules.overflow_after_seconds)
    times: Iterable[datetime] = (
        t for call in snapshot.calls.values() for t in (call.joined_at + widen, call.joined_at + overflow)
    )
    later = [t for t in times if t > now]
    later.extend(v.wrapup_until for v in snapshot.people.values() if v.wrapup_until > now and v.queues)
    return min(later) if later else None
