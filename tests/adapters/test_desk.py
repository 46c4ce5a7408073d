"""The agent's desk (console/desk.py) in the service as the root builds it, over aiohttp's test server with a
real WebSocket client, a fake app_queue on a real AMI socket and SQLite, with the 940 profile (cases).

The screen pop: AMI events of a call reach the service, and the desk socket of the person it was connected
to gets the caller's number, language, topic and IVR path at once, then the number's earlier calls and open
cases; nobody else's socket gets it. From the desk the agent opens a case for the call, adds it to an open
case and chooses its wrap-up code, on their own calls only. An agent's login reaches nothing else.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from support.app import running_service

from cdr.builder import CallRecord, Outcome
from console.app import CONSOLE
from profiles.model import load_profile
from telephony.clock import utc_now

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "municipal-940.yaml")
PASSWORD = "correct horse battery"
CALLER = "0501234567"


@pytest.fixture
async def desk(tmp_path):
    async with running_service(tmp_path, profile=PROFILE) as running:
        store = running.app[CONSOLE].store
        await store.add_user("reem", PASSWORD, "agent", "en", person="agent-940-2")
        await store.add_user("saad", PASSWORD, "agent", "ar", person="agent-940-3")
        await store.add_user("boss", PASSWORD, "supervisor")
        await store.add_user("viewer", PASSWORD, "viewer")
        yield running


async def sign_in(running, name: str) -> tuple[Any, str]:
    """A client of its own (its own cookie jar) signed in as ``name``, and its CSRF token."""
    from aiohttp.test_utils import TestClient

    client = TestClient(running.client.server)
    await client.start_server()
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return client, (await response.json())["csrf_token"]


def call_started(linkedid: str, number: str, topic: str, person: str, t: float) -> list[dict[str, str]]:
    trunk = f"PJSIP/trunk-{linkedid[-4:]}"
    return [
        {"Event": "Newchannel", "Timestamp": f"{t:.6f}", "Channel": trunk, "CallerIDNum": number,
         "CallerIDName": "", "Context": "hotline-inbound", "Exten": PROFILE.number, "Uniqueid": linkedid,
         "Linkedid": linkedid},
        {"Event": "UserEvent", "UserEvent": "HotlineRoute", "Timestamp": f"{t + 4:.6f}", "Channel": trunk,
         "Uniqueid": linkedid, "Linkedid": linkedid, "Language": "ar", "Topic": topic, "Specialty": "",
         "Queue": f"ar-{topic}", "Result": "OK"},
        {"Event": "AgentConnect", "Timestamp": f"{t + 9:.6f}", "Channel": trunk, "Uniqueid": linkedid,
         "Linkedid": linkedid, "DestChannel": f"PJSIP/{person}-00000009", "DestUniqueid": f"{linkedid}9",
         "Queue": f"ar-{topic}", "MemberName": person, "Interface": f"PJSIP/{person}", "HoldTime": "5",
         "RingTime": "1"},
    ]  # fmt: skip


def call_ended(linkedid: str, topic: str, person: str, t: float) -> list[dict[str, str]]:
    return [
        {"Event": "AgentComplete", "Timestamp": f"{t:.6f}", "Uniqueid": linkedid, "Linkedid": linkedid,
         "Queue": f"ar-{topic}", "MemberName": person, "Interface": f"PJSIP/{person}", "HoldTime": "5",
         "TalkTime": "20", "Reason": "caller"},
        {"Event": "Hangup", "Timestamp": f"{t + 0.1:.6f}", "Channel": f"PJSIP/trunk-{linkedid[-4:]}",
         "Uniqueid": linkedid, "Linkedid": linkedid, "Cause": "16", "Cause-txt": "Normal Clearing"},
    ]  # fmt: skip


async def receive(ws, kind: str, timeout: float = 3.0) -> dict[str, Any]:
    """The next message of ``kind`` on the socket (others of the same call may come first)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        message = await ws.receive(timeout=max(left, 0.01))
        assert message.type is WSMsgType.TEXT, message
        data = json.loads(message.data)
        if data["type"] == kind:
            return data


async def test_the_screen_pop_reaches_the_persons_socket_at_once_and_the_agent_acts_on_the_call(desk):
    running = desk
    service = running.service
    earlier = CallRecord(
        "1769990000.1", CALLER, None, utc_now(), "ar", "parks", None, "ar-parks", 3.0, Outcome.ANSWERED,
        "agent-940-4", 50.0, 16, None, utc_now(), wrapup_code="info_given",
    )  # fmt: skip
    await service.records.store.add(earlier)
    open_case = await service.cases.open(category="parks", description="broken bench", caller_number=CALLER,
                                         language="ar", actor="boss", source="api")  # fmt: skip
    reem, reem_csrf = await sign_in(running, "reem")
    saad, _ = await sign_in(running, "saad")
    try:
        ws = await reem.ws_connect("/desk/live")
        other = await saad.ws_connect("/desk/live")
        assert (await receive(ws, "state"))["call"] is None
        assert (await receive(other, "state"))["call"] is None
        linkedid = "1770000000.1234"
        t = time.time()
        started = asyncio.get_running_loop().time()
        for event in call_started(linkedid, CALLER, "cleanliness", "agent-940-2", t):
            await running.app_queue.broadcast(event)
        pop = (await receive(ws, "call"))["call"]
        popped_in = asyncio.get_running_loop().time() - started
        assert popped_in < 1.0
        assert (pop["linkedid"], pop["caller_number"], pop["language"], pop["topic"]) == (
            linkedid, CALLER, "ar", "cleanliness")  # fmt: skip
        assert pop["topic_label"] == "النظافة العامة" and pop["path"] == ["Arabic", "النظافة العامة"]
        assert pop["routed"] is True and pop["ended"] is False
        assert [d["id"] for d in pop["dispositions"]] == ["case_opened", "added_to_case", "container_request",
                                                           "duplicate"]  # fmt: skip
        history = await receive(ws, "history")
        assert history["linkedid"] == linkedid
        assert [(c["linkedid"], c["wrapup_code"]) for c in history["calls"]] == [("1769990000.1", "info_given")]
        assert [(c["number"], c["status"]) for c in history["cases"]] == [(open_case.number, "open")]
        # the other agent's socket gets its own calls only: the first thing it hears is its own pop
        for event in call_started("1770000000.5678", "0559999999", "parks", "agent-940-3", t + 1):
            await running.app_queue.broadcast(event)
        theirs = (await receive(other, "call"))["call"]
        assert theirs["caller_number"] == "0559999999" and theirs["topic_label"] == "صيانة الحدائق والمرافق البلدية"

        headers = {"X-CSRF-Token": reem_csrf}
        made = await reem.post("/desk/case", json={"linkedid": linkedid, "description": "overflowing bins",
                                                   "district": PROFILE.cases.districts[0].id,
                                                   "location": "near the mosque"}, headers=headers)  # fmt: skip
        assert made.status == 201, await made.text()
        case = await service.cases.get((await made.json())["number"])
        assert (case.category, case.caller_number, case.language, case.source, case.created_by) == (
            "cleanliness", CALLER, "ar", "desk", "reem")  # fmt: skip
        assert case.linkedids == (linkedid,) and case.location == "near the mosque"
        linked = await reem.post("/desk/link", json={"linkedid": linkedid, "number": open_case.number},
                                 headers=headers)  # fmt: skip
        assert linked.status == 200 and linkedid in (await linked.json())["linkedids"]
        chosen = await reem.post("/desk/wrapup", json={"linkedid": linkedid, "code": "case_opened"}, headers=headers)
        assert chosen.status == 200 and (await chosen.json())["code"] == "case_opened"
        assert (await receive(ws, "call"))["call"]["wrapup_code"] == "case_opened"

        # bad input and other people's calls: a clear refusal, nothing changed
        refusals = [
            ("/desk/wrapup", {"linkedid": linkedid, "code": "spraying_scheduled"}, 400, "not a wrap-up code"),
            ("/desk/wrapup", {"linkedid": "1770000000.5678", "code": "info_given"}, 403, "not one of agent-940-2"),
            ("/desk/case", {"linkedid": "1770000000.5678", "description": "x"}, 403, "not one of agent-940-2"),
            ("/desk/case", {"linkedid": linkedid, "description": "x" * 2001}, 400, "description"),
            ("/desk/case", {"linkedid": linkedid, "description": "x", "category": "pets"}, 400, "pets"),
            ("/desk/case", {"linkedid": linkedid}, 400, "description is required"),
            ("/desk/link", {"linkedid": linkedid, "number": "123456789"}, 404, ""),
            ("/desk/wrapup", {"linkedid": linkedid, "code": "case_opened", "extra": 1}, 400, "unknown field"),
        ]
        for path, body, status, text in refusals:
            response = await reem.post(path, json=body, headers=headers)
            assert response.status == status, (path, body, await response.text())
            assert text in (await response.json())["error"]
        assert (await reem.post("/desk/wrapup", json={"linkedid": linkedid, "code": "duplicate"})).status == 403
        assert len(await service.cases.list(caller_number=CALLER)) == 2

        for event in call_ended(linkedid, "cleanliness", "agent-940-2", t + 40):
            await running.app_queue.broadcast(event)
        assert (await receive(ws, "call"))["call"]["ended"] is True
        await running.ami.wait_until(lambda: service.builder.in_progress(linkedid) is None)
        await service.records.drained()
        record = await service.records.store.get(linkedid)
        assert record is not None and record.agent == "agent-940-2" and record.wrapup_code == "case_opened"
        audit = {(a["actor"], a["action"]) for a in await running.app[CONSOLE].store.audit_rows()}
        assert {("reem", "case.open"), ("reem", "case.link_call"), ("reem", "call.wrapup")} <= audit
        await ws.close()
        await other.close()
    finally:
        await reem.close()
        await saad.close()


async def test_an_agents_login_reaches_their_desk_only(desk):
    running = desk
    reem, csrf = await sign_in(running, "reem")
    viewer, viewer_csrf = await sign_in(running, "viewer")
    try:
        home = await reem.get("/", allow_redirects=False)
        assert home.status == 303 and home.headers["Location"] == "/desk"
        page = await reem.get("/desk")
        text = await page.text()
        assert page.status == 200 and 'id="pop"' in text and "agent-940-2" in text
        assert "/agents" not in text and "/api/v1/live" not in text
        for path in ("/agents", "/queues", "/callbacks", "/reports", "/cases", "/api/v1/wallboard",
                     "/api/v1/agents", "/api/v1/users", "/api/v1/audit", "/api/v1/cases"):  # fmt: skip
            response = await reem.get(path, allow_redirects=False)
            assert response.status == 403, (path, response.status)
        assert (await reem.get("/api/v1/live", headers={"Upgrade": "websocket"})).status == 403
        headers = {"X-CSRF-Token": csrf}
        assert (await reem.post("/api/v1/agents/agent-940-2/login", headers=headers)).status == 403
        assert (await reem.post("/api/v1/users", json={}, headers=headers)).status == 403
        assert (await reem.get("/api/v1/me")).status == 200
        assert (await reem.put("/api/v1/me/language", json={"language": "ar"}, headers=headers)).status == 200
        assert 'dir="rtl"' in await (await reem.get("/desk")).text()
        # the desk is an agent's: a viewer's (or supervisor's) login gets a refusal, and cannot act through it
        refused = await viewer.get("/desk")
        assert refused.status == 403 and "agent" in await refused.text()
        body = {"linkedid": "1.1", "code": "case_opened"}
        response = await viewer.post("/desk/wrapup", json=body, headers={"X-CSRF-Token": viewer_csrf})
        assert response.status == 403
        assert (await viewer.get("/desk/live", headers={"Upgrade": "websocket"})).status == 403
        # signed out: back to the login page
        await reem.post("/logout", data={"csrf_token": csrf})
        assert (await reem.get("/desk", allow_redirects=False)).headers["Location"] == "/login"
    finally:
        await reem.close()
        await viewer.close()


async def test_a_desk_socket_closes_when_its_session_ends(desk):
    running = desk
    reem, csrf = await sign_in(running, "reem")
    try:
        ws = await reem.ws_connect("/desk/live")
        await receive(ws, "state")
        await reem.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
        # at once, not at the hub's next check of the sessions
        message = await ws.receive(timeout=3)
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
        from console.desk import DESK

        assert not running.app[DESK].hub.clients and await running.app[DESK].hub.recheck() == 0
    finally:
        await reem.close()
