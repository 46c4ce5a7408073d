"""Storage of call records: an asyncio ``RecordStore`` on the shared engine (``storage.engine``)."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from cdr.builder import CallRecord, Outcome
from cdr.rows import CallRecordRow
from storage.engine import INSERTS, async_engine

__all__ = ["RecordStore"]


# -- store --------------------------------------------------------------------------------------


def _row_values(record: CallRecord) -> dict[str, Any]:
    return {
        "linkedid": record.linkedid,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "language": record.language,
        "topic": record.topic,
        "specialty": record.specialty,
        "queue": record.queue,
        "wait_seconds": record.wait_seconds,
        "outcome": Outcome(record.outcome).value,
        "agent": record.agent,
        "talk_seconds": record.talk_seconds,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": record.hangup_cause_text,
        "kind": record.kind,
        "callback_of": record.callback_of,
        "transferred_to": record.transferred_to,
        "wrapup_seconds": record.wrapup_seconds,
    }


def _record(row: CallRecordRow) -> CallRecord:
    return CallRecord(
        linkedid=row.linkedid,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        started_at=row.started_at,
        language=row.language,
        topic=row.topic,
        specialty=row.specialty,
        queue=row.queue,
        wait_seconds=row.wait_seconds,
        outcome=Outcome(row.outcome),
        agent=row.agent,
        talk_seconds=row.talk_seconds,
        hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text,
        ended_at=row.ended_at,
        kind=row.kind,
        callback_of=row.callback_of,
        transferred_to=row.transferred_to,
        wrapup_seconds=row.wrapup_seconds,
    )




class RecordStore:
    """Call records in SQLite or PostgreSQL, through SQLAlchemy's asyncio extension.

    The schema must exist (``upgrade(url)``). Each method is one session and one transaction.
    Use ``await store.close()`` (or ``async with RecordStore(url) as store``) when done.
    """

    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = async_engine(url)
        dialect = self._engine.dialect.name
        self._insert = INSERTS[dialect]
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _insert_ignoring_duplicate(self, record: CallRecord) -> Any:
        # INSERT .. ON CONFLICT (linkedid) DO NOTHING RETURNING id: a row comes back only when the
        # record was new. (rowcount is not reliable here through psycopg's async cursor; RETURNING
        # needs SQLite >= 3.35.)
        return (
            self._insert(CallRecordRow)
            .values(**_row_values(record))
            .on_conflict_do_nothing(index_elements=[CallRecordRow.linkedid])
            .returning(CallRecordRow.id)
        )

    async def add(self, record: CallRecord) -> bool:
        """Store one record; False (and nothing written) if its linkedid is already stored."""
        async with self._sessions.begin() as session:
            new_id = await session.scalar(self._insert_ignoring_duplicate(record))
        return new_id is not None

    async def add_many(self, records: Iterable[CallRecord]) -> int:
        """Store records in one transaction, skipping linkedids already stored; returns how many were new."""
        added = 0
        async with self._sessions.begin() as session:
            for record in records:
                if await session.scalar(self._insert_ignoring_duplicate(record)) is not None:
                    added += 1
        return added

    async def list_records(self, limit: int | None = None) -> list[CallRecord]:
        """Records ordered by ``started_at`` (oldest first), at most ``limit`` of them."""
        query = select(CallRecordRow).order_by(CallRecordRow.started_at, CallRecordRow.id).limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_record(row) for row in rows]

    async def get(self, linkedid: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(CallRecordRow).where(CallRecordRow.linkedid == linkedid))
        return None if row is None else _record(row)

    async def close(self) -> None:
        await self._engine.dispose()
