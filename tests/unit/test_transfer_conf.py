"""Transfers in the rendered configuration (issue 12): the transfer context holds exactly the profile's directory, the
destinations context exactly its destinations, nothing else in the dialplan dials anywhere, the agent may transfer
and the caller may not, the trunk never transfers, and hostile values are refused where they would become dialplan.

The end-to-end proof against a real Asterisk is tests/e2e/test_transfers.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from hotline.bootstrap import asterisk_plan
from profiles.model import DirectoryEntry, Profile, ProfileError, load_profile, parse_profile
from telephony.asterisk import AsteriskError, AsteriskInstance, Credentials, transfer_plan

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((PROJECT_ROOT / "profiles").glob("*.yaml"))


def _render(root: Path, profile: Profile) -> dict[str, str]:
    settings = SimpleNamespace(
        instance="unit", cache_dir=root / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
        agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("192.0.2.10",),
        trunk_contact="sip:192.0.2.10:5060",
    )  # fmt: skip
    return AsteriskInstance(root, settings).render(profile, asterisk_plan(profile), Credentials.generate(profile),
                                                   write=False)  # fmt: skip


def _contexts(dialplan: str) -> dict[str, list[tuple[str, str]]]:
    """context -> [(extension, application and arguments)] of every priority, comments dropped."""
    found: dict[str, list[tuple[str, str]]] = {}
    context = ""
    exten = ""
    for raw in dialplan.splitlines():
        line = raw.split(";", 1)[0].strip() if not raw.strip().startswith(";") else ""
        if line.startswith("[") and line.endswith("]"):
            context = line[1:-1]
            found.setdefault(context, [])
        elif line.startswith("exten =>"):
            exten, _, rest = line.removeprefix("exten =>").strip().partition(",")
            found[context].append((exten, rest.split(",", 1)[1]))
        elif line.startswith("same =>"):
            found[context].append((exten, line.removeprefix("same =>").strip().split(",", 1)[1]))
    return found


def _sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = {}
            sections.setdefault(line[1:-1], {}).update(current)
            current = sections[line[1:-1]]
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            current.setdefault(key, []).append(value.lstrip(">").strip())
    return sections


def _with_destinations(**changes: Any) -> Profile:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["destinations"] = [
        {"id": "technical-affairs", "code": "71", "label": {"ar": "ف", "en": "t"}, "sip": "sip:7100@10.0.0.5:5060"},
        {"id": "control-room", "code": "99", "label": {"ar": "غ", "en": "c"}, "number": "+96522000000"},
    ]
    data.update(changes)
    return parse_profile(data)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_transfer_context_is_exactly_the_directory_and_the_destinations_context_exactly_the_destinations(
    tmp_path: Path, path: Path
) -> None:
    profile = load_profile(path)
    contexts = _contexts(_render(tmp_path, profile)["extensions.conf"])
    transfer = {exten for exten, _ in contexts["hotline-transfer"]}
    assert transfer == {entry.code for entry in profile.directory()}
    assert all(re.fullmatch(r"[0-9]{2,6}", exten) for exten in transfer)  # no pattern, no h, no i
    destinations = {exten for exten, _ in contexts["hotline-destinations"]}
    assert destinations == {d.id for d in profile.destinations} | {"h"}  # h: the end of a destination's leg
    if path.stem in ("moh-151", "patient-services"):  # technical affairs and the control room; urgent referrals
        assert profile.destinations, f"{path.name} names no destination"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_nothing_but_the_directory_dials_anywhere(tmp_path: Path, path: Path) -> None:
    profile = load_profile(path)
    contexts = _contexts(_render(tmp_path, profile)["extensions.conf"])
    dials = {(context, app) for context, lines in contexts.items() for _, app in lines if app.startswith("Dial(")}
    people = {f"Dial(PJSIP/{p.id},30)" for p in profile.people}
    outside = {
        f"Dial(PJSIP/trunk-destinations/{d.sip},30)" if d.sip else f"Dial(PJSIP/{d.number}@trunk,30)"
        for d in profile.destinations
    }
    assert {app for context, app in dials if context == "hotline-transfer"} == people
    assert {app for context, app in dials if context == "hotline-destinations"} == outside
    # click-to-call (issue 14): the one computed dial string, its number checked by the service and again there
    clicks = profile.outbound is not None and profile.outbound.manual_dialling
    manual = {"Dial(PJSIP/${HOTLINE_OUTBOUND_NUMBER}@trunk,45)"} if clicks else set()
    assert {app for context, app in dials if context == "hotline-manual-out"} == manual
    assert {context for context, _ in dials} <= {"hotline-transfer", "hotline-destinations", "hotline-manual-out"}
    written = "".join(app for context, app in dials if context != "hotline-manual-out")
    assert "${" not in written  # every other dial string is written out, none computed


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_agent_may_transfer_and_the_caller_may_not(tmp_path: Path, path: Path) -> None:
    rendered = _render(tmp_path, load_profile(path))
    queues = re.findall(r"Queue\(\$\{HOTLINE_QUEUE\}(?:,([^,)]*))?", rendered["extensions.conf"])
    assert queues and all("t" in options and "T" not in options for options in queues)
    assert "Set(__TRANSFER_CONTEXT=hotline-transfer)" in rendered["extensions.conf"]


def test_a_queue_code_keeps_the_callers_language_and_enters_ahead(tmp_path: Path) -> None:
    profile = _with_destinations(transfers={"queue_priority": 42})
    contexts = _contexts(_render(tmp_path, profile)["extensions.conf"])
    code = next(e for e in profile.directory() if e.kind == "queue" and e.language == "en" and e.topic == "general")
    lines = [app for exten, app in contexts["hotline-transfer"] if exten == code.code]
    assert "Set(HOTLINE_QUEUE=en-general)" in lines and lines[-1] == "Goto(hotline-handed-on,queue,1)"
    handed_on = [app for exten, app in contexts["hotline-handed-on"] if exten == "queue"]
    assert handed_on[0].startswith("Set(CHANNEL(language)=${IF(") and "HOTLINE_TRANSFER_LANGUAGE" in handed_on[0]
    assert "Set(QUEUE_PRIO=42)" in handed_on


def test_features_give_the_profiles_keys_and_timeout(tmp_path: Path) -> None:
    profile = _with_destinations(transfers={"blind": "##", "attended": "*7", "digit_timeout_seconds": 5})
    features = _sections(_render(tmp_path, profile)["features.conf"])
    assert features["featuremap"] == {"blindxfer": ["##"], "atxfer": ["*7"]}
    assert features["general"]["transferdigittimeout"] == ["5"]
    # the failure the agent hears is one of ours (sounds/<language>/agent-failed), not a missing core sound
    assert all(value[0].startswith("/hotline/unit/sounds/") for key, value in features["general"].items()
               if key.endswith("sound"))  # fmt: skip


def test_phones_transfer_into_the_transfer_context_only_and_the_trunk_never(tmp_path: Path) -> None:
    profile = _with_destinations()
    rendered = _render(tmp_path, profile)
    pjsip = _sections(rendered["pjsip.conf"])
    assert pjsip["trunk"]["allow_transfer"] == ["no"]
    for person in profile.people:
        assert pjsip[person.id]["allow_transfer"] == ["yes"]
        assert pjsip[person.id]["set_var"] == ["TRANSFER_CONTEXT=hotline-transfer"]
    out = pjsip["trunk-destinations"]
    assert out["allow_transfer"] == ["no"] and out["identify_by"] == ["ip"]
    assert not any(section.get("endpoint") == ["trunk-destinations"] for section in pjsip.values())  # no identify
    modules = rendered["modules.conf"]
    assert "load => app_dial.so" in modules and "load => res_pjsip_refer.so" in modules


def test_without_sip_destinations_there_is_no_endpoint_for_them(tmp_path: Path) -> None:
    profile = load_profile(PROJECT_ROOT / "profiles" / "patient-services.yaml")
    assert all(d.number for d in profile.destinations)
    assert "trunk-destinations" not in _render(tmp_path, profile)["pjsip.conf"]


# -- hostile values: refused at load, and refused again where they would become dialplan ---------------------


@pytest.mark.parametrize("destination_id", ["h", "i", "s", "t"])
def test_a_destination_named_like_an_asterisk_special_extension_is_refused_at_load(destination_id: str) -> None:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["destinations"][0]["id"] = destination_id
    with pytest.raises(ProfileError) as info:
        parse_profile(data)
    assert [path for path, _ in info.value.problems] == ["destinations[0].id"]


def _fake_profile(entries: list[DirectoryEntry], destinations: list[Any] = ()) -> Any:  # type: ignore[assignment]
    real = _with_destinations()
    return SimpleNamespace(directory=lambda: tuple(entries), destinations=tuple(destinations),
                           transfers=real.transfers)  # fmt: skip


QUEUES = ["ar-general", "en-general"]


@pytest.mark.parametrize(
    "entry",
    [
        DirectoryEntry("_X.", "queue", "ar:general", language="ar", topic="general"),
        DirectoryEntry("_0090.", "destination", "x"),
        DirectoryEntry("1,2", "person", "agent-ar-1"),
        DirectoryEntry("${EXTEN}", "person", "agent-ar-1"),
        DirectoryEntry("71\n", "person", "agent-ar-1"),
        DirectoryEntry("7", "person", "agent-ar-1"),
        DirectoryEntry("71", "person", "agent,PJSIP/trunk"),
        DirectoryEntry("71", "person", "h"),
        DirectoryEntry("71", "destination", "a)"),
        DirectoryEntry("71", "queue", "xx:yy", language="xx", topic="yy"),  # no such queue
        DirectoryEntry("71", "dial", "agent-ar-1"),
    ],
)
def test_a_hostile_directory_entry_is_refused_where_it_would_become_dialplan(entry: DirectoryEntry) -> None:
    with pytest.raises(AsteriskError):
        transfer_plan(_fake_profile([entry]), QUEUES)


@pytest.mark.parametrize(
    ("sip", "number"),
    [
        ("sip:0090123@anything;transport=tcp", None),
        ("sip:a@b,PJSIP/trunk", None),
        ("sip:${EXTEN}@host", None),
        ("sip:a@b)", None),
        (None, "0090${X}"),
        (None, "112,PJSIP/x"),
        (None, "112&PJSIP/trunk-x"),
    ],
)
def test_a_hostile_destination_is_refused_where_it_would_become_a_dial_string(
    sip: str | None, number: str | None
) -> None:
    destination = SimpleNamespace(id="x-dest", code="71", sip=sip, number=number)
    with pytest.raises(AsteriskError):
        transfer_plan(_fake_profile([], [destination]), QUEUES)


def test_two_entries_of_one_code_are_refused() -> None:
    entries = [DirectoryEntry("201", "person", "agent-ar-1"), DirectoryEntry("201", "person", "agent-ar-2")]
    with pytest.raises(AsteriskError):
        transfer_plan(_fake_profile(entries), QUEUES)


def test_a_person_dialled_by_a_transfer_code_is_announced_for_the_record() -> None:
    from telephony.events import HotlineDestination, decode_event

    headers = {"Event": "UserEvent", "UserEvent": "HotlineDestination", "Timestamp": "1796217366.1",
               "Uniqueid": "1.4", "Linkedid": "1.1", "Destination": "agent-ar-1", "Kind": "person"}  # fmt: skip
    assert decode_event(headers) == HotlineDestination(1796217366.1, "1.4", "1.1", "agent-ar-1", "person")
    assert decode_event({**headers, "Kind": "anything"}) == HotlineDestination(1796217366.1, "1.4", "1.1", "agent-ar-1")


def test_a_caller_handed_on_blind_hears_transfer_hold_in_their_language_only_where_the_profile_has_it(
    tmp_path: Path,
) -> None:
    from telephony.prompts import transfer_hold_plan

    profile = load_profile(PROJECT_ROOT / "profiles" / "moh-151.yaml")
    assert set(transfer_hold_plan(profile)) == {"ar/transfer-hold", "en/transfer-hold"}
    dialplan = _render(tmp_path, profile)["extensions.conf"]
    plays = [line for line in dialplan.splitlines() if "transfer-hold" in line]
    # before a queue, a person's phone and each destination; never on an attended transfer's consultation
    assert len(plays) == 1 + len(profile.people) + len(profile.destinations)
    guards = [line for line in dialplan.splitlines() if '"${BLINDTRANSFER}" = "" | !(' in line]
    assert len(guards) == len(plays) and all(line.endswith("]?+2)") for line in guards)
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    del data["prompts"]["transfer_hold"]  # optional: without it nothing is played
    without = parse_profile(data)
    assert transfer_hold_plan(without) == {}
    assert "transfer-hold" not in _render(tmp_path / "without", without)["extensions.conf"]
