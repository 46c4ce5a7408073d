"""The console's access controls (aiohttp's test client, a fake app_queue over real AMI, SQLite): sign-in
throttling, password change and reset, disabling and removing users, token revocation, live feeds that
close when access ends, a slow live client, the public origin behind a proxy, and security headers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from aiohttp.web_urldispatcher import PrefixedSubAppResource

from console.app import CONSOLE
from console.openapi import document
from console.throttle import LoginThrottle
from hotline.service import SERVICE

try:
    from .test_console_api import BOSS_PASSWORD, VIEWER_PASSWORD, console, login, rows
except ImportError:  # tests/adapters is not a package
    from test_console_api import BOSS_PASSWORD, VIEWER_PASSWORD, console, login, rows  # type: ignore[no-redef]

__all__ = ["console"]  # the fixture, shared with test_console_api

GUARD = 20.0  # seconds: turns a hang into a failure; never what a test asserts


@contextlib.asynccontextmanager
async def another_browser(client: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    """A second browser (its own cookies) on the same server."""
    async with aiohttp.ClientSession(
        base_url=str(client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as session:
        yield session


async def sign_in(session: aiohttp.ClientSession | TestClient, name: str, password: str) -> str:
    response = await session.post("/api/v1/session", json={"name": name, "password": password})
    assert response.status == 200, await response.text()
    return (await response.json())["csrf_token"]


async def closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read (skipping snapshots) until the server closes the feed; the close message."""
    while True:
        message = await ws.receive(timeout=GUARD)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return message
        assert message.type is WSMsgType.TEXT and json.loads(message.data)["type"] == "snapshot"


def local_token(db: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {(db.parent / 'tok').read_text().strip()}"}


# -- sign-in throttling -------------------------------------------------------------------------------


async def test_repeated_failures_for_a_name_are_throttled_alike_for_real_and_unknown_names(console):
    client, app, _, _, db = console
    app[CONSOLE].throttle = LoginThrottle(per_account=3, per_address=100)
    answers = {}
    for name in ("boss", "ghost"):
        for _ in range(3):
            response = await client.post("/api/v1/session", json={"name": name, "password": "wrong password!"})
            assert response.status == 401
        # now even the right password is refused, before it is checked
        response = await client.post("/api/v1/session", json={"name": name, "password": BOSS_PASSWORD})
        assert response.status == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
        answers[name] = re.sub(r"\d+", "N", (await response.json())["error"])  # the seconds left differ by when
    assert answers["boss"] == answers["ghost"] and "too many failed sign-ins" in answers["boss"]
    # another name from the same address is not held up by boss's failures
    assert (await client.post("/api/v1/session", json={"name": "viewer", "password": VIEWER_PASSWORD})).status == 200
    failed = rows(db, "SELECT actor, action, target, details FROM audit_log WHERE action = 'session.login_failed'")
    assert [(a, t) for a, _, t, _ in failed] == [("boss", "boss")] * 3 + [("ghost", "ghost")] * 3
    assert json.loads(failed[0][3])["address"] == "127.0.0.1"


async def test_many_names_tried_from_one_address_are_throttled(console):
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=100, per_address=4)
    for i in range(4):
        response = await client.post("/api/v1/session", json={"name": f"guess{i}", "password": "letmein12345"})
        assert response.status == 401
    response = await client.post("/api/v1/session", json={"name": "boss", "password": BOSS_PASSWORD})
    assert response.status == 429 and "Retry-After" in response.headers


async def test_behind_a_trusted_proxy_each_client_is_throttled_alone_and_a_forged_header_changes_nothing(console):
    """Behind the TLS proxy every sign-in comes from its address: with HOTLINE_TRUSTED_PROXIES the client is the
    address the proxy appended to X-Forwarded-For, so one guesser no longer locks everyone out, and what the
    guesser writes into the header itself (left of the proxy's entry) is not believed."""
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=100, per_address=4)
    app[CONSOLE].backend.trusted_proxies = ("127.0.0.0/8",)
    for i in range(4):  # the guesser varies the header; the proxy appends their real address last
        forged = {"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.5"}
        response = await client.post(
            "/api/v1/session", json={"name": f"guess{i}", "password": "x" * 12}, headers=forged
        )
        assert response.status == 401
    guesser = {"X-Forwarded-For": "198.51.100.99, 203.0.113.5"}
    response = await client.post("/api/v1/session", json={"name": "boss", "password": BOSS_PASSWORD}, headers=guesser)
    assert response.status == 429 and "Retry-After" in response.headers  # the guesser is throttled
    other = {"X-Forwarded-For": "203.0.113.9"}
    response = await client.post("/api/v1/session", json={"name": "boss", "password": BOSS_PASSWORD}, headers=other)
    assert response.status == 200  # everyone else signs in


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(console):
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=100, per_address=4)
    for i in range(4):  # a different header each time: still one address, the socket's
        headers = {"X-Forwarded-For": f"198.51.100.{i}"}
        response = await client.post(
            "/api/v1/session", json={"name": f"guess{i}", "password": "x" * 12}, headers=headers
        )
        assert response.status == 401
    headers = {"X-Forwarded-For": "203.0.113.9"}
    response = await client.post("/api/v1/session", json={"name": "boss", "password": BOSS_PASSWORD}, headers=headers)
    assert response.status == 429


async def test_the_sign_in_page_is_throttled_too(console):
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=2, per_address=100)
    for _ in range(2):
        response = await client.post("/login", data={"name": "boss", "password": "nope"}, allow_redirects=False)
        assert response.status == 401
    response = await client.post(
        "/login",
        data={"name": "boss", "password": BOSS_PASSWORD},
        allow_redirects=False,
        headers={"Accept-Language": "en"},
    )
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in await response.text()


async def test_a_right_password_starts_the_names_count_again(console):
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=3, per_address=100)
    for _ in range(2):
        await client.post("/api/v1/session", json={"name": "boss", "password": "wrong password!"})
    await sign_in(client, "boss", BOSS_PASSWORD)
    for _ in range(2):
        assert (await client.post("/api/v1/session", json={"name": "boss", "password": "wrong!!!!!!"})).status == 401
    await sign_in(client, "boss", BOSS_PASSWORD)


# -- passwords ---------------------------------------------------------------------------------------


async def test_a_user_changes_their_password_with_the_old_one_and_their_other_sessions_end(console):
    client, _, _, _, db = console
    async with another_browser(client) as laptop:
        await sign_in(laptop, "viewer", VIEWER_PASSWORD)
        csrf = await login(client, "viewer", VIEWER_PASSWORD)
        h = {"X-CSRF-Token": csrf}
        response = await client.put(
            "/api/v1/me/password",
            json={"old_password": "not it at all", "new_password": "a brand new secret"},
            headers=h,
        )
        assert response.status == 403 and "old password" in (await response.json())["error"]
        response = await client.put(
            "/api/v1/me/password", json={"old_password": VIEWER_PASSWORD, "new_password": "short"}, headers=h
        )
        assert response.status == 400 and "new_password" in (await response.json())["error"]
        response = await client.put(
            "/api/v1/me/password",
            json={"old_password": VIEWER_PASSWORD, "new_password": "a brand new secret"},
            headers=h,
        )
        assert response.status == 200, await response.text()
        assert (await client.get("/api/v1/me")).status == 200  # this session goes on
        assert (await laptop.get("/api/v1/me")).status == 401  # the other one ended
    assert (await client.post("/api/v1/session", json={"name": "viewer", "password": VIEWER_PASSWORD})).status == 401
    await sign_in(client, "viewer", "a brand new secret")
    assert ("viewer", "user.password") in rows(db, "SELECT actor, action FROM audit_log")


async def test_a_supervisor_resets_anothers_password_and_their_sessions_and_live_feed_end(console):
    client, _, _, auth, _ = console
    async with another_browser(client) as viewer:
        await sign_in(viewer, "viewer", VIEWER_PASSWORD)
        ws = await viewer.ws_connect("/api/v1/live")
        response = await client.put(
            "/api/v1/users/viewer/password", json={"password": "reset by the boss"}, headers=auth
        )
        assert response.status == 200, await response.text()
        assert (await closed(ws)).data == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert (await viewer.get("/api/v1/me")).status == 401
        await sign_in(viewer, "viewer", "reset by the boss")
    response = await client.put("/api/v1/users/boss/password", json={"password": "my own password"}, headers=auth)
    assert response.status == 409  # one's own password goes through PUT /me/password, with the old one
    response = await client.put("/api/v1/users/nobody/password", json={"password": "x" * 12}, headers=auth)
    assert response.status == 404


async def test_the_account_page_changes_ones_own_password_with_the_old_one(console):
    """The form for people without the API: CSRF, the old password, the new one twice; the other sessions end."""
    client, _, _, _, db = console
    async with another_browser(client) as laptop:
        await sign_in(laptop, "viewer", VIEWER_PASSWORD)
        csrf = await login(client, "viewer", VIEWER_PASSWORD)
        page = await client.get("/account")
        assert page.status == 200 and 'name="new_password_again"' in await page.text()
        assert f'name="csrf_token" value="{csrf}"' in await page.text()
        assert_hardened(page)
        form = {"old_password": VIEWER_PASSWORD, "new_password": "a brand new secret"}
        form["new_password_again"] = form["new_password"]
        cases = [
            ({**form, "csrf_token": "forged"}, 403, "CSRF"),
            (dict(form), 403, "CSRF"),  # no token at all
            ({**form, "csrf_token": csrf, "old_password": "not the old one"}, 403, "كلمة المرور الحالية غير صحيحة"),
            ({**form, "csrf_token": csrf, "new_password_again": "a brand new secreT"}, 400, "مختلفتان"),
            ({**form, "csrf_token": csrf, "new_password": "short", "new_password_again": "short"}, 400, "1024"),
        ]
        for data, status, says in cases:
            answer = await client.post("/account", data=data, allow_redirects=False)
            assert answer.status == status and says in await answer.text(), (data, await answer.text())
        assert (await laptop.get("/api/v1/me")).status == 200  # nothing changed yet
        answer = await client.post("/account", data={**form, "csrf_token": csrf}, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "/account?changed=1"
        assert_hardened(answer)
        assert 'id="account-changed"' in await (await client.get("/account?changed=1")).text()
        assert (await client.get("/api/v1/me")).status == 200  # this session goes on
        assert (await laptop.get("/api/v1/me")).status == 401  # the other one ended
    await sign_in(client, "viewer", "a brand new secret")
    audit = rows(db, "SELECT actor, via, action FROM audit_log WHERE actor = 'viewer'")
    assert ("viewer", "session", "user.password") in audit
    assert ("viewer", "session", "session.login_failed") in audit  # the wrong old password counts


async def test_guessing_the_old_password_on_the_account_page_is_throttled(console):
    client, app, _, _, _ = console
    app[CONSOLE].throttle = LoginThrottle(per_account=2, per_address=100)
    csrf = await login(client)
    form = {"csrf_token": csrf, "new_password": "x" * 12, "new_password_again": "x" * 12}
    for _ in range(2):
        answer = await client.post("/account", data={**form, "old_password": "a guess!!!!"}, allow_redirects=False)
        assert answer.status == 403
    answer = await client.post("/account", data={**form, "old_password": BOSS_PASSWORD}, allow_redirects=False)
    assert answer.status == 429 and int(answer.headers["Retry-After"]) >= 1
    assert (await client.post("/api/v1/session", json={"name": "boss", "password": "x" * 12})).status in (401, 429)


# -- disabling and removing users ------------------------------------------------------------------------


async def test_a_disabled_user_is_signed_out_everywhere_and_cannot_sign_in(console):
    client, app, _, auth, db = console
    store = app[CONSOLE].store
    viewer_token = await store.add_token(await store.user_by_name("viewer"), "viewer's script")
    async with another_browser(client) as viewer:
        await sign_in(viewer, "viewer", VIEWER_PASSWORD)
        ws = await viewer.ws_connect("/api/v1/live")
        response = await client.post("/api/v1/users/viewer/disable", headers=auth)
        assert response.status == 200 and (await response.json())["disabled"] is True
        await closed(ws)
        assert (await viewer.get("/api/v1/me")).status == 401
        response = await viewer.post("/api/v1/session", json={"name": "viewer", "password": VIEWER_PASSWORD})
        assert response.status == 401
        assert (await viewer.get("/api/v1/me", headers={"Authorization": f"Bearer {viewer_token}"})).status == 401
        assert rows(db, "SELECT count(*) FROM console_sessions WHERE user_id = 2") == [(0,)]
        # enabled again, they sign in as before
        assert (await client.post("/api/v1/users/viewer/enable", headers=auth)).status == 200
        await sign_in(viewer, "viewer", VIEWER_PASSWORD)
    listed = {u["name"]: u for u in await (await client.get("/api/v1/users", headers=auth)).json()}
    assert listed["viewer"]["disabled"] is False
    actions = [a for (a,) in rows(db, "SELECT action FROM audit_log")]
    assert "user.disable" in actions and "user.enable" in actions


async def test_a_removed_user_loses_sessions_tokens_and_live_feed(console):
    client, app, _, auth, db = console
    store = app[CONSOLE].store
    viewer_token = await store.add_token(await store.user_by_name("viewer"), "viewer's script")
    async with another_browser(client) as viewer:
        await sign_in(viewer, "viewer", VIEWER_PASSWORD)
        ws = await viewer.ws_connect("/api/v1/live", headers={"Authorization": f"Bearer {viewer_token}"})
        response = await client.delete("/api/v1/users/viewer", headers=auth)
        assert response.status == 200, await response.text()
        await closed(ws)
        assert (await viewer.get("/api/v1/me")).status == 401
        assert (await viewer.get("/api/v1/me", headers={"Authorization": f"Bearer {viewer_token}"})).status == 401
    assert [u["name"] for u in await (await client.get("/api/v1/users", headers=auth)).json()] == ["boss"]
    assert rows(db, "SELECT count(*) FROM api_tokens WHERE user_id = 2") == [(0,)]
    assert (await client.delete("/api/v1/users/viewer", headers=auth)).status == 404


async def test_nobody_disables_or_removes_themselves_nor_the_last_supervisor(console):
    client, app, _, auth, db = console
    for request in (
        client.post("/api/v1/users/boss/disable", headers=auth),
        client.delete("/api/v1/users/boss", headers=auth),
    ):
        response = await request
        assert response.status == 409 and "yourself" in (await response.json())["error"]
    local = local_token(db)  # the service's own token for local tools is nobody's user
    for request in (
        client.post("/api/v1/users/boss/disable", headers=local),
        client.delete("/api/v1/users/boss", headers=local),
    ):
        response = await request
        assert response.status == 409 and "last supervisor" in (await response.json())["error"]
    await app[CONSOLE].store.add_user("boss2", "another supervisor", "supervisor")
    assert (await client.post("/api/v1/users/boss/disable", headers=local)).status == 200


async def test_viewers_cannot_manage_users_or_tokens(console):
    client, _, _, _, _ = console
    csrf = await login(client, "viewer", VIEWER_PASSWORD)
    h = {"X-CSRF-Token": csrf}
    for request in (
        client.post("/api/v1/users/boss/disable", headers=h),
        client.delete("/api/v1/users/boss", headers=h),
        client.put("/api/v1/users/boss/password", json={"password": "x" * 12}, headers=h),
        client.delete("/api/v1/tokens/1", headers=h),
        client.get("/api/v1/tokens"),
        client.get("/api/v1/users"),
    ):
        assert (await request).status == 403


# -- sign-out and tokens ----------------------------------------------------------------------------------


async def test_signing_out_closes_that_sessions_live_feed(console):
    client, _, _, _, _ = console
    csrf = await login(client)
    ws = await client.ws_connect("/api/v1/live")
    assert (await ws.receive(timeout=GUARD)).type is WSMsgType.TEXT
    assert (await client.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})).status == 200
    await closed(ws)


async def test_a_live_feed_closes_when_its_session_expires(console):
    client, app, _, _, _ = console
    await login(client)
    ws = await client.ws_connect("/api/v1/live")
    assert (await ws.receive(timeout=GUARD)).type is WSMsgType.TEXT
    # the session runs out (as if 12 hours had passed): its feed is closed by the hub's next round
    (feed,) = app[CONSOLE].hub.clients
    feed.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    message = await closed(ws)
    assert message.data == aiohttp.WSCloseCode.POLICY_VIOLATION and message.extra == "the session expired"


async def test_feeds_close_when_access_ends_outside_this_service(console):
    """The command line (or another instance) revokes a token and disables a user in the database:
    the hub's periodic check closes their feeds, and leaves the others open."""
    client, app, _, auth, _ = console
    store = app[CONSOLE].store
    await login(client)
    mine = await client.ws_connect("/api/v1/live")
    by_token = await client.ws_connect("/api/v1/live", headers=auth)
    async with another_browser(client) as viewer:
        await sign_in(viewer, "viewer", VIEWER_PASSWORD)
        theirs = await viewer.ws_connect("/api/v1/live")
        hub = app[CONSOLE].hub
        assert len(hub.clients) == 3
        assert await hub.recheck() == 0
        (token,) = await store.tokens()
        await store.revoke_token(token.id)
        await store.set_disabled(await store.user_by_name("viewer"), True)
        assert await hub.recheck() == 2
        await closed(by_token)
        await closed(theirs)
        assert len(hub.clients) == 1 and not mine.closed


async def test_the_sign_out_form_closes_the_live_feed_too(console):
    client, _, _, _, _ = console
    csrf = await login(client)
    ws = await client.ws_connect("/api/v1/live")
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    await closed(ws)


async def test_a_revoked_token_stops_working_and_its_live_feed_closes(console):
    client, _, _, auth, db = console
    response = await client.post("/api/v1/tokens", json={"label": "wallboard tv"}, headers=auth)
    assert response.status == 201
    made = await response.json()
    tv = {"Authorization": f"Bearer {made['token']}"}
    ws = await client.ws_connect("/api/v1/live", headers=tv)
    listed = await (await client.get("/api/v1/tokens", headers=auth)).json()
    assert made["token"] not in json.dumps(listed)
    token_id = next(t["id"] for t in listed if t["label"] == "wallboard tv")
    assert next(t for t in listed if t["id"] == token_id)["prefix"] == made["prefix"]
    response = await client.delete(f"/api/v1/tokens/{token_id}", headers=auth)
    assert response.status == 200 and (await response.json())["revoked"] is True
    await closed(ws)
    assert (await client.get("/api/v1/me", headers=tv)).status == 401
    assert (await client.get("/api/v1/me", headers=auth)).status == 200  # the others are untouched
    assert rows(db, "SELECT revoked FROM api_tokens WHERE id = ?".replace("?", str(token_id))) == [(1,)]
    assert (await client.delete("/api/v1/tokens/999", headers=auth)).status == 404
    assert (await client.delete("/api/v1/tokens/x", headers=auth)).status == 400


async def test_anyone_lists_and_revokes_their_own_tokens_and_only_theirs(console):
    """A viewer's token made on the server (hotline token add viewer) for a wallboard screen: the viewer sees it and
    revokes it themself; another's token is "no token" to them."""
    client, app, _, auth, db = console
    store = app[CONSOLE].store
    agent = await store.add_user("huda", "an agent's password", "agent", person="agent-ar-1")
    screen = await store.add_token(await store.user_by_name("viewer"), "lobby screen")
    await store.add_token(agent, "huda's script")
    screen_auth = {"Authorization": f"Bearer {screen}"}
    ws = await client.ws_connect("/api/v1/live", headers=screen_auth)
    bosses = await (await client.get("/api/v1/me/tokens", headers=auth)).json()
    assert [t["label"] for t in bosses] == ["automation"]
    csrf = await login(client, "viewer", VIEWER_PASSWORD)
    h = {"X-CSRF-Token": csrf}
    mine = await (await client.get("/api/v1/me/tokens")).json()
    assert [(t["user"], t["label"], t["revoked"]) for t in mine] == [("viewer", "lobby screen", False)]
    assert screen not in json.dumps(mine)
    answer = await client.delete(f"/api/v1/me/tokens/{bosses[0]['id']}", headers=h)
    assert answer.status == 404 and "of yours" in (await answer.json())["error"]
    assert (await client.delete(f"/api/v1/me/tokens/{mine[0]['id']}")).status == 403  # CSRF
    assert (await client.delete(f"/api/v1/tokens/{mine[0]['id']}", headers=h)).status == 403  # all tokens: supervisors
    answer = await client.delete(f"/api/v1/me/tokens/{mine[0]['id']}", headers=h)
    assert answer.status == 200 and (await answer.json())["revoked"] is True
    await closed(ws)
    assert (await client.get("/api/v1/wallboard", headers=screen_auth)).status == 401
    assert (await client.get("/api/v1/me/tokens", headers=auth)).status == 200  # boss's token untouched
    assert ("viewer", "token.revoke", "viewer") in rows(db, "SELECT actor, action, target FROM audit_log")
    # an agent's login (their desk only) reaches their own tokens too
    csrf = await login(client, "huda", "an agent's password")
    mine = await (await client.get("/api/v1/me/tokens")).json()
    assert [t["label"] for t in mine] == ["huda's script"]
    answer = await client.delete(f"/api/v1/me/tokens/{mine[0]['id']}", headers={"X-CSRF-Token": csrf})
    assert answer.status == 200


async def test_a_supervisor_may_not_mint_a_token_for_another_user(console):
    client, _, _, auth, db = console
    response = await client.post("/api/v1/tokens", json={"label": "sneaky", "user": "viewer"}, headers=auth)
    assert response.status == 403 and "yourself" in (await response.json())["error"]
    assert rows(db, "SELECT count(*) FROM api_tokens") == [(1,)]
    response = await client.post("/api/v1/tokens", json={"label": "mine", "user": "boss"}, headers=auth)
    assert response.status == 201 and (await response.json())["user"] == "boss"
    # the service's local token (the operator on the server) may, like `hotline token add USER`
    response = await client.post(
        "/api/v1/tokens", json={"label": "for viewer", "user": "viewer"}, headers=local_token(db)
    )
    assert response.status == 201 and (await response.json())["user"] == "viewer"


# -- a slow live client ------------------------------------------------------------------------------------


async def test_a_live_client_that_stops_reading_does_not_hold_up_the_others(console):
    client, app, _, _, _ = console
    await login(client)
    hub = app[CONSOLE].hub
    stuck = await client.ws_connect("/api/v1/live")  # never read: its buffers fill, then the socket's
    reader = await client.ws_connect("/api/v1/live")
    pad = "x" * 1_000_000  # big snapshots fill the buffers in a few pushes
    sent = 0

    async def push_and_read() -> None:
        nonlocal sent
        sent += 1
        await asyncio.wait_for(hub.broadcast({"seq": sent, "pad": pad}), GUARD)
        while True:  # the reader gets this push (the hub's own snapshots may come in between)
            message = await reader.receive(timeout=GUARD)
            assert message.type is WSMsgType.TEXT, message
            if json.loads(message.data).get("seq") == sent:
                return

    while len(hub.clients) == 2:
        assert sent < 300, "the client that stopped reading was never dropped"
        await push_and_read()
    assert sent > 1 and hub.dropped == 1
    for _ in range(3):  # and the pushes go on for the others
        await push_and_read()
    assert len(hub.clients) == 1
    await stuck.close()


# -- origin behind a proxy, headers --------------------------------------------------------------------------


async def test_behind_a_tls_proxy_the_configured_public_origin_is_accepted(console):
    client, app, _, _, _ = console
    app[SERVICE].public_origin = "https://hotline.example.org"
    response = await client.post(
        "/api/v1/session",
        json={"name": "boss", "password": BOSS_PASSWORD},
        headers={"Origin": "https://hotline.example.org"},
    )
    assert response.status == 200
    assert "Secure" in response.headers["Set-Cookie"]
    csrf = (await response.json())["csrf_token"]
    # the cookie is Secure, so the plain-http test client would not send it back: send it by hand
    cookie = response.cookies["hotline_console"].value
    h = {"X-CSRF-Token": csrf, "Cookie": f"hotline_console={cookie}"}
    response = await client.put(
        "/api/v1/queues/ar-general/seats", json={"seats": 3}, headers={**h, "Origin": "https://hotline.example.org"}
    )
    assert response.status == 200, await response.text()
    # once configured, it is the only origin: the request's own scheme and host no longer count
    own = str(client.make_url("")).rstrip("/")
    for origin in (own, "https://evil.example", "http://hotline.example.org"):
        response = await client.put(
            "/api/v1/queues/ar-general/seats", json={"seats": 3}, headers={**h, "Origin": origin}
        )
        assert response.status == 403, origin


async def test_security_headers_are_on_redirects_and_refusals_too(console):
    client, _, _, _, _ = console
    answers = [
        await client.get("/api/v1/wallboard"),  # 401
        await client.get("/", allow_redirects=False),  # 303 to /login
        await client.post("/login", data={"name": "boss", "password": BOSS_PASSWORD}, allow_redirects=False),
    ]
    assert [a.status for a in answers] == [401, 303, 303]
    for answer in answers:
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Cache-Control"] == "no-store"


HARDENED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_hardened(answer: aiohttp.ClientResponse, data: bool = True) -> None:
    where = f"{answer.method} {answer.url.path} ({answer.status})"
    csp = answer.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, where
    for name, value in HARDENED.items():
        assert answer.headers.get(name) == value, (where, name)
    if data:
        assert answer.headers.get("Cache-Control") == "no-store", where


async def test_every_answer_of_the_service_carries_the_security_headers(console):
    """Not only the console's own routes: an unknown address (404), a wrong method on a feature's page (405),
    a page that fails (500, no traceback), /health, static files and HEAD requests."""
    client, app, _, auth, _ = console
    anonymous = [
        await client.get("/no/such/page"),
        await client.get("/api/v1/no-such-operation"),
        await client.get("/health"),
        await client.get("/static/console/no-such-file.css"),
        await client.head("/login"),
        await client.post("/desk/live", allow_redirects=False),  # the desk's socket takes GET only
        await client.get("/desk", allow_redirects=False),  # to /login
    ]
    assert [a.status for a in anonymous] == [404, 401, 200, 404, 200, 405, 303]
    for answer in anonymous:
        assert_hardened(answer, data=not answer.url.path.startswith("/static/"))
    static = await client.get("/static/console/console.css")
    assert static.status == 200
    assert_hardened(static, data=False)  # no data in it: the browser may keep it
    await login(client)
    for answer in [await client.get("/no/such/page"), await client.put("/desk")]:
        assert answer.status in (404, 405)
        assert_hardened(answer)

    async def broken() -> dict[str, Any]:
        raise RuntimeError("the figures failed")

    app[CONSOLE].wallboard = broken  # type: ignore[method-assign]
    failed = await client.get("/")
    assert failed.status == 500 and "the figures failed" not in await failed.text()
    assert_hardened(failed)
    failed = await client.get("/api/v1/wallboard", headers=auth)
    assert failed.status == 500 and (await failed.json()) == {"error": "internal error (logged)"}
    assert_hardened(failed)


async def test_hsts_only_when_the_console_is_reached_over_https(console):
    client, app, _, _, _ = console
    assert "Strict-Transport-Security" not in (await client.get("/login")).headers
    app[SERVICE].public_origin = "https://hotline.example.org"
    for answer in (await client.get("/login"), await client.get("/nowhere")):
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"


# -- an agent's desk socket ends with their access ---------------------------------------------------------


async def desk_socket(client: TestClient, name: str) -> tuple[aiohttp.ClientSession, Any, str]:
    """A browser of ``name`` (an agent) with their desk's socket open, and its CSRF token."""
    browser = aiohttp.ClientSession(base_url=str(client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    csrf = await sign_in(browser, name, "an agent's password")
    ws = await browser.ws_connect("/desk/live")
    first = await ws.receive(timeout=GUARD)
    assert first.type is WSMsgType.TEXT and json.loads(first.data)["type"] == "state"
    return browser, ws, csrf


async def desk_closed(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """The desk's socket closes within a few seconds, long before the hub's 30-second check."""
    while True:
        message = await ws.receive(timeout=5.0)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return message


@pytest.mark.parametrize("how", ["disable", "remove", "password reset", "sign-out", "own password"])
async def test_an_agents_desk_socket_closes_at_once_when_their_access_ends(console, how):
    client, app, _, auth, _ = console
    store = app[CONSOLE].store
    await store.add_user("huda", "an agent's password", "agent", person="agent-ar-1")
    await store.add_user("reem", "an agent's password", "agent", person="agent-ar-2")
    browser, ws, csrf = await desk_socket(client, "huda")
    other_browser, other, _ = await desk_socket(client, "reem")
    try:
        h = {"X-CSRF-Token": csrf}
        if how == "disable":
            response = await client.post("/api/v1/users/huda/disable", headers=auth)
        elif how == "remove":
            response = await client.delete("/api/v1/users/huda", headers=auth)
        elif how == "password reset":
            response = await client.put("/api/v1/users/huda/password", json={"password": "reset by boss"}, headers=auth)
        elif how == "sign-out":
            response = await browser.delete("/api/v1/session", headers=h)
        else:  # their own password, from another browser: this one's session ends
            async with another_browser(client) as laptop:
                laptop_csrf = await sign_in(laptop, "huda", "an agent's password")
                response = await laptop.put(
                    "/api/v1/me/password",
                    json={"old_password": "an agent's password", "new_password": "a newer password"},
                    headers={"X-CSRF-Token": laptop_csrf},
                )
        assert response.status == 200, await response.text()
        message = await desk_closed(ws)
        assert message.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert not other.closed  # another agent's socket stays
        assert len(app[CONSOLE].hubs) == 2 and len(app[CONSOLE].hubs[1].clients) == 1
    finally:
        await browser.close()
        await other_browser.close()


async def test_a_revoked_token_is_refused_on_pages_and_the_api_alike(console):
    client, app, _, auth, db = console
    made = await (await client.post("/api/v1/tokens", json={"label": "kiosk"}, headers=auth)).json()
    kiosk = {"Authorization": f"Bearer {made['token']}"}
    assert (await client.get("/agents", headers=kiosk)).status == 200
    token_id = next(t.id for t in await app[CONSOLE].store.tokens() if t.label == "kiosk")
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=auth)).status == 200
    for path in ("/agents", "/", "/api/v1/wallboard", "/api/v1/live", "/desk"):
        answer = await client.get(path, headers=kiosk, allow_redirects=False)
        assert answer.status == 401, path
        assert (await answer.json())["error"] == "unknown or revoked API token"
        assert_hardened(answer)
    assert ("boss", "token.revoke", "boss") in rows(db, "SELECT actor, action, target FROM audit_log")


# -- the API's models and document ----------------------------------------------------------------------------


async def test_the_openapi_document_is_generated_from_the_models_and_lists_every_route(console):
    client, app, _, _, _ = console
    served = await (await client.get("/api/v1/openapi.json")).json()
    operations = app[CONSOLE].operations
    assert served == json.loads(json.dumps(document(operations))) and served["openapi"].startswith("3.1")
    schemas = served["components"]["schemas"]
    assert schemas["Seats"]["properties"]["seats"] == {
        "maximum": 10000,
        "minimum": 0,
        "title": "Seats",
        "type": "integer",
    }
    assert schemas["Seats"]["additionalProperties"] is False
    seats = served["paths"]["/api/v1/queues/{queue}/seats"]["put"]
    assert seats["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Seats"}
    assert seats["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SeatsOut"
    }
    assert {"bearer", "session", "csrf"} <= set(served["components"]["securitySchemes"])
    assert {"session": [], "csrf": []} in seats["security"]
    # every route of the API sub-app is in the document with its method, and nothing else is
    api = next(
        r._app for r in app.router.resources() if isinstance(r, PrefixedSubAppResource) and r.canonical == "/api/v1"
    )
    routes = {(r.method.lower(), r.resource.canonical): r.handler for r in api.router.routes() if r.method != "HEAD"}
    documented = {(method, path) for path, item in served["paths"].items() for method in item}
    assert set(routes) == documented
    # each route runs its operation's handler: the console's own and the features', bound to their services
    assert routes == {(op.method, "/api/v1" + op.path): op.handler for op in operations}
    assert {op.handler.__module__ for op in operations} == {
        "console.app",
        "routing.http",
        "callbacks.http",
        "cdr.http",
        "cases.http",
        "screening.http",
        "survey.http",
        "recording.http",
        "outbound.http",
        "outbound.manual_http",
    }


async def test_bodies_with_unknown_fields_or_wrong_types_are_refused_naming_the_field(console):
    client, _, _, auth, _ = console
    cases = [
        (
            client.put("/api/v1/queues/ar-general/seats", json={"seats": 3, "seat": 4}, headers=auth),
            "unknown field 'seat'",
        ),
        (client.put("/api/v1/queues/ar-general/seats", json={}, headers=auth), "seats must be a whole number"),
        (client.put("/api/v1/me/language", json={"language": 1}, headers=auth), "language must be one of"),
        (client.post("/api/v1/tokens", json={"label": 7}, headers=auth), "label must be a text"),
        (client.put("/api/v1/agents/agent-ar-1/skills", json={"topics": [1]}, headers=auth), "topics must be a list"),
    ]
    for request, message in cases:
        response = await request
        assert response.status == 400, await response.text()
        assert message in (await response.json())["error"]
