"""Place in line (issue 13, item 4): who is due their position and estimated wait, what they hear, and the
announcement the service sends (the sentence made into sounds/follow, then one Originate whispering it to the
caller's channel). The wait is the callback offer's estimate. End to end: tests/e2e/test_place_in_line.py."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from callbacks import policy as callback_policy
from hotline.bootstrap import place_estimate
from profiles.model import Prompt, load_profile
from routing.place import PLACE_CONTEXT, Announcement, PlaceInLine, due, minutes
from routing.state import LiveState
from telephony.ami.message import Message
from telephony.clock import utc as T
from telephony.events import decode_event
from telephony.prompts import Segment

BASE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
POSITION = {
    "ar": Prompt(text="أنت رقم {position} في الانتظار."),
    "en": Prompt(text="You are number {position} in line."),
}
WAIT = {
    "ar": Prompt(text="مدة الانتظار حوالي {minutes} دقائق."),
    "en": Prompt(text="Your wait is about {minutes} minutes."),
}
PROFILE = dataclasses.replace(
    BASE,
    queue_settings=dataclasses.replace(BASE.queue_settings, announce_position_seconds=30),
    extra_prompts={**BASE.extra_prompts, "queue_position": POSITION, "queue_wait": WAIT},
)
T0 = 1000.0


def ev(state, t, event, **headers):
    typed = decode_event(Message({"Event": event, "Timestamp": repr(t), **headers}))
    assert typed is not None
    state.apply(typed, T(t))


def join(state, t, uid, queue="ar-general", position=1):
    ev(state, t, "QueueCallerJoin", Queue=queue, Uniqueid=uid, Linkedid=uid, Position=str(position), Count="1")


def constant(seconds):
    return lambda snapshot, queue, position, now: seconds


def test_the_wait_is_spoken_in_whole_minutes_rounded_up_never_zero():
    assert [minutes(s) for s in (0, 1, 59, 60, 61, 360, float("inf"), float("nan"), -5)] == [1, 1, 1, 1, 2, 6, 1, 1, 1]


def test_a_caller_is_due_after_the_interval_from_joining_then_again_after_each_interval():
    state = LiveState.from_profile(PROFILE)
    join(state, T0, "c1", position=1)
    join(state, T0 + 10, "c2", position=2)
    channels = {"c1": "PJSIP/trunk-00000001", "c2": "PJSIP/trunk-00000002"}
    snap = state.snapshot(T(T0 + 29))
    assert due(snap, channels, {}, 30, T(T0 + 29), constant(200)) == []
    (first,) = due(state.snapshot(T(T0 + 30)), channels, {}, 30, T(T0 + 30), constant(200))
    assert first == Announcement("c1", "PJSIP/trunk-00000001", "ar-general", "ar", 1, 4)
    both = due(state.snapshot(T(T0 + 40)), channels, {}, 30, T(T0 + 40), constant(200))
    assert [a.uniqueid for a in both] == ["c1", "c2"]
    last = {"c1": T(T0 + 30)}
    assert [a.uniqueid for a in due(state.snapshot(T(T0 + 59)), channels, last, 30, T(T0 + 59), constant(1))] == ["c2"]
    assert "c1" in [a.uniqueid for a in due(state.snapshot(T(T0 + 60)), channels, last, 30, T(T0 + 60), constant(1))]


def test_nobody_is_due_when_off_when_the_channel_is_unknown_or_when_a_person_is_free_for_them():
    state = LiveState.from_profile(PROFILE)
    join(state, T0, "c1")
    at = T(T0 + 100)
    snap = state.snapshot(at)
    assert due(snap, {"c1": "PJSIP/trunk-1"}, {}, 0, at, constant(100)) == []  # 0: off
    assert due(snap, {}, {}, 30, at, constant(100)) == []  # channel not seen
    assert due(snap, {"c1": "PJSIP/trunk-1"}, {}, 30, at, constant(0)) == []  # being rung: nothing to say


def test_the_estimate_is_the_callback_offers_estimate():
    state = LiveState.from_profile(PROFILE)
    for i in range(3):
        join(state, T0 + i, f"c{i}", position=i + 1)
    now = T(T0 + 50)
    snap = state.snapshot(now)
    aht = callback_policy.aht_from_snapshot(snap, now, "ar-general")
    for position in (1, 2, 3):
        assert place_estimate(snap, "ar-general", position, now) == callback_policy.estimated_wait(
            snap, "ar-general", position, aht, now
        )
    # nobody works the queue: P * AHT (the default 180 s): the third caller hears 9 minutes
    assert place_estimate(snap, "ar-general", 3, now) == 3 * callback_policy.DEFAULT_AHT_SECONDS
    assert minutes(place_estimate(snap, "ar-general", 3, now)) == 9


class FakeAMI:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[dict[str, str]] = []
        self.fail = fail
        self.connected = True

    async def send_action(self, action: dict[str, str]) -> Message:
        from telephony.ami.client import AMIDisconnected

        if self.fail:
            raise AMIDisconnected("gone")
        self.sent.append(dict(action))
        return Message({"Response": "Success"})


def _speaker(made: list[tuple[Segment, ...]]):
    def speak(segments: tuple[Segment, ...], cache: Path) -> Path:
        made.append(segments)
        out = cache / f"made-{len(made)}.wav"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"RIFF-" + repr(segments).encode())
        return out

    return speak


def _service(tmp_path: Path, ami: Any, made: list, profile=PROFILE, host: Path | None = None) -> PlaceInLine:
    sounds = host or tmp_path / "sounds"
    (sounds / "follow").mkdir(parents=True, exist_ok=True)
    desk = SimpleNamespace(synced=True, snapshot=lambda: None)
    return PlaceInLine(profile, ami, desk, sounds_dir="/var/sounds", sounds_host_dir=sounds,  # type: ignore[arg-type]
                       prompt_cache=tmp_path / "cache", estimate=constant(0), speak=_speaker(made))  # fmt: skip


async def test_an_announcement_is_made_in_the_callers_language_and_whispered_to_their_channel(tmp_path):
    ami, made = FakeAMI(), list[tuple[Segment, ...]]()
    place = _service(tmp_path, ami, made)
    announcement = Announcement("c1", "PJSIP/trunk-0000000a", "ar-general", "ar", 3, 9)
    assert await place.announce(announcement)
    assert made == [(Segment("ar", "أنت رقم 3 في الانتظار.", None), Segment("ar", "مدة الانتظار حوالي 9 دقائق.", None))]
    (action,) = ami.sent
    name = place.file_name(announcement)
    assert name is not None and name.startswith("place_ar_3_9_") and "-" not in name
    assert action["Action"] == "Originate" and action["Channel"] == f"Local/{name}@{PLACE_CONTEXT}/n"
    assert action["Application"] == "ChanSpy" and action["Data"] == "PJSIP/trunk-0000000a,qwES"
    installed = tmp_path / "sounds" / "follow" / f"{name}.wav"
    assert installed.read_bytes().startswith(b"RIFF")
    mode = stat.S_IMODE(installed.stat().st_mode)
    assert mode == (0o600 if os.geteuid() == 0 else 0o640)
    # the same sentence again: made once, whispered again
    assert await place.announce(announcement) and len(made) == 1 and len(ami.sent) == 2
    english = Announcement("c2", "PJSIP/trunk-0000000b", "en-general", "en", 1, 1)
    assert await place.announce(english)
    assert made[-1] == (
        Segment("en", "You are number 1 in line.", None),
        Segment("en", "Your wait is about 1 minutes.", None),
    )


async def test_a_recorded_prompt_is_followed_by_the_number(tmp_path):
    recording = tmp_path / "pos.wav"
    recording.write_bytes(b"RIFF")
    profile = dataclasses.replace(
        PROFILE, extra_prompts={**PROFILE.extra_prompts, "queue_position": {**POSITION, "en": Prompt(file=recording)}}
    )
    place = _service(tmp_path, FakeAMI(), [], profile=profile)
    assert place.segments("en", 4, 2) == (
        Segment("en", None, str(recording)),
        Segment("en", "4", None),
        Segment("en", "Your wait is about 2 minutes.", None),
    )


async def test_bad_input_sends_nothing_and_a_failure_leaves_the_caller_waiting(tmp_path):
    ami, made = FakeAMI(), list[tuple[Segment, ...]]()
    place = _service(tmp_path, ami, made)
    assert not await place.announce(Announcement("c1", "PJSIP/x-1", "zz-general", "zz", 1, 1))  # not a language
    assert not await place.announce(Announcement("c1", "PJSIP/x-1", "../-general", "../", 1, 1))
    assert ami.sent == [] and made == []
    # a channel name that would smuggle ChanSpy options or a second argument is never kept
    for bad in ("PJSIP/x-1,qB", "PJSIP/x-1)", "", "PJSIP/x 1"):
        place.on_message(Message({"Event": "QueueCallerJoin", "Uniqueid": "u9", "Channel": bad}))
        assert "u9" not in place.channels
    place.on_message(Message({"Event": "QueueCallerJoin", "Uniqueid": "u9", "Channel": "PJSIP/trunk-00000009"}))
    assert place.channels == {"u9": "PJSIP/trunk-00000009"}
    place.on_message(Message({"Event": "QueueCallerLeave", "Uniqueid": "u9"}))
    assert place.channels == {}
    gone = _service(tmp_path, FakeAMI(fail=True), [])
    assert not await gone.announce(Announcement("c1", "PJSIP/x-1", "ar-general", "ar", 1, 1))  # logged, not raised

    def broken(segments, cache):
        raise OSError("espeak-ng missing")

    place.speak = broken
    assert not await place.announce(Announcement("c1", "PJSIP/x-1", "ar-general", "ar", 7, 7))
    assert place._busy == set()


async def test_tick_announces_each_due_caller_once_at_a_time(tmp_path):
    state = LiveState.from_profile(PROFILE)
    join(state, T0, "c1")
    ami, made = FakeAMI(), list[tuple[Segment, ...]]()
    place = _service(tmp_path, ami, made)
    clock = [T(T0 + 31)]
    place.desk = SimpleNamespace(synced=True, snapshot=lambda: state.snapshot(clock[0]))  # type: ignore[assignment]
    place.clock = lambda: clock[0]
    place.estimate = constant(120)
    place.on_message(Message({"Event": "QueueCallerJoin", "Uniqueid": "c1", "Channel": "PJSIP/trunk-00000001"}))
    await place.tick()
    await place.tick()  # not due again yet
    for task in list(place._work):
        await task
    assert len(ami.sent) == 1 and "place_ar_1_2_" in ami.sent[0]["Channel"]
    clock[0] += timedelta(seconds=30)
    await place.tick()
    for task in list(place._work):
        await task
    assert len(ami.sent) == 2
    ami.connected = False
    clock[0] += timedelta(seconds=30)
    await place.tick()
    assert len(ami.sent) == 2 and not place._work  # AMI gone: nothing attempted


def test_the_service_is_off_without_an_interval(tmp_path):
    profile = dataclasses.replace(PROFILE, queue_settings=dataclasses.replace(PROFILE.queue_settings,
                                                                              announce_position_seconds=0))  # fmt: skip
    assert not _service(tmp_path, FakeAMI(), [], profile=profile).enabled
    assert _service(tmp_path, FakeAMI(), []).enabled


def test_the_rendered_dialplan_plays_the_sentence_and_loads_chanspy(tmp_path):
    from types import SimpleNamespace as NS

    from hotline.bootstrap import asterisk_plan
    from telephony.asterisk import AsteriskInstance, Credentials

    settings = NS(instance="unit", cache_dir=tmp_path / "cache", sip_host="127.0.0.1", sip_port=5060, ami_port=5038,
                  agi_host="127.0.0.1", agi_port=4573, rtp_start=10000, rtp_end=10999, trunk_match=("192.0.2.1",),
                  trunk_contact="sip:192.0.2.1:5060")  # fmt: skip
    instance = AsteriskInstance(tmp_path, settings)
    rendered = instance.render(PROFILE, asterisk_plan(PROFILE), Credentials.generate(PROFILE), write=False)
    assert "load => app_chanspy.so" in rendered["modules.conf"]
    dialplan = rendered["extensions.conf"]
    section = dialplan[dialplan.index(f"[{PLACE_CONTEXT}]") :]
    assert "exten => _place_.,1,Answer()" in section
    assert "/follow/${EXTEN})" in section and "UserEvent(HotlinePlaceInLine,Prompt: ${EXTEN}" in section
    base = dataclasses.replace(BASE, supervisors=())  # supervisors listen to calls with ChanSpy too (routing.ear)
    off = instance.render(base, asterisk_plan(base), Credentials.generate(base), write=False)
    assert "app_chanspy" not in off["modules.conf"] and f"[{PLACE_CONTEXT}]" not in off["extensions.conf"]


def test_the_patient_services_profile_announces_in_both_languages(tmp_path):
    profile = load_profile(Path(__file__).parents[2] / "profiles" / "patient-services.yaml")
    place = _service(tmp_path, FakeAMI(), [], profile=profile)
    assert place.enabled and place.interval == profile.queue_settings.announce_position_seconds > 0
    for language in ("ar", "en"):
        words = place.segments(language, 2, 5)
        assert len(words) == 2 and "2" in (words[0].text or "") and "5" in (words[1].text or ""), words
        assert place.file_name(Announcement("c", "PJSIP/t-1", f"{language}-complaints", language, 2, 5))


async def test_two_callers_needing_the_same_sentence_at_once_both_hear_it(tmp_path):
    import asyncio

    ami, made = FakeAMI(), list[tuple[Segment, ...]]()
    place = _service(tmp_path, ami, made)
    same = [Announcement(f"c{i}", f"PJSIP/trunk-0000000{i}", "ar-general", "ar", 2, 6) for i in range(4)]
    assert all(await asyncio.gather(*(place.announce(a) for a in same)))
    assert sorted(a["Data"] for a in ami.sent) == [f"PJSIP/trunk-0000000{i},qwES" for i in range(4)]
    assert [p.name for p in (tmp_path / "sounds" / "follow").iterdir()] == [f"{place.file_name(same[0])}.wav"]
