"""The console's names for the profile's topics, specialties, queues and shifts, in Arabic and English."""

from __future__ import annotations

from pathlib import Path

from console import i18n
from profiles.model import load_profile

PROFILES = Path(__file__).parents[2] / "profiles"
MOH = load_profile(PROFILES / "moh-151.yaml")
PATIENTS = load_profile(PROFILES / "patient-services.yaml")


def test_both_languages_have_every_string():
    assert set(i18n.CATALOGUE["ar"]) == set(i18n.CATALOGUE["en"])


def test_every_queue_of_a_profile_has_a_label_in_each_language_and_none_is_its_name():
    for profile in (MOH, PATIENTS):
        for language in i18n.LANGUAGES:
            labels = i18n.queue_labels(profile, language)
            assert len(labels) == len(profile.language_codes) * sum(1 + len(t.specialties) for t in profile.topics)
            assert all(label != queue and "-" not in label.split(" · ")[0] for queue, label in labels.items())
    assert i18n.queue_label(MOH, "ar-medical-paediatrics", "en") == "Arabic · paediatrics"
    assert i18n.queue_label(MOH, "en-complaints", "ar") == "الإنجليزية · الشكاوى والاقتراحات"
    assert i18n.queue_label(PATIENTS, "ar-health_education", "en") == "Arabic · health education"


def test_an_arabic_menu_label_reads_as_a_name_on_a_page():
    assert i18n.CATALOGUE["ar"] and MOH.topic("complaints").label["ar"] == "للشكاوى والاقتراحات"
    assert i18n.topic_label(MOH, "complaints", "ar") == "الشكاوى والاقتراحات"  # "for the ..." -> "the ..."
    assert i18n.specialty_label(MOH, "internal", "ar") == "الطب الباطني"
    assert i18n.topic_label(MOH, "complaints", "en") == "complaints and suggestions"


def test_shifts_by_name_and_hours_and_unknown_names_as_they_are():
    assert i18n.shift_label(MOH, "morning", "ar") == "الصباحية (06:00–14:00)"
    assert i18n.shift_label(MOH, "night", "en") == "Night (22:00–06:00)"
    assert i18n.shift_label(PATIENTS, "day", "en") == "Day (07:30–14:30)"
    assert i18n.shift_label(MOH, "late", "en") == "late"
    assert i18n.shift_label(MOH, None, "en") == "–"
    assert i18n.language_name("fr", "ar") == "fr"


def test_a_shift_the_profile_labels_is_named_by_its_label_in_the_readers_language():
    from dataclasses import replace

    shift = replace(MOH.shifts[0], label={"ar": "النوبة الأولى", "en": "first watch"})
    profile = replace(MOH, shifts=(shift, *MOH.shifts[1:]))
    assert i18n.shift_label(profile, shift.id, "en") == f"first watch ({shift.start:%H:%M}–{shift.end:%H:%M})"
    assert i18n.shift_label(profile, shift.id, "ar").startswith("النوبة الأولى (")
