"""Callback requests and their attempts in the database, claimed exactly once.

Rows: callbacks/rows.py; schema: the migrations in storage/migrations (0004).

The guarantees, and how they are kept:

* **Nothing is lost in a restart**: every request is a row; the scheduler keeps no state of its own.
* **One open request per number**: the partial unique index ``ux_callback_requests_open_number``
  (``WHERE status IN ('open', 'dialing')``). ``add`` merges a second request for the number into
  the open one (earlier place, higher priority), also when two adds race (``IntegrityError`` → merge).
* **No request is dialled by two instances, nor twice after a restart**: ``claim`` turns a request
  from OPEN to DIALING and inserts an attempt row in ONE transaction. On PostgreSQL the candidates
  are locked with ``SELECT … FOR UPDATE SKIP LOCKED`` (a second instance skips them, it does not
  wait), and the UPDATE re-checks ``status = 'open'``. On SQLite every writing transaction starts with
  ``BEGIN IMMEDIATE`` (the database's single write lock is taken before the first read), so two
  processes on one file are serialised. A request that is not OPEN (DIALING, CONNECTED, …) is never
  claimed.
* **Write-ahead dialling**: ``mark_dialing`` stamps ``dialed_at`` BEFORE the Originate is sent and
  answers False when the attempt may not be dialled (closed, or its request cancelled meanwhile).
  An attempt with ``dialed_at`` and no outcome may have rung the caller: ``recover`` closes it as
  UNKNOWN, counts it, and schedules the next attempt in the future; it is never re-sent.
* **The hourly cap on dials holds across instances**: ``mark_dialing(..., max_dials_per_hour=N)``
  counts the attempts dialled in the last hour (every instance) in the same writing transaction
  that stamps ``dialed_at``; on PostgreSQL the check is serialised by a transaction-scoped advisory
  lock (``DIAL_CAP_LOCK``), on SQLite by ``BEGIN IMMEDIATE``.
* **A request is served only when a person talks to the caller**: a callback the caller answered
  stays DIALING, its attempt open with the callback call's ``linkedid`` (``answered``), until the
  scheduler ``finish``es it as CONNECTED (a person talked) or ABANDONED (retried under the policy).

Times are aware UTC datetimes, in the API (like ``callbacks.model``) and in the columns (``UTCDateTime``).
Each method is one session and one transaction. Call ``cdr.db.upgrade(url)`` before opening a store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callbacks.model import (
    OPEN_STATUSES,
    AttemptOutcome,
    CallbackAttempt,
    CallbackRequest,
    Origin,
    RequestStatus,
)
from callbacks.rows import CallbackAttemptRow, CallbackRefusalRow, CallbackRequestRow
from storage.engine import Database

__all__ = ["DEFAULT_UNKNOWN_RETRY_SECONDS", "DIAL_CAP_LOCK", "HOUR", "NOT_DIALLED", "CallbackStore", "NextState"]

# What ``recover`` writes on an attempt that was claimed but never dialled (dialed_at stays NULL):
# the caller's phone never rang, so it does not count (the request's ``attempts`` is unchanged).
NOT_DIALLED = AttemptOutcome.FAILED

# ``recover``: how long after a restart an attempt of unknown outcome is retried, when no policy is given
# (or the policy would retry at once).
DEFAULT_UNKNOWN_RETRY_SECONDS = 120.0

# The pure policy's "state of the request after an attempt ended with this outcome at this time".
NextState = Callable[[CallbackRequest, AttemptOutcome, datetime], CallbackRequest]

_OPEN_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))

#: The window of the hourly cap on callback dials (seconds), as ``callbacks.policy.HOUR``.
HOUR = timedelta(hours=1)
#: PostgreSQL advisory lock (transaction scope) that serialises the hourly-cap check of every instance.
DIAL_CAP_LOCK = 0x151CB0
_ADD_RETRIES = 5


# -- rows and the model -----------------------------------------------------------------------------


def _request(row: CallbackRequestRow) -> CallbackRequest:
    return CallbackRequest(
        id=row.id,
        number=row.number,
        language=row.language,
        topic=row.topic,
        specialty=row.specialty,
        queue=row.queue,
        origin=Origin(row.origin),
        original_linkedid=row.original_linkedid,
        place_at=row.place_at,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=RequestStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        priority=row.priority,
    )


def _attempt(row: CallbackAttemptRow) -> CallbackAttempt:
    return CallbackAttempt(
        id=row.id,
        request_id=row.request_id,
        claimed_at=row.claimed_at,
        claimed_by=row.claimed_by,
        dialed_at=row.dialed_at,
        ended_at=row.ended_at,
        outcome=None if row.outcome is None else AttemptOutcome(row.outcome),
        linkedid=row.linkedid,
    )


def _new_row(request: CallbackRequest, now: datetime) -> CallbackRequestRow:
    return CallbackRequestRow(
        number=request.number,
        language=request.language,
        topic=request.topic,
        specialty=request.specialty,
        queue=request.queue,
        origin=Origin(request.origin).value,
        original_linkedid=request.original_linkedid,
        place_at=request.place_at,
        created_at=request.created_at,
        expires_at=request.expires_at,
        status=RequestStatus(request.status).value,
        attempts=request.attempts,
        next_attempt_at=request.next_attempt_at,
        priority=request.priority,
        updated_at=now,
    )


# -- store ------------------------------------------------------------------------------------------


class CallbackStore:
    """Callback requests in SQLite or PostgreSQL, through SQLAlchemy's asyncio extension.

    Several service instances may share one database; each passes its own stable ``instance`` name
    to ``claim`` and ``recover`` (stable across restarts: ``recover`` finds that instance's attempts).
    Use ``await store.close()`` (or ``async with CallbackStore(url) as store``) when done.
    """

    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self._dialect = self.db.dialect
        self._readers = self.db.readers
        self._writers = self.db.writers

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """One writing transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        async with self._writers.begin() as session:
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._readers() as session:
            yield session

    # -- requests -----------------------------------------------------------------------------------

    async def add(self, request: CallbackRequest) -> CallbackRequest:
        """Store a new OPEN request and return it with its id.

        If the number already has an open request (OPEN or DIALING), no second one is stored: the
        existing one is kept, moved to the earlier ``place_at``, the higher ``priority`` and the later
        ``expires_at``, and returned (its id, ``created_at`` and ``original_linkedid`` are the old
        ones, which is how a caller tells a merge from a new request). Safe against concurrent adds.
        """
        if request.status is not RequestStatus.OPEN:
            raise ValueError(f"a new callback request must be open, not {request.status!r}")
        for attempt in range(_ADD_RETRIES):
            try:
                async with self._write() as session:
                    now = datetime.now(UTC)
                    existing = await session.scalar(self._open_for_number_query(request.number).with_for_update())
                    if existing is not None:
                        existing.place_at = min(existing.place_at, request.place_at)
                        existing.priority = max(existing.priority, request.priority)
                        existing.expires_at = max(existing.expires_at, request.expires_at)
                        existing.updated_at = now
                        await session.flush()
                        return _request(existing)
                    row = _new_row(request, now)
                    session.add(row)
                    await session.flush()  # INSERT now: a concurrent open request raises here
                    return _request(row)
            except IntegrityError:
                # Another instance inserted an open request for the number after our SELECT; it is
                # committed now (the unique index made us wait for it): merge into it.
                if attempt == _ADD_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _open_for_number_query(number: str) -> Any:
        return select(CallbackRequestRow).where(
            CallbackRequestRow.number == number, CallbackRequestRow.status.in_(_OPEN_VALUES)
        )

    async def get(self, request_id: int) -> CallbackRequest | None:
        async with self._read() as session:
            row = await session.get(CallbackRequestRow, request_id)
        return None if row is None else _request(row)

    async def open_for_number(self, number: str) -> CallbackRequest | None:
        """The number's open request (OPEN or DIALING), if it has one."""
        async with self._read() as session:
            row = await session.scalar(self._open_for_number_query(number))
        return None if row is None else _request(row)

    async def open_requests(self) -> list[CallbackRequest]:
        """Every OPEN or DIALING request: highest priority first, then by place in the queue."""
        query = (
            select(CallbackRequestRow)
            .where(CallbackRequestRow.status.in_(_OPEN_VALUES))
            .order_by(CallbackRequestRow.priority.desc(), CallbackRequestRow.place_at, CallbackRequestRow.id)
        )
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [_request(row) for row in rows]

    async def recent_request_times(self, number: str, since: datetime) -> list[datetime]:
        """``created_at`` of the number's requests (any status) created at or after ``since``, oldest first.

        A request merged into an open one by ``add`` was not stored and is not counted.
        """
        query = (
            select(CallbackRequestRow.created_at)
            .where(CallbackRequestRow.number == number, CallbackRequestRow.created_at >= since)
            .order_by(CallbackRequestRow.created_at)
        )
        async with self._read() as session:
            times = (await session.scalars(query)).all()
        return list(times)

    async def attempts(self, request_id: int) -> list[CallbackAttempt]:
        """The request's attempts, oldest first."""
        query = (
            select(CallbackAttemptRow)
            .where(CallbackAttemptRow.request_id == request_id)
            .order_by(CallbackAttemptRow.claimed_at, CallbackAttemptRow.id)
        )
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [_attempt(row) for row in rows]

    async def get_attempt(self, attempt_id: int) -> tuple[CallbackRequest, CallbackAttempt] | None:
        """An attempt and its request's current state."""
        async with self._read() as session:
            attempt = await session.get(CallbackAttemptRow, attempt_id)
            if attempt is None:
                return None
            request = await session.get(CallbackRequestRow, attempt.request_id)
            assert request is not None
        return _request(request), _attempt(attempt)

    # -- claiming and dialling ----------------------------------------------------------------------

    async def claim(
        self,
        request_ids: Sequence[int],
        instance: str,
        now: datetime,
        *,
        limit: int | None = None,
    ) -> list[tuple[CallbackRequest, CallbackAttempt]]:
        """Claim the given requests that are still OPEN and due, for ``instance``, in one transaction.

        ``request_ids`` is the caller's preferred order; at most ``limit`` are claimed (all when None),
        the first claimable ones in that order. A request is due when ``next_attempt_at <= now`` and
        not expired (``expires_at > now``). Each claimed request becomes DIALING and gets a new attempt
        (``claimed_at=now``, ``claimed_by=instance``); both come back, with ids, in the preferred order.
        Requests locked by another instance's claim at this moment are skipped, not waited for.
        """
        ids = list(dict.fromkeys(request_ids))
        if not ids or (limit is not None and limit <= 0):
            return []
        preference = case({request_id: rank for rank, request_id in enumerate(ids)}, value=CallbackRequestRow.id)
        candidates = (
            select(CallbackRequestRow)
            .where(
                CallbackRequestRow.id.in_(ids),
                CallbackRequestRow.status == RequestStatus.OPEN.value,
                CallbackRequestRow.next_attempt_at <= now,
                CallbackRequestRow.expires_at > now,
            )
            .order_by(preference)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite: BEGIN IMMEDIATE already holds the lock
        )
        claimed: list[tuple[CallbackRequest, CallbackAttempt]] = []
        async with self._write() as session:
            rows = (await session.scalars(candidates)).all()
            if not rows:
                return []
            # Re-checking status in the UPDATE keeps this correct even without the row locks.
            updated = set(
                (
                    await session.scalars(
                        update(CallbackRequestRow)
                        .where(
                            CallbackRequestRow.id.in_([row.id for row in rows]),
                            CallbackRequestRow.status == RequestStatus.OPEN.value,
                        )
                        .values(status=RequestStatus.DIALING.value, updated_at=now)
                        .returning(CallbackRequestRow.id),
                        execution_options={"synchronize_session": False},
                    )
                ).all()
            )
            attempts: list[tuple[CallbackRequestRow, CallbackAttemptRow]] = []
            for row in rows:
                if row.id not in updated:
                    continue
                attempt = CallbackAttemptRow(request_id=row.id, claimed_at=now, claimed_by=instance)
                session.add(attempt)
                attempts.append((row, attempt))
            await session.flush()
            for row, attempt in attempts:
                claimed.append((replace(_request(row), status=RequestStatus.DIALING), _attempt(attempt)))
        return claimed

    async def mark_dialing(self, attempt_id: int, now: datetime, *, max_dials_per_hour: int | None = None) -> bool:
        """Write ahead that the attempt is about to be dialled: call this BEFORE sending the Originate.

        True: ``dialed_at`` is now set; send the Originate (once; never re-send it, e.g. after an AMI
        reconnect: finish the attempt instead). False: do NOT dial: the attempt is unknown, was
        already marked, is closed, or its request is no longer DIALING (cancelled meanwhile; the
        attempt is then closed as not dialled).

        ``max_dials_per_hour``: the global cap. When ``max_dials_per_hour`` attempts (every instance,
        every number) were dialled in the hour before ``now`` (``dialed_at > now - HOUR``, as
        ``callbacks.policy.dials_left`` counts), the attempt is closed as not dialled, its request goes
        back to OPEN with its ``attempts`` and ``next_attempt_at`` unchanged, and False is returned.
        """
        async with self._write() as session:
            if max_dials_per_hour is not None and self._dialect == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DIAL_CAP_LOCK})
            attempt = await session.get(CallbackAttemptRow, attempt_id, with_for_update=True)
            if attempt is None or attempt.dialed_at is not None or attempt.outcome is not None:
                return False
            request = await session.get(CallbackRequestRow, attempt.request_id, with_for_update=True)
            assert request is not None
            if request.status != RequestStatus.DIALING.value:
                attempt.ended_at = now
                attempt.outcome = NOT_DIALLED.value
                return False
            if max_dials_per_hour is not None:
                dialled = await session.scalar(
                    select(func.count())
                    .select_from(CallbackAttemptRow)
                    .where(CallbackAttemptRow.dialed_at > now - HOUR)
                )
                if (dialled or 0) >= max_dials_per_hour:
                    attempt.ended_at = now
                    attempt.outcome = NOT_DIALLED.value
                    request.status = RequestStatus.OPEN.value
                    request.updated_at = now
                    return False
            attempt.dialed_at = now
        return True

    async def dial_times(self, since: datetime) -> list[datetime]:
        """When each attempt dialled after ``since`` was dialled (``dialed_at``), oldest first: every
        number and every service instance together (the hourly cap counts them all)."""
        query = (
            select(CallbackAttemptRow.dialed_at)
            .where(CallbackAttemptRow.dialed_at > since)
            .order_by(CallbackAttemptRow.dialed_at)
        )
        async with self._read() as session:
            times = (await session.scalars(query)).all()
        return [t for t in times if t is not None]

    async def answered(self, attempt_id: int, linkedid: str) -> bool:
        """The caller answered the attempt's call (``linkedid``: the callback call's); they now wait
        in the queue for a person. The attempt stays open (no outcome) and its request DIALING, until
        ``finish`` says whether a person talked to them. False when the attempt is unknown or closed."""
        async with self._write() as session:
            attempt = await session.get(CallbackAttemptRow, attempt_id, with_for_update=True)
            if attempt is None or attempt.outcome is not None:
                return False
            attempt.linkedid = linkedid
        return True

    async def open_attempt_of_call(self, linkedid: str) -> tuple[CallbackRequest, CallbackAttempt] | None:
        """The open attempt (no outcome yet) whose callback call is ``linkedid``, with its request."""
        query = select(CallbackAttemptRow).where(
            CallbackAttemptRow.linkedid == linkedid, CallbackAttemptRow.outcome.is_(None)
        )
        async with self._read() as session:
            attempt = await session.scalar(query.order_by(CallbackAttemptRow.id.desc()).limit(1))
            if attempt is None:
                return None
            request = await session.get(CallbackRequestRow, attempt.request_id)
            assert request is not None
        return _request(request), _attempt(attempt)

    async def served_late(self, linkedid: str, now: datetime) -> CallbackRequest | None:
        """A person talked to the caller of callback call ``linkedid`` after its attempt was closed
        UNKNOWN (the service restarted while the caller waited): the attempt becomes CONNECTED and its
        request, while still open (OPEN, or DIALING again), CONNECTED, so the served caller is not
        called again. Returns the request's stored state; None when no such attempt exists."""
        query = select(CallbackAttemptRow).where(
            CallbackAttemptRow.linkedid == linkedid, CallbackAttemptRow.outcome == AttemptOutcome.UNKNOWN.value
        )
        async with self._write() as session:
            attempt = await session.scalar(query.order_by(CallbackAttemptRow.id.desc()).limit(1).with_for_update())
            if attempt is None:
                return None
            request = await session.get(CallbackRequestRow, attempt.request_id, with_for_update=True)
            assert request is not None
            attempt.outcome = AttemptOutcome.CONNECTED.value
            if request.status in _OPEN_VALUES:
                request.status = RequestStatus.CONNECTED.value
                request.updated_at = now
            await session.flush()
            return _request(request)

    async def in_flight(self) -> list[tuple[CallbackRequest, CallbackAttempt]]:
        """Every open attempt (no outcome yet) of every instance, with its request, oldest first:
        claimed, ringing the caller, or answered and waiting for a person (``linkedid`` set)."""
        query = (
            select(CallbackAttemptRow, CallbackRequestRow)
            .join(CallbackRequestRow, CallbackRequestRow.id == CallbackAttemptRow.request_id)
            .where(CallbackAttemptRow.outcome.is_(None))
            .order_by(CallbackAttemptRow.id)
        )
        async with self._read() as session:
            rows = (await session.execute(query)).all()
        return [(_request(request), _attempt(attempt)) for attempt, request in rows]

    async def finish(
        self,
        attempt_id: int,
        outcome: AttemptOutcome,
        now: datetime,
        *,
        linkedid: str | None = None,
        next_request_state: CallbackRequest,
    ) -> CallbackRequest:
        """Record the attempt's outcome (and the callback call's ``linkedid``) and the request's new state.

        ``next_request_state`` is the policy's verdict; its ``status``, ``attempts`` and
        ``next_attempt_at`` are stored, but only while the request is still DIALING: a request
        cancelled or expired meanwhile stays so. An attempt that already has an outcome is left as
        it is (finishing twice changes nothing). Returns the request's stored state.
        Raises ``LookupError`` for an unknown attempt, ``ValueError`` when the state is another request's.
        """
        async with self._write() as session:
            attempt = await session.get(CallbackAttemptRow, attempt_id, with_for_update=True)
            if attempt is None:
                raise LookupError(f"no callback attempt {attempt_id}")
            if next_request_state.id != attempt.request_id:
                raise ValueError(
                    f"attempt {attempt_id} belongs to request {attempt.request_id}, not {next_request_state.id}"
                )
            request = await session.get(CallbackRequestRow, attempt.request_id, with_for_update=True)
            assert request is not None
            if attempt.outcome is None:
                attempt.outcome = AttemptOutcome(outcome).value
                attempt.ended_at = now
                if linkedid is not None:
                    attempt.linkedid = linkedid
                if request.status == RequestStatus.DIALING.value:
                    request.status = RequestStatus(next_request_state.status).value
                    request.attempts = next_request_state.attempts
                    request.next_attempt_at = next_request_state.next_attempt_at
                    request.updated_at = now
            await session.flush()
            return _request(request)

    async def recover(
        self,
        instance: str | None,
        now: datetime,
        *,
        next_state: NextState | None = None,
        retry_after_seconds: float = DEFAULT_UNKNOWN_RETRY_SECONDS,
    ) -> list[tuple[CallbackRequest, CallbackAttempt]]:
        """After a crash: close the attempts ``instance`` left open (``None``: every instance's).

        Call it at start-up, before claiming. Pass this instance's own name when several instances
        share the database: another, running instance's open attempts may be ringing right now.

        * claimed, never dialled (``dialed_at`` NULL): the attempt is closed with ``NOT_DIALLED``
          (FAILED, ``dialed_at`` NULL) and does not count; the request goes back to OPEN with its
          ``attempts`` and ``next_attempt_at`` unchanged, so it is claimed (once) again.
        * dialled, no outcome: the caller's phone may have rung. The attempt is closed as UNKNOWN and
          counted: the request's new state is ``next_state(request, UNKNOWN, now)`` (the pure
          policy, which may also give up: FAILED), by default OPEN, ``attempts + 1``, retry in
          ``retry_after_seconds``. Never re-dialled at once: ``attempts`` is at least one more, and
          an OPEN state the policy made due at or before ``now`` is moved to ``now +
          retry_after_seconds`` (a later time from the policy is kept as it is).

        A request that is no longer DIALING (cancelled meanwhile) keeps its status; its attempt is
        still closed. Returns the closed attempts with their requests' new states.
        """
        query = (
            select(CallbackAttemptRow)
            .where(CallbackAttemptRow.outcome.is_(None))
            .order_by(CallbackAttemptRow.id)
            .with_for_update()
        )
        if instance is not None:
            query = query.where(CallbackAttemptRow.claimed_by == instance)
        recovered: list[tuple[CallbackRequest, CallbackAttempt]] = []
        async with self._write() as session:
            for attempt in (await session.scalars(query)).all():
                request = await session.get(CallbackRequestRow, attempt.request_id, with_for_update=True)
                assert request is not None
                attempt.ended_at = now
                dialling = request.status == RequestStatus.DIALING.value
                if attempt.dialed_at is None:
                    attempt.outcome = NOT_DIALLED.value
                    if dialling:
                        request.status = RequestStatus.OPEN.value
                        request.updated_at = now
                else:
                    attempt.outcome = AttemptOutcome.UNKNOWN.value
                    if dialling:
                        self._apply_unknown(request, now, next_state, retry_after_seconds)
                await session.flush()
                recovered.append((_request(request), _attempt(attempt)))
        return recovered

    @staticmethod
    def _apply_unknown(
        request: CallbackRequestRow, now: datetime, next_state: NextState | None, retry_after_seconds: float
    ) -> None:
        current = _request(request)
        retry = timedelta(seconds=retry_after_seconds)
        if next_state is None:
            new = replace(
                current,
                status=RequestStatus.OPEN,
                attempts=current.attempts + 1,
                next_attempt_at=now + retry,
            )
        else:
            new = next_state(current, AttemptOutcome.UNKNOWN, now)
        next_attempt_at = new.next_attempt_at
        if new.status is RequestStatus.OPEN and next_attempt_at <= now:
            next_attempt_at = now + retry
        if new.status is RequestStatus.DIALING:  # the policy may not leave it claimed
            new = replace(new, status=RequestStatus.OPEN)
        request.status = RequestStatus(new.status).value
        request.attempts = max(new.attempts, current.attempts + 1)
        request.next_attempt_at = next_attempt_at
        request.updated_at = now

    # -- supervisor and housekeeping ----------------------------------------------------------------

    async def cancel_open_for_number(self, number: str, reason_status: RequestStatus = RequestStatus.CANCELLED) -> int:
        """Close the number's open request (OPEN or DIALING) with ``reason_status``; how many (0 or 1).

        For a caller who got through on their own. A DIALING request's call, if ringing, is not
        stopped by this; its ``finish`` then records the outcome but leaves the request closed.
        """
        if reason_status in OPEN_STATUSES:
            raise ValueError(f"cannot close a request with the open status {reason_status!r}")
        async with self._write() as session:
            ids = (
                await session.scalars(
                    update(CallbackRequestRow)
                    .where(CallbackRequestRow.number == number, CallbackRequestRow.status.in_(_OPEN_VALUES))
                    .values(status=RequestStatus(reason_status).value, updated_at=datetime.now(UTC))
                    .returning(CallbackRequestRow.id),
                    execution_options={"synchronize_session": False},
                )
            ).all()
        return len(ids)

    async def add_refusal(self, number: str, reason: str, original_linkedid: str | None, now: datetime) -> None:
        """Keep a record of a refused callback number (toll-fraud attempts show up here)."""
        async with self._write() as session:
            session.add(CallbackRefusalRow(number=number[:64], reason=reason[:32], original_linkedid=original_linkedid,
                                           refused_at=now))  # fmt: skip

    async def refusals(self) -> list[tuple[str, str, str | None]]:
        async with self._read() as session:
            rows = (await session.scalars(select(CallbackRefusalRow).order_by(CallbackRefusalRow.id))).all()
        return [(row.number, row.reason, row.original_linkedid) for row in rows]

    async def all_requests(self) -> list[CallbackRequest]:
        """Every request, open or closed, oldest first (for the console and the tests)."""
        async with self._read() as session:
            rows = (await session.scalars(select(CallbackRequestRow).order_by(CallbackRequestRow.id))).all()
        return [_request(row) for row in rows]

    async def cancel(self, request_id: int) -> bool:
        """Cancel an open (OPEN or DIALING) request; False if it is unknown or already closed."""
        async with self._write() as session:
            done = await session.scalar(
                update(CallbackRequestRow)
                .where(CallbackRequestRow.id == request_id, CallbackRequestRow.status.in_(_OPEN_VALUES))
                .values(status=RequestStatus.CANCELLED.value, updated_at=datetime.now(UTC))
                .returning(CallbackRequestRow.id),
                execution_options={"synchronize_session": False},
            )
        return done is not None

    async def reschedule(self, request_id: int, at: datetime) -> bool:
        """Move an OPEN request's next attempt to ``at``; False if it is unknown or not OPEN (e.g. DIALING)."""
        async with self._write() as session:
            done = await session.scalar(
                update(CallbackRequestRow)
                .where(CallbackRequestRow.id == request_id, CallbackRequestRow.status == RequestStatus.OPEN.value)
                .values(next_attempt_at=at, updated_at=datetime.now(UTC))
                .returning(CallbackRequestRow.id),
                execution_options={"synchronize_session": False},
            )
        return done is not None

    async def expire(self, now: datetime) -> int:
        """Mark OPEN requests with ``expires_at <= now`` EXPIRED; how many. DIALING ones are left to ``finish``."""
        async with self._write() as session:
            ids = (
                await session.scalars(
                    update(CallbackRequestRow)
                    .where(
                        CallbackRequestRow.status == RequestStatus.OPEN.value,
                        CallbackRequestRow.expires_at <= now,
                    )
                    .values(status=RequestStatus.EXPIRED.value, updated_at=now)
                    .returning(CallbackRequestRow.id),
                    execution_options={"synchronize_session": False},
                )
            ).all()
        return len(ids)
