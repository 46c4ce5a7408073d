"""Storage of call records: an asyncio ``RecordStore`` on the shared engine (``storage.engine``).

Wrap-up codes (``set_wrapup``): an agent may choose a call's code before its record is stored (during
the call, or in the moment between the hang-up and the insert). The code is then kept pending, in
memory, and applied right after the record's insert commits. The order closes the race: a choice is
made pending *before* its UPDATE runs, and an insert looks for pending codes *after* it commits, so
whichever comes second sees the other. (A pending code does not survive a restart of the service.)
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import BindParameter, bindparam, create_engine, desc, insert, or_, select, text, update

from cdr.builder import CallRecord, Leg, Outcome
from cdr.reports import (
    TRANSFERS,
    Aggregates,
    Measures,
    PersonKey,
    PersonMeasures,
    WrapupKey,
    by_queue,
    fold_group_row,
    fold_person_row,
    interval_seconds,
)
from cdr.rows import CallLegRow, CallRecordRow
from storage.base import UTCDateTime
from storage.engine import Database, sync_url

__all__ = [
    "RecordStore",
    "WrapupRefused",
    "aggregate_sql",
    "people_figures_sql",
    "storable_text",
    "wrapup_counts_sql",
]

log = logging.getLogger(__name__)

MAX_PENDING_WRAPUPS = 10_000  # codes chosen for calls whose record is not stored yet

#: What a caller's phone sends as its name or number is stored as sent, with two visible exceptions (the
#: same on SQLite and PostgreSQL): a character no database text can hold (NUL, which PostgreSQL refuses,
#: and a lone surrogate, which UTF-8 cannot encode) becomes U+FFFD, and text longer than its column keeps
#: its start and ends with U+2026 (PostgreSQL refuses it whole otherwise, and the record would be lost).
REPLACEMENT = "\ufffd"
ELLIPSIS = "\u2026"
CALLER_NAME_LENGTH = 255  # call_records.caller_name, Unicode(255)
CALLER_NUMBER_LENGTH = 128  # call_records.caller_number, String(128)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(value: str | None, length: int) -> str | None:
    """``value`` as it is stored in a column of ``length`` characters (see :data:`REPLACEMENT`)."""
    if value is None:
        return None
    text = _UNSTORABLE.sub(REPLACEMENT, value)
    if len(text) > length:
        text = text[: length - 1] + ELLIPSIS
    return text


class WrapupRefused(ValueError):
    """A wrap-up code for a call another person answered."""


# -- reports: the SQL twin of cdr.reports.aggregate ------------------------------------------------


def _bucket_sql(dialect: str, width: int) -> str:
    if dialect == "sqlite":
        # started_at is stored as naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; %s floors to seconds
        return f"(CAST(strftime('%s', started_at) AS INTEGER) / {width:d}) * {width:d}"
    if dialect == "postgresql":
        return f"CAST(floor(extract(epoch FROM started_at) / {width:d}) AS bigint) * {width:d}"
    raise ValueError(f"no interval bucket expression for {dialect!r}")


def _statements(
    dialect: str, width: int, sl_seconds: float, start: datetime | None, end: datetime | None
) -> tuple[Any, Any, dict[str, Any]]:
    """The two GROUP BY queries of a report and their parameters.

    Grouping by (kind, outcome) as well keeps every aggregate a plain SUM/COUNT/MAX (no CASE per
    measure); the rows are folded into one Measures per (interval, queue, language, topic) by
    ``cdr.reports.fold_group_row``. "Within T" is ``wait <= T`` here and in ``cdr.reports.aggregate``.
    """
    bucket = _bucket_sql(dialect, width)
    conditions = []
    binds: list[BindParameter[Any]] = [bindparam("t", type_=None)]
    params: dict[str, Any] = {"t": float(sl_seconds)}
    if start is not None:
        conditions.append("started_at >= :start")
        binds.append(bindparam("start", type_=UTCDateTime()))
        params["start"] = start
    if end is not None:
        conditions.append("started_at < :end")
        binds.append(bindparam("end", type_=UTCDateTime()))
        params["end"] = end
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    groups = text(f"""
SELECT {bucket} AS bucket, queue, language, topic, kind, outcome,
  COUNT(*),
  SUM(CASE WHEN COALESCE(wait_seconds, 0) <= :t THEN 1 ELSE 0 END),
  SUM(COALESCE(wait_seconds, 0)),
  SUM(COALESCE(talk_seconds, 0)),
  SUM(COALESCE(wrapup_seconds, 0)),
  MAX(wait_seconds),
  COUNT(transferred_to),
  COUNT(DISTINCT agent),
  SUM(COALESCE(onward.talk, 0))
FROM call_records
LEFT JOIN (
  SELECT linkedid AS onward_id, SUM(talk_seconds) AS talk FROM call_legs WHERE position > 0 AND kind = 'person'
  GROUP BY linkedid
) onward ON onward.onward_id = call_records.linkedid
{where}
GROUP BY 1, queue, language, topic, kind, outcome
""").bindparams(*binds)
    agent_where = where + (" AND " if where else "WHERE ") + "agent IS NOT NULL"
    agents = text(
        f"SELECT {bucket} AS bucket, COUNT(DISTINCT agent) FROM call_records {agent_where} GROUP BY 1"
    ).bindparams(*binds[1:])
    return groups, agents, params


def _fold(result: Aggregates, group_rows: Iterable[Any], agent_rows: Iterable[Any]) -> Aggregates:
    groups = result.groups
    for row in group_rows:
        key = (int(row[0]), row[1], row[2], row[3])
        m = groups.get(key)
        if m is None:
            m = groups[key] = Measures()
        fold_group_row(m, row[4], row[5], *row[6:])
    for bucket_value, people in agent_rows:
        result.agents_by_bucket[int(bucket_value)] = int(people)
    return result


def aggregate_sql(
    url: str,
    interval_minutes: int = 30,
    sl_seconds: float = 20.0,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Aggregates:
    """:meth:`RecordStore.aggregates` for batch tools (the CLI, benchmarks): synchronous, its own engine."""
    width = interval_seconds(interval_minutes)
    engine = create_engine(sync_url(url))
    try:
        groups, agents, params = _statements(engine.dialect.name, width, sl_seconds, start, end)
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            group_rows = conn.execute(groups, params).all()
            agent_rows = conn.execute(agents, {k: v for k, v in params.items() if k != "t"}).all()
        return _fold(Aggregates(interval_minutes, sl_seconds), group_rows, agent_rows)
    finally:
        engine.dispose()


# -- wrap-up codes: the SQL twin of cdr.reports.wrapup_counts ---------------------------------------


def _period(
    column: str, start: datetime | None, end: datetime | None
) -> tuple[list[str], list[BindParameter[Any]], dict[str, Any]]:
    """The conditions, binds and parameters that keep the calls whose ``column`` is in [start, end) (None: open)."""
    conditions: list[str] = []
    binds: list[BindParameter[Any]] = []
    params: dict[str, Any] = {}
    for name, operator, value in (("start", ">=", start), ("end", "<", end)):
        if value is not None:
            conditions.append(f"{column} {operator} :{name}")
            binds.append(bindparam(name, type_=UTCDateTime()))
            params[name] = value
    return conditions, binds, params


def _wrapup_statement(start: datetime | None, end: datetime | None) -> tuple[Any, dict[str, Any]]:
    conditions, binds, params = _period("started_at", start, end)
    conditions.insert(0, "(outcome = 'answered' OR wrapup_code IS NOT NULL)")
    statement = text(
        f"SELECT topic, wrapup_code, COUNT(*) FROM call_records WHERE {' AND '.join(conditions)} "
        "GROUP BY topic, wrapup_code"
    ).bindparams(*binds)
    return statement, params


def wrapup_counts_sql(url: str, start: datetime | None = None, end: datetime | None = None) -> dict[WrapupKey, int]:
    """:meth:`RecordStore.wrapup_counts` for batch tools (the report CLI): synchronous, its own engine."""
    engine = create_engine(sync_url(url))
    try:
        statement, params = _wrapup_statement(start, end)
        with engine.connect() as conn:
            return {(topic, code): int(calls) for topic, code, calls in conn.execute(statement, params)}
    finally:
        engine.dispose()


# -- per person: the SQL twin of cdr.reports.people_figures -----------------------------------------


def _people_statements(start: datetime | None, end: datetime | None) -> tuple[Any, Any, dict[str, Any]]:
    """Two GROUP BY queries: the legs of the calls that started in the period (each call once per person or
    place), and the answered records that have no legs (stored before revision 0009) under their agent."""
    conditions, binds, params = _period("r.started_at", start, end)
    period = "".join(f" AND {c}" for c in conditions)
    transfers = ", ".join(f"'{how}'" for how in sorted(TRANSFERS))
    legs = text(f"""
SELECT l.kind, l.target, COUNT(DISTINCT l.linkedid),
  SUM(CASE WHEN l.position = 0 THEN 1 ELSE 0 END),
  SUM(CASE WHEN l.how IN ({transfers}) THEN 1 ELSE 0 END),
  SUM(COALESCE(l.talk_seconds, 0))
FROM call_legs l JOIN call_records r ON r.linkedid = l.linkedid
WHERE 1 = 1{period}
GROUP BY l.kind, l.target
""").bindparams(*binds)
    without_legs = text(f"""
SELECT 'person', r.agent, COUNT(*), COUNT(*), 0, SUM(COALESCE(r.talk_seconds, 0))
FROM call_records r
WHERE r.outcome = 'answered' AND r.agent IS NOT NULL{period}
  AND NOT EXISTS (SELECT 1 FROM call_legs l WHERE l.linkedid = r.linkedid)
GROUP BY r.agent
""").bindparams(*binds)
    return legs, without_legs, params


def _fold_people(*row_sets: Iterable[Any]) -> dict[PersonKey, PersonMeasures]:
    out: dict[PersonKey, PersonMeasures] = {}
    for rows in row_sets:
        for row in rows:
            fold_person_row(out, *row)
    return out


def people_figures_sql(
    url: str, start: datetime | None = None, end: datetime | None = None
) -> dict[PersonKey, PersonMeasures]:
    """:meth:`RecordStore.people_figures` for batch tools (the report CLI): synchronous, its own engine."""
    engine = create_engine(sync_url(url))
    try:
        legs, without_legs, params = _people_statements(start, end)
        with engine.connect() as conn:
            return _fold_people(conn.execute(legs, params).all(), conn.execute(without_legs, params).all())
    finally:
        engine.dispose()


# -- store --------------------------------------------------------------------------------------


def _row_values(record: CallRecord) -> dict[str, Any]:
    return {
        "linkedid": record.linkedid,
        "caller_number": storable_text(record.caller_number, CALLER_NUMBER_LENGTH),
        "caller_name": storable_text(record.caller_name, CALLER_NAME_LENGTH),
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
        "wrapup_code": record.wrapup_code,
        "source": record.source,
    }


def _leg_values(linkedid: str, legs: Iterable[Leg]) -> list[dict[str, Any]]:
    return [
        {
            "linkedid": linkedid,
            "position": position,
            "kind": leg.kind,
            "target": leg.target,
            "queue": leg.queue,
            "answered_at": leg.answered_at,
            "ended_at": leg.ended_at,
            "talk_seconds": leg.talk_seconds,
            "how": leg.how,
        }
        for position, leg in enumerate(legs)
    ]


def _leg(row: CallLegRow) -> Leg:
    return Leg(
        kind=row.kind,
        target=row.target,
        queue=row.queue,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        talk_seconds=row.talk_seconds,
        how=row.how,
    )


def _record(row: CallRecordRow, legs: Iterable[CallLegRow] = ()) -> CallRecord:
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
        source=row.source,
        wrapup_code=row.wrapup_code,
        legs=tuple(_leg(leg) for leg in legs),
    )


async def _records_with_legs(session: Any, rows: Sequence[CallRecordRow]) -> list[CallRecord]:
    """The records of ``rows`` with their legs, read in one more query (legs in their order)."""
    if not rows:
        return []
    legs: dict[str, list[CallLegRow]] = {}
    query = (
        select(CallLegRow)
        .where(CallLegRow.linkedid.in_([row.linkedid for row in rows]))
        .order_by(CallLegRow.linkedid, CallLegRow.position)
    )
    for leg in (await session.scalars(query)).all():
        legs.setdefault(leg.linkedid, []).append(leg)
    return [_record(row, legs.get(row.linkedid, ())) for row in rows]


class RecordStore:
    """Call records in SQLite or PostgreSQL, through SQLAlchemy's asyncio extension.

    The schema must exist (``upgrade(url)``). Each method is one session and one transaction.
    Use ``await store.close()`` (or ``async with RecordStore(url) as store``) when done.
    """

    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self._insert = self.db.insert
        self._sessions = self.db.writers
        self._readers = self.db.readers
        #: linkedid -> (code, agent): chosen before the record was stored (see the module docstring)
        self._pending_wrapups: OrderedDict[str, tuple[str, str]] = OrderedDict()

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

    async def _store(self, session: Any, record: CallRecord) -> bool:
        """Insert one record and its legs in ``session``'s transaction; False if it was already stored."""
        if await session.scalar(self._insert_ignoring_duplicate(record)) is None:
            return False
        if record.legs:
            await session.execute(insert(CallLegRow), _leg_values(record.linkedid, record.legs))
        return True

    async def add(self, record: CallRecord) -> bool:
        """Store one record with its legs (one transaction); False (and nothing written) if its linkedid
        is already stored. A wrap-up code chosen while it was not stored is applied after."""
        async with self._sessions.begin() as session:
            added = await self._store(session, record)
        await self._apply_pending_wrapups([record.linkedid])
        return added

    async def add_many(self, records: Iterable[CallRecord]) -> int:
        """Store records in one transaction, skipping linkedids already stored; returns how many were new."""
        added = 0
        linkedids = []
        async with self._sessions.begin() as session:
            for record in records:
                linkedids.append(record.linkedid)
                if await self._store(session, record):
                    added += 1
        await self._apply_pending_wrapups(linkedids)
        return added

    # -- wrap-up codes ---------------------------------------------------------------------------
    async def set_wrapup(self, linkedid: str, code: str, agent: str) -> bool:
        """Set the wrap-up ``code`` (a disposition id) of the call ``linkedid`` that ``agent`` answered (first,
        or after a transfer: any person with a leg of the call; the last choice wins).

        True: it is on the stored record. False: the record is not stored yet; the code is kept and
        applied when it is (the last choice wins). :class:`WrapupRefused` when the stored record is
        another person's call (or nobody's)."""
        pending = (code, agent)
        self._pending_wrapups[linkedid] = pending  # first: an insert committing from now on applies it
        self._pending_wrapups.move_to_end(linkedid)
        while len(self._pending_wrapups) > MAX_PENDING_WRAPUPS:
            dropped, _ = self._pending_wrapups.popitem(last=False)
            log.warning("wrap-up code of call %s dropped: its record never came", dropped)
        try:
            async with self._sessions.begin() as session:
                done = await self._update_wrapup(session, linkedid, code, agent)
                if not done:
                    stored = (
                        await session.execute(select(CallRecordRow.agent).where(CallRecordRow.linkedid == linkedid))
                    ).first()
                    on_call = stored is not None and (
                        stored[0] == agent or await self._has_leg(session, linkedid, agent)
                    )
                    if on_call:  # its insert committed just now
                        done = await self._update_wrapup(session, linkedid, code, agent)
                    elif stored is not None:
                        raise WrapupRefused(f"call {linkedid} was answered by {stored[0] or 'nobody'}, not {agent}")
        except BaseException:
            if self._pending_wrapups.get(linkedid) == pending:
                del self._pending_wrapups[linkedid]
            raise
        if done and self._pending_wrapups.get(linkedid) == pending:
            del self._pending_wrapups[linkedid]
        return done

    def pending_wrapup(self, linkedid: str) -> str | None:
        """The code chosen for a call whose record is not stored yet, if any."""
        found = self._pending_wrapups.get(linkedid)
        return None if found is None else found[0]

    @staticmethod
    def _legs_of(linkedid: str, agent: str) -> Any:
        return select(CallLegRow.linkedid).where(
            CallLegRow.linkedid == linkedid, CallLegRow.kind == "person", CallLegRow.target == agent
        )

    @staticmethod
    async def _has_leg(session: Any, linkedid: str, agent: str) -> bool:
        return (await session.execute(RecordStore._legs_of(linkedid, agent).limit(1))).first() is not None

    @staticmethod
    async def _update_wrapup(session: Any, linkedid: str, code: str, agent: str) -> bool:
        """Set the code if ``agent`` answered the call, first or after a transfer (a person leg of theirs)."""
        result = await session.execute(
            update(CallRecordRow)
            .where(
                CallRecordRow.linkedid == linkedid,
                or_(CallRecordRow.agent == agent, CallRecordRow.linkedid.in_(RecordStore._legs_of(linkedid, agent))),
            )
            .values(wrapup_code=code)
            .returning(CallRecordRow.id)
        )
        return result.first() is not None

    async def _apply_pending_wrapups(self, linkedids: Iterable[str]) -> None:
        """After an insert has committed: the codes chosen for these calls while they were not stored."""
        due = [(lid, self._pending_wrapups[lid]) for lid in linkedids if lid in self._pending_wrapups]
        if not due:
            return
        async with self._sessions.begin() as session:
            for linkedid, (code, agent) in due:
                if not await self._update_wrapup(session, linkedid, code, agent):
                    log.warning("wrap-up code %r of %s for call %s not applied: another person answered it",
                                code, agent, linkedid)  # fmt: skip
        for linkedid, pending in due:
            if self._pending_wrapups.get(linkedid) == pending:
                del self._pending_wrapups[linkedid]

    async def wrapup_counts(self, start: datetime | None = None, end: datetime | None = None) -> dict[WrapupKey, int]:
        """Calls per (topic, wrap-up code) in ``[start, end)``, counted in the database (the rule of
        ``cdr.reports.wrapup_counts``)."""
        statement, params = _wrapup_statement(start, end)
        async with self._readers() as session:
            rows = (await session.execute(statement, params)).all()
        return {(topic, code): int(calls) for topic, code, calls in rows}

    async def people_figures(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> dict[PersonKey, PersonMeasures]:
        """Per person or place, the calls that started in ``[start, end)`` and the talk of their own legs,
        counted in the database (the rule of ``cdr.reports.people_figures``)."""
        legs, without_legs, params = _people_statements(start, end)
        async with self._readers() as session:
            leg_rows = (await session.execute(legs, params)).all()
            record_rows = (await session.execute(without_legs, params)).all()
        return _fold_people(leg_rows, record_rows)

    async def by_caller(self, caller_number: str, limit: int = 10) -> list[CallRecord]:
        """The latest records of calls from ``caller_number``, newest first (at most ``limit``)."""
        query = (
            select(CallRecordRow)
            .where(CallRecordRow.caller_number == caller_number)
            .order_by(desc(CallRecordRow.started_at), desc(CallRecordRow.id))
            .limit(limit)
        )
        async with self._readers() as session:
            rows = (await session.scalars(query)).all()
            return await _records_with_legs(session, rows)

    async def list_records(
        self, limit: int | None = None, *, start: datetime | None = None, end: datetime | None = None
    ) -> list[CallRecord]:
        """Records ordered by ``started_at`` (oldest first), at most ``limit`` of them; with ``start`` and
        ``end``, those that started in ``[start, end)``."""
        query = select(CallRecordRow).order_by(CallRecordRow.started_at, CallRecordRow.id).limit(limit)
        if start is not None:
            query = query.where(CallRecordRow.started_at >= start)
        if end is not None:
            query = query.where(CallRecordRow.started_at < end)
        async with self._readers() as session:
            rows = (await session.scalars(query)).all()
            return await _records_with_legs(session, rows)

    async def aggregates(
        self,
        interval_minutes: int = 30,
        sl_seconds: float = 20.0,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Aggregates:
        """Report aggregates computed in the database (``start`` inclusive, ``end`` exclusive, aware)."""
        width = interval_seconds(interval_minutes)
        groups, agents, params = _statements(self.db.dialect, width, sl_seconds, start, end)
        async with self._readers() as session:
            group_rows = (await session.execute(groups, params)).all()
            agent_rows = (await session.execute(agents, {k: v for k, v in params.items() if k != "t"})).all()
        return _fold(Aggregates(interval_minutes, sl_seconds), group_rows, agent_rows)

    async def service_level_by_queue(self, since: datetime, sl_seconds: float = 20.0) -> dict[str, Measures]:
        """Each queue's measures of the calls that started since ``since`` (the wallboard's "today")."""
        return by_queue(await self.aggregates(60, sl_seconds, start=since))

    async def get(self, linkedid: str) -> CallRecord | None:
        async with self._readers() as session:
            row = await session.scalar(select(CallRecordRow).where(CallRecordRow.linkedid == linkedid))
            if row is None:
                return None
            return (await _records_with_legs(session, [row]))[0]

    async def close(self) -> None:
        if self._owned:
            await self.db.close()
