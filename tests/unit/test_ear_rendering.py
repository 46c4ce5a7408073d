"""Whisper and the supervisor's ear in Asterisk's rendered configuration (issue 12, item 5), without Asterisk: the
supervisors' phones (their own endpoints, generated passwords, a context that reaches the hotline's number and nothing
else), ChanSpy loaded only when used, and the whisper each queue of a whispering topic plays to its agent on connect
(app_queue's announce override). Hostile supervisor ids are refused by the profile. The real Asterisk is
tests/e2e/test_supervisor_ear.py."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hotline.bootstrap import asterisk_plan
from profiles.model import Profile, ProfileError, load_profile, parse_profile
from routing.whisper import whisper_prompt_plan
from telephony.asterisk import AsteriskInstance, Credentials

PROFILE_FILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"
SHIPPED = load_profile(PROFILE_FILE)


def _render(tmp_path: Path, profile: Profile, credentials: Credentials | None = None) -> dict[str, str]:
    settings = SimpleNamespace(instance="unit", cache_dir=tmp_path / "cache", sip_host="127.0.0.1", sip_port=5060,
                               ami_port=5038, agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999,
                               trunk_match=("192.0.2.1",), trunk_contact="sip:192.0.2.1:5060")  # fmt: skip
    instance = AsteriskInstance(tmp_path, settings)
    return instance.render(profile, asterisk_plan(profile), credentials or Credentials.generate(profile), write=False)


def _sections(text: str) -> dict[str, list[dict[str, str]]]:
    """An Asterisk .conf file as section name -> its blocks (a name repeats: endpoint, auth, aor)."""
    found: dict[str, list[dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = {}
            found.setdefault(line[1:-1], []).append(current)
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return found


def _context(dialplan: str, name: str) -> list[str]:
    section = dialplan.split(f"[{name}]\n", 1)[1]
    return [line for line in section.split("\n[", 1)[0].splitlines() if line.strip() and not line.startswith(";")]


def test_each_supervisor_has_their_own_phone_with_a_generated_password_that_calls_only_the_hotline(tmp_path):
    credentials = Credentials.generate(SHIPPED)
    assert {"supervisor-1", "supervisor-2"} <= set(credentials.phones)
    assert len(set(credentials.phones.values())) == len(credentials.phones)  # one secret each
    rendered = _render(tmp_path, SHIPPED, credentials)
    pjsip = _sections(rendered["pjsip.conf"])
    for supervisor in SHIPPED.supervisors:
        blocks = {block["type"]: block for block in pjsip[supervisor.id]}
        endpoint = blocks["endpoint"]
        assert endpoint["context"] == "hotline-supervisors"
        assert (endpoint["identify_by"], endpoint["trust_id_inbound"], endpoint["allow_transfer"]) == (
            "username", "no", "no")  # fmt: skip
        assert endpoint["auth"] == supervisor.id and blocks["auth"]["password"] == credentials.phones[supervisor.id]
        assert endpoint["language"] == (supervisor.language or SHIPPED.default_language)
    assert credentials.phones["supervisor-1"] not in rendered["extensions.conf"]
    lines = _context(rendered["extensions.conf"], "hotline-supervisors")
    assert lines == ["exten => 151,1,Goto(hotline-inbound,151,1)"]  # the hotline's number, nothing else, no pattern


def test_chanspy_is_loaded_for_supervisors_and_not_without_them_or_the_place_in_line(tmp_path):
    assert "load => app_chanspy.so" in _render(tmp_path, SHIPPED)["modules.conf"]
    bare = dataclasses.replace(SHIPPED, supervisors=())
    rendered = _render(tmp_path, bare)
    assert "app_chanspy" not in rendered["modules.conf"]
    assert "[hotline-supervisors]" not in rendered["extensions.conf"]
    assert "supervisor-1" not in rendered["pjsip.conf"]


def test_the_agent_of_a_whispering_topic_hears_its_queues_whisper_on_connect_and_other_queues_have_none(tmp_path):
    dialplan = _render(tmp_path, SHIPPED)["extensions.conf"]
    queues = re.findall(r"Queue\(\$\{HOTLINE_QUEUE\}(.*)\)", dialplan)
    assert queues and all(q.split(",")[3] == "${HOTLINE_WHISPER_${HOTLINE_QUEUE}}" for q in queues)  # announce override
    globals_ = dict(re.findall(r"^(HOTLINE_WHISPER_\S+) = (\S+)$", dialplan, re.MULTILINE))
    medical = {f"{lang}-medical-{spec}" for lang in ("ar", "en") for spec in ("paediatrics", "internal", "psychiatry")}
    assert {name.removeprefix("HOTLINE_WHISPER_") for name in globals_} == medical  # only the topic with whisper: true
    assert globals_["HOTLINE_WHISPER_ar-medical-paediatrics"] == "/hotline/unit/sounds/whisper/ar-medical-paediatrics"
    plan = whisper_prompt_plan(SHIPPED)
    assert set(plan) == {f"whisper/{queue}" for queue in medical}
    assert set(asterisk_plan(SHIPPED).prompts) >= set(plan)  # made with the other prompts
    (english,) = plan["whisper/en-medical-paediatrics"]
    assert (english.voice, english.text) == ("en", "English caller: a medical consultation, paediatrics.")
    (arabic,) = plan["whisper/ar-medical-internal"]
    assert arabic.voice == "ar" and "للاستشارات الطبية" in arabic.text and "للطب الباطني" in arabic.text


def test_without_a_whispering_topic_queue_has_no_announce_and_no_whisper_is_made(tmp_path):
    topics = tuple(dataclasses.replace(t, whisper=False) for t in SHIPPED.topics)
    quiet = dataclasses.replace(SHIPPED, topics=topics)
    dialplan = _render(tmp_path, quiet)["extensions.conf"]
    assert "HOTLINE_WHISPER" not in dialplan
    # no announce (Queue's third argument); the options (transfers, the conference's pre-dial handler) are others'
    assert re.search(r"Queue\(\$\{HOTLINE_QUEUE\},[^,]*,,,180,,,hotline-widen\)", dialplan)
    assert whisper_prompt_plan(quiet) == {}


@pytest.mark.parametrize(
    "hostile",
    ["sup-1;context=hotline-inbound", "sup 1", "sup-1\n[evil]", "PJSIP/sup-1", "sup-1,qB", "../sup", ""],
)
def test_a_supervisor_id_that_pjsip_or_chanspy_could_read_as_more_is_refused(hostile):
    data = yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8"))
    data["supervisors"] = [{"id": hostile, "name": "x"}]
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source="bad.yaml")
    assert any(path.startswith("supervisors[0].id") for path, _ in info.value.problems)
