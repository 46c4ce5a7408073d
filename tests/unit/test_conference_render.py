"""The conference's configuration (issue 12, deliverable 3), rendered without Asterisk: ConfBridge and its mixer are
loaded only for a profile with destinations; the conference key is the agent's (a pre-dial handler on the agent's
channel), never the caller's; the profiles have no announcements and the caller is the marked user; the names the
service uses (routing/conference.py) are the rendered ones. The proof against a real Asterisk is
tests/e2e/test_conference.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from hotline.bootstrap import asterisk_plan
from profiles.model import Profile, parse_profile
from routing import conference as c
from telephony.asterisk import AsteriskInstance, Credentials

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _profile(destinations: bool) -> Profile:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["destinations"] = (
        [{"id": "emergency-control-room", "code": "99", "label": {"ar": "غرفة الطوارئ", "en": "control room"},
          "sip": "sip:ecr@127.0.0.1:5099"},
         {"id": "technical-affairs", "code": "71", "label": {"ar": "الشؤون الفنية", "en": "technical affairs"},
          "number": "24441234"}]
        if destinations else []
    )  # fmt: skip
    return parse_profile(data)


def _render(tmp_path: Path, profile: Profile) -> dict[str, str]:
    settings = SimpleNamespace(
        instance="unit", cache_dir=tmp_path / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
        agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("192.0.2.10",),
        trunk_contact="sip:192.0.2.10:5060",
    )  # fmt: skip
    return AsteriskInstance(tmp_path, settings).render(
        profile, asterisk_plan(profile), Credentials.generate(profile), write=False
    )


def _sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.removeprefix(">").strip()
    return sections


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _render(tmp_path_factory.mktemp("conference"), _profile(destinations=True))


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _render(tmp_path_factory.mktemp("bare"), _profile(destinations=False))


def test_confbridge_and_its_mixer_are_loaded_only_for_a_profile_with_destinations(rendered, bare) -> None:
    loaded = re.findall(r"^load => (\S+)", rendered["modules.conf"], re.M)
    assert {"app_confbridge.so", "bridge_softmix.so", "app_stack.so"} <= set(loaded)
    assert loaded.count("app_stack.so") == 1
    assert "app_confbridge" not in bare["modules.conf"] and "bridge_softmix" not in bare["modules.conf"]
    assert "applicationmap" not in bare["features.conf"] and "hotline-conference" not in bare["extensions.conf"]
    assert "b(" not in bare["extensions.conf"]
    assert _sections(bare["confbridge.conf"]) == {}


def test_no_announcement_confuses_the_caller_and_the_caller_is_the_marked_user(rendered) -> None:
    sections = _sections(rendered["confbridge.conf"])
    assert sections[c.BRIDGE_PROFILE] == {"type": "bridge", "max_members": "4"}  # caller, agent, 2 destinations
    for name in (c.CALLER_PROFILE, c.AGENT_PROFILE, c.DESTINATION_PROFILE):
        user = sections[name]
        assert (user["type"], user["quiet"], user["announce_only_user"], user["announce_user_count"]) == (
            "user", "yes", "no", "no")  # fmt: skip
    assert sections[c.CALLER_PROFILE]["marked"] == "yes" and sections[c.CALLER_PROFILE]["music_on_hold_when_empty"]
    assert "marked" not in sections[c.AGENT_PROFILE] and "marked" not in sections[c.DESTINATION_PROFILE]
    # the caller's leaving ends it for the others; the agent's does not
    assert sections[c.AGENT_PROFILE]["end_marked"] == sections[c.DESTINATION_PROFILE]["end_marked"] == "yes"
    assert sections[c.MENU] == {"type": "menu"}  # no DTMF menu: the caller's keys do nothing


def test_the_conference_key_is_set_on_the_agents_channel_only(rendered) -> None:
    features = _sections(rendered["features.conf"])["applicationmap"]
    key, on, app, moh = re.fullmatch(r"([^,]+),([^,]+),(AGI\(.*\)),(\w+)", features[c.FEATURE]).groups()
    assert (key, on, moh) == ("*3", "self", "hotline")
    assert re.fullmatch(rf"AGI\(agi://127\.0\.0\.1:4573/[0-9a-f]{{48}}/{c.ROUTE},"
                        r"\$\{CHANNEL\(linkedid\)\},\$\{CHANNEL\(endpoint\)\}\)", app)  # fmt: skip
    dialplan = rendered["extensions.conf"]
    queues = re.findall(r"Queue\(\$\{[^\n]*", dialplan)
    assert queues and all("b(hotline-agent-leg^s^1)" in q for q in queues)
    leg = dialplan[dialplan.index("[hotline-agent-leg]") :].split("\n\n")[0]
    assert f"Set(DYNAMIC_FEATURES={c.FEATURE})" in leg and "Return()" in leg
    assert dialplan.count("DYNAMIC_FEATURES") == 1  # never set on the caller's channel


def test_the_caller_and_the_agent_join_the_conference_named_by_the_call(rendered) -> None:
    context = rendered["extensions.conf"].split(f"[{c.CONTEXT}]")[1].split("\n[")[0]
    assert (
        f"exten => {c.CALLER_EXTEN},1,Set(CHANNEL(musicclass)=" in context
        and f" same => n,ConfBridge({c.PREFIX}${{CHANNEL(linkedid)}},{c.BRIDGE_PROFILE},{c.CALLER_PROFILE},{c.MENU})"
        in context
    )
    assert f"exten => {c.AGENT_EXTEN},1,ConfBridge({c.PREFIX}${{CHANNEL(linkedid)}},{c.BRIDGE_PROFILE}," in context
    assert context.count("Hangup()") == 2
    assert "Dial(" not in context and "_" not in context.replace("hotline-", "")  # no pattern, no dialling here


def test_the_ami_user_may_redirect_hang_up_list_and_tell_only_with_destinations(rendered, bare) -> None:
    assert _sections(rendered["manager.conf"])["hotline"]["write"] == "agent,originate,call,reporting,user"
    assert _sections(bare["manager.conf"])["hotline"]["write"] == "agent,originate"
