"""The records path: every completed call record is spooled, stored once, then handed to the hooks.

1. ``submit(record)`` (called from the AMI event handler) first writes the record to a spool file
   on disk (created 0600), then queues it. A record is never only in memory.
2. The writer inserts it (idempotent: a linkedid already stored is skipped). A database that is
   down is retried every ``retry_seconds``; a cancel in that wait leaves the record in the spool.
3. Each hook (callbacks for abandoned callers, the console, ...) is then called on its own. A hook
   that fails is retried on its own, later, and never makes the record be inserted again, so the
   other hooks and the next records go on. (The old writer re-queued the record after a failed
   hook; the insert then reported a duplicate and skipped the hooks, and the abandoned caller never
   got a callback.)
4. When the insert and every hook are done, the spool file goes. At start, ``start()`` replays what
   the spool still holds (a crash, a kill, a database down at shutdown): the insert is skipped for
   records already stored and the hooks run again, so hooks must be idempotent (the callback hook
   is: one open request per number).

A spool file survives a crash of the process; it is not fsync-ed, so it does not survive a power
cut of the machine (the queue_log/Master.csv gap import at start covers that case).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cdr.builder import CallRecord, Leg, Outcome
from cdr.db import RecordStore

log = logging.getLogger(__name__)

Hook = Callable[[CallRecord], Awaitable[None]]

RETRY_SECONDS = 1.0
HOOK_RETRY_SECONDS = (1.0, 5.0, 30.0, 120.0)  # then every 120 s
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class _Pending:
    record: CallRecord
    path: Path | None
    inserted: bool = False
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
    ) -> None:
        self.store = store
        self.spool_dir = spool_dir
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
        """Spool the record on disk, then queue it for the writer. Never blocks on the database."""
        outcome = record.outcome.value
        self.ended[outcome] = self.ended.get(outcome, 0) + 1
        self._enqueue(_Pending(record, self._spool(record)))

    @property
    def spool_depth(self) -> int:
        """Records not yet stored with every hook done (each one a spool file while it waits)."""
        return self._in_flight + len(self._hook_retries)

    def _enqueue(self, pending: _Pending) -> None:
        self._in_flight += 1
        self._idle.clear()
        self._queue.put_nowait(pending)

    def _spool(self, record: CallRecord) -> Path | None:
        if self.spool_dir is None:
            return None
        path = self.spool_dir / f"{_SAFE.sub('_', record.linkedid)}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_to_json(record))
        return path

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Replay what the spool holds, then start writing."""
        if self.spool_dir is not None:
            self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            replayed = 0
            for path in sorted(self.spool_dir.glob("*.json")):
                try:
                    record = _from_json(path.read_text(encoding="utf-8"))
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    log.error("spooled record %s cannot be read (%s); kept as %s.bad", path.name, exc, path.stem)
                    path.rename(path.with_suffix(".bad"))
                    continue
                self._enqueue(_Pending(record, path))
                replayed += 1
            if replayed:
                log.info("records: %d spooled records replayed", replayed)
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
        if left:
            where = f"kept in {self.spool_dir} and replayed at the next start" if self.spool_dir else "LOST (no spool)"
            log.warning("records: %d records not written at shutdown: %s", left, where)

    # -- the writer -------------------------------------------------------------------------------
    async def _write(self) -> None:
        while True:
            pending = await self._queue.get()
            await self._insert(pending)
            pending.hooks_left = list(self.hooks)
            await self._run_hooks(pending)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _insert(self, pending: _Pending) -> None:
        while not pending.inserted:
            try:
                if await self.store.add(pending.record):
                    self.written += 1
                pending.inserted = True
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "could not store the record of call %s; retrying in %.0f s",
                    pending.record.linkedid,
                    self.retry_seconds,
                )
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
        if pending.path is not None:
            pending.path.unlink(missing_ok=True)
