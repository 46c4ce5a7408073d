"""The callback request store on real databases (SQLite file and PostgreSQL, via ``db_url``).

The exactly-once guarantees are tested with two stores (two engines = two service instances) claiming
in parallel, with a row locked by another transaction, and with two OS processes on one database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from callbacks.db import NOT_DIALLED, CallbackStore
from callbacks.model import (
    OPEN_STATUSES,
    AttemptOutcome,
    CallbackAttempt,
    CallbackRequest,
    Origin,
    RequestStatus,
)
from callbacks.rows import CALLBACK_OPEN_STATUSES_SQL
from hotline.schema import metadata
from storage.engine import downgrade, head_revision, upgrade
from telephony.clock import epoch, utc

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def S(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def a_request(number: str = "0791234567", **changes: object) -> CallbackRequest:
    request = CallbackRequest(
        id=None,
        number=number,
        language="ar",
        topic="medical",
        specialty="paediatrics",
        queue="ar-med-paediatrics",
        origin=Origin.OFFER,
        original_linkedid=f"{epoch(T0) - 600:.0f}.{number[-3:]}",
        place_at=T0 - S(600),
        created_at=T0 - S(300),
        expires_at=T0 + DAY,
        status=RequestStatus.OPEN,
        attempts=0,
        next_attempt_at=T0 - S(300),
        priority=0,
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def retry_state(request: CallbackRequest, at: datetime) -> CallbackRequest:
    return replace(request, status=RequestStatus.OPEN, attempts=request.attempts + 1, next_attempt_at=at)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CallbackStore]:
    upgrade(db_url)
    callback_store = CallbackStore(db_url)
    yield callback_store
    await callback_store.close()


@pytest.fixture
async def other_store(db_url: str, store: CallbackStore) -> AsyncIterator[CallbackStore]:
    """A second service instance: its own engine on the same database."""
    callback_store = CallbackStore(db_url)
    yield callback_store
    await callback_store.close()


async def add_many(store: CallbackStore, count: int, prefix: str = "07900") -> list[int]:
    ids = []
    for i in range(count):
        stored = await store.add(a_request(f"{prefix}{i:05d}", place_at=T0 - S(1000 - i)))
        assert stored.id is not None
        ids.append(stored.id)
    return ids


# -- migrations -------------------------------------------------------------------------------------


def test_upgrade_creates_the_callback_tables_with_their_indexes(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)

    inspector = inspect(sync_engine)
    assert {"callback_requests", "callback_attempts"} <= set(inspector.get_table_names())
    indexes = {ix["name"]: ix for ix in inspector.get_indexes("callback_requests")}
    assert indexes["ux_callback_requests_open_number"]["column_names"] == ["number"]
    assert indexes["ux_callback_requests_open_number"]["unique"]
    assert indexes["ix_callback_requests_original_linkedid"]["column_names"] == ["original_linkedid"]
    attempt_indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("callback_attempts")}
    assert attempt_indexes["ix_callback_attempts_linkedid"] == ["linkedid"]
    (fk,) = inspector.get_foreign_keys("callback_attempts")
    assert (fk["constrained_columns"], fk["referred_table"]) == (["request_id"], "callback_requests")
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()


def test_migrated_schema_matches_the_models(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)

    with sync_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_downgrade_to_0003_drops_the_callback_tables_and_upgrade_brings_them_back(
    db_url: str, sync_engine: Engine
) -> None:
    upgrade(db_url)

    downgrade(db_url, "0003")

    inspector = inspect(sync_engine)
    assert not {"callback_requests", "callback_attempts"} & set(inspector.get_table_names())
    assert "call_records" in inspector.get_table_names()
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0003"
    upgrade(db_url)
    assert {"callback_requests", "callback_attempts"} <= set(inspect(sync_engine).get_table_names())


def test_the_open_statuses_of_the_partial_index_are_the_models_open_statuses() -> None:
    prefix, listed = CALLBACK_OPEN_STATUSES_SQL.split(" IN ")
    assert prefix == "status"
    assert {v.strip(" '") for v in listed.strip("()").split(",")} == {s.value for s in OPEN_STATUSES}


async def test_the_database_itself_refuses_a_second_open_request_for_a_number(
    store: CallbackStore, sync_engine: Engine
) -> None:
    await store.add(a_request("0791111111"))
    insert = text(
        "INSERT INTO callback_requests (number, language, topic, queue, origin, place_at, created_at, expires_at,"
        " status, attempts, next_attempt_at, priority, updated_at) VALUES (:number, 'ar', 'medical', 'q',"
        " 'offer', :t, :t, :t, :status, 0, :t, 0, :t)"
    )
    when = "2027-01-15 08:00:00+00:00"

    with pytest.raises(IntegrityError), sync_engine.begin() as conn:
        conn.execute(insert, {"number": "0791111111", "t": when, "status": "dialing"})
    with sync_engine.begin() as conn:  # closed requests are not limited
        conn.execute(insert, {"number": "0791111111", "t": when, "status": "connected"})
        conn.execute(insert, {"number": "0791111111", "t": when, "status": "cancelled"})


# -- requests ---------------------------------------------------------------------------------------


async def test_a_request_round_trips_with_its_id(store: CallbackStore) -> None:
    request = a_request(specialty=None, origin=Origin.ABANDONED_QUEUE, priority=2, place_at=T0 - S(0.25))

    stored = await store.add(request)

    assert stored.id is not None
    assert stored == replace(request, id=stored.id)
    assert await store.get(stored.id) == stored
    assert await store.open_for_number(request.number) == stored
    assert await store.get(stored.id + 1000) is None
    assert await store.open_for_number("0790000000") is None


async def test_a_second_request_for_a_number_merges_into_the_open_one_keeping_the_earlier_place(
    store: CallbackStore,
) -> None:
    first = await store.add(a_request(place_at=T0 - S(100), priority=0, expires_at=T0 + DAY))
    second = await store.add(
        a_request(
            place_at=T0 - S(900),
            priority=3,
            created_at=T0,
            expires_at=T0 + 2 * DAY,
            original_linkedid="other",
            origin=Origin.ABANDONED_IVR,
        )
    )

    assert second.id == first.id
    assert (second.place_at, second.priority, second.expires_at) == (T0 - S(900), 3, T0 + 2 * DAY)
    assert (second.created_at, second.original_linkedid, second.origin) == (
        first.created_at,
        first.original_linkedid,
        first.origin,
    )
    assert await store.open_requests() == [second]
    # a later place and a lower priority do not move it back
    third = await store.add(a_request(place_at=T0, priority=1))
    assert (third.id, third.place_at, third.priority) == (first.id, T0 - S(900), 3)


async def test_a_request_being_dialled_also_takes_the_merge(store: CallbackStore) -> None:
    first = await store.add(a_request())
    await store.claim([first.id], "a", T0)

    merged = await store.add(a_request(priority=5))

    assert (merged.id, merged.status, merged.priority) == (first.id, RequestStatus.DIALING, 5)


async def test_a_closed_request_does_not_stop_a_new_one_for_the_number(store: CallbackStore) -> None:
    first = await store.add(a_request())
    assert await store.cancel(first.id)

    second = await store.add(a_request(created_at=T0))

    assert second.id != first.id
    assert await store.open_for_number(first.number) == second


async def test_concurrent_adds_for_one_number_from_two_instances_store_one_request(
    store: CallbackStore, other_store: CallbackStore
) -> None:
    requests = [a_request(place_at=T0 - S(i), priority=i % 4) for i in range(12)]

    results = await asyncio.gather(*(s.add(r) for s, r in zip([store, other_store] * 6, requests, strict=True)))

    assert len({r.id for r in results}) == 1
    (only,) = await store.open_requests()
    assert (only.place_at, only.priority) == (T0 - S(11), 3)


async def test_add_refuses_a_request_that_is_not_open(store: CallbackStore) -> None:
    with pytest.raises(ValueError):
        await store.add(a_request(status=RequestStatus.DIALING))


async def test_recent_request_times_counts_the_numbers_stored_requests_since(store: CallbackStore) -> None:
    number = "0795555555"
    for created in (T0 - 3 * DAY, T0 - S(3600), T0 - S(60)):
        stored = await store.add(a_request(number, created_at=created))
        await store.cancel(stored.id)
    await store.add(a_request("0796666666", created_at=T0 - S(60)))

    assert await store.recent_request_times(number, T0 - DAY) == [T0 - S(3600), T0 - S(60)]
    assert await store.recent_request_times(number, T0) == []


async def test_open_requests_are_by_priority_then_place_and_include_dialling_ones(store: CallbackStore) -> None:
    late = await store.add(a_request("0791000001", place_at=T0 - S(10)))
    early = await store.add(a_request("0791000002", place_at=T0 - S(500)))
    urgent = await store.add(a_request("0791000003", place_at=T0, priority=5))
    done = await store.add(a_request("0791000004"))
    await store.cancel(done.id)
    await store.claim([late.id], "a", T0)

    assert [r.id for r in await store.open_requests()] == [urgent.id, early.id, late.id]
    assert (await store.get(late.id)).status is RequestStatus.DIALING


# -- claiming ---------------------------------------------------------------------------------------


async def test_claim_makes_the_request_dialling_and_records_an_attempt_in_the_preferred_order(
    store: CallbackStore,
) -> None:
    ids = await add_many(store, 4)

    claimed = await store.claim([ids[2], ids[0], ids[3], ids[1]], "hotline-a", T0, limit=3)

    assert [request.id for request, _ in claimed] == [ids[2], ids[0], ids[3]]
    for request, attempt in claimed:
        assert request.status is RequestStatus.DIALING
        assert attempt.id is not None
        assert attempt == CallbackAttempt(id=attempt.id, request_id=request.id, claimed_at=T0, claimed_by="hotline-a")
        assert await store.get(request.id) == request
        assert await store.attempts(request.id) == [attempt]
    assert (await store.get(ids[1])).status is RequestStatus.OPEN
    assert await store.claim([], "hotline-a", T0) == []
    assert await store.claim(ids, "hotline-a", T0, limit=0) == []


async def test_claim_takes_only_open_requests_that_are_due_and_not_expired(store: CallbackStore) -> None:
    due = await store.add(a_request("0792000001", next_attempt_at=T0))
    later = await store.add(a_request("0792000002", next_attempt_at=T0 + S(1)))
    expired = await store.add(a_request("0792000003", expires_at=T0))
    cancelled = await store.add(a_request("0792000004"))
    await store.cancel(cancelled.id)

    claimed = await store.claim([later.id, expired.id, cancelled.id, due.id, 999_999], "a", T0)

    assert [r.id for r, _ in claimed] == [due.id]


async def test_a_claimed_request_is_not_claimable_again(store: CallbackStore, other_store: CallbackStore) -> None:
    request = await store.add(a_request())
    assert len(await store.claim([request.id], "a", T0)) == 1

    assert await store.claim([request.id], "a", T0 + S(1)) == []
    assert await other_store.claim([request.id], "b", T0 + DAY / 2) == []


async def test_after_a_retry_state_the_request_is_claimable_again_when_due(store: CallbackStore) -> None:
    stored = await store.add(a_request())
    ((request, attempt),) = await store.claim([stored.id], "a", T0)
    assert await store.mark_dialing(attempt.id, T0 + S(1))

    after = await store.finish(
        attempt.id, AttemptOutcome.NO_ANSWER, T0 + S(40), next_request_state=retry_state(request, T0 + S(640))
    )

    assert (after.status, after.attempts, after.next_attempt_at) == (RequestStatus.OPEN, 1, T0 + S(640))
    assert await store.claim([stored.id], "a", T0 + S(639)) == []
    ((again, second),) = await store.claim([stored.id], "a", T0 + S(640))
    assert (again.attempts, second.claimed_at) == (1, T0 + S(640))
    assert [a.outcome for a in await store.attempts(stored.id)] == [AttemptOutcome.NO_ANSWER, None]


async def test_two_instances_claiming_the_same_candidates_in_parallel_never_get_the_same_request(
    store: CallbackStore, other_store: CallbackStore
) -> None:
    rounds, per_round = 50, 50
    claimed_by: dict[int, list[str]] = {}
    for round_ in range(rounds):
        ids = await add_many(store, per_round, prefix=f"07{round_:03d}")
        limit = None if round_ % 2 else 7  # whole lists, and small batches that race row by row

        async def claimer(s: CallbackStore, name: str) -> None:
            while True:
                claimed = await s.claim(ids, name, T0, limit=limit)
                for request, attempt in claimed:
                    claimed_by.setdefault(request.id, []).append(attempt.claimed_by)
                if not claimed or limit is None:
                    return

        await asyncio.gather(claimer(store, "a"), claimer(other_store, "b"))
        # whatever one instance could not take in a round (locked by the other) the other took
        assert sorted(i for i in ids if i in claimed_by) == sorted(ids)

    assert len(claimed_by) == rounds * per_round
    assert all(len(names) == 1 for names in claimed_by.values())
    both = {names[0] for names in claimed_by.values()}
    assert both <= {"a", "b"}


@pytest.mark.postgres
async def test_postgresql_claim_skips_a_row_locked_by_another_transaction_without_waiting(
    postgres_url: str,
) -> None:
    upgrade(postgres_url)
    async with CallbackStore(postgres_url) as store:
        locked, free = await add_many(store, 2)
        with psycopg.connect(postgres_url) as other:  # another instance, inside its claim
            other.execute("SELECT id FROM callback_requests WHERE id = %s FOR UPDATE", (locked,))

            claimed = await asyncio.wait_for(store.claim([locked, free], "a", T0), timeout=3)

            assert [r.id for r, _ in claimed] == [free]
            other.rollback()  # the other instance gave up its claim
        assert [r.id for r, _ in await store.claim([locked, free], "a", T0)] == [locked]


async def test_sqlite_claim_waits_for_another_writer_and_then_sees_its_claim(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    async with CallbackStore(sqlite_url) as store:
        taken, free = await add_many(store, 2)
        other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process, inside its claim
            other.execute("UPDATE callback_requests SET status = 'dialing' WHERE id = ?", (taken,))
            task = asyncio.create_task(store.claim([taken, free], "a", T0))
            await asyncio.sleep(0.5)
            assert not task.done()  # BEGIN IMMEDIATE waits for the lock instead of reading a stale snapshot
            other.execute("COMMIT")
            claimed = await asyncio.wait_for(task, timeout=5)
        finally:
            other.close()

    assert [r.id for r, _ in claimed] == [free]


_CLAIMER = """
import asyncio, json, sys, time
from callbacks.db import CallbackStore
from telephony.clock import utc

async def main(url, name, ids, now, start_at):
    store = CallbackStore(url)
    got = []
    try:
        await store.get(ids[0])  # connect before the start line
        await asyncio.sleep(max(0.0, start_at - time.time()))
        while True:
            claimed = await store.claim(ids, name, now, limit=3)
            if not claimed:
                break
            got += [request.id for request, _ in claimed]
    finally:
        await store.close()
    print(json.dumps(got))

url, name = sys.argv[1], sys.argv[2]
asyncio.run(main(url, name, json.loads(sys.argv[3]), utc(float(sys.argv[4])), float(sys.argv[5])))
"""


async def test_two_service_processes_on_one_database_never_claim_the_same_request(
    db_url: str, store: CallbackStore
) -> None:
    ids = await add_many(store, 120)
    start_at = time.time() + 3
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CLAIMER,
            db_url,
            name,
            json.dumps(ids),
            str(epoch(T0)),
            str(start_at),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("proc-a", "proc-b")
    ]
    outputs = [await asyncio.wait_for(p.communicate(), timeout=120) for p in processes]

    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
    got_a, got_b = (json.loads(out) for out, _ in outputs)
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == sorted(ids)
    for request_id in ids:
        (attempt,) = await store.attempts(request_id)
        assert attempt.claimed_by == ("proc-a" if request_id in got_a else "proc-b")


# -- dialling, outcomes and links -------------------------------------------------------------------


async def test_mark_dialing_is_written_once_and_refused_after_a_cancel(store: CallbackStore) -> None:
    one, two = await add_many(store, 2)
    ((_, first),), ((_, second),) = await store.claim([one], "a", T0), await store.claim([two], "a", T0)

    assert await store.mark_dialing(first.id, T0 + S(1)) is True
    assert await store.mark_dialing(first.id, T0 + S(2)) is False  # never twice (e.g. after an AMI reconnect)
    assert (await store.get_attempt(first.id))[1].dialed_at == T0 + S(1)

    await store.cancel(two)
    assert await store.mark_dialing(second.id, T0 + S(1)) is False
    _, closed = await store.get_attempt(second.id)
    assert (closed.dialed_at, closed.outcome) == (None, NOT_DIALLED)
    assert await store.mark_dialing(123_456, T0) is False


async def test_an_attempts_outcome_is_linked_to_the_original_call_and_to_its_own_call(store: CallbackStore) -> None:
    stored = await store.add(a_request(original_linkedid="1800000000.17"))
    ((request, attempt),) = await store.claim([stored.id], "a", T0)
    await store.mark_dialing(attempt.id, T0 + S(1))

    after = await store.finish(
        attempt.id,
        AttemptOutcome.CONNECTED,
        T0 + S(200),
        linkedid="1800000001.99",
        next_request_state=replace(request, status=RequestStatus.CONNECTED, attempts=1),
    )

    assert (after.status, after.attempts, after.original_linkedid) == (RequestStatus.CONNECTED, 1, "1800000000.17")
    back_request, back_attempt = await store.get_attempt(attempt.id)
    assert back_request == after
    assert back_attempt == replace(
        attempt, dialed_at=T0 + S(1), ended_at=T0 + S(200), outcome=AttemptOutcome.CONNECTED, linkedid="1800000001.99"
    )
    assert await store.open_for_number(stored.number) is None


async def test_finishing_twice_changes_nothing_and_a_cancelled_request_stays_cancelled(store: CallbackStore) -> None:
    one, two = await add_many(store, 2)
    ((r1, a1),) = await store.claim([one], "a", T0)
    ((r2, a2),) = await store.claim([two], "a", T0)
    await store.finish(a1.id, AttemptOutcome.BUSY, T0 + S(5), next_request_state=retry_state(r1, T0 + S(120)))

    again = await store.finish(
        a1.id, AttemptOutcome.CONNECTED, T0 + S(9), next_request_state=replace(r1, status=RequestStatus.CONNECTED)
    )
    assert (again.status, again.next_attempt_at) == (RequestStatus.OPEN, T0 + S(120))
    assert (await store.get_attempt(a1.id))[1].outcome is AttemptOutcome.BUSY

    await store.cancel(two)
    after = await store.finish(
        a2.id, AttemptOutcome.NO_ANSWER, T0 + S(30), next_request_state=retry_state(r2, T0 + S(60))
    )
    assert after.status is RequestStatus.CANCELLED
    assert (await store.get_attempt(a2.id))[1].outcome is AttemptOutcome.NO_ANSWER

    with pytest.raises(LookupError):
        await store.finish(999_999, AttemptOutcome.BUSY, T0, next_request_state=r1)
    ((_r3, a3),) = await store.claim([one], "a", T0 + S(120))
    with pytest.raises(ValueError):
        await store.finish(a3.id, AttemptOutcome.BUSY, T0, next_request_state=r2)


# -- crash recovery ---------------------------------------------------------------------------------


async def test_recovery_gives_a_claimed_but_never_dialled_request_exactly_one_more_claim(
    db_url: str, store: CallbackStore
) -> None:
    stored = await store.add(a_request())
    await store.claim([stored.id], "hotline-a", T0)
    await store.close()  # the service died before dialling

    restarted = CallbackStore(db_url)
    try:
        ((request, attempt),) = await restarted.recover("hotline-a", T0 + S(30))
        assert (request.status, request.attempts, request.next_attempt_at) == (
            RequestStatus.OPEN,
            0,
            stored.next_attempt_at,
        )
        assert (attempt.dialed_at, attempt.outcome, attempt.ended_at) == (None, NOT_DIALLED, T0 + S(30))
        assert await restarted.recover("hotline-a", T0 + S(31)) == []

        claims = await asyncio.gather(*(restarted.claim([stored.id], "hotline-a", T0 + S(32)) for _ in range(5)))
        assert sum(len(c) for c in claims) == 1
        assert len(await restarted.attempts(stored.id)) == 2
    finally:
        await restarted.close()


async def test_recovery_closes_a_dialled_attempt_without_outcome_as_unknown_and_never_redials_at_once(
    store: CallbackStore,
) -> None:
    stored = await store.add(a_request())
    ((_, attempt),) = await store.claim([stored.id], "hotline-a", T0)
    assert await store.mark_dialing(attempt.id, T0 + S(1))  # the Originate may have been sent: then a crash

    ((request, closed),) = await store.recover("hotline-a", T0 + S(60), retry_after_seconds=300)

    assert (closed.outcome, closed.dialed_at) == (AttemptOutcome.UNKNOWN, T0 + S(1))
    assert (request.status, request.attempts, request.next_attempt_at) == (RequestStatus.OPEN, 1, T0 + S(360))
    assert await store.claim([stored.id], "hotline-a", T0 + S(60)) == []
    assert await store.claim([stored.id], "hotline-a", T0 + S(359)) == []
    assert len(await store.claim([stored.id], "hotline-a", T0 + S(360))) == 1


async def test_recovery_applies_the_policy_to_an_unknown_outcome_but_never_makes_it_due_at_once(
    store: CallbackStore,
) -> None:
    one, two = await add_many(store, 2)
    seen: list[tuple[CallbackRequest, AttemptOutcome, datetime]] = []

    def policy(request: CallbackRequest, outcome: AttemptOutcome, now: datetime) -> CallbackRequest:
        seen.append((request, outcome, now))
        if request.id == one:  # the last attempt: give up
            return replace(request, status=RequestStatus.FAILED, attempts=request.attempts + 1)
        return replace(request, status=RequestStatus.OPEN, attempts=request.attempts + 1, next_attempt_at=now)

    for request_id in (one, two):
        ((_, attempt),) = await store.claim([request_id], "a", T0)
        await store.mark_dialing(attempt.id, T0)

    recovered = await store.recover("a", T0 + S(10), next_state=policy, retry_after_seconds=90)

    assert [(o, n) for _, o, n in seen] == [(AttemptOutcome.UNKNOWN, T0 + S(10))] * 2
    states = {r.id: r for r, _ in recovered}
    assert (states[one].status, states[one].attempts) == (RequestStatus.FAILED, 1)
    assert (states[two].status, states[two].next_attempt_at) == (RequestStatus.OPEN, T0 + S(100))


async def test_recovery_of_one_instance_leaves_the_other_instances_calls_alone(
    store: CallbackStore, other_store: CallbackStore
) -> None:
    mine, theirs = await add_many(store, 2)
    await store.claim([mine], "a", T0)
    ((_, their_attempt),) = await other_store.claim([theirs], "b", T0)
    await other_store.mark_dialing(their_attempt.id, T0 + S(1))

    assert [r.id for r, _ in await store.recover("a", T0 + S(5))] == [mine]
    assert (await store.get(theirs)).status is RequestStatus.DIALING
    assert (await store.get_attempt(their_attempt.id))[1].outcome is None

    ((request, attempt),) = await store.recover(None, T0 + S(6))  # every instance: a single-instance site
    assert (request.id, attempt.outcome) == (theirs, AttemptOutcome.UNKNOWN)


async def test_recovery_does_not_reopen_a_request_cancelled_while_it_was_claimed(store: CallbackStore) -> None:
    stored = await store.add(a_request())
    ((_, _attempt),) = await store.claim([stored.id], "a", T0)
    await store.cancel(stored.id)

    ((request, closed),) = await store.recover("a", T0 + S(5))

    assert (request.status, closed.outcome) == (RequestStatus.CANCELLED, NOT_DIALLED)


# -- supervisor and housekeeping --------------------------------------------------------------------


async def test_cancel_open_for_number_closes_the_numbers_open_request(store: CallbackStore) -> None:
    mine = await store.add(a_request("0793000001"))
    other = await store.add(a_request("0793000002"))
    dialling = await store.add(a_request("0793000003"))
    await store.claim([dialling.id], "a", T0)

    assert await store.cancel_open_for_number("0793000001") == 1
    assert await store.cancel_open_for_number("0793000001") == 0
    assert await store.cancel_open_for_number("0793000003", RequestStatus.CONNECTED) == 1
    assert (await store.get(mine.id)).status is RequestStatus.CANCELLED
    assert (await store.get(dialling.id)).status is RequestStatus.CONNECTED
    assert (await store.get(other.id)).status is RequestStatus.OPEN
    with pytest.raises(ValueError):
        await store.cancel_open_for_number("0793000002", RequestStatus.OPEN)


async def test_cancel_closes_an_open_request_once(store: CallbackStore) -> None:
    stored = await store.add(a_request())

    assert await store.cancel(stored.id) is True
    assert await store.cancel(stored.id) is False
    assert await store.cancel(999_999) is False
    assert await store.claim([stored.id], "a", T0) == []


async def test_reschedule_moves_the_next_attempt_of_an_open_request(store: CallbackStore) -> None:
    one, two = await add_many(store, 2)
    await store.claim([two], "a", T0)

    assert await store.reschedule(one, T0 + S(3600)) is True
    assert await store.reschedule(two, T0 + S(3600)) is False  # being dialled
    assert await store.reschedule(999_999, T0) is False
    assert (await store.get(one)).next_attempt_at == T0 + S(3600)
    assert await store.claim([one], "a", T0 + S(3599)) == []
    assert len(await store.claim([one], "a", T0 + S(3600))) == 1


async def test_expire_closes_open_requests_past_their_time_but_not_one_being_dialled(store: CallbackStore) -> None:
    old = await store.add(a_request("0794000001", expires_at=T0))
    young = await store.add(a_request("0794000002", expires_at=T0 + S(1)))
    ringing = await store.add(a_request("0794000003", expires_at=T0 + S(0.5)))
    await store.claim([ringing.id], "a", T0 - S(1))

    assert await store.expire(T0) == 1
    assert await store.expire(T0) == 0
    assert (await store.get(old.id)).status is RequestStatus.EXPIRED
    assert (await store.get(young.id)).status is RequestStatus.OPEN
    assert (await store.get(ringing.id)).status is RequestStatus.DIALING
    assert await store.expire(T0 + S(1)) == 1


async def test_a_refused_number_leaves_a_record(store: CallbackStore) -> None:
    await store.add_refusal("0900123456", "not_allowed", "1700000000.9", utc(1_700_000_000.0))
    await store.add_refusal("9" * 100, "not_digits", None, utc(1_700_000_001.0))

    assert await store.refusals() == [("0900123456", "not_allowed", "1700000000.9"), ("9" * 64, "not_digits", None)]
