"""Centre-wide seats live (issue 13, item 6): a supervisor sets the whole centre's seats for this shift through the
routing API; the desk applies them at once through app_queue's ``no-seat`` pauses (a fake app_queue over real AMI),
stores them for the shift (a restarted service keeps them) and the change is audited through the host."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from support.app import running_service

from restapi.http import ACTOR, Actor
from routing import http as routing_http

PEOPLE = ("agent-ar-1", "agent-ar-2", "agent-ar-3")


async def _host(desk: Any, audits: list[tuple[str, str, Any]]) -> TestClient:
    @web.middleware
    async def host(request: web.Request, handler: Any) -> web.StreamResponse:
        async def audit(action: str, target: str, details: dict[str, Any]) -> None:
            audits.append((action, target, details))

        request[ACTOR] = Actor("boss", audit)
        return await handler(request)

    app = web.Application(middlewares=[host])
    for op in routing_http.routes(desk):
        app.router.add_route(op.method.upper(), op.path, op.handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def _taking_calls(app_queue: Any) -> set[str]:
    return {m["MemberName"] for m in app_queue.members.values() if m["Paused"] == "0"}


async def test_a_supervisor_sets_the_centre_seats_live_and_they_hold_across_queues(tmp_path):
    audits: list[tuple[str, str, Any]] = []
    async with running_service(tmp_path) as running:
        desk, app_queue = running.service.desk, running.app_queue
        people = [p for p in PEOPLE if p in desk.people]
        assert len(people) >= 2
        for person in people:
            await desk.login(person)
        await running.ami.wait_until(lambda: _taking_calls(app_queue) == set(people), 5)
        client = await _host(desk, audits)
        try:
            before = await (await client.get("/centre/seats")).json()
            assert before["seats_now"] is None and before["seats_override"] is None  # the profile sets none
            assert sorted(before["taking_calls"]) == sorted(people)
            answer = await client.put("/centre/seats", json={"seats": 1})
            assert answer.status == 200, await answer.text()
            body = await answer.json()
            assert body["seats_now"] == 1 and body["seats_override"] == 1
            await running.ami.wait_until(lambda: _taking_calls(app_queue) == {people[0]}, 5)
            # the one taking calls keeps every queue of theirs; the others are paused no-seat in all of theirs
            for person in people[1:]:
                assert {m["PausedReason"] for m in app_queue.of(person).values()} == {"no-seat"}
            assert all(m["Paused"] == "0" for m in app_queue.of(people[0]).values())
            assert (await (await client.get("/centre/seats")).json())["taking_calls"] == [people[0]]
            for bad in ({"seats": -1}, {"seats": "2"}, {}, {"seats": 10001}):
                refused = await client.put("/centre/seats", json=bad)
                assert refused.status == 400, bad
            assert desk.centre_seats_now()[1] == 1  # bad input changed nothing
            raised = await client.put("/centre/seats", json={"seats": 2})
            assert (await raised.json())["seats_now"] == 2
            await running.ami.wait_until(lambda: _taking_calls(app_queue) == set(people[:2]), 5)
        finally:
            await client.close()
    assert [(action, target) for action, target, _ in audits] == [("centre.seats", "centre")] * 2
    assert audits[0][2]["seats"] == 1 and audits[0][2]["before"] is None and audits[1][2]["before"] == 1

    async with running_service(tmp_path) as again:  # the same database: the shift's figure is kept
        assert again.service.desk.centre_seats_now()[1:] == (2, 2)
