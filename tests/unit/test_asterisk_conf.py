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
    assert write == {cls for cls in ACTIONS_SENT.values() if cls}
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
