"""The SQL twin of ``cases.reports.case_report``: the same figures computed by the database.

SQLAlchemy Core over the ``cases`` table (``cases/rows.py``), on SQLite and PostgreSQL:

* one ``GROUP BY category`` counts opened, closed, rejected, closed on time and overdue (``SUM(CASE ..)``);
* the median time to close is picked by the database too: a window function numbers each category's
  closed cases by their time to close (``ROW_NUMBER() OVER (PARTITION BY category ORDER BY d)``, with
  ``COUNT(*) OVER (PARTITION BY category)``), and only the one or two middle rows come back; a second
  query does the same over every category for the totals. The time to close ``d`` is in whole
  microseconds, exact on both databases (SQLite: the stored text's epoch seconds and its six
  fraction digits; PostgreSQL: ``EXTRACT(EPOCH ..)``, a numeric), so both halves give identical figures.

``case_report_sql(url, ...)`` is for batch tools (the CLI, the benchmark): synchronous, its own engine.
``case_report_db(db, ...)`` runs on the service's asyncio ``Database``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    create_engine,
    extract,
    func,
    or_,
    select,
)

from cases.reports import CLOSED, REJECTED, TOTAL, CaseReport, Counts, build_report, check_period
from cases.rows import CaseRow
from storage.engine import Database, sync_url

__all__ = ["case_report_db", "case_report_sql", "statements"]

CASES = CaseRow.__table__
OPEN = ("open", "assigned", "in_progress")


def _epoch_seconds_sqlite(column: Any) -> ColumnElement[Any]:
    return cast(func.strftime("%s", column), BigInteger)


def _fraction_sqlite(column: Any) -> ColumnElement[Any]:
    # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC): the six digits from position 21
    return cast(func.substr(column, 21, 6), Integer)


def _close_microseconds(dialect: str) -> ColumnElement[Any]:
    closed_at = func.coalesce(CASES.c.closed_at, CASES.c.created_at)
    created_at = CASES.c.created_at
    if dialect == "sqlite":
        return (_epoch_seconds_sqlite(closed_at) - _epoch_seconds_sqlite(created_at)) * 1_000_000 + (
            _fraction_sqlite(closed_at) - _fraction_sqlite(created_at)
        )
    if dialect == "postgresql":
        return cast(extract("epoch", closed_at - created_at) * 1_000_000, BigInteger)
    raise ValueError(f"no case report for the {dialect!r} database")


def _period(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if start is not None:
        conditions.append(CASES.c.created_at >= start)
    if end is not None:
        conditions.append(CASES.c.created_at < end)
    return conditions


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def statements(
    dialect: str, *, now: datetime, start: datetime | None = None, end: datetime | None = None
) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The three queries of a report: the counts per category, the middle close durations per
    category, and the middle close durations over every category."""
    period = _period(start, end)
    status = CASES.c.status
    closed_at = func.coalesce(CASES.c.closed_at, CASES.c.created_at)
    counts = (
        select(
            CASES.c.category,
            func.count(),
            _count(status == CLOSED),
            _count(status == REJECTED),
            _count(and_(status == CLOSED, closed_at <= CASES.c.due_at)),
            _count(and_(status.not_in((CLOSED, REJECTED)), CASES.c.due_at < now)),
        )
        .where(*period)
        .group_by(CASES.c.category)
    )
    d = _close_microseconds(dialect)

    def middles(partition: list[Any]) -> Select[Any]:
        numbered = (
            select(
                CASES.c.category.label("category"),
                d.label("d"),
                func.row_number().over(partition_by=partition, order_by=d).label("rn"),
                func.count().over(partition_by=partition).label("n"),
            )
            .where(status == CLOSED, *period)
            .subquery("numbered")
        )
        # integer division in both databases: n odd -> the middle row once; n even -> the two middle ones
        return select(numbered.c.category, numbered.c.d).where(
            or_(numbered.c.rn == (numbered.c.n + 1) // 2, numbered.c.rn == (numbered.c.n + 2) // 2)
        )

    return counts, middles([CASES.c.category]), middles([])


def _fold(
    count_rows: Iterable[Any], middle_rows: Iterable[Any], total_rows: Iterable[Any]
) -> tuple[dict[str, Counts], dict[str, list[int]]]:
    counts = {
        str(row[0]): Counts(
            opened=int(row[1]),
            closed=int(row[2]),
            rejected=int(row[3]),
            closed_on_time=int(row[4]),
            overdue=int(row[5]),
        )
        for row in count_rows
    }
    middles: dict[str, list[int]] = {}
    for category, d in middle_rows:
        middles.setdefault(str(category), []).append(int(d))
    middles[TOTAL] = [int(d) for _, d in total_rows]
    return counts, middles


def case_report_sql(
    url: str,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    categories: Sequence[str] = (),
) -> CaseReport:
    """The report computed by the database at ``url`` (synchronous; for the CLI and benchmarks)."""
    check_period(start, end, now)
    engine = create_engine(sync_url(url))
    try:
        counts_q, middles_q, totals_q = statements(engine.dialect.name, now=now, start=start, end=end)
        with engine.connect() as conn:
            counts, middles = _fold(
                conn.execute(counts_q).all(), conn.execute(middles_q).all(), conn.execute(totals_q).all()
            )
    finally:
        engine.dispose()
    return build_report(counts, middles, now=now, start=start, end=end, categories=categories)


async def case_report_db(
    db: Database,
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    categories: Sequence[str] = (),
) -> CaseReport:
    """The report computed by the service's database (one read transaction)."""
    check_period(start, end, now)
    counts_q, middles_q, totals_q = statements(db.dialect, now=now, start=start, end=end)
    async with db.readers() as session:
        count_rows = (await session.execute(counts_q)).all()
        middle_rows = (await session.execute(middles_q)).all()
        total_rows = (await session.execute(totals_q)).all()
    counts, middles = _fold(count_rows, middle_rows, total_rows)
    return build_report(counts, middles, now=now, start=start, end=end, categories=categories)
