"""Call recordings (issue 12, item 4): what one recording is, its file's name and its retention. Pure.

A topic with ``record: true`` records each answered call (the dialplan's ``hotline-record``, on the agent's
channel, after the caller heard ``recording_notice``) into the instance's recordings folder, one WAV per call
named by the call's linkedid only (no caller data in a name). The file is kept ``retention_days`` of its topic,
then purged; the row stays, noting when (``purged_at``).
"""

from __future__ import annotations

import re
import wave
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

__all__ = [
    "STATUSES",
    "Recording",
    "RecordingError",
    "file_name",
    "retain_until",
    "wav_seconds",
]

#: started: MixMonitor runs; complete: the call ended and the file holds its talk; failed: the call ended and the
#: file is missing or empty (a full disk, an unwritable folder); off: not recorded, the service had turned recording
#: off (a full disk); purged: the file was removed after its retention.
STATUSES = ("started", "complete", "failed", "off", "purged")
#: An Asterisk linkedid ("1764680000.42", or with a system name "pbx1-1764680000.42"): nothing a path could abuse.
_LINKEDID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,100}\.[0-9]{1,12}")


class RecordingError(ValueError):
    """A linkedid that cannot name a recording (the message says why)."""


@dataclass(frozen=True, slots=True)
class Recording:
    linkedid: str
    topic: str
    file: str | None  # the file's name in the recordings folder (None: not recorded)
    status: str
    started_at: datetime
    retain_until: datetime
    ended_at: datetime | None = None
    duration_seconds: float | None = None  # the WAV's length: the talk it holds
    purged_at: datetime | None = None
    reason: str | None = None  # why it is off or failed (DISK_FULL, MISSING, EMPTY)


def file_name(linkedid: str) -> str:
    """The recording's file name: ``<linkedid>.wav``. Raises RecordingError for anything else than a linkedid."""
    if not isinstance(linkedid, str) or _LINKEDID.fullmatch(linkedid) is None:
        raise RecordingError(f"not a call's linkedid: {str(linkedid)[:40]!r}")
    return f"{linkedid}.wav"


def retain_until(started_at: datetime, retention_days: int) -> datetime:
    if started_at.tzinfo is None:
        raise ValueError("a moment is an aware UTC datetime")
    return started_at + timedelta(days=retention_days)


def wav_seconds(path: Path) -> float | None:
    """The length of a WAV file in seconds; None when it is missing, unreadable or not a WAV."""
    try:
        with wave.open(str(path), "rb") as audio:
            rate = audio.getframerate()
            return round(audio.getnframes() / rate, 3) if rate else None
    except (OSError, EOFError, wave.Error):
        return None
