"""One admin API: the token the service writes for local tools works on /api/v1 (aiohttp's test client),
with a fake app_queue over real AMI and SQLite.

This is what `hotline agent …` and `hotline seats …` use; their changes are audited as "local admin".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue

from hotline.service import SERVICE, ServiceConfig, build_app
from hotline.settings import Settings
from profiles.model import load_profile
from telephony.asterisk import Credentials

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")


@pytest.fixture
async def api(tmp_path):
    server = FakeAMIServer()
    await server.start()
    app_queue = FakeAppQueue(server)
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'h.db'}", ami_port=server.port, agi_port=0)
    token_file = tmp_path / "service-token"
    app = build_app(ServiceConfig(settings, PROFILE, Credentials("hotline", "s3cret", {}), "/s", token_file))
    client = TestClient(TestServer(app))
    await client.start_server()
    await server.wait_until(lambda: app[SERVICE].desk.synced)
    token = token_file.read_text()
    assert oct(token_file.stat().st_mode)[-3:] == "600"
    yield client, {"Authorization": f"Bearer {token}"}, app_queue, app
    await client.close()
    await server.close()
    assert not token_file.exists()  # the token goes with the service


async def test_without_the_token_nothing_changes(api):
    client, _, app_queue, _ = api
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = await client.post("/api/v1/agents/agent-ar-1/login", headers=headers)
        assert response.status == 401
        assert "token" in (await response.json())["error"]
    assert app_queue.members == {}


async def test_the_old_local_api_is_gone(api):
    client, auth, _, _ = api
    assert (await client.post("/api/agents/agent-ar-1/login", headers=auth)).status == 404
    assert (await client.get("/api/agents", headers=auth)).status == 404


async def test_an_agent_is_logged_in_and_paused_with_the_local_token_and_it_is_audited(api):
    client, auth, app_queue, app = api
    response = await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["logged_in"], body["paused"], body["pause_reason"]) == (True, False, None)
    response = await client.post("/api/v1/agents/agent-ar-1/pause", json={"reason": "training"}, headers=auth)
    assert (await response.json())["pause_reason"] == "training"
    assert all(m["Paused"] == "1" for m in app_queue.of("agent-ar-1").values())
    listing = {a["id"]: a for a in await (await client.get("/api/v1/agents", headers=auth)).json()}
    assert listing["agent-ar-1"]["paused"] and not listing["doc-ar-paed-1"]["logged_in"]
    audit = await app[SERVICE].console.store.audit_rows()
    assert [(r["actor"], r["via"], r["action"], r["target"]) for r in audit[:2]] == [
        ("local admin", "local-token", "agent.pause", "agent-ar-1"),
        ("local admin", "local-token", "agent.login", "agent-ar-1"),
    ]


async def test_bad_input_gets_a_clear_4xx(api):
    client, auth, _, _ = api
    cases = [
        (client.post("/api/v1/agents/nobody/login", headers=auth), 404, "is not an agent or doctor"),
        (client.post("/api/v1/agents/agent-ar-1/dance", headers=auth), 404, "unknown action"),
        (client.post("/api/v1/agents/agent-ar-2/pause", headers=auth), 409, "not logged in"),
        (client.put("/api/v1/queues/ar-general/seats", data=b"{nope", headers=auth), 400, "not valid JSON"),
        (client.put("/api/v1/queues/ar-general/seats", json=[1], headers=auth), 400, "JSON object"),
        (client.put("/api/v1/queues/ar-general/seats", json={"seats": -1}, headers=auth), 400, "whole number"),
        (client.put("/api/v1/queues/ar-general/seats", json={"seats": True}, headers=auth), 400, "whole number"),
        (client.put("/api/v1/queues/xx-yy/seats", json={"seats": 3}, headers=auth), 404, "not a queue"),
    ]
    for request, status, message in cases:
        response = await request
        assert response.status == status, await response.text()
        assert message in (await response.json())["error"]


async def test_seats_change_live_through_the_api(api):
    client, auth, app_queue, _ = api
    await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)
    await client.post("/api/v1/agents/agent-ar-2/login", headers=auth)
    response = await client.put("/api/v1/queues/ar-general/seats", json={"seats": 1}, headers=auth)
    assert response.status == 200
    await app_queue.server.wait_until(lambda: len(app_queue.active("ar-general")) == 1)


async def test_a_pause_reason_with_a_line_break_is_refused_and_nothing_is_saved_or_sent(api):
    """A reason with CR/LF once saved through the local API broke every AMI resync after it."""
    client, auth, app_queue, app = api
    assert (await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)).status == 200
    for reason in ("lunch\r\nAction: Originate", "lunch\nbreak", "x" * 65, "\x00"):
        response = await client.post("/api/v1/agents/agent-ar-1/pause", json={"reason": reason}, headers=auth)
        assert response.status == 400, await response.text()
        assert "printable characters" in (await response.json())["error"]
    session = app[SERVICE].desk.session("agent-ar-1")
    assert session.logged_in and not session.paused and session.pause_reason is None
    assert not any(m["Paused"] == "1" and m.get("PausedReason", "").startswith("lunch")
                   for m in app_queue.of("agent-ar-1").values())  # fmt: skip
    response = await client.post("/api/v1/agents/agent-ar-1/pause", json={"reason": "lunch"}, headers=auth)
    assert response.status == 200 and (await response.json())["pause_reason"] == "lunch"
