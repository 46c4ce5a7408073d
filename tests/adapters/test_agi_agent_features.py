"""Feature codes from agent phones (*41-*44) over our FastAGI server, with the real agent desk
against a fake app_queue on a real AMI socket and a real database (SQLite).

Who is calling is taken from what Asterisk gives: the phone's PJSIP endpoint
(``${CHANNEL(endpoint)}``, the second AGI argument), which must agree with the channel name
(``PJSIP/<endpoint>-<8 hex digits>``) and be a person of the profile. Only Asterisk can ask at all:
the server checks its per-start secret first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.desk import Running
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from profiles.model import load_profile
from routing.agi import AgentFeatureHandler
from storage.engine import upgrade
from telephony.agi import AGIServer

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
SOUNDS = "/hotline/t/sounds"
SECRET = "agent-test-secret-0123456789abcdef"


@pytest.fixture
async def phones(sqlite_url):
    upgrade(sqlite_url)
    ami = FakeAMIServer()
    await ami.start()
    app_queue = FakeAppQueue(ami)
    try:
        async with Running(ami, sqlite_url) as desk:
            await ami.wait_until(lambda: desk.synced, 5)
            server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
            server.add_route("agent", AgentFeatureHandler(PROFILE, desk, SOUNDS))
            await server.start()
            try:
                yield server, desk, ami, app_queue
            finally:
                await server.close()
    finally:
        await ami.close()


async def dial(server, channel: str, args: list[str], script: str = f"{SECRET}/agent") -> list[list[str]]:
    env = build_environment(script, port=server.port, channel=channel, args=args)
    fake = await FakeAsterisk(port=server.port, env=env, replies=["200 result=0"]).run(timeout=5.0)
    assert fake.closed_by_server
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


async def test_a_phone_logs_its_own_person_in_and_hears_the_confirmation(phones):
    server, desk, ami, _ = phones
    commands = await dial(server, "PJSIP/agent-ar-1-0000000a", ["login", "agent-ar-1"])

    assert commands == [
        ["EXEC", "MSet", f"HOTLINE_AGENT_PROMPT={SOUNDS}/ar/agent-logged-in,HOTLINE_RESULT=OK"],
    ]
    assert desk.session("agent-ar-1").logged_in
    assert {a.get("MemberName") for a in ami.received("QueueAdd")} == {"agent-ar-1"}


@pytest.mark.parametrize(
    ("channel", "args"),
    [
        pytest.param("PJSIP/agent-ar-1-0000000a", ["login", "agent-ar-2"], id="endpoint of another person"),
        pytest.param("PJSIP/agent-ar-1-0000000a", ["login"], id="no endpoint"),
        pytest.param("PJSIP/agent-ar-1-0000000a", ["login", ""], id="empty endpoint"),
        pytest.param("PJSIP/agent-ar-1-evil", ["login", "agent-ar-1"], id="not a chan_pjsip channel name"),
        pytest.param("PJSIP/agent-ar-1", ["login", "agent-ar-1"], id="no channel number"),
        pytest.param("Local/agent-ar-1@x-0000000a;1", ["login", "agent-ar-1"], id="a Local channel"),
        pytest.param("PJSIP/trunk-0000000b", ["login", "trunk"], id="the trunk"),
        pytest.param("PJSIP/nobody-0000000c", ["login", "nobody"], id="not a person of the profile"),
        pytest.param("PJSIP/agent-ar-1-0000000a", ["dance", "agent-ar-1"], id="unknown action"),
    ],
)
async def test_a_request_whose_channel_and_endpoint_do_not_name_a_person_does_nothing(phones, channel, args):
    server, desk, ami, _ = phones
    assert await dial(server, channel, args) == []
    assert not desk.session("agent-ar-1").logged_in and not desk.session("agent-ar-2").logged_in
    assert ami.count("QueueAdd") == 0


async def test_a_forged_logout_without_the_secret_leaves_the_agent_logged_in(phones):
    """The attack of issue 10 item 5: a local process connects and claims an agent's channel."""
    server, desk, ami, _ = phones
    await dial(server, "PJSIP/agent-en-1-00000001", ["login", "agent-en-1"])
    assert desk.session("agent-en-1").logged_in

    for script in ("agent", f"{'a' * len(SECRET)}/agent"):
        assert await dial(server, "PJSIP/agent-en-1-00000002", ["logout", "agent-en-1"], script=script) == []
    assert desk.session("agent-en-1").logged_in
    assert ami.count("QueueRemove") == 0

    # the phone itself, through Asterisk, still can
    commands = await dial(server, "PJSIP/agent-en-1-00000003", ["logout", "agent-en-1"])
    assert commands[0][-1].endswith("HOTLINE_RESULT=OK") and not desk.session("agent-en-1").logged_in
