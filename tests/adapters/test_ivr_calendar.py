"""The IVR with the calendar and information topics, over our FastAGI server against a fake Asterisk.

The 151 profile with the experience (tests/unit/test_profile.py ``with_experience``): ``virus`` plays
information while the wait is over 120 s, ``medical`` (doctors Sunday to Thursday 08:00-20:00) takes a
message when closed, the profile says the next opening (``closed_next``). Kuwait time (UTC+3).
"""

from __future__ import annotations

import wave
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment
from unit.test_profile import with_experience

from ivr.handler import IvrHandler
from ivr.message import LeftMessage, MessageHandler
from profiles.model import SpecialDay, parse_profile
from telephony.agi import AGIServer

PROFILE = parse_profile(with_experience(), source="experience.yaml")
SOUNDS = "/hotline/test/sounds"
SECRET = "ivr-test-secret-0123456789abcdef"
WEDNESDAY_NOON = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # 12:00 in Kuwait: doctors in
FRIDAY_NOON = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # no doctors on Friday
STREAMED = "200 result=0 endpos=8000"


async def run(handler, replies, route="ivr", **env):
    agi = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    agi.add_route(route, handler)
    await agi.start()
    try:
        fake = FakeAsterisk(
            port=agi.port, env=build_environment(f"{SECRET}/{route}", port=agi.port, **env), replies=replies
        )
        await fake.run(timeout=5.0)
        assert fake.closed_by_server
    finally:
        await agi.close()
    return [[arg.decode() for arg in asterisk_parse_args(line.encode())] for line in fake.received]


def mset(command):
    assert command[:2] == ["EXEC", "MSet"]
    return dict(pair.split("=", 1) for pair in command[2].split(","))


@pytest.mark.parametrize(("wait", "played"), [(300.0, True), (60.0, False), (None, False)])
async def test_information_plays_only_while_the_wait_is_longer_than_the_topics_limit(wait, played):
    asked: list[str] = []

    def estimate(queue: str) -> float | None:
        asked.append(queue)
        return wait

    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: WEDNESDAY_NOON, wait=estimate)
    # English (2), virus (1); while the information plays the caller presses 0: a person.
    replies = ["200 result=2", "200 result=1"] + (["200 result=0", "200 result=0"] if played else []) + ["200 result=0"]
    commands = await run(handler, replies)
    assert asked == ["en-virus"]
    if played:
        assert commands[2] == [
            "EXEC",
            "UserEvent",
            "HotlineRoute,Language: en,Topic: virus,Specialty: ,Queue: en-virus,Result: INFO",
        ]
        assert commands[3] == ["GET", "DATA", f"{SOUNDS}/en/info-virus", "5000", "1"]
    variables = mset(commands[-1])
    assert variables["HOTLINE_RESULT"] == "OK" and variables["HOTLINE_QUEUE"] == "en-virus"
    assert len(commands) == (5 if played else 3)


@pytest.mark.parametrize("pressed", ["200 result= (timeout)", "200 result=5"])
async def test_a_caller_who_does_not_press_the_person_key_after_the_information_is_done(pressed):
    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: WEDNESDAY_NOON, wait=lambda queue: 300.0)
    commands = await run(handler, ["200 result=1", "200 result=1", "200 result=0", pressed, "200 result=0"])
    assert commands[2][:2] == ["EXEC", "UserEvent"] and commands[3][2] == f"{SOUNDS}/ar/info-virus"
    assert mset(commands[4]) == {"HOTLINE_RESULT": "INFO"}


async def test_a_caller_who_hangs_up_during_the_information_gets_no_result():
    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: WEDNESDAY_NOON, wait=lambda queue: 300.0)
    commands = await run(handler, ["200 result=1", "200 result=1", "200 result=0", "HANGUP\n200 result=-1"])
    assert len(commands) == 4 and not any(c[:2] == ["EXEC", "MSet"] for c in commands)


async def test_an_estimate_that_fails_sends_the_caller_to_a_person():
    def broken(queue: str) -> float:
        raise RuntimeError("no state")

    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: WEDNESDAY_NOON, wait=broken)
    commands = await run(handler, ["200 result=2", "200 result=1", "200 result=0"])
    assert mset(commands[2])["HOTLINE_RESULT"] == "OK"


async def test_a_closed_topic_that_takes_messages_asks_the_dialplan_to_record_one():
    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: FRIDAY_NOON)
    commands = await run(handler, ["200 result=1", "200 result=2", "200 result=0"])
    variables = mset(commands[2])
    assert variables["HOTLINE_RESULT"] == "MESSAGE" and variables["HOTLINE_TOPIC"] == "medical"
    assert variables["HOTLINE_LANGUAGE"] == "ar" and len(variables["HOTLINE_VOICE_NOTE"]) == 32


async def test_a_special_day_from_the_console_closes_a_topic_and_the_caller_hears_the_next_opening(tmp_path):
    sounds_host = tmp_path / "sounds"
    sounds_host.mkdir()
    spoken: list[str] = []

    def speak(segments, cache: Path) -> Path:
        spoken.extend(s.text for s in segments)
        made = cache / "made.wav"
        made.parent.mkdir(parents=True, exist_ok=True)
        made.write_bytes(b"RIFF")
        return made

    async def special_days():
        return [SpecialDay(date=date(2026, 12, 2), name="stocktaking", topics=("general",))]

    handler = IvrHandler(
        PROFILE,
        SOUNDS,
        clock=lambda: WEDNESDAY_NOON,
        special_days=special_days,
        sounds_host_dir=sounds_host,
        prompt_cache=tmp_path / "cache",
        speak=speak,
    )
    commands = await run(handler, ["200 result=2", "200 result=4", STREAMED, STREAMED, "200 result=0"])
    assert commands[2] == ["STREAM", "FILE", f"{SOUNDS}/en/closed", ""]
    assert commands[3][:2] == ["STREAM", "FILE"] and commands[3][2].startswith(f"{SOUNDS}/follow/")
    assert spoken == ["We open again tomorrow at 00:00."]
    assert mset(commands[4]) == {"HOTLINE_PROMPT": "", "HOTLINE_RESULT": "CLOSED"}
    assert list((sounds_host / "follow").iterdir()) == []  # played, then removed
    # The other topics are open as usual that day.
    open_day = await run(handler, ["200 result=2", "200 result=3", "200 result=0"])
    assert mset(open_day[2])["HOTLINE_RESULT"] == "OK"


async def test_special_days_that_cannot_be_read_leave_the_profiles_hours():
    async def broken():
        raise OSError("database down")

    handler = IvrHandler(PROFILE, SOUNDS, clock=lambda: WEDNESDAY_NOON, special_days=broken)
    commands = await run(handler, ["200 result=2", "200 result=4", "200 result=0"])
    assert mset(commands[2])["HOTLINE_RESULT"] == "OK"


async def test_the_next_opening_that_cannot_be_made_still_plays_the_closed_prompt(tmp_path):
    def broken(segments, cache):
        raise OSError("espeak-ng missing")

    holiday = [SpecialDay(date=date(2026, 12, 2), topics=("general",))]

    async def special_days():
        return holiday

    handler = IvrHandler(
        PROFILE,
        SOUNDS,
        clock=lambda: WEDNESDAY_NOON,
        special_days=special_days,
        sounds_host_dir=tmp_path,
        prompt_cache=tmp_path / "cache",
        speak=broken,
    )
    commands = await run(handler, ["200 result=1", "200 result=4", STREAMED, "200 result=0"])
    assert commands[2] == ["STREAM", "FILE", f"{SOUNDS}/ar/closed", ""]
    assert mset(commands[3]) == {"HOTLINE_PROMPT": "", "HOTLINE_RESULT": "CLOSED"}


def tone(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x10\x00" * int(8000 * seconds))


class Inbox:
    def __init__(self, answer: bool | Exception = True):
        self.left: list[LeftMessage] = []
        self.answer = answer

    async def __call__(self, message: LeftMessage) -> bool:
        self.left.append(message)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


NOTE = "0123456789abcdef0123456789abcdef"


async def test_a_message_is_taken_for_the_topics_next_opening(tmp_path):
    tone(tmp_path / f"{NOTE}.wav", 2.0)
    inbox = Inbox()
    handler = MessageHandler(PROFILE, inbox, tmp_path, clock=lambda: FRIDAY_NOON)
    args = ("ar", "medical", NOTE, "SILENCE", "1700000000.7")
    commands = await run(handler, ["200 result=0"], route="message", args=args)
    assert mset(commands[0]) == {"HOTLINE_RESULT": "OK"}
    (message,) = inbox.left
    assert message.topic == "medical" and message.queue == "ar-medical" and message.number == "0791234567"
    assert message.voice_note == tmp_path / f"{NOTE}.wav" and message.seconds == pytest.approx(2.0)
    assert message.linkedid == "1700000000.7"
    # Friday: the doctors are back on Sunday at 08:00 in Kuwait (05:00 UTC).
    assert message.answer_at == datetime(2026, 12, 6, 5, 0, tzinfo=UTC)


async def test_a_caller_who_hung_up_while_recording_still_leaves_the_message_but_hears_nothing(tmp_path):
    tone(tmp_path / f"{NOTE}.wav", 1.0)
    inbox = Inbox()
    handler = MessageHandler(PROFILE, inbox, tmp_path, clock=lambda: FRIDAY_NOON)
    commands = await run(handler, [], route="message", args=("en", "medical", NOTE, "HANGUP", "1700000000.8"))
    assert commands == [] and len(inbox.left) == 1


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (("en", "general", NOTE, "SILENCE", "x"), "a topic that takes no messages"),
        (("en", "medical", "../../etc/passwd", "HANGUP", "x"), "a bad file name, and the caller hung up"),
    ],
)
async def test_bad_messages_are_refused(tmp_path, args, why):
    inbox = Inbox()
    handler = MessageHandler(PROFILE, inbox, tmp_path, clock=lambda: FRIDAY_NOON)
    commands = await run(handler, [], route="message", args=args)
    assert commands == [] and inbox.left == [], why


async def test_an_empty_message_is_removed_and_a_failure_to_take_it_is_not_thanked(tmp_path):
    tone(tmp_path / f"{NOTE}.wav", 0.0)
    inbox = Inbox(RuntimeError("callbacks down"))
    handler = MessageHandler(PROFILE, inbox, tmp_path, clock=lambda: FRIDAY_NOON)
    commands = await run(handler, [], route="message", args=("en", "medical", NOTE, "DTMF", "x"))
    assert commands == []  # no OK: the dialplan apologises
    assert not (tmp_path / f"{NOTE}.wav").exists()
    (message,) = inbox.left
    assert message.voice_note is None and message.seconds is None
