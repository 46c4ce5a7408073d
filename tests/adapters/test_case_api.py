"""Cases' REST API under /api/v1, through the whole service as the root builds it (the console's sign-in,
roles, CSRF and audit), on SQLite and PostgreSQL: bad input 400, a stale change 409, the roles, the
OpenAPI document, and a hotline that keeps no cases (404)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.app import ServiceApp, running_service

from cases.model import check_digit, valid_number
from console.app import CONSOLE
from profiles.model import load_profile

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "municipal-940.yaml")
UNKNOWN = "12345678" + check_digit("12345678")
NEW = {
    "category": "cleanliness",
    "description": "حاوية النفايات ممتلئة",
    "language": "ar",
    "caller_number": "0551234567",
}


@pytest.fixture
async def api(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[ServiceApp, dict[str, dict[str, str]]]]:
    async with running_service(tmp_path, profile=PROFILE, db_url=db_url) as running:
        store = running.app[CONSOLE].store
        auth = {}
        for name, role, extra in (("boss", "supervisor", {}), ("watcher", "viewer", {}),
                                  ("reem", "agent", {"person": "agent-940-2"})):  # fmt: skip
            user = await store.add_user(name, "correct horse battery", role, **extra)
            auth[role] = {"Authorization": f"Bearer {await store.add_token(user, 'tests')}"}
        yield running, auth


async def send(running: ServiceApp, method: str, path: str, who: dict[str, str], body: Any = None) -> tuple[int, Any]:
    response = await running.client.request(method, "/api/v1" + path, headers=who, json=body)
    return response.status, await response.json()


async def test_a_supervisor_opens_reads_lists_and_changes_a_case_and_every_change_is_audited(api):
    running, auth = api
    boss = auth["supervisor"]
    status, opened = await send(running, "POST", "/cases", boss, {**NEW, "district": "al_shati", "linkedid": "17.1"})
    assert status == 201, opened
    number = opened["number"]
    assert valid_number(number) and len(opened["pin"]) == 4 and opened["department"] == "cleaning"
    assert opened["created_by"] == "boss" and opened["source"] == "api" and opened["calls"] == ["17.1"]
    status, listed = await send(running, "GET", "/cases?category=cleanliness&status=open&overdue=false", boss)
    assert status == 200 and [c["number"] for c in listed] == [number] and "pin" not in listed[0]
    assert (await send(running, "GET", "/cases?overdue=true", boss))[1] == []
    change = {"version": 1, "status": "assigned", "department": "roads", "note": "roads"}
    status, changed = await send(running, "PATCH", f"/cases/{number}", boss, change)
    assert status == 200 and changed["version"] == 2 and changed["department"] == "roads"
    status, linked = await send(running, "POST", f"/cases/{number}/calls", boss, {"linkedid": "17.2"})
    assert status == 200 and linked["calls"] == ["17.1", "17.2"]
    status, detail = await send(running, "GET", f"/cases/{number}", boss)
    assert status == 200 and detail["status"] == "assigned"
    assert [(h["action"], h["actor"]) for h in detail["history"]] == [
        ("created", "boss"), ("status", "boss"), ("department", "boss"), ("note", "boss"), ("call", "boss")
    ]  # fmt: skip
    audit = await running.app[CONSOLE].store.audit_rows()
    assert [(a["action"], a["target"], a["actor"]) for a in reversed(audit) if a["action"].startswith("case.")] == [
        ("case.open", number, "boss"), ("case.change", number, "boss"), ("case.link_call", number, "boss")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**NEW, "category": "weather"}, "'weather' is not a category"),
        ({**NEW, "description": "x" * 2001}, "description is 2001 characters long (at most 2000)"),
        ({**NEW, "description": "   "}, "description must not be empty"),
        ({**NEW, "district": "riyadh"}, "'riyadh' is not a district"),
        ({**NEW, "department": "police"}, "'police' is not a department"),
        ({**NEW, "location": "y" * 201}, "location is 201 characters long (at most 200)"),
        ({**NEW, "language": "en"}, "'en' is not a language"),
        ({**NEW, "colour": "red"}, "unknown field 'colour'"),
        ({k: v for k, v in NEW.items() if k != "category"}, "category must be a topic id of the profile"),
        ({**NEW, "description": 7}, "description must be a text"),
    ],
)
async def test_bad_input_to_open_a_case_gets_400_naming_the_problem_and_stores_nothing(api, body, words):
    running, auth = api
    status, answer = await send(running, "POST", "/cases", auth["supervisor"], body)
    assert status == 400 and words in answer["error"], answer
    assert (await send(running, "GET", "/cases", auth["supervisor"]))[1] == []


async def test_bad_changes_get_400_and_unknown_cases_404(api):
    running, auth = api
    boss = auth["supervisor"]
    number = (await send(running, "POST", "/cases", boss, NEW))[1]["number"]
    for body, words in [
        ({"version": 1, "status": "done"}, "'done' is not a status"),
        ({"version": 1, "status": "closed"}, "closing a case needs a reason"),
        ({"version": 1}, "nothing to change"),
        ({"status": "assigned"}, "version must be the whole number of the version you have seen"),
        ({"version": "1", "status": "assigned"}, "version must be the whole number"),
        ({"version": 1, "department": "police"}, "'police' is not a department"),
    ]:
        status, answer = await send(running, "PATCH", f"/cases/{number}", boss, body)
        assert status == 400 and words in answer["error"], (body, answer)
    typo = number[:-1] + str((int(number[-1]) + 1) % 10)
    status, answer = await send(running, "GET", f"/cases/{typo}", boss)
    assert status == 400 and "not a case number" in answer["error"]
    assert (await send(running, "GET", f"/cases/{UNKNOWN}", boss)) == (404, {"error": f"no case {UNKNOWN}"})
    assert (await send(running, "PATCH", f"/cases/{UNKNOWN}", boss, {"version": 1, "note": "n"}))[0] == 404
    assert (await send(running, "POST", f"/cases/{UNKNOWN}/calls", boss, {"linkedid": "1.1"}))[0] == 404
    for query, words in [
        ("status=done", "'done' is not a status"),
        ("overdue=yes", "overdue must be true or false"),
        ("limit=0", "limit must be"),
        ("category=weather", "'weather' is not a category"),
    ]:
        status, answer = await send(running, "GET", f"/cases?{query}", boss)
        assert status == 400 and words in answer["error"], (query, answer)
    assert (await send(running, "GET", f"/cases/{number}", boss))[1]["version"] == 1  # nothing changed


async def test_two_changes_against_the_same_version_one_wins_the_other_gets_409_with_the_current_case(api):
    running, auth = api
    boss = auth["supervisor"]
    number = (await send(running, "POST", "/cases", boss, NEW))[1]["number"]
    results = await asyncio.gather(
        send(running, "PATCH", f"/cases/{number}", boss, {"version": 1, "status": "in_progress"}),
        send(running, "PATCH", f"/cases/{number}", boss, {"version": 1, "status": "rejected", "reason": "duplicate"}),
    )
    assert sorted(status for status, _ in results) == [200, 409], results
    (won,) = [answer for status, answer in results if status == 200]
    (lost,) = [answer for status, answer in results if status == 409]
    assert lost["current"]["version"] == 2 and lost["current"]["status"] == won["status"]
    assert "has changed since version 1 (it is at version 2)" in lost["error"]
    status, stale = await send(running, "PATCH", f"/cases/{number}", boss, {"version": 1, "note": "late"})
    current = (await send(running, "GET", f"/cases/{number}", boss))[1]
    assert status == 409 and stale["current"] == {k: v for k, v in current.items() if k != "history"}
    history = (await send(running, "GET", f"/cases/{number}", boss))[1]["history"]
    assert [h["action"] for h in history] == ["created", "status"]  # the losers changed nothing


async def test_viewers_read_and_supervisors_change(api):
    running, auth = api
    viewer, boss = auth["viewer"], auth["supervisor"]
    status, answer = await send(running, "POST", "/cases", viewer, NEW)
    assert status == 403 and answer == {"error": "your role (viewer) cannot change this"}
    number = (await send(running, "POST", "/cases", boss, NEW))[1]["number"]
    assert (await send(running, "GET", f"/cases/{number}", viewer))[0] == 200
    assert (await send(running, "GET", "/cases", viewer))[0] == 200
    assert (await send(running, "PATCH", f"/cases/{number}", viewer, {"version": 1, "note": "n"}))[0] == 403
    assert (await send(running, "POST", f"/cases/{number}/calls", viewer, {"linkedid": "1.1"}))[0] == 403
    detail = (await send(running, "GET", f"/cases/{number}", boss))[1]
    assert detail["version"] == 1 and detail["calls"] == [] and len(detail["history"]) == 1
    case_roles = {key: roles for key, roles in running.app[CONSOLE].roles.items() if key[1].startswith("/api/v1/cases")}
    assert case_roles == {("POST", "/api/v1/cases"): {"agent"},
                          ("POST", "/api/v1/cases/{number}/calls"): {"agent"}}  # fmt: skip


async def test_agents_open_cases_and_link_calls_but_change_nothing_else(api):
    running, auth = api
    agent, boss = auth["agent"], auth["supervisor"]
    number = (await send(running, "POST", "/cases", boss, NEW))[1]["number"]
    status, opened = await send(running, "POST", "/cases", agent, NEW)
    assert status == 201 and opened["created_by"] == "reem", opened
    status, linked = await send(running, "POST", f"/cases/{number}/calls", agent, {"linkedid": "1.2"})
    assert status == 200 and linked["calls"] == ["1.2"], linked
    change = {"version": 1, "status": "closed", "reason": "done"}
    assert (await send(running, "PATCH", f"/cases/{number}", agent, change))[0] == 403
    assert (await send(running, "GET", f"/cases/{number}", boss))[1]["status"] == "open"


async def test_the_case_operations_are_in_the_openapi_document(api):
    running, auth = api
    status, document = await send(running, "GET", "/openapi.json", auth["viewer"])
    assert status == 200
    paths = document["paths"]
    assert set(paths["/api/v1/cases"]) == {"get", "post"}
    assert set(paths["/api/v1/cases/{number}"]) == {"get", "patch"}
    conflict = paths["/api/v1/cases/{number}"]["patch"]["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CaseConflict"}
    assert document["components"]["schemas"]["CaseConflict"]["properties"]["current"] == {
        "$ref": "#/components/schemas/CaseOut"
    }
    assert {"CaseNew", "CaseChange", "CallLink", "CaseOut", "CaseDetail", "CaseOpened"} <= set(
        document["components"]["schemas"]
    )


async def test_a_hotline_without_cases_answers_404_on_every_case_operation(tmp_path):
    async with running_service(tmp_path) as running:  # moh-151: no cases section
        assert running.service.cases is None
        store = running.app[CONSOLE].store
        boss = await store.add_user("boss", "correct horse battery", "supervisor")
        who = {"Authorization": f"Bearer {await store.add_token(boss, 'tests')}"}
        for method, path, body in [("GET", "/cases", None), ("POST", "/cases", NEW), ("GET", f"/cases/{UNKNOWN}", None),
                                   ("PATCH", f"/cases/{UNKNOWN}", {"version": 1}),
                                   ("POST", f"/cases/{UNKNOWN}/calls", {"linkedid": "1.1"})]:  # fmt: skip
            assert await send(running, method, path, who, body) == (404, {"error": "this hotline keeps no cases"})
