"""Survey responses in the database (rows: survey/rows.py; schema: migration 0008).

One row per surveyed call, unique by its linkedid (a second write for the same call changes nothing). The
figures per topic, agent or interval are computed in SQL, on SQLite and PostgreSQL alike, and held equal
to the pure reference (``survey.model.figures``) by the adapter tests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal_column, select

from storage.engine import Database
from survey.model import Dimension, Figures, SurveyResponse, interval_seconds, satisfied_from
from survey.rows import SurveyResponseRow

__all__ = ["SurveyStore"]


def _bucket(dialect: str, width: int) -> str:
    column = SurveyResponseRow.__tablename__ + ".asked_at"
    if dialect == "sqlite":
        return f"(CAST(strftime('%s', {column}) AS INTEGER) / {width:d}) * {width:d}"
    if dialect == "postgresql":
        return f"CAST(floor(extract(epoch FROM {column}) / {width:d}) AS bigint) * {width:d}"
    raise ValueError(f"no interval bucket expression for {dialect!r}")


def _response(row: SurveyResponseRow) -> SurveyResponse:
    return SurveyResponse(
        linkedid=row.linkedid,
        asked_at=row.asked_at,
        topic=row.topic,
        agent=row.agent,
        language=row.language,
        first=row.first,
        second=row.second,
    )


class SurveyStore:
    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    async def record(self, response: SurveyResponse) -> bool:
        """Store one surveyed call; False when that call already has a response (kept as it was)."""
        values = {
            "linkedid": response.linkedid,
            "topic": response.topic,
            "agent": response.agent,
            "language": response.language,
            "asked_at": response.asked_at,
            "first": response.first,
            "second": response.second,
        }
        statement = self.db.insert(SurveyResponseRow).values(**values).on_conflict_do_nothing()
        async with self.db.writers.begin() as session:
            made = await session.scalar(statement.returning(SurveyResponseRow.id))
            return made is not None

    async def of_call(self, linkedid: str) -> SurveyResponse | None:
        async with self.db.readers() as session:
            row = await session.scalar(select(SurveyResponseRow).where(SurveyResponseRow.linkedid == linkedid))
            return None if row is None else _response(row)

    async def responses(self, start: datetime | None = None, end: datetime | None = None) -> list[SurveyResponse]:
        query = select(SurveyResponseRow).order_by(SurveyResponseRow.asked_at, SurveyResponseRow.id)
        if start is not None:
            query = query.where(SurveyResponseRow.asked_at >= start)
        if end is not None:
            query = query.where(SurveyResponseRow.asked_at < end)
        async with self.db.readers() as session:
            return [_response(row) for row in (await session.scalars(query)).all()]

    async def figures(
        self,
        max_score: int,
        by: Dimension,
        interval_minutes: int = 30,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str | int, Figures]:
        """The SQL twin of ``survey.model.figures`` over the responses asked in [start, end)."""
        threshold = satisfied_from(max_score)
        width = interval_seconds(interval_minutes)
        row = SurveyResponseRow
        key: Any
        if by == "topic":
            key = func.coalesce(row.topic, "-")
        elif by == "agent":
            key = func.coalesce(row.agent, "-")
        elif by == "interval":
            key = literal_column(_bucket(self.db.dialect, width))
        else:
            raise ValueError(f"figures are per topic, agent or interval, not {by!r}")
        satisfied = func.sum(case((row.first >= threshold, 1), else_=0))
        query = select(
            key.label("key"),
            func.count().label("asked"),
            func.count(row.first).label("answered"),
            cast(func.coalesce(satisfied, 0), Integer).label("satisfied"),
        ).group_by(key)
        if start is not None:
            query = query.where(row.asked_at >= start)
        if end is not None:
            query = query.where(row.asked_at < end)
        async with self.db.readers() as session:
            rows = (await session.execute(query)).all()
        out: dict[str | int, Figures] = {}
        for group, asked, answered, happy in rows:
            out[int(group) if by == "interval" else str(group)] = Figures(int(asked), int(answered), int(happy))
        return out
