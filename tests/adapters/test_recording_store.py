"""Call recordings on real databases (SQLite file and PostgreSQL) and a real folder: a row per call (once), finished
with the WAV's length or as failed, the purge with a clock handed in (the file removed after its retention, the row
noting when), the disk check turning recording off in Asterisk (Setvar) and back on, hostile events ignored."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from profiles.model import load_profile
from recording.db import RecordingStore
from recording.model import Recording, wav_seconds
from recording.service import RecordingService
from storage.engine import upgrade
from telephony.ami.message import Message

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "patient-services.yaml")  # complaints: 180 d
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def wav(path: Path, seconds: float) -> Path:
    """A WAV of 16-bit PCM at 8 kHz, as MixMonitor writes (silence will do)."""
    frames = b"\0\0" * int(8000 * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send_action(self, action: dict[str, str], timeout: float | None = 10.0) -> Any:
        self.sent.append(dict(action))
        return None


def event(**headers: str) -> Message:
    return Message([("Event", "UserEvent"), *headers.items()])


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[RecordingStore]:
    upgrade(db_url)
    store = RecordingStore(db_url)
    yield store
    await store.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir(mode=0o700)
    return path


def service(store: RecordingStore, folder: Path | None, now: list[datetime], **kwargs: Any) -> RecordingService:
    return RecordingService(PROFILE, store, folder, clock=lambda: now[0], settle_seconds=(0.01, 0.01), **kwargs)


async def test_a_recording_is_stored_once_per_call_and_read_back(store: RecordingStore) -> None:
    first = Recording("1700.1", "complaints", "1700.1.wav", "started", T0, T0 + timedelta(days=90))
    assert await store.add(first)
    assert not await store.add(replace(first, topic="virus"))  # the call has one: kept as it was
    assert await store.get("1700.1") == first
    assert await store.get("nope") is None
    assert await store.finish("1700.1", T0 + timedelta(seconds=30), 29.5, "complete", None)
    assert not await store.finish("1700.1", T0 + timedelta(seconds=40), 1.0, "failed", "EMPTY")  # finished once
    done = await store.get("1700.1")
    assert done is not None and (done.status, done.duration_seconds, done.ended_at) == (
        "complete", 29.5, T0 + timedelta(seconds=30))  # fmt: skip
    later = Recording("1700.2", "complaints", None, "off", T0 + timedelta(minutes=1), T0 + timedelta(days=1),
                      reason="DISK_FULL")  # fmt: skip
    await store.add(later)
    assert [r.linkedid for r in await store.latest()] == ["1700.2", "1700.1"]
    assert [r.linkedid for r in await store.latest(1)] == ["1700.2"]


async def test_the_dialplans_events_make_rows_kept_their_topics_retention(store: RecordingStore, folder: Path) -> None:
    now = [T0]
    recordings = service(store, folder, now)
    await recordings.on_event(event(UserEvent="HotlineRecording", Linkedid="1700.5", Topic="complaints",
                                    Status="STARTED", File="1700.5.wav"))  # fmt: skip
    await recordings.on_event(event(UserEvent="HotlineRecording", Linkedid="1700.6", Topic="complaints",
                                    Status="OFF", Reason="DISK_FULL"))  # fmt: skip
    started, off = await store.get("1700.5"), await store.get("1700.6")
    assert started is not None and (started.file, started.status) == ("1700.5.wav", "started")
    assert started.retain_until == T0 + timedelta(days=180)  # the shipped complaints topic's retention
    assert off is not None and (off.file, off.status, off.reason) == (None, "off", "DISK_FULL")
    # hostile or foreign events change nothing: a path for a linkedid, a topic that does not record, another event
    for headers in (
        {"UserEvent": "HotlineRecording", "Linkedid": "../../etc/passwd", "Topic": "complaints", "Status": "STARTED"},
        {"UserEvent": "HotlineRecording", "Linkedid": "1700.7", "Topic": "suggestions", "Status": "STARTED"},
        {"UserEvent": "HotlineRoute", "Linkedid": "1700.8", "Topic": "complaints", "Status": "STARTED"},
    ):
        await recordings.on_event(event(**headers))
    assert {r.linkedid for r in await store.latest()} == {"1700.5", "1700.6"}


async def test_the_end_of_a_call_gives_the_files_length_or_a_failure_and_a_warning(
    store: RecordingStore, folder: Path
) -> None:
    now = [T0]
    recordings = service(store, folder, now)
    for linkedid in ("1700.10", "1700.11", "1700.12"):
        await recordings.on_event(event(UserEvent="HotlineRecording", Linkedid=linkedid, Topic="complaints",
                                        Status="STARTED"))  # fmt: skip
    wav(folder / "1700.10.wav", 12.5)
    (folder / "1700.12.wav").write_bytes(b"")  # the disk filled: nothing written
    done = await recordings.finish("1700.10", T0 + timedelta(seconds=14))
    assert done is not None and done.status == "complete" and done.duration_seconds == 12.5
    assert recordings.warnings() == []
    missing = await recordings.finish("1700.11", T0 + timedelta(seconds=14))
    assert missing is not None and (missing.status, missing.reason) == ("failed", "MISSING")
    empty = await recordings.finish("1700.12", T0 + timedelta(seconds=14))
    assert empty is not None and (empty.status, empty.reason, empty.duration_seconds) == ("failed", "EMPTY", None)
    assert [w.code for w in recordings.warnings()] == ["failed"] and "1700.12" in recordings.warnings()[0].message
    # the disk filled during the call: the file holds less than the talk
    await recordings.on_event(event(UserEvent="HotlineRecording", Linkedid="1700.13", Topic="complaints",
                                    Status="STARTED"))  # fmt: skip
    wav(folder / "1700.13.wav", 4.0)
    short = await recordings.finish("1700.13", T0 + timedelta(seconds=14), talk_seconds=12.0)
    assert short is not None and (short.status, short.reason, short.duration_seconds) == ("failed", "TRUNCATED", 4.0)
    # a file as long as the talk (within the margin) is complete, and clears the warning
    await recordings.on_event(event(UserEvent="HotlineRecording", Linkedid="1700.14", Topic="complaints",
                                    Status="STARTED"))  # fmt: skip
    wav(folder / "1700.14.wav", 11.0)
    whole = await recordings.finish("1700.14", T0 + timedelta(seconds=14), talk_seconds=12.0)
    assert whole is not None and whole.status == "complete" and recordings.warnings() == []


async def test_the_purge_removes_expired_files_and_notes_when(store: RecordingStore, folder: Path) -> None:
    now = [T0]
    recordings = service(store, folder, now)
    kept_days = {"1700.20": 1, "1700.21": 3}
    for linkedid, days in kept_days.items():
        await store.add(Recording(linkedid, "complaints", f"{linkedid}.wav", "complete", T0, T0 + timedelta(days=days)))
        wav(folder / f"{linkedid}.wav", 1.0)
    await store.add(Recording("1700.22", "complaints", None, "off", T0, T0 + timedelta(days=1), reason="DISK_FULL"))
    assert await recordings.purge(T0 + timedelta(hours=23)) == []
    day = T0 + timedelta(days=1)
    assert sorted(await recordings.purge(day)) == ["1700.20", "1700.22"]
    assert not (folder / "1700.20.wav").exists() and (folder / "1700.21.wav").exists()
    purged = await store.get("1700.20")
    assert purged is not None and purged.purged_at == day and purged.status == "purged"
    assert await recordings.purge(day + timedelta(hours=1)) == []  # once
    now[0] = T0 + timedelta(days=3)
    assert await recordings.purge() == ["1700.21"]  # the service's own clock
    assert list(folder.iterdir()) == []


async def test_a_purge_never_follows_a_path_from_the_row(store: RecordingStore, tmp_path: Path, folder: Path) -> None:
    victim = tmp_path / "victim.wav"
    wav(victim, 1.0)
    await store.add(Recording("1700.30", "complaints", "../victim.wav", "complete", T0, T0))
    assert await service(store, folder, [T0]).purge(T0) == ["1700.30"]
    assert victim.exists()  # the file is named from the linkedid, never from the row


async def test_a_full_disk_turns_recording_off_in_asterisk_and_room_turns_it_on(
    store: RecordingStore, folder: Path
) -> None:
    ami = FakeAmi()
    now = [T0]
    recordings = service(store, folder, now, ami=ami, min_free_bytes=1 << 62)  # more than any disk has
    warning = await recordings.check()
    assert warning is not None and warning.code == "disk_full" and "full" in warning.message
    assert ami.sent[-1] == {"Action": "Setvar", "Variable": "HOTLINE_RECORDING_OFF", "Value": "DISK_FULL"}
    assert [w.code for w in recordings.warnings()] == ["disk_full"]
    recordings.min_free_bytes = 0
    assert await recordings.check() is None
    assert ami.sent[-1] == {"Action": "Setvar", "Variable": "HOTLINE_RECORDING_OFF", "Value": ""}
    assert recordings.warnings() == []
    gone = service(store, folder / "missing", now, ami=ami)
    assert (await gone.check()).code == "unwritable"  # type: ignore[union-attr]


def test_a_wav_that_is_not_one_has_no_length(tmp_path: Path) -> None:
    assert wav_seconds(tmp_path / "none.wav") is None
    (tmp_path / "text.wav").write_text("RIFF but not really")
    assert wav_seconds(tmp_path / "text.wav") is None
    assert wav_seconds(wav(tmp_path / "ok.wav", 2.25)) == 2.25
