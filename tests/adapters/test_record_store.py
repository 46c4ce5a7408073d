"""The call record store on real databases: SQLite (file) and PostgreSQL, via the ``db_url`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from cdr.builder import CallRecord, Outcome
from cdr.db import RecordStore
from hotline.schema import metadata
from storage.engine import async_url, downgrade, head_revision, sync_url, upgrade

# Arabic name, emoji, a decomposed "é" (e + COMBINING ACUTE ACCENT) that NFC would change, and quotes.
TRICKY_NAME = 'محمد عبدالله 🙂 Rene\u0301 O\'Brien "أبو علي"'

CALL_RECORD_COLUMNS = {
    "id",
    "kind",
    "callback_of",
    "transferred_to",
    "wrapup_seconds",
    "wrapup_code",
    "source",
    "linkedid",
    "caller_number",
    "caller_name",
    "started_at",
    "ended_at",
    "language",
    "topic",
    "specialty",
    "queue",
    "wait_seconds",
    "outcome",
    "agent",
    "talk_seconds",
    "hangup_cause",
    "hangup_cause_text",
    "created_at",
}


def a_record(linkedid: str = "1700000000.42", started_at: datetime | None = None, **changes: object) -> CallRecord:
    started = started_at or datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    record = CallRecord(
        linkedid=linkedid,
        caller_number="+96265000000",
        caller_name="Layla",
        started_at=started,
        language="ar",
        topic="medical",
        specialty="paediatrics",
        queue="ar-med-paediatrics",
        wait_seconds=42.5,
        outcome=Outcome.ANSWERED,
        agent="Dr. Salma Haddad",
        talk_seconds=301.25,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        ended_at=started + timedelta(seconds=360),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[RecordStore]:
    upgrade(db_url)
    record_store = RecordStore(db_url)
    yield record_store
    await record_store.close()


# -- migrations ---------------------------------------------------------------------------------


def test_upgrade_to_head_creates_call_records_with_its_columns_and_indexes(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)

    inspector = inspect(sync_engine)
    assert "call_records" in inspector.get_table_names()
    assert {c["name"] for c in inspector.get_columns("call_records")} == CALL_RECORD_COLUMNS
    indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("call_records")}
    assert indexes["ix_call_records_started_at"] == ["started_at"]
    assert indexes["ix_call_records_queue"] == ["queue"]
    unique = {uq["name"]: uq["column_names"] for uq in inspector.get_unique_constraints("call_records")}
    assert unique["uq_call_records_linkedid"] == ["linkedid"]
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head_revision()
    assert {"agent_sessions", "queue_seats"} <= set(inspector.get_table_names())


def test_migrated_schema_matches_the_model(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)

    with sync_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_again_at_head_changes_nothing(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)
    upgrade(db_url)

    assert "call_records" in inspect(sync_engine).get_table_names()


def test_downgrade_to_base_drops_call_records(db_url: str, sync_engine: Engine) -> None:
    upgrade(db_url)

    downgrade(db_url, "base")

    assert "call_records" not in inspect(sync_engine).get_table_names()
    upgrade(db_url)  # and it can come back
    assert "call_records" in inspect(sync_engine).get_table_names()


# -- store --------------------------------------------------------------------------------------


async def test_record_with_arabic_emoji_combining_marks_and_quotes_round_trips_byte_exact(
    store: RecordStore,
) -> None:
    record = a_record(caller_name=TRICKY_NAME, agent="د. سلمى حداد", caller_number="0791234567")

    assert await store.add(record) is True
    stored = await store.get(record.linkedid)

    assert stored is not None
    assert stored.caller_name is not None
    assert stored.caller_name.encode() == TRICKY_NAME.encode()
    assert stored.agent is not None and stored.agent.encode() == "د. سلمى حداد".encode()
    assert stored == record


async def test_record_of_a_call_abandoned_in_the_ivr_round_trips_its_nulls(store: RecordStore) -> None:
    record = a_record(
        caller_name=None,
        language=None,
        topic=None,
        specialty=None,
        queue=None,
        wait_seconds=None,
        outcome=Outcome.ABANDONED_IVR,
        agent=None,
        talk_seconds=None,
        hangup_cause=None,
        hangup_cause_text=None,
        ended_at=None,
    )

    await store.add(record)

    assert await store.get(record.linkedid) == record


async def test_times_come_back_as_the_same_instant_in_utc(store: RecordStore) -> None:
    amman = timezone(timedelta(hours=3))
    record = a_record(started_at=datetime(2024, 3, 1, 9, 0, 0, 654321, tzinfo=amman))

    await store.add(record)
    stored = await store.get(record.linkedid)

    assert stored is not None
    assert stored.started_at == record.started_at
    assert stored.started_at.utcoffset() == timedelta(0)
    assert stored.started_at.hour == 6


async def test_adding_the_same_linkedid_twice_stores_one_row(store: RecordStore) -> None:
    first = a_record("1700000000.7")
    again = a_record("1700000000.7", caller_name="someone else", outcome=Outcome.FAILED)

    assert await store.add(first) is True
    assert await store.add(again) is False

    assert await store.list_records() == [first]


async def test_add_many_skips_linkedids_already_stored(store: RecordStore) -> None:
    await store.add(a_record("a"))

    added = await store.add_many([a_record("a"), a_record("b"), a_record("c"), a_record("b")])

    assert added == 2
    assert sorted(r.linkedid for r in await store.list_records()) == ["a", "b", "c"]


async def test_list_records_is_ordered_by_start_time_and_honours_limit(store: RecordStore) -> None:
    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    late, early, middle = (
        a_record("late", started_at=t0 + timedelta(hours=2)),
        a_record("early", started_at=t0),
        a_record("middle", started_at=t0 + timedelta(minutes=5)),
    )
    await store.add_many([late, early, middle])

    assert [r.linkedid for r in await store.list_records()] == ["early", "middle", "late"]
    assert [r.linkedid for r in await store.list_records(limit=2)] == ["early", "middle"]


async def test_a_callback_attempt_and_a_transfer_round_trip_their_links(store: RecordStore) -> None:
    original = a_record("1700000000.50", transferred_to="ar-medical-internal", wrapup_seconds=5.0)
    attempt = a_record("1700000100.60", kind="callback", callback_of="1700000000.50")
    await store.add_many([original, attempt])

    assert await store.get("1700000000.50") == original
    back = await store.get("1700000100.60")
    assert (back.kind, back.callback_of) == ("callback", "1700000000.50")
    assert (await store.get("1700000000.50")).kind == "inbound"


def test_upgrade_makes_the_folder_of_a_new_sqlite_database(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'new' / 'hotline.db'}"
    upgrade(url)
    assert (tmp_path / "var" / "new" / "hotline.db").is_file()


async def test_get_of_an_unknown_linkedid_is_none(store: RecordStore) -> None:
    assert await store.get("no-such-call") is None


async def test_sqlite_store_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    store = RecordStore(sqlite_url)
    try:
        await store.add(a_record())
    finally:
        await store.close()

    engine = create_engine(sync_url(sqlite_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"  # persistent in the file
    finally:
        engine.dispose()


# -- URLs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_url", "expected_async", "expected_sync"),
    [
        (
            "sqlite:////var/lib/hotline/cdr.db",
            "sqlite+aiosqlite:////var/lib/hotline/cdr.db",
            "sqlite:////var/lib/hotline/cdr.db",
        ),
        ("sqlite:///cdr.db", "sqlite+aiosqlite:///cdr.db", "sqlite:///cdr.db"),
        (
            "postgresql://cdr:s3cret@db.example:5432/hotline",
            "postgresql+psycopg://cdr:s3cret@db.example:5432/hotline",
            "postgresql+psycopg://cdr:s3cret@db.example:5432/hotline",
        ),
        (
            "postgresql+psycopg://cdr@db.example/hotline",
            "postgresql+psycopg://cdr@db.example/hotline",
            "postgresql+psycopg://cdr@db.example/hotline",
        ),
    ],
)
def test_user_urls_map_to_the_async_and_sync_drivers(user_url: str, expected_async: str, expected_sync: str) -> None:
    assert async_url(user_url) == expected_async
    assert sync_url(user_url) == expected_sync


@pytest.mark.parametrize(
    "bad_url",
    ["mysql://root@localhost/cdr", "postgresql+asyncpg://x@y/z", "sqlite://", "sqlite:///:memory:", "not a url"],
)
def test_unsupported_urls_are_refused_with_value_error(bad_url: str) -> None:
    with pytest.raises(ValueError):
        async_url(bad_url)
