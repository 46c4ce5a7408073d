"""Case webhooks against a real aiohttp receiver on 127.0.0.1, on SQLite and PostgreSQL: signed events from
the outbox reach a receiver that is down (connection refused), then failing (503), then back; none is lost,
also across a restart of the dispatcher and a sender that died mid-send; a receiver that checks the
signature refuses a wrong secret; two instances do not send the same event at once."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from support.app import running_service
from support.eventually import eventually

from cases.db import CaseStore
from cases.service import CaseService
from cases.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSettings,
    sign,
    verify,
)
from console.app import CONSOLE
from hotline.settings import Environment, SettingsError
from profiles.model import load_profile
from storage.engine import upgrade
from telephony.clock import epoch, utc_now

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "municipal-940.yaml")
SECRET = "webhook-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A webhook receiver on a fixed loopback port: down until started; answers ``status`` (after checking
    the signature with ``secret``); keeps every event it accepted, repeats included."""

    port: int
    secret: str = SECRET
    status: int = 200
    got: list[tuple[str, dict[str, object]]] = field(default_factory=list)  # (Idempotency-Key, body)
    refused: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/cases"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not verify(self.secret, request.headers, raw, utc_now()):
            self.refused += 1
            return web.Response(status=401, text="bad signature")
        if self.status != 200:
            return web.Response(status=self.status)
        body = json.loads(raw)
        assert body["event_id"] == request.headers[IDEMPOTENCY_HEADER]
        self.got.append((request.headers[IDEMPOTENCY_HEADER], body))
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/cases", self.handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def keys(self) -> set[str]:
        return {key for key, _ in self.got}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    yield r
    await r.stop()


def fast(url: str, secret: str = SECRET, **changes: float) -> WebhookSettings:
    values = {"timeout_seconds": 1.0, "backoff_seconds": 0.05, "backoff_cap_seconds": 0.2, "poll_seconds": 0.05,
              "lease_seconds": 2.0, **changes}  # fmt: skip
    return WebhookSettings((url,), secret, **values)


async def open_cases(service: CaseService, n: int) -> list[str]:
    numbers = []
    for i in range(n):
        case = await service.open(category="cleanliness", description=f"report {i}", caller_number="0551234567",
                                  language="ar", actor="reem")  # fmt: skip
        numbers.append(case.number)
    return numbers


async def test_events_reach_a_receiver_that_was_down_then_failing_none_lost_each_signed_with_its_key(db_url, receiver):
    upgrade(db_url)
    store = CaseStore(db_url)
    service = CaseService(PROFILE, store, webhooks=fast(receiver.url))
    await service.start()
    try:
        numbers = await open_cases(service, 3)  # the receiver is down: connection refused
        await service.change(numbers[0], version=1, actor="sara", status="in_progress")
        await service.change(numbers[1], version=1, actor="sara", status="closed", reason="cleaned")
        await service.change(numbers[2], version=1, actor="sara", note="a note is no status change: no event")
        await eventually(lambda: _tried_twice(store), what="every event tried at least twice while refused")
        undelivered = await store.outbox(undelivered=True)
        assert len(undelivered) == 5 and all("ClientConnector" in (row["last_error"] or "") for row in undelivered)
        receiver.status = 503
        await receiver.start()
        await eventually(lambda: _all_failed_with(store, "HTTP 503"), what="503s recorded")
        assert receiver.got == []
        receiver.status = 200
        await eventually(lambda: len(receiver.keys()) == 5, timeout=10, what="every event delivered")
        await eventually(lambda: _none_left(store), what="the outbox emptied")
    finally:
        await service.close()
        await store.close()
    rows = await CaseStore(db_url).outbox()
    assert receiver.keys() == {row["event_id"] for row in rows}
    kinds = sorted((body["kind"], body["number"], body["status"]) for _, body in receiver.got)
    assert kinds == sorted(
        [("case.created", n, "open") for n in numbers]
        + [("case.status_changed", numbers[0], "in_progress"), ("case.status_changed", numbers[1], "closed")]
    )
    assert all(row["attempts"] >= 3 for row in rows)  # refused, 503, delivered


async def _tried_twice(store: CaseStore) -> bool:
    rows = await store.outbox()
    return len(rows) == 5 and all(row["attempts"] >= 2 for row in rows)


async def _all_failed_with(store: CaseStore, problem: str) -> bool:
    rows = await store.outbox(undelivered=True)
    return len(rows) == 5 and all(row["last_error"] == problem for row in rows)


async def _none_left(store: CaseStore) -> bool:
    return await store.outbox(undelivered=True) == []


async def test_events_survive_a_restart_and_a_sender_that_died_mid_send(db_url, receiver):
    upgrade(db_url)
    first_store = CaseStore(db_url)
    first = CaseService(PROFILE, first_store, webhooks=fast(receiver.url))
    await first.start()
    numbers = await open_cases(first, 2)
    await eventually(lambda: _tried(first_store, 2), what="both tried while the receiver is down")
    await first.close()  # the service stops: its events stay in the outbox
    await first_store.close()
    # a third event, claimed by a sender that dies before it sends (its lease runs out)
    crashed_store = CaseStore(db_url)
    crashed = CaseService(PROFILE, crashed_store, webhooks=fast(receiver.url))  # never started: no dispatcher
    await crashed.change(numbers[0], version=1, actor="sara", status="assigned")
    claimed = await crashed_store.claim_outbox(utc_now() + timedelta(seconds=1), lease=timedelta(seconds=1))
    assert sorted(event.kind for event in claimed) == ["case.created", "case.created", "case.status_changed"]
    await crashed_store.close()

    await receiver.start()
    second_store = CaseStore(db_url)
    second = CaseService(PROFILE, second_store, webhooks=fast(receiver.url))  # the restarted service
    await second.start()
    try:
        await eventually(lambda: len(receiver.keys()) == 3, timeout=10, what="all three delivered after the restart")
        await eventually(lambda: _none_left(second_store), what="the outbox emptied")
    finally:
        await second.close()
        await second_store.close()
    assert sorted(body["kind"] for _, body in receiver.got) == ["case.created", "case.created", "case.status_changed"]


async def _tried(store: CaseStore, n: int) -> bool:
    rows = await store.outbox()
    return len(rows) == n and all(row["attempts"] >= 1 and row["last_error"] for row in rows)


async def test_a_receiver_that_checks_the_signature_refuses_a_wrong_secret_and_nothing_is_marked_sent(db_url, receiver):
    upgrade(db_url)
    store = CaseStore(db_url)
    service = CaseService(PROFILE, store, webhooks=fast(receiver.url, secret="not-the-receivers-secret"))
    await receiver.start()
    await service.start()
    try:
        await open_cases(service, 1)
        await eventually(lambda: receiver.refused >= 2, what="the receiver refusing the signature")
        rows = await store.outbox()
        assert rows[0]["delivered_at"] is None and rows[0]["last_error"] == "HTTP 401"
        assert receiver.got == []
    finally:
        await service.close()
        await store.close()


def test_signatures_cover_the_body_and_the_timestamp_and_old_ones_are_refused():
    now = utc_now()
    body = b'{"event_id":"e1","kind":"case.created"}'
    stamp = int(epoch(now))
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(SECRET, stamp, body)}
    assert headers[SIGNATURE_HEADER].startswith("sha256=") and len(headers[SIGNATURE_HEADER]) == 7 + 64
    assert verify(SECRET, headers, body, now)
    assert not verify("another secret", headers, body, now)
    assert not verify(SECRET, headers, body.replace(b"created", b"changed"), now)
    assert not verify(SECRET, {**headers, TIMESTAMP_HEADER: str(stamp + 1)}, body, now)  # the time is signed too
    assert not verify(SECRET, headers, body, now + timedelta(minutes=6))  # a replay, later
    assert not verify(SECRET, {**headers, TIMESTAMP_HEADER: "soon"}, body, now)
    assert not verify(SECRET, {TIMESTAMP_HEADER: str(stamp)}, body, now)


async def test_two_instances_sharing_the_database_send_each_event_once_when_all_goes_well(db_url, receiver):
    upgrade(db_url)
    await receiver.start()
    stores = [CaseStore(db_url), CaseStore(db_url)]
    writer = CaseService(PROFILE, stores[0], webhooks=fast(receiver.url))  # writes events, sends none
    numbers = await open_cases(writer, 12)
    for number in numbers:
        await writer.change(number, version=1, actor="sara", status="in_progress")
    services = [CaseService(PROFILE, store, webhooks=fast(receiver.url, poll_seconds=0.01)) for store in stores]
    for service in services:
        assert service.dispatcher is not None
        service.dispatcher.settings = fast(receiver.url, poll_seconds=0.01, batch=3)
    await asyncio.gather(*(service.start() for service in services))
    try:
        await eventually(lambda: len(receiver.keys()) == 24, timeout=10, what="all 24 events delivered")
        await eventually(lambda: _none_left(stores[0]), what="the outbox emptied")
    finally:
        for service in services:
            await service.close()
        for store in stores:
            await store.close()
    assert len(receiver.got) == 24  # no event was sent twice
    assert sum(service.dispatcher.sent for service in services if service.dispatcher) == 24


def test_webhook_urls_need_a_secret_and_must_be_http():
    with pytest.raises(ValueError, match="need a secret"):
        WebhookSettings(("http://127.0.0.1:9/h",), "")
    with pytest.raises(ValueError, match="is not an http"):
        WebhookSettings(("ftp://127.0.0.1/h",), SECRET)
    with pytest.raises(SettingsError, match="HOTLINE_CASE_WEBHOOK_URLS needs HOTLINE_CASE_WEBHOOK_SECRET"):
        Environment.read({"HOTLINE_CASE_WEBHOOK_URLS": "http://127.0.0.1:9/h"})
    with pytest.raises(SettingsError, match="'file:///etc/passwd' is not an http"):
        Environment.read({"HOTLINE_CASE_WEBHOOK_URLS": "file:///etc/passwd", "HOTLINE_CASE_WEBHOOK_SECRET": "s"})
    settings = Environment.read(
        {"HOTLINE_CASE_WEBHOOK_URLS": "http://a/h, https://b/x", "HOTLINE_CASE_WEBHOOK_SECRET": "s3"}
    ).settings()
    assert settings.case_webhook_urls == ("http://a/h", "https://b/x") and settings.case_webhook_secret == "s3"
    assert "s3" not in repr(settings)


async def test_the_service_sends_the_event_of_a_case_opened_through_the_api(tmp_path, receiver):
    await receiver.start()
    async with running_service(tmp_path, profile=PROFILE, case_webhook_urls=(receiver.url,),
                               case_webhook_secret=SECRET) as running:  # fmt: skip
        store = running.app[CONSOLE].store
        boss = await store.add_user("boss", "correct horse battery", "supervisor")
        auth = {"Authorization": f"Bearer {await store.add_token(boss, 'tests')}"}
        body = {"category": "parks", "description": "مقعد مكسور", "language": "ar"}
        opened = await running.client.post("/api/v1/cases", json=body, headers=auth)
        assert opened.status == 201
        number = (await opened.json())["number"]
        await eventually(lambda: receiver.got, what="the case.created event")
    assert [(b["kind"], b["number"]) for _, b in receiver.got] == [("case.created", number)]
