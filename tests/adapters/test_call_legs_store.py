"""The legs of a call (migration 0009) on both databases: stored with the record in one transaction, read
back in order, never twice; the spool keeps them across a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from cdr.builder import CallRecord, Leg, Outcome
from cdr.db import RecordStore
from cdr.service import RecordService
from storage.engine import downgrade, upgrade

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def transferred_call(linkedid: str = "1764666000.10") -> CallRecord:
    """Answered by Salma in ar-medical at 30 s, blind transferred to ar-labs where Omar took it at 95 s,
    who added the control room for a conference at 150 s; the caller hung up at 200 s."""
    legs = (
        Leg("person", "salma", "ar-medical", at(30), at(90), 60.0),
        Leg("person", "omar", "ar-labs", at(95), at(200), 105.0, how="blind"),
        Leg("conference", "emergency-control-room", None, at(150), at(200), 50.0, how="conference"),
    )
    return CallRecord(
        linkedid=linkedid,
        caller_number="0791234567",
        caller_name="ليلى",
        started_at=T0,
        language="ar",
        topic="medical",
        specialty=None,
        queue="ar-medical",
        wait_seconds=25.0,
        outcome=Outcome.ANSWERED,
        agent="salma",
        talk_seconds=60.0,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        ended_at=at(200),
        transferred_to="ar-labs",
        legs=legs,
    )


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[RecordStore]:
    upgrade(db_url)
    record_store = RecordStore(db_url)
    yield record_store
    await record_store.close()


def test_migration_0009_creates_call_legs_and_goes_back(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)
    inspector = inspect(sync_engine)
    assert {c["name"] for c in inspector.get_columns("call_legs")} == {
        "id", "linkedid", "position", "kind", "target", "queue", "answered_at", "ended_at", "talk_seconds", "how",
    }  # fmt: skip
    unique = {uq["name"]: uq["column_names"] for uq in inspector.get_unique_constraints("call_legs")}
    assert unique["uq_call_legs_linkedid_position"] == ["linkedid", "position"]
    (fk,) = inspector.get_foreign_keys("call_legs")
    assert (fk["referred_table"], fk["referred_columns"], fk["constrained_columns"]) == (
        "call_records",
        ["linkedid"],
        ["linkedid"],
    )

    downgrade(db_url, "0008")
    assert "call_legs" not in inspect(sync_engine).get_table_names()
    assert "call_records" in inspect(sync_engine).get_table_names()
    upgrade(db_url)
    assert "call_legs" in inspect(sync_engine).get_table_names()


async def test_a_transferred_call_round_trips_every_leg_in_order(store: RecordStore) -> None:
    record = transferred_call()

    assert await store.add(record) is True

    assert await store.get(record.linkedid) == record
    assert (await store.list_records()) == [record]
    assert (await store.by_caller("0791234567")) == [record]


async def test_a_record_stored_twice_keeps_one_set_of_legs(store: RecordStore) -> None:
    record = transferred_call()
    assert await store.add(record) is True
    changed = replace(record, legs=record.legs[:1])

    assert await store.add(changed) is False
    assert await store.add_many([changed, record]) == 0

    assert (await store.get(record.linkedid)).legs == record.legs  # type: ignore[union-attr]


async def test_add_many_reads_back_each_calls_own_legs(store: RecordStore) -> None:
    one = transferred_call("1764666000.11")
    plain = replace(transferred_call("1764666000.12"), legs=(), transferred_to=None)
    other = replace(transferred_call("1764666000.13"), legs=transferred_call().legs[1:2], started_at=at(5))

    assert await store.add_many([one, plain, other]) == 3

    by_id = {r.linkedid: r for r in await store.list_records()}
    assert by_id["1764666000.11"].legs == one.legs
    assert by_id["1764666000.12"].legs == ()
    assert by_id["1764666000.13"].legs == other.legs


async def test_a_leg_that_cannot_be_stored_stores_no_record_either(store: RecordStore) -> None:
    """One transaction: a leg the database refuses (no target) leaves no record without its legs."""
    bad = replace(transferred_call(), legs=(Leg("person", None, "ar-medical", at(30), None, None),))  # type: ignore[arg-type]

    with pytest.raises(IntegrityError):
        await store.add(bad)

    assert await store.get(bad.linkedid) is None


async def test_legs_go_with_their_record(db_url: str, store: RecordStore, sync_engine: Engine) -> None:
    await store.add(transferred_call())
    with sync_engine.begin() as conn:
        if sync_engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.execute(text("DELETE FROM call_records WHERE linkedid = :l"), {"l": "1764666000.10"})
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM call_legs")).scalar_one() == 0


async def test_the_journal_keeps_the_legs_of_a_record_across_a_database_outage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    spool = tmp_path / "spool"
    record = transferred_call()
    async with RecordStore(url) as store:  # no schema yet: the insert fails, the record stays spooled
        service = RecordService(store, spool, retry_seconds=0.05)
        await service.start()
        service.submit(record)
        await service.close(timeout=0.2)
    assert service.journal is not None and service.journal.depth == 1  # journaled, not stored

    upgrade(url)
    async with RecordStore(url) as store:
        service = RecordService(store, spool, retry_seconds=0.05)
        await service.start()
        await service.drained()
        stored = await store.get(record.linkedid)
        await service.close()
    assert stored == record


async def test_the_person_a_call_was_transferred_to_may_choose_its_wrap_up_code_and_a_stranger_may_not(
    store: RecordStore,
) -> None:
    from cdr.db import WrapupRefused

    record = transferred_call()
    assert await store.set_wrapup(record.linkedid, "lab-results", "omar") is False  # not stored yet: pending
    await store.add(record)
    assert (await store.get(record.linkedid)).wrapup_code == "lab-results"  # type: ignore[union-attr]

    assert await store.set_wrapup(record.linkedid, "referred", "salma") is True  # the first answer
    assert await store.set_wrapup(record.linkedid, "release-letter", "omar") is True  # transferred to: the last wins
    assert (await store.get(record.linkedid)).wrapup_code == "release-letter"  # type: ignore[union-attr]
    with pytest.raises(WrapupRefused):
        await store.set_wrapup(record.linkedid, "referred", "emergency-control-room")  # a place, not a person
    with pytest.raises(WrapupRefused):
        await store.set_wrapup(record.linkedid, "referred", "someone-else")
