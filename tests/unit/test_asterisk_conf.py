"""Asterisk's rendered configuration and secrets (issue 10, items 2, 4 and 7): what is rendered, and how it is written.

The end-to-end proof against a real Asterisk is tests/e2e/test_hardening.py; these pin the rendered text and the
file modes, without Asterisk.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from hotline.bootstrap import asterisk_plan
from profiles.model import Profile, load_profile
from telephony import asterisk
from telephony.asterisk import AsteriskInstance, Credentials, RunAs, write_private

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRUNK = ("192.0.2.10", "198.51.100.0/24")

# The AMI actions the service sends and the write class Asterisk 22 requires for each
# (`manager show command <Action>`: "[Privilege] agent,all", "originate,all", "<none>").
ACTIONS_SENT = {
    "QueueAdd": "agent",
    "QueueRemove": "agent",
    "QueuePause": "agent",
    "QueuePenalty": "agent",
    "Originate": "originate",
    "QueueStatus": None,
    "Ping": None,
    "Challenge": None,
    "Login": None,
    "Logoff": None,
}
# ... and the conference's, when the profile has destinations (routing/conference.py).
CONFERENCE_ACTIONS_SENT = {
    "Redirect": "call",
    "Hangup": "call",
    "CoreShowChannels": "reporting",
    "ConfbridgeList": "reporting",
    "UserEvent": "user",
}
# ... and the recordings', when a topic records (recording/service.py: the global that turns recording off).
RECORDING_ACTIONS_SENT = {"Setvar": "call"}


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(PROJECT_ROOT / "profiles" / "moh-151.yaml")


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _instance(root: Path) -> AsteriskInstance:
    settings = SimpleNamespace(
        instance="unit",
        cache_dir=root / "cache",
        sip_host="127.0.0.1",
        sip_port=5060,
        ami_port=5038,
        agi_host="127.0.0.1",
        agi_port=4573,
        rtp_start=10000,
        rtp_end=10999,
        trunk_match=TRUNK,
        trunk_contact="sip:192.0.2.10:5060",
    )
    return AsteriskInstance(root, settings)


def _render(root: Path, profile: Profile) -> dict[str, str]:
    return _instance(root).render(profile, asterisk_plan(profile), Credentials.generate(profile))


def _sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """An Asterisk .conf file as (section, options) pairs in order; a section name may repeat."""
    sections: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], {}))
        elif "=" in line and sections:
            key, value = (part.strip() for part in line.split("=", 1))
            sections[-1][1].setdefault(key, []).append(value.lstrip(">").strip())
    return sections


def _typed(text: str, kind: str) -> dict[str, dict[str, list[str]]]:
    return {name: opts for name, opts in _sections(text) if opts.get("type") == [kind]}


def test_trunk_is_identified_by_its_address_only(tmp_path: Path, profile: Profile) -> None:
    pjsip = _render(tmp_path, profile)["pjsip.conf"]
    trunk = _typed(pjsip, "endpoint")["trunk"]
    assert trunk["identify_by"] == ["ip"]
    identify = [opts for opts in _typed(pjsip, "identify").values() if opts["endpoint"] == ["trunk"]]
    assert len(identify) == 1 and identify[0]["match"] == list(TRUNK)
    assert "auth" not in trunk  # so a From: trunk@... can only ever be the trunk when its address matches


def test_phones_are_identified_by_user_name_only_and_their_identity_headers_are_not_trusted(
    tmp_path: Path, profile: Profile
) -> None:
    endpoints = _typed(_render(tmp_path, profile)["pjsip.conf"], "endpoint")
    for person in profile.people:
        phone = endpoints[person.id]
        assert phone["identify_by"] == ["username"], person.id
        assert phone["auth"] == [person.id], person.id
        assert phone.get("trust_id_inbound", ["no"]) == ["no"], person.id
    trusting = sorted(name for name, opts in endpoints.items() if opts.get("trust_id_inbound") == ["yes"])
    assert trusting == ["trunk"]


def test_ami_user_may_send_only_the_classes_of_the_actions_the_service_sends(tmp_path: Path, profile: Profile) -> None:
    manager = dict(_sections(_render(tmp_path, profile)["manager.conf"]))
    user = manager[asterisk.AMI_USER]
    write = set(user["write"][0].split(","))
    sent = ACTIONS_SENT | (CONFERENCE_ACTIONS_SENT if profile.destinations else {})
    sent |= RECORDING_ACTIONS_SENT if profile.records_calls and not profile.destinations else {}
    assert write == {cls for cls in sent.values() if cls}
    assert not write & {"system", "command", "config", "all"}
    assert set(user["read"][0].split(",")) == {"call", "agent", "user"}
    assert user["permit"] == ["127.0.0.1/255.255.255.255"]


def test_asterisk_drops_root_to_the_asterisk_user_of_its_root(tmp_path: Path, profile: Profile) -> None:
    if os.geteuid() != 0:
        pytest.skip("Asterisk is started by root only (chroot): the run user applies then")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nasterisk:x:101:102::/var/lib/asterisk:/bin/false\n"
    )
    (tmp_path / "etc" / "group").write_text("root:x:0:\nasterisk:x:102:\n")
    assert RunAs.lookup(tmp_path, "asterisk") == RunAs("asterisk", "asterisk", 101, 102)
    options = dict(_sections(_render(tmp_path, profile)["asterisk.conf"]))["options"]
    assert options["runuser"] == ["asterisk"] and options["rungroup"] == ["asterisk"]
    etc = tmp_path / "hotline" / "unit" / "etc"
    assert {(p.stat().st_uid, p.stat().st_gid) for p in etc.iterdir()} == {(101, 102)}


def test_without_an_asterisk_user_no_run_user_is_named(tmp_path: Path, profile: Profile) -> None:
    assert RunAs.lookup(tmp_path, "asterisk") is None
    assert "runuser" not in _render(tmp_path, profile)["asterisk.conf"]


def test_secret_file_is_never_visible_with_wider_permissions(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    replace = os.replace

    def watching_replace(src: str, dst: str) -> None:
        seen.append(stat.S_IMODE(os.stat(src).st_mode))  # the file as it is when it gets its name
        replace(src, dst)

    monkeypatch.setattr(asterisk.os, "replace", watching_replace)
    target = tmp_path / "credentials.json"
    target.write_text("old")  # replaced, not rewritten in place with its old mode
    target.chmod(0o644)
    write_private(target, '{"secret": "s"}')
    assert seen == [0o600]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == '{"secret": "s"}'
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]  # no temporary file left


def test_configuration_is_created_0600_not_written_then_chmod_ed(
    tmp_path: Path, profile: Profile, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a secret written with write_text (created with the umask's mode, chmod-ed after)")

    monkeypatch.setattr(Path, "write_text", refuse)
    rendered = _render(tmp_path, profile)
    etc = tmp_path / "hotline" / "unit" / "etc"
    assert sorted(p.name for p in etc.iterdir()) == sorted(rendered)
    assert {stat.S_IMODE(p.stat().st_mode) for p in etc.iterdir()} == {0o600}


def test_in_the_image_asterisk_is_started_without_chroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asterisk.os, "geteuid", lambda: 10151)  # the image's unprivileged user
    image = _instance(Path("/"))
    assert image._chroot("-rx", "core show version")[:3] == ["/usr/sbin/asterisk", "-C", image.config_file]
    with pytest.raises(asterisk.AsteriskError, match="run as root"):
        _instance(tmp_path)._chroot("-rx", "core show version")


def test_the_image_root_keeps_its_own_hosts_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from telephony import provision

    copied: list[tuple[object, object]] = []
    monkeypatch.setattr(provision.shutil, "copyfile", lambda src, dst: copied.append((src, dst)))
    provision.sync_hosts(Path("/"))
    assert copied == []


# -- cases (issue 11): the dialplan of a profile with cases, the voice-note folder, Asterisk's umask ------------


def _cases_profile() -> Profile:
    return load_profile(PROJECT_ROOT / "profiles" / "municipal-940.yaml")


def _dialplan_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(";")]


def test_without_cases_the_dialplan_has_no_case_route_and_the_agent_hanging_up_ends_the_call(
    tmp_path: Path, profile: Profile
) -> None:
    rendered = _render(tmp_path, profile)
    dialplan = rendered["extensions.conf"]
    assert "case_" not in dialplan and "Record(" not in dialplan and "MEMBERINTERFACE" not in dialplan
    queues = [line for line in _dialplan_lines(dialplan) if "Queue(${HOTLINE_QUEUE}" in line]
    assert queues and all(",c" not in line for line in queues)  # no option c: Asterisk ends the call as before
    assert "app_record" not in rendered["modules.conf"]
    assert "\n\n same" not in dialplan  # no blank line left where the case blocks would be


def _cases_151() -> Profile:
    from test_profile import with_cases

    from profiles.model import parse_profile

    return parse_profile(with_cases(), source="151-with-cases.yaml")


@pytest.mark.parametrize(("make", "queue_calls"), [(_cases_profile, 3), (_cases_151, 5)], ids=["940", "151-callbacks"])
def test_with_cases_a_served_caller_stays_for_the_read_back_and_is_never_queued_again(
    tmp_path: Path, make: object, queue_calls: int
) -> None:
    assert callable(make)
    lines = _dialplan_lines(_render(tmp_path, make())["extensions.conf"])
    queues = [i for i, line in enumerate(lines) if "Queue(${HOTLINE_QUEUE}" in line]
    # the first queue, the requeue loop and a caller handed on to a queue (hotline-handed-on); with callbacks also
    # the waiting caller's return and the callback call
    assert len(queues) == queue_calls
    for index in queues:
        assert "Queue(${HOTLINE_QUEUE},c" in lines[index], lines[index]
        # right after each Queue(), a served caller (a member answered) leaves for the read-back
        after = lines[index + 1 : index + 3]
        assert any('GotoIf($["${MEMBERINTERFACE}" != ""]?' in line and "served)" in line for line in after), after
    served = next(i for i, line in enumerate(lines) if "(served)" in line)
    assert "/case_readback,${HOTLINE_LANGUAGE},${CHANNEL(linkedid)})" in lines[served + 1]
    assert lines[served + 2] == 'same => n,GotoIf($["${HOTLINE_RESULT}" = "OK"]?readback)'
    # no case: the call ends as it would have (no survey in these profiles: the survey label hangs up)
    assert lines[served + 3] == "same => n,Goto(survey)"
    assert "same => n(survey),Hangup()" in lines
    readback = lines[served + 4 : served + 8]
    assert readback[0] == "same => n(readback),Playback(${HOTLINE_CASE_PROMPT})"
    assert readback[1].startswith("same => n,UserEvent(HotlineCaseReadback,Case: ${HOTLINE_CASE_NUMBER}")
    assert "PIN" not in readback[1]
    assert readback[2:] == ["same => n,Playback(${HOTLINE_CASE_PIN_PROMPT})", "same => n,Goto(survey)"]


def test_with_cases_the_report_records_the_voice_note_with_the_profiles_limits_then_opens_the_case(
    tmp_path: Path,
) -> None:
    profile = _cases_profile()
    assert profile.cases is not None
    rendered = _render(tmp_path, profile)
    lines = _dialplan_lines(rendered["extensions.conf"])
    assert 'same => n,GotoIf($["${HOTLINE_RESULT}" = "REPORT"]?report)' in lines
    assert 'same => n,GotoIf($["${HOTLINE_RESULT}" = "FOLLOW"]?follow)' in lines
    # a self-served caller is announced as routed (REPORT, FOLLOW), so their record is not an IVR hang-up
    report = next(line for line in lines if "(report)" in line)
    assert report.startswith("same => n(report),UserEvent(HotlineRoute,Language: ${HOTLINE_LANGUAGE},Topic: ")
    assert report.endswith(",Result: REPORT)")
    follow = next(line for line in lines if "(follow)" in line)
    assert follow.startswith("same => n(follow),UserEvent(HotlineRoute,") and follow.endswith(",Result: FOLLOW)")
    record = next(line for line in lines if "Record(" in line)
    silence, limit = profile.cases.record_silence_seconds, profile.cases.record_max_seconds
    # q: our own beep (Asterisk's is not installed); k: a caller who hangs up keeps their note (see below)
    assert record == f"same => n,Record(/hotline/unit/voice-notes/${{HOTLINE_VOICE_NOTE}}.wav,{silence},{limit},qk)"
    at = lines.index(record)
    assert lines[at - 1].endswith("/report-record&/hotline/unit/sounds/beep)")  # the prompt, then our beep
    assert lines[at + 2].endswith(
        "/case_report,${HOTLINE_LANGUAGE},${HOTLINE_TOPIC},${HOTLINE_DISTRICT},${HOTLINE_VOICE_NOTE},${RECORD_STATUS},"
        "${CHANNEL(linkedid)})"
    )  # the case is linked to this call
    # hung up while recording: the h extension opens the case with the kept note
    hangup = lines.index('exten => h,1,GotoIf($["${HOTLINE_RESULT}" = "RECORD"]?note)')
    assert lines[hangup + 1] == "same => n,Hangup()"
    assert lines[hangup + 2].endswith(
        "/case_report,${HOTLINE_LANGUAGE},${HOTLINE_TOPIC},${HOTLINE_DISTRICT},${HOTLINE_VOICE_NOTE},HANGUP,"
        "${CHANNEL(linkedid)})"
    )
    # our failure: the apology, then a person (the topic's queue, set by the IVR)
    failed = next(i for i, line in enumerate(lines) if "(casefailed)" in line)
    assert lines[failed].endswith("/${HOTLINE_LANGUAGE}/agent-failed)")
    assert lines[failed + 2] == "same => n,Goto(announce)"
    assert "load => app_record.so" in rendered["modules.conf"].splitlines()
    assert "load => format_wav.so" in rendered["modules.conf"].splitlines()


def test_the_voice_note_folder_is_made_0700_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    instance = _instance(tmp_path)
    instance.host_dir.mkdir(parents=True)
    instance._voice_notes_folder(None)
    assert stat.S_IMODE(instance.voice_notes_dir.stat().st_mode) == 0o700
    instance.voice_notes_dir.chmod(0o755)  # widened by hand: narrowed again at the next start
    (instance.voice_notes_dir / "kept.wav").write_bytes(b"RIFF")
    instance._voice_notes_folder(None)
    assert stat.S_IMODE(instance.voice_notes_dir.stat().st_mode) == 0o700
    assert (instance.voice_notes_dir / "kept.wav").exists()  # the notes belong to their cases: kept


async def test_asterisk_is_started_with_umask_077_so_what_it_records_is_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, object] = {}

    class Started:
        pid = 4242
        returncode = None

    async def spawn(*args: object, **kwargs: object) -> Started:
        started.update(kwargs)
        return Started()

    async def booted() -> None:
        return None

    instance = _instance(tmp_path)
    instance.host_dir.mkdir(parents=True)
    monkeypatch.setattr(asterisk.asyncio, "create_subprocess_exec", spawn)
    monkeypatch.setattr(instance, "_wait_booted", booted)
    monkeypatch.setattr(instance, "running_pids", lambda: [])
    monkeypatch.setattr(instance, "_chroot", lambda *args: ["asterisk", *args])
    await instance.start()
    assert started["umask"] == 0o077
