"""Recording in the rendered configuration (issue 12, item 4): the notice before the queue of a recorded topic,
MixMonitor (option b) only on the agent's channel of a call the notice marked, app_mixmonitor only when a topic
records; the file named by the call's linkedid only; the prompt in every language."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

from hotline.bootstrap import asterisk_plan
from profiles.model import Profile, load_profile
from recording.model import RecordingError, file_name
from telephony.asterisk import AsteriskInstance, Credentials

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _render(root: Path, profile: Profile) -> dict[str, str]:
    settings = SimpleNamespace(
        instance="unit", cache_dir=root / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
        agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("127.0.0.1",),
        trunk_contact="sip:192.0.2.10:5060",
    )  # fmt: skip
    return AsteriskInstance(root, settings).render(profile, asterisk_plan(profile), Credentials.generate(profile))


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(";")]


def _context(text: str, name: str) -> list[str]:
    lines, inside = [], False
    for line in _lines(text):
        if line.startswith("["):
            inside = line == f"[{name}]"
        elif inside:
            lines.append(line)
    return lines


def _without_recording(profile: Profile) -> Profile:
    topics = tuple(dataclasses.replace(t, record=False) for t in profile.topics)
    return dataclasses.replace(profile, topics=topics)


def test_the_patient_services_line_records_complaints_after_the_notice_and_only_then(tmp_path: Path) -> None:
    profile = load_profile(PROJECT_ROOT / "profiles" / "patient-services.yaml")
    assert [(t.id, t.retention_days) for t in profile.topics if t.record] == [("complaints", 180)]
    rendered = _render(tmp_path, profile)
    dialplan = rendered["extensions.conf"]
    assert "load => app_mixmonitor.so" in rendered["modules.conf"]
    assert "load => app_stack.so" in rendered["modules.conf"]  # Gosub and the Queue's gosub
    write = next(line for line in rendered["manager.conf"].splitlines() if line.startswith("write ="))
    assert "call" in write.split("=")[1].split(",")  # Setvar: the service turns recording off on a full disk
    # every Queue() runs hotline-record on the agent's channel once connected
    queues = [line for line in _lines(dialplan) if "Queue(${HOTLINE_QUEUE}" in line]
    assert queues and all(re.search(r"Queue\(\$\{HOTLINE_QUEUE\}(,[^,]*){5},hotline-record\b", q) for q in queues)
    # the notice comes before the queue: the route's UserEvent, then the notice's Gosub, then the queue
    inbound = _lines(dialplan)
    route = next(i for i, line in enumerate(inbound) if "Result: ${HOTLINE_ROUTE_RESULT})" in line)
    notice = next(i for i, line in enumerate(inbound) if "Gosub(hotline-recording-notice,s,1)" in line)
    first_queue = next(i for i, line in enumerate(inbound) if "Queue(${HOTLINE_QUEUE}" in line)
    assert route < notice < first_queue
    # the one place the call is marked: right after the notice was played to its end, for the recorded topic
    marks = [line for line in _lines(dialplan) if "HOTLINE_RECORD=" in line]
    assert marks == ["same => n,Set(__HOTLINE_RECORD=${HOTLINE_TOPIC})"]
    notice_lines = _context(dialplan, "hotline-recording-notice")
    at = notice_lines.index(marks[0])
    assert notice_lines[at - 1] == 'same => n,GotoIf($["${PLAYBACKSTATUS}" != "SUCCESS"]?done)'
    assert notice_lines[at - 3].endswith("Playback(/hotline/unit/sounds/${HOTLINE_LANGUAGE}/recording-notice)")
    assert '"${HOTLINE_TOPIC}" = "complaints"' in notice_lines[1]
    # MixMonitor: only in hotline-record, only for a marked call, only while bridged (b), named by the linkedid
    mixmonitors = [line for line in _lines(dialplan) if "MixMonitor(" in line]
    assert mixmonitors == ["same => n,MixMonitor(/hotline/unit/recordings/${CHANNEL(linkedid)}.wav,b)"]
    record = _context(dialplan, "hotline-record")
    assert record[0] == 'exten => s,1,GotoIf($["${HOTLINE_RECORD}" = ""]?done)'
    assert record[1] == 'same => n,GotoIf($["${HOTLINE_RECORDING_OFF}" != ""]?off)'
    assert record[2] == mixmonitors[0]
    assert "CALLERID" not in "".join(record)  # no caller data in the file's name
    # the prompt is made in every language
    plan = asterisk_plan(profile)
    assert {"ar/recording-notice", "en/recording-notice"} <= set(plan.prompts)


def test_a_profile_that_records_nothing_loads_no_mixmonitor_and_plays_no_notice(tmp_path: Path) -> None:
    profile = _without_recording(load_profile(PROJECT_ROOT / "profiles" / "patient-services.yaml"))
    rendered = _render(tmp_path, profile)
    assert "mixmonitor" not in rendered["modules.conf"]
    if not profile.destinations:  # the conference needs call too
        assert "write = agent,originate\n" in rendered["manager.conf"]
    dialplan = rendered["extensions.conf"]
    assert "MixMonitor" not in dialplan and "recording-notice" not in dialplan and "hotline-record" not in dialplan
    assert not any(name.endswith("recording-notice") for name in asterisk_plan(profile).prompts)


def test_the_callback_plays_the_notice_before_its_queue_too(tmp_path: Path) -> None:
    profile = load_profile(PROJECT_ROOT / "profiles" / "patient-services.yaml")
    callback = _context(_render(tmp_path, profile)["extensions.conf"], "hotline-callback-out")
    notice = callback.index("same => n,Gosub(hotline-recording-notice,s,1)")
    assert notice < next(i for i, line in enumerate(callback) if "Queue(" in line)


def test_a_recording_is_named_by_the_linkedid_and_nothing_else_passes() -> None:
    assert file_name("1764680000.42") == "1764680000.42.wav"
    assert file_name("pbx-1-1764680000.7") == "pbx-1-1764680000.7.wav"
    for hostile in ("../../etc/passwd", "1764680000.42/../x", "", ".1", "96550000000", "a b.1", "1.2\n", "x" * 200):
        try:
            file_name(hostile)
        except RecordingError:
            continue
        raise AssertionError(f"{hostile!r} named a recording")
