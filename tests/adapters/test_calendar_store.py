"""The special days added from the console, on SQLite and PostgreSQL (ivr/calendar_db.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from ivr.calendar_db import Calendar, CalendarError, special_day
from profiles.model import SpecialDay, load_profile
from storage.engine import upgrade

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def calendar(db_url: str) -> AsyncIterator[tuple[Calendar, Calendar, Clock]]:
    """Two services on one database (each with its own cache), and their clock."""
    upgrade(db_url)
    clock = Clock()
    first, second = Calendar(PROFILE, db_url, clock=clock), Calendar(PROFILE, db_url, clock=clock)
    yield first, second, clock
    await first.close()
    await second.close()


async def test_a_day_added_is_listed_applied_at_once_here_and_within_the_ttl_elsewhere(calendar) -> None:
    here, elsewhere, clock = calendar
    assert await here.current() == () and await elsewhere.current() == ()
    eid = special_day(PROFILE, "2026-12-02", "2026-12-03", "eid", [("10:00", "14:00"), ("18:00", "24:00")], ["general"])
    stored = await here.add(eid, "sara")
    assert stored.id > 0 and stored.created_by == "sara" and stored.created_at == NOW
    assert stored.day == eid and eid.hours[1].open == time(18) and eid.hours[1].close is None
    assert await here.current() == (eid,)  # at once
    assert await elsewhere.current() == ()  # its cache ...
    clock.now += timedelta(seconds=5)
    assert await elsewhere.current() == (eid,)  # ... within 5 s
    assert [d.day for d in await here.listed()] == [eid]


async def test_a_removed_day_no_longer_applies_and_keeps_its_row(calendar) -> None:
    here, _, clock = calendar
    closed = await here.add(SpecialDay(date=date(2026, 12, 2)), "sara")
    kept = await here.add(SpecialDay(date=date(2026, 12, 25), name="later"), "sara")
    clock.now += timedelta(minutes=1)
    removed = await here.remove(closed.id, "omar")
    assert removed is not None and removed.removed_by == "omar" and removed.removed_at == clock.now
    assert await here.current() == (kept.day,)
    assert await here.remove(closed.id, "omar") is None  # once
    assert await here.remove(999_999, "omar") is None


async def test_past_days_are_not_applied_but_a_range_ending_today_is(calendar) -> None:
    here, _, _ = calendar
    await here.add(SpecialDay(date=date(2026, 11, 1)), "sara")
    across = await here.add(SpecialDay(date=date(2026, 12, 31), until=date(2027, 1, 1), name="new year"), "sara")
    still = await here.add(SpecialDay(date=date(2026, 11, 28), until=date(2026, 12, 2)), "sara")
    assert await here.current() == (still.day, across.day)
    assert len(await here.listed()) == 3


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"first": "2026-13-01"}, "date"),
        ({"first": "2026-12-05", "last": "2026-12-01"}, "until: must not be before date"),
        ({"first": "2026-12-05", "hours": [("14:00", "10:00")]}, "must be after open"),
        ({"first": "2026-12-05", "hours": [("25:00", "26:00")]}, "hours.0.open"),
        ({"first": "2026-12-05", "topics": ["weather"]}, "'weather' is not a topic id"),
        ({"first": "2026-01-01", "last": "2027-06-01"}, "at most 366 days"),
        ({"first": "2026-12-05", "name": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_special_days_are_refused_with_what_to_fix(fields, message) -> None:
    with pytest.raises(CalendarError, match=message):
        special_day(PROFILE, **fields)
