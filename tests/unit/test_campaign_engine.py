"""The campaign engine's pure parts: progressive pacing per doctor queue within the cap, and the rendered script
(``hotline-campaign-out``: one extension per campaign, its keys, the doctor queue's priority, the emergency
destination; app_read only with campaigns; a failed emergency dial goes to a doctor)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from hotline.bootstrap import asterisk_plan
from outbound.model import Attempt, Contact
from outbound.prompts import campaign_prompt_plan
from outbound.service import doctor_queue, free_people, new_calls
from profiles.model import Profile, load_profile
from telephony.asterisk import AsteriskError, AsteriskInstance, Credentials, campaign_plan

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def _profile(tmp_path: Path, **campaign: Any) -> Profile:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    for name in ("campaign_greeting", "campaign_question", "campaign_thanks", "campaign_doctor", "campaign_emergency"):
        data["prompts"][name] = {"ar": "نص", "en": "Text"}
    data["outbound"] = {
        "allowed_numbers": ["9655[0-9]{7}"],
        "campaigns": [
            {"id": "followup", "label": {"ar": "متابعة", "en": "Follow-up"}, "list": "patients",
             "window": {"start": "09:00", "end": "17:00"}, "topic": "medical", "specialty": "internal",
             "script": {"well": "3", "doctor": "4", "emergency": "0", "retries": 2, "timeout_seconds": 7},
             "priority": 25, **campaign},
        ],
    }  # fmt: skip
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_profile(path)


def _render(root: Path, profile: Profile) -> dict[str, str]:
    settings = SimpleNamespace(
        instance="unit", cache_dir=root / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
        agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("127.0.0.1",),
        trunk_contact="sip:192.0.2.10:5060",
    )  # fmt: skip
    return AsteriskInstance(root, settings).render(profile, asterisk_plan(profile), Credentials.generate(profile))


def _context(text: str, name: str) -> list[str]:
    lines, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            inside = line == f"[{name}]"
        elif inside:
            lines.append(line)
    return lines


# -- pacing ---------------------------------------------------------------------------------------------------------


def _view(queue: str, free: bool = True) -> Any:
    return SimpleNamespace(can_take=lambda q: free and q == queue)


def _snapshot(*views: Any) -> Any:
    return SimpleNamespace(people={str(i): view for i, view in enumerate(views)})


def _flying(language: str, agent: str | None = None) -> tuple[Contact, Attempt]:
    contact = Contact(id=1, list_id=1, number="96550000001", name="P", language=language)
    attempt = Attempt(id=1, campaign="followup", contact_id=1, day=date(2027, 1, 15), number=1, claimed_at=T0,
                      claimed_by="a", agent=agent)  # fmt: skip
    return contact, attempt


def test_a_call_is_placed_only_for_a_free_doctor_of_the_language_not_covered_by_one_in_flight(tmp_path: Path) -> None:
    campaign = _profile(tmp_path).outbound.campaign("followup")  # type: ignore[union-attr]
    assert doctor_queue(campaign, "ar") == "ar-medical-internal"
    snapshot = _snapshot(_view("ar-medical-internal"), _view("ar-medical-internal"), _view("en-medical-internal"),
                         _view("ar-medical-internal", free=False))  # fmt: skip
    assert free_people(snapshot, "ar-medical-internal") == 2
    assert new_calls(campaign, snapshot, [], ["ar", "en"]) == {"ar": 2, "en": 1}
    assert new_calls(campaign, snapshot, [_flying("ar")], ["ar", "en"]) == {"ar": 1, "en": 1}  # the cap: 3
    # a call a doctor already took holds nobody free (but counts against the cap)
    assert new_calls(campaign, snapshot, [_flying("ar", agent="doc")], ["ar"]) == {"ar": 2}
    assert new_calls(campaign, _snapshot(), [], ["ar", "en"]) == {}  # nobody free: nobody called


def test_the_cap_bounds_every_language_together(tmp_path: Path) -> None:
    campaign = _profile(tmp_path, max_concurrent=2).outbound.campaign("followup")  # type: ignore[union-attr]
    snapshot = _snapshot(*[_view("ar-medical-internal")] * 5, *[_view("en-medical-internal")] * 5)
    assert sum(new_calls(campaign, snapshot, [], ["ar", "en"]).values()) == 2
    assert new_calls(campaign, snapshot, [_flying("ar"), _flying("en")], ["ar", "en"]) == {}


# -- the script in the dialplan ------------------------------------------------------------------------------------


def test_the_script_is_rendered_per_campaign_with_its_keys_priority_and_emergency_destination(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    rendered = _render(tmp_path, profile)
    assert "load => app_read.so" in rendered["modules.conf"]
    lines = _context(rendered["extensions.conf"], "hotline-campaign-out")
    assert lines[0] == "exten => followup,1,Set(CHANNEL(language)=${HOTLINE_LANGUAGE})"
    assert any(line.startswith("same => n,UserEvent(HotlineOutbound,Kind: campaign,") for line in lines)
    assert any("Read(HOTLINE_KEY," in line and line.endswith("/campaign-question,1,,1,7)") for line in lines)
    assert 'same => n,GotoIf($["${HOTLINE_KEY}" = "3"]?well)' in lines
    assert 'same => n,GotoIf($["${HOTLINE_KEY}" = "4"]?doctor)' in lines
    assert 'same => n,GotoIf($["${HOTLINE_KEY}" = "0"]?emergency)' in lines
    assert "same => n,GotoIf($[${HOTLINE_TRIES} <= 2]?ask)" in lines
    assert "same => n(queue),Set(QUEUE_PRIO=25)" in lines
    assert lines[-1] == "same => n,Goto(hotline-destinations,emergency-control-room,1)"
    # a control room that does not answer: the person goes to a doctor, never to silence
    handed_on = _context(rendered["extensions.conf"], "hotline-handed-on")
    assert "same => n,Goto(hotline-campaign-out,${HOTLINE_CAMPAIGN},queue)" in handed_on
    assert set(campaign_prompt_plan(profile)) == {
        f"{lang}/campaign-{name}" for lang in ("ar", "en") for name in ("greeting", "question", "thanks", "doctor",
                                                                         "emergency")
    }  # fmt: skip


def test_without_campaigns_nothing_of_the_script_is_rendered(tmp_path: Path) -> None:
    profile = load_profile(PROJECT_ROOT / "profiles" / "moh-151.yaml")
    rendered = _render(tmp_path, profile)
    assert "app_read" not in rendered["modules.conf"]
    assert "hotline-campaign-out" not in rendered["extensions.conf"]
    assert campaign_prompt_plan(profile) == {} and campaign_plan(profile) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [({"emergency": "technical-affairz"}, "is not a destination"), ({"id": "h"}, "cannot be a dialplan extension")],
)
def test_a_campaign_the_dialplan_cannot_hold_is_refused(tmp_path: Path, change: dict[str, str], message: str) -> None:
    profile = _profile(tmp_path)  # the profile's own check refuses an unknown destination: one built in code
    assert profile.outbound is not None
    campaign = dataclasses.replace(profile.outbound.campaigns[0], **change)  # type: ignore[arg-type]
    profile = dataclasses.replace(profile, outbound=dataclasses.replace(profile.outbound, campaigns=(campaign,)))
    with pytest.raises(AsteriskError, match=message):
        campaign_plan(profile)


def test_the_covid_profile_renders_its_daily_health_check(tmp_path: Path) -> None:
    profile = load_profile(PROJECT_ROOT / "profiles" / "covid-followup.yaml")
    rendered = _render(tmp_path, profile)
    lines = _context(rendered["extensions.conf"], "hotline-campaign-out")
    assert lines[0] == "exten => daily_health_check,1,Set(CHANNEL(language)=${HOTLINE_LANGUAGE})"
    assert {name.split("/")[0] for name in campaign_prompt_plan(profile)} == set(profile.language_codes)
