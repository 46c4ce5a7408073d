"""Where a call may be handed on (issue 12): the profile's directory of short codes, its destinations and
supervisors, the transfer keys, and the prompts recording and whisper need. Hostile values are refused at load,
so nothing a transfer, a REFER or the console sends can name a place the profile does not."""

from pathlib import Path

import pytest
import yaml

from profiles.model import ProfileError, parse_profile

PROFILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"


def good():
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["destinations"] = [
        {"id": "technical-affairs", "code": "71", "label": {"ar": "الشؤون الفنية", "en": "technical affairs"},
         "sip": "sip:affairs@127.0.0.1:5099"},
        {"id": "emergency-control-room", "code": "99", "label": {"ar": "غرفة الطوارئ", "en": "control room"},
         "number": "112"},
    ]  # fmt: skip
    return data


def problems(data):
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source="bad.yaml")
    return info.value.problems


def test_the_directory_names_every_queue_person_and_destination_by_a_short_code():
    profile = parse_profile(good())
    codes = {entry.code: entry for entry in profile.directory()}
    assert codes["111"].kind == "queue" and (codes["111"].language, codes["111"].topic) == ("ar", "virus")
    assert codes["1221"].kind == "queue" and codes["1221"].specialty == "paediatrics"  # en, medical, paediatrics
    assert codes["201"].kind == "person" and codes["201"].id == "agent-ar-1"
    assert (codes["71"].kind, codes["71"].sip) == ("destination", "sip:affairs@127.0.0.1:5099")
    assert (codes["99"].kind, codes["99"].number) == ("destination", "112")
    assert len(codes) == len(profile.directory())  # one place per code
    assert profile.destination("technical-affairs").code == "71"


def test_a_person_may_have_their_own_code():
    data = good()
    data["people"][0]["code"] = "3001"
    codes = {entry.code: entry.id for entry in parse_profile(data).directory()}
    assert codes["3001"] == "agent-ar-1" and "201" not in codes and codes["202"] == "agent-ar-2"


@pytest.mark.parametrize(
    "uri",
    [
        "sip:0090123@anything;transport=tcp",
        "sip:a@b,PJSIP/trunk",
        "sip:${EXTEN}@host",
        "sip:$[1+1]@host",
        "sip:a@b)",
        "sip:a b@host",
        "sip:a@host\nX-Injected: 1",
        "tel:+123456",
        "sip:@host",
        "sip:desk@host:5060:5060",
        "sip:desk\u202e@host",
    ],
)
def test_a_destination_uri_that_could_say_more_than_where_is_refused(uri):
    data = good()
    data["destinations"][0]["sip"] = uri
    assert [path for path, _ in problems(data)] == ["destinations[0].sip"]


@pytest.mark.parametrize("number", ["00", "0090${X}", "112,PJSIP/x", "+", "12 34", "1" * 16, "*112", "112#"])
def test_a_destination_number_must_be_digits(number):
    data = good()
    data["destinations"][1]["number"] = number
    assert [path for path, _ in problems(data)] == ["destinations[1].number"]


def test_a_destination_needs_one_way_out_and_its_own_id_and_code():
    data = good()
    data["destinations"][0]["number"] = "1234"
    data["destinations"].append(dict(data["destinations"][1]))
    found = problems(data)
    paths = [path for path, _ in found]
    assert "destinations[0]" in paths
    assert ("destinations[2].id", "duplicate id 'emergency-control-room' (also at destinations[1])") in found
    assert ("destinations[2].code", "duplicate code '99' (also at destinations[1])") in found


@pytest.mark.parametrize("code", ["1", "7a", "*71", "1234567", "71#"])
def test_a_short_code_is_two_to_six_digits(code):
    data = good()
    data["destinations"][0]["code"] = code
    assert [path for path, _ in problems(data)] == ["destinations[0].code"]


def test_a_code_that_is_already_a_queues_or_persons_is_refused():
    data = good()
    data["destinations"][0]["code"] = "111"  # ar, virus
    data["destinations"][1]["code"] = "202"  # agent-ar-2
    found = dict(problems(data))
    assert found["destinations[0].code"] == "short code '111' is also the code of queue 'ar:virus'"
    assert found["destinations[1].code"] == "short code '202' is also the code of person 'agent-ar-2'"


@pytest.mark.parametrize("keys", ["", "#1#1#", "a", "*2,", "${X}"])
def test_transfer_keys_are_dtmf_keys_only(keys):
    data = good()
    data["transfers"] = {"blind": keys}
    assert [path for path, _ in problems(data)] == ["transfers.blind"]


def test_supervisors_have_phones_apart_from_the_people():
    data = good()
    data["supervisors"] = [{"id": "sup-1", "name": "Huda"}, {"id": "agent-ar-1", "name": "x"}]
    assert ("supervisors[1].id", "'agent-ar-1' is also a person's id") in problems(data)
    data["supervisors"] = [{"id": "sup-1", "name": "Huda", "language": "en"}]
    assert parse_profile(data).supervisors[0].language == "en"


def test_recording_is_never_enabled_without_the_announcement_in_every_language():
    data = good()
    data["topics"][0]["record"] = True
    assert ("prompts.recording_notice", "is missing (every prompt needs every language of the profile)") in (
        problems(data)
    )
    data["prompts"]["recording_notice"] = {"ar": "قد يتم تسجيل هذه المكالمة."}
    assert [path for path, _ in problems(data)] == ["prompts.recording_notice.en"]
    data["prompts"]["recording_notice"]["en"] = "This call may be recorded."
    profile = parse_profile(data)
    assert profile.records_calls and profile.topic("virus").record and profile.topic("virus").retention_days == 90


def test_a_whisper_needs_its_prompt():
    data = good()
    data["topics"][0]["whisper"] = True
    data["prompts"].pop("whisper", None)  # the shipped profile has it (its medical topic whispers)
    assert [path for path, _ in problems(data)] == ["prompts.whisper"]
