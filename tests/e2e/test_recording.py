"""Recording (issue 12, item 4) against a real Asterisk 22 with SIPp: the caller, a SIPp phone sending RTP, reaches the
complaints topic of the 151 line, recorded here (record: true, kept a day; the shipped patient-services line records
its complaints); the agent is a SIPp phone that talks a few seconds.

* the caller hears the recording notice in their language before the queue (the notice's UserEvent, SUCCESS, before
  the caller's QueueCallerJoin);
* the call leaves <linkedid>.wav in the instance's recordings folder, Asterisk's, no one else's but the service's
  ACL entry; its length matches the record's talk time within 1 s; the row says so;
* the purge, with a clock past the topic's retention, removes the file and notes when;
* a supervisor lists and plays it through the console's API (audited); a viewer is refused;
* a full disk (a tiny tmpfs on the recordings folder, filled): the next call goes on, unrecorded (Status OFF), and
  the console's recordings API shows the warning.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pwd
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from conftest import (  # tests/e2e is on sys.path
    CONSOLE_PASSWORD,
    PROJECT_ROOT,
    Rig,
    _short_profile,
    ami_events,
    running_rig,
)
from playwright.async_api import expect

from recording.db import RecordingStore
from recording.model import wav_seconds
from recording.service import RecordingService
from telephony.sipp.driver import place_call

pytestmark = pytest.mark.e2e

ARABIC, COMPLAINTS = "1", "5"
AGENT = "agent-ar-3"  # the test profile's Arabic agent of general and complaints
TALK = 6.0  # seconds the agent talks before hanging up


def _profile(target: Path) -> Path:
    _short_profile(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["prompts"]["recording_notice"] = {"ar": "مسجلة", "en": "Recorded"}
    data["callbacks"]["enabled"] = False  # nothing else offers or dials here
    for topic in data["topics"]:
        if topic["id"] == "complaints":  # recorded here as on the patient-services line, kept a day
            topic["record"] = True
            topic["retention_days"] = 1
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def _mulaw_tone(path: Path, seconds: float = 2.0) -> Path:
    """A 400 Hz tone as a WAV of PCMU at 8 kHz (format 7), what SIPp's rtp_stream sends with payload type 0."""

    def ulaw(sample: int) -> int:
        sign = 0x80 if sample < 0 else 0
        sample = min(abs(sample), 32635) + 0x84
        exponent = max(0, sample.bit_length() - 8)
        mantissa = (sample >> (exponent + 3)) & 0x0F
        return ~(sign | (exponent << 4) | mantissa) & 0xFF

    frames = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 400 * n / 8000))) for n in range(int(8000 * seconds)))
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(frames)) + frames
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-recording")
    with running_rig(workdir, "e2e-rec", _profile(workdir / "profile.yaml")) as started:
        yield started


@pytest.fixture(scope="module")
def console_users(rig: Rig) -> dict[str, str]:
    """A supervisor and a viewer of this module's rig, made with the CLI as an operator would: role -> name."""
    users = {"supervisor": "rec-supervisor", "viewer": "rec-viewer"}
    for role, name in users.items():
        done = subprocess.run(
            [sys.executable, "-m", "hotline", "user", "add", name, "--role", role, "--password-stdin"],
            input=CONSOLE_PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return users


def _recordings_dir(rig: Rig) -> Path:
    from hotline.settings import Settings
    from telephony.asterisk import AsteriskInstance
    from telephony.provision import current_root

    settings = Settings.from_env(rig.env)
    root = current_root(settings.cache_dir)
    assert root is not None
    return AsteriskInstance(root, settings).recordings_dir


async def _call(rig: Rig, number: str, audio: Path):
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=[(1.0, ARABIC), (0.8, COMPLAINTS)],
        workdir=rig.workdir / "callers", max_duration=40, audio=audio,
    )  # fmt: skip


async def _recording(rig: Rig, linkedid: str, status: str | None = None):
    store = RecordingStore(rig.db_url)
    try:

        async def found():
            row = await store.get(linkedid)
            return row if row is not None and (status is None or row.status == status) else None

        return await rig.wait_for(found, timeout=15, what=f"the recording of {linkedid} ({status})")
    finally:
        await store.close()


def _acl(path: Path) -> str:
    return subprocess.run(["getfacl", "-n", "--omit-header", str(path)], capture_output=True, text=True).stdout


def _api(rig: Rig, user: str, path: str) -> tuple[int, bytes, dict[str, str]]:
    """A signed-in user's GET (a session from /login, as the browser has)."""
    import http.cookiejar
    import urllib.error
    import urllib.parse
    import urllib.request

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{rig.http_port}"
    form = urllib.parse.urlencode({"name": user, "password": CONSOLE_PASSWORD}).encode()
    opener.open(urllib.request.Request(base + "/login", data=form, headers={"Origin": base}), timeout=10)
    try:
        with opener.open(base + path, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


async def test_a_recorded_call_leaves_a_wav_as_long_as_its_talk_and_the_purge_removes_it(
    rig: Rig, phones, console_users, chromium
) -> None:
    audio = _mulaw_tone(rig.workdir / "tone.wav")
    await phones(AGENT, talk_seconds=TALK)
    async with ami_events(rig, ["UserEvent", "QueueCallerJoin", "AgentConnect"]) as events:
        result = await _call(rig, "96551400001", audio)
        assert result.answered and result.remote_hung_up, result.error
        (record,) = await rig.records_of("96551400001")
    assert record.agent == AGENT and record.talk_seconds is not None and record.talk_seconds >= TALK - 1, record
    linkedid = record.linkedid

    # the notice, in Arabic, played to its end before the caller joined the queue; then the recording started
    names = [e.get("UserEvent") or e["Event"] for e in events if e.get("Linkedid") == linkedid]
    notice = [e for e in events if e.get("UserEvent") == "HotlineRecordingNotice" and e.get("Linkedid") == linkedid]
    assert [(e["Language"], e["Topic"], e["Status"]) for e in notice] == [("ar", "complaints", "SUCCESS")], events
    assert names.index("HotlineRecordingNotice") < names.index("QueueCallerJoin") < names.index("AgentConnect")
    started = [e for e in events if e.get("UserEvent") == "HotlineRecording" and e.get("Linkedid") == linkedid]
    assert [(e["Status"], e["File"]) for e in started] == [("STARTED", f"{linkedid}.wav")]

    # the file: named by the call only, Asterisk's, private but for the service's ACL entry
    row = await _recording(rig, linkedid, "complete")
    path = _recordings_dir(rig) / f"{linkedid}.wav"
    assert row.file == path.name and path.is_file()
    info = path.stat()
    assert info.st_mode & 0o007 == 0, oct(info.st_mode)  # nothing for others
    acl = _acl(path)
    entries = {line.split("\t")[0].strip() for line in acl.splitlines() if line.strip()}
    named = {e.rsplit(":", 1)[0] for e in entries if e.startswith("user:") and not e.startswith("user::")}
    assert "group::---" in entries and "other::---" in entries and len(named) == 1, acl  # the service, no one else
    # its length is the talk time, within a second
    seconds = wav_seconds(path)
    assert seconds is not None and abs(seconds - record.talk_seconds) <= 1.0, (seconds, record.talk_seconds)
    assert row.duration_seconds == pytest.approx(seconds, abs=0.01)
    print(f"measured: WAV {seconds:.2f} s, talk {record.talk_seconds:.2f} s")

    # a supervisor lists and plays it (audited); a viewer cannot
    status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/recordings")
    assert status == 200 and linkedid.encode() in body, body
    status, body, headers = await asyncio.to_thread(
        _api, rig, console_users["supervisor"], f"/api/v1/recordings/{linkedid}/audio"
    )
    assert status == 200 and headers["Content-Type"] == "audio/wav" and body == path.read_bytes()
    status, body, _ = await asyncio.to_thread(
        _api, rig, console_users["viewer"], f"/api/v1/recordings/{linkedid}/audio"
    )
    assert status == 403, body
    status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/audit?limit=20")
    assert b'"recording.play"' in body and linkedid.encode() in body, body

    # ... and so in the browser: the recordings page plays it and saves it, each in the audit log
    await _in_the_browser(rig, chromium, console_users, linkedid, path.read_bytes())

    # the purge: not before the retention (1 day), then the file goes and the row says when
    store = RecordingStore(rig.db_url)
    try:
        from profiles.model import load_profile

        purger = RecordingService(load_profile(Path(rig.env["HOTLINE_PROFILE"])), store, path.parent)
        assert await purger.purge(row.started_at + timedelta(hours=23)) == [] and path.exists()
        later = row.started_at + timedelta(days=1, seconds=1)
        assert await purger.purge(later) == [linkedid]
        assert not path.exists()
        purged = await store.get(linkedid)
        assert purged is not None and purged.purged_at == later and purged.status == "purged"
    finally:
        await store.close()
    status, _, _ = await asyncio.to_thread(
        _api, rig, console_users["supervisor"], f"/api/v1/recordings/{linkedid}/audio"
    )
    assert status == 404


async def _signed_in(chromium, rig: Rig, name: str):
    context = await chromium.new_context()
    page = await context.new_page()
    base = f"http://127.0.0.1:{rig.http_port}"
    await page.goto(base + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    return context, page, base


def _audited(rig: Rig, user: str, action: str, linkedid: str) -> int:
    status, body, _ = _api(rig, user, "/api/v1/audit?limit=100")
    assert status == 200, body
    return sum(1 for row in json.loads(body) if row["action"] == action and row["target"] == linkedid)


async def _in_the_browser(rig: Rig, chromium, users: dict[str, str], linkedid: str, wav: bytes) -> None:
    supervisor = users["supervisor"]
    plays = await asyncio.to_thread(_audited, rig, supervisor, "recording.play", linkedid)
    context, page, base = await _signed_in(chromium, rig, supervisor)
    try:
        response = await page.goto(base + "/recordings")
        assert response is not None and response.status == 200
        row = page.locator(f'tr[data-linkedid="{linkedid}"]')
        await expect(row).to_have_attribute("data-status", "complete")
        await expect(page.locator('a[href="/recordings"]')).to_be_visible()  # in the header
        assert await asyncio.to_thread(_audited, rig, supervisor, "recording.play", linkedid) == plays  # not yet
        played = await page.evaluate(
            """async (id) => {
                const audio = document.querySelector(`tr[data-linkedid="${id}"] audio`);
                audio.muted = true;
                await audio.play();
                await new Promise(done => setTimeout(done, 700));
                return [audio.duration, audio.currentTime];
            }""",
            linkedid,
        )
        assert played[0] > 5 and played[1] > 0, played  # Chromium plays the talk
        assert await asyncio.to_thread(_audited, rig, supervisor, "recording.play", linkedid) > plays
        async with page.expect_download() as download:
            await row.locator("a.download").click()
        saved = await (await download.value).path()
        assert Path(saved).read_bytes() == wav
        assert await asyncio.to_thread(_audited, rig, supervisor, "recording.download", linkedid) == 1
    finally:
        await context.close()
    context, page, base = await _signed_in(chromium, rig, users["viewer"])
    try:
        response = await page.goto(base + "/recordings")
        assert response is not None and response.status == 403
        assert await page.locator("audio").count() == 0
    finally:
        await context.close()


@contextmanager
def small_disk(rig: Rig, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` on the recordings folder: Asterisk's, 0700, the service's ACL entry (as hotline run does)."""
    folder = _recordings_dir(rig)
    info = folder.stat()
    options = f"size={size},mode=0700,uid={info.st_uid},gid={info.st_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True)
    try:
        service = pwd.getpwnam("hotline").pw_uid  # the service's user (conftest's rig: hotline serve as root)
        subprocess.run(["setfacl", "-m", f"u:{service}:rwX", str(folder)], check=True)
        subprocess.run(["setfacl", "-d", "-m", f"u::rwX,g::-,o::-,u:{service}:rwX,m::rwX", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    subprocess.run(["dd", "if=/dev/zero", f"of={folder}/filler", "bs=64k"], capture_output=True)
    assert os.statvfs(folder).f_bavail == 0


@pytest.fixture
def full_disk(rig: Rig) -> Iterator[Path]:
    """A 1 MB tmpfs on the recordings folder, filled to the last byte."""
    with small_disk(rig, "1m") as folder:
        fill(folder)
        yield folder


async def test_a_full_disk_stops_the_recording_not_the_call_and_the_console_warns(
    rig: Rig, phones, console_users, full_disk: Path
) -> None:
    audio = _mulaw_tone(rig.workdir / "tone.wav")

    async def warned():
        status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/recordings")
        return status == 200 and b'"disk_full"' in body

    await rig.wait_for(warned, timeout=20, what="the console's warning of a full disk")
    await phones(AGENT, talk_seconds=TALK)
    async with ami_events(rig, ["UserEvent"]) as events:
        started = time.monotonic()
        result = await _call(rig, "96551400002", audio)
        (record,) = await rig.records_of("96551400002")
    # the call went on: answered by the agent, who talked as long as they meant to, and hung up themselves
    assert result.answered and result.remote_hung_up, result.error
    assert record.agent == AGENT and record.talk_seconds is not None and record.talk_seconds >= TALK - 1, record
    assert time.monotonic() - started >= TALK
    off = [e for e in events if e.get("UserEvent") == "HotlineRecording" and e.get("Linkedid") == record.linkedid]
    assert [(e["Status"], e["Reason"]) for e in off] == [("OFF", "DISK_FULL")], events
    row = await _recording(rig, record.linkedid)
    assert row.status == "off" and row.file is None and row.reason == "DISK_FULL"
    assert not (full_disk / f"{record.linkedid}.wav").exists()
    assert await warned()
    status, page, _ = await asyncio.to_thread(_api, rig, console_users["viewer"], "/")  # the wallboard's header
    assert status == 200 and 'id="recording-off"' in page.decode() and "disk is full" in page.decode()


async def test_a_disk_that_fills_during_a_call_stops_the_recording_not_the_call(
    rig: Rig, phones, console_users
) -> None:
    """Room for the recording when the call starts (more than the service's minimum), none a moment later: MixMonitor
    cannot write, the talk goes on; the file is shorter than the talk, the row says TRUNCATED, the console warns."""
    audio = _mulaw_tone(rig.workdir / "tone.wav")
    await phones(AGENT, talk_seconds=TALK)
    with small_disk(rig, "20m") as folder:

        async def on() -> bool:
            status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/recordings")
            return status == 200 and b'"warnings":[]' in body.replace(b" ", b"")

        await rig.wait_for(on, timeout=20, what="recording on again (room on the disk)")
        async with ami_events(rig, ["UserEvent"]) as events:
            call = asyncio.create_task(_call(rig, "96551400003", audio))

            def started() -> list[dict[str, str]]:
                return [e for e in events if e.get("UserEvent") == "HotlineRecording" and e.get("Status") == "STARTED"]

            async def recording() -> bool:
                return bool(started())

            await rig.wait_for(recording, timeout=20, what="the recording to start")
            await asyncio.sleep(1.5)  # a little talk is written, then the disk is full
            await asyncio.to_thread(fill, folder)
            result = await call
            (record,) = await rig.records_of("96551400003")
        assert result.answered and result.remote_hung_up, result.error
        assert record.agent == AGENT and record.talk_seconds is not None and record.talk_seconds >= TALK - 1, record
        assert started()[0]["Linkedid"] == record.linkedid
        row = await _recording(rig, record.linkedid, "failed")
        assert row.reason == "TRUNCATED" and row.duration_seconds is not None
        assert row.duration_seconds < record.talk_seconds - 2, (row.duration_seconds, record.talk_seconds)
        print(f"measured: disk full during the call: WAV {row.duration_seconds:.2f} s of {record.talk_seconds:.2f} s")
        status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/recordings")
        assert status == 200 and b'"failed"' in body and b"truncated" in body, body


async def test_an_unwritable_folder_stops_the_recording_not_the_call(rig: Rig, phones, console_users) -> None:
    """Asterisk cannot create the file (its folder made read-only for it): MixMonitor records nothing, the talk goes
    on, the row says failed (MISSING) and the console warns."""
    audio = _mulaw_tone(rig.workdir / "tone.wav")
    await phones(AGENT, talk_seconds=TALK)
    with small_disk(rig, "20m") as folder:
        folder.chmod(0o500)  # not even Asterisk (its owner) may create a file in it now (nor the service read it)
        async with ami_events(rig, ["UserEvent"]) as events:
            result = await _call(rig, "96551400004", audio)
            (record,) = await rig.records_of("96551400004")
        assert result.answered and result.remote_hung_up, result.error
        assert record.agent == AGENT and record.talk_seconds is not None and record.talk_seconds >= TALK - 1, record
        ours = [e for e in events if e.get("Linkedid") == record.linkedid]
        # MixMonitor was asked, and could not write
        assert [e["Status"] for e in ours if e.get("UserEvent") == "HotlineRecording"] == ["STARTED"]
        row = await _recording(rig, record.linkedid, "failed")
        assert row.reason == "MISSING"
        folder.chmod(0o700)
        assert not (folder / f"{record.linkedid}.wav").exists()
        status, body, _ = await asyncio.to_thread(_api, rig, console_users["supervisor"], "/api/v1/recordings")
        assert status == 200 and b'"failed"' in body and b"missing" in body, body
