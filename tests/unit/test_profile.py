"""A bad profile is refused at start with the file, the field path and what is wrong."""

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
    (path, message), = problems(data).problems
    assert path == "ivr.retires" and message.startswith("unknown field")


def test_default_topic_must_exist_and_have_one_queue():
    data = good()
    data["ivr"]["default"]["topic"] = "medical"
    assert problems(data).problems == [
        ("ivr.default.topic", "must be a topic without specialties, so the default queue is one queue")
    ]


def test_unreadable_and_invalid_yaml_files_are_refused(tmp_path):
    with pytest.raises(ProfileError, match="missing.yaml: \\(file\\): cannot be read"):
        load_profile(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("hotline: [\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="broken.yaml: line 2, column 1: is not valid YAML"):
        load_profile(broken)


def test_missing_recorded_prompt_file_is_refused(tmp_path):
    data = good()
    data["prompts"]["closed"]["en"] = {"file": "closed-en.wav"}
    with pytest.raises(ProfileError, match="prompts.closed.en.file: .*closed-en.wav' does not exist"):
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
        ("agent-ar-1", 0), ("agent-ar-2", 0), ("agent-en-1", 100)
    ]
    assert [m.person_id for m in queues["en-medical-paediatrics"].members] == ["doc-en-paed-1"]
