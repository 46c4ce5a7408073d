"""The records path on a real SQLite database: spooled first, stored once, hooks retried on their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from support.eventually import eventually
from support.tcp_proxy import TcpProxy

from cdr.builder import CallRecord, Outcome
from cdr.db import RecordStore
from cdr.service import RecordService
from storage.engine import upgrade

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def abandoned(linkedid: str, number: str = "96550000001") -> CallRecord:
    return CallRecord(linkedid, number, "سارة", T0, "ar", "virus", None, "ar-virus", 40.0, Outcome.ABANDONED_QUEUE,
                      None, None, 16, "Normal Clearing", T0 + timedelta(seconds=45))  # fmt: skip


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'h.db'}"


async def test_a_hook_that_fails_after_the_insert_is_retried_alone_and_the_caller_gets_the_callback(
    db_url: str, tmp_path: Path
) -> None:
    """The old writer re-queued the record; the insert then said 'duplicate' and skipped every hook."""
    upgrade(db_url)
    callbacks_booked: list[str] = []
    console_seen: list[str] = []
    failures = {"left": 2}

    async def callbacks_hook(record: CallRecord) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("callbacks database hiccup")
        callbacks_booked.append(record.linkedid)

    async def console_hook(record: CallRecord) -> None:
        console_seen.append(record.linkedid)

    async with RecordStore(db_url) as store:
        service = RecordService(store, tmp_path / "spool", retry_seconds=0.01, hook_retry_seconds=(0.01,))
        service.add_hook(callbacks_hook)
        service.add_hook(console_hook)
        await service.start()
        service.submit(abandoned("1700000000.1"))
        service.submit(abandoned("1700000000.2", "96550000002"))
        await eventually(lambda: len(callbacks_booked) == 2)
        assert sorted(callbacks_booked) == ["1700000000.1", "1700000000.2"]
        assert sorted(console_seen) == ["1700000000.1", "1700000000.2"]  # each once: never re-run for the others
        assert [r.linkedid for r in await store.list_records()] == ["1700000000.1", "1700000000.2"]
        assert service.written == 2
        await eventually(lambda: service.journal is not None and service.journal.depth == 0)  # done: nothing to replay
        await service.close()


async def test_records_survive_a_database_that_is_down_at_shutdown_and_are_replayed_at_start(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    async with RecordStore(db_url) as store:  # no schema yet: every insert fails, like a database that is down
        service = RecordService(store, spool, retry_seconds=0.05)
        await service.start()
        service.submit(abandoned("1700000001.1"))
        service.submit(abandoned("1700000001.2"))
        with caplog.at_level(logging.WARNING, logger="cdr.service"):
            await service.close(timeout=0.2)  # cancels the writer in its retry sleep
    assert "2 records not written at shutdown" in caplog.text and str(spool) in caplog.text
    files = sorted(spool.glob("records-*.jsonl"))
    assert len(files) == 1 and '"1700000001.1"' in files[0].read_text() and '"1700000001.2"' in files[0].read_text()
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)  # caller numbers are health data

    upgrade(db_url)  # the database is back; the service starts again
    seen: list[str] = []

    async def hook(record: CallRecord) -> None:
        seen.append(record.linkedid)

    async with RecordStore(db_url) as store:
        service = RecordService(store, spool, retry_seconds=0.05)
        service.add_hook(hook)
        await service.start()
        await service.drained()
        records = await store.list_records()
        await service.close()
    assert [(r.linkedid, r.caller_name, r.outcome) for r in records] == [
        ("1700000001.1", "سارة", Outcome.ABANDONED_QUEUE),
        ("1700000001.2", "سارة", Outcome.ABANDONED_QUEUE),
    ]
    assert records[0].started_at == T0 and records[0].wait_seconds == 40.0
    assert sorted(seen) == ["1700000001.1", "1700000001.2"]
    assert [f.name for f in spool.glob("records-*.jsonl")] == ["records-00000002.jsonl"]  # the replayed one is gone


async def test_a_replayed_record_already_stored_is_not_stored_twice_but_its_hooks_run(
    db_url: str, tmp_path: Path
) -> None:
    """A crash after the insert and before the hooks: at start the insert is skipped, the hooks run."""
    upgrade(db_url)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    record = abandoned("1700000002.1")
    async with RecordStore(db_url) as store:
        assert await store.add(record)
        (spool / "1700000002.1.json").write_text(
            '{"linkedid": "1700000002.1", "caller_number": "96550000001", "caller_name": "سارة", '
            '"started_at": "2026-03-01T09:00:00+00:00", "language": "ar", "topic": "virus", "specialty": null, '
            '"queue": "ar-virus", "wait_seconds": 40.0, "outcome": "abandoned_queue", "agent": null, '
            '"talk_seconds": null, "hangup_cause": 16, "hangup_cause_text": "Normal Clearing", '
            '"ended_at": "2026-03-01T09:00:45+00:00"}',
            encoding="utf-8",
        )
        seen: list[CallRecord] = []

        async def hook(r: CallRecord) -> None:
            seen.append(r)

        service = RecordService(store, spool)
        service.add_hook(hook)
        await service.start()
        await service.drained()
        await service.close()
        assert len(await store.list_records()) == 1
    assert seen == [record]
    assert service.written == 0
    assert not list(spool.glob("*.json"))  # the old form's file goes once its record is done


async def test_a_killed_service_leaves_every_record_in_the_journal_and_the_next_start_stores_each_once(
    db_url: str, tmp_path: Path
) -> None:
    """Killed while storing (its tasks gone, nothing closed): whatever it had stored or not, the next start
    stores every record exactly once and runs the hooks of those not done."""
    upgrade(db_url)
    spool = tmp_path / "spool"
    async with RecordStore(db_url) as store:
        service = RecordService(store, spool, batch_size=7)
        done_hooks: list[str] = []

        async def stalls_after_20(record: CallRecord) -> None:
            if len(done_hooks) >= 20:
                await asyncio.Event().wait()  # the process is killed here
            done_hooks.append(record.linkedid)

        service.add_hook(stalls_after_20)
        await service.start()
        for i in range(60):
            service.submit(abandoned(f"1700000003.{i}", f"9655000{i:04d}"))
        await eventually(lambda: len(done_hooks) == 20 and service.written >= 21)  # part done, part stored, part not
        for task in service._tasks:  # a kill: no close, no done marks for what was in flight
            task.cancel()
        assert service.journal is not None
        left = service.journal.depth  # journaled and not done
        service.journal.close()
    assert left == 40
    seen: list[str] = []

    async def hook(record: CallRecord) -> None:
        seen.append(record.linkedid)

    async with RecordStore(db_url) as store:
        again = RecordService(store, spool)
        again.add_hook(hook)
        await again.start()
        await again.drained()
        stored = [r.linkedid for r in await store.list_records()]
        await again.close()
    assert sorted(stored) == sorted(f"1700000003.{i}" for i in range(60))  # each once (linkedid is unique)
    assert len(seen) == len(set(seen)) == left  # the hooks of exactly those not done, each once


async def test_a_locked_sqlite_database_holds_records_in_the_journal_and_they_are_stored_in_batches_after(
    db_url: str, tmp_path: Path
) -> None:
    """SQLite locked by another writer (as a backup or a long report would): records wait in the fsynced
    journal, nothing is lost, and when the lock goes they are stored in a few transactions, each once."""
    import sqlite3

    upgrade(db_url)
    spool = tmp_path / "spool"
    locker = sqlite3.connect(str(tmp_path / "h.db"), isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        async with RecordStore(db_url) as store:
            service = RecordService(store, spool, retry_seconds=0.05)
            await service.start()
            for i in range(120):
                service.submit(abandoned(f"1700000004.{i}", f"9655100{i:04d}"))
            await eventually(lambda: service.journal is not None and service.journal.syncs >= 1)
            assert service.written == 0 and service.spool_depth == 120
            lines = "".join(p.read_text() for p in spool.glob("records-*.jsonl"))
            assert all(f'"1700000004.{i}"' in lines for i in range(120))
            locker.execute("ROLLBACK")
            await service.drained()
            stored = await store.list_records()
            await service.close()
    finally:
        locker.close()
    assert len(stored) == 120 and service.written == 120
    assert service.batches < 60  # batched: far fewer transactions than records
    assert service.journal is not None and service.journal.depth == 0


async def test_records_wait_out_a_stopped_postgresql_in_the_journal_and_are_stored_once_when_it_is_back(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL stopped under load (the proxy in front of it refuses, as a stopped server does): records keep
    coming into the fsynced journal; when it is back they are all stored, each once, in a few transactions."""
    upgrade(postgres_url)
    proxy = TcpProxy(make_url(postgres_url).port or 5432)
    proxied = make_url(postgres_url).set(port=proxy.port).render_as_string(hide_password=False)
    spool = tmp_path / "spool"
    try:
        async with RecordStore(proxied) as store:
            service = RecordService(store, spool, retry_seconds=0.05)
            await service.start()
            service.submit(abandoned("1700000005.0"))
            await service.drained()  # the pool holds a live connection now
            proxy.down()
            with caplog.at_level(logging.WARNING, logger="cdr.service"):
                for i in range(1, 150):
                    service.submit(abandoned(f"1700000005.{i}", f"9655200{i:04d}"))
                await eventually(lambda: caplog.text.count("could not store") >= 3)  # it tried, and tries again
            assert service.written == 1 and service.spool_depth == 149
            assert service.journal is not None and service.journal.syncs >= 2
            proxy.up()
            await service.drained()
            stored = await store.list_records()
            await service.close()
    finally:
        proxy.close()
    assert sorted(r.linkedid for r in stored) == sorted(f"1700000005.{i}" for i in range(150))
    assert service.written == 150 and service.batches < 50


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB file system (tmpfs), to fill up: mounting needs root (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root; CI runs the suite as root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def test_a_full_disk_under_the_journal_loses_no_record_and_the_journal_resumes_when_space_is_back(
    db_url: str, tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The records folder's disk is full: each record is still stored (from memory), the writer goes on, the
    failure is logged and counted; once space is back the journal takes records again, readable at replay."""
    upgrade(db_url)
    spool = tiny_disk / "spool"
    filler = tiny_disk / "filler"
    async with RecordStore(db_url) as store:
        service = RecordService(store, spool)
        await service.start()
        with filler.open("wb", buffering=0) as handle, contextlib.suppress(OSError):  # fill it to the last block
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        with caplog.at_level(logging.ERROR, logger="cdr.service"):
            for i in range(30):
                service.submit(abandoned(f"1700000006.{i}", f"9655300{i:04d}"))
            await service.drained()
        assert service.journal_failures > 0 and "the journal cannot be written" in caplog.text
        assert service.written == 30  # every record stored all the same
        filler.unlink()  # space is back
        service.submit(abandoned("1700000006.99"))
        assert service.journal is not None and service.journal.depth >= 1  # journaled again
        await service.drained()
        stored = {r.linkedid for r in await store.list_records()}
        await service.close()
    assert stored == {f"1700000006.{i}" for i in range(30)} | {"1700000006.99"}
    again = RecordService(None, spool)  # type: ignore[arg-type]  # only the journal is read
    assert again.journal is not None and again.journal.open() == []  # no torn line breaks a later one
