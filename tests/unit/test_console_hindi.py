"""The console in Hindi (issue 14, item 5): every label of the console, the agent's desk and the pages the COVID line
mounts (calendar, blocked numbers, recordings) has a Hindi text in Devanagari, pages in Hindi run left to right, and
the console offers the profile's own languages (Hindi and English for the COVID call centre, Arabic and English for
151), the language switch going to the next of them."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from console import calendar_pages, desk, i18n, recording_pages, screening_pages
from profiles.model import load_profile

PROFILES = Path(__file__).parents[2] / "profiles"
MOH = load_profile(PROFILES / "moh-151.yaml")
COVID = load_profile(PROFILES / "covid-followup.yaml")


def devanagari(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith("DEVANAGARI") for ch in text)


def test_every_label_has_a_hindi_text_in_devanagari():
    pages = (calendar_pages.LABELS, screening_pages.LABELS, recording_pages.LABELS)  # mounted on the COVID line
    for catalogue in (i18n.CATALOGUE, desk.LABELS, *pages):
        assert set(catalogue["hi"]) == set(catalogue["en"]) == set(catalogue["ar"])
        # every label that is words (not '#', a command line, the switch naming another language) is Devanagari
        words = {k: v for k, v in catalogue["hi"].items() if any(ch.isalpha() for ch in catalogue["en"][k])}
        not_hindi = sorted(k for k, v in words.items() if not devanagari(v) and k != "language.switch")
        assert not_hindi == [], not_hindi
    assert i18n.t("hi", "nav.campaigns") == "अभियान"
    assert i18n.t("hi", "camp.emergency") == "9 · आपातकाल"
    assert i18n.DIRECTION["hi"] == "ltr" and i18n.DIRECTION["ar"] == "rtl"


def test_the_console_speaks_the_profiles_languages_and_switches_between_them():
    assert i18n.console_languages(COVID) == ("hi", "en")
    assert i18n.console_languages(MOH) == ("ar", "en")
    assert i18n.next_language(COVID, "hi") == "en" and i18n.next_language(COVID, "en") == "hi"
    assert i18n.next_language(MOH, "en") == "ar" and i18n.next_language(MOH, "ar") == "en"
    assert i18n.next_language(COVID, "ar") == "hi"  # an Arabic user on the Hindi line: to the line's first language
    assert i18n.NATIVE["hi"] == "हिन्दी"
    assert i18n.pick_language("hi-IN,hi;q=0.9,en;q=0.8", i18n.console_languages(COVID)) == "hi"
    assert i18n.pick_language("hi-IN", i18n.console_languages(MOH)) == "en"
    assert i18n.pick_language("ar-JO", i18n.console_languages(MOH)) == "ar"
    assert i18n.pick_language(None) == "en"


def test_the_covid_profile_s_queues_read_in_hindi():
    labels = i18n.queue_labels(COVID, "hi")
    assert labels and all(label != queue for queue, label in labels.items())
    assert i18n.language_name("hi", "hi") == "हिन्दी" and i18n.language_name("en", "hi") == "अंग्रेज़ी"
