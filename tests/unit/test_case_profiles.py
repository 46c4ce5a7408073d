"""The two shipped case profiles: the municipal 940 line (six categories of reports, from
../shared/seeds/municipal-940.txt) and the governorate's complaints line 16528. Both are Arabic only,
load, pass ``hotline profile check``, and ship as package data like the default profile."""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import yaml

from hotline.cli import main
from profiles.model import CASE_PROMPTS, REQUIRED_PROMPTS, ProfileError, load_profile, parse_profile

ROOT = Path(__file__).parents[2]
MUNICIPAL = ROOT / "profiles" / "municipal-940.yaml"
COMPLAINTS = ROOT / "profiles" / "complaints-16528.yaml"

#: The article's six categories, in its order, with the reports of the year.
SIX_CATEGORIES = {
    "markets_public_health": 4006,
    "environmental_health": 2142,
    "cleanliness": 4367,
    "parks": 564,
    "roads_networks": 3174,
    "lighting_signs": 3281,
}


@pytest.mark.parametrize("path", [MUNICIPAL, COMPLAINTS], ids=["940", "16528"])
def test_the_case_profiles_pass_profile_check(path, capsys):
    assert main(["profile", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: ok — " in out
    assert "1 languages" in out


@pytest.mark.parametrize("path", [MUNICIPAL, COMPLAINTS], ids=["940", "16528"])
def test_the_case_profiles_are_arabic_only_with_cases_and_every_prompt(path):
    profile = load_profile(path)
    assert profile.language_codes == ("ar",)
    assert profile.cases is not None
    assert set(profile.case_prompts) == set(CASE_PROMPTS)
    for name in REQUIRED_PROMPTS:
        assert set(profile.prompts[name]) == {"ar"}
    for name in CASE_PROMPTS:
        text = profile.case_prompts[name]["ar"].text
        assert text and any("\u0600" <= ch <= "\u06ff" for ch in text), name  # Arabic script
    status = profile.case_prompts["follow_status"]["ar"].text
    assert status is not None
    assert status.format(status="S", department="D", date="T").count("S") == 1  # only these fields, each once
    assert all(field in status for field in ("{status}", "{department}", "{date}"))
    assert "{key}" in (profile.case_prompts["follow_option"]["ar"].text or "")
    # the follow key is free, every topic is a category with a department and an SLA, and wrap-up codes
    assert profile.cases.follow_key not in {t.key for t in profile.topics}
    department_ids = {d.id for d in profile.cases.departments}
    for topic in profile.topics:
        assert profile.case_department(topic.id) in department_ids
        assert 1 <= profile.sla_hours(topic.id) <= 24 * 14
        assert topic.dispositions, topic.id
        assert set(topic.label) == {"ar"}
    assert any(t.self_report for t in profile.topics)
    # districts keyed 1..n, and people who take the categories
    assert [d.key for d in profile.cases.districts] == [str(i) for i in range(1, len(profile.cases.districts) + 1)]
    assert len(profile.cases.districts) >= 5
    assert profile.people and {t for p in profile.people for t in p.topics} == {t.id for t in profile.topics}


def test_the_940_profile_has_the_articles_six_categories_with_their_departments():
    profile = load_profile(MUNICIPAL)
    assert profile.number == "940"
    assert profile.hours == ()  # the emergency line: 24/7
    assert profile.timezone == "Asia/Riyadh"
    assert [t.id for t in profile.topics] == list(SIX_CATEGORIES)
    assert [t.key for t in profile.topics] == ["1", "2", "3", "4", "5", "6"]
    labels = [t.label["ar"] for t in profile.topics]
    assert labels[0] == "الأسواق والصحة العامة"
    assert "نواقل الأمراض" in labels[1] and "النظافة" in labels[2] and "الحدائق" in labels[3]
    assert "الطرق" in labels[4] and "الإنارة" in labels[5]
    # each category has its own department, and the follow-up team takes what has none
    departments = [profile.case_department(t) for t in SIX_CATEGORIES]
    assert len(set(departments)) == 6
    assert profile.cases is not None and profile.cases.default_department == "follow_up"
    assert profile.sla_hours("cleanliness") == 24
    assert {t.id for t in profile.topics if t.self_report} == {"cleanliness", "lighting_signs"}
    assert profile.cases.follow_key == "9"


def test_the_16528_profile_registers_complaints_and_forwards_them():
    profile = load_profile(COMPLAINTS)
    assert profile.number == "16528"
    assert profile.timezone == "Africa/Cairo"
    assert profile.cases is not None
    assert len(profile.topics) >= 5
    assert profile.case_department("other_services") == "complaints_office"  # the default: the governorate's office
    assert profile.sla_hours("other_services") == 168
    assert profile.topic("water_sewage").dispositions[0].id == "registered"
    assert "شكوى" in (profile.case_prompts["report_thanks"]["ar"].text or "").replace("شكواك", "شكوى")


@pytest.mark.parametrize("path", [MUNICIPAL, COMPLAINTS], ids=["940", "16528"])
def test_a_second_language_label_in_a_case_profile_is_refused(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["topics"][0]["label"]["en"] = "markets"
    data["cases"]["departments"][0]["label"]["en"] = "markets"
    with pytest.raises(ProfileError) as refused:
        parse_profile(data, source=path.name)
    found = dict(refused.value.problems)
    assert "topics[0].label.en" in found
    assert "cases.departments[0].label.en" in found


def test_a_broken_case_profile_fails_profile_check(tmp_path, capsys):
    data = yaml.safe_load(MUNICIPAL.read_text(encoding="utf-8"))
    data["topics"][2]["department"] = "no_such"
    del data["prompts"]["follow_status"]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["profile", "check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "topics[2].department: 'no_such' is not a department id" in err
    assert "prompts.follow_status: is missing" in err


def test_the_case_profiles_ship_as_package_data_like_the_default_profile():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["profiles"]
    for path in (MUNICIPAL, COMPLAINTS):
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
        assert resources.files("profiles").joinpath(path.name).is_file()
