"""The callback policy: pure decisions about offering, accepting, dialling and retrying callbacks.

Pure and deterministic, like :mod:`routing.policy`: plain data and the time in (``now`` and every
time: aware UTC datetimes; the profile's durations are seconds), plain data out. No I/O, no clock,
no event loop. The store keeps the requests; the scheduler asks :func:`due_requests` what to dial,
and reports each attempt's end to :func:`after_attempt`.

Rules, in short (each function documents its own):

* **estimated wait** of a caller at position ``P`` (1 = next) in a queue with ``F`` free matching
  people and ``N`` working ones (logged in, not paused in the queue: free, ringing, on a call or
  in wrap-up), with an average handle time ``AHT``: ``max(0, P - F) * AHT / max(1, N)``. The
  first ``F`` callers are taken at once; after that the ``N`` people free up one every
  ``AHT / N`` seconds on average. So it is 0 when someone is free and ``P == 1``, and
  ``P * AHT`` when nobody works the queue.
* **offer** "press 1 to be called back": callbacks enabled, and the estimated wait is above
  ``offer_after_wait_seconds`` or the queue holds more waiting callers per working person than
  ``offer_callers_per_person``.
* **numbers** (toll-fraud defence): spaces, dashes, dots and brackets are dropped; the rest must
  be digits (one leading ``+`` allowed as a character), and fully match one of
  ``allowed_numbers``. An international number (a leading ``00`` or ``+``) must match a pattern
  that names that prefix itself (it starts with ``00``, ``\\+`` or ``[+]``): a loose pattern such
  as ``[0-9]{6,15}`` never lets ``00882…`` through. Caller IDs and typed numbers get the same
  check: a spoofed premium-rate caller ID is refused like a typed one. The scheduler checks the
  number again when it dials (the profile may have changed). Stable reasons: ``empty``,
  ``not_digits``, ``not_allowed``, ``rate_limited``.
* **dials per hour**: at most ``max_dials_per_hour`` callback dials in any hour, all numbers
  together (:func:`dial_allowed`, :func:`dials_left`): a cap on what a fraud that slips through
  can cost.
* **one open request per number**: a second request keeps the first, with the earlier place.
* **due**: customer-first (default) dials a request when it is at the front of its queue (no
  live caller ahead of its place), a matching person is free, the callback capacity share is not
  used up, outside quiet hours, between ``next_attempt_at`` and ``expires_at``. Agent-first
  reserves a free person first and does not wait for the front (see :func:`due_requests`).
* **pacing**: a callback is under way from its claim until a person talks to the caller (or the
  attempt ends otherwise): while it rings the caller and while the caller waits in the queue. It
  holds one free person: :func:`callbacks_under_way` counts it against its own queue and every
  queue that shares a free person with it, so no more callbacks are under way than free people.
* **attempts**: ``max_attempts`` in all, backoff ``retry_after_seconds`` (the last value
  repeats); UNKNOWN counts as an attempt and is only retried after the backoff. A request is
  served (CONNECTED) only when a person talked to the caller; a caller who answered and left the
  queue before a person answered (ABANDONED) is retried like any other failed attempt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from callbacks.model import (
    OPEN_STATUSES,
    AttemptOutcome,
    CallbackRequest,
    Origin,
    RequestStatus,
)
from profiles.model import CallbackRules, Profile
from profiles.numbers import NumberCheck, Reason, check_allowed, plain
from routing.policy import CALLBACK_BONUS, choose_for_call
from routing.state import PersonView, Snapshot, WaitingCall
from telephony.names import queue_name

__all__ = [
    "DEFAULT_AHT_SECONDS",
    "Decision",
    "Dial",
    "NumberCheck",
    "Reason",
    "abandoned_request",
    "after_attempt",
    "aht_from_snapshot",
    "backoff_seconds",
    "callback_limit",
    "callback_priority",
    "callbacks_under_way",
    "cancels",
    "check_number",
    "dial_allowed",
    "dials_left",
    "due_requests",
    "estimated_wait",
    "expire",
    "in_quiet_hours",
    "is_peak",
    "merge_request",
    "new_request",
    "offer_from_counts",
    "open_by_number",
    "peak_from_counts",
    "rate_limited",
    "should_offer",
    "wait_from_counts",
]

#: The handle time assumed when no recent call tells better (seconds).
DEFAULT_AHT_SECONDS = 180.0
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


# -- estimated wait and the offer -----------------------------------------------------------------


def _aht(aht_seconds: float | None) -> float:
    if aht_seconds is None or not aht_seconds > 0 or math.isinf(aht_seconds):
        return DEFAULT_AHT_SECONDS
    return float(aht_seconds)


def wait_from_counts(position: int, free: int, working: int, aht_seconds: float | None) -> float:
    """``max(0, P - F) * AHT / max(1, N)`` (see the module doc). ``position`` below 1 reads as 1;
    ``aht_seconds`` None or not positive reads as :data:`DEFAULT_AHT_SECONDS`."""
    position = max(int(position), 1)
    ahead_of_free = max(0, position - max(int(free), 0))
    return ahead_of_free * _aht(aht_seconds) / max(1, int(working))


def _working_and_free(snapshot: Snapshot, queue: str) -> tuple[int, int]:
    """(working, free) people of ``queue``: logged in and not paused there; free = can take now."""
    working = free = 0
    people = snapshot.people
    for pid in snapshot.queues.get(queue, ()):
        view = people.get(pid)
        if view is None:
            continue
        membership = view.queues.get(queue)
        if membership is None or membership.paused:
            continue
        working += 1
        if view.can_take(queue):
            free += 1
    return working, free


def _waiting_in(snapshot: Snapshot, queue: str) -> int:
    return sum(1 for call in snapshot.calls.values() if call.queue == queue)


def estimated_wait(snapshot: Snapshot, queue: str, position: int, aht_seconds: float | None, now: datetime) -> float:
    """Seconds a caller at ``position`` (1 = next) in ``queue`` should still wait:
    ``max(0, P - F) * AHT / max(1, N)`` with ``F`` the members who can take a call now and ``N``
    the members logged in and not paused in the queue (both tiers: widened people take calls
    after T1 too). ``aht_seconds``: the recent average handle time (talk + wrap-up), e.g. from
    :func:`aht_from_snapshot` or the last hour's records; None uses the default. ``now`` is
    accepted for symmetry with the other decisions (the snapshot carries its own time)."""
    working, free = _working_and_free(snapshot, queue)
    return wait_from_counts(position, free, working, aht_seconds)


def aht_from_snapshot(
    snapshot: Snapshot,
    now: datetime,
    queue: str | None = None,
    *,
    window: float = HOUR.total_seconds(),
    default: float = DEFAULT_AHT_SECONDS,
) -> float:
    """The average duration of the calls that ended in the last ``window`` seconds, by the
    members of ``queue`` (everybody when None); ``default`` when there were none. Person
    histories are not kept per queue: a person in several queues counts all their calls."""
    pids: Iterable[str] = snapshot.queues.get(queue, ()) if queue is not None else snapshot.people
    total = timedelta(0)
    count = 0
    start = now - timedelta(seconds=window)
    for pid in pids:
        view = snapshot.people.get(pid)
        if view is None:
            continue
        for begin, end in view.history:
            if end > start and end > begin:
                total += end - begin
                count += 1
    return total.total_seconds() / count if count else default


def offer_from_counts(wait_seconds: float, waiting: int, working: int, rules: CallbackRules) -> bool:
    """The offer rule on plain figures (see :func:`should_offer`)."""
    if not rules.enabled:
        return False
    if wait_seconds > rules.offer_after_wait_seconds:
        return True
    return _crowded(waiting, working, rules)


def _crowded(waiting: int, working: int, rules: CallbackRules) -> bool:
    if waiting <= 0:
        return False
    if working <= 0:
        return True  # callers wait and nobody works the queue
    return waiting / working > rules.offer_callers_per_person


def should_offer(
    snapshot: Snapshot, queue: str, position: int, aht_seconds: float | None, rules: CallbackRules, now: datetime
) -> bool:
    """Whether to offer "press 1 to be called back" to the caller at ``position`` in ``queue``:
    callbacks enabled, and :func:`estimated_wait` above ``offer_after_wait_seconds``, or the
    queue's waiting callers per working person (logged in, not paused there) above
    ``offer_callers_per_person`` (callers waiting and nobody working counts as above)."""
    working, free = _working_and_free(snapshot, queue)
    wait = wait_from_counts(position, free, working, aht_seconds)
    return offer_from_counts(wait, _waiting_in(snapshot, queue), working, rules)


def peak_from_counts(waiting: int, working: int, rules: CallbackRules) -> bool:
    """The peak rule on plain figures (see :func:`is_peak`)."""
    return _crowded(waiting, working, rules)


def is_peak(snapshot: Snapshot, rules: CallbackRules, queue: str | None = None) -> bool:
    """Whether the hotline (or one ``queue``) is at peak: more waiting callers per working person
    (logged in, not paused in at least one queue; each person counted once) than
    ``offer_callers_per_person``. Callers waiting and nobody working is a peak; nobody waiting
    never is."""
    if queue is not None:
        working, _ = _working_and_free(snapshot, queue)
        return peak_from_counts(_waiting_in(snapshot, queue), working, rules)
    working = 0
    for view in snapshot.people.values():
        if any(not m.paused for m in view.queues.values()):
            working += 1
    return peak_from_counts(len(snapshot.calls), working, rules)


# -- numbers --------------------------------------------------------------------------------------


def check_number(
    raw: str | None,
    rules: CallbackRules,
    *,
    caller_id: bool,
    recent_request_times: Iterable[datetime] | None = None,
    now: datetime | None = None,
) -> NumberCheck:
    """Validate a number to call back: the caller ID (``caller_id=True``) or digits the caller
    typed. Separators (spaces, dashes, dots, brackets) are dropped; ``empty`` when nothing is
    left (or, for a caller ID, a withheld one: ``anonymous``, ``unknown``...); ``not_digits`` for
    anything but digits after an optional leading ``+``; ``not_allowed`` unless the number fully
    matches one of ``rules.allowed_numbers``; a number with a leading ``00`` or ``+`` only matches a
    pattern that names that prefix itself (starts with ``00``, ``\\+`` or ``[+]``). A caller ID is
    checked exactly like a typed number: it can be spoofed. With ``recent_request_times`` and
    ``now``, also ``rate_limited`` (see :func:`rate_limited`). The scheduler calls it again with
    the request's number before each dial."""
    result = check_allowed(raw, rules.allowed_numbers, caller_id=caller_id)
    if not result.ok:
        return result
    number = result.number
    if recent_request_times is not None and now is not None and rate_limited(number, recent_request_times, rules, now):
        return NumberCheck(False, number, Reason.RATE_LIMITED)
    return NumberCheck(True, number)


def rate_limited(number: str, recent_request_times: Iterable[datetime], rules: CallbackRules, now: datetime) -> bool:
    """Whether ``number`` already has ``max_requests_per_number_per_day`` requests in the last
    24 hours (``recent_request_times``: the ``created_at`` of the number's requests, any status;
    times after ``now`` count too). A merged request creates no row and does not count."""
    since = now - DAY
    count = sum(1 for t in recent_request_times if t > since)
    return count >= rules.max_requests_per_number_per_day


def dials_left(recent_dial_times: Iterable[datetime], rules: CallbackRules, now: datetime) -> int:
    """How many callback dials may still be made now: ``max_dials_per_hour`` less the dials of
    the last hour (``recent_dial_times``: when each attempt was dialled, every number and every
    service instance together; times after ``now`` count too). Never below 0."""
    since = now - HOUR
    count = sum(1 for t in recent_dial_times if t > since)
    return max(0, rules.max_dials_per_hour - count)


def dial_allowed(recent_dial_times: Iterable[datetime], rules: CallbackRules, now: datetime) -> bool:
    """Whether one more callback dial fits the hourly cap (see :func:`dials_left`)."""
    return dials_left(recent_dial_times, rules, now) > 0


# -- one open request per number ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """``create``: store ``request`` as new. ``keep``: the number already has an open request;
    ``request`` is it, updated (``changed`` says whether it must be written back)."""

    action: str  # "create" | "keep"
    request: CallbackRequest
    changed: bool = True

    CREATE = "create"
    KEEP = "keep"


def merge_request(existing_open: CallbackRequest | None, new: CallbackRequest) -> Decision:
    """One open request per number. Without an open one (None, or not OPEN/DIALING): create
    ``new``. Otherwise keep the existing request (its id, attempts, backoff and origin) with the
    better place (the earlier ``place_at``), the higher priority and the later expiry."""
    if existing_open is None or existing_open.status not in OPEN_STATUSES:
        return Decision(Decision.CREATE, new, True)
    if existing_open.number != new.number:
        raise ValueError(f"not the same number: {existing_open.number!r} and {new.number!r}")
    merged = replace(
        existing_open,
        place_at=min(existing_open.place_at, new.place_at),
        priority=max(existing_open.priority, new.priority),
        expires_at=max(existing_open.expires_at, new.expires_at),
    )
    return Decision(Decision.KEEP, merged, merged != existing_open)


# -- new requests ---------------------------------------------------------------------------------


def _moment(value: object) -> datetime | None:
    """A time fact of a record: an aware datetime, or None when unknown."""
    if value is None or isinstance(value, datetime):
        return value
    raise TypeError(f"a time must be an aware datetime, not {value!r}")


def new_request(
    *,
    number: str,
    language: str,
    topic: str,
    specialty: str | None,
    queue: str,
    origin: Origin,
    place_at: datetime,
    rules: CallbackRules,
    now: datetime,
    linkedid: str | None = None,
    priority: int = 0,
) -> CallbackRequest:
    """A new OPEN request (no id yet), expiring ``expire_after_seconds`` after ``now``.
    ``priority``: the topic's priority, on the scale of a live caller's QUEUE_PRIO (no callback
    bonus: see :func:`callback_priority`)."""
    return CallbackRequest(
        id=None,
        number=number,
        language=language,
        topic=topic,
        specialty=specialty,
        queue=queue,
        origin=origin,
        original_linkedid=linkedid,
        place_at=place_at,
        created_at=now,
        expires_at=now + timedelta(seconds=rules.expire_after_seconds),
        status=RequestStatus.OPEN,
        attempts=0,
        next_attempt_at=now,
        priority=priority,
    )


_FROM_RECORD = object()  # a fact not passed: read from the record (None without one)


def abandoned_request(
    record: object | None = None,
    *,
    caller_number: str | object | None = _FROM_RECORD,
    language: str | object | None = _FROM_RECORD,
    topic: str | object | None = _FROM_RECORD,
    specialty: str | object | None = _FROM_RECORD,
    queue: str | object | None = _FROM_RECORD,
    outcome: str | object = _FROM_RECORD,
    wait_seconds: float | object | None = _FROM_RECORD,
    started_at: datetime | object | None = _FROM_RECORD,
    joined_at: datetime | object | None = _FROM_RECORD,
    linkedid: str | object | None = _FROM_RECORD,
    is_peak: bool,
    rules: CallbackRules,
    now: datetime,
    profile: Profile | None = None,
    default_language: str | None = None,
    default_topic: str | None = None,
    priority: int | None = None,
    recent_request_times: Iterable[datetime] | None = None,
) -> CallbackRequest | None:
    """The request for a caller who hung up unanswered, or None.

    The facts come from ``record`` (a ``cdr.builder.CallRecord`` or anything with the same
    attributes: ``caller_number``, ``language``, ``topic``, ``specialty``, ``queue``,
    ``outcome``, ``wait_seconds``, ``started_at``, ``joined_at`` (optional), ``linkedid``) and/or
    keyword arguments of the same names (a keyword wins over the record).

    * ``outcome == "abandoned_queue"`` and ``wait_seconds >= abandoned_after_seconds``: origin
      ABANDONED_QUEUE, in the record's queue;
    * ``outcome == "abandoned_ivr"``, ``is_peak`` and ``abandoned_in_ivr_at_peak``: origin
      ABANDONED_IVR; an unknown language/topic takes ``default_language``/``default_topic``
      (default: the ``profile``'s) and the queue is theirs, without specialty, unless known;
    * anything else (answered, failed, too short, callbacks disabled, a caller ID refused by
      :func:`check_number`, rate-limited with ``recent_request_times``): None.

    The place is ``joined_at`` (when the caller joined the queue) if known, else ``started_at``
    (a little generous: the IVR time is counted), else ``now - wait_seconds``. ``priority``: the
    topic's priority; default from the ``profile`` (``call_priority(topic, False, profile)``),
    else 0. The store merges the result with an open request of the same number
    (:func:`merge_request`)."""

    def fact(value: object, name: str) -> object:
        return getattr(record, name, None) if value is _FROM_RECORD else value

    if not rules.enabled:
        return None
    outcome_text = str(fact(outcome, "outcome") or "")
    wait = fact(wait_seconds, "wait_seconds")
    queue_v = fact(queue, "queue")
    if outcome_text == Origin.ABANDONED_QUEUE:
        if wait is None or float(wait) < rules.abandoned_after_seconds or not queue_v:  # type: ignore[arg-type]
            return None
        origin = Origin.ABANDONED_QUEUE
    elif outcome_text == Origin.ABANDONED_IVR:
        if not (is_peak and rules.abandoned_in_ivr_at_peak):
            return None
        origin = Origin.ABANDONED_IVR
    else:
        return None
    number = fact(caller_number, "caller_number")
    check = check_number(number, rules, caller_id=True, recent_request_times=recent_request_times, now=now)  # type: ignore[arg-type]
    if not check.ok:
        return None
    if profile is not None:
        default_language = default_language or profile.default_language
        default_topic = default_topic or profile.default_topic
    lang = str(fact(language, "language") or default_language or "")
    topic_v = fact(topic, "topic")
    specialty_v = fact(specialty, "specialty")
    if not topic_v:
        topic_v, specialty_v = default_topic, None
    if not lang or not topic_v:
        return None  # nowhere to put the caller: no defaults given
    if not queue_v:
        queue_v = queue_name(lang, str(topic_v), specialty_v)  # type: ignore[arg-type]
    if priority is None:
        priority = 0
        if profile is not None:
            try:
                priority = profile.topic(str(topic_v)).priority
            except KeyError:
                priority = 0
    place = _moment(fact(joined_at, "joined_at"))
    if place is None:
        place = _moment(fact(started_at, "started_at"))
    if place is None:
        place = now - timedelta(seconds=float(wait or 0.0))  # type: ignore[arg-type]
    return new_request(
        number=check.number,
        language=lang,
        topic=str(topic_v),
        specialty=specialty_v,  # type: ignore[arg-type]
        queue=str(queue_v),
        origin=origin,
        place_at=place,
        rules=rules,
        now=now,
        linkedid=fact(linkedid, "linkedid"),  # type: ignore[arg-type]
        priority=priority,
    )


# -- cancellation, expiry, priority ---------------------------------------------------------------


def cancels(request: CallbackRequest, answered_call_number: str | None, answered_at: datetime) -> bool:
    """Whether an answered inbound call cancels ``request``: the request is still open (OPEN or
    DIALING: the store cancels it and ignores the attempt's later outcome), the call comes from
    the request's number (compared without separators, a leading ``+`` ignored) and was
    answered after the request was made."""
    if request.status not in OPEN_STATUSES or not answered_call_number:
        return False
    if answered_at < request.created_at:
        return False
    return plain(answered_call_number) == plain(request.number)


def expire(requests: Iterable[CallbackRequest], now: datetime) -> list[CallbackRequest]:
    """The OPEN requests past their ``expires_at`` (at or before ``now``), as EXPIRED. DIALING
    ones are left to finish their attempt (then :func:`after_attempt`; a later sweep expires
    them). Other statuses are final and never change."""
    return [
        replace(r, status=RequestStatus.EXPIRED)
        for r in requests
        if r.status is RequestStatus.OPEN and r.expires_at <= now
    ]


def callback_priority(request: CallbackRequest) -> int:
    """QUEUE_PRIO of the caller once a callback connected: the request's priority (the topic's)
    plus ``routing.policy.CALLBACK_BONUS``, so returning callers go before every live caller of
    the same topic (as ``routing.policy.call_priority(topic, True, profile)``)."""
    return request.priority + CALLBACK_BONUS


# -- attempts -------------------------------------------------------------------------------------


def backoff_seconds(attempts: int, rules: CallbackRules) -> float:
    """The wait after the ``attempts``-th failed attempt: ``retry_after_seconds[attempts-1]``,
    the last value repeating."""
    delays = rules.retry_after_seconds or (60,)
    return float(delays[min(max(attempts, 1), len(delays)) - 1])


def after_attempt(
    request: CallbackRequest, outcome: AttemptOutcome | str, rules: CallbackRules, now: datetime
) -> CallbackRequest:
    """The request after an attempt ended at ``now`` with ``outcome``. Every outcome counts as
    an attempt. CONNECTED (a person talked to the caller): done. Otherwise (ABANDONED: the
    caller answered but left the queue before a person answered; NO_ANSWER, BUSY, FAILED,
    UNKNOWN) FAILED once ``max_attempts`` are used, else OPEN
    again with ``next_attempt_at = now + backoff`` (:func:`backoff_seconds`). UNKNOWN (the
    service stopped after dialling) is treated like a failure: never re-dialled before the
    backoff. A request that is no longer open (cancelled meanwhile) only counts the attempt."""
    outcome = AttemptOutcome(outcome)
    attempts = request.attempts + 1
    if request.status not in OPEN_STATUSES:
        return replace(request, attempts=attempts)
    if outcome is AttemptOutcome.CONNECTED:
        return replace(request, status=RequestStatus.CONNECTED, attempts=attempts)
    if attempts >= rules.max_attempts:
        return replace(request, status=RequestStatus.FAILED, attempts=attempts)
    return replace(
        request,
        status=RequestStatus.OPEN,
        attempts=attempts,
        next_attempt_at=now + timedelta(seconds=backoff_seconds(attempts, rules)),
    )


# -- the scheduler decision -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dial:
    """Dial the caller of ``request_id`` now, for ``queue``. ``person_id``: the free person this
    dial counts on; reserved for it (to be paused or rung first) when ``reserve`` (agent-first),
    only a hint otherwise. ``priority``: the QUEUE_PRIO for the caller once connected."""

    request_id: int | None
    queue: str
    person_id: str
    priority: int
    reserve: bool = False


def in_quiet_hours(rules: CallbackRules, now: datetime, timezone: str = "UTC") -> bool:
    """Whether ``now`` falls in the quiet hours (local time in ``timezone``): from
    ``quiet_start`` included to ``quiet_end`` excluded, across midnight when the start is after
    the end. No quiet hours when either is unset or both are equal."""
    start, end = rules.quiet_start, rules.quiet_end
    if start is None or end is None or start == end:
        return False
    clock = _local_clock(now, timezone)
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def _local_clock(now: datetime, timezone: str) -> time:
    return now.astimezone(_zone(timezone)).time()


@lru_cache(maxsize=16)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def callback_limit(free: int, share: float) -> int:
    """How many callbacks may be under way at once in a queue with ``free`` free matching people:
    ``floor(free * share)``, but at least 1 when anybody is free and ``share > 0``; 0 when
    nobody is free. Callbacks already DIALING count against it."""
    if free <= 0 or share <= 0:
        return 0
    return max(1, math.floor(free * share + 1e-9))


def callbacks_under_way(in_flight_queues: Iterable[str], snapshot: Snapshot) -> dict[str, int]:
    """How many callbacks under way count against the free people of each queue.

    ``in_flight_queues``: the queue of each callback under way (claimed, ringing the caller, or
    answered and waiting for a person; not one a person already talks to), one entry per
    callback, every service instance's. A callback counts against its own queue and against every
    queue that shares a free person with it (a person free in two queues can take a callback of
    either, not one of each). Queues with no callback counted are left out. Pass the result to
    :func:`due_requests` as ``dialing``, with only the OPEN requests (not the DIALING ones: they
    would count twice)."""
    counts = Counter(in_flight_queues)
    if not counts:
        return {}
    queues = set(snapshot.queues) | set(counts)
    free = {queue: frozenset(view.person_id for view in _free_people(snapshot, queue)) for queue in queues}
    result: dict[str, int] = {}
    for queue in sorted(queues):
        count = counts.get(queue, 0)
        for other, under_way in counts.items():
            if other != queue and free[queue] & free[other]:
                count += under_way
        if count:
            result[queue] = count
    return result


def _ahead(call: WaitingCall, request: CallbackRequest) -> bool:
    """A live caller is ahead of a request: higher priority, or the same and joined earlier."""
    return call.priority > request.priority or (call.priority == request.priority and call.joined_at < request.place_at)


def _order(request: CallbackRequest) -> tuple[int, datetime, datetime, int]:
    return (-request.priority, request.place_at, request.created_at, request.id if request.id is not None else -1)


def _free_people(snapshot: Snapshot, queue: str) -> list[PersonView]:
    people = snapshot.people
    return [people[pid] for pid in snapshot.queues.get(queue, ()) if pid in people and people[pid].can_take(queue)]


def due_requests(
    open_requests: Iterable[CallbackRequest],
    snapshot: Snapshot,
    rules: CallbackRules,
    now: datetime,
    *,
    waiting_calls: Iterable[WaitingCall] | None = None,
    profile: Profile | None = None,
    timezone: str | None = None,
    dialing: int | Mapping[str, int] = 0,
) -> list[Dial]:
    """The requests to dial now, in dialling order (highest priority, then earliest place).

    ``open_requests``: the requests in OPEN or DIALING status (others are ignored); the DIALING
    ones count against the capacity share of their queue. ``waiting_calls``: the live callers
    (default ``snapshot.calls``). ``profile``: for tiers (exact match first, like
    :func:`routing.policy.choose_for_call` for a fresh call) and the time zone; without it,
    anybody who ``can_take`` the queue matches. ``timezone`` overrides the profile's; with
    neither, quiet hours are read in UTC (pass the profile!). ``dialing``: callbacks under way
    that are NOT among ``open_requests`` as DIALING (do not count them twice): a mapping queue ->
    count, or one number that counts against every queue (the queue is unknown).

    Nothing is due during quiet hours. A request is considered when OPEN, ``next_attempt_at <=
    now < expires_at`` (expired ones are left to :func:`expire`). Then:

    * customer-first (``rules.agent_first`` False): due when no live caller in its queue is
      ahead of it (higher priority, or the same priority and joined before its ``place_at``),
      and a matching free person is left: the person :func:`routing.policy.choose_for_call`
      would ring for a fresh caller (so only exact-tier people until T1, as the callback caller
      will enter the queue as a fresh caller), excluding people counted for earlier dials of
      this decision. The person is not reserved (``Dial.reserve`` False): the caller is called,
      then enters the queue with :func:`callback_priority`.
    * agent-first: due as soon as a matching person is free, whatever live callers wait: the
      person is reserved (``Dial.reserve`` True: the adapter takes them out of app_queue, rings
      them, then dials the caller). Live callers are protected by the capacity share only.

    Either way, per queue at most :func:`callback_limit` (free matching people now,
    ``capacity_share``) callbacks are under way, the DIALING ones included. Callbacks being
    disabled stops offers and new requests, not the dialling of requests already promised.
    """
    if profile is not None and timezone is None:
        timezone = profile.timezone
    if in_quiet_hours(rules, now, timezone or "UTC"):
        return []
    under_way: dict[str, int] = dict(dialing) if isinstance(dialing, Mapping) else {}
    everywhere = 0 if isinstance(dialing, Mapping) else int(dialing)
    candidates: list[CallbackRequest] = []
    for request in open_requests:
        if request.status is RequestStatus.DIALING:
            under_way[request.queue] = under_way.get(request.queue, 0) + 1
        elif request.status is RequestStatus.OPEN and request.next_attempt_at <= now < request.expires_at:
            candidates.append(request)
    if not candidates:
        return []
    candidates.sort(key=_order)
    calls: Iterable[WaitingCall] = snapshot.calls.values() if waiting_calls is None else waiting_calls
    by_queue: dict[str, list[WaitingCall]] = {}
    for call in calls:
        by_queue.setdefault(call.queue, []).append(call)

    budget: dict[str, int] = {}
    blocked: set[str] = set()  # queues where nothing more is due in this decision
    taken: set[str] = set()
    dials: list[Dial] = []
    for request in candidates:
        queue = request.queue
        if queue in blocked:
            continue
        if not rules.agent_first and any(_ahead(call, request) for call in by_queue.get(queue, ())):
            blocked.add(queue)  # the later requests of this queue are behind that caller too
            continue
        if queue not in budget:
            limit = callback_limit(len(_free_people(snapshot, queue)), rules.capacity_share)
            budget[queue] = limit - under_way.get(queue, 0) - everywhere
        if budget[queue] <= 0:
            blocked.add(queue)
            continue
        person = _pick(snapshot, queue, request, now, taken, profile)
        if person is None:
            blocked.add(queue)
            continue
        taken.add(person)
        budget[queue] -= 1
        dials.append(Dial(request.id, queue, person, callback_priority(request), rules.agent_first))
    return dials


def _pick(
    snapshot: Snapshot,
    queue: str,
    request: CallbackRequest,
    now: datetime,
    taken: Collection[str],
    profile: Profile | None,
) -> str | None:
    if profile is not None:
        fresh = WaitingCall(f"callback-{request.id}", queue, now, 0, callback_priority(request))
        choice = choose_for_call(snapshot, fresh, profile, now, exclude=taken)
        return choice.person_id if choice is not None else None
    free = [view for view in _free_people(snapshot, queue) if view.person_id not in taken]
    if not free:
        return None
    return min(free, key=lambda v: (v.idle_since, v.person_id)).person_id


def open_by_number(requests: Iterable[CallbackRequest]) -> Mapping[str, CallbackRequest]:
    """The open request of each number (the earliest place when a store holds several)."""
    result: dict[str, CallbackRequest] = {}
    for request in requests:
        if request.status in OPEN_STATUSES:
            old = result.get(request.number)
            if old is None or request.place_at < old.place_at:
                result[request.number] = request
    return result
