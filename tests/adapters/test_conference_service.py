"""The conference operation (routing/conference.py) against a fake AMI on a real socket, with the real AMI client
and the real FastAGI server: what it sends when an agent adds a destination to their own call, and that every
hostile request (an unknown or crafted destination, a queue's or a person's code, another agent's call, a crafted
call id, a phone that is not an agent's) is refused with a clear error before anything is sent.

The end-to-end proof against a real Asterisk and SIPp is tests/e2e/test_conference.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from support.eventually import eventually
from support.fake_ami import FakeAction, FakeAMIConnection, FakeAMIServer
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from profiles.model import parse_profile
from routing.conference import (
    ConferenceError,
    ConferenceKeyHandler,
    Conferences,
    NotYourCall,
    UnknownDestination,
)
from telephony.agi import AGIServer
from telephony.ami.client import AMIClient

PROFILE_FILE = Path(__file__).parents[2] / "profiles" / "moh-151.yaml"
SECRET = "conference-test-secret-0123456789abcdef"
SOUNDS = "/hotline/t/sounds"
CALL = "1764680000.41"
CALLER = "PJSIP/trunk-00000010"
AGENT = "PJSIP/agent-ar-1-00000011"
BRIDGE = "6f1d2c3b-0000-4000-8000-000000000001"


def _profile():
    data = yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8"))
    data["destinations"] = [
        {"id": "technical-affairs", "code": "71", "label": {"ar": "الشؤون الفنية", "en": "technical affairs"},
         "sip": "sip:affairs@127.0.0.1:5099"},
        {"id": "emergency-control-room", "code": "99", "label": {"ar": "غرفة الطوارئ", "en": "control room"},
         "number": "112"},
    ]  # fmt: skip
    return parse_profile(data)


PROFILE = _profile()


def channel(name: str, uniqueid: str, linkedid: str = CALL, bridge: str = BRIDGE, app: str = "AppQueue") -> dict:
    return {"Channel": name, "Uniqueid": uniqueid, "Linkedid": linkedid, "BridgeId": bridge, "Application": app}


THE_CALL = [channel(CALLER, CALL), channel(AGENT, "1764680001.42")]
ANOTHER_CALL = [
    channel("PJSIP/trunk-00000020", "1764680100.50", "1764680100.50", "b2"),
    channel("PJSIP/agent-ar-2-00000021", "1764680101.51", "1764680100.50", "b2"),
]


class Asterisk:
    """The fake AMI's answers: the channels of CoreShowChannels and the members of ConfbridgeList."""

    def __init__(self, server: FakeAMIServer) -> None:
        self.server = server
        self.channels: list[dict] = THE_CALL + ANOTHER_CALL
        self.members: list[str] = []
        server.on_action("CoreShowChannels", self._channels)
        server.on_action("ConfbridgeList", self._members)

    async def _list(self, conn: FakeAMIConnection, action: FakeAction, event: str, rows: list[dict]) -> None:
        aid = action.action_id or ""
        await conn.send({"Response": "Success", "ActionID": aid, "EventList": "start", "Message": "follows"})
        for row in rows:
            await conn.send({"Event": event, "ActionID": aid, **row})
        await conn.send({"Event": f"{event}Complete", "ActionID": aid, "EventList": "Complete",
                         "ListItems": str(len(rows))})  # fmt: skip

    async def _channels(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        await self._list(conn, action, "CoreShowChannel", self.channels)

    async def _members(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        if not self.members:
            await conn.respond(action, "Error", Message="No active conferences.")
            return
        await self._list(conn, action, "ConfbridgeList", [{"Channel": m} for m in self.members])

    async def event(self, **headers: str) -> None:
        for conn in self.server.logged_in_connections:
            await conn.send(headers)

    def changes(self) -> list[str]:
        """The actions that change a call (nothing of a refused request may be among them)."""
        return [a.name for a in self.server.actions if a.name in ("redirect", "originate", "hangup", "userevent")]


@pytest.fixture
async def asterisk():
    server = FakeAMIServer()
    await server.start()
    client = AMIClient("127.0.0.1", server.port, server.username, server.secret)
    conferences = Conferences(PROFILE, client)
    client.add_event_handler(conferences.on_message, events=["ConfbridgeJoin", "ConfbridgeLeave", "OriginateResponse"])
    await client.start()
    await client.wait_connected(5)
    try:
        yield Asterisk(server), conferences
    finally:
        await conferences.close()
        await client.close()
        await server.close()


async def test_the_agent_adds_a_destination_the_caller_and_the_agent_move_into_the_conference_of_the_call(asterisk):
    fake, conferences = asterisk
    plan = await conferences.add("agent-ar-1", CALL, "emergency-control-room", via="desk")
    assert plan.conference == f"hotline-{CALL}" and (plan.caller_channel, plan.agent_channel) == (CALLER, AGENT)
    (redirect,) = fake.server.received("Redirect")
    assert (redirect.get("Channel"), redirect.get("Context"), redirect.get("Exten"), redirect.get("Priority")) == (
        CALLER, "hotline-conference", "caller", "1")  # fmt: skip
    assert (redirect.get("ExtraChannel"), redirect.get("ExtraContext"), redirect.get("ExtraExten")) == (
        AGENT, "hotline-conference", "agent")  # fmt: skip
    (originate,) = fake.server.received("Originate")
    assert originate.get("Channel") == "Local/emergency-control-room@hotline-destinations/n"
    assert originate.get("Application") == "ConfBridge"
    assert originate.get("Data") == f"hotline-{CALL},hotline-bridge,hotline-destination,hotline-menu"
    assert set(originate.getall("Variable")) == {f"__HOTLINE_LINKEDID={CALL}",
                                                 "__HOTLINE_DESTINATION=emergency-control-room"}  # fmt: skip
    (fact,) = fake.server.received("UserEvent")
    assert (fact.get("UserEvent"), fact.get("Call"), fact.get("State")) == ("HotlineConference", CALL, "adding")
    assert (fact.get("Destination"), fact.get("Agent"), fact.get("Via")) == (
        "emergency-control-room", "agent-ar-1", "desk")  # fmt: skip


async def test_a_call_that_is_already_a_conference_only_gets_the_next_destination(asterisk):
    fake, conferences = asterisk
    fake.channels = [channel(CALLER, CALL, app="ConfBridge", bridge="c1"),
                     channel(AGENT, "1764680001.42", app="ConfBridge", bridge="c1")]  # fmt: skip
    await conferences.add("agent-ar-1", CALL, "technical-affairs")
    assert fake.server.count("Redirect") == 0
    assert fake.server.received("Originate")[0].get("Channel") == "Local/technical-affairs@hotline-destinations/n"


@pytest.mark.parametrize(
    "destination",
    [
        "nowhere",
        "emergency-control-room,PJSIP/0090123@trunk",
        "emergency-control-room\r\nAction: Originate",
        "${EXTEN}",
        "../technical-affairs",
        "99",  # a code is not an id
        "ar:virus",  # a queue of the directory is not a destination
        "agent-ar-2",  # nor is a person
        "",
    ],
)
async def test_only_a_destination_of_the_profile_can_be_added_and_nothing_is_sent_otherwise(asterisk, destination):
    fake, conferences = asterisk
    with pytest.raises(UnknownDestination, match="is not a destination of this hotline"):
        await conferences.add("agent-ar-1", CALL, destination)
    assert fake.changes() == [] and fake.server.count("CoreShowChannels") == 0


async def test_another_agents_call_is_refused(asterisk):
    fake, conferences = asterisk
    with pytest.raises(NotYourCall, match="is not connected to agent-ar-1's phone") as refused:
        await conferences.add("agent-ar-1", "1764680100.50", "emergency-control-room")
    assert refused.value.status == 403
    with pytest.raises(NotYourCall):  # agent-ar-2 is not on agent-ar-1's call either
        await conferences.add("agent-ar-2", CALL, "emergency-control-room")
    assert fake.changes() == []


@pytest.mark.parametrize(
    ("person", "linkedid"),
    [
        pytest.param("agent-ar-1", f"{CALL},Local/x@y", id="a comma"),
        pytest.param("agent-ar-1", f"{CALL}\r\nAction: Originate", id="a new line"),
        pytest.param("agent-ar-1", "", id="empty"),
        pytest.param("agent-ar-1", "x" * 65, id="too long"),
        pytest.param("agent-ar-1", "1764680999.1", id="a call that is not there"),
        pytest.param("nobody", CALL, id="not a person of the profile"),
        pytest.param("trunk", CALL, id="the trunk"),
    ],
)
async def test_a_crafted_call_or_person_is_refused(asterisk, person, linkedid):
    fake, conferences = asterisk
    with pytest.raises(NotYourCall):
        await conferences.add(person, linkedid, "emergency-control-room")
    assert fake.changes() == []


async def test_a_channel_that_only_looks_like_the_agents_is_not_theirs(asterisk):
    fake, conferences = asterisk
    fake.channels = [channel(CALLER, CALL), channel("PJSIP/agent-ar-1-evil", "1764680001.42"),
                     channel("PJSIP/agent-ar-10-00000012", "1764680001.43")]  # fmt: skip
    with pytest.raises(NotYourCall):
        await conferences.add("agent-ar-1", CALL, "emergency-control-room")
    assert fake.changes() == []


async def test_an_agent_still_ringing_or_a_caller_gone_cannot_make_a_conference(asterisk):
    fake, conferences = asterisk
    fake.channels = [channel(CALLER, CALL), channel(AGENT, "1764680001.42", bridge="")]
    with pytest.raises(ConferenceError, match="is not talking to the caller"):
        await conferences.add("agent-ar-1", CALL, "emergency-control-room")
    fake.channels = [channel(AGENT, "1764680001.42")]
    with pytest.raises(ConferenceError, match=r"the caller of call .* has left"):
        await conferences.add("agent-ar-1", CALL, "emergency-control-room")
    assert fake.changes() == []


@pytest.mark.parametrize(("code", "found"), [("99", "emergency-control-room"), ("71", "technical-affairs")])
def test_a_destinations_code_names_it(code, found):
    assert Conferences(PROFILE, None).destination_by_code(code).id == found  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["111", "201", "9", "999", "99#", "*99", "", "0090123", "99\n"])
def test_a_queues_or_persons_code_or_a_crafted_one_is_refused(code):
    with pytest.raises(UnknownDestination, match="is not the code of a destination"):
        Conferences(PROFILE, None).destination_by_code(code)  # type: ignore[arg-type]


async def test_the_one_party_left_is_hung_up_and_not_while_a_destination_is_on_its_way(asterisk):
    fake, _ = asterisk
    conference = f"hotline-{CALL}"
    # the agent left; the caller and the destination stay: nothing is done
    fake.members = [CALLER, "Local/emergency-control-room@hotline-destinations-00000003;1"]
    await fake.event(Event="ConfbridgeLeave", Conference=conference, Channel=AGENT, Uniqueid="1764680001.42")
    await eventually(lambda: _states(fake) == ["agent-left"], timeout=5, what="agent-left")
    await eventually(lambda: fake.server.count("ConfbridgeList") == 1, timeout=5, what="the members asked")
    assert fake.server.count("Hangup") == 0
    # the destination left: the caller alone is hung up (the conference ends)
    fake.members = [CALLER]
    await fake.event(Event="ConfbridgeLeave", Conference=conference,
                     Channel="Local/emergency-control-room@hotline-destinations-00000003;1")  # fmt: skip
    await fake.server.wait_until(lambda: fake.server.count("Hangup") == 1)
    assert fake.server.received("Hangup")[0].get("Channel") == CALLER
    await eventually(lambda: _states(fake) == ["agent-left", "left", "ended"], timeout=5, what="the facts")
    agent_left = next(a for a in fake.server.received("UserEvent") if a.get("State") == "agent-left")
    assert (agent_left.get("Call"), agent_left.get("Agent")) == (CALL, "agent-ar-1")
    # a conference that is not ours is none of our business
    await fake.event(Event="ConfbridgeLeave", Conference="other-room", Channel=CALLER)
    await asyncio.sleep(0.2)
    assert fake.server.count("ConfbridgeList") == 2


async def test_while_the_destination_is_dialled_a_lone_caller_is_kept_and_a_failure_ends_it(asterisk):
    fake, conferences = asterisk
    await conferences.add("agent-ar-1", CALL, "emergency-control-room")
    conference = f"hotline-{CALL}"
    fake.members = [CALLER]
    await fake.event(Event="ConfbridgeLeave", Conference=conference, Channel=AGENT, Uniqueid="1764680001.42")
    await asyncio.sleep(0.3)
    assert fake.server.count("Hangup") == 0  # the destination is on its way
    action_id = fake.server.received("Originate")[0].action_id
    await fake.event(Event="OriginateResponse", ActionID=action_id, Response="Failure", Reason="3",
                     Channel="Local/emergency-control-room@hotline-destinations/n", Uniqueid="<null>")  # fmt: skip
    await fake.server.wait_until(lambda: fake.server.count("Hangup") == 1)
    await eventually(lambda: {"failed", "ended"} <= set(_states(fake)), timeout=5, what="the failure's facts")
    # every fact names the destination (the records need one), the agent's leaving too
    facts = fake.server.received("UserEvent")
    assert {a.get("State") for a in facts} >= {"adding", "agent-left", "failed", "ended"}
    assert {a.get("Destination") for a in facts} == {"emergency-control-room"}


def _states(fake: Asterisk) -> list[str]:
    return [a.get("State") or "" for a in fake.server.received("UserEvent") if a.get("State") != "adding"]


# -- the phone's key: the FastAGI route "conference" -----------------------------------------------------------


@pytest.fixture
async def key(asterisk):
    fake, conferences = asterisk
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("conference", ConferenceKeyHandler(PROFILE, conferences, SOUNDS))
    await server.start()
    try:
        yield server, fake
    finally:
        await server.close()


async def press(server, channel_name: str, args: list[str], digits: str) -> list[list[str]]:
    env = build_environment(f"{SECRET}/conference", port=server.port, channel=channel_name, args=args)
    replies = [f"200 result={digits}", "200 result=0"]
    fake = await FakeAsterisk(port=server.port, env=env, replies=replies).run(timeout=5.0)
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


async def test_the_agent_keys_a_destinations_code_and_the_call_becomes_a_conference(key):
    server, fake = key
    commands = await press(server, AGENT, [CALL, "agent-ar-1"], "99")
    assert commands == [["GET", "DATA", f"{SOUNDS}/beep", "3000", "6"]]
    await fake.server.wait_until(lambda: fake.server.count("Originate") == 1)
    assert fake.server.received("Redirect")[0].get("ExtraChannel") == AGENT
    assert fake.server.received("UserEvent")[0].get("Via") == "phone"


@pytest.mark.parametrize(
    ("channel_name", "args", "digits"),
    [
        pytest.param(AGENT, [CALL, "agent-ar-1"], "111", id="a queue's code"),
        pytest.param(AGENT, [CALL, "agent-ar-1"], "202", id="a person's code"),
        pytest.param(AGENT, [CALL, "agent-ar-1"], "", id="no code"),
        pytest.param(AGENT, ["1764680100.50", "agent-ar-1"], "99", id="another agent's call"),
        pytest.param("PJSIP/agent-ar-2-00000021", [CALL, "agent-ar-2"], "99", id="not on that call"),
    ],
)
async def test_a_refused_code_is_heard_and_changes_nothing(key, channel_name, args, digits):
    server, fake = key
    commands = await press(server, channel_name, args, digits)
    assert commands[0][:2] == ["GET", "DATA"] and commands[1][:3] == ["STREAM", "FILE", f"{SOUNDS}/ar/agent-failed"]
    await asyncio.sleep(0.2)
    assert fake.changes() == []


@pytest.mark.parametrize(
    ("channel_name", "args"),
    [
        pytest.param(CALLER, [CALL, "trunk"], id="the caller's channel"),
        pytest.param(AGENT, [CALL, "agent-ar-2"], id="an endpoint that is not the channel's"),
        pytest.param("PJSIP/agent-ar-1-evil", [CALL, "agent-ar-1"], id="not a chan_pjsip name"),
        pytest.param(AGENT, [CALL], id="no endpoint"),
    ],
)
async def test_a_key_from_a_channel_that_is_not_an_agents_phone_is_not_even_asked(key, channel_name, args):
    server, fake = key
    assert await press(server, channel_name, args, "99") == []
    assert fake.changes() == [] and fake.server.count("CoreShowChannels") == 0
