"""The IVR menu state machine: what the caller hears next, for every key they press."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.menu import Ask, Closed, Follow, Menu, MenuFinished, Report, Route, prompt_plan
from profiles.model import load_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"
NOON = datetime(2021, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def profile():
    return load_profile(PROFILE)


def test_arabic_medical_paediatrics_routes_to_the_arabic_paediatrics_queue(profile):
    menu = Menu(profile, NOON)
    assert menu.start() == Ask("all/language", 5000)
    assert menu.press("1") == Ask("ar/topics", 5000)
    assert menu.press("2") == Ask("ar/specialties-medical", 5000)
    assert menu.press("1") == Route("ar", "medical", "paediatrics", "ar-medical-paediatrics", defaulted=False)


def test_english_topic_without_specialty_routes_directly(profile):
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("2")
    assert menu.press("3") == Route("en", "delivery", None, "en-delivery", defaulted=False)


def test_no_input_replays_the_prompt_then_routes_to_the_default_queue(profile):
    menu = Menu(profile, NOON)
    menu.start()
    assert profile.retries == 2
    assert menu.press("") == Ask("all/language-retry", 5000)
    assert menu.press("") == Ask("all/language-retry", 5000)
    assert menu.press("") == Route("ar", "general", None, "ar-general", defaulted=True)


def test_invalid_key_replays_with_the_invalid_notice(profile):
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("2")
    assert menu.press("9") == Ask("en/topics-retry", 5000)
    assert menu.press("#") == Ask("en/topics-retry", 5000)
    # The caller chose English, so the default topic is served in English.
    assert menu.press("7") == Route("en", "general", None, "en-general", defaulted=True)


def test_retries_restart_for_each_menu_level(profile):
    menu = Menu(profile, NOON)
    menu.start()
    assert menu.press("0") == Ask("all/language-retry", 5000)
    assert menu.press("1") == Ask("ar/topics", 5000)
    assert menu.press("") == Ask("ar/topics-retry", 5000)
    assert menu.press("2") == Ask("ar/specialties-medical", 5000)
    assert menu.press("") == Ask("ar/specialties-medical-retry", 5000)
    assert menu.press("3") == Route("ar", "medical", "psychiatry", "ar-medical-psychiatry", defaulted=False)


def test_only_the_first_digit_counts(profile):
    menu = Menu(profile, NOON)
    menu.start()
    assert menu.press("12") == Ask("ar/topics", 5000)


def test_closed_hours_play_the_closed_prompt(profile):
    from dataclasses import replace
    from datetime import time

    from profiles.model import OpeningHours

    office = replace(profile, hours=(OpeningHours(("sun", "mon"), time(8), time(14)),))
    # 2021-03-14 is a Sunday; 09:00 UTC is 12:00 in Kuwait: open. 12:00 UTC is 15:00: closed.
    assert isinstance(Menu(office, NOON).start(), Ask)
    menu = Menu(office, datetime(2021, 3, 14, 12, 0, tzinfo=UTC))
    assert menu.start() == Closed("all/closed")
    with pytest.raises(MenuFinished):
        menu.press("1")


def test_single_language_profile_skips_the_language_menu_but_plays_its_welcome(profile):
    from dataclasses import replace

    arabic_only = replace(profile, languages=profile.languages[:1])
    menu = Menu(arabic_only, NOON)
    assert menu.start() == Ask("ar/welcome-topics", 5000)
    assert menu.press("9") == Ask("ar/topics-retry", 5000)  # the welcome once, not at every retry
    plan = prompt_plan(arabic_only)
    welcome = plan["ar/welcome-topics"]
    assert welcome[0].text == profile.prompts["welcome"]["ar"].text.format(key="1")
    assert welcome[1:] == plan["ar/topics"]  # one GET DATA: the greeting then the topic menu
    assert "all/language" in plan  # still made (harmless), never asked for


def test_the_940_profile_greets_its_caller_before_the_categories():
    municipal = load_profile(PROFILE.parent / "municipal-940.yaml")
    menu = Menu(municipal, NOON)
    first = menu.start()
    assert first == Ask("ar/welcome-topics", 5000)
    segments = prompt_plan(municipal)[first.prompt]
    assert segments[0].text == municipal.prompts["welcome"]["ar"].text
    assert "940" in segments[0].text


def cases_profile():
    from test_profile import with_cases

    from profiles.model import parse_profile

    return parse_profile(with_cases(), source="cases.yaml")


def test_with_cases_the_follow_key_ends_the_menu_with_follow_in_the_callers_language():
    menu = Menu(cases_profile(), NOON)
    menu.start()
    menu.press("2")
    assert menu.press("9") == Follow("en", "en-general")
    with pytest.raises(MenuFinished):
        menu.press("1")


def test_a_self_report_topic_ends_the_menu_with_report_instead_of_a_queue():
    profile = cases_profile()
    key = profile.topic("complaints").key
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("1")
    assert menu.press(key) == Report("ar", "complaints", "ar-complaints")


def test_without_cases_the_follow_key_and_self_report_do_nothing(profile):
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("1")
    assert menu.press("9") == Ask("ar/topics-retry", 5000)  # 9 is no option of the 151 profile


def test_a_self_report_caller_who_keys_nothing_still_reaches_a_person():
    from dataclasses import replace

    profile = cases_profile()
    profile = replace(profile, default_topic="complaints")  # the default topic is a self-report one
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("1")
    menu.press("")
    menu.press("")
    assert menu.press("") == Route("ar", "complaints", None, "ar-complaints", defaulted=True)


def test_the_prompt_plan_with_cases_offers_follow_and_has_every_case_prompt():
    profile = cases_profile()
    plan = prompt_plan(profile)
    assert plan["en/topics"][-1].text == "To follow a report, press 9."
    assert plan["en/topics-retry"][-1].text == "To follow a report, press 9."
    for name in ("case-number-is", "case-pin-is", "case-goodbye", "report-record", "report-thanks",
                 "follow-enter-number", "follow-enter-pin", "follow-wrong-number", "follow-not-found",
                 "follow-too-many", "agent-failed"):  # fmt: skip
        assert f"ar/{name}" in plan and f"en/{name}" in plan, name
    assert [s.text for s in plan["en/report-districts"]] == ["Please choose your district.", "For Hawalli, press 1."]
    assert plan["en/report-districts-retry"][1:] == plan["en/report-districts"]
    assert "ar/digit-0" in plan and "ar/digit-9" in plan


def test_the_prompt_plan_without_cases_is_unchanged_by_them(profile):
    plan = prompt_plan(profile)
    assert not any("case" in name or "follow" in name or "report" in name for name in plan)
    assert "ar/welcome-topics" not in plan


def test_pressing_after_the_route_is_refused(profile):
    menu = Menu(profile, NOON)
    menu.start()
    menu.press("1")
    menu.press("1")
    with pytest.raises(MenuFinished):
        menu.press("1")


def test_prompt_plan_covers_every_prompt_the_menu_can_ask_for(profile):
    plan = prompt_plan(profile)
    asked = set()
    for first in "12":
        for second in "12345":
            for third in "123":
                for miss in ("", "9"):
                    menu = Menu(profile, NOON)
                    steps = [menu.start()]
                    for digits in (miss, first, miss, second, miss, third):
                        if isinstance(steps[-1], Ask):
                            steps.append(menu.press(digits))
                    asked |= {s.prompt for s in steps if isinstance(s, Ask)}
    assert asked <= set(plan)
    assert "ar/specialties-medical-retry" in asked
    # The language menu speaks each language in its own voice, with its own key.
    voices = [(s.voice, s.text) for s in plan["all/language"]]
    assert voices[0][0] == "ar" and "1" in voices[0][1]
    assert voices[1] == ("en", "Welcome to the Ministry of Health hotline. For English, press 2.")
    assert plan["en/topics"][1].text == "For coronavirus inquiries, press 1."


# -- the caller's experience: information topics and the calendar ---------------------------------


def experience():
    from test_profile import with_experience

    from profiles.model import parse_profile

    return parse_profile(with_experience(), source="experience.yaml")


WEDNESDAY_NOON = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 12:00 in Kuwait
FRIDAY_NOON = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_an_information_topic_plays_while_the_wait_is_long_and_routes_at_once_when_short():
    from ivr.menu import Info

    profile = experience()
    long_wait = Menu(profile, WEDNESDAY_NOON, wait=lambda queue: 121.0)
    long_wait.start()
    long_wait.press("2")
    route = Route("en", "virus", None, "en-virus", defaulted=False)
    assert long_wait.press("1") == Info(route, "en/info-virus", "0")
    short = Menu(profile, WEDNESDAY_NOON, wait=lambda queue: 120.0)
    short.start()
    short.press("2")
    assert short.press("1") == route
    unknown = Menu(profile, WEDNESDAY_NOON)  # no estimate: straight to a person
    unknown.start()
    unknown.press("2")
    assert unknown.press("1") == route


def test_an_information_topic_without_a_wait_limit_always_plays_and_may_have_no_person_key():
    from dataclasses import replace

    from ivr.menu import Info
    from profiles.model import InfoOption

    profile = experience()
    virus = profile.topic("virus")
    only_info = replace(virus, info=InfoOption(message=virus.info.message, person_key=None))
    profile = replace(profile, topics=tuple(only_info if t.id == "virus" else t for t in profile.topics))
    menu = Menu(profile, WEDNESDAY_NOON)
    menu.start()
    menu.press("1")
    assert menu.press("1") == Info(Route("ar", "virus", None, "ar-virus", defaulted=False), "ar/info-virus", None)


def test_a_closed_topic_that_takes_messages_ends_with_a_message_for_its_next_opening():
    from ivr.menu import Message

    menu = Menu(experience(), FRIDAY_NOON)
    menu.start()
    menu.press("1")
    # No doctors on Friday: the message is answered on Sunday at 08:00, Kuwait time.
    step = menu.press("2")
    assert step == Message("ar", "medical", "ar-medical", datetime(2026, 12, 6, 5, 0, tzinfo=UTC))
    with pytest.raises(MenuFinished):
        menu.press("1")


def test_a_closed_topic_plays_closed_in_the_callers_language_with_the_next_opening():
    from datetime import date

    from profiles.model import SpecialDay

    extra = [SpecialDay(date=date(2026, 12, 2), until=date(2026, 12, 3), topics=("complaints",))]
    menu = Menu(experience(), WEDNESDAY_NOON, extra_days=extra)
    menu.start()
    menu.press("2")
    assert menu.press("5") == Closed(
        "en/closed", "en", "complaints", datetime(2026, 12, 3, 21, 0, tzinfo=UTC)
    )  # Friday 00:00 in Kuwait


def test_when_every_topic_is_closed_the_caller_chooses_a_language_to_hear_the_next_opening():
    from dataclasses import replace
    from datetime import date

    from profiles.model import SpecialDay

    profile = experience()
    # (without the doctors' own hours: a holiday that names no topic leaves a topic with its own hours alone)
    usual = tuple(replace(t, when_closed="close", hours=()) for t in profile.topics)
    no_messages = replace(profile, topics=usual)
    closed = [SpecialDay(date=date(2026, 12, 2), name="national day")]
    menu = Menu(no_messages, WEDNESDAY_NOON, extra_days=closed)
    assert menu.start() == Ask("all/language", 5000)
    step = menu.press("2")
    assert step == Closed("en/closed", "en", None, datetime(2026, 12, 2, 21, 0, tzinfo=UTC))
    # One language only: no language menu, the closed prompt at once.
    arabic = replace(no_messages, languages=no_messages.languages[:1])
    assert Menu(arabic, WEDNESDAY_NOON, extra_days=closed).start() == Closed(
        "ar/closed", "ar", None, datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
    )
    # A topic that takes messages (medical) keeps the menu open for it.
    messages = replace(profile, topics=tuple(replace(t, hours=()) for t in profile.topics))
    menu = Menu(messages, WEDNESDAY_NOON, extra_days=closed)
    assert menu.start() == Ask("all/language", 5000) and menu.press("2") == Ask("en/topics", 5000)


def test_the_next_opening_is_spoken_in_the_callers_language():
    from ivr.menu import spoken_opening

    profile = experience()
    now = WEDNESDAY_NOON
    assert spoken_opening(profile, now, datetime(2026, 12, 2, 14, 0, tzinfo=UTC), "en") == "today at 17:00"
    assert spoken_opening(profile, now, datetime(2026, 12, 3, 5, 0, tzinfo=UTC), "ar") == "غدا الساعة 08:00"
    sunday = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    assert spoken_opening(profile, now, sunday, "en") == "on Sunday 6 December at 08:00"
    assert spoken_opening(profile, now, sunday, "ar") == "يوم الأحد 6 ديسمبر الساعة 08:00"
    assert spoken_opening(profile, now, sunday, "fr") == "2026-12-06 08:00"


def test_the_prompt_plan_has_the_closed_information_and_message_prompts_of_each_language():
    plan = prompt_plan(experience())
    for code in ("ar", "en"):
        assert {f"{code}/closed", f"{code}/info-virus", f"{code}/leave-message", f"{code}/message-thanks"} <= set(plan)
    assert plan["en/leave-message"][0].text == "We are closed. Leave a message after the tone."
