"""Call-record reports: volumes, service level, handle times and staffing per interval.

Two halves:

* **Pure part** (standard library, ``cdr.staffing`` and ``profiles.model`` only): :func:`aggregate`
  turns record facts into per-interval :class:`Measures` (the reference implementation, used on
  small sets and in tests); :func:`build_report` turns those aggregates into a :class:`Report`
  with per-interval staffing (Erlang C, optionally Erlang A), the gap against the people present,
  and seats per shift; :func:`report_to_dict` gives plain dicts (JSON-ready).
* **SQL twin** (``cdr.db.RecordStore.aggregates``, and ``cdr.db.aggregate_sql`` for batch tools): the
  same aggregates computed in the database with one ``GROUP BY`` on interval buckets, which is what
  makes a million records fast; its rows are folded by :func:`fold_group_row` here.

Counting rules (the same in both halves, and checked against each other in the tests):

* One record is one call (``kind = 'inbound'``). It is *offered* once, in the interval of its
  ``started_at`` and in its ``queue``: for a transferred call that is the queue that answered it
  first (``transferred_to`` names where it went next; it is not offered again there), and its
  ``talk_seconds`` is the caller's whole talk time, counted once.
* ``kind = 'callback'`` records are call-back attempts (``callback_of`` = the original linkedid).
  They are not offered calls; they are counted as callbacks attempted / reached.
* ``kind = 'campaign'`` and ``'manual'`` records (issue 14) are calls the hotline placed: a campaign's call
  answered by the person called, an agent's click-to-call. They are not offered calls either; they are
  counted as outbound calls and, when a person of the centre talked to them (outcome ``answered``), their
  talk and wrap-up count in occupancy.
* Service level: answered with ``wait <= T`` over answered. SL2 (app_queue's ``servicelevelperf2``):
  (answered within T + abandoned in queue within T) / (answered + abandoned in queue).
* A call served without a person (outcome ``self_served``: it heard an information topic and hung up, or
  left a message) is offered and counted as self-served; it is not queued, answered, abandoned or failed.
* ASA = mean wait of answered calls; AHT = mean (talk + wrap-up) of answered calls; longest wait
  over all offered calls; occupancy = handle time (inbound, callbacks and outbound calls, and the talk of the people
  a call was transferred on to) / (people present × interval length), attributed to the interval in
  which the call started.
* Transfers and conferences (issue 12, the asterisk#759 problem): a transferred call is still one record, so it
  is offered and answered once, in the queue that answered it first (never again in the queue it was
  transferred to, live or imported), and counted ``transferred`` there. Its ``talk_seconds`` is the first
  answer's talk; everyone's own talk is in the call's legs, and the per-person figures
  (:func:`people_figures`; the SQL twin is ``cdr.db.RecordStore.people_figures``) give each person or place
  the calls they were on, once per call, how many they answered first, how many reached them by a transfer,
  and the talk of their own legs. A record without legs (stored before revision 0009) counts for its
  ``agent`` with its ``talk_seconds``.
* Wrap-up codes ("calls per request type", :func:`wrapup_counts`; the SQL twin is
  ``cdr.db.RecordStore.wrapup_counts``): the calls that started in the period and were answered
  (inbound and callbacks) or carry a wrap-up code, counted per (topic, wrap-up code); an answered
  call without a code counts under the code None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cdr.staffing import (
    OverloadError,
    StaffingError,
    agents_needed,
    agents_needed_erlang_a,
    seats_after_shrinkage,
)
from profiles.model import Shift

__all__ = [
    "ALLOWED_INTERVALS",
    "Aggregates",
    "GroupKey",
    "IntervalRow",
    "LegFacts",
    "Measures",
    "PersonKey",
    "PersonMeasures",
    "PersonRow",
    "RecordFacts",
    "Report",
    "ReportParams",
    "ShiftRow",
    "WrapupRow",
    "aggregate",
    "bucket_of",
    "build_report",
    "by_queue",
    "fold_group_row",
    "fold_person_row",
    "interval_seconds",
    "parse_presence_csv",
    "people_figures",
    "person_rows",
    "report_to_dict",
    "wrapup_counts",
    "wrapup_rows",
]

ALLOWED_INTERVALS = (15, 30, 60)
INBOUND = "inbound"
SELF_SERVED = "self_served"  # the outcome of a call served without a person (cdr.builder.Outcome.SELF_SERVED)
CALLBACK = "callback"
OUTBOUND = frozenset({"campaign", "manual"})  # calls the hotline places (issue 14): not offered, their talk is work


TRANSFERS = frozenset({"blind", "attended", "refer"})  # Leg.how of a leg a transfer reached


@dataclass(frozen=True, slots=True)
class LegFacts:
    """What a report needs of one leg of a call (a ``cdr.builder.Leg``)."""

    kind: str  # person | destination | conference
    target: str
    talk_seconds: float | None = None
    how: str | None = None

    @classmethod
    def of(cls, leg: Any) -> LegFacts:
        return cls(kind=leg.kind, target=leg.target, talk_seconds=leg.talk_seconds, how=leg.how)


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """What a report needs of one call record (a ``CallRecord`` plus the 0003 columns)."""

    started_at: datetime
    outcome: str
    queue: str | None = None
    language: str | None = None
    topic: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    agent: str | None = None
    kind: str = INBOUND
    callback_of: str | None = None
    transferred_to: str | None = None
    wrapup_seconds: float | None = None
    wrapup_code: str | None = None
    legs: tuple[LegFacts, ...] = ()  # in order: the first is the first answer

    @classmethod
    def of(cls, record: Any) -> RecordFacts:
        """From a ``CallRecord`` (or anything with the same attribute names)."""
        return cls(
            started_at=record.started_at,
            outcome=str(getattr(record.outcome, "value", record.outcome)),
            queue=record.queue,
            language=record.language,
            topic=record.topic,
            wait_seconds=record.wait_seconds,
            talk_seconds=record.talk_seconds,
            agent=record.agent,
            kind=getattr(record, "kind", INBOUND) or INBOUND,
            callback_of=getattr(record, "callback_of", None),
            transferred_to=getattr(record, "transferred_to", None),
            wrapup_seconds=getattr(record, "wrapup_seconds", None),
            wrapup_code=getattr(record, "wrapup_code", None),
            legs=tuple(LegFacts.of(leg) for leg in getattr(record, "legs", ()) or ()),
        )


@dataclass(slots=True)
class Measures:
    """Additive counters and sums for one group of calls; ratios are derived properties."""

    offered: int = 0
    answered: int = 0
    abandoned_ivr: int = 0
    abandoned_queue: int = 0
    failed: int = 0
    self_served: int = 0  # heard an information topic, or left a message, and needed no person
    answered_within: int = 0
    abandoned_within: int = 0
    wait_answered_sum: float = 0.0
    talk_sum: float = 0.0
    wrapup_sum: float = 0.0
    max_wait: float | None = None
    transferred: int = 0
    callbacks: int = 0
    callbacks_answered: int = 0
    callback_talk_sum: float = 0.0
    outbound: int = 0  # campaign and manual calls placed (answered by the number called)
    outbound_answered: int = 0  # ... that a person of the centre talked to (a doctor after "2", the agent who dialled)
    outbound_talk_sum: float = 0.0  # their talk and wrap-up: occupancy, like callbacks
    # the talk of the people a call was transferred on to (person legs after the first): their work, counted in
    # the occupancy of the interval and queue where the call is counted, not in its AHT (the first answer's)
    onward_talk_sum: float = 0.0
    # distinct people answering: in a group, inbound calls only; in an interval, inbound and callbacks
    agents: int = 0  # (not additive: set per group / interval)

    def add(self, other: Measures) -> None:
        self.offered += other.offered
        self.answered += other.answered
        self.abandoned_ivr += other.abandoned_ivr
        self.abandoned_queue += other.abandoned_queue
        self.failed += other.failed
        self.self_served += other.self_served
        self.answered_within += other.answered_within
        self.abandoned_within += other.abandoned_within
        self.wait_answered_sum += other.wait_answered_sum
        self.talk_sum += other.talk_sum
        self.wrapup_sum += other.wrapup_sum
        self.transferred += other.transferred
        self.callbacks += other.callbacks
        self.callbacks_answered += other.callbacks_answered
        self.callback_talk_sum += other.callback_talk_sum
        self.outbound += other.outbound
        self.outbound_answered += other.outbound_answered
        self.outbound_talk_sum += other.outbound_talk_sum
        self.onward_talk_sum += other.onward_talk_sum
        if other.max_wait is not None and (self.max_wait is None or other.max_wait > self.max_wait):
            self.max_wait = other.max_wait

    @property
    def abandoned(self) -> int:
        return self.abandoned_ivr + self.abandoned_queue

    @property
    def queued(self) -> int:
        """Calls that needed a person: offered minus those who hung up in the IVR or were served there."""
        return self.offered - self.abandoned_ivr - self.self_served

    @property
    def asa(self) -> float | None:
        return self.wait_answered_sum / self.answered if self.answered else None

    @property
    def aht(self) -> float | None:
        return (self.talk_sum + self.wrapup_sum) / self.answered if self.answered else None

    @property
    def handle_sum(self) -> float:
        return self.talk_sum + self.wrapup_sum + self.callback_talk_sum + self.outbound_talk_sum + self.onward_talk_sum

    @property
    def service_level(self) -> float | None:
        return self.answered_within / self.answered if self.answered else None

    @property
    def service_level2(self) -> float | None:
        denominator = self.answered + self.abandoned_queue
        return (self.answered_within + self.abandoned_within) / denominator if denominator else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    def to_dict(self) -> dict[str, Any]:
        answered, offered = self.answered, self.offered
        denominator2 = answered + self.abandoned_queue
        return {
            "offered": offered,
            "answered": answered,
            "abandoned_ivr": self.abandoned_ivr,
            "abandoned_queue": self.abandoned_queue,
            "failed": self.failed,
            "self_served": self.self_served,
            "answered_within": self.answered_within,
            "abandoned_within": self.abandoned_within,
            "wait_answered_sum": self.wait_answered_sum,
            "talk_sum": self.talk_sum,
            "wrapup_sum": self.wrapup_sum,
            "max_wait": self.max_wait,
            "transferred": self.transferred,
            "callbacks": self.callbacks,
            "callbacks_answered": self.callbacks_answered,
            "callback_talk_sum": self.callback_talk_sum,
            "outbound": self.outbound,
            "outbound_answered": self.outbound_answered,
            "outbound_talk_sum": self.outbound_talk_sum,
            "onward_talk_sum": self.onward_talk_sum,
            "agents": self.agents,
            "abandoned": self.abandoned_ivr + self.abandoned_queue,
            "queued": offered - self.abandoned_ivr - self.self_served,
            "asa": self.wait_answered_sum / answered if answered else None,
            "aht": (self.talk_sum + self.wrapup_sum) / answered if answered else None,
            "service_level": self.answered_within / answered if answered else None,
            "service_level2": (self.answered_within + self.abandoned_within) / denominator2 if denominator2 else None,
            "abandon_rate": (self.abandoned_ivr + self.abandoned_queue) / offered if offered else None,
        }


# (interval start as UTC epoch seconds, queue, language, topic)
GroupKey = tuple[int, str | None, str | None, str | None]


@dataclass(slots=True)
class Aggregates:
    """Per-group measures and the distinct people answering per interval."""

    interval_minutes: int
    sl_seconds: float
    groups: dict[GroupKey, Measures] = field(default_factory=dict)
    agents_by_bucket: dict[int, int] = field(default_factory=dict)


def _check_interval(interval_minutes: int) -> int:
    if interval_minutes not in ALLOWED_INTERVALS:
        raise ValueError(f"interval must be one of {ALLOWED_INTERVALS} minutes, got {interval_minutes}")
    return interval_minutes * 60


def bucket_of(moment: datetime, interval_minutes: int) -> int:
    """Start of the interval holding ``moment``, as UTC epoch seconds (whole seconds, floor)."""
    width = _check_interval(interval_minutes)
    return math.floor(moment.timestamp()) // width * width


def aggregate(records: Iterable[RecordFacts], interval_minutes: int = 30, sl_seconds: float = 20.0) -> Aggregates:
    """Reference aggregation in Python (same numbers as :func:`aggregate_sql`)."""
    width = _check_interval(interval_minutes)
    result = Aggregates(interval_minutes, sl_seconds)
    agents_in_group: dict[GroupKey, set[str]] = {}
    agents_in_bucket: dict[int, set[str]] = {}
    for r in records:
        bucket = math.floor(r.started_at.timestamp()) // width * width
        key: GroupKey = (bucket, r.queue, r.language, r.topic)
        m = result.groups.get(key)
        if m is None:
            m = result.groups[key] = Measures()
        if r.agent is not None:
            agents_in_bucket.setdefault(bucket, set()).add(r.agent)
            if r.kind != CALLBACK and r.kind not in OUTBOUND and r.outcome == "answered":
                agents_in_group.setdefault(key, set()).add(r.agent)
        m.onward_talk_sum += sum(leg.talk_seconds or 0.0 for leg in r.legs[1:] if leg.kind == "person")
        if r.kind == CALLBACK:
            m.callbacks += 1
            if r.outcome == "answered":
                m.callbacks_answered += 1
                m.callback_talk_sum += (r.talk_seconds or 0.0) + (r.wrapup_seconds or 0.0)
            continue
        if r.kind in OUTBOUND:
            m.outbound += 1
            if r.outcome == "answered":
                m.outbound_answered += 1
                m.outbound_talk_sum += (r.talk_seconds or 0.0) + (r.wrapup_seconds or 0.0)
            continue
        m.offered += 1
        wait = r.wait_seconds or 0.0
        if r.wait_seconds is not None and (m.max_wait is None or r.wait_seconds > m.max_wait):
            m.max_wait = r.wait_seconds
        if r.outcome == "answered":
            m.answered += 1
            m.wait_answered_sum += wait
            m.talk_sum += r.talk_seconds or 0.0
            m.wrapup_sum += r.wrapup_seconds or 0.0
            if wait <= sl_seconds:
                m.answered_within += 1
            if r.transferred_to is not None:
                m.transferred += 1
        elif r.outcome == "abandoned_queue":
            m.abandoned_queue += 1
            if wait <= sl_seconds:
                m.abandoned_within += 1
        elif r.outcome == "abandoned_ivr":
            m.abandoned_ivr += 1
        elif r.outcome == SELF_SERVED:
            m.self_served += 1
        else:
            m.failed += 1
    for key, people in agents_in_group.items():
        result.groups[key].agents = len(people)
    result.agents_by_bucket = {b: len(people) for b, people in agents_in_bucket.items()}
    return result


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportParams:
    interval_minutes: int = 30
    sl_seconds: float = 20.0  # T of the service level
    target_service_level: float = 0.8  # staffing target: this share within sl_seconds
    shrinkage: float = 0.3
    patience_seconds: float | None = None  # set: staff with Erlang A instead of Erlang C
    timezone: str = "UTC"  # for shifts and display
    start: datetime | None = None
    end: datetime | None = None


@dataclass(slots=True)
class IntervalRow:
    start: datetime  # UTC
    measures: Measures
    present: int | None  # people logged in (input series), None when unknown
    needed: int | None  # people needed to reach the target (None: no calls / no handle time)
    traffic: float
    occupancy: float | None
    staffing_error: str | None = None

    @property
    def gap(self) -> int | None:
        """present - needed (negative: understaffed)."""
        if self.needed is None or self.present is None:
            return None
        return self.present - self.needed


@dataclass(frozen=True, slots=True)
class ShiftRow:
    shift: str
    intervals: int
    peak_needed: int
    mean_needed: float
    seats_needed: int  # peak after shrinkage
    understaffed_intervals: int


@dataclass(frozen=True, slots=True)
class WrapupRow:
    """Calls of one topic with one wrap-up code (``code`` None: answered, no code chosen)."""

    topic: str | None
    code: str | None
    calls: int


@dataclass(frozen=True, slots=True)
class PersonRow:
    """One person's or outside place's calls and their own talk (``kind`` person, destination, conference)."""

    kind: str
    target: str
    measures: PersonMeasures


@dataclass(slots=True)
class Report:
    params: ReportParams
    totals: Measures
    intervals: list[IntervalRow]
    groups: list[tuple[GroupKey, Measures]]
    by_queue: list[tuple[tuple[str | None, str | None, str | None], Measures]]
    shifts: list[ShiftRow]
    overall_aht: float | None
    wrapups: list[WrapupRow] = field(default_factory=list)  # calls per request type (set by the caller)
    people: list[PersonRow] = field(default_factory=list)  # per person and place, their own talk (set by the caller)

    @property
    def understaffed(self) -> list[IntervalRow]:
        return [row for row in self.intervals if row.gap is not None and row.gap < 0]


def _staff(
    calls: int, aht: float | None, params: ReportParams, width: int, cache: dict[tuple[int, float], Any]
) -> tuple[int | None, float, str | None]:
    if calls == 0 or not aht:
        return (0 if calls == 0 else None), 0.0, None
    key = (calls, aht)
    hit = cache.get(key)
    if hit is not None:
        return hit
    traffic = calls * aht / width
    try:
        if params.patience_seconds is not None:
            res = agents_needed_erlang_a(
                calls / width, aht, params.patience_seconds, params.target_service_level, params.sl_seconds
            )
        else:
            res = agents_needed(traffic, aht, params.target_service_level, params.sl_seconds)
        out: tuple[int | None, float, str | None] = (res.agents, traffic, None)
    except (OverloadError, StaffingError) as exc:
        out = (None, traffic, str(exc))
    cache[key] = out
    return out


def build_report(
    agg: Aggregates,
    params: ReportParams | None = None,
    present: Mapping[int, int] | None = None,
    shifts: Sequence[Shift] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """The report from aggregates. ``present`` maps interval start (epoch s) to people logged in;
    by default, the distinct people who answered calls in the interval."""
    params = params or ReportParams(interval_minutes=agg.interval_minutes, sl_seconds=agg.sl_seconds)
    if params.interval_minutes != agg.interval_minutes or params.sl_seconds != agg.sl_seconds:
        raise ValueError("report parameters do not match the aggregates' interval and service level T")
    width = _check_interval(params.interval_minutes)
    seats_after_shrinkage(0, params.shrinkage)  # validates shrinkage early
    totals = Measures()
    per_bucket: dict[int, Measures] = {}
    per_queue: dict[tuple[str | None, str | None, str | None], Measures] = {}
    for (bucket, queue, language, topic), m in agg.groups.items():
        totals.add(m)
        per_bucket.setdefault(bucket, Measures()).add(m)
        per_queue.setdefault((queue, language, topic), Measures()).add(m)
        q = per_queue[(queue, language, topic)]
        q.agents = max(q.agents, m.agents)  # peak people in one interval
    totals.agents = max(agg.agents_by_bucket.values(), default=0)
    presence = dict(agg.agents_by_bucket) if present is None else dict(present)

    # the interval axis: from..to if given, else the data's span; empty intervals included
    buckets = sorted(per_bucket)
    first = bucket_of(params.start, params.interval_minutes) if params.start else (buckets[0] if buckets else None)
    last = (
        bucket_of(params.end - timedelta(microseconds=1), params.interval_minutes)
        if params.end
        else (buckets[-1] if buckets else None)
    )
    overall_aht = totals.aht
    intervals: list[IntervalRow] = []
    cache: dict[tuple[int, float], Any] = {}
    if first is not None and last is not None:
        total_steps = (last - first) // width + 1
        for step, bucket in enumerate(range(first, last + width, width)):
            m = per_bucket.get(bucket) or Measures()
            m.agents = agg.agents_by_bucket.get(bucket, 0)
            aht = m.aht or overall_aht
            needed, traffic, error = _staff(m.queued, aht, params, width, cache)
            people = presence.get(bucket, 0 if present is not None or agg.agents_by_bucket else None)
            occupancy = m.handle_sum / (people * width) if people else None
            intervals.append(
                IntervalRow(datetime.fromtimestamp(bucket, UTC), m, people, needed, traffic, occupancy, error)
            )
            if progress is not None and (step % 2000 == 0 or step == total_steps - 1):
                progress(step + 1, total_steps)
    groups = sorted(agg.groups.items(), key=lambda kv: (kv[0][0], *(_s(x) for x in kv[0][1:])))
    by_queue = sorted(per_queue.items(), key=lambda kv: tuple(_s(x) for x in kv[0]))
    return Report(
        params=params,
        totals=totals,
        intervals=intervals,
        groups=groups,
        by_queue=by_queue,
        shifts=_shift_rows(intervals, shifts, params),
        overall_aht=overall_aht,
    )


def _s(value: str | None) -> str:
    return "" if value is None else value


def _shift_rows(intervals: Sequence[IntervalRow], shifts: Sequence[Shift], params: ReportParams) -> list[ShiftRow]:
    if not shifts:
        return []
    tz = ZoneInfo(params.timezone)
    needed: dict[str, list[int]] = {s.id: [] for s in shifts}
    short: dict[str, int] = {s.id: 0 for s in shifts}
    for row in intervals:
        clock = row.start.astimezone(tz).time().replace(tzinfo=None)
        shift = next((s for s in shifts if s.contains(clock)), None)
        if shift is None or row.needed is None:
            continue
        needed[shift.id].append(row.needed)
        if row.gap is not None and row.gap < 0:
            short[shift.id] += 1
    rows = []
    for s in shifts:
        values = needed[s.id]
        peak = max(values, default=0)
        rows.append(
            ShiftRow(
                shift=s.id,
                intervals=len(values),
                peak_needed=peak,
                mean_needed=sum(values) / len(values) if values else 0.0,
                seats_needed=seats_after_shrinkage(peak, params.shrinkage),
                understaffed_intervals=short[s.id],
            )
        )
    return rows


def report_to_dict(report: Report) -> dict[str, Any]:
    """The whole report as plain dicts, lists, numbers and ISO strings (JSON-ready)."""
    p = report.params
    return {
        "params": {
            "interval_minutes": p.interval_minutes,
            "sl_seconds": p.sl_seconds,
            "target_service_level": p.target_service_level,
            "shrinkage": p.shrinkage,
            "patience_seconds": p.patience_seconds,
            "model": "erlang_a" if p.patience_seconds is not None else "erlang_c",
            "timezone": p.timezone,
            "start": p.start.isoformat() if p.start else None,
            "end": p.end.isoformat() if p.end else None,
        },
        "totals": report.totals.to_dict(),
        "overall_aht": report.overall_aht,
        "intervals": [
            {
                "start": row.start.isoformat(),
                **row.measures.to_dict(),
                "present": row.present,
                "needed": row.needed,
                "gap": row.gap,
                "traffic": row.traffic,
                "occupancy": row.occupancy,
                "staffing_error": row.staffing_error,
            }
            for row in report.intervals
        ],
        "groups": [
            {
                "start": datetime.fromtimestamp(key[0], UTC).isoformat(),
                "queue": key[1],
                "language": key[2],
                "topic": key[3],
                **m.to_dict(),
            }
            for key, m in report.groups
        ],
        "by_queue": [{"queue": k[0], "language": k[1], "topic": k[2], **m.to_dict()} for k, m in report.by_queue],
        "shifts": [
            {
                "shift": s.shift,
                "intervals": s.intervals,
                "peak_needed": s.peak_needed,
                "mean_needed": s.mean_needed,
                "seats_needed": s.seats_needed,
                "understaffed_intervals": s.understaffed_intervals,
            }
            for s in report.shifts
        ],
        "understaffed": [
            {"start": row.start.isoformat(), "present": row.present, "needed": row.needed, "gap": row.gap}
            for row in report.understaffed
        ],
        "wrapups": [{"topic": w.topic, "code": w.code, "calls": w.calls} for w in report.wrapups],
        "people": [
            {
                "kind": row.kind,
                "id": row.target,
                "calls": row.measures.calls,
                "first_answers": row.measures.first_answers,
                "transfers_in": row.measures.transfers_in,
                "talk_sum": row.measures.talk_sum,
                "mean_talk": row.measures.mean_talk,
            }
            for row in report.people
        ],
    }


# -- wrap-up codes: calls per request type ----------------------------------------------------------

WrapupKey = tuple[str | None, str | None]  # (topic, wrap-up code)


def wrapup_counts(
    records: Iterable[RecordFacts], start: datetime | None = None, end: datetime | None = None
) -> dict[WrapupKey, int]:
    """Calls per (topic, wrap-up code) that started in ``[start, end)`` (the module's counting rule);
    the reference of ``cdr.db.RecordStore.wrapup_counts``."""
    counts: dict[WrapupKey, int] = {}
    for r in records:
        if start is not None and r.started_at < start:
            continue
        if end is not None and r.started_at >= end:
            continue
        if r.outcome != "answered" and r.wrapup_code is None:
            continue
        key = (r.topic, r.wrapup_code)
        counts[key] = counts.get(key, 0) + 1
    return counts


def wrapup_rows(counts: Mapping[WrapupKey, int]) -> list[WrapupRow]:
    """The counts as rows: by topic, the most frequent code first (no code last)."""
    return [
        WrapupRow(topic, code, calls)
        for (topic, code), calls in sorted(
            counts.items(), key=lambda item: (_s(item[0][0]), item[0][1] is None, -item[1], _s(item[0][1]))
        )
    ]


# -- per person: each one's own legs (transfers split the talk) -------------------------------------

PersonKey = tuple[str, str]  # (leg kind: person | destination | conference, the person's or place's id)


@dataclass(slots=True)
class PersonMeasures:
    """One person's (or outside place's) calls: each call once, whatever the legs; the talk of their own legs."""

    calls: int = 0
    first_answers: int = 0  # calls they answered first (where the call is counted)
    transfers_in: int = 0  # legs that reached them by a transfer (blind, attended or REFER)
    talk_sum: float = 0.0

    def add(self, other: PersonMeasures) -> None:
        self.calls += other.calls
        self.first_answers += other.first_answers
        self.transfers_in += other.transfers_in
        self.talk_sum += other.talk_sum

    @property
    def mean_talk(self) -> float | None:
        return self.talk_sum / self.calls if self.calls else None


def people_figures(
    records: Iterable[RecordFacts], start: datetime | None = None, end: datetime | None = None
) -> dict[PersonKey, PersonMeasures]:
    """Per person or place, the calls that started in ``[start, end)`` (the module's counting rule); the
    reference of ``cdr.db.RecordStore.people_figures``."""
    out: dict[PersonKey, PersonMeasures] = {}
    for r in records:
        if (start is not None and r.started_at < start) or (end is not None and r.started_at >= end):
            continue
        if not r.legs:
            if r.outcome == "answered" and r.agent is not None:
                m = out.setdefault(("person", r.agent), PersonMeasures())
                m.calls += 1
                m.first_answers += 1
                m.talk_sum += r.talk_seconds or 0.0
            continue
        seen: set[PersonKey] = set()
        for position, leg in enumerate(r.legs):
            key = (leg.kind, leg.target)
            m = out.setdefault(key, PersonMeasures())
            if key not in seen:
                seen.add(key)
                m.calls += 1
            if position == 0:
                m.first_answers += 1
            if leg.how in TRANSFERS:
                m.transfers_in += 1
            m.talk_sum += leg.talk_seconds or 0.0
    return out


def person_rows(figures: Mapping[PersonKey, PersonMeasures]) -> list[PersonRow]:
    """The figures as rows: people first, then outside places and conferences; the most talk first."""
    order = {"person": 0, "destination": 1, "conference": 2}
    return [
        PersonRow(kind, target, m)
        for (kind, target), m in sorted(
            figures.items(), key=lambda kv: (order.get(kv[0][0], 3), -kv[1].talk_sum, kv[0][1])
        )
    ]


def fold_person_row(
    out: dict[PersonKey, PersonMeasures], kind: str, target: str, calls: int, first: int, transfers: int, talk: float
) -> None:
    """Add one row of the SQL twin of :func:`people_figures` (legs, or records without legs) to ``out``."""
    m = out.setdefault((kind, target), PersonMeasures())
    m.add(PersonMeasures(int(calls), int(first or 0), int(transfers or 0), float(talk or 0.0)))


def parse_presence_csv(lines: Iterable[str], interval_minutes: int) -> dict[int, int]:
    """People present per interval from CSV lines ``interval_start,people`` (ISO 8601 times with
    an offset, or naive = UTC; a header line is skipped)."""
    import csv

    out: dict[int, int] = {}
    for row in csv.reader(lines):
        if not row or not row[0].strip() or row[0].strip().lower() in ("interval_start", "start", "interval"):
            continue
        moment = datetime.fromisoformat(row[0].strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        out[bucket_of(moment, interval_minutes)] = int(row[1])
    return out


# -- the SQL twin of aggregate() lives with the records: cdr.db.RecordStore.aggregates -----------------


def fold_group_row(
    m: Measures,
    kind: str,
    outcome: str,
    count: int,
    within: int,
    wait: float,
    talk: float,
    wrapup: float,
    max_wait: float | None,
    transferred: int,
    agents: int,
    onward_talk: float = 0.0,
) -> None:
    """Add one ``GROUP BY (bucket, queue, language, topic, kind, outcome)`` row of the SQL twin to ``m``.

    The counting rules are the module docstring's, the same as :func:`aggregate` (tested against it).
    """
    m.onward_talk_sum += float(onward_talk or 0.0)
    if kind == CALLBACK:
        m.callbacks += count
        if outcome == "answered":
            m.callbacks_answered += count
            m.callback_talk_sum += float(talk) + float(wrapup)
        return
    if kind in OUTBOUND:
        m.outbound += count
        if outcome == "answered":
            m.outbound_answered += count
            m.outbound_talk_sum += float(talk) + float(wrapup)
        return
    m.offered += count
    if max_wait is not None and (m.max_wait is None or max_wait > m.max_wait):
        m.max_wait = float(max_wait)
    if outcome == "answered":
        m.answered += count
        m.answered_within += within
        m.wait_answered_sum += float(wait)
        m.talk_sum += float(talk)
        m.wrapup_sum += float(wrapup)
        m.transferred += transferred
        m.agents = agents
    elif outcome == "abandoned_queue":
        m.abandoned_queue += count
        m.abandoned_within += within
    elif outcome == "abandoned_ivr":
        m.abandoned_ivr += count
    elif outcome == SELF_SERVED:
        m.self_served += count
    else:
        m.failed += count


def interval_seconds(interval_minutes: int) -> int:
    """The width of an interval in seconds; ValueError unless it is one of ALLOWED_INTERVALS."""
    return _check_interval(interval_minutes)


def by_queue(agg: Aggregates) -> dict[str, Measures]:
    """The measures of each queue over all intervals, languages and topics (the wallboard's day figures)."""
    out: dict[str, Measures] = {}
    for (_bucket, queue, _language, _topic), m in agg.groups.items():
        if queue is None:
            continue
        out.setdefault(queue, Measures()).add(m)
    return out
