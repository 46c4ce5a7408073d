"""The Raipur COVID call centre's profile (issue 14, from ../shared/seeds/covid-call-centre-raipur.txt): Hindi first and
English, India's time, doctors and volunteers, the district's emergency control room, and the daily health check of the
patients in home isolation. It passes ``hotline profile check``, says everything in both languages (the Hindi in
Devanagari, for espeak-ng's Hindi voice), and dials out only to Indian mobiles."""

from __future__ import annotations

from datetime import UTC, datetime, time
from importlib import resources
from pathlib import Path

import pytest

from hotline.cli import main
from outbound.model import window_open
from profiles.model import CAMPAIGN_PROMPTS, REQUIRED_PROMPTS, load_profile
from profiles.numbers import Reason, check_allowed

PATH = Path(__file__).parents[2] / "profiles" / "covid-followup.yaml"
PROFILE = load_profile(PATH)
LANGUAGES = ("hi", "en")


def devanagari(text: str) -> bool:
    return any("\u0900" <= ch <= "\u097f" for ch in text)


def test_it_passes_profile_check(capsys) -> None:
    assert main(["profile", "check", str(PATH)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{PATH}: ok — Raipur COVID-19 call centre, number ")
    assert "2 languages" in out


def test_it_ships_with_the_package_beside_the_default() -> None:
    assert (resources.files("profiles") / "covid-followup.yaml").is_file()


def test_hindi_first_then_english_in_india_s_time_with_espeak_s_hindi_voice() -> None:
    assert PROFILE.language_codes == LANGUAGES
    assert [(lang.key, lang.voice) for lang in PROFILE.languages] == [("1", "hi"), ("2", "en")]
    assert PROFILE.default_language == "hi"
    assert PROFILE.timezone == "Asia/Kolkata"


def test_every_prompt_and_label_is_in_hindi_and_english_the_hindi_in_devanagari() -> None:
    prompts = {**PROFILE.prompts, **PROFILE.extra_prompts}
    assert set(REQUIRED_PROMPTS + CAMPAIGN_PROMPTS) <= set(prompts)
    for name, by_language in prompts.items():
        assert set(by_language) == set(LANGUAGES), name
        hindi, english = by_language["hi"].text, by_language["en"].text
        assert hindi and devanagari(hindi), name
        assert english and not devanagari(english), name
        assert ("{key}" in hindi) == ("{key}" in english), name
    labels = [t.label for t in PROFILE.topics] + [d.label for d in PROFILE.destinations]
    assert PROFILE.outbound is not None
    labels += [c.label for c in PROFILE.outbound.campaigns]
    for label in labels:
        assert set(label) == set(LANGUAGES) and devanagari(label["hi"]) and not devanagari(label["en"]), label


def test_the_question_names_the_scripts_keys_in_both_languages() -> None:
    assert PROFILE.outbound is not None
    script = PROFILE.outbound.campaign("daily_health_check").script
    for language in LANGUAGES:
        question = PROFILE.prompt("campaign_question", language)
        assert question is not None and question.text is not None
        assert [ch for ch in question.text if ch.isdigit()] == [script.well, script.doctor, script.emergency]


def test_doctors_and_volunteers_cover_every_topic_in_both_languages() -> None:
    kinds = {p.kind for p in PROFILE.people}
    assert kinds == {"doctor", "agent"}
    for person in PROFILE.people:
        assert set(person.languages) <= set(LANGUAGES)
    minimum = PROFILE.routing.min_language_level
    for topic in PROFILE.topics:
        for language in LANGUAGES:
            assert any(topic.id in p.topics and p.languages.get(language, 0) >= minimum for p in PROFILE.people), (
                f"nobody takes {topic.id} in {language}"
            )
    doctors = [p for p in PROFILE.people if "doctor" in p.topics]
    assert doctors and all(p.kind == "doctor" for p in doctors)  # a "2" reaches a doctor, never a volunteer


def test_the_daily_health_check_calls_the_home_isolation_list_by_day_with_three_attempts() -> None:
    assert PROFILE.outbound is not None
    [campaign] = PROFILE.outbound.campaigns
    assert campaign.list == "home_isolation"
    assert (campaign.window.start, campaign.window.end) == (time(9), time(17))  # 8 hours
    assert campaign.attempts_per_day == 3
    assert campaign.retry_after_seconds == (1800, 3600)
    assert campaign.topic == "doctor" and campaign.specialty is None
    assert campaign.priority > max(t.priority for t in PROFILE.topics)  # ahead of the inbound callers
    assert (campaign.script.well, campaign.script.doctor, campaign.script.emergency) == ("1", "2", "9")
    # 09:00 to 17:00 in Raipur, whatever the server's zone: 03:30 to 11:30 UTC
    rules = PROFILE.outbound
    assert not window_open(campaign, rules, PROFILE.timezone, datetime(2026, 12, 2, 3, 29, tzinfo=UTC))
    assert window_open(campaign, rules, PROFILE.timezone, datetime(2026, 12, 2, 3, 30, tzinfo=UTC))
    assert window_open(campaign, rules, PROFILE.timezone, datetime(2026, 12, 2, 11, 29, tzinfo=UTC))
    assert not window_open(campaign, rules, PROFILE.timezone, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))
    assert rules.quiet_hours is not None  # and never at night, whatever a window says


def test_the_emergency_key_reaches_the_districts_control_room() -> None:
    assert PROFILE.outbound is not None
    campaign = PROFILE.outbound.campaign("daily_health_check")
    assert campaign.emergency == "emergency-control-room"
    room = PROFILE.destination(campaign.emergency)
    assert (room.sip is None) != (room.number is None)  # a SIP URI or a number through the trunk
    assert room.label["hi"] == "आपातकालीन नियंत्रण कक्ष"
    entry = next(e for e in PROFILE.directory() if e.id == room.id)  # agents can hand a call to it too
    assert entry.kind == "destination" and entry.code == room.code


REAL_MOBILES = [
    "9876543210",
    "98765 43210",
    "98765-43210",
    "6000012345",
    "7000012345",
    "8123456789",
    "09876543210",  # with the national prefix
    "+919876543210",  # with the country code
    "+91 98765 43210",
    "919876543210",  # the + lost in a spreadsheet
]
REFUSED = {
    "00882123456789": "international (a satellite network: premium)",
    "+882123456789": "international",
    "+447700900123": "another country",
    "0044 7700 900123": "another country",
    "1900123456": "premium-rate 1900",
    "19001234567": "premium-rate 1900",
    "108": "a short code (ambulance)",
    "1077": "a short code (the control room is a destination, not a contact)",
    "104": "a short code",
    "5876543210": "no mobile starts with 5",
    "987654321": "9 digits",
    "98765432100": "11 digits",
    "+9198765432101": "too long",
    "+91 5876543210": "not a mobile",
    "9876543210;1": "not digits",
}


@pytest.mark.parametrize("number", REAL_MOBILES)
def test_the_allowed_numbers_accept_real_indian_mobiles(number: str) -> None:
    assert PROFILE.outbound is not None
    check = check_allowed(number, PROFILE.outbound.allowed_numbers)
    assert check.ok, check
    assert check_allowed(number, PROFILE.callbacks.allowed_numbers).ok  # the callbacks' patterns are the same


@pytest.mark.parametrize("number", list(REFUSED), ids=list(REFUSED.values()))
def test_the_allowed_numbers_refuse_international_premium_and_short_numbers(number: str) -> None:
    assert PROFILE.outbound is not None
    check = check_allowed(number, PROFILE.outbound.allowed_numbers)
    assert not check.ok
    assert check.reason in (Reason.NOT_ALLOWED, Reason.NOT_DIGITS)
    assert not check_allowed(number, PROFILE.callbacks.allowed_numbers).ok
    assert not check_allowed(number, PROFILE.outbound.allowed_numbers, caller_id=True).ok
