"""Who is logged in and paused, and live seat counts, in the database (rows: routing/rows.py; schema: storage/migrations 0002).

Asterisk's queue membership is rebuilt from this after a restart of the service or of Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from storage.engine import async_engine
from routing.rows import AgentSessionRow, QueueSeatRow


@dataclass(frozen=True)
class AgentSession:
    person_id: str
    logged_in: bool
    paused: bool
    pause_reason: str | None
    logged_in_at: datetime | None


class RoutingStore:
    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = async_engine(url)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def sessions(self) -> dict[str, AgentSession]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(AgentSessionRow))).all()
        return {
            row.person_id: AgentSession(row.person_id, row.logged_in, row.paused, row.pause_reason, row.logged_in_at)
            for row in rows
        }

    async def save(self, state: AgentSession) -> None:
        async with self._sessions.begin() as session:
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
        async with self._sessions() as session:
            rows = (await session.scalars(select(QueueSeatRow).where(QueueSeatRow.shift == shift))).all()
        return {row.queue: row.seats for row in rows}

    async def set_seats(self, queue: str, shift: str, seats: int, by: str | None) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(QueueSeatRow, (queue, shift))
            if row is None:
                row = QueueSeatRow(queue=queue, shift=shift)
                session.add(row)
            row.seats = seats
            row.updated_by = by
            row.updated_at = datetime.now(UTC)

    async def close(self) -> None:
        await self._engine.dispose()
