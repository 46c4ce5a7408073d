"""The recordings' service: what the dialplan reports, the end of each call, the purge and the disk.

* ``on_event`` (AMI ``UserEvent HotlineRecording``, from ``hotline-record`` on the agent's channel): a recording
  started (``<linkedid>.wav``) or was not, recording being off; a row either way, kept its topic's retention.
* ``on_record`` (a records hook): the call ended; once MixMonitor has closed the file, its length is the talk it
  holds (complete), or the file is missing or empty (failed: a full disk, an unwritable folder).
* ``purge`` (every minute, its clock handed in): files past their retention are removed and the row notes when.
* ``check`` (every few seconds): a folder with less than ``min_free_bytes`` free, or read-only, turns recording off
  in Asterisk (the global ``HOTLINE_RECORDING_OFF``: the call goes on, unrecorded) and the console shows why;
  recording comes back on by itself when there is room again. A recording that failed shows a warning too.
* ``open_file``: the file of one recording, for the console to play or download (supervisors, audited there).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from profiles.model import Profile
from recording.db import RecordingStore
from recording.model import Recording, RecordingError, file_name, retain_until, wav_seconds
from telephony import names as v
from telephony.ami.message import Message
from telephony.clock import utc_now

__all__ = ["CHECK_EVERY_SECONDS", "MIN_FREE_BYTES", "RecordingService", "RecordingWarning"]

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 16 * 1024 * 1024  # under this, new calls are not recorded (a minute of talk is ~1 MB)
CHECK_EVERY_SECONDS = 5.0
PURGE_EVERY_SECONDS = 60.0
SHORT_SECONDS = 2.0  # a file this much shorter than the talk lost its end (the disk filled during the call)
SETTLE_SECONDS = (0.2, 0.3, 0.5, 1.0, 1.0, 2.0)  # MixMonitor closes the file just after the channel hangs up


class Ami(Protocol):
    async def send_action(self, action: dict[str, str], timeout: float | None = 10.0) -> Message: ...


class Ended(Protocol):
    """What the hook needs of a completed call record (cdr.builder.CallRecord)."""

    @property
    def linkedid(self) -> str: ...
    @property
    def ended_at(self) -> datetime | None: ...
    @property
    def talk_seconds(self) -> float | None: ...


@dataclass(frozen=True)
class RecordingWarning:
    """Why recording is off, or why a recent recording failed; shown on the console."""

    code: str  # disk_full, unwritable, failed
    message: str
    since: datetime


class RecordingService:
    def __init__(
        self,
        profile: Profile,
        store: RecordingStore,
        folder: Path | None,
        ami: Ami | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        min_free_bytes: int = MIN_FREE_BYTES,
        settle_seconds: tuple[float, ...] = SETTLE_SECONDS,
    ) -> None:
        self.profile = profile
        self.store = store
        self.folder = folder  # the instance's recordings folder from here (None: not known, nothing is read)
        self.ami = ami
        self.clock = clock
        self.min_free_bytes = min_free_bytes
        self.settle_seconds = settle_seconds
        self.retention = {topic.id: topic.retention_days for topic in profile.topics if topic.record}
        self.off: RecordingWarning | None = None  # recording is off (a full or read-only disk)
        self.failed: RecordingWarning | None = None  # the last recording failed (cleared by the next one that does not)
        self._told: str | None = None  # what Asterisk was last told (None: nothing yet)
        self._tasks: set[asyncio.Task[Recording | None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.retention)

    def warnings(self) -> list[RecordingWarning]:
        return [w for w in (self.off, self.failed) if w is not None]

    # -- the dialplan's events -------------------------------------------------------------------------
    async def on_event(self, message: Message) -> None:
        if message.get("UserEvent") != v.RECORDING_USEREVENT:
            return
        linkedid, topic, status = message.get("Linkedid") or "", message.get("Topic") or "", message.get("Status")
        if topic not in self.retention:
            log.warning("recording event for a topic that does not record (%r): ignored", topic)
            return
        try:
            name = file_name(linkedid)
        except RecordingError as exc:
            log.warning("recording event ignored: %s", exc)
            return
        now = self.clock()
        recording = Recording(
            linkedid=linkedid,
            topic=topic,
            file=name if status == "STARTED" else None,
            status="started" if status == "STARTED" else "off",
            reason=None if status == "STARTED" else (message.get("Reason") or "OFF")[:32],
            started_at=now,
            retain_until=retain_until(now, self.retention[topic]),
        )
        await self.store.add(recording)

    # -- the end of a call ----------------------------------------------------------------------------
    async def on_record(self, record: Ended) -> None:
        """A records hook: finish the call's recording once its file is closed (in the background)."""
        if not self.enabled:
            return
        task = asyncio.create_task(self._finish(record.linkedid, record.ended_at or self.clock(), record.talk_seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, linkedid: str, ended_at: datetime, talk_seconds: float | None) -> Recording | None:
        try:
            return await self.finish(linkedid, ended_at, talk_seconds)
        except Exception:
            log.exception("recording of call %s: its end could not be noted", linkedid)
            return None

    async def finish(self, linkedid: str, ended_at: datetime, talk_seconds: float | None = None) -> Recording | None:
        """The file's length once MixMonitor has closed it: complete; missing, empty, or (the disk filled during the
        call) shorter than the talk by more than ``SHORT_SECONDS``: failed, and the console warns."""
        recording = await self.store.get(linkedid)
        if recording is None or recording.status != "started" or recording.file is None:
            return recording
        seconds = None
        if self.folder is not None:
            path = self.folder / recording.file
            for wait in (0.0, *self.settle_seconds):
                await asyncio.sleep(wait)
                seconds = await asyncio.to_thread(wav_seconds, path)
                if seconds:
                    break
        short = seconds is not None and talk_seconds is not None and seconds < talk_seconds - SHORT_SECONDS
        if seconds and not short:
            await self.store.finish(linkedid, ended_at, seconds, "complete", None)
            self.failed = None
        else:
            if short:
                reason = "TRUNCATED"
            elif self.folder is None or not _is_file(self.folder / recording.file):
                reason = "MISSING"
            else:
                reason = "EMPTY"
            await self.store.finish(linkedid, ended_at, seconds, "failed", reason)
            self.failed = RecordingWarning(
                "failed", f"the recording of call {linkedid} failed ({reason.lower()})", self.clock()
            )
            log.error("recording of call %s failed: %s", linkedid, reason)
        return await self.store.get(linkedid)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # -- the purge ------------------------------------------------------------------------------------
    async def purge(self, now: datetime | None = None) -> list[str]:
        """Remove the files past their retention and note when; the linkedids purged."""
        now = now or self.clock()
        purged = []
        for recording in await self.store.expired(now):
            if recording.file is not None and self.folder is not None:
                try:
                    name = file_name(recording.linkedid)  # never a path from the row itself
                    (self.folder / name).unlink(missing_ok=True)
                except (OSError, RecordingError) as exc:
                    log.error("recording of call %s could not be purged: %s", recording.linkedid, exc)
                    continue
            elif recording.file is not None:
                continue  # the folder is not known here: the file is left for a service that can remove it
            if await self.store.mark_purged(recording.linkedid, now):
                purged.append(recording.linkedid)
        if purged:
            log.info("recordings purged after their retention: %d", len(purged))
        return purged

    # -- the disk -------------------------------------------------------------------------------------
    def disk_state(self) -> tuple[str, str] | None:
        """(code, message) when recording cannot go on in the folder, else None."""
        if self.folder is None:
            return None
        try:
            stats = os.statvfs(self.folder)
        except OSError as exc:
            return "unwritable", f"the recordings folder cannot be reached: {exc.strerror}"
        if stats.f_flag & os.ST_RDONLY:
            return "unwritable", "the recordings folder is read-only"
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            return "disk_full", f"the recordings disk is full ({free // (1024 * 1024)} MB free)"
        return None

    async def check(self) -> RecordingWarning | None:
        """Turn recording off (or on again) in Asterisk from the state of the disk; the warning, if any."""
        if not self.enabled:
            return None
        state = await asyncio.to_thread(self.disk_state)
        if state is None:
            if self.off is not None:
                log.warning("recording is on again: %s is fixed", self.off.code)
            self.off = None
        elif self.off is None or self.off.code != state[0]:
            self.off = RecordingWarning(state[0], state[1], self.clock())
            log.error("recording is off: %s", state[1])
        told = "" if self.off is None else self.off.code.upper()
        # told when it changes, and again at every check while off (an Asterisk restarted meanwhile forgot it)
        if self.ami is not None and self.folder is not None and (told or told != self._told):
            try:
                await self.ami.send_action({"Action": "Setvar", "Variable": v.RECORDING_OFF, "Value": told})
                self._told = told
            except Exception as exc:  # AMI down: told again at the next check
                log.debug("recording state not told to Asterisk: %s", exc)
        return self.off

    async def run(self) -> None:
        """Check the disk every few seconds and purge every minute, until cancelled."""
        last_purge: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(Exception):
                await self.check()
            if last_purge is None or loop.time() - last_purge >= PURGE_EVERY_SECONDS:
                last_purge = loop.time()
                try:
                    await self.purge()
                except Exception:
                    log.exception("recordings: the purge failed (tried again in a minute)")
            await asyncio.sleep(CHECK_EVERY_SECONDS)

    # -- the console ----------------------------------------------------------------------------------
    def path_of(self, recording: Recording) -> Path | None:
        """The file of a recording still kept, None when it has none (off, purged, failed, or no folder)."""
        if self.folder is None or recording.file is None or recording.purged_at is not None:
            return None
        path = self.folder / file_name(recording.linkedid)
        return path if _is_file(path) else None


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file we can see; False when the folder cannot be reached (its mode narrowed by hand)."""
    try:
        return path.is_file()
    except OSError:
        return False
