"""The recordings' API through the whole service (fake AMI, real SQLite, a real folder): supervisors list, play and
download a recording, and every play and download is in the audit log; viewers, agents and strangers are refused;
a malformed linkedid is a 400, a purged or unrecorded call a 404; the warnings show in the list."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from support.app import ServiceApp, running_service

from console.app import CONSOLE
from profiles.model import load_profile
from recording.model import Recording
from recording.service import RecordingWarning

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "patient-services.yaml")  # records complaints
PASSWORD = "correct horse battery"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def wav(path: Path, seconds: float) -> bytes:
    frames = b"\1\0" * int(8000 * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path.read_bytes()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    async with running_service(tmp_path, profile=PROFILE) as running:
        store = running.app[CONSOLE].store
        await store.add_user("boss", PASSWORD, "supervisor", "en")
        await store.add_user("nadia", PASSWORD, "viewer", "ar")
        await store.add_user("desk", PASSWORD, "agent", "en", person="agent-ar-1")
        recording = running.service.recording
        recording.folder = tmp_path / "recordings"
        recording.folder.mkdir(mode=0o700)
        await recording.store.add(
            Recording("1700.1", "complaints", "1700.1.wav", "complete", T0, T0 + timedelta(days=90), T0, 2.0)
        )
        wav(recording.folder / "1700.1.wav", 2.0)
        await recording.store.add(Recording("1700.2", "complaints", None, "off", T0, T0, reason="DISK_FULL"))
        yield running


async def login(client: TestClient, name: str) -> None:
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()


async def audit(running: ServiceApp) -> list[tuple[str, str, str]]:
    rows = await running.app[CONSOLE].store.audit_rows(50)
    return [(r["actor"], r["action"], r["target"]) for r in rows if r["action"].startswith("recording.")]


async def test_a_supervisor_lists_plays_and_downloads_and_each_is_audited(running: ServiceApp) -> None:
    client = running.client
    await login(client, "boss")
    listed = await client.get("/api/v1/recordings")
    body = await listed.json()
    assert listed.status == 200, body
    assert [(r["linkedid"], r["status"], r["playable"]) for r in body["recordings"]] == [
        ("1700.2", "off", False), ("1700.1", "complete", True)]  # fmt: skip
    assert body["recordings"][1]["duration_seconds"] == 2.0 and body["warnings"] == []
    assert await audit(running) == []  # a list is not a play
    played = await client.get("/api/v1/recordings/1700.1/audio")
    assert played.status == 200 and played.headers["Content-Type"] == "audio/wav"
    assert played.headers["Content-Disposition"] == 'inline; filename="1700.1.wav"'
    assert played.headers["Cache-Control"] == "no-store"
    assert await played.read() == (running.service.recording.folder / "1700.1.wav").read_bytes()
    saved = await client.get("/api/v1/recordings/1700.1/audio?download=1")
    assert saved.status == 200 and saved.headers["Content-Disposition"].startswith("attachment;")
    assert await audit(running) == [("boss", "recording.download", "1700.1"), ("boss", "recording.play", "1700.1")]


async def test_a_play_the_browser_fetches_in_pieces_is_audited_once(running: ServiceApp) -> None:
    client = running.client
    await login(client, "boss")
    whole = (running.service.recording.folder / "1700.1.wav").read_bytes()
    first = await client.get("/api/v1/recordings/1700.1/audio", headers={"Range": "bytes=0-"})
    assert first.status == 206 and await first.read() == whole
    for later in ("bytes=1000-", "bytes=2000-2999", "bytes=-500"):  # the rest of the play, and seeks
        piece = await client.get("/api/v1/recordings/1700.1/audio", headers={"Range": later})
        assert piece.status == 206, later
    assert await audit(running) == [("boss", "recording.play", "1700.1")]
    again = await client.get("/api/v1/recordings/1700.1/audio", headers={"Range": "bytes=0-1023"})  # played again
    assert again.status == 206 and len(await again.read()) == 1024
    assert await audit(running) == [("boss", "recording.play", "1700.1")] * 2


@pytest.mark.parametrize("who", ["nadia", "desk", None])
async def test_viewers_agents_and_strangers_cannot_list_or_play(running: ServiceApp, who: str | None) -> None:
    client = running.client
    if who is not None:
        await login(client, who)
    for path in ("/api/v1/recordings", "/api/v1/recordings/1700.1/audio", "/api/v1/recordings/1700.1/audio?download=1"):
        response = await client.get(path)
        assert response.status in ((403,) if who else (401,)), (path, response.status)
        assert response.headers.get("Content-Type", "").startswith("application/json")
    assert await audit(running) == []


async def test_a_malformed_purged_or_unrecorded_call_is_refused_without_a_file(running: ServiceApp) -> None:
    client = running.client
    await login(client, "boss")
    for hostile in ("..%2F..%2Fetc%2Fpasswd", "1700.1.wav", "x" * 200, "%00"):
        response = await client.get(f"/api/v1/recordings/{hostile}/audio")
        assert response.status in (400, 404), (hostile, response.status)
        assert response.headers["Content-Type"].startswith("application/json")
    assert (await client.get("/api/v1/recordings/..%2F1700.1/audio")).status in (400, 404)
    assert (await client.get("/api/v1/recordings/1700.2/audio")).status == 404  # not recorded: the disk was full
    assert (await client.get("/api/v1/recordings/1700.9/audio")).status == 404  # no such call
    recording = running.service.recording
    assert await recording.purge(T0 + timedelta(days=91)) == ["1700.2", "1700.1"]
    assert (await client.get("/api/v1/recordings/1700.1/audio")).status == 404  # purged
    assert await audit(running) == []
    assert (await client.get("/api/v1/recordings?limit=0")).status == 400


async def test_the_list_shows_why_recording_is_off(running: ServiceApp) -> None:
    await login(running.client, "boss")
    recording = running.service.recording
    recording.off = RecordingWarning("disk_full", "the recordings disk is full (0 MB free)", T0)
    body = await (await running.client.get("/api/v1/recordings")).json()
    assert body["warnings"] == [
        {"code": "disk_full", "message": "the recordings disk is full (0 MB free)", "since": T0.isoformat()}
    ]


async def test_the_openapi_document_describes_the_recordings(running: ServiceApp) -> None:
    await login(running.client, "boss")
    document = await (await running.client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    assert "/api/v1/recordings" in paths and "/api/v1/recordings/{linkedid}/audio" in paths


async def test_the_recordings_page_is_for_supervisors_and_plays_nothing_by_itself(running: ServiceApp) -> None:
    client = running.client
    await login(client, "boss")
    running.service.recording.off = RecordingWarning("disk_full", "the recordings disk is full (0 MB free)", T0)
    page = await client.get("/recordings")
    text = await page.text()
    assert page.status == 200, text
    assert 'href="/recordings"' in text and "Call recordings" in text
    assert 'data-linkedid="1700.1"' in text and 'src="/api/v1/recordings/1700.1/audio"' in text
    assert 'preload="none"' in text and 'href="/api/v1/recordings/1700.1/audio?download=1"' in text
    assert 'data-linkedid="1700.2"' in text and 'src="/api/v1/recordings/1700.2/audio"' not in text  # not recorded
    assert 'data-code="disk_full"' in text and "the disk is full" in text
    wallboard = await (await client.get("/")).text()  # every page's header says recording is off
    assert 'id="recording-off"' in wallboard and "Recording is off: the disk is full" in wallboard
    assert await audit(running) == []
    viewer = TestClient(client.server)
    try:
        await login(viewer, "nadia")
        board = await (await viewer.get("/")).text()
        assert 'id="recording-off"' in board and "القرص ممتلئ" in board  # the viewer sees it too: no health data
        assert 'href="/recordings"' not in board  # ... but is not offered a page that refuses them
        refused = await viewer.get("/recordings")
        assert refused.status == 403 and "للمشرفين" in await refused.text()
        assert 'data-linkedid="1700.1"' not in await refused.text()
    finally:
        await viewer.close()


async def test_a_hotline_that_records_nothing_has_no_recordings(tmp_path: Path) -> None:
    async with running_service(tmp_path) as running:  # the 151 line as shipped: no topic records
        await running.app[CONSOLE].store.add_user("boss", PASSWORD, "supervisor", "en")
        await login(running.client, "boss")
        response = await running.client.get("/api/v1/recordings")
        assert response.status == 404 and "records no calls" in (await response.json())["error"]
        assert (await running.client.get("/recordings")).status == 404  # the page is not mounted
        home = await (await running.client.get("/")).text()
        assert 'href="/recordings"' not in home and 'id="recording-off"' not in home
