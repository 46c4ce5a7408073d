"""The queue's part of the caller's experience (issue 13, items 4 and 6) on a real Asterisk with SIPp callers:

* place in line: a waiting caller hears their position and the estimated wait in their language, every
  ``queues.announce_position_seconds``: checked from Asterisk's own events on the caller's channel (ChanSpyStart with
  the caller as the spyee, the sentence's playback ending SUCCESS on the whispering side), never by listening;
* hold music: the profile's Arabic hold music is the class Asterisk plays to a caller of an Arabic queue
  (MusicOnHoldStart's Class);
* centre-wide seats: with 2 seats for the whole centre and 3 free people, a burst of callers to two topics never has
  more than 2 people talking at once (AgentConnect/AgentComplete), and only the first two logged in take calls.

One Asterisk for the module, with the default profile shortened (as the other e2e modules) plus these settings.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (  # tests/e2e is on sys.path
    Rig,
    _short_profile,
    ami_events,
    log_in,
    running_rig,
)

from callbacks.policy import DEFAULT_AHT_SECONDS
from telephony.prompts import hold_music_class
from telephony.sipp.driver import place_call

pytestmark = pytest.mark.e2e

INTERVAL = 4  # seconds between announcements (the profile's announce_position_seconds)
CENTRE_SEATS = 2
ARABIC = "1"
GENERAL, VIRUS = "4", "1"


def _profile(target: Path) -> Path:
    _short_profile(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["queues"]["announce_position_seconds"] = INTERVAL
    data["prompts"]["queue_position"] = {"ar": "ترتيبك {position}", "en": "You are number {position} in line"}
    data["prompts"]["queue_wait"] = {"ar": "حوالي {minutes} دقائق", "en": "about {minutes} minutes"}
    data["prompts"]["hold_music"] = {"ar": "موسيقى"}  # Arabic only: English keeps the generated music
    data["seats"]["centre_default"] = CENTRE_SEATS
    data["callbacks"]["enabled"] = False  # nothing else whispers or dials here
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-place-in-line")
    with running_rig(workdir, "e2e-place", _profile(workdir / "profile.yaml")) as rig:
        yield rig


async def call(rig: Rig, number: str, digits: list[str], **kwargs):
    dtmf = [(1.0, digits[0])] + [(0.8, d) for d in digits[1:]]
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=dtmf, workdir=rig.workdir / "callers", **kwargs
    )


def _joined(events: list[dict[str, str]], queue: str) -> list[dict[str, str]]:
    return [e for e in events if e.get("Event") == "QueueCallerJoin" and e.get("Queue") == queue]


async def test_waiting_callers_hear_their_place_and_wait_in_arabic_over_the_arabic_hold_music(rig: Rig) -> None:
    names = ["QueueCallerJoin", "MusicOnHoldStart", "ChanSpyStart", "UserEvent"]
    async with ami_events(rig, names) as events:
        first = asyncio.create_task(call(rig, "96551300001", [ARABIC, GENERAL], max_duration=25))
        await rig.wait_for(lambda: len(_joined(events, "ar-general")) == 1, timeout=20, what="the first caller")
        second = asyncio.create_task(call(rig, "96551300002", [ARABIC, GENERAL], max_duration=20))
        await rig.wait_for(lambda: len(_joined(events, "ar-general")) == 2, timeout=20, what="the second caller")
        joined = {e["Channel"]: int(e["Position"]) for e in _joined(events, "ar-general")}

        def spied(channel: str) -> list[dict[str, str]]:
            return [e for e in events if e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == channel]

        await rig.wait_for(
            lambda: all(len(spied(channel)) >= 2 for channel in joined),
            timeout=3 * INTERVAL + 10,
            what="two announcements to each waiting caller",
        )
        results = await asyncio.gather(first, second)
    assert all(r.answered for r in results), [r.error for r in results]
    played = [e for e in events if e.get("Event") == "UserEvent" and e.get("UserEvent") == "HotlinePlaceInLine"]
    nobody = DEFAULT_AHT_SECONDS / 60  # nobody works the queue: the callback offer's P * AHT, in minutes
    for channel, position in joined.items():
        for start in spied(channel):
            # The whispering side is Local/place_<language>_<position>_<minutes>_<digest>@hotline-place
            match = re.match(r"Local/place_([a-z]+)_(\d+)_(\d+)_[0-9a-f]+@hotline-place-", start["SpyerChannel"])
            assert match is not None, start
            assert (match[1], int(match[2]), int(match[3])) == ("ar", position, round(position * nobody))
        prompts = {e["Prompt"] for e in played if e["Prompt"].startswith(f"place_ar_{position}_")}
        assert prompts, f"no playback of the sentence for position {position}: {played}"
    assert played and {e["Status"] for e in played} == {"SUCCESS"}  # the file was there and played to the end
    # the time between two announcements to the same caller is the interval (the service ticks every second)
    for channel in joined:
        times = [float(e["_at"]) for e in spied(channel)]
        assert all(INTERVAL - 1.5 <= b - a <= INTERVAL + 2.5 for a, b in itertools.pairwise(times)), times
    moh = {e["Channel"]: e.get("Class") for e in events if e.get("Event") == "MusicOnHoldStart"}
    for channel in joined:
        assert moh.get(channel) == hold_music_class("ar"), moh
    for number in ("96551300001", "96551300002"):  # the whisper left no call of its own in the records
        assert len(await rig.records_of(number)) == 1


async def test_an_english_caller_hears_english_over_the_generated_music(rig: Rig) -> None:
    async with ami_events(rig, ["QueueCallerJoin", "MusicOnHoldStart", "ChanSpyStart"]) as events:
        result = await call(rig, "96551300003", ["2", GENERAL], max_duration=2 * INTERVAL + 6)
        assert result.answered, result.error
    (joined,) = _joined(events, "en-general")
    starts = [e for e in events if e.get("Event") == "ChanSpyStart" and e.get("SpyeeChannel") == joined["Channel"]]
    assert starts and all(e["SpyerChannel"].startswith("Local/place_en_1_3_") for e in starts)
    moh = [e.get("Class") for e in events if e.get("Event") == "MusicOnHoldStart" and e["Channel"] == joined["Channel"]]
    assert moh and set(moh) == {"hotline"}


async def test_the_centre_wide_seats_hold_under_a_burst_across_two_queues(rig: Rig, phones) -> None:
    people = ("agent-ar-1", "agent-ar-2", "agent-ar-3")  # all three take general; the first two take virus
    started = []
    for person in people:  # logged in one after the other: the first two hold the centre's two seats
        phone = await phones(person, login=False, talk_seconds=4.0)
        await log_in(rig, phone)
        started.append(phone)
        await rig.wait_for(lambda p=person: _member(rig, "ar-general", p), timeout=10, what=f"{person} logged in")

    async def settled() -> bool:
        members = await rig.members("ar-general")
        return [n for n in people if members[n]["Paused"] == "0"] == list(people[:CENTRE_SEATS])

    await rig.wait_for(settled, timeout=10, what="the centre's seats applied")
    members = await rig.members("ar-general")
    assert members[people[2]]["PausedReason"] == "no-seat"

    callers = [f"9655140000{i}" for i in range(6)]
    async with ami_events(rig, ["AgentConnect", "AgentComplete", "AgentCalled"]) as events:
        burst = [
            call(rig, number, [ARABIC, GENERAL if i % 2 == 0 else VIRUS], max_duration=45)
            for i, number in enumerate(callers)
        ]
        results = await asyncio.gather(*burst)
        await rig.wait_for(
            lambda: (
                sum(e["Event"] == "AgentComplete" for e in events) >= sum(e["Event"] == "AgentConnect" for e in events)
            ),
            timeout=15,
            what="every connected call to end",
        )
    assert all(r.answered for r in results), [r.error for r in results]
    talking: set[str] = set()
    most = 0
    for event in events:
        key = event.get("Uniqueid", "")
        if event["Event"] == "AgentConnect":
            talking.add(key)
            most = max(most, len(talking))
        elif event["Event"] == "AgentComplete":
            talking.discard(key)
    connected = [e for e in events if e["Event"] == "AgentConnect"]
    assert len(connected) >= 4, "the burst should keep both seats busy"
    assert most <= CENTRE_SEATS, f"{most} people talked at once with {CENTRE_SEATS} centre seats"
    assert most == CENTRE_SEATS  # and the seats were used
    assert {e["MemberName"] for e in connected} == set(people[:CENTRE_SEATS])
    assert not [e for e in events if e["Event"] == "AgentCalled" and e.get("MemberName") == people[2]]
    queues = {e["Queue"] for e in connected}
    assert queues == {"ar-general", "ar-virus"}, queues
    # the records say the same: only the two seat holders answered
    answered = [r.agent for number in callers for r in await rig.records_of(number) if r.agent]
    assert set(answered) <= set(people[:CENTRE_SEATS]) and len(answered) == len(connected)

    # A supervisor changes the centre's seats live (REST, audited): Asterisk's pauses follow at once.
    status, body = api(rig, "PUT", "/centre/seats", {"seats": 3})
    assert status == 200 and (body["seats_now"], body["seats_override"]) == (3, 3), body
    await rig.wait_for(lambda: _unpaused(rig, "ar-general", people, list(people)), timeout=10, what="3 seats")
    for bad in ({"seats": -1}, {"seats": "1"}, {}):
        status, body = api(rig, "PUT", "/centre/seats", bad)
        assert status == 400 and "seats must be a whole number" in body["error"], body
    status, body = api(rig, "PUT", "/centre/seats", {"seats": 1})
    assert status == 200 and body["seats_now"] == 1
    await rig.wait_for(lambda: _unpaused(rig, "ar-general", people, [people[0]]), timeout=10, what="1 seat")
    status, body = api(rig, "GET", "/centre/seats")
    assert status == 200 and body["taking_calls"] == [people[0]] and body["seats_now"] == 1


async def _member(rig: Rig, queue: str, person: str) -> bool:
    return person in await rig.members(queue)


async def _unpaused(rig: Rig, queue: str, people: tuple[str, ...], expected: list[str]) -> bool:
    members = await rig.members(queue)
    return [p for p in people if p in members and members[p]["Paused"] == "0"] == expected


def api(rig: Rig, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The service's REST API with the admin token it wrote for local tools."""
    from hotline.settings import Settings

    token = (Settings.from_env(rig.env).service_dir / "service-token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{rig.http_port}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
