"""The block list and the nuisance warnings in the database (rows: screening/rows.py; schema: migration 0008).

Rows are never deleted: removing a block sets ``removed_at``/``removed_by``, so the list of past blocks is the
history. Times are aware UTC datetimes. Each method is one session and one transaction.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import or_, select, update

from cdr.rows import CallRecordRow
from screening.model import Block
from screening.rows import BlockedNumberRow, NuisanceWarningRow
from storage.engine import Database

__all__ = ["ScreeningStore"]


def _block(row: BlockedNumberRow) -> Block:
    return Block(
        id=row.id,
        number=row.number,
        reason=row.reason,
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
    )


class ScreeningStore:
    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    async def add(
        self,
        number: str,
        reason: str,
        source: str,
        created_by: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> Block:
        """Block ``number`` (checked by the caller: screening.model's valid_*)."""
        row = BlockedNumberRow(
            number=number,
            reason=reason,
            source=source,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        async with self.db.writers.begin() as session:
            session.add(row)
            await session.flush()
            return _block(row)

    async def remove(self, number: str, removed_by: str, now: datetime) -> list[Block]:
        """End every current block of ``number``; the blocks ended (none: nothing was blocked)."""
        current = (
            (BlockedNumberRow.number == number)
            & BlockedNumberRow.removed_at.is_(None)
            & or_(BlockedNumberRow.expires_at.is_(None), BlockedNumberRow.expires_at > now)
        )
        async with self.db.writers.begin() as session:
            rows = (await session.scalars(select(BlockedNumberRow).where(current))).all()
            if rows:
                ids = [row.id for row in rows]
                await session.execute(
                    update(BlockedNumberRow)
                    .where(BlockedNumberRow.id.in_(ids))
                    .values(removed_at=now, removed_by=removed_by)
                )
                for row in rows:
                    row.removed_at, row.removed_by = now, removed_by
            return [_block(row) for row in rows]

    async def current(self, now: datetime) -> list[Block]:
        """The blocks in force at ``now``, newest first."""
        query = (
            select(BlockedNumberRow)
            .where(BlockedNumberRow.removed_at.is_(None))
            .where(or_(BlockedNumberRow.expires_at.is_(None), BlockedNumberRow.expires_at > now))
            .order_by(BlockedNumberRow.created_at.desc(), BlockedNumberRow.id.desc())
        )
        async with self.db.readers() as session:
            return [_block(row) for row in (await session.scalars(query)).all()]

    async def past(self, now: datetime, limit: int = 200) -> list[Block]:
        """Blocks that ended (removed or expired), newest first."""
        query = (
            select(BlockedNumberRow)
            .where(
                or_(
                    BlockedNumberRow.removed_at.is_not(None),
                    BlockedNumberRow.expires_at <= now,
                )
            )
            .order_by(BlockedNumberRow.created_at.desc(), BlockedNumberRow.id.desc())
            .limit(limit)
        )
        async with self.db.readers() as session:
            return [_block(row) for row in (await session.scalars(query)).all()]

    async def warn(self, number: str, now: datetime) -> None:
        async with self.db.writers.begin() as session:
            session.add(NuisanceWarningRow(number=number, warned_at=now))

    async def warnings(self, since: datetime | None = None) -> list[tuple[str, datetime]]:
        """(number, warned_at) of the warnings given (since ``since``), oldest first."""
        query = select(NuisanceWarningRow.number, NuisanceWarningRow.warned_at).order_by(
            NuisanceWarningRow.warned_at, NuisanceWarningRow.id
        )
        if since is not None:
            query = query.where(NuisanceWarningRow.warned_at >= since)
        async with self.db.readers() as session:
            return [(number, at) for number, at in (await session.execute(query)).all()]

    async def unheard_warnings(self, since: datetime) -> list[str]:
        """Numbers warned since ``since`` that have not called since their warning (no call record started after
        it): after a restart, they still have the warning to hear."""
        called_since = (
            select(CallRecordRow.id)
            .where(CallRecordRow.caller_number == NuisanceWarningRow.number)
            .where(CallRecordRow.started_at > NuisanceWarningRow.warned_at)
            .exists()
        )
        query = select(NuisanceWarningRow.number).where(NuisanceWarningRow.warned_at >= since).where(~called_since)
        async with self.db.readers() as session:
            return sorted(set((await session.scalars(query)).all()))
