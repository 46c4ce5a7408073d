"""Synthetic cases shaped like the municipal 940 line's year (``../shared/seeds/municipal-940.txt``).

The shape (so the figures of a report can be reasoned about):

* **Categories** (:data:`ARTICLE_940`): exactly the article's counts, 17,534 in all: markets and public
  health 4,006; environmental health and vector control 2,142; cleanliness 4,367; parks 564; roads and
  utility networks 3,174; lighting and signs 3,281.
* **Closed**: the article's shares where it gives them (markets 90 %, environmental health 95 %,
  cleanliness 85 %), lower ones for the other three (parks 70 %, roads 55 %, lighting 60 %): 13,462
  closed in all ("more than 12 thousand", "more than 13 thousand"). 3 % of each category is rejected
  (not the municipality's); the rest is still open, assigned or in progress.
* **Times**: a year from ``start`` (default 2025-01-01 in the profile's time zone). Reports come in by
  day more than by night (:data:`HOUR_CURVE`, local time); times carry microseconds. A closed case took
  a log-normal time with a median of half its category's SLA (about one in five is closed late);
  a rejected one a few hours. Cases still open were reported shortly before the year's end (an
  exponential age with a mean of 1.5 times the SLA, at most 45 days), so about half of them are
  overdue at the year's end and the others are not yet due.
* **Channels**: about 40 % came from the smart channels (source ``api``; "more than 7 thousand"), 45 %
  from an agent's desk, 15 % were reported by phone with no agent (``phone``).

Deterministic for a seed. Each case is a mapping of ``cases`` columns (:func:`generate_cases`), stored
with Core ``insert`` executemany in chunks (:func:`insert_cases`). No history rows are written.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select

from cases.model import new_number, new_pin
from cases.rows import CaseRow
from profiles.model import Profile
from storage.engine import sync_url

__all__ = ["ARTICLE_940", "HOUR_CURVE", "REJECTED_SHARE", "generate_cases", "insert_cases"]

#: category -> (reports in the year, share closed)
ARTICLE_940: Mapping[str, tuple[int, float]] = {
    "markets_public_health": (4006, 0.90),
    "environmental_health": (2142, 0.95),
    "cleanliness": (4367, 0.85),
    "parks": (564, 0.70),
    "roads_networks": (3174, 0.55),
    "lighting_signs": (3281, 0.60),
}
REJECTED_SHARE = 0.03
OPEN_DAYS = 45  # cases still open were reported in the last days of the year
# relative reports per local hour 0..23
HOUR_CURVE: tuple[float, ...] = (
    0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.8, 1.6, 2.6, 3.2, 3.4, 3.3,
    3.0, 2.8, 2.7, 2.6, 2.7, 2.9, 3.0, 3.0, 2.7, 2.2, 1.6, 1.0,
)  # fmt: skip

_DESCRIPTIONS: Mapping[str, tuple[str, ...]] = {
    "markets_public_health": (
        "محل أغذية مخالف للاشتراطات الصحية",
        "بيع مواد غذائية منتهية الصلاحية",
        "عمالة بدون شهادات صحية",
    ),
    "environmental_health": ("انتشار البعوض قرب المنازل", "تجمع مياه راكدة", "انتشار القوارض في الحي"),
    "cleanliness": ("تراكم النفايات بجوار الحاوية", "حاوية نفايات ممتلئة", "مخلفات بناء في الشارع"),
    "parks": ("ألعاب أطفال تالفة في الحديقة", "ري الحديقة متوقف", "إنارة الحديقة لا تعمل"),
    "roads_networks": ("حفرة في الطريق", "هبوط في الأسفلت", "غطاء صرف صحي مكسور"),
    "lighting_signs": ("عمود إنارة لا يعمل", "لوحة دعائية آيلة للسقوط", "إنارة الشارع مطفأة ليلاً"),
}
_CLOSED_REASONS = ("تمت المعالجة", "تم التنفيذ والتحقق ميدانياً", "تمت المعالجة بالصورة المرضية للعميل")
_REJECTED_REASONS = ("خارج اختصاص الأمانة", "بلاغ مكرر", "لم يتم العثور على الملاحظة في الموقع")


def _lognormal_hours(rng: random.Random, median: float, sigma: float, low: float, high: float) -> float:
    return min(high, max(low, median * math.exp(rng.gauss(0.0, sigma))))


def generate_cases(
    profile: Profile,
    *,
    seed: int = 940,
    start: datetime | None = None,
    shape: Mapping[str, tuple[int, float]] = ARTICLE_940,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The cases of one year from ``start`` (aware; default 2025-01-01 00:00 in the profile's zone),
    as ``cases`` rows. Every category of ``shape`` must be a topic of ``profile`` (its department and
    SLA come from there), and the profile must keep cases: checked at once (a ValueError), before the
    first case is made."""
    if profile.cases is None:
        raise ValueError(f"{profile.source}: this profile keeps no cases (no cases section)")
    topics = {t.id for t in profile.topics}
    unknown = [c for c in shape if c not in topics]
    if unknown:
        raise ValueError(f"{profile.source}: not topics of the profile: {', '.join(unknown)}")
    tz = ZoneInfo(profile.timezone)
    start = start or datetime(2025, 1, 1, tzinfo=tz)
    if start.utcoffset() is None:
        raise ValueError(f"the start must be an aware datetime, got {start!r}")
    return _generate(profile, seed, start, shape, progress)


def _generate(
    profile: Profile,
    seed: int,
    start: datetime,
    shape: Mapping[str, tuple[int, float]],
    progress: Callable[[int], None] | None,
) -> Iterator[dict[str, Any]]:
    assert profile.cases is not None
    tz = ZoneInfo(profile.timezone)
    end = start.astimezone(tz).replace(year=start.astimezone(tz).year + 1)
    rng = random.Random(seed)
    districts: list[str | None] = [d.id for d in profile.cases.districts] or [None]
    hours = list(range(24))
    days = (end - start).days
    numbers: set[str] = set()
    made = 0

    def moment() -> datetime:
        day = rng.randrange(days)
        hour = rng.choices(hours, HOUR_CURVE)[0]
        local = (start.astimezone(tz) + timedelta(days=day)).replace(hour=hour, minute=0, second=0, microsecond=0)
        return local + timedelta(seconds=rng.randrange(3600), microseconds=rng.randrange(1_000_000))

    for category, (count, closed_share) in shape.items():
        sla = profile.sla_hours(category)
        department = profile.case_department(category)
        takers = [p.id for p in profile.people if category in p.topics] or ["agent"]
        closed = round(count * closed_share)
        rejected = round(count * REJECTED_SHARE)
        statuses = ["closed"] * closed + ["rejected"] * rejected
        for _ in range(count - closed - rejected):
            statuses.append(rng.choices(("open", "assigned", "in_progress"), (0.3, 0.4, 0.3))[0])
        rng.shuffle(statuses)
        for status in statuses:
            number = new_number(rng.randrange)
            while number in numbers:
                number = new_number(rng.randrange)
            numbers.add(number)
            source = rng.choices(("api", "desk", "phone"), (0.40, 0.45, 0.15))[0]
            created_by = {"api": "app", "phone": "ivr"}.get(source) or rng.choice(takers)
            closed_at = None
            reason = None
            version = {"open": 1, "assigned": 2, "in_progress": 3}.get(status, 3)
            if status in ("closed", "rejected"):
                if status == "closed":
                    took = _lognormal_hours(rng, sla / 2, 0.8, 0.25, 60 * 24)
                    reason = rng.choice(_CLOSED_REASONS)
                else:
                    took = _lognormal_hours(rng, 4, 0.7, 0.1, 72)
                    reason = rng.choice(_REJECTED_REASONS)
                created = moment()
                closed_at = created + timedelta(hours=took)
                if closed_at >= end:  # closed within the year: reported earlier
                    created -= closed_at - end + timedelta(hours=rng.uniform(1, 48))
                    closed_at = created + timedelta(hours=took)
                updated = closed_at
            else:
                age = min(OPEN_DAYS * 24.0, rng.expovariate(1 / (1.5 * sla)))  # about half past due at the end
                created = end - timedelta(hours=age)
                updated = created + timedelta(hours=rng.uniform(0, 8)) if version > 1 else created
            yield {
                "number": number,
                "pin": new_pin(rng.randrange),
                "category": category,
                "caller_number": "05" + "".join(str(rng.randrange(10)) for _ in range(8)),
                "language": profile.default_language,
                "description": rng.choice(_DESCRIPTIONS.get(category, ("بلاغ",))),
                "district": rng.choice(districts),
                "location": None,
                "department": department,
                "status": status,
                "reason": reason,
                "source": source,
                "created_by": created_by,
                "created_at": created,
                "updated_at": updated,
                "due_at": created + timedelta(hours=sla),
                "closed_at": closed_at,
                "voice_note": None,
                "voice_note_seconds": None,
                "version": version,
            }
            made += 1
            if progress is not None and made % 1000 == 0:
                progress(made)


def insert_cases(url: str, rows: Iterable[Mapping[str, Any]], chunk_size: int = 5000) -> int:
    """Insert ``rows`` into the ``cases`` table (migrated) with Core ``insert`` executemany, one
    transaction per chunk. Refused when the table already holds cases (the synthetic year would mix
    with them, and its numbers could collide). Returns the number of rows inserted."""
    table = CaseRow.__table__
    engine = create_engine(sync_url(url))
    added = 0
    try:
        with engine.connect() as conn:
            present = conn.scalar(select(func.count()).select_from(table)) or 0
        if present:
            raise ValueError(f"the database already holds {present:,} cases: synthetic cases go into an empty one")
        it = iter(rows)
        while chunk := list(islice(it, chunk_size)):
            with engine.begin() as conn:
                conn.execute(insert(CaseRow), chunk)
            added += len(chunk)
    finally:
        engine.dispose()
    return added
