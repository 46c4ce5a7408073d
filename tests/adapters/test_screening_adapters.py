"""Screening against real databases and real sockets: the block list store (SQLite and PostgreSQL), the service's
view and detection fed by records, the REST API and the console page through the whole service as the root builds
it (sign-in, roles, CSRF, audit), and the IVR route's verdict against a fake Asterisk (FastAGI peer)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from support.app import ServiceApp, running_service
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from cdr.builder import CallRecord, Outcome
from cdr.db import RecordStore
from console.app import CONSOLE
from ivr.handler import IvrHandler
from profiles.model import parse_profile
from screening.db import ScreeningStore
from screening.model import ScreeningError
from screening.service import ScreeningService
from storage.engine import upgrade
from telephony.agi import AGIServer

ROOT = Path(__file__).parents[2]
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BOSS, VIEWER, PASSWORD = "boss", "viewer", "correct horse battery"


def nuisance_profile(**rules: Any):
    data = yaml.safe_load((ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["nuisance"] = {"max_short_calls": 5, "within_minutes": 2, "short_call_seconds": 10, "block_minutes": 60,
                        **rules}  # fmt: skip
    data["prompts"]["blocked"] = {"ar": "محظور", "en": "Blocked"}
    data["prompts"]["nuisance_warning"] = {"ar": "تنبيه", "en": "Warning"}
    return parse_profile(data, source="nuisance-151.yaml")


PROFILE = nuisance_profile()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def record(number: str | None, at: datetime, seconds: float = 3.0, outcome: Outcome = Outcome.ABANDONED_IVR):
    return CallRecord(
        linkedid=f"{at.timestamp()}.{number}",
        caller_number=number,
        caller_name=None,
        started_at=at,
        language=None,
        topic=None,
        specialty=None,
        queue=None,
        wait_seconds=None,
        outcome=outcome,
        agent=None,
        talk_seconds=None,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        ended_at=at + timedelta(seconds=seconds),
    )


@pytest.fixture
async def service(db_url: str) -> AsyncIterator[tuple[ScreeningService, Clock]]:
    upgrade(db_url)
    clock = Clock()
    store = ScreeningStore(db_url)
    screening = ScreeningService(PROFILE, store, clock=clock)
    await screening.start()
    yield screening, clock
    await store.db.close()


async def test_block_list_store_and_view_on_both_databases(service):
    screening, clock = service
    assert await screening.screen("0791234567") == "pass"
    block = await screening.block("079 123 4567", "abusive", "boss", T0 + timedelta(hours=1))
    assert (block.number, block.source, block.created_by) == ("0791234567", "manual", "boss")
    assert await screening.screen("0791234567") == "block"
    await screening.block("0790000000", "threats", "boss")
    assert [b.number for b in await screening.current()] == ["0790000000", "0791234567"]
    clock.now = T0 + timedelta(hours=1)  # the first block expires: no database needed to see it
    assert await screening.screen("0791234567") == "pass"
    assert [b.number for b in await screening.past()] == ["0791234567"]
    ended = await screening.unblock("0790000000", "other")
    assert [(b.number, b.removed_by) for b in ended] == [("0790000000", "other")]
    assert await screening.screen("0790000000") == "pass" and await screening.current() == []
    assert {b.number for b in await screening.past()} == {"0791234567", "0790000000"}


@pytest.mark.parametrize(
    ("number", "reason", "expiry", "words"),
    [
        ("07912a4567", "abusive", None, "number must be a phone number"),
        ("0791234567", "x" * 501, None, "at most 500 characters"),
        ("0791234567", "", None, "reason is required"),
        ("0791234567", "abusive", T0 - timedelta(minutes=1), "must be in the future"),
    ],
)
async def test_bad_input_changes_nothing(service, number, reason, expiry, words):
    screening, _ = service
    with pytest.raises(ScreeningError, match=words):
        await screening.block(number, reason, "boss", expiry)
    assert await screening.current() == [] and await screening.past() == []
    with pytest.raises(ScreeningError, match="is not blocked"):
        await screening.unblock("0791234567", "boss")


async def test_detection_from_records_warns_once_then_blocks_for_block_minutes(service, db_url):
    screening, clock = service
    for i in range(5):
        await screening.on_record(record("0791234567", T0 + timedelta(seconds=20 * i)))
    assert [n for n, _ in await screening.warnings()] == ["0791234567"]
    assert await screening.screen("0791234567") == "warn"
    assert await screening.screen("0791234567") == "pass"  # heard once
    # a restart keeps the warning (heard: a call was recorded after it): no warning again, the next detection blocks
    async with RecordStore(db_url) as records:
        await records.add(record("0791234567", clock.now + timedelta(seconds=1)))
    await screening.store.warn("0795555555", clock.now)  # warned, not heard before the restart
    again = ScreeningService(PROFILE, screening.store, clock=clock)
    await again.start()
    assert await again.screen("0791234567") == "pass" and await again.screen("0795555555") == "warn"
    for i in range(5):
        await again.on_record(record("0791234567", T0 + timedelta(seconds=120 + 10 * i)))
    [block] = await again.current()
    assert (block.source, block.created_by) == ("automatic", "detection")
    assert block.expires_at == T0 + timedelta(minutes=60)
    assert await again.screen("0791234567") == "block"
    # blocked calls do not count as short calls; withheld callers are never warned
    for i in range(10):
        await again.on_record(record("0791234567", T0 + timedelta(seconds=200 + i), outcome=Outcome.BLOCKED))
        await again.on_record(record("anonymous", T0 + timedelta(seconds=200 + i)))
    assert len(await again.current()) == 1 and len(await again.warnings()) == 2
    assert await again.screen(None) == "pass"


# -- the REST API and the page, through the whole service ------------------------------------------------------


@pytest.fixture
async def running(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[ServiceApp, dict[str, dict[str, str]]]]:
    async with running_service(tmp_path, profile=PROFILE, db_url=db_url) as running:
        store = running.app[CONSOLE].store
        auth = {}
        for name, role in ((BOSS, "supervisor"), (VIEWER, "viewer")):
            user = await store.add_user(name, PASSWORD, role)
            auth[role] = {"Authorization": f"Bearer {await store.add_token(user, 'tests')}"}
        yield running, auth


async def send(running: ServiceApp, method: str, path: str, who: dict[str, str], body: Any = None):
    response = await running.client.request(method, "/api/v1" + path, headers=who, json=body)
    return response.status, await response.json()


async def test_the_api_blocks_lists_and_unblocks_and_every_change_is_audited(running):
    running, auth = running
    boss, viewer = auth["supervisor"], auth["viewer"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    status, made = await send(running, "POST", "/screening/blocks", boss,
                              {"number": "0791234567", "reason": "abusive", "expires_at": later})  # fmt: skip
    assert status == 201, made
    assert made["number"] == "0791234567" and made["active"] and made["created_by"] == BOSS
    assert await running.service.screening.screen("0791234567") == "block"  # the IVR's view is refreshed
    status, listed = await send(running, "GET", "/screening/blocks", viewer)
    assert status == 200 and [b["number"] for b in listed] == ["0791234567"]
    status, _ = await send(running, "POST", "/screening/blocks", viewer, {"number": "0790000000", "reason": "x"})
    assert status == 403
    status, ended = await send(running, "DELETE", "/screening/blocks/0791234567", boss)
    assert status == 200 and ended[0]["removed_by"] == BOSS and not ended[0]["active"]
    assert await running.service.screening.screen("0791234567") == "pass"
    status, past = await send(running, "GET", "/screening/blocks?state=past", viewer)
    assert status == 200 and [b["number"] for b in past] == ["0791234567"]
    status, answer = await send(running, "DELETE", "/screening/blocks/0791234567", boss)
    assert status == 404 and "is not blocked" in answer["error"]
    audit = await running.app[CONSOLE].store.audit_rows()
    assert [(a["action"], a["target"], a["actor"]) for a in reversed(audit) if a["action"].startswith("screen")] == [
        ("screening.block", "0791234567", BOSS), ("screening.unblock", "0791234567", BOSS)
    ]  # fmt: skip
    status, doc = await send(running, "GET", "/openapi.json", viewer)
    paths = {"/api/v1/screening/blocks", "/api/v1/screening/blocks/{number}", "/api/v1/screening/warnings"}
    assert paths <= set(doc["paths"])


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"number": "07912a4567", "reason": "abusive"}, "number must be a phone number"),
        ({"number": "0791234567", "reason": "x" * 501}, "at most 500 characters"),
        ({"number": "0791234567", "reason": "abusive", "expires_at": "2020-01-01T00:00:00Z"}, "in the future"),
        ({"number": "0791234567", "reason": "abusive", "expires_at": "tomorrow"}, "not a date and time"),
        ({"number": "0791234567", "reason": "abusive", "expires_at": "2099-01-01T00:00"}, "time zone"),
        ({"number": 791234567, "reason": "abusive"}, "number must be a phone number"),
        ({"number": "0791234567", "reason": "abusive", "colour": "red"}, "unknown field 'colour'"),
    ],
)
async def test_the_api_refuses_bad_input_with_a_clear_message_and_changes_nothing(running, body, words):
    running, auth = running
    status, answer = await send(running, "POST", "/screening/blocks", auth["supervisor"], body)
    assert status == 400 and words in answer["error"], answer
    assert (await send(running, "GET", "/screening/blocks", auth["supervisor"]))[1] == []
    assert await running.app[CONSOLE].store.audit_rows() == [] or all(
        not a["action"].startswith("screening") for a in await running.app[CONSOLE].store.audit_rows()
    )


async def login(client: TestClient, name: str) -> str:
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def test_the_page_lets_a_supervisor_block_and_unblock_and_a_viewer_only_read(running):
    running, _ = running
    client = running.client
    csrf = await login(client, BOSS)
    page = await client.get("/screening")
    assert page.status == 200 and 'id="block-form"' in await page.text()
    form = {"csrf_token": csrf, "number": "0791234567", "reason": "abusive calls", "expires_at": "2099-01-01T08:00"}
    response = await client.post("/screening/block", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    text = await (await client.get("/screening?saved=1")).text()
    assert 'data-number="0791234567"' in text and "abusive calls" in text and "2099-01-01 08:00" in text
    assert await running.service.screening.screen("0791234567") == "block"
    bad = {**form, "number": "07912a4567"}
    response = await client.post("/screening/block", data=bad, allow_redirects=False)
    body = await response.text()
    assert response.status == 400 and "number must be a phone number" in body and 'value="07912a4567"' in body
    past = {**form, "number": "0790000000", "expires_at": "2001-01-01T08:00"}
    response = await client.post("/screening/block", data=past, allow_redirects=False)
    assert response.status == 400 and "in the future" in await response.text()
    assert [b.number for b in await running.service.screening.current()] == ["0791234567"]
    no_csrf = await client.post("/screening/unblock", data={"number": "0791234567"}, allow_redirects=False)
    assert no_csrf.status == 403
    response = await client.post("/screening/unblock", data={"csrf_token": csrf, "number": "0791234567"},
                                 allow_redirects=False)  # fmt: skip
    assert response.status == 303 and await running.service.screening.current() == []
    actions = [a["action"] for a in await running.app[CONSOLE].store.audit_rows()]
    assert "screening.block" in actions and "screening.unblock" in actions
    await client.post("/api/v1/logout", headers={"X-CSRF-Token": csrf})
    client.session.cookie_jar.clear()
    viewer_csrf = await login(client, VIEWER)
    page = await client.get("/screening")
    text = await page.text()
    assert page.status == 200 and 'id="block-form"' not in text and 'id="blocks-past"' in text
    refused = await client.post("/screening/block", data={**form, "csrf_token": viewer_csrf}, allow_redirects=False)
    assert refused.status == 403 and await running.service.screening.current() == []


# -- the IVR route's verdict against a fake Asterisk ------------------------------------------------------------

SOUNDS = "/hotline/test/sounds"
SECRET = "screening-test-secret-0123456789ab"


async def agi_call(verdicts: dict[str | None, str], callerid: str, replies: list[str], profile=PROFILE):
    asked: list[str | None] = []

    async def screen(number: str | None) -> str:
        asked.append(number)
        if number == "0799999999":
            raise RuntimeError("screening is down")
        return verdicts.get(number, "pass")

    agi = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    agi.add_route("ivr", IvrHandler(profile, SOUNDS, clock=lambda: T0, screen=screen))
    await agi.start()
    try:
        env = build_environment(f"{SECRET}/ivr", port=agi.port, callerid=callerid)
        fake = FakeAsterisk(port=agi.port, env=env, replies=replies)
        await fake.run(timeout=5.0)
    finally:
        await agi.close()
    return asked, [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


async def test_a_blocked_caller_gets_the_blocked_result_and_prompt_before_any_menu():
    asked, commands = await agi_call({"0791234567": "block"}, "0791234567", ["200 result=0"])
    assert asked == ["0791234567"]
    assert commands == [["EXEC", "MSet", f"HOTLINE_PROMPT={SOUNDS}/all/blocked,HOTLINE_RESULT=BLOCKED"]]


async def test_without_a_blocked_prompt_the_dialplan_is_told_to_reject():
    data = yaml.safe_load((ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    profile = parse_profile(data, source="plain.yaml")  # no nuisance section, no blocked prompt
    _, commands = await agi_call({"0791234567": "block"}, "0791234567", ["200 result=0"], profile=profile)
    assert commands == [["EXEC", "MSet", "HOTLINE_PROMPT=,HOTLINE_RESULT=BLOCKED"]]


async def test_a_warned_caller_hears_the_warning_then_the_menu_and_a_failure_lets_the_caller_through():
    _, commands = await agi_call({"0791234567": "warn"}, "0791234567", ["200 result=0 endpos=8000", "200 result=1"])
    assert commands[0] == ["STREAM", "FILE", f"{SOUNDS}/all/nuisance-warning", ""]
    assert commands[1][:3] == ["GET", "DATA", f"{SOUNDS}/all/language"]
    _, commands = await agi_call({}, "0799999999", ["200 result=1"])
    assert commands[0][:3] == ["GET", "DATA", f"{SOUNDS}/all/language"]
    asked, _ = await agi_call({}, "", ["200 result=1"])
    assert asked == [None]  # a withheld caller is screened as such
