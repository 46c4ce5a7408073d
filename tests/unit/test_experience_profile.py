"""The patient-services profile (../shared/seeds/patient-services-oman.txt): Arabic and English, complaints,
suggestions, health education as information, urgent requests first in line, a survey, working hours with
holidays, nuisance rules and the place in line. It loads, passes ``hotline profile check`` and uses every part
of the caller's experience, so the other helpers' end-to-end tests can run on it."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from hotline.cli import main
from profiles.model import (
    MESSAGE_PROMPTS,
    NUISANCE_PROMPTS,
    POSITION_PROMPTS,
    REQUIRED_PROMPTS,
    ProfileError,
    load_profile,
    parse_profile,
)

ROOT = Path(__file__).parents[2]
PATIENT_SERVICES = ROOT / "profiles" / "patient-services.yaml"
MUSCAT = ZoneInfo("Asia/Muscat")


def test_the_patient_services_profile_passes_profile_check(capsys):
    assert main(["profile", "check", str(PATIENT_SERVICES)]) == 0
    assert f"{PATIENT_SERVICES}: ok — Patient and Visitor Services" in capsys.readouterr().out


def test_the_installed_command_checks_it_too():
    hotline = Path(sys.executable).parent / "hotline"
    done = subprocess.run(
        [str(hotline), "profile", "check", str(PATIENT_SERVICES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "2 languages, 4 topics" in done.stdout


def test_its_topics_are_the_articles_with_information_urgency_and_a_survey():
    profile = load_profile(PATIENT_SERVICES)
    assert profile.language_codes == ("ar", "en")
    assert [t.id for t in profile.topics] == ["complaints", "suggestions", "health_education", "urgent"]
    education = profile.topic("health_education")
    assert education.info is not None and education.info.person_key == "0"
    assert set(education.info.message) == {"ar", "en"}
    urgent = profile.topic("urgent")
    assert urgent.priority > max(t.priority for t in profile.topics if t.id != "urgent")
    assert profile.topic("complaints").survey and profile.topic("suggestions").survey
    assert not education.survey
    assert profile.survey is not None
    score, solved = profile.survey.questions
    assert (score.id, score.max) == ("score", 5) and solved.max == 2
    assert profile.topic("suggestions").when_closed == "message"
    assert profile.nuisance is not None and profile.nuisance.max_short_calls == 5
    assert profile.queue_settings.announce_position_seconds > 0
    assert len(profile.people) >= 3 and {"ar", "en"} <= {code for p in profile.people for code in p.languages}


def test_its_hours_are_the_working_week_with_complaints_around_the_clock_and_holidays():
    profile = load_profile(PATIENT_SERVICES)
    sunday_morning = datetime(2026, 12, 6, 8, 0, tzinfo=MUSCAT)
    friday_morning = datetime(2026, 12, 4, 8, 0, tzinfo=MUSCAT)
    sunday_evening = datetime(2026, 12, 6, 15, 0, tzinfo=MUSCAT)
    assert profile.is_open(sunday_morning)
    assert not profile.is_open(friday_morning) and not profile.is_open(sunday_evening)
    (rule,) = profile.hours
    assert (rule.open, rule.close) == (time(7, 30), time(14, 30))
    complaints = profile.topic("complaints").hours
    assert complaints and set(complaints[0].days) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert complaints[0].close is None  # 24:00
    national_day = next(h for h in profile.holidays if h.name == "National Day")
    assert national_day.covers(date(2026, 11, 19)) and national_day.hours == () and national_day.topics == ()


def test_every_prompt_it_needs_is_there_in_both_languages():
    profile = load_profile(PATIENT_SERVICES)
    for name in REQUIRED_PROMPTS + NUISANCE_PROMPTS + MESSAGE_PROMPTS + POSITION_PROMPTS + ("closed_next",):
        for language in ("ar", "en"):
            prompt = profile.prompt(name, language)
            assert prompt is not None and prompt.text, (name, language)
    assert "{position}" in profile.prompt("queue_position", "ar").text
    assert "{minutes}" in profile.prompt("queue_wait", "en").text
    assert "{next}" in profile.prompt("closed_next", "ar").text
    for name in ("welcome", "closed", "blocked"):
        assert any("\u0600" <= ch <= "\u06ff" for ch in profile.prompt(name, "ar").text), name


def test_a_broken_copy_is_refused_with_the_field():
    data = yaml.safe_load(PATIENT_SERVICES.read_text(encoding="utf-8"))
    del data["prompts"]["queue_wait"]["en"]
    data["topics"][2]["info"]["message"].pop("ar")
    try:
        parse_profile(data, source="copy.yaml")
    except ProfileError as error:
        found = [f"{path}: {message}" for path, message in error.problems]
    else:
        raise AssertionError("a profile without its prompts was accepted")
    assert "prompts.queue_wait.en: is missing (every prompt needs every language of the profile)" in found
    assert "topics[2].info.message.ar: is missing (every prompt needs every language of the profile)" in found
