"""The IVR menu state machine: what the caller hears next, for every key they press."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.menu import Ask, Closed, Menu, MenuFinished, Route, prompt_plan
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


def test_single_language_profile_skips_the_language_menu(profile):
    from dataclasses import replace

    arabic_only = replace(profile, languages=profile.languages[:1])
    assert Menu(arabic_only, NOON).start() == Ask("ar/topics", 5000)


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
