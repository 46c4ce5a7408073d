"""Synthetic call records shaped like a health ministry's pandemic hotline (the 151 line).

The shape (documented so the numbers in reports can be reasoned about):

* **Months** (:data:`MONTH_CURVE`): 13 months, March 2020 to March 2021, 1,000,000 calls in all:
  a first wave in spring 2020 (140k in April), a summer low, a rise in the autumn, then January
  2021 80k, February 50k and March 2021 120k (the second wave). ``--calls N`` scales every month
  so they add up to N; ``--months 2021-01,2021-03`` keeps only those months, scaled so that
  they add up to N (their 80k:120k ratio is kept).
* **Days**: Friday and Saturday (the weekend in Kuwait) carry ~75 % of a weekday; each day gets
  ±15 % noise (news days).
* **Hours** (:data:`HOUR_CURVE`, local time of the profile, Asia/Kuwait): quiet 01:00-06:00,
  morning peak 09:00-13:00, second peak 17:00-21:00.
* **Languages**: Arabic 78 %, English 22 %. **Topics**: virus 45 %, medical 20 % (paediatrics 35 %,
  internal 45 %, psychiatry 20 %), delivery 15 %, general 12 %, complaints 8 %.
* **Staff** grows linearly from 27 agents (+10 doctors) to 160 agents (+40 doctors), at most 30
  seats per shift; the load of an hour (calls × handle time / capacity) drives waits and
  **abandonment, which rises with load** (2 % when quiet, up to ~45 % when overloaded).
* 4 % hang up in the IVR, ~1 % fail; 3 % of answered calls are transferred to another queue
  (``transferred_to``); 30 % of callers abandoned in the queue get a **callback** attempt
  (``kind='callback'``, ``callback_of`` = original linkedid) 10-120 min later, reached 65 % of the time.
  ``N`` counts inbound calls; callback attempts come on top (about 1-2 % more rows).

Deterministic for a given seed. Pure generation; :func:`write_records` stores through
``cdr.importer.bulk_insert``.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cdr.importer import ROW_COLUMNS, bulk_insert

__all__ = ["HOUR_CURVE", "MONTH_CURVE", "ROW_COLUMNS", "generate_rows", "month_targets", "write_records"]

# calls per month at the default size of 1,000,000 (sums to exactly 1,000,000)
MONTH_CURVE: dict[str, int] = {
    "2020-03": 30_000,
    "2020-04": 140_000,
    "2020-05": 110_000,
    "2020-06": 90_000,
    "2020-07": 70_000,
    "2020-08": 60_000,
    "2020-09": 55_000,
    "2020-10": 60_000,
    "2020-11": 65_000,
    "2020-12": 70_000,
    "2021-01": 80_000,
    "2021-02": 50_000,
    "2021-03": 120_000,
}
DEFAULT_TOTAL = sum(MONTH_CURVE.values())

# relative call volume per local hour 0..23
HOUR_CURVE: tuple[float, ...] = (
    1.6,
    1.0,
    0.6,
    0.4,
    0.4,
    0.6,
    1.2,
    2.6,
    4.6,
    6.4,
    6.8,
    6.6,
    6.0,
    5.4,
    5.0,
    5.0,
    5.4,
    6.0,
    6.4,
    6.4,
    5.8,
    4.6,
    3.4,
    2.4,
)
_DAY_WEIGHT = (1.0, 1.0, 1.0, 1.0, 0.75, 0.75, 1.0)  # mon..sun (Fri/Sat weekend)


_TOPICS = ("virus", "medical", "delivery", "general", "complaints")
_TOPIC_CUM = (0.45, 0.65, 0.80, 0.92, 1.0)
_SPECIALTIES = ("paediatrics", "internal", "psychiatry")
_SPEC_CUM = (0.35, 0.80, 1.0)
_TALK_MEAN = {"virus": 150.0, "medical": 330.0, "delivery": 200.0, "general": 140.0, "complaints": 260.0}


def month_targets(calls: int = DEFAULT_TOTAL, months: Sequence[str] | None = None) -> dict[str, int]:
    """Calls per month: the curve of the chosen months (default all) scaled to ``calls`` in all."""
    if calls < 0:
        raise ValueError("calls must be >= 0")
    chosen = list(MONTH_CURVE) if not months else list(months)
    unknown = [m for m in chosen if m not in MONTH_CURVE]
    if unknown:
        raise ValueError(f"no shape for month(s) {unknown}; known: {', '.join(MONTH_CURVE)}")
    scale = calls / sum(MONTH_CURVE[m] for m in chosen)
    return {m: round(MONTH_CURVE[m] * scale) for m in chosen}


def _staff(month_index: int, months_total: int = 12) -> tuple[int, int]:
    """(agents, doctors) on staff in the month_index-th month of the curve (linear growth)."""
    share = min(1.0, month_index / months_total)
    return round(27 + (160 - 27) * share), round(10 + (40 - 10) * share)


def generate_rows(
    calls: int = DEFAULT_TOTAL,
    months: Sequence[str] | None = None,
    seed: int = 151,
    timezone: str = "Asia/Kuwait",
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple]:
    """Rows in :data:`ROW_COLUMNS` order (datetimes timezone-aware UTC), month after month."""
    rng = random.Random(seed)
    rand, expo, choice = rng.random, rng.expovariate, rng.choice
    tz = ZoneInfo(timezone)
    targets = month_targets(calls, months)
    hour_total = sum(HOUR_CURVE)
    all_months = list(MONTH_CURVE)
    done = 0
    serial = 0
    expected = sum(targets.values())
    for month, target in targets.items():
        year, mon = (int(x) for x in month.split("-"))
        agents, doctors = _staff(all_months.index(month))
        scale = target / MONTH_CURVE[month]
        days = calendar.monthrange(year, mon)[1]
        day_w = [_DAY_WEIGHT[calendar.weekday(year, mon, d)] * (0.85 + 0.3 * rand()) for d in range(1, days + 1)]
        day_total = sum(day_w)
        for d in range(1, days + 1):
            day_calls = target * day_w[d - 1] / day_total
            for hour in range(24):
                expected_calls = day_calls * HOUR_CURVE[hour] / hour_total
                n = int(expected_calls + rand())
                if n == 0:
                    continue
                local = datetime(year, mon, d, hour, tzinfo=tz)
                base = local.astimezone(UTC)
                base_ts = base.timestamp()
                # people on shift this hour: a third of the staff, at most 30 seats, fewer at night;
                # scaled with the volume so the shape (load, abandonment) is the same at any --calls
                night = 0.6 if hour < 6 else 1.0
                on_shift = max(1, round(min(30, agents / 3 * night) * scale))
                docs = max(1, round(doctors / 3 * night * scale))
                capacity = (min(30, agents / 3 * night) + doctors / 3 * night) * scale * 3600 / 230.0 * 0.85
                load = n / capacity
                p_abandon = min(0.45, 0.02 + 0.5 * max(0.0, load - 0.7))
                mean_wait = min(600.0, 8.0 + 120.0 * max(0.0, load - 0.6) ** 1.5)
                for _ in range(n):
                    serial += 1
                    ts = base_ts + rand() * 3600.0
                    started = datetime.fromtimestamp(ts, UTC)
                    linkedid = f"{int(ts)}.{serial}"
                    lang = "ar" if rand() < 0.78 else "en"
                    u = rand()
                    topic = _TOPICS[next(i for i, c in enumerate(_TOPIC_CUM) if u <= c)]
                    specialty = None
                    if topic == "medical":
                        v = rand()
                        specialty = _SPECIALTIES[next(i for i, c in enumerate(_SPEC_CUM) if v <= c)]
                        queue = f"{lang}-medical-{specialty}"
                    else:
                        queue = f"{lang}-{topic}"
                    caller = f"+9656{int(rand() * 10_000_000):07d}"
                    r = rand()
                    wait: float | None
                    talk: float | None = None
                    wrapup: float | None = None
                    agent: str | None = None
                    transferred = None
                    if r < 0.04:
                        outcome, q, t_, sp = "abandoned_ivr", None, (topic if rand() < 0.5 else None), None
                        wait = None
                        end_ts = ts + 5 + rand() * 40
                    elif r < 0.05:
                        outcome, q, t_, sp = "failed", queue, topic, specialty
                        wait = round(expo(1 / 60.0), 1)
                        end_ts = ts + 20 + wait
                    elif r < 0.05 + p_abandon:
                        outcome, q, t_, sp = "abandoned_queue", queue, topic, specialty
                        wait = round(min(1800.0, 3 + expo(1 / max(20.0, mean_wait))), 1)
                        end_ts = ts + 20 + wait
                    else:
                        outcome, q, t_, sp = "answered", queue, topic, specialty
                        wait = round(min(1800.0, expo(1 / mean_wait)), 1)
                        talk = round(20 + expo(1 / _TALK_MEAN[topic]), 1)
                        wrapup = float(5 + int(rand() * 25))
                        if specialty:
                            agent = f"doc-{lang}-{specialty[:3]}-{1 + int(rand() * max(1, docs / 3))}"
                        else:
                            agent = (
                                f"agent-{lang}-{1 + int(rand() * max(1, on_shift * (0.78 if lang == 'ar' else 0.3)))}"
                            )
                        if rand() < 0.03:
                            transferred = choice(("ar-medical-internal", "en-medical-internal", f"{lang}-general"))
                            if transferred == queue:
                                transferred = f"{lang}-complaints"
                        end_ts = ts + 20 + wait + talk
                    yield (
                        linkedid,
                        caller,
                        None,
                        started,
                        datetime.fromtimestamp(end_ts, UTC),
                        lang,
                        t_,
                        sp,
                        q,
                        wait,
                        outcome,
                        agent,
                        talk,
                        16,
                        "Normal Clearing",
                        "inbound",
                        None,
                        transferred,
                        wrapup,
                    )
                    if outcome == "abandoned_queue" and rand() < 0.30:
                        cb_ts = end_ts + 600 + rand() * 6600
                        reached = rand() < 0.65
                        cb_talk = round(30 + expo(1 / 150.0), 1) if reached else None
                        yield (
                            f"cb-{linkedid}",
                            caller,
                            None,
                            datetime.fromtimestamp(cb_ts, UTC),
                            datetime.fromtimestamp(cb_ts + 30 + (cb_talk or 0), UTC),
                            lang,
                            topic,
                            specialty,
                            queue,
                            None,
                            "answered" if reached else "failed",
                            f"agent-{lang}-{1 + int(rand() * 5)}" if reached else None,
                            cb_talk,
                            16 if reached else 19,
                            "Normal Clearing" if reached else "No Answer",
                            "callback",
                            linkedid,
                            None,
                            10.0 if reached else None,
                        )
                done += n
            if progress is not None:
                progress(min(done, expected), expected)
    if progress is not None:
        progress(expected, expected)


def write_records(
    url: str,
    calls: int = DEFAULT_TOTAL,
    months: Sequence[str] | None = None,
    seed: int = 151,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Generate and bulk-insert records into the (migrated) database at ``url``; returns rows added."""
    return bulk_insert(url, generate_rows(calls, months, seed, progress=progress))
