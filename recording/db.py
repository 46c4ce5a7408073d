"""Call recordings in the database (rows: recording/rows.py; schema: migration 0010).

One row per call, unique by its linkedid: written when the recording starts (or is turned off), finished when the
call's record completes (the file's length, or failed), and noted purged when the purge job removed the file.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from recording.model import Recording
from recording.rows import RecordingRow
from storage.engine import Database

__all__ = ["RecordingStore"]


def _recording(row: RecordingRow) -> Recording:
    return Recording(
        linkedid=row.linkedid,
        topic=row.topic,
        file=row.file,
        status=row.status,
        started_at=row.started_at,
        retain_until=row.retain_until,
        ended_at=row.ended_at,
        duration_seconds=row.duration_seconds,
        purged_at=row.purged_at,
        reason=row.reason,
    )


class RecordingStore:
    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    async def add(self, recording: Recording) -> bool:
        """Store a call's recording as it starts (or is turned off); False when that call has one already."""
        values = {
            "linkedid": recording.linkedid,
            "topic": recording.topic,
            "file": recording.file,
            "status": recording.status,
            "reason": recording.reason,
            "started_at": recording.started_at,
            "ended_at": recording.ended_at,
            "duration_seconds": recording.duration_seconds,
            "retain_until": recording.retain_until,
            "purged_at": recording.purged_at,
        }
        statement = self.db.insert(RecordingRow).values(**values).on_conflict_do_nothing()
        async with self.db.writers.begin() as session:
            made = await session.scalar(statement.returning(RecordingRow.id))
            return made is not None

    async def finish(
        self, linkedid: str, ended_at: datetime, duration_seconds: float | None, status: str, reason: str | None
    ) -> bool:
        """The call ended: the file's length and whether it holds the talk. Only a started recording is finished."""
        statement = (
            update(RecordingRow)
            .where(RecordingRow.linkedid == linkedid, RecordingRow.status == "started")
            .values(ended_at=ended_at, duration_seconds=duration_seconds, status=status, reason=reason)
        )
        async with self.db.writers.begin() as session:
            done = await session.execute(statement)
            return bool(getattr(done, "rowcount", 0))

    async def get(self, linkedid: str) -> Recording | None:
        async with self.db.readers() as session:
            row = await session.scalar(select(RecordingRow).where(RecordingRow.linkedid == linkedid))
            return None if row is None else _recording(row)

    async def latest(self, limit: int = 200) -> list[Recording]:
        """The newest recordings first."""
        query = select(RecordingRow).order_by(RecordingRow.started_at.desc(), RecordingRow.id.desc()).limit(limit)
        async with self.db.readers() as session:
            return [_recording(row) for row in (await session.scalars(query)).all()]

    async def expired(self, now: datetime) -> list[Recording]:
        """The recordings past their retention whose file has not been purged yet (oldest first)."""
        query = (
            select(RecordingRow)
            .where(RecordingRow.retain_until <= now, RecordingRow.purged_at.is_(None))
            .order_by(RecordingRow.retain_until, RecordingRow.id)
        )
        async with self.db.readers() as session:
            return [_recording(row) for row in (await session.scalars(query)).all()]

    async def mark_purged(self, linkedid: str, at: datetime) -> bool:
        statement = (
            update(RecordingRow)
            .where(RecordingRow.linkedid == linkedid, RecordingRow.purged_at.is_(None))
            .values(purged_at=at, status="purged")
        )
        async with self.db.writers.begin() as session:
            done = await session.execute(statement)
            return bool(getattr(done, "rowcount", 0))
