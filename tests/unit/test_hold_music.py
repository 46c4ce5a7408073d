"""Hold music from the profile (issue 13): ``prompts.hold_music`` per language becomes the music on hold of that
language's queues. The plan makes the file (a recording converted, or a text spoken); musiconhold.conf gets one class
per language that has it, with its own folder; queues.conf gives each queue its language's class. The end-to-end
proof that Asterisk plays that class is tests/e2e/test_place_in_line.py (MusicOnHoldStart's Class)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from hotline.bootstrap import asterisk_plan
from profiles.model import Profile, ProfileError, parse_profile
from telephony.asterisk import AsteriskInstance, Credentials
from telephony.prompts import Segment, hold_music_class, hold_music_name, hold_music_plan

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _data() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))


def _profile(tmp_path: Path, hold_music: dict[str, Any] | None) -> Profile:
    data = _data()
    if hold_music is not None:
        data["prompts"]["hold_music"] = hold_music
    return parse_profile(data, source="p.yaml", base_dir=tmp_path)


def _render(root: Path, profile: Profile) -> dict[str, str]:
    settings = SimpleNamespace(
        instance="unit", cache_dir=root / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
        agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("192.0.2.10",),
        trunk_contact="sip:192.0.2.10:5060",
    )  # fmt: skip
    return AsteriskInstance(root, settings).render(profile, asterisk_plan(profile), Credentials.generate(profile))


def _sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            current[key] = value
    return sections


def test_each_language_with_hold_music_gets_its_class_and_its_queues_play_it(tmp_path: Path) -> None:
    recording = tmp_path / "oud.wav"
    recording.write_bytes(b"RIFF")
    profile = _profile(tmp_path, {"ar": {"file": str(recording)}, "en": "Thank you for holding."})
    plan = hold_music_plan(profile)
    assert plan == {
        hold_music_name("ar"): (Segment("ar", None, str(recording)),),
        hold_music_name("en"): (Segment("en", "Thank you for holding.", None),),
    }
    assert set(plan) <= set(asterisk_plan(profile).prompts)  # the root merges it: the instance installs it
    rendered = _render(tmp_path, profile)
    moh = _sections(rendered["musiconhold.conf"])
    for code in ("ar", "en"):
        assert moh[hold_music_class(code)]["mode"] == "files"
        assert moh[hold_music_class(code)]["directory"].endswith(f"/sounds/moh/{code}")
    assert moh["hotline"]["directory"].endswith("/sounds/moh")  # the generated music stays for the others
    queues = _sections(rendered["queues.conf"])
    checked = 0
    for name, options in queues.items():
        if name == "general":
            continue
        language = name.split("-", 1)[0]
        assert options["musicclass"] == hold_music_class(language), name
        checked += 1
    assert checked >= 4


def test_a_language_without_hold_music_keeps_the_generated_music(tmp_path: Path) -> None:
    profile = _profile(tmp_path, {"ar": "موسيقى الانتظار"})  # only Arabic has its own
    assert set(hold_music_plan(profile)) == {hold_music_name("ar")}
    rendered = _render(tmp_path, profile)
    moh = _sections(rendered["musiconhold.conf"])
    assert hold_music_class("ar") in moh and hold_music_class("en") not in moh
    queues = _sections(rendered["queues.conf"])
    english = [options["musicclass"] for name, options in queues.items() if name.startswith("en-")]
    arabic = [options["musicclass"] for name, options in queues.items() if name.startswith("ar-")]
    assert english and set(english) == {"hotline"}
    assert arabic and set(arabic) == {hold_music_class("ar")}


def test_no_hold_music_renders_as_before(tmp_path: Path) -> None:
    profile = _profile(tmp_path, None)
    assert hold_music_plan(profile) == {}
    queues = _sections(_render(tmp_path, profile)["queues.conf"])
    assert {options["musicclass"] for name, options in queues.items() if name != "general"} == {"hotline"}


def test_hold_music_from_a_missing_file_is_refused_with_the_field_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="hold_music"):
        _profile(tmp_path, {"ar": {"file": str(tmp_path / "missing.wav")}, "en": "x"})
