"""The callback menu over our FastAGI server, against a fake Asterisk, with the real callback service
and store on SQLite: what the caller hears, and what is stored, for good and bad numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from callbacks.agi import CallbackOfferHandler
from callbacks.db import CallbackStore
from callbacks.model import Origin, RequestStatus
from callbacks.service import CallbackService
from profiles.model import load_profile
from storage.engine import upgrade
from telephony.agi import AGIServer
from telephony.clock import utc

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
SOUNDS = "/hotline/t/sounds"
ROUTE = ["ar", "general", "", "ar-general", "1700000000.5", "1700000000.1"]
SECRET = "callback-test-secret-0123456789ab"  # as the dialplan passes it: agi://host:port/<secret>/callback


@pytest.fixture
async def menu(tmp_path):
    url = f"sqlite:///{tmp_path / 'cb.db'}"
    upgrade(url)
    store = CallbackStore(url)
    service = CallbackService(PROFILE, ami=None, store=store, desk=None, sounds_host_dir=None, instance="test")
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("callback", CallbackOfferHandler(PROFILE, service, SOUNDS))
    await server.start()
    yield server, store
    await server.close()
    await store.close()


async def run(server, callerid: str, replies: list[str], route: list[str] = ROUTE) -> list[list[str]]:
    env = build_environment(f"{SECRET}/callback", port=server.port, callerid=callerid, args=route)
    fake = FakeAsterisk(port=server.port, env=env, replies=replies)
    await fake.run(timeout=5.0)
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


def played(commands: list[list[str]]) -> list[str]:
    return [c[2].rsplit("/", 2)[-2] + "/" + c[2].rsplit("/", 1)[-1] for c in commands if c[0] in ("STREAM", "GET")]


async def test_a_caller_id_read_back_and_confirmed_books_a_request_that_keeps_the_place(menu):
    server, store = menu
    number = "55123456"
    commands = await run(server, number, ["200 result=0 endpos=800"] * len(number) + ["200 result=1", "200 result=0"])

    assert played(commands) == [f"ar/digit-{d}" for d in number] + ["ar/callback-confirm"]
    assert commands[-1][:2] == ["EXEC", "MSet"] and commands[-1][2].endswith("HOTLINE_RESULT=OK")
    (request,) = await store.open_requests()
    assert (request.number, request.queue, request.language, request.origin) == (
        number,
        "ar-general",
        "ar",
        Origin.OFFER,
    )
    assert request.place_at == utc(1700000000.5) and request.original_linkedid == "1700000000.1"
    assert request.status is RequestStatus.OPEN


async def test_a_spoofed_premium_caller_id_is_not_read_back_and_a_premium_number_keyed_in_is_refused(menu):
    server, store = menu
    commands = await run(server, "0900555123", ["200 result=0900555123", "200 result=0 endpos=1000"])

    assert played(commands) == ["ar/callback-enter", "ar/callback-refused"]
    assert not any(c[0] == "EXEC" for c in commands)  # no result: the dialplan puts the caller back in line
    assert await store.open_requests() == []
    assert await store.refusals() == [("0900555123", "not_allowed", "1700000000.1")]


async def test_an_international_number_keyed_in_is_refused_with_a_record(menu):
    server, store = menu
    number = "96599887766"
    commands = await run(server, number, ["200 result=0 endpos=1"] * len(number) + ["200 result=2",
                                          "200 result=00441234567890", "200 result=0 endpos=1"])  # fmt: skip

    assert played(commands)[-2:] == ["ar/callback-enter", "ar/callback-refused"]
    assert await store.refusals() == [("00441234567890", "not_allowed", "1700000000.1")]


async def test_a_number_over_its_daily_limit_is_refused(menu):
    server, store = menu
    number = "66123456"
    for _ in range(PROFILE.callbacks.max_requests_per_number_per_day):
        await run(server, number, ["200 result=0 endpos=1"] * len(number) + ["200 result=1", "200 result=0"])
        for request in await store.open_requests():
            await store.cancel(request.id)
    commands = await run(server, number, ["200 result=0 endpos=1"] * len(number) + ["200 result=1",
                                          "200 result=0 endpos=1"])  # fmt: skip

    assert played(commands)[-1] == "ar/callback-refused"
    assert (await store.refusals())[-1][1] == "rate_limited"


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(["ar", "general", "", "premium-line", "1", "x.1"], id="unknown queue"),
        pytest.param(["ar", "general", "", "", "1", "x.1"], id="no queue"),
        pytest.param(["ar", "lottery", "", "ar-general", "1", "x.1"], id="unknown topic"),
        pytest.param(["ar", "medical", "astrology", "ar-medical-paediatrics", "1", "x.1"], id="unknown specialty"),
        pytest.param(["ar", "general", "paediatrics", "ar-general", "1", "x.1"], id="specialty of another topic"),
        pytest.param(["xx", "general", "", "ar-general", "1", "x.1"], id="unknown language"),
    ],
)
async def test_a_route_that_is_not_the_profiles_is_refused_and_does_not_block_the_real_one(menu, forged):
    server, store = menu
    number = "55123456"
    confirm = ["200 result=0 endpos=1"] * len(number) + ["200 result=1", "200 result=0"]

    assert await run(server, number, confirm, route=forged) == []  # nothing asked, nothing played
    assert await store.open_requests() == []

    commands = await run(server, number, confirm)
    assert commands[-1][:2] == ["EXEC", "MSet"] and commands[-1][2].endswith("HOTLINE_RESULT=OK")
    (request,) = await store.open_requests()
    assert (request.number, request.queue, request.topic, request.language) == (number, "ar-general", "general", "ar")
    assert request.place_at == utc(1700000000.5)


async def test_a_caller_in_the_overflow_or_default_queue_can_book(menu):
    server, store = menu
    number = "55123457"
    route = ["en", "medical", "paediatrics", "en-general", "1700000000.5", "1700000000.2"]
    await run(server, number, ["200 result=0 endpos=1"] * len(number) + ["200 result=1", "200 result=0"], route=route)
    (request,) = await store.open_requests()
    assert (request.queue, request.specialty) == ("en-general", "paediatrics")


async def test_a_connection_without_the_secret_books_nothing(menu):
    server, store = menu
    env = build_environment("callback", port=server.port, callerid="55123456", args=ROUTE)
    replies = ["200 result=0 endpos=1"] * 8 + ["200 result=1", "200 result=0"]
    fake = FakeAsterisk(port=server.port, env=env, replies=replies)
    await fake.run(timeout=5.0)
    assert fake.closed_by_server and fake.received == []
    assert await store.open_requests() == []
