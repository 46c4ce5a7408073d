"""Cases in the database: created under a fresh number, changed only against the version one has seen.

Rows: cases/rows.py; schema: the migrations in storage/migrations (0007).

The guarantees, and how they are kept:

* **A number is never given twice**: the unique index on ``cases.number``; ``create`` draws another
  number and tries again when an insert collides.
* **No silent overwrite**: ``change`` is a compare-and-set on ``version`` (``UPDATE … WHERE id = :id AND
  version = :expected``); a change made against a stale version changes nothing and raises
  :class:`~cases.model.StaleCase` with the case as it is now. The whole change (the case, its history rows,
  its webhook events) is one transaction: BEGIN IMMEDIATE on SQLite (``Database.writers``), the row locked
  ``FOR UPDATE`` on PostgreSQL.
* **Every change leaves history** (who, what, old, new, note), in the change's own transaction.
* **A webhook event is never lost nor sent without its change**: its outbox rows (one per receiver) are
  written in the transaction of the change they tell of, and stay until delivered. ``claim_outbox`` hands
  due rows to one dispatcher at a time: it pushes their ``next_attempt_at`` forward by a lease in the
  claiming transaction (rows locked by another instance are skipped: ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL), so a second instance does not send them meanwhile, and a dispatcher that dies mid-send
  leaves them to be sent again after the lease (at least once).
* **Lookups by phone are counted per caller number** (``case_lookups``) and the limit is checked in the
  lookup's own writing transaction (serialised per number by an advisory lock on PostgreSQL).

Times are aware UTC datetimes. Each method is one session and one transaction.
"""

from __future__ import annotations

import builtins
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cases.model import (
    DONE_STATUSES,
    Case,
    CaseNotFound,
    Change,
    HistoryEntry,
    StaleCase,
    webhook_body,
)
from cases.rows import CaseCallRow, CaseHistoryRow, CaseLookupRow, CaseOutboxRow, CaseRow
from storage.engine import Database

__all__ = ["CREATED", "STATUS_CHANGED", "CaseStore", "OutboxEvent"]

CREATED = "case.created"
STATUS_CHANGED = "case.status_changed"
_CREATE_TRIES = 8
_DONE = tuple(sorted(DONE_STATUSES))


@dataclass(frozen=True)
class OutboxEvent:
    """One webhook event for one receiver, as claimed for sending."""

    id: int
    event_id: str
    url: str
    kind: str
    payload: str
    attempts: int  # including this one
    created_at: datetime


def _case(row: CaseRow, linkedids: Sequence[str] = ()) -> Case:
    return Case(
        number=row.number,
        pin=row.pin,
        category=row.category,
        caller_number=row.caller_number,
        language=row.language,
        description=row.description,
        district=row.district,
        location=row.location,
        department=row.department,
        status=row.status,
        reason=row.reason,
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        due_at=row.due_at,
        closed_at=row.closed_at,
        voice_note=row.voice_note,
        voice_note_seconds=row.voice_note_seconds,
        version=row.version,
        linkedids=tuple(linkedids),
    )


def _history_row(case_id: int, entry: HistoryEntry) -> CaseHistoryRow:
    return CaseHistoryRow(
        case_id=case_id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        old=entry.old,
        new=entry.new,
        note=entry.note,
    )


def _lock_key(text_: str) -> int:
    return zlib.crc32(("case_lookups:" + text_).encode()) - 2**31  # a signed 32-bit advisory lock key


class CaseStore:
    """Cases in SQLite or PostgreSQL, on the service's one :class:`~storage.engine.Database`.

    Call ``storage.engine.upgrade(url)`` before using it. ``notify`` (the webhook receivers' URLs) is given
    to each change: an event row is written for each URL in the change's transaction.
    """

    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self.dialect = self.db.dialect

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self.db.writers.begin() as session:
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self.db.readers() as session:
            yield session

    # -- webhook events -------------------------------------------------------------------------------------

    @staticmethod
    def _events(session: AsyncSession, kind: str, case: Case, at: datetime, notify: Sequence[str]) -> None:
        if not notify:
            return
        event_id = uuid.uuid4().hex
        payload = webhook_body(kind, event_id, case, at)
        for url in dict.fromkeys(notify):
            session.add(
                CaseOutboxRow(
                    event_id=event_id,
                    url=url,
                    kind=kind,
                    payload=payload,
                    created_at=at,
                    attempts=0,
                    next_attempt_at=at,
                )
            )

    # -- cases ----------------------------------------------------------------------------------------------

    async def create(
        self,
        make: Callable[[], Case],
        *,
        linkedid: str | None = None,
        notify: Sequence[str] = (),
    ) -> Case:
        """Store the case ``make()`` returns (a new number each try), its "created" history row, the call it
        was opened on (``linkedid``) and its ``case.created`` events, in one transaction."""
        for attempt in range(_CREATE_TRIES):
            case = make()
            try:
                async with self._write() as session:
                    row = CaseRow(**_row_fields(case))
                    session.add(row)
                    await session.flush()  # a number taken raises here
                    session.add(
                        _history_row(
                            row.id, HistoryEntry(case.created_at, case.created_by, "created", None, case.status, None)
                        )
                    )
                    if linkedid:
                        session.add(CaseCallRow(case_id=row.id, linkedid=linkedid, linked_at=case.created_at))
                    self._events(session, CREATED, case, case.created_at, notify)
                return replace(case, linkedids=(linkedid,)) if linkedid else case
            except IntegrityError:
                if attempt == _CREATE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def get(self, number: str) -> Case:
        """The case with ``number`` (``CaseNotFound`` when there is none)."""
        async with self._read() as session:
            row = await session.scalar(select(CaseRow).where(CaseRow.number == number))
            if row is None:
                raise CaseNotFound(number)
            return (await self._with_calls(session, [row]))[0]

    async def find(self, number: str) -> Case | None:
        try:
            return await self.get(number)
        except CaseNotFound:
            return None

    @staticmethod
    async def _with_calls(session: AsyncSession, rows: Sequence[CaseRow]) -> list[Case]:
        if not rows:
            return []
        calls: dict[int, list[str]] = {row.id: [] for row in rows}
        query = (
            select(CaseCallRow.case_id, CaseCallRow.linkedid)
            .where(CaseCallRow.case_id.in_(list(calls)))
            .order_by(CaseCallRow.linked_at, CaseCallRow.id)
        )
        for case_id, linkedid in (await session.execute(query)).all():
            calls[case_id].append(linkedid)
        return [_case(row, calls[row.id]) for row in rows]

    async def list(
        self,
        *,
        category: str | None = None,
        department: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
        now: datetime | None = None,
        caller_number: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """Cases, newest first, filtered; ``overdue`` (True or False) is judged against ``now``."""
        query = select(CaseRow)
        if category is not None:
            query = query.where(CaseRow.category == category)
        if department is not None:
            query = query.where(CaseRow.department == department)
        if status is not None:
            query = query.where(CaseRow.status == status)
        if caller_number is not None:
            query = query.where(CaseRow.caller_number == caller_number)
        if overdue is not None:
            if now is None:
                raise ValueError("overdue needs now")
            late = and_(CaseRow.status.not_in(_DONE), CaseRow.due_at < now)
            query = query.where(late if overdue else ~late)
        query = query.order_by(CaseRow.created_at.desc(), CaseRow.id.desc()).limit(limit).offset(offset)
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
            return await self._with_calls(session, rows)

    async def history(self, number: str) -> builtins.list[HistoryEntry]:
        """The case's history, oldest first (``CaseNotFound`` when there is no such case)."""
        async with self._read() as session:
            case_id = await session.scalar(select(CaseRow.id).where(CaseRow.number == number))
            if case_id is None:
                raise CaseNotFound(number)
            rows = (
                await session.scalars(
                    select(CaseHistoryRow)
                    .where(CaseHistoryRow.case_id == case_id)
                    .order_by(CaseHistoryRow.at, CaseHistoryRow.id)
                )
            ).all()
        return [HistoryEntry(r.at, r.actor, r.action, r.old, r.new, r.note) for r in rows]

    async def change(
        self,
        number: str,
        version: int,
        plan: Callable[[Case], Change],
        *,
        notify: Sequence[str] = (),
    ) -> Case:
        """Apply ``plan(current)`` if the case is still at ``version``: the case, its history rows and (when
        its status changed) its ``case.status_changed`` events, in one transaction.

        Raises ``CaseNotFound``, ``StaleCase`` (nothing changed) or what ``plan`` raises (``CaseError``)."""
        async with self._write() as session:
            row = await session.scalar(select(CaseRow).where(CaseRow.number == number).with_for_update())
            if row is None:
                raise CaseNotFound(number)
            current = (await self._with_calls(session, [row]))[0]
            if current.version != version:
                raise StaleCase(current)
            change = plan(current)
            new = change.case
            done = await session.execute(
                update(CaseRow)
                .where(CaseRow.id == row.id, CaseRow.version == version)
                .values(
                    status=new.status,
                    reason=new.reason,
                    department=new.department,
                    updated_at=new.updated_at,
                    closed_at=new.closed_at,
                    version=new.version,
                )
                .returning(CaseRow.id),
                execution_options={"synchronize_session": False},
            )
            if (
                done.scalar_one_or_none() is None
            ):  # pragma: no cover  (the row lock / write lock makes this unreachable)
                raise StaleCase(current)
            for entry in change.history:
                session.add(_history_row(row.id, entry))
            if change.status_changed:
                self._events(session, STATUS_CHANGED, new, new.updated_at, notify)
        return new

    async def link_call(self, number: str, linkedid: str, actor: str, now: datetime) -> tuple[Case, bool]:
        """Link the call ``linkedid`` to the case (once: a second link is a no-op). The case, and whether
        the call was new to it (then a "call" history row was written)."""
        async with self._write() as session:
            row = await session.scalar(select(CaseRow).where(CaseRow.number == number))
            if row is None:
                raise CaseNotFound(number)
            inserted = await session.execute(
                self.db.insert(CaseCallRow)
                .values(case_id=row.id, linkedid=linkedid, linked_at=now)
                .on_conflict_do_nothing(index_elements=["case_id", "linkedid"])
                .returning(CaseCallRow.id)
            )
            added = inserted.scalar_one_or_none() is not None
            if added:
                session.add(_history_row(row.id, HistoryEntry(now, actor, "call", None, linkedid, None)))
                await session.flush()
            case = (await self._with_calls(session, [row]))[0]
        return case, added

    async def opened_on_call(self, linkedid: str) -> builtins.list[Case]:
        """The cases opened during the call ``linkedid`` (linked at their creation), oldest first.

        A call linked at creation leaves no "call" history row; one linked later (``link_call``) does."""
        linked_later = (
            select(CaseHistoryRow.id)
            .where(
                CaseHistoryRow.case_id == CaseRow.id,
                CaseHistoryRow.action == "call",
                CaseHistoryRow.new == linkedid,
            )
            .exists()
        )
        query = (
            select(CaseRow)
            .join(CaseCallRow, CaseCallRow.case_id == CaseRow.id)
            .where(CaseCallRow.linkedid == linkedid, ~linked_later)
            .order_by(CaseRow.created_at, CaseRow.id)
        )
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
            return await self._with_calls(session, rows)

    # -- lookups by phone -----------------------------------------------------------------------------------

    async def lookup(
        self,
        number: str,
        *,
        caller_number: str,
        now: datetime,
        limit: int,
        window: timedelta = timedelta(hours=1),
        allowed: Callable[[Case], bool] = lambda case: True,
    ) -> tuple[bool, Case | None]:
        """One lookup by ``caller_number``: ``(False, None)`` when it already made ``limit`` lookups in the
        last ``window`` (nothing counted), else ``(True, the case or None)`` (None also when ``allowed``
        refuses it), counted in ``case_lookups``. Check and count are one transaction."""
        async with self._write() as session:
            if self.dialect == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(caller_number)})
            made = await session.scalar(
                select(func.count())
                .select_from(CaseLookupRow)
                .where(CaseLookupRow.caller_number == caller_number, CaseLookupRow.at > now - window)
            )
            if (made or 0) >= limit:
                return False, None
            row = await session.scalar(select(CaseRow).where(CaseRow.number == number))
            case = None if row is None else (await self._with_calls(session, [row]))[0]
            if case is not None and not allowed(case):
                case = None
            session.add(CaseLookupRow(caller_number=caller_number, at=now, found=case is not None))
        return True, case

    async def lookups(self, caller_number: str, since: datetime) -> int:
        """How many lookups ``caller_number`` made since ``since``."""
        async with self._read() as session:
            made = await session.scalar(
                select(func.count())
                .select_from(CaseLookupRow)
                .where(CaseLookupRow.caller_number == caller_number, CaseLookupRow.at > since)
            )
        return int(made or 0)

    # -- the outbox -----------------------------------------------------------------------------------------

    async def claim_outbox(self, now: datetime, *, lease: timedelta, limit: int = 20) -> builtins.list[OutboxEvent]:
        """Due, undelivered events (oldest first), claimed for ``lease``: their attempt is counted and their
        next attempt pushed to ``now + lease`` in this transaction, so nobody else sends them meanwhile."""
        candidates = (
            select(CaseOutboxRow)
            .where(CaseOutboxRow.delivered_at.is_(None), CaseOutboxRow.next_attempt_at <= now)
            .order_by(CaseOutboxRow.next_attempt_at, CaseOutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite: BEGIN IMMEDIATE already holds the lock
        )
        async with self._write() as session:
            rows = (await session.scalars(candidates)).all()
            if not rows:
                return []
            claimed = (
                await session.scalars(
                    update(CaseOutboxRow)
                    .where(
                        CaseOutboxRow.id.in_([row.id for row in rows]),
                        CaseOutboxRow.delivered_at.is_(None),
                        CaseOutboxRow.next_attempt_at <= now,
                    )
                    .values(attempts=CaseOutboxRow.attempts + 1, next_attempt_at=now + lease)
                    .returning(CaseOutboxRow.id),
                    execution_options={"synchronize_session": False},
                )
            ).all()
            chosen = set(claimed)
            return [
                OutboxEvent(r.id, r.event_id, r.url, r.kind, r.payload, r.attempts + 1, r.created_at)
                for r in rows
                if r.id in chosen
            ]

    async def delivered(self, outbox_id: int, now: datetime) -> None:
        async with self._write() as session:
            await session.execute(
                update(CaseOutboxRow).where(CaseOutboxRow.id == outbox_id).values(delivered_at=now, last_error=None)
            )

    async def failed(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        async with self._write() as session:
            await session.execute(
                update(CaseOutboxRow)
                .where(CaseOutboxRow.id == outbox_id, CaseOutboxRow.delivered_at.is_(None))
                .values(next_attempt_at=retry_at, last_error=error[:500])
            )

    async def outbox_backlog(self) -> int:
        """How many outbox rows wait for delivery (the webhook backlog of /metrics)."""
        query = select(func.count()).select_from(CaseOutboxRow).where(CaseOutboxRow.delivered_at.is_(None))
        async with self._read() as session:
            return int((await session.scalar(query)) or 0)

    async def outbox(self, *, undelivered: bool = False) -> builtins.list[dict[str, Any]]:
        """The outbox rows (for checks and the console), oldest first."""
        query = select(CaseOutboxRow).order_by(CaseOutboxRow.id)
        if undelivered:
            query = query.where(CaseOutboxRow.delivered_at.is_(None))
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [
            {
                c: getattr(r, c)
                for c in (
                    "id",
                    "event_id",
                    "url",
                    "kind",
                    "payload",
                    "attempts",
                    "next_attempt_at",
                    "delivered_at",
                    "last_error",
                )
            }
            for r in rows
        ]


def _row_fields(case: Case) -> dict[str, Any]:
    return {name: getattr(case, name) for name in _COLUMNS}


_COLUMNS: tuple[str, ...] = (
    "number", "pin", "category", "caller_number", "language", "description", "district", "location",
    "department", "status", "reason", "source", "created_by", "created_at", "updated_at", "due_at",
    "closed_at", "voice_note", "voice_note_seconds", "version",
)  # fmt: skip
