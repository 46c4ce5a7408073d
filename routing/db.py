"""Who is logged in and paused, live seat counts and skill overrides, in the database
(rows: routing/rows.py; schema: storage/migrations).

Asterisk's queue membership is rebuilt from this after a restart of the service or of Asterisk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from routing.rows import AgentSessionRow, QueueSeatRow, SkillOverrideRow
from storage.engine import Database


@dataclass(frozen=True)
class AgentSession:
    person_id: str
    logged_in: bool
    paused: bool
    pause_reason: str | None
    logged_in_at: datetime | None


@dataclass(frozen=True)
class SkillOverride:
    """A supervisor's change of a person's topics and specialties (applied at their next login)."""

    person_id: str
    topics: tuple[str, ...]
    specialties: tuple[str, ...]
    updated_by: str
    updated_at: datetime


class RoutingStore:
    """``db``: the process's shared :class:`storage.engine.Database` (not closed here), or a URL
    (a database of its own, closed by :meth:`close`)."""

    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self._readers = self.db.readers
        self._writers = self.db.writers

    async def sessions(self) -> dict[str, AgentSession]:
        async with self._readers() as session:
            rows = (await session.scalars(select(AgentSessionRow))).all()
        return {
            row.person_id: AgentSession(row.person_id, row.logged_in, row.paused, row.pause_reason, row.logged_in_at)
            for row in rows
        }

    async def save(self, state: AgentSession) -> None:
        async with self._writers.begin() as session:
            row = await session.get(AgentSessionRow, state.person_id)
            if row is None:
                row = AgentSessionRow(person_id=state.person_id)
                session.add(row)
            row.logged_in = state.logged_in
            row.paused = state.paused
            row.pause_reason = state.pause_reason
            row.logged_in_at = state.logged_in_at
            row.updated_at = datetime.now(UTC)

    async def seat_overrides(self, shift: str) -> dict[str, int]:
        async with self._readers() as session:
            rows = (await session.scalars(select(QueueSeatRow).where(QueueSeatRow.shift == shift))).all()
        return {row.queue: row.seats for row in rows}

    async def set_seats(self, queue: str, shift: str, seats: int, by: str | None) -> None:
        async with self._writers.begin() as session:
            row = await session.get(QueueSeatRow, (queue, shift))
            if row is None:
                row = QueueSeatRow(queue=queue, shift=shift)
                session.add(row)
            row.seats = seats
            row.updated_by = by
            row.updated_at = datetime.now(UTC)

    async def skill_overrides(self) -> dict[str, SkillOverride]:
        """Every person's skill override, by person id."""
        async with self._readers() as session:
            rows = (await session.scalars(select(SkillOverrideRow))).all()
        return {
            row.person_id: SkillOverride(
                row.person_id,
                tuple(json.loads(row.topics)),
                tuple(json.loads(row.specialties)),
                row.updated_by,
                row.updated_at,
            )
            for row in rows
        }

    async def set_skills(self, person_id: str, topics: tuple[str, ...], specialties: tuple[str, ...], by: str) -> None:
        async with self._writers.begin() as session:
            row = await session.get(SkillOverrideRow, person_id)
            if row is None:
                row = SkillOverrideRow(person_id=person_id)
                session.add(row)
            row.topics = json.dumps(list(topics), ensure_ascii=False)
            row.specialties = json.dumps(list(specialties), ensure_ascii=False)
            row.updated_by = by[:64]
            row.updated_at = datetime.now(UTC)

    async def close(self) -> None:
        if self._owned:
            await self.db.close()
