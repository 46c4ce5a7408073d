"""The IVR handler over our FastAGI server, against a fake Asterisk on a real socket.

What the dialplan relies on: one GET DATA per menu attempt, then one MSet whose last variable is
the result; and no result at all when anything goes wrong, so the caller goes to the default queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.fake_asterisk import USAGE_520, FakeAsterisk, asterisk_parse_args, build_environment

from ivr.handler import IvrHandler
from profiles.model import load_profile
from telephony.agi import AGIServer

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
SOUNDS = "/hotline/test/sounds"
SECRET = "ivr-test-secret-0123456789abcdef"  # as the dialplan passes it: agi://host:port/<secret>/ivr
OPEN = datetime(2021, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
async def server():
    agi = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    agi.add_route("ivr", IvrHandler(PROFILE, SOUNDS, clock=lambda: OPEN))
    await agi.start()
    yield agi
    await agi.close()


async def call(server, replies, script=f"{SECRET}/ivr", **env):
    fake = FakeAsterisk(port=server.port, env=build_environment(script, port=server.port, **env), replies=replies)
    await fake.run(timeout=5.0)
    assert fake.closed_by_server
    return [[arg.decode() for arg in asterisk_parse_args(line.encode())] for line in fake.received]


async def test_arabic_medical_paediatrics_costs_three_get_data_and_one_mset(server):
    commands = await call(server, ["200 result=1", "200 result=2", "200 result=1", "200 result=0"])

    assert commands == [
        ["GET", "DATA", f"{SOUNDS}/all/language", "5000", "1"],
        ["GET", "DATA", f"{SOUNDS}/ar/topics", "5000", "1"],
        ["GET", "DATA", f"{SOUNDS}/ar/specialties-medical", "5000", "1"],
        [
            "EXEC",
            "MSet",
            "HOTLINE_LANGUAGE=ar,HOTLINE_TOPIC=medical,HOTLINE_SPECIALTY=paediatrics,"
            "HOTLINE_QUEUE=ar-medical-paediatrics,HOTLINE_OVERFLOW_QUEUE=ar-general,HOTLINE_PRIORITY=0,"
            "HOTLINE_RESULT=OK",
        ],
    ]


async def test_no_input_replays_with_the_retry_prompt_then_sets_the_default_queue(server):
    timeout = "200 result= (timeout)"
    commands = await call(server, [timeout, timeout, timeout, "200 result=0"])

    assert [c[2] for c in commands[:3]] == [
        f"{SOUNDS}/all/language",
        f"{SOUNDS}/all/language-retry",
        f"{SOUNDS}/all/language-retry",
    ]
    assert commands[3][:2] == ["EXEC", "MSet"]
    assert "HOTLINE_QUEUE=ar-general" in commands[3][2] and commands[3][2].endswith("HOTLINE_RESULT=OK")


async def test_caller_hanging_up_in_the_menu_sets_no_result(server):
    commands = await call(server, ["200 result=2", "HANGUP\n200 result=-1"])

    assert len(commands) == 2
    assert all(c[0] == "GET" for c in commands)


async def test_an_error_in_the_middle_of_the_menu_sets_no_result(server):
    commands = await call(server, ["200 result=1", USAGE_520])

    assert len(commands) == 2 and not any(c[0] == "EXEC" for c in commands)


async def test_outside_opening_hours_the_result_is_closed():
    from dataclasses import replace
    from datetime import time

    from profiles.model import OpeningHours

    office = replace(PROFILE, hours=(OpeningHours(("mon",), time(8), time(9)),))
    agi = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    agi.add_route("ivr", IvrHandler(office, SOUNDS, clock=lambda: OPEN))
    await agi.start()
    try:
        commands = await call(agi, ["200 result=0"])
    finally:
        await agi.close()
    # No topic open and no way to say the next opening: the closed prompt in every language, from the dialplan.
    assert commands == [["EXEC", "MSet", f"HOTLINE_PROMPT={SOUNDS}/all/closed,HOTLINE_RESULT=CLOSED"]]


async def test_a_connection_without_the_secret_plays_nothing_and_sets_no_result(server):
    """A forged IVR connection is closed before the menu: nothing played, no route set (for a real
    call that reached us without the secret, the dialplan's fallback sends the caller to the default
    queue)."""
    for script in ("ivr", f"{'0' * len(SECRET)}/ivr"):
        assert await call(server, ["200 result=1", "200 result=0"], script=script) == []
    assert len(await call(server, ["200 result= (timeout)"] * 3 + ["200 result=0"])) == 4
