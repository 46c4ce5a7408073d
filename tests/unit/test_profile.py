"""A bad profile is refused at start with the file, the field path and what is wrong."""

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from profiles.model import ProfileError, load_profile, parse_profile
from routing.queues import build_queues, default_queue

PROFILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"


def good():
    return yaml.safe_load(PROFILE.read_text(encoding="utf-8"))


def problems(data):
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source="bad.yaml")
    return info.value


def test_default_profile_is_the_151_health_hotline_in_arabic_and_english():
    profile = load_profile(PROFILE)
    assert profile.number == "151"
    assert profile.language_codes == ("ar", "en")
    assert [t.id for t in profile.topics] == ["virus", "medical", "delivery", "general", "complaints"]
    assert [s.id for s in profile.topic("medical").specialties] == ["paediatrics", "internal", "psychiatry"]


def test_error_names_the_file_the_field_path_and_the_problem():
    data = good()
    data["topics"][1]["specialties"][0]["key"] = "x"
    error = problems(data)
    assert str(error) == "bad.yaml: topics[1].specialties[0].key: 'x' is not a single digit"


def test_every_problem_is_reported_at_once():
    data = good()
    data["hotline"]["number"] = "1 5 1"
    data["prompts"]["invalid"].pop("en")
    data["people"][0]["topics"] = ["virus", "weather"]
    data["people"][1]["level"] = 9
    paths = [path for path, _ in problems(data).problems]
    assert paths == ["hotline.number", "prompts.invalid.en", "people[0].topics[1]", "people[1].level"]


def test_duplicate_keys_are_refused():
    data = good()
    data["topics"][2]["key"] = "1"
    error = problems(data)
    assert ("topics[2].key", "duplicate key '1' (also at topics[0])") in error.problems


def test_unknown_fields_are_refused_so_typos_do_not_pass_silently():
    data = good()
    data["ivr"]["retires"] = 3
    ((path, message),) = problems(data).problems
    assert path == "ivr.retires" and message.startswith("unknown field")


def test_default_topic_must_exist_and_have_one_queue():
    data = good()
    data["ivr"]["default"]["topic"] = "medical"
    assert problems(data).problems == [
        ("ivr.default.topic", "must be a topic without specialties, so the default queue is one queue")
    ]


def test_unreadable_and_invalid_yaml_files_are_refused(tmp_path):
    with pytest.raises(ProfileError, match=r"missing.yaml: \(file\): cannot be read"):
        load_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("hotline: [\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"broken\.yaml: line 2, column 1: is not valid YAML"):
        load_profile(broken)


def test_missing_recorded_prompt_file_is_refused(tmp_path):
    data = good()
    data["prompts"]["closed"]["en"] = {"file": "closed-en.wav"}
    with pytest.raises(ProfileError, match=r"prompts\.closed\.en\.file: .*closed-en\.wav' does not exist"):
        parse_profile(data, source="p.yaml", base_dir=tmp_path)


def test_queues_per_language_and_topic_or_specialty_with_penalties_from_levels():
    profile = load_profile(PROFILE)
    queues = {q.name: q for q in build_queues(profile)}
    assert len(queues) == 2 * (4 + 3)
    assert default_queue(profile) == "ar-general"
    paed = queues["ar-medical-paediatrics"]
    assert [(m.person_id, m.penalty) for m in paed.members] == [("doc-ar-paed-1", 0)]
    general_ar = queues["ar-general"]
    # penalty = tier * 100 (+ a live rank by load, 0 here): agent-ar-1 (level 4, Arabic 5) and
    # agent-ar-2 (level 3 = min_skill_level) match exactly; agent-en-1 (Arabic 2 < min_language_level
    # 4) is a member too, but widened (tier 1)
    assert [(m.person_id, m.penalty) for m in general_ar.members] == [
        ("agent-ar-1", 0),
        ("agent-ar-2", 0),
        ("agent-en-1", 100),
    ]
    assert [m.person_id for m in queues["en-medical-paediatrics"].members] == ["doc-en-paed-1"]


def test_problems_in_every_section_are_reported_together_in_the_order_of_the_file():
    data = good()
    data["languages"][1]["key"] = "1"  # a duplicate
    data["topics"][0]["label"].pop("en")  # a missing label
    data["topics"][3]["priority"] = 12  # out of range
    data["people"][2]["kind"] = "nurse"
    data["people"][3]["id"] = "Dr Rao"
    data["callbacks"]["capacity_share"] = 2
    data["queues"] = {"strategy": "fastest"}
    paths = [path for path, _ in problems(data).problems]
    assert paths == [
        "languages[1].key",
        "topics[0].label.en",
        "topics[3].priority",
        "queues.strategy",
        "callbacks.capacity_share",
        "people[2].kind",
        "people[3].id",
    ]


def test_messages_say_what_a_value_must_be():
    data = good()
    data["people"][1]["level"] = 9
    data["people"][2]["kind"] = "nurse"
    data["hotline"]["hours"][0]["open"] = 480  # YAML reads an unquoted 8:00 as 480
    data["callbacks"]["enabled"] = "yes"
    assert problems(data).problems == [
        ("hotline.hours[0].open", '480 is not a time of day HH:MM (quote times: "23:00")'),
        ("callbacks.enabled", "must be true or false, got 'yes'"),
        ("people[1].level", "must be at most 5, got 9"),
        ("people[2].kind", "'nurse' is not one of agent, doctor"),
    ]


def test_a_value_with_a_trailing_newline_is_refused():
    # re.match with "$" accepts "1\n": the profile's patterns must match the whole value
    data = good()
    data["topics"][1]["specialties"][0]["key"] = "1\n"
    data["hotline"]["number"] = "151\n"
    data["people"][0]["id"] = "agent-ar-1\n"
    assert [path for path, _ in problems(data).problems] == [
        "hotline.number",
        "topics[1].specialties[0].key",
        "people[0].id",
    ]


def _pjsip_sections():
    template = PROFILE.parents[1] / "telephony" / "templates" / "asterisk" / "pjsip.conf.j2"
    return sorted(set(re.findall(r"^\[([^\]{]+)\]", template.read_text(encoding="utf-8"), re.M)))


@pytest.mark.parametrize("section", ["trunk", "global", "transport-udp", "system", "anonymous", *_pjsip_sections()])
def test_a_person_id_that_is_a_pjsip_section_name_is_refused(section):
    data = good()
    data["people"][0]["id"] = section
    ((path, message),) = problems(data).problems
    assert path == "people[0].id" and message.startswith(f"{section!r} is the name of an Asterisk SIP section")


def test_callbacks_are_off_unless_the_profile_turns_them_on():
    data = good()
    del data["callbacks"]
    rules = parse_profile(data, source="p.yaml").callbacks
    assert rules.enabled is False and rules.allowed_numbers == ()


def test_callbacks_turned_on_without_any_allowed_number_are_refused():
    data = good()
    data["callbacks"] = {"enabled": True}
    ((path, message),) = problems(data).problems
    assert path == "callbacks.allowed_numbers" and message.startswith("callbacks are enabled but no number")


def test_the_shipped_profile_calls_back_kuwaiti_numbers_only():
    from callbacks.policy import check_number

    rules = load_profile(PROFILE).callbacks
    assert rules.enabled and rules.max_dials_per_hour > 0
    assert check_number("55512345", rules, caller_id=True).ok
    assert check_number("96555512345", rules, caller_id=True).ok
    for number in ("0096555512345", "+96555512345", "00882123456789", "190012345"):
        assert not check_number(number, rules, caller_id=True).ok, number


def test_an_unknown_prompt_name_and_an_unknown_section_are_refused():
    data = good()
    data["prompts"]["welcom"] = {"ar": "x", "en": "y"}
    data["queue"] = {}
    error = problems(data)
    assert [path for path, _ in error.problems] == ["prompts.welcom", "queue"]
    assert error.problems[1][1].startswith(
        "unknown field (known: callbacks, cases, destinations, hotline, ivr, languages, nuisance, outbound, people"
    )


def test_profile_parts_stay_immutable_and_are_validated_when_changed():
    profile = load_profile(PROFILE)
    person = profile.people[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        person.level = 5  # type: ignore[misc]
    assert dataclasses.replace(person, level=5).level == 5
    with pytest.raises(ValueError, match="level"):
        dataclasses.replace(person, level=9)
    only = dataclasses.replace(profile, people=(person,))
    assert only.people == (person,) and only.topics == profile.topics


def test_a_section_that_is_not_a_list_is_one_problem_not_one_per_reference():
    data = good()
    data["topics"] = {"virus": "1"}
    assert problems(data).problems == [("topics", "must be a list, got dict")]


def test_a_reference_names_what_it_could_be():
    data = good()
    data["people"][0]["topics"] = ["weather"]
    data["seats"] = {"queues": {"ar-general": {"weekend": 3}}}
    assert problems(data).problems == [
        ("seats.queues.ar-general.weekend", "'weekend' is not a shift id (morning, evening, night)"),
        ("people[0].topics[0]", "'weather' is not a topic id (virus, medical, delivery, general, complaints)"),
    ]


# -- cases -----------------------------------------------------------------------------------------

CASE_PROMPT_TEXT = {
    "case_number_is": "Your case number is",
    "case_pin_is": "Your PIN is",
    "case_goodbye": "Goodbye.",
    "report_choose_category": "Please choose the kind of report.",
    "report_choose_district": "Please choose your district.",
    "report_record": "Describe the problem after the tone, then press hash.",
    "report_thanks": "Thank you, your report is registered.",
    "follow_option": "To follow a report, press {key}.",
    "follow_enter_number": "Please enter your case number.",
    "follow_enter_pin": "Please enter your PIN.",
    "follow_wrong_number": "That number is not right. Please enter it again.",
    "follow_not_found": "We found no such case.",
    "follow_status": "Your case is {status}, with {department}, since {date}.",
    "follow_too_many": "Too many lookups. Please call again later.",
}


def with_cases(data=None):
    """The 151 profile with a cases section and every case prompt in both languages."""
    data = data or good()
    data["cases"] = {
        "departments": [
            {"id": "public_health", "label": {"ar": "الصحة العامة", "en": "public health"}},
            {"id": "technical", "label": {"ar": "الشؤون الفنية", "en": "technical affairs"}},
        ],
        "districts": [{"id": "hawalli", "key": "1", "label": {"ar": "حولي", "en": "Hawalli"}}],
        "default_department": "technical",
        "follow_key": "9",
    }
    for name, text in CASE_PROMPT_TEXT.items():
        data["prompts"][name] = {"ar": text, "en": text}
    complaints = next(t for t in data["topics"] if t["id"] == "complaints")
    complaints.update(
        self_report=True,
        department="public_health",
        sla_hours=48,
        dispositions=[{"code": "1", "id": "registered", "label": {"ar": "سجلت", "en": "registered"}}],
    )
    return data


def test_a_profile_with_cases_has_departments_districts_slas_and_case_prompts():
    profile = parse_profile(with_cases(), source="p.yaml")
    assert profile.cases is not None
    assert [d.id for d in profile.cases.departments] == ["public_health", "technical"]
    assert profile.case_department("complaints") == "public_health"
    assert profile.case_department("virus") == "technical"  # the default department
    assert profile.sla_hours("complaints") == 48
    assert profile.sla_hours("virus") == 72
    assert profile.topic("complaints").self_report is True
    assert profile.topic("complaints").dispositions[0].id == "registered"
    assert profile.case_prompts["follow_status"]["en"].text.startswith("Your case is")
    assert parse_profile(good(), source="p.yaml").cases is None


def test_cases_need_every_case_prompt_known_departments_and_a_free_follow_key():
    data = with_cases()
    del data["prompts"]["follow_not_found"]
    del data["prompts"]["report_thanks"]["ar"]
    data["cases"]["follow_key"] = data["topics"][0]["key"]
    data["topics"][0]["department"] = "roads"
    found = [f"{path}: {message}" for path, message in problems(data).problems]
    assert "prompts.follow_not_found: is missing (every prompt needs every language of the profile)" in found
    assert "prompts.report_thanks.ar: is missing (every prompt needs every language of the profile)" in found
    assert "cases.follow_key: '1' is also the key of topic 'virus'" in found
    assert any(line.startswith("topics[0].department: 'roads' is not a department id") for line in found)


def test_case_fields_on_a_topic_without_a_cases_section_are_refused():
    data = good()
    data["topics"][0]["self_report"] = True
    assert ("topics[0].self_report", "needs a cases section (this profile keeps no cases)") in problems(data).problems


# -- the caller's experience (issue 13) ---------------------------------------------------------------

EXPERIENCE_PROMPT_TEXT = {
    "blocked": "This number may not call the hotline.",
    "nuisance_warning": "Please keep this line free for people who need it.",
    "leave_message": "We are closed. Leave a message after the tone.",
    "message_thanks": "Thank you. We will call you back when we open.",
    "queue_position": "You are number {position} in line.",
    "queue_wait": "Your wait is about {minutes} minutes.",
    "closed_next": "We open again {next}.",
}


def with_experience(data=None):
    """The 151 profile with a survey, information, holidays, topic hours, nuisance rules and centre seats."""
    data = data or good()
    both = {"ar": "نص", "en": "text"}
    data["survey"] = {
        "questions": [{"id": "score", "max": 5, "text": both}, {"id": "solved", "max": 2, "text": both}],
        "thanks": both,
    }
    data["nuisance"] = {"max_short_calls": 5, "within_minutes": 2, "short_call_seconds": 10, "block_minutes": 60}
    data["hotline"]["holidays"] = [
        {
            "date": "2026-12-31",
            "until": "2027-01-01",
            "name": "new year",
            "hours": [{"open": "10:00", "close": "14:00"}],
        },
        {"date": "2027-02-25", "name": "national day", "topics": ["medical"]},  # closed, for doctors only
    ]
    data["queues"] = {"announce_position_seconds": 30}
    data["seats"] = {"default": 10, "centre": {}, "centre_default": 30}
    for name, text in EXPERIENCE_PROMPT_TEXT.items():
        data["prompts"][name] = {"ar": text, "en": text}
    topics = {t["id"]: t for t in data["topics"]}
    topics["virus"]["info"] = {"message": both, "person_key": "0", "when_wait_over_seconds": 120}
    topics["medical"]["hours"] = [{"days": ["sun", "mon", "tue", "wed", "thu"], "open": "08:00", "close": "20:00"}]
    topics["medical"]["when_closed"] = "message"
    topics["complaints"]["survey"] = True
    return data


def test_a_profile_with_survey_information_calendar_nuisance_and_centre_seats():
    profile = parse_profile(with_experience(), source="p.yaml")
    assert [q.id for q in profile.survey.questions] == ["score", "solved"] and profile.survey.questions[1].max == 2
    assert profile.topic("complaints").survey and not profile.topic("virus").survey
    assert profile.topic("virus").info.when_wait_over_seconds == 120 and profile.topic("virus").info.person_key == "0"
    assert profile.topic("medical").when_closed == "message" and profile.topic("medical").hours[0].open.hour == 8
    assert [h.name for h in profile.holidays] == ["new year", "national day"]
    assert profile.holidays[0].covers(date(2027, 1, 1)) and not profile.holidays[0].covers(date(2027, 1, 2))
    assert profile.holidays[1].topics == ("medical",) and profile.holidays[1].hours == ()
    assert profile.nuisance.max_short_calls == 5 and profile.nuisance.block_withheld is False
    assert profile.queue_settings.announce_position_seconds == 30
    assert (
        profile.centre_seats_for("morning") == 30 and parse_profile(good(), source="p").centre_seats_for(None) is None
    )
    assert profile.prompt("queue_position", "en").text == "You are number {position} in line."
    assert profile.prompt("welcome", "ar") is not None and profile.prompt("hold_music", "en") is None


def test_what_the_experience_uses_needs_its_prompts_its_survey_and_every_language():
    data = with_experience()
    for name in ("blocked", "leave_message", "queue_wait"):
        del data["prompts"][name]
    del data["survey"]
    data["topics"][0]["info"]["message"].pop("en")
    data["hotline"]["holidays"][0]["until"] = "2026-12-30"
    found = [f"{path}: {message}" for path, message in problems(data).problems]
    assert "prompts.blocked: is missing (every prompt needs every language of the profile)" in found
    assert "prompts.leave_message: is missing (every prompt needs every language of the profile)" in found
    assert "prompts.queue_wait: is missing (every prompt needs every language of the profile)" in found
    assert "topics[0].info.message.en: is missing (every prompt needs every language of the profile)" in found
    assert "hotline.holidays[0].until: must not be before date" in found
    complaints = next(i for i, t in enumerate(data["topics"]) if t["id"] == "complaints")
    assert f"topics[{complaints}].survey: needs a survey section (the questions to ask)" in found


def test_without_what_needs_them_the_experience_prompts_stay_optional():
    data = good()
    data["prompts"]["closed_next"] = {"ar": "نفتح {next}", "en": "We open {next}"}
    profile = parse_profile(data, source="p.yaml")
    assert profile.prompt("closed_next", "en").text == "We open {next}" and profile.prompt("blocked", "en") is None
