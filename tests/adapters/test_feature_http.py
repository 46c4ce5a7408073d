"""The features' HTTP operations (``routing.http``, ``callbacks.http``, ``cdr.http``) run under any host that
names the acting user: here a bare aiohttp app with a ten-line middleware instead of the console, over the
real services (a fake app_queue over real AMI, SQLite). What they change is audited through the host."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callbacks import http as callbacks_http
from cdr import http as cdr_http
from restapi.http import ACTOR, Actor, Operation
from routing import http as routing_http


@contextlib.asynccontextmanager
async def bare_host(operations: Iterable[Operation]) -> AsyncIterator[tuple[TestClient, list[tuple[str, str, Any]]]]:
    """The operations mounted on a plain app whose only middleware names the actor "tester"; the audits it got."""
    audits: list[tuple[str, str, Any]] = []

    @web.middleware
    async def host(request: web.Request, handler: Any) -> web.StreamResponse:
        async def audit(action: str, target: str, details: dict[str, Any]) -> None:
            audits.append((action, target, details))

        request[ACTOR] = Actor("tester", audit)
        return await handler(request)

    app = web.Application(middlewares=[host])
    for op in operations:
        app.router.add_route(op.method.upper(), op.path, op.handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, audits
    finally:
        await client.close()


async def test_agents_and_seats_change_through_any_host_and_are_audited_there(service_app):
    desk = service_app.service.desk
    queue = sorted(desk.queues)[0]
    async with bare_host(routing_http.routes(desk)) as (client, audits):
        login = await client.post("/agents/agent-ar-1/login")
        assert login.status == 200, await login.text()
        assert (await login.json())["logged_in"] is True and desk.session("agent-ar-1").logged_in
        pause = await client.post("/agents/agent-ar-1/pause", json={"reason": "lunch"})
        assert (await pause.json())["pause_reason"] == "lunch"
        seats = await client.put(f"/queues/{queue}/seats", json={"seats": 2})
        assert (await seats.json())["seats"] == 2 and desk.seat_override(queue) == 2
        unknown = await client.put("/queues/nowhere/seats", json={"seats": 2})
        assert unknown.status == 404 and (await unknown.json()) == {"error": "'nowhere' is not a queue of this hotline"}
        bad_body = await client.put(f"/queues/{queue}/seats", json={"seats": "2"})
        assert bad_body.status == 400 and "seats must be a whole number" in (await bad_body.json())["error"]
        listed = await (await client.get("/agents")).json()
        assert next(a for a in listed if a["id"] == "agent-ar-1")["paused"] is True
    assert [(action, target) for action, target, _ in audits] == [
        ("agent.login", "agent-ar-1"),
        ("agent.pause", "agent-ar-1"),
        ("queue.seats", queue),
    ]
    assert audits[1][2] == {"reason": "lunch"} and audits[2][2]["seats"] == 2


async def test_callbacks_and_the_staffing_report_answer_and_refuse_without_the_console(service_app):
    service = service_app.service
    operations = (*callbacks_http.routes(service.callbacks), *cdr_http.routes(service.records.store, service.profile))
    async with bare_host(operations) as (client, audits):
        assert await (await client.get("/callbacks?status=all")).json() == []
        missing = await client.post("/callbacks/7/cancel")
        assert missing.status == 404 and await missing.json() == {"error": "no callback request 7"}
        assert (await client.post("/callbacks/seven/cancel")).status == 400
        report = await client.get("/reports/staffing?day=2026-03-01&interval=60")
        assert report.status == 200 and (await report.json())["day"] == "2026-03-01"
        wrong = await client.get("/reports/staffing?interval=7")
        assert wrong.status == 400 and "interval must be" in (await wrong.json())["error"]
    assert audits == []  # nothing changed
