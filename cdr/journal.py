"""The records' journal: an append-only file of the records not yet stored with every hook done.

Every completed record is appended to the current segment (``records-<n>.jsonl``, created 0600 in a 0700
folder) the moment it is submitted: a ``write()``, so it survives a crash or a kill of the process at once.
The writer calls :meth:`Journal.sync` before it stores a batch: one ``fsync`` (in a thread, off the event
loop) for every record appended since, so a record is on the disk before the database has it, and a power
cut loses at most what was appended in the last batch's few milliseconds (the queue_log/Master.csv gap
import at start covers those). When a record is stored and its hooks are done, a done line names it.

At start, :meth:`Journal.open` reads every segment and gives back the records without a done line, in the
order they came, each once: they are stored again (a linkedid already stored is skipped) and their hooks run
again, so a record is stored exactly once however often the service stops. A segment over ``max_bytes``
is closed and a new one begun; a closed segment goes once every record in it is done. A line that cannot
be read (a torn last write) is skipped and logged. Spool files of the old form (``<linkedid>.json``, one
per record) are read too, and go once their record is done.

Lines: ``{"r": <the record as JSON>, "id": "<linkedid>"}`` and ``{"d": "<linkedid>"}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["Journal", "Replayed"]

MAX_BYTES = 4 * 1024 * 1024
_SEGMENT = re.compile(r"records-(\d{8})\.jsonl")


@dataclass(frozen=True)
class Replayed:
    linkedid: str
    text: str  # the record as JSON
    legacy: Path | None = None  # an old-form spool file holding it


class Journal:
    def __init__(self, folder: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._dirty = False
        self._torn = False
        self._where: dict[str, int] = {}  # linkedid -> the segment holding its record, until done
        self._open_in: dict[int, int] = {}  # segment -> how many of its records are not done
        self._legacy: dict[str, Path] = {}  # linkedid -> its old-form spool file
        self.syncs = 0

    # -- start ----------------------------------------------------------------------------------
    def open(self) -> list[Replayed]:
        """Create the folder (0700) if needed, read what is not done, and begin a new segment."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        records: dict[str, tuple[int, str]] = {}  # linkedid -> (segment, text), in the order first seen
        segments = sorted(int(m.group(1)) for p in self.folder.iterdir() if (m := _SEGMENT.fullmatch(p.name)))
        for segment in segments:
            for line in self._lines(self._path(segment)):
                if "d" in line:
                    records.pop(str(line["d"]), None)
                elif "r" in line and "id" in line:
                    records.setdefault(str(line["id"]), (segment, json.dumps(line["r"], ensure_ascii=False)))
        replayed = []
        for linkedid, (segment, text) in records.items():
            self._hold(linkedid, segment)
            replayed.append(Replayed(linkedid, text))
        for path in sorted(self.folder.glob("*.json")):  # the old form: one file per record
            try:
                text = path.read_text(encoding="utf-8")
                linkedid = str(json.loads(text)["linkedid"])
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.error("spooled record %s cannot be read (%s); kept as %s.bad", path.name, exc, path.stem)
                path.rename(path.with_suffix(".bad"))
                continue
            if linkedid in self._where or linkedid in self._legacy:
                path.unlink(missing_ok=True)
                continue
            self._legacy[linkedid] = path
            replayed.append(Replayed(linkedid, text, path))
        self._segment = (segments[-1] if segments else 0) + 1
        self._begin()
        for segment in segments:  # nothing left to replay in it
            if not self._open_in.get(segment):
                self._path(segment).unlink(missing_ok=True)
        return replayed

    def _lines(self, path: Path) -> list[dict[str, object]]:
        lines = []
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    line = json.loads(raw)
                    if not isinstance(line, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    log.error("journal %s line %d cannot be read (%s): skipped", path.name, number, exc)
                    continue
                lines.append(line)
        return lines

    # -- writing --------------------------------------------------------------------------------
    def append(self, linkedid: str, record_json: str) -> None:
        """Append a record (its JSON): on the disk's cache at once, on the disk at the next :meth:`sync`."""
        if linkedid in self._where:
            return  # already journaled and not done: once is enough
        if self._size >= self.max_bytes:
            self._rotate()
        self._write(f'{{"id": {json.dumps(linkedid)}, "r": {record_json}}}\n')
        self._hold(linkedid, self._segment)

    def done(self, linkedid: str) -> None:
        """The record is stored and its hooks are done: it is not replayed again."""
        legacy = self._legacy.pop(linkedid, None)
        if legacy is not None:
            legacy.unlink(missing_ok=True)
        segment = self._where.pop(linkedid, None)
        if segment is None:
            return
        self._write(f'{{"d": {json.dumps(linkedid)}}}\n')
        self._open_in[segment] -= 1
        if self._open_in[segment] == 0 and segment != self._segment:
            del self._open_in[segment]
            self._path(segment).unlink(missing_ok=True)

    async def sync(self) -> None:
        """fsync what was appended since the last sync (one call for many records), off the event loop."""
        if not self._dirty or self._fd is None:
            return
        self._dirty = False
        await asyncio.to_thread(os.fsync, self._fd)
        self.syncs += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def depth(self) -> int:
        """Records journaled and not done."""
        return len(self._where) + len(self._legacy)

    # -- segments -------------------------------------------------------------------------------
    def _path(self, segment: int) -> Path:
        return self.folder / f"records-{segment:08d}.jsonl"

    def _hold(self, linkedid: str, segment: int) -> None:
        self._where[linkedid] = segment
        self._open_in[segment] = self._open_in.get(segment, 0) + 1

    def _write(self, line: str) -> None:
        assert self._fd is not None, "the journal is not open"
        data = line.encode("utf-8")
        if self._torn:  # a write that failed half-way (a full disk) left a torn line: end it first
            data = b"\n" + data
        written = 0
        try:
            while written < len(data):  # a short write (a signal): the rest
                written += os.write(self._fd, data[written:])
        except OSError:
            self._torn = self._torn or written > 0
            self._size += written
            raise
        self._torn = False
        self._size += len(data)
        self._dirty = True

    def _begin(self) -> None:
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        self._size = 0
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)  # the new segment's name is on the disk too
        finally:
            os.close(folder)

    def _rotate(self) -> None:
        if self._fd is not None:
            if self._dirty:
                os.fsync(self._fd)
                self._dirty = False
            os.close(self._fd)
        old = self._segment
        self._segment += 1
        self._begin()
        if not self._open_in.get(old):
            self._open_in.pop(old, None)
            self._path(old).unlink(missing_ok=True)
