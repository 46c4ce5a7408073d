"""The special days added from the console (rows: ivr/rows.py SpecialDayRow; schema: migration 0008).

The profile's own holidays stay in the profile; these come and go live. A removed day keeps its row
(``removed_at``/``removed_by``): the list of past changes is the history, and the console's audit log says
who did what. The IVR asks :meth:`Calendar.current` on every call: it answers from memory, reloaded when
older than ``ttl`` (5 s) and dropped at once by every change made through this object, so the service that
made the change sees it at once and another service on the same database within ``ttl``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import TracebackType
from typing import Any, Self

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select, update

from ivr.rows import SpecialDayRow
from profiles.model import DayHours, Profile, SpecialDay
from storage.engine import Database
from telephony.clock import utc_now

__all__ = ["Calendar", "CalendarError", "StoredDay", "special_day"]

log = logging.getLogger(__name__)

MAX_NAME = 200
MAX_DAYS = 366  # one special day covers at most a year
_SPECIAL_DAY = TypeAdapter(SpecialDay)


class CalendarError(ValueError):
    """Bad input for a special day: the message says what to fix."""


@dataclass(frozen=True)
class StoredDay:
    id: int
    day: SpecialDay
    created_by: str
    created_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None


def _clock(value: time | None) -> str:
    return "24:00" if value is None else value.strftime("%H:%M")


def special_day(
    profile: Profile,
    first: str | date,
    last: str | date | None = None,
    name: str | None = None,
    hours: Sequence[tuple[str, str]] = (),
    topics: Sequence[str] = (),
) -> SpecialDay:
    """A special day checked like the profile's own (dates, hours, the profile's topic ids); CalendarError."""
    if name is not None and len(name) > MAX_NAME:
        raise CalendarError(f"name: at most {MAX_NAME} characters")
    raw: dict[str, Any] = {
        "date": str(first),
        "until": str(last) if last not in (None, "") else None,
        "name": name or None,
        "hours": [{"open": o, "close": c} for o, c in hours],
        "topics": list(topics),
    }
    try:
        day = _SPECIAL_DAY.validate_python(raw, context={"topics": [t.id for t in profile.topics]})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'day'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise CalendarError(problems) from None
    if ((day.until or day.date) - day.date).days >= MAX_DAYS:
        raise CalendarError(f"until: a special day covers at most {MAX_DAYS} days")
    return day


def _day(row: SpecialDayRow) -> SpecialDay:
    hours = tuple(DayHours(open=o, close=c) for o, c in json.loads(row.hours))
    until = row.last_day if row.last_day != row.first_day else None
    return SpecialDay(date=row.first_day, until=until, name=row.name, hours=hours, topics=tuple(json.loads(row.topics)))


def _stored(row: SpecialDayRow) -> StoredDay:
    return StoredDay(row.id, _day(row), row.created_by, row.created_at, row.removed_at, row.removed_by)


class Calendar:
    """The console's special days on the one database, with the cached list the IVR reads."""

    def __init__(
        self,
        profile: Profile,
        db: Database | str,
        clock: Callable[[], datetime] = utc_now,
        ttl: timedelta = timedelta(seconds=5),
    ) -> None:
        self.profile = profile
        self.db, self._owned = Database.of(db)
        self.clock = clock
        self.ttl = ttl
        self._cached: tuple[SpecialDay, ...] | None = None
        self._loaded_at: datetime | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    async def add(self, day: SpecialDay, by: str) -> StoredDay:
        row = SpecialDayRow(
            first_day=day.date,
            last_day=day.until or day.date,
            name=day.name,
            hours=json.dumps([[_clock(h.open), _clock(h.close)] for h in day.hours]),
            topics=json.dumps(list(day.topics)),
            created_by=by[:64],
            created_at=self.clock(),
        )
        async with self.db.writers.begin() as session:
            session.add(row)
            await session.flush()
            stored = _stored(row)
        self._cached = None
        return stored

    async def remove(self, day_id: int, by: str) -> StoredDay | None:
        """Remove a listed day; None when there is no such day (or it was removed already)."""
        now = self.clock()
        async with self.db.writers.begin() as session:
            done = await session.scalar(
                update(SpecialDayRow)
                .where(SpecialDayRow.id == day_id, SpecialDayRow.removed_at.is_(None))
                .values(removed_at=now, removed_by=by[:64])
                .returning(SpecialDayRow.id),
                execution_options={"synchronize_session": False},
            )
            row = await session.get(SpecialDayRow, day_id) if done is not None else None
            stored = _stored(row) if row is not None else None
        self._cached = None
        return stored

    async def listed(self, *, since: date | None = None) -> list[StoredDay]:
        """The days in force (not removed) that end on or after ``since`` (all when None), by date."""
        query = select(SpecialDayRow).where(SpecialDayRow.removed_at.is_(None))
        if since is not None:
            query = query.where(SpecialDayRow.last_day >= since)
        async with self.db.readers() as session:
            rows = (await session.scalars(query.order_by(SpecialDayRow.first_day, SpecialDayRow.id))).all()
            return [_stored(row) for row in rows]

    async def current(self) -> tuple[SpecialDay, ...]:
        """The days the IVR applies now (from yesterday on: the hotline's date may be behind UTC's)."""
        now = self.clock()
        if self._cached is not None and self._loaded_at is not None and now - self._loaded_at < self.ttl:
            return self._cached
        days = tuple(d.day for d in await self.listed(since=now.date() - timedelta(days=1)))
        self._cached, self._loaded_at = days, now
        return days
