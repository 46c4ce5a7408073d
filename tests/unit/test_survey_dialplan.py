"""The survey's part of the dialplan: with a survey topic the caller stays after the agent hangs up (Queue option
c), only a caller served by a person and of a survey topic reaches the route, thanks follows (also when the route
failed), and with cases the survey follows the read-back."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_asterisk_conf import PROJECT_ROOT, _dialplan_lines, _render

from profiles.model import Profile, load_profile, parse_profile

PATIENT = PROJECT_ROOT / "profiles" / "patient-services.yaml"


def _lines(tmp_path: Path, profile: Profile) -> list[str]:
    return _dialplan_lines(_render(tmp_path, profile)["extensions.conf"])


def _label(lines: list[str], name: str) -> int:
    (index,) = [i for i, line in enumerate(lines) if line.startswith(f"same => n({name}),")]
    return index


def test_a_served_caller_of_a_survey_topic_is_asked_then_thanked(tmp_path: Path) -> None:
    lines = _lines(tmp_path, load_profile(PATIENT))
    queues = [i for i, line in enumerate(lines) if "Queue(${HOTLINE_QUEUE}" in line]
    assert queues and all("Queue(${HOTLINE_QUEUE},c" in lines[i] for i in queues)
    for i in queues:  # right after each Queue(), a served caller leaves for the survey
        after = lines[i + 1 : i + 3]
        assert any('GotoIf($["${MEMBERINTERFACE}" != ""]?' in line and "served)" in line for line in after), after
    served, survey = _label(lines, "served"), _label(lines, "survey")
    assert survey == served + 1
    assert lines[survey] == 'same => n(survey),GotoIf($["${MEMBERINTERFACE}" = ""]?surveyend)'  # not served: no survey
    assert lines[survey + 1] == (
        'same => n,GotoIf($["${HOTLINE_TOPIC}" = "complaints" | "${HOTLINE_TOPIC}" = "suggestions"]?ask)'
    )
    assert lines[survey + 2] == "same => n,Goto(surveyend)"
    ask = lines[survey + 3]
    assert ask.startswith("same => n(ask),AGI(agi://127.0.0.1:4573/") and ask.endswith(
        "/survey,${HOTLINE_LANGUAGE},${HOTLINE_TOPIC},${CHANNEL(linkedid)},${MEMBERNAME},${MEMBERINTERFACE})"
    )
    # thanks whatever the route did (its failure included), then the end of the call
    assert lines[survey + 4] == "same => n,Playback(/hotline/unit/sounds/${HOTLINE_LANGUAGE}/survey-thanks)"
    assert lines[survey + 5] == "same => n(surveyend),Hangup()"


def test_with_cases_the_survey_follows_the_read_back(tmp_path: Path) -> None:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "municipal-940.yaml").read_text(encoding="utf-8"))
    data["survey"] = {"questions": [{"id": "score", "text": {"ar": "قيم"}}], "thanks": {"ar": "شكرا"}}
    data["topics"][0]["survey"] = True
    topic = data["topics"][0]["id"]
    lines = _lines(tmp_path, parse_profile(data, source="940-survey.yaml"))
    served, readback = _label(lines, "served"), _label(lines, "readback")
    assert lines[served + 3] == "same => n,Goto(survey)"  # no case: straight to the survey
    assert lines[readback + 2 : readback + 4] == [
        "same => n,Playback(${HOTLINE_CASE_PIN_PROMPT})",
        "same => n,Goto(survey)",
    ]
    survey = _label(lines, "survey")
    assert lines[survey + 1] == f'same => n,GotoIf($["${{HOTLINE_TOPIC}}" = "{topic}"]?ask)'
    assert sum(1 for line in lines if "/survey," in line) == 1


def test_with_cases_and_no_survey_the_call_ends_after_the_read_back(tmp_path: Path) -> None:
    lines = _lines(tmp_path, load_profile(PROJECT_ROOT / "profiles" / "municipal-940.yaml"))
    assert lines[_label(lines, "survey")] == "same => n(survey),Hangup()"
    assert not any("/survey," in line or "survey-thanks" in line for line in lines)


def test_without_survey_nor_cases_the_caller_does_not_stay(tmp_path: Path) -> None:
    lines = _lines(tmp_path, load_profile(PROJECT_ROOT / "profiles" / "moh-151.yaml"))
    assert not any("survey" in line or "MEMBERINTERFACE" in line for line in lines)
    assert all(",c" not in line for line in lines if "Queue(${HOTLINE_QUEUE}" in line)


def test_the_survey_prompts_are_in_the_asterisk_plan() -> None:
    from hotline.bootstrap import asterisk_plan

    plan = asterisk_plan(load_profile(PATIENT)).prompts
    for name in ("ar/survey-q-score", "en/survey-q-solved-again", "ar/survey-thanks", "en/survey-thanks"):
        assert name in plan, name
    assert "ar/welcome" in plan or any(name.startswith("ar/") for name in plan)  # the IVR's own are still there
