"""The supervisor console's API (aiohttp's test client), with a fake app_queue over real AMI and SQLite."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue

from console.app import CONSOLE
from hotline.service import SERVICE, ServiceConfig, build_app
from hotline.settings import Settings
from profiles.model import load_profile
from telephony.asterisk import Credentials

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
BOSS_PASSWORD = "correct horse battery"
VIEWER_PASSWORD = "just looking 12345"


@pytest.fixture
async def console(tmp_path):
    server = FakeAMIServer()
    await server.start()
    app_queue = FakeAppQueue(server)
    db = tmp_path / "h.db"
    settings = Settings(db_url=f"sqlite:///{db}", ami_port=server.port, agi_port=0)
    app = build_app(ServiceConfig(settings, PROFILE, Credentials("hotline", "s3cret", {}), "/s", tmp_path / "tok"))
    client = TestClient(TestServer(app))
    await client.start_server()
    await server.wait_until(lambda: app[SERVICE].desk.synced)
    store = app[CONSOLE].store
    boss = await store.add_user("boss", BOSS_PASSWORD, "supervisor")
    await store.add_user("viewer", VIEWER_PASSWORD, "viewer", "ar")
    token = await store.add_token(boss, "automation")
    yield client, app, app_queue, {"Authorization": f"Bearer {token}"}, db
    await client.close()
    await server.close()


async def login(client: TestClient, name: str = "boss", password: str = BOSS_PASSWORD) -> str:
    response = await client.post("/api/v1/session", json={"name": name, "password": password})
    assert response.status == 200, await response.text()
    return (await response.json())["csrf_token"]


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


async def test_login_sets_a_strict_httponly_cookie_and_logout_ends_the_session(console):
    client, _, _, _, db = console
    response = await client.post("/api/v1/session", json={"name": "boss", "password": BOSS_PASSWORD})
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on localhost; https (or the env switch) adds it
    csrf = (await response.json())["csrf_token"]
    me = await (await client.get("/api/v1/me")).json()
    assert me == {"name": "boss", "role": "supervisor", "language": "en", "via": "session"}
    # the session lives in the database, keyed by a hash of the cookie only
    secret = client.session.cookie_jar.filter_cookies(client.make_url("/"))["hotline_console"].value
    stored = [r[0] for r in rows(db, "SELECT id_hash FROM console_sessions")]
    assert stored and secret not in stored and len(stored[0]) == 64
    response = await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    assert rows(db, "SELECT count(*) FROM console_sessions") == [(0,)]
    assert (await client.get("/api/v1/me")).status == 401


async def test_wrong_passwords_and_unknown_users_are_refused(console):
    client, _, _, _, _ = console
    for body in ({"name": "boss", "password": "nope nope nope"}, {"name": "ghost", "password": BOSS_PASSWORD}):
        response = await client.post("/api/v1/session", json=body)
        assert response.status == 401
        assert (await response.json())["error"] == "wrong user name or password"
    assert (await client.get("/api/v1/wallboard")).status == 401
    page = await client.get("/", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login"


async def test_passwords_are_stored_as_argon2_hashes_only(console):
    _, _, _, _, db = console
    for _name, hashed in rows(db, "SELECT name, password_hash FROM console_users"):
        assert hashed.startswith("$argon2id$")
        assert BOSS_PASSWORD not in hashed and VIEWER_PASSWORD not in hashed
    tokens = rows(db, "SELECT token_hash, prefix FROM api_tokens")
    assert len(tokens) == 1 and len(tokens[0][0]) == 64 and tokens[0][1].startswith("hlc_")


async def test_cookie_posts_need_the_csrf_token(console):
    client, _app, app_queue, _, _ = console
    csrf = await login(client)
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        response = await client.post("/api/v1/agents/agent-ar-1/login", headers=headers)
        assert response.status == 403
        assert "CSRF" in (await response.json())["error"]
    assert app_queue.members == {}
    response = await client.post("/api/v1/agents/agent-ar-1/login", headers={"X-CSRF-Token": csrf})
    assert response.status == 200
    # a foreign Origin is refused even with the token
    response = await client.put(
        "/api/v1/queues/ar-general/seats",
        json={"seats": 3},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert response.status == 403


async def test_bearer_tokens_need_no_csrf_and_bad_tokens_are_refused(console):
    client, _app, app_queue, auth, _ = console
    response = await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)
    assert response.status == 200, await response.text()
    await app_queue.server.wait_until(lambda: bool(app_queue.of("agent-ar-1")))
    for bad in ("Bearer wrong", "Basic Ym9zczp4", "Bearer "):
        response = await client.get("/api/v1/wallboard", headers={"Authorization": bad})
        assert response.status == 401
    # there is one admin API: the old local one is gone
    assert (await client.get("/api/agents", headers=auth)).status == 404


async def test_viewers_look_but_cannot_change(console):
    client, _app, app_queue, _, _db = console
    csrf = await login(client, "viewer", VIEWER_PASSWORD)
    assert (await client.get("/api/v1/wallboard")).status == 200
    assert (await client.get("/api/v1/agents")).status == 200
    h = {"X-CSRF-Token": csrf}
    for request in (
        client.post("/api/v1/agents/agent-ar-1/login", headers=h),
        client.put("/api/v1/queues/ar-general/seats", json={"seats": 2}, headers=h),
        client.put("/api/v1/agents/agent-ar-1/skills", json={"topics": ["general"]}, headers=h),
        client.post("/api/v1/callbacks/1/cancel", headers=h),
        client.post("/api/v1/users", json={"name": "x", "password": "y" * 12, "role": "viewer"}, headers=h),
        client.post("/api/v1/tokens", json={"label": "mine"}, headers=h),
    ):
        response = await request
        assert response.status == 403, await response.text()
        assert "viewer" in (await response.json())["error"]
    assert app_queue.members == {}
    # their own language is theirs to choose
    response = await client.put("/api/v1/me/language", json={"language": "en"}, headers=h)
    assert response.status == 200
    page = await client.get("/agents")
    text = await page.text()
    assert 'lang="en"' in text and 'data-act="agent"' not in text and "disabled" in text


async def test_each_change_is_audited(console):
    client, app, _app_queue, auth, db = console
    assert (await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)).status == 200
    assert (
        await client.post("/api/v1/agents/agent-ar-1/pause", json={"reason": "training"}, headers=auth)
    ).status == 200
    assert (await client.put("/api/v1/queues/ar-general/seats", json={"seats": 4}, headers=auth)).status == 200
    response = await client.put(
        "/api/v1/agents/agent-ar-2/skills", json={"topics": ["general", "complaints"]}, headers=auth
    )
    assert response.status == 200
    assert "ar-complaints" in (await response.json())["queues_at_login"]
    assert sorted(app[SERVICE].desk.queues_at_login("agent-ar-2")) == sorted((await response.json())["queues_at_login"])
    audit = rows(db, "SELECT actor, via, action, target, details FROM audit_log ORDER BY id")
    changes = [(a, v, act, t) for a, v, act, t, _ in audit]
    assert changes == [
        ("boss", "token", "agent.login", "agent-ar-1"),
        ("boss", "token", "agent.pause", "agent-ar-1"),
        ("boss", "token", "queue.seats", "ar-general"),
        ("boss", "token", "agent.skills", "agent-ar-2"),
    ]
    assert json.loads(audit[1][4]) == {"reason": "training"}
    assert json.loads(audit[2][4])["seats"] == 4
    listed = await (await client.get("/api/v1/audit?limit=2", headers=auth)).json()
    assert [r["action"] for r in listed] == ["agent.skills", "queue.seats"]


async def test_bad_input_gets_a_clear_4xx(console):
    client, _, _, auth, _ = console
    await client.post("/api/v1/agents/agent-ar-1/login", headers=auth)
    cases = [
        (client.post("/api/v1/agents/nobody/login", headers=auth), 404, "is not an agent or doctor"),
        (client.post("/api/v1/agents/agent-ar-1/dance", headers=auth), 404, "unknown action"),
        (client.post("/api/v1/agents/agent-ar-2/pause", headers=auth), 409, "not logged in"),
        (client.post("/api/v1/agents/agent-ar-1/pause", json={"reason": 5}, headers=auth), 400, "reason"),
        (client.put("/api/v1/queues/ar-general/seats", data=b"{nope", headers=auth), 400, "not valid JSON"),
        (client.put("/api/v1/queues/ar-general/seats", data=b'{"seats": NaN}', headers=auth), 400, "not valid JSON"),
        (client.put("/api/v1/queues/ar-general/seats", json=[1], headers=auth), 400, "JSON object"),
        (client.put("/api/v1/queues/ar-general/seats", json={"seats": -1}, headers=auth), 400, "whole number"),
        (client.put("/api/v1/queues/ar-general/seats", json={"seats": 2.5}, headers=auth), 400, "whole number"),
        (client.put("/api/v1/queues/xx-yy/seats", json={"seats": 3}, headers=auth), 404, "not a queue"),
        (
            client.put("/api/v1/agents/agent-ar-1/skills", json={"topics": ["astrology"]}, headers=auth),
            400,
            "unknown topics",
        ),
        (client.put("/api/v1/agents/agent-ar-1/skills", json={"topics": "general"}, headers=auth), 400, "list"),
        (client.post("/api/v1/callbacks/abc/cancel", headers=auth), 400, "whole number"),
        (client.post("/api/v1/callbacks/99/cancel", headers=auth), 404, "no callback request"),
        (client.post("/api/v1/callbacks/1/explode", headers=auth), 404, "unknown action"),
        (client.get("/api/v1/callbacks?status=maybe", headers=auth), 400, "status"),
        (client.get("/api/v1/reports/staffing?day=2024-13-01", headers=auth), 400, "day"),
        (client.get("/api/v1/reports/staffing?interval=7", headers=auth), 400, "interval"),
        (client.get("/api/v1/audit?limit=-3", headers=auth), 400, "limit"),
        (client.put("/api/v1/me/language", json={"language": "fr"}, headers=auth), 400, "language"),
        (
            client.post("/api/v1/users", json={"name": "x", "password": "short", "role": "viewer"}, headers=auth),
            400,
            "password",
        ),
        (
            client.post("/api/v1/users", json={"name": "viewer", "password": "y" * 12, "role": "viewer"}, headers=auth),
            409,
            "exists",
        ),
        (
            client.post("/api/v1/users", json={"name": "z", "password": "y" * 12, "role": "god"}, headers=auth),
            400,
            "role",
        ),
        (client.post("/api/v1/session", json={"name": ["boss"]}), 400, "texts"),
        (client.get("/api/v1/nothing-here", headers=auth), 404, "Not Found"),
        (client.patch("/api/v1/wallboard", headers=auth), 405, "Method Not Allowed"),
        (client.get("/api/v1/live", headers=auth), 400, "WebSocket"),
        (client.delete("/api/v1/session", headers=auth), 400, "no session"),
    ]
    for request, status, message in cases:
        response = await request
        assert response.status == status, (message, await response.text())
        assert message in (await response.json())["error"]


async def test_api_reads_and_callbacks(console):
    client, app, _, auth, _ = console
    board = await (await client.get("/api/v1/wallboard", headers=auth)).json()
    assert {q["queue"] for q in board["queues"]} == app[SERVICE].desk.queues
    assert set(board["totals"]) >= {
        "waiting",
        "longest_wait",
        "service_level_today",
        "available",
        "on_call",
        "paused",
        "callbacks_pending",
    }
    queues = await (await client.get("/api/v1/queues", headers=auth)).json()
    paed = next(q for q in queues["queues"] if q["queue"] == "ar-medical-paediatrics")
    assert paed["seats_by_shift"] == {"morning": 4, "evening": 4, "night": 2}
    assert paed["overflow_to"] == "ar-general"
    report = await (await client.get("/api/v1/reports/staffing?day=2026-01-05&interval=60", headers=auth)).json()
    assert report["day"] == "2026-01-05" and len(report["intervals"]) == 24
    # a callback request: call it now, reschedule, cancel
    from datetime import timedelta

    from callbacks.model import CallbackRequest, Origin
    from telephony.clock import utc

    store = app[SERVICE].callbacks.store
    now = utc(1_900_000_000.0)
    added = await store.add(
        CallbackRequest(
            None,
            "96550000001",
            "ar",
            "general",
            None,
            "ar-general",
            Origin.OFFER,
            None,
            now,
            now,
            now + timedelta(hours=1),
            next_attempt_at=now + timedelta(minutes=10),
        )
    )
    listed = await (await client.get("/api/v1/callbacks", headers=auth)).json()
    assert [c["id"] for c in listed] == [added.id]
    response = await client.post(
        f"/api/v1/callbacks/{added.id}/reschedule", json={"at": "2030-01-01T10:00:00+03:00"}, headers=auth
    )
    assert response.status == 200
    assert (await response.json())["next_attempt_at"] == "2030-01-01T07:00:00+00:00"
    response = await client.post(f"/api/v1/callbacks/{added.id}/reschedule", json={"at": "tomorrow"}, headers=auth)
    assert response.status == 400
    response = await client.post(f"/api/v1/callbacks/{added.id}/cancel", headers=auth)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
    response = await client.post(f"/api/v1/callbacks/{added.id}/call-now", headers=auth)
    assert response.status == 409


async def test_pages_render_in_both_languages(console):
    client, _, _, _, _ = console
    csrf = await login(client, "viewer", VIEWER_PASSWORD)
    for path in ("/", "/agents", "/queues", "/callbacks", "/reports"):
        response = await client.get(path)
        assert response.status == 200, path
        text = await response.text()
        assert '<html lang="ar" dir="rtl">' in text
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    await client.put("/api/v1/me/language", json={"language": "en"}, headers={"X-CSRF-Token": csrf})
    text = await (await client.get("/")).text()
    assert '<html lang="en" dir="ltr">' in text and "Wallboard" in text
    static = await client.get("/static/console/console.js")
    assert static.status == 200
    assert (await client.get("/static/console/../store.py")).status in (403, 404)


async def test_the_websocket_pushes_a_change_after_an_ami_event(console):
    client, _app, app_queue, _auth, _ = console
    await login(client)
    ws = await client.ws_connect("/api/v1/live")
    first = json.loads((await ws.receive(timeout=5)).data)
    assert first["type"] == "snapshot" and first["totals"]["waiting"] == 0
    # a caller joins a queue: the event comes from (fake) Asterisk over AMI
    await app_queue.broadcast(
        {
            "Event": "QueueCallerJoin",
            "Queue": "ar-general",
            "Uniqueid": "1700000000.7",
            "Position": "1",
            "Count": "1",
            "Channel": "PJSIP/trunk-00000007",
        }
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        message = await ws.receive(timeout=2)
        assert message.type is WSMsgType.TEXT
        pushed = json.loads(message.data)
        if pushed["totals"]["waiting"] == 1:
            break
    assert loop.time() - started < 1.0
    row = next(q for q in pushed["queues"] if q["queue"] == "ar-general")
    assert row["waiting"] == 1
    await ws.close()
    # without a session or token there is no live feed
    client.session.cookie_jar.clear()
    response = await client.get(
        "/api/v1/live",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 401


async def test_a_foreign_origin_cannot_open_the_live_feed(console):
    client, _, _, _, _ = console
    await login(client)
    with pytest.raises(Exception):
        await client.ws_connect("/api/v1/live", origin="https://evil.example")
