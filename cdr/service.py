"""The records path: every completed call record is journaled, stored once, then handed to the hooks.

1. ``submit(record)`` (called from the AMI event handler) appends the record to the journal
   (``cdr/journal.py``: an append-only file, 0600), then queues it. A record is never only in memory.
2. The writer takes what is queued in batches (up to ``batch_size``): one fsync of the journal for the
   batch, then one transaction stores every record of it (idempotent: a linkedid already stored is
   skipped). A database that is down (PostgreSQL stopped, SQLite locked) is retried every
   ``retry_seconds``; meanwhile records keep coming into the journal and the queue, and the batch that
   follows takes them together. A cancel in that wait leaves them in the journal.
3. Each hook (callbacks for abandoned callers, the console, ...) is then called on its own. A hook
   that fails is retried on its own, later, and never makes the record be inserted again, so the
   other hooks and the next records go on.
4. When the insert and every hook are done, the journal marks the record done. At start, ``start()``
   replays what the journal still holds (a crash, a kill, a database down at shutdown): the insert is
   skipped for records already stored and the hooks run again, so hooks must be idempotent (the
   callback hook is: one open request per number).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from cdr.builder import CallRecord, Leg, Outcome
from cdr.db import RecordStore
from cdr.journal import Journal

log = logging.getLogger(__name__)

Hook = Callable[[CallRecord], Awaitable[None]]

RETRY_SECONDS = 1.0
HOOK_RETRY_SECONDS = (1.0, 5.0, 30.0, 120.0)  # then every 120 s
BATCH_SIZE = 200  # records stored in one transaction at most


@dataclass
class _Pending:
    record: CallRecord
    hooks_left: list[Hook] = field(default_factory=list)
    hook_failures: int = 0


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Outcome):
        return value.value
    if isinstance(value, Leg):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _to_json(record: CallRecord) -> str:
    data = {name: _plain(getattr(record, name)) for name in record.__dataclass_fields__}
    return json.dumps(data, ensure_ascii=False)


def _leg_from_json(data: dict[str, Any]) -> Leg:
    for name in ("answered_at", "ended_at"):
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    known = Leg.__dataclass_fields__
    return Leg(**{k: v for k, v in data.items() if k in known})


def _from_json(text: str) -> CallRecord:
    data = json.loads(text)
    for name in ("started_at", "ended_at"):
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    data["outcome"] = Outcome(data["outcome"])
    data["legs"] = tuple(_leg_from_json(leg) for leg in data.get("legs") or ())
    known = CallRecord.__dataclass_fields__
    return CallRecord(**{k: v for k, v in data.items() if k in known})


class RecordService:
    def __init__(
        self,
        store: RecordStore,
        spool_dir: Path | None,
        *,
        retry_seconds: float = RETRY_SECONDS,
        hook_retry_seconds: tuple[float, ...] = HOOK_RETRY_SECONDS,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.store = store
        self.spool_dir = spool_dir
        self.journal = Journal(spool_dir) if spool_dir is not None else None
        self.batch_size = batch_size
        self.batches = 0  # transactions of the writer: hotline.metrics, bench/records.py
        self.journal_failures = 0  # records the journal could not take (a full disk): stored from memory
        self.retry_seconds = retry_seconds
        self.hook_retry_seconds = hook_retry_seconds
        self.hooks: list[Hook] = []
        self.written = 0
        #: Calls ended, by outcome (each record submitted once): read by hotline.metrics.
        self.ended: dict[str, int] = {}
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._hook_retries: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._in_flight = 0

    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    # -- in ---------------------------------------------------------------------------------------
    def submit(self, record: CallRecord) -> None:
        """Journal the record on disk, then queue it for the writer. Never blocks on the database."""
        outcome = record.outcome.value
        self.ended[outcome] = self.ended.get(outcome, 0) + 1
        if self.journal is not None:
            try:
                self.journal.append(record.linkedid, _to_json(record))
            except OSError as exc:  # a full or read-only disk: the record goes on, from memory only
                self.journal_failures += 1
                if self.journal_failures == 1 or self.journal_failures % 100 == 0:
                    log.error("records: the journal cannot be written (%s): %d records held in memory only until "
                              "stored; a crash now would lose them", exc, self.journal_failures)  # fmt: skip
        self._enqueue(_Pending(record))

    @property
    def spool_depth(self) -> int:
        """Records not yet stored with every hook done (each one in the journal while it waits)."""
        return self._in_flight + len(self._hook_retries)

    def _enqueue(self, pending: _Pending) -> None:
        self._in_flight += 1
        self._idle.clear()
        self._queue.put_nowait(pending)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Replay what the journal holds, then start writing."""
        if self.journal is not None:
            replayed = 0
            for entry in self.journal.open():
                try:
                    record = _from_json(entry.text)
                except (ValueError, TypeError, KeyError) as exc:
                    log.error("journaled record of call %s cannot be read (%s): left out", entry.linkedid, exc)
                    if entry.legacy is not None:
                        entry.legacy.rename(entry.legacy.with_suffix(".bad"))
                    continue
                self._enqueue(_Pending(record))
                replayed += 1
            if replayed:
                log.info("records: %d journaled records replayed", replayed)
        self._tasks.append(asyncio.create_task(self._write(), name="hotline-record-writer"))

    async def drained(self) -> None:
        """Wait until every queued record is stored and its hooks have run (hooks being retried excepted)."""
        await self._idle.wait()

    async def close(self, timeout: float = 5.0) -> None:
        """Give the writer ``timeout`` seconds to store what is queued, then stop. What is left stays spooled."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        left = self._in_flight
        for task in [*self._tasks, *self._hook_retries]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._hook_retries, return_exceptions=True)
        if self.journal is not None:
            self.journal.close()
        if left:
            where = f"kept in {self.spool_dir} and replayed at the next start" if self.spool_dir else "LOST (no spool)"
            log.warning("records: %d records not written at shutdown: %s", left, where)

    # -- the writer -------------------------------------------------------------------------------
    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if self.journal is not None:
                try:
                    await self.journal.sync()  # on the disk before the database has them
                except OSError as exc:
                    log.error("records: the journal cannot be synced (%s); storing the batch anyway", exc)
            await self._insert(batch)
            for pending in batch:
                pending.hooks_left = list(self.hooks)
                await self._run_hooks(pending)
                self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _insert(self, batch: list[_Pending]) -> None:
        """Store the batch in one transaction, retried as a whole while the database is unreachable or locked.
        A batch the database refuses for what it holds is stored record by record, so a record it refuses holds
        back only itself and those after it (each retried until stored), never the ones before."""
        while True:
            try:
                self.written += await self.store.add_many(p.record for p in batch)
                self.batches += 1
                return
            except asyncio.CancelledError:
                raise
            except (OperationalError, InterfaceError, OSError) as exc:  # down, unreachable, locked: all of it waits
                log.warning("could not store the records of %d calls (%s first): %s; retrying in %.0f s",
                            len(batch), batch[0].record.linkedid, exc, self.retry_seconds)  # fmt: skip
                await asyncio.sleep(self.retry_seconds)
            except Exception:
                log.exception("the database refused the records of %d calls (%s first); storing them one by one",
                              len(batch), batch[0].record.linkedid)  # fmt: skip
                break
        for pending in batch:
            while True:
                try:
                    self.written += await self.store.add_many([pending.record])
                    self.batches += 1
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("could not store the record of call %s (%s); retrying in %.0f s",
                                pending.record.linkedid, exc, self.retry_seconds)  # fmt: skip
                    await asyncio.sleep(self.retry_seconds)

    async def _call_hooks(self, pending: _Pending) -> None:
        """Call the hooks still due for this record; those that fail stay due (logged, first with the trace)."""
        left = []
        for hook in pending.hooks_left:
            try:
                await hook(pending.record)
            except asyncio.CancelledError:
                raise
            except Exception:
                name, call = getattr(hook, "__qualname__", hook), pending.record.linkedid
                if pending.hook_failures == 0:
                    log.exception("record hook %s failed for call %s; it is retried on its own", name, call)
                else:
                    log.warning("record hook %s failed again for call %s (%d tries)", name, call,
                                pending.hook_failures + 1)  # fmt: skip
                left.append(hook)
        pending.hooks_left = left

    async def _run_hooks(self, pending: _Pending) -> None:
        await self._call_hooks(pending)
        if pending.hooks_left:
            task = asyncio.create_task(
                self._retry_hooks(pending), name=f"hotline-record-hooks-{pending.record.linkedid}"
            )
            self._hook_retries.add(task)
            task.add_done_callback(self._hook_retries.discard)
        else:
            self._done(pending)

    async def _retry_hooks(self, pending: _Pending) -> None:
        while pending.hooks_left:
            delays = self.hook_retry_seconds
            await asyncio.sleep(delays[min(pending.hook_failures, len(delays) - 1)])
            pending.hook_failures += 1
            await self._call_hooks(pending)
        self._done(pending)

    def _done(self, pending: _Pending) -> None:
        if self.journal is not None:
            try:
                self.journal.done(pending.record.linkedid)
            except OSError as exc:  # a full disk: replayed at the next start, stored once (its linkedid)
                log.warning("records: call %s stored, but the journal cannot mark it done (%s)",
                            pending.record.linkedid, exc)  # fmt: skip
