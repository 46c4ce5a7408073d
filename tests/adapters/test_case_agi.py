"""The case routes over our FastAGI server, against a fake Asterisk, with the real case service and store on
SQLite (the 940 profile): the number read back, the self-service report, "follow a report", bad input, and
what the caller hears when the case service fails.
"""

from __future__ import annotations

import re
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from cases.agi import (
    CaseFollowHandler,
    CaseReadbackHandler,
    CaseReportHandler,
    VoiceNotes,
    mset_chunks,
    wav_seconds,
)
from cases.db import CaseStore
from cases.model import Case, check_digit
from cases.service import CaseService
from profiles.model import load_profile
from storage.engine import upgrade
from telephony.agi import AGIServer
from telephony.prompts import Segment

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "municipal-940.yaml")
SOUNDS = "/hotline/t/sounds"
SECRET = "case-agi-test-secret-0123456789ab"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CALLER = "0551234567"
OTHER = "0559999999"
LINKEDID = "1700000000.7"
OK = "200 result=0"


@dataclass
class Spoken:
    """A stand-in for espeak-ng: records what it was asked to say and makes a small file."""

    folder: Path
    said: list[tuple[Segment, ...]] = field(default_factory=list)

    def __call__(self, segments: tuple[Segment, ...], cache: Path) -> Path:
        self.said.append(segments)
        out = self.folder / f"spoken-{len(self.said)}.wav"
        out.write_bytes(b"RIFF....WAVE")
        return out


@dataclass
class Rig:
    server: AGIServer
    service: CaseService
    notes: VoiceNotes
    sounds_host: Path
    spoken: Spoken


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    upgrade(url)
    store = CaseStore(url)
    service = CaseService(PROFILE, store, clock=lambda: T0)
    notes = VoiceNotes("/hotline/t/voice-notes", tmp_path / "voice-notes")
    notes.host.mkdir(mode=0o700)
    sounds_host = tmp_path / "sounds"
    sounds_host.mkdir()
    spoken = Spoken(tmp_path)
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("case_readback", CaseReadbackHandler(PROFILE, service, SOUNDS))
    server.add_route("case_report", CaseReportHandler(PROFILE, service, SOUNDS, notes))
    follow = CaseFollowHandler(
        PROFILE, service, SOUNDS, sounds_host_dir=sounds_host, prompt_cache=tmp_path / "cache", speak=spoken
    )
    server.add_route("case_follow", follow)
    await server.start()
    yield Rig(server, service, notes, sounds_host, spoken)
    await server.close()
    await store.close()


async def call(server: AGIServer, route: str, args: list[str], replies: list[str], callerid: str = CALLER) -> list:
    env = build_environment(f"{SECRET}/{route}", port=server.port, callerid=callerid, args=args)
    fake = FakeAsterisk(port=server.port, env=env, replies=replies)
    await fake.run(timeout=5.0)
    assert fake.closed_by_server
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


def played(commands: list[list[str]]) -> list[str]:
    """The prompts asked for, as ``ar/name``."""
    return ["/".join(c[2].rsplit("/", 2)[-2:]) for c in commands if c[0] in ("STREAM", "GET")]


def msets(commands: list[list[str]]) -> dict[str, str]:
    """Every variable set by the MSets, in order; the result must be the last one set."""
    found: dict[str, str] = {}
    for command in commands:
        if command[:2] == ["EXEC", "MSet"]:
            for pair in command[2].split(","):
                name, _, value = pair.partition("=")
                found[name] = value
    return found


def files(value: str) -> list[str]:
    return ["/".join(path.rsplit("/", 2)[-2:]) for path in value.split("&")]


def read_back(case: Case) -> list[str]:
    once = ["ar/case-number-is", *(f"ar/digit-{d}" for d in case.number)]
    return once + once


async def open_case(service: CaseService, **changes: object) -> Case:
    fields: dict[str, object] = {
        "category": "roads_networks",
        "description": "حفرة في الطريق",
        "caller_number": CALLER,
        "language": "ar",
        "actor": "agent-940-1",
        "linkedid": LINKEDID,
    }
    fields.update(changes)
    return await service.open(**fields)  # type: ignore[arg-type]


def write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as note:
        note.setnchannels(1)
        note.setsampwidth(2)
        note.setframerate(rate)
        note.writeframes(b"\x10\x00" * int(seconds * rate))


# -- the number, read back --------------------------------------------------------------------------------------


async def test_a_case_opened_on_the_call_is_read_back_twice_then_its_pin_in_one_result(rig: Rig) -> None:
    case = await open_case(rig.service)
    commands = await call(rig.server, "case_readback", ["ar", LINKEDID], [OK, OK, OK])

    assert all(c[:2] == ["EXEC", "MSet"] for c in commands)  # no prompt played by the route: the dialplan plays
    variables = msets(commands)
    assert list(variables)[-1] == "HOTLINE_RESULT" and variables["HOTLINE_RESULT"] == "OK"
    assert variables["HOTLINE_CASE_NUMBER"] == case.number
    assert files(variables["HOTLINE_CASE_PROMPT"]) == read_back(case)
    assert files(variables["HOTLINE_CASE_PIN_PROMPT"]) == [
        "ar/case-pin-is",
        *(f"ar/digit-{d}" for d in case.pin),
        "ar/case-goodbye",
    ]
    assert case.pin not in variables["HOTLINE_CASE_PROMPT"].replace("/", "")  # the PIN stays out of the event
    assert all(len(" ".join(c).encode()) < 1800 for c in commands)  # under res_agi's 2 KiB command buffer


async def test_a_call_without_a_case_sets_nothing_and_the_call_ends_as_before(rig: Rig) -> None:
    await open_case(rig.service, linkedid="1700000000.99")  # another call's case
    assert await call(rig.server, "case_readback", ["ar", LINKEDID], []) == []
    assert await call(rig.server, "case_readback", ["ar", ""], []) == []  # no linkedid: nothing to look up


async def test_an_unknown_language_is_read_in_the_default_language(rig: Rig) -> None:
    case = await open_case(rig.service)
    commands = await call(rig.server, "case_readback", ["xx", LINKEDID], [OK, OK, OK])
    assert files(msets(commands)["HOTLINE_CASE_PROMPT"]) == read_back(case)


class Broken:
    """A case service whose database is down."""

    async def open(self, **_: object) -> Case:
        raise ConnectionError("database is down")

    async def opened_on_call(self, linkedid: str) -> list[Case]:
        raise ConnectionError("database is down")

    async def follow(self, keyed: str, **_: object) -> object:
        raise ConnectionError("database is down")


@pytest.fixture
async def broken(tmp_path: Path) -> AsyncIterator[AGIServer]:
    notes = VoiceNotes("/hotline/t/voice-notes", tmp_path)
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("case_readback", CaseReadbackHandler(PROFILE, Broken(), SOUNDS))  # type: ignore[arg-type]
    server.add_route("case_report", CaseReportHandler(PROFILE, Broken(), SOUNDS, notes))  # type: ignore[arg-type]
    server.add_route(
        "case_follow",
        CaseFollowHandler(PROFILE, Broken(), SOUNDS, sounds_host_dir=tmp_path, prompt_cache=tmp_path),  # type: ignore[arg-type]
    )
    await server.start()
    yield server
    await server.close()


async def test_when_the_case_service_fails_the_caller_hears_an_apology_never_silence(broken: AGIServer) -> None:
    # the read-back says sorry itself (the call then ends); the report and the lookup set no result, so the
    # dialplan plays the apology and takes the caller to a person
    assert played(await call(broken, "case_readback", ["ar", LINKEDID], [OK])) == ["ar/agent-failed"]
    note = "ab" * 16
    commands = await call(broken, "case_report", ["ar", "cleanliness", "al_shati", note, "DTMF", LINKEDID], [])
    assert "HOTLINE_RESULT" not in msets(commands)
    number = "12345678" + check_digit("12345678")
    commands = await call(broken, "case_follow", ["ar"], [f"200 result={number}"])
    assert played(commands) == ["ar/follow-enter-number"] and "HOTLINE_RESULT" not in msets(commands)


# -- the self-service report ------------------------------------------------------------------------------------


async def test_the_report_asks_the_district_then_names_the_voice_note_for_the_dialplan_to_record(rig: Rig) -> None:
    commands = await call(rig.server, "case_report", ["ar", "cleanliness"], ["200 result=9", "200 result=2", OK])

    assert played(commands) == ["ar/report-districts", "ar/report-districts-retry"]
    assert commands[0][3:] == ["5000", "1"]  # one digit: every district key of the 940 profile is one digit
    variables = msets(commands)
    assert variables["HOTLINE_DISTRICT"] == "al_shati"
    assert re.fullmatch(r"[0-9a-f]{32}", variables["HOTLINE_VOICE_NOTE"])
    assert list(variables.items())[-1] == ("HOTLINE_RESULT", "RECORD")


async def test_a_caller_who_keys_no_district_still_records_their_report(rig: Rig) -> None:
    timeout = "200 result= (timeout)"
    commands = await call(rig.server, "case_report", ["ar", "cleanliness"], [timeout, timeout, timeout, OK])
    assert len(played(commands)) == 1 + PROFILE.retries
    assert msets(commands)["HOTLINE_DISTRICT"] == "" and msets(commands)["HOTLINE_RESULT"] == "RECORD"


async def test_after_the_recording_the_case_is_opened_with_the_voice_note_and_read_back(rig: Rig) -> None:
    note = "0123456789abcdef" * 2
    write_wav(rig.notes.host / f"{note}.wav", 4.5)
    args = ["ar", "lighting_signs", "al_khaleej", note, "DTMF", LINKEDID]
    commands = await call(rig.server, "case_report", args, [OK, OK, OK], callerid=CALLER)

    (case,) = await rig.service.opened_on_call(LINKEDID)
    assert (case.category, case.district, case.source, case.caller_number, case.language) == (
        "lighting_signs",
        "al_khaleej",
        "phone",
        CALLER,
        "ar",
    )
    assert case.department == "lighting" and case.status == "open"
    assert case.voice_note == str(rig.notes.host / f"{note}.wav") and case.voice_note_seconds == 4.5
    variables = msets(commands)
    assert files(variables["HOTLINE_CASE_PROMPT"]) == ["ar/report-thanks", *read_back(case)]
    assert variables["HOTLINE_RESULT"] == "OK"


async def test_an_empty_voice_note_opens_the_case_without_it_and_leaves_no_file(rig: Rig) -> None:
    note = "fedcba9876543210" * 2
    write_wav(rig.notes.host / f"{note}.wav", 0)  # the caller pressed '#' at once
    commands = await call(
        rig.server, "case_report", ["ar", "cleanliness", "al_shati", note, "DTMF", LINKEDID], [OK] * 3
    )
    (case,) = await rig.service.opened_on_call(LINKEDID)
    assert case.voice_note is None and case.description == "(reported by phone, no voice note)"
    assert list(rig.notes.host.iterdir()) == []
    assert msets(commands)["HOTLINE_RESULT"] == "OK"


async def test_a_caller_who_hangs_up_while_recording_keeps_their_report(rig: Rig) -> None:
    note = "aa" * 16
    write_wav(rig.notes.host / f"{note}.wav", 6.0)
    args = ["ar", "cleanliness", "al_shati", note, "HANGUP", LINKEDID]  # from the h extension: the channel is gone
    commands = await call(rig.server, "case_report", args, ["511 Command Not Permitted on a dead channel"])
    (case,) = await rig.service.opened_on_call(LINKEDID)
    assert case.voice_note == str(rig.notes.host / f"{note}.wav") and case.voice_note_seconds == 6.0
    assert [c[:2] for c in commands] == [["EXEC", "MSet"]]  # the read-back was tried; the caller had gone


async def test_a_caller_who_hangs_up_before_saying_anything_leaves_no_case(rig: Rig) -> None:
    args = ["ar", "cleanliness", "al_shati", "bb" * 16, "HANGUP", LINKEDID]  # no file: hung up at the prompt
    assert await call(rig.server, "case_report", args, []) == []
    assert await rig.service.list() == []


async def test_a_forged_voice_note_name_opens_the_case_without_a_file_from_elsewhere(rig: Rig) -> None:
    args = ["ar", "cleanliness", "", "../../../../etc/passwd", "DTMF", LINKEDID]
    commands = await call(rig.server, "case_report", args, [OK, OK, OK])
    (case,) = await rig.service.opened_on_call(LINKEDID)
    assert case.voice_note is None and case.voice_note_seconds is None and case.district is None
    assert msets(commands)["HOTLINE_RESULT"] == "OK"  # the caller still hears their number


async def test_a_report_for_a_topic_that_is_not_self_service_is_refused(rig: Rig) -> None:
    assert await call(rig.server, "case_report", ["ar", "roads_networks"], []) == []
    assert await call(rig.server, "case_report", ["ar", "no_such_topic"], []) == []
    assert await rig.service.list() == []


def test_the_length_of_a_voice_note_is_read_from_its_wav_header(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", 2.25)
    assert wav_seconds(tmp_path / "a.wav") == 2.25
    (tmp_path / "b.wav").write_bytes(b"not a wav")
    assert wav_seconds(tmp_path / "b.wav") is None
    assert wav_seconds(tmp_path / "missing.wav") is None


def test_long_results_are_split_into_msets_under_the_agi_line_limit() -> None:
    variables = {"A": "x" * 1000, "B": "y" * 1000, "HOTLINE_RESULT": "OK"}
    chunks = mset_chunks(variables)
    assert [list(c) for c in chunks] == [["A"], ["B", "HOTLINE_RESULT"]]
    assert mset_chunks({"A": "1", "HOTLINE_RESULT": "OK"}) == [{"A": "1", "HOTLINE_RESULT": "OK"}]


# -- follow a report --------------------------------------------------------------------------------------------


async def test_the_caller_who_opened_a_case_hears_its_status_department_and_date(rig: Rig) -> None:
    case = await open_case(rig.service)
    commands = await call(rig.server, "case_follow", ["ar"], [f"200 result={case.number}", OK, OK])

    assert played(commands)[0] == "ar/follow-enter-number"
    assert commands[0][3:] == ["15000", "9"]
    assert commands[1][0] == "STREAM" and commands[1][2].startswith(f"{SOUNDS}/follow/")
    (segments,) = rig.spoken.said
    assert segments == (Segment("ar", "حالة بلاغك: مفتوح، لدى إدارة صيانة الطرق وشبكات الخدمات، منذ 1/3/2027.", None),)
    assert msets(commands) == {"HOTLINE_CASE_ANSWER": "found", "HOTLINE_RESULT": "OK"}
    assert list((rig.sounds_host / "follow").iterdir()) == []  # the sentence is removed once played


async def test_another_number_needs_the_pin_and_a_wrong_pin_is_an_unknown_case(rig: Rig) -> None:
    case = await open_case(rig.service)
    wrong = "0000" if case.pin != "0000" else "1111"
    commands = await call(
        rig.server, "case_follow", ["ar"], [f"200 result={case.number}", f"200 result={wrong}", OK, OK], OTHER
    )
    assert played(commands) == ["ar/follow-enter-number", "ar/follow-enter-pin", "ar/follow-not-found"]

    unknown = "12345678" + check_digit("12345678")
    commands = await call(
        rig.server, "case_follow", ["ar"], [f"200 result={unknown}", f"200 result={case.pin}", OK, OK], OTHER
    )
    assert played(commands) == ["ar/follow-enter-number", "ar/follow-enter-pin", "ar/follow-not-found"]

    # (each of those cost this number two lookups of its hourly five: a third phone keys the right PIN)
    commands = await call(
        rig.server, "case_follow", ["ar"], [f"200 result={case.number}", f"200 result={case.pin}", OK, OK], "0557777777"
    )
    assert played(commands)[:2] == ["ar/follow-enter-number", "ar/follow-enter-pin"]
    assert "follow/" in played(commands)[2] and len(rig.spoken.said) == 1


async def test_a_wrong_check_digit_is_asked_again_and_then_the_right_number_is_found(rig: Rig) -> None:
    case = await open_case(rig.service)
    mistyped = case.number[:-1] + str((int(case.number[-1]) + 1) % 10)
    replies = [f"200 result={mistyped}", f"200 result={case.number}", OK, OK]
    commands = await call(rig.server, "case_follow", ["ar"], replies)
    assert played(commands)[:2] == ["ar/follow-enter-number", "ar/follow-wrong-number"]
    assert len(rig.spoken.said) == 1


async def test_a_caller_who_never_keys_a_valid_number_hears_not_found(rig: Rig) -> None:
    replies = ["200 result=12", "200 result= (timeout)", "200 result=999999999", OK, OK]
    commands = await call(rig.server, "case_follow", ["ar"], replies)
    assert played(commands) == [
        "ar/follow-enter-number",
        "ar/follow-wrong-number",
        "ar/follow-wrong-number",
        "ar/follow-not-found",
    ]
    assert msets(commands) == {"HOTLINE_CASE_ANSWER": "wrong_number", "HOTLINE_RESULT": "OK"}


async def test_a_lookup_flood_from_one_number_hears_too_many(rig: Rig) -> None:
    unknown = "12345678" + check_digit("12345678")
    limit = PROFILE.cases.max_lookups_per_number_per_hour if PROFILE.cases else 0
    heard = []
    for _ in range(limit):  # each costs two lookups (the number, then with a PIN)
        commands = await call(
            rig.server, "case_follow", ["ar"], [f"200 result={unknown}", "200 result=1234", OK, OK], OTHER
        )
        heard.append(played(commands)[-1])
    assert heard[0] == "ar/follow-not-found"
    assert heard[-1] == "ar/follow-too-many"
    case = await open_case(rig.service, caller_number=OTHER)
    commands = await call(rig.server, "case_follow", ["ar"], [f"200 result={case.number}", OK, OK], OTHER)
    assert played(commands)[-1] == "ar/follow-too-many"  # even their own case, until the hour has passed


# -- the IVR hands the caller to the case routes ----------------------------------------------------------------


@pytest.fixture
async def ivr() -> AsyncIterator[AGIServer]:
    from ivr.handler import IvrHandler

    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("ivr", IvrHandler(PROFILE, SOUNDS, clock=lambda: T0))
    await server.start()
    yield server
    await server.close()


async def test_the_ivr_greets_then_hands_a_self_report_topic_to_the_report_with_a_queue_to_fall_back_on(
    ivr: AGIServer,
) -> None:
    commands = await call(ivr, "ivr", [], ["200 result=3", OK])
    assert played(commands) == ["ar/welcome-topics"]  # one language: the welcome opens the first menu
    assert msets(commands) == {
        "HOTLINE_LANGUAGE": "ar",
        "HOTLINE_TOPIC": "cleanliness",
        "HOTLINE_SPECIALTY": "",
        "HOTLINE_QUEUE": "ar-cleanliness",
        "HOTLINE_OVERFLOW_QUEUE": "ar-cleanliness",
        "HOTLINE_PRIORITY": "0",
        "HOTLINE_RESULT": "REPORT",
    }


async def test_the_ivr_hands_the_follow_key_to_follow_a_report(ivr: AGIServer) -> None:
    commands = await call(ivr, "ivr", [], ["200 result=9", OK])
    variables = msets(commands)
    assert variables["HOTLINE_RESULT"] == "FOLLOW" and variables["HOTLINE_LANGUAGE"] == "ar"
    assert variables["HOTLINE_QUEUE"] == "ar-cleanliness"  # the default topic's queue, if the lookup fails


async def test_a_topic_with_agents_is_still_routed_to_its_queue(ivr: AGIServer) -> None:
    commands = await call(ivr, "ivr", [], ["200 result=5", OK])
    variables = msets(commands)
    assert (variables["HOTLINE_RESULT"], variables["HOTLINE_QUEUE"]) == ("OK", "ar-roads_networks")
