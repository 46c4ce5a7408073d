"""Wrap-up codes chosen for a person's calls (``cdr.wrapup.Wrapups``, fed typed events after the record
builder) and keyed on a phone (``*5<code>`` reaches the FastAGI route ``agent`` as ``wrapup<code>``), with a
real record store (SQLite) and our FastAGI server driven by a fake Asterisk."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from cdr.builder import RecordBuilder
from cdr.db import RecordStore
from cdr.wrapup import AgentCall, WrapupError, Wrapups
from profiles.model import load_profile
from routing.agi import AgentFeatureHandler
from storage.engine import upgrade
from telephony.agi import AGIServer
from telephony.events import AgentComplete, AgentConnect, Hangup, HotlineRoute, Newchannel

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "municipal-940.yaml")
SOUNDS = "/hotline/t/sounds"
SECRET = "wrapup-test-secret-0123456789abcdef"
AGENT = "agent-940-2"


def call_events(linkedid: str, number: str, topic: str, agent: str = AGENT, t: float = 1_770_000_000.0) -> list:
    return [
        Newchannel(t, "PJSIP/trunk-00000001", linkedid, linkedid, number, "", "hotline-inbound", PROFILE.number),
        HotlineRoute(t + 5, linkedid, linkedid, "ar", topic, "", f"ar-{topic}", "OK"),
        AgentConnect(
            t + 9, f"ar-{topic}", linkedid, linkedid, f"PJSIP/{agent}-00000002", "2.2", agent, f"PJSIP/{agent}", 4, 1
        ),
    ]


def end_events(linkedid: str, topic: str, agent: str = AGENT, t: float = 1_770_000_030.0) -> list:
    return [
        AgentComplete(t, f"ar-{topic}", linkedid, linkedid, agent, f"PJSIP/{agent}", 4, 20, "caller"),
        Hangup(t + 0.1, "PJSIP/trunk-00000001", linkedid, linkedid, 16, "Normal Clearing"),
    ]


class Rig:
    def __init__(self, store: RecordStore) -> None:
        self.builder = RecordBuilder(PROFILE.number, "hotline-inbound")
        self.store = store
        self.wrapups = Wrapups(PROFILE, store, self.builder.in_progress)
        self.told: list[AgentCall] = []
        self.wrapups.add_listener(self.told.append)

    async def feed(self, events: list) -> None:
        for event in events:
            for record in self.builder.feed(event):
                await self.store.add(record)
            self.wrapups.on_event(event)


@pytest.fixture
async def rig(sqlite_url):
    upgrade(sqlite_url)
    store = RecordStore(sqlite_url)
    yield Rig(store)
    await store.close()


async def test_a_connected_call_is_the_persons_with_what_the_ivr_knew(rig):
    await rig.feed(call_events("10.1", "0501234567", "cleanliness"))
    call = rig.wrapups.last_call(AGENT)
    assert call is not None and call.in_progress
    assert (call.linkedid, call.caller_number, call.language, call.topic, call.routed) == (
        "10.1", "0501234567", "ar", "cleanliness", True)  # fmt: skip
    assert rig.told == [call]
    assert rig.wrapups.last_call("agent-940-1") is None
    await rig.feed(end_events("10.1", "cleanliness"))
    assert not rig.wrapups.last_call(AGENT).in_progress and len(rig.told) == 2


async def test_a_code_chosen_during_the_call_lands_on_its_record(rig):
    await rig.feed(call_events("11.1", "0501234567", "cleanliness"))
    chosen = await rig.wrapups.choose(AGENT, "11.1", "container_request")  # before the record exists
    assert chosen.code == "3" and rig.store.pending_wrapup("11.1") == "container_request"
    assert rig.wrapups.last_call(AGENT).wrapup_code == "container_request"
    await rig.feed(end_events("11.1", "cleanliness"))
    assert (await rig.store.get("11.1")).wrapup_code == "container_request"


async def test_bad_choices_are_refused_and_change_nothing(rig):
    await rig.feed(call_events("12.1", "0501234567", "parks"))
    await rig.feed(end_events("12.1", "parks"))
    with pytest.raises(WrapupError, match="not a wrap-up code of the topic parks"):
        await rig.wrapups.choose(AGENT, "12.1", "container_request")  # cleanliness's, not parks'
    with pytest.raises(WrapupError, match="code '9'"):
        await rig.wrapups.choose_by_code(AGENT, "9")
    with pytest.raises(WrapupError, match="not one of agent-940-1's calls"):
        await rig.wrapups.choose("agent-940-1", "12.1", "info_given")
    with pytest.raises(WrapupError, match="no call to wrap up"):
        await rig.wrapups.choose_by_code("agent-940-3", "1")
    assert (await rig.store.get("12.1")).wrapup_code is None
    # a call this service no longer remembers (a restart) is found in the records
    other = Wrapups(PROFILE, rig.store, lambda _: None)
    assert (await other.choose(AGENT, "12.1", "info_given")).id == "info_given"
    assert (await rig.store.get("12.1")).wrapup_code == "info_given"


# -- the phone: *5<code> -----------------------------------------------------------------------------------


class NoDesk:
    async def login(self, person_id: str) -> None: ...
    async def logout(self, person_id: str) -> None: ...
    async def pause(self, person_id: str, reason: str = "break") -> None: ...
    async def unpause(self, person_id: str) -> None: ...


@pytest.fixture
async def agi(rig):
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("agent", AgentFeatureHandler(PROFILE, NoDesk(), SOUNDS, rig.wrapups))
    await server.start()
    yield server
    await server.close()


async def dial(server, channel: str, args: list[str]) -> list[list[str]]:
    env = build_environment(f"{SECRET}/agent", port=server.port, channel=channel, args=args)
    fake = await FakeAsterisk(port=server.port, env=env, replies=["200 result=0"]).run(timeout=5.0)
    assert fake.closed_by_server
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


async def test_a_code_keyed_on_the_phone_wraps_up_the_last_call(rig, agi):
    await rig.feed(call_events("13.1", "0501234567", "cleanliness"))
    await rig.feed(end_events("13.1", "cleanliness"))
    await rig.feed(call_events("13.2", "0507654321", "lighting_signs", t=1_770_000_100.0))
    await rig.feed(end_events("13.2", "lighting_signs", t=1_770_000_130.0))
    commands = await dial(agi, f"PJSIP/{AGENT}-0000000a", ["wrapup3", AGENT])
    assert commands == [["EXEC", "MSet", "HOTLINE_AGENT_PROMPT=beep,HOTLINE_RESULT=OK"]]
    assert (await rig.store.get("13.2")).wrapup_code == "duplicate"  # lighting_signs' code 3
    assert (await rig.store.get("13.1")).wrapup_code is None


@pytest.mark.parametrize(
    ("channel", "args"),
    [
        pytest.param(f"PJSIP/{AGENT}-0000000a", ["wrapup7", AGENT], id="not a code of the call's topic"),
        pytest.param(f"PJSIP/{AGENT}-0000000a", ["wrapup123", AGENT], id="three digits"),
        pytest.param(f"PJSIP/{AGENT}-0000000a", ["wrapup", AGENT], id="no code"),
        pytest.param(f"PJSIP/{AGENT}-0000000a", ["wrapup1x", AGENT], id="not digits"),
        pytest.param(f"PJSIP/{AGENT}-0000000a", ["wrapup1", "agent-940-1"], id="endpoint of another person"),
        pytest.param("PJSIP/agent-940-3-0000000b", ["wrapup1", "agent-940-3"], id="a person with no call"),
    ],
)
async def test_a_refused_code_sets_no_result_so_the_agent_hears_it_failed(rig, agi, channel, args):
    await rig.feed(call_events("14.1", "0501234567", "cleanliness"))
    await rig.feed(end_events("14.1", "cleanliness"))
    assert await dial(agi, channel, args) == []  # no HOTLINE_RESULT: the dialplan plays agent-failed
    assert (await rig.store.get("14.1")).wrapup_code is None


async def test_without_wrapups_the_code_is_refused(rig):
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("agent", AgentFeatureHandler(PROFILE, NoDesk(), SOUNDS))
    await server.start()
    try:
        assert await dial(server, f"PJSIP/{AGENT}-0000000a", ["wrapup1", AGENT]) == []
    finally:
        await server.close()


async def test_a_call_whose_agentcomplete_never_came_ends_with_the_callers_hangup(rig):
    await rig.feed(call_events("15.1", "0501234567", "parks"))
    await rig.feed(end_events("15.1", "parks")[1:])  # the Hangup only
    assert not rig.wrapups.last_call(AGENT).in_progress
    assert rig.wrapups._talking == {}
