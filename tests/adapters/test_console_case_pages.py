"""The console's case pages (console/case_pages.py) in aiohttp's test client: the service as the root builds it,
with a 151 profile that keeps cases, a fake app_queue over real AMI, and a real SQLite database.

Cases are opened through the service's own ``CaseService`` (as the desk and the phone do); an overdue case is
one opened with the service's clock set days back."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiohttp.test_utils import TestClient
from support.app import ServiceApp, running_service

from cases.model import MAX_NOTE, Case
from cdr.builder import CallRecord, Outcome
from console import case_pages
from console.app import CONSOLE
from profiles.model import CASE_PROMPTS, CASE_STATUSES, Profile, parse_profile
from telephony.clock import utc_now

ROOT = Path(__file__).parents[2]
BOSS, BOSS_PASSWORD = "boss", "correct horse battery"
OTHER, OTHER_PASSWORD = "other-boss", "another horse battery"
VIEWER, VIEWER_PASSWORD = "viewer", "just looking 12345"
PROMPT_TEXT = {
    "follow_option": "To follow a report, press {key}.",
    "follow_status": "Your case is {status}, with {department}, since {date}.",
}


def cases_profile() -> Profile:
    """The 151 profile with two departments, two districts, and SLAs: complaints 48 h, the rest 72 h."""
    data = yaml.safe_load((ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["cases"] = {
        "departments": [
            {"id": "public_health", "label": {"ar": "الصحة العامة", "en": "public health"}},
            {"id": "technical", "label": {"ar": "الشؤون الفنية", "en": "technical affairs"}},
        ],
        "districts": [
            {"id": "hawalli", "key": "1", "label": {"ar": "حولي", "en": "Hawalli"}},
            {"id": "salmiya", "key": "2", "label": {"ar": "السالمية", "en": "Salmiya"}},
        ],
        "default_department": "technical",
        "follow_key": "9",
    }
    for name in CASE_PROMPTS:
        text = PROMPT_TEXT.get(name, f"{name}.")
        data["prompts"][name] = {"ar": text, "en": text}
    complaints = next(t for t in data["topics"] if t["id"] == "complaints")
    complaints.update(department="public_health", sla_hours=48)
    return parse_profile(data, source="cases-151.yaml")


PROFILE = cases_profile()


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    async with running_service(tmp_path, profile=PROFILE) as service:
        store = service.app[CONSOLE].store
        await store.add_user(BOSS, BOSS_PASSWORD, "supervisor")
        await store.add_user(OTHER, OTHER_PASSWORD, "supervisor")
        await store.add_user(VIEWER, VIEWER_PASSWORD, "viewer", "ar")
        yield service


async def login(client: TestClient, name: str = BOSS, password: str = BOSS_PASSWORD) -> str:
    response = await client.post("/api/v1/session", json={"name": name, "password": password})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def open_case(running: ServiceApp, *, days_ago: float = 0, **fields: Any) -> Case:
    """A case opened through the service, ``days_ago`` days back (its due time too)."""
    cases = running.service.cases
    values = {
        "category": "general",
        "description": "a broken lamp",
        "caller_number": "96550000001",
        "language": "en",
        "actor": "agent-ar-1",
        **fields,
    }
    if days_ago:
        then = utc_now() - timedelta(days=days_ago)
        cases.clock = lambda: then
    try:
        return await cases.open(**values)
    finally:
        cases.clock = utc_now


def listed(page: str) -> list[str]:
    """The case numbers of a list page's rows, in order."""
    return re.findall(r'<tr data-case="([0-9]{9})"', page)


def audit(db: Path, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(db) as conn:
        found = conn.execute("SELECT actor, target, details FROM audit_log WHERE action = ? ORDER BY id", (action,))
        return [(actor, target, json.loads(details)) for actor, target, details in found.fetchall()]


async def get_page(client: TestClient, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == status, (path, response.status, text[:2000])
    return text


async def post_form(client: TestClient, path: str, form: dict[str, Any], status: int = 303) -> tuple[Any, str]:
    response = await client.post(path, data={k: str(v) for k, v in form.items()}, allow_redirects=False)
    text = await response.text()
    assert response.status == status, (path, response.status, text[:3000])
    return response, text


# -- the list ------------------------------------------------------------------------------------------------


async def test_the_case_list_shows_each_case_and_filters_by_category_department_status_and_overdue(running):
    client = running.client
    late = await open_case(running, days_ago=4, category="complaints", district="hawalli")  # 48 h SLA: 2 days late
    fresh = await open_case(running, category="complaints", district="salmiya")
    other = await open_case(running, category="virus", description="a question")
    closed = await open_case(running, days_ago=10, category="general")
    await running.service.cases.change(closed.number, version=1, actor="x", status="closed", reason="fixed")
    await login(client)

    page = await get_page(client, "/cases")
    assert set(listed(page)) == {late.number, fresh.number, other.number, closed.number}
    assert listed(page)[0] == other.number  # newest first
    row = page[page.index(f'<tr data-case="{late.number}"') :].split("</tr>")[0]
    assert 'data-overdue="1"' in row and "Hawalli" in row and "public health" in row and ">open<" in row
    assert PROFILE.topic("complaints").label["en"] in row
    assert late.due_at.astimezone(ZoneInfo(PROFILE.timezone)).strftime("%Y-%m-%d %H:%M") in row
    assert "⚠ 2 d" in row  # late by two days (and some hours)
    closed_row = page[page.index(f'<tr data-case="{closed.number}"') :].split("</tr>")[0]
    assert "data-overdue" not in closed_row and ">closed<" in closed_row  # past due, but done
    assert 'id="nav-cases"' in page  # the header links to the cases

    assert set(listed(await get_page(client, "/cases?category=complaints"))) == {late.number, fresh.number}
    assert set(listed(await get_page(client, "/cases?department=technical"))) == {other.number, closed.number}
    assert listed(await get_page(client, "/cases?status=closed")) == [closed.number]
    assert listed(await get_page(client, "/cases?overdue=1")) == [late.number]
    assert listed(await get_page(client, "/cases?category=complaints&status=open&overdue=1")) == [late.number]
    assert listed(await get_page(client, "/cases?category=virus&overdue=1")) == []
    assert 'id="no-cases"' in await get_page(client, "/cases?category=virus&overdue=1")


async def test_the_list_pages_keep_their_filters(running, monkeypatch):
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 2)
    made = [await open_case(running, category="complaints") for _ in range(5)]
    await open_case(running, category="virus")
    await login(running.client)
    newest = [c.number for c in reversed(made)]
    first = await get_page(running.client, "/cases?category=complaints")
    assert listed(first) == newest[:2]
    assert 'href="/cases?category=complaints&amp;page=2"' in first and 'id="page-prev"' not in first
    second = await get_page(running.client, "/cases?category=complaints&page=2")
    assert listed(second) == newest[2:4]
    last = await get_page(running.client, "/cases?category=complaints&page=3")
    assert listed(last) == newest[4:] and 'id="page-next"' not in last


async def test_the_overdue_list_holds_only_late_cases_the_latest_first(running, monkeypatch):
    monkeypatch.setattr(case_pages, "PAGE_SIZE", 2)
    a_day = await open_case(running, days_ago=3, category="complaints")  # due 48 h after: 1 day late
    three_days = await open_case(running, days_ago=6, category="general")  # 72 h: 3 days late
    a_week = await open_case(running, days_ago=9, category="complaints")  # 7 days late
    await open_case(running, days_ago=1, category="complaints")  # not yet due
    done = await open_case(running, days_ago=20, category="general")
    await running.service.cases.change(done.number, version=1, actor="x", status="rejected", reason="a duplicate")
    await login(running.client)
    first = await get_page(running.client, "/cases/overdue")
    assert listed(first) == [a_week.number, three_days.number]
    assert "⚠ 7 d" in first and "Overdue cases" in first
    second = await get_page(running.client, "/cases/overdue?page=2")
    assert listed(second) == [a_day.number]
    assert listed(await get_page(running.client, "/cases/overdue?category=complaints")) == [a_week.number, a_day.number]


async def test_bad_filters_are_refused_clearly(running):
    await open_case(running)
    await login(running.client)
    for query, words in (
        ("category=nope", "category 'nope'"),
        ("department=%3Cscript%3E", "department '<script>'"),
        ("status=done", "status 'done'"),
        ("overdue=yes", "overdue 'yes'"),
        ("page=0", "whole number"),
        ("page=x", "whole number"),
    ):
        page = await get_page(running.client, f"/cases?{query}", status=400)
        message = re.search(r'<p id="case-message"[^>]*>(.*?)</p>', page)
        assert message is not None and words in message.group(1).replace("&#39;", "'").replace("&lt;", "<").replace(
            "&gt;", ">"
        ), (query, page[:1500])
        assert listed(page) == []
        assert "<script>" not in page.split("<main>")[1]  # escaped


# -- one case and its changes ------------------------------------------------------------------------------


async def test_the_case_page_shows_every_field_the_linked_calls_and_the_history(running):
    case = await open_case(
        running,
        category="complaints",
        district="hawalli",
        location="by the mosque",
        description="rubbish <b>not</b> collected",
        linkedid="1700000000.1",
    )
    started = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    await running.service.records.store.add(
        CallRecord(
            "1700000000.1",
            "96550000001",
            None,
            started,
            "en",
            "complaints",
            None,
            "en-complaints",
            12.0,
            Outcome.ANSWERED,
            "agent-en-1",
            95.0,
            16,
            "Normal Clearing",
            started + timedelta(seconds=110),
        )
    )
    await running.service.cases.link_call(case.number, "1700000099.7", "agent-ar-1")
    case = await running.service.cases.get(case.number)
    await login(running.client)
    page = await get_page(running.client, f"/cases/{case.number}")
    for text in (
        case.number,
        "Hawalli",
        "by the mosque",
        "96550000001",
        "public health",
        "agent-ar-1",
        "rubbish &lt;b&gt;not&lt;/b&gt; collected",
        f'data-version="{case.version}"',
        "1700000099.7",
        'data-action="created"',
        'data-action="call"',
    ):
        assert text in page, text
    calls = page[page.index('id="calls"') :].split("</table>")[0]
    first, second = calls.split('<tr data-call="')[1:]
    assert first.startswith("1700000000.1") and second.startswith("1700000099.7")
    local = started.astimezone(ZoneInfo(PROFILE.timezone)).strftime("%Y-%m-%d %H:%M")
    for text in (local, "en-complaints", "agent-en-1", "answered", ">95<"):
        assert text in first, text
    assert "no call record (yet)" in second
    assert 'id="status-form"' in page and 'id="department-form"' in page
    assert 'name="csrf_token"' in page


async def test_a_status_change_with_a_note_shows_in_the_history_and_the_audit_log(running):
    client = running.client
    case = await open_case(running, category="complaints")
    csrf = await login(client)
    form = {
        "csrf_token": csrf,
        "version": case.version,
        "status": "in_progress",
        "reason": "",
        "note": "the crew is on its way",
    }
    response, _ = await post_form(client, f"/cases/{case.number}/status", form)
    assert response.headers["Location"] == f"/cases/{case.number}?saved=1"
    page = await get_page(client, response.headers["Location"])
    assert "Saved." in page and 'data-status="in_progress"' in page
    history = page[page.index('id="history"') :]
    status_row = history[history.index('data-action="status"') :].split("</tr>")[0]
    assert "boss" in status_row and "open" in status_row and "in progress" in status_row
    assert "the crew is on its way" in history
    after = await running.service.cases.get(case.number)
    assert after.status == "in_progress" and after.version == case.version + 1
    entries = await running.service.cases.history(case.number)
    assert [(h.action, h.actor, h.old, h.new) for h in entries if h.action == "status"] == [
        ("status", "boss", "open", "in_progress")
    ]
    assert any(h.note == "the crew is on its way" for h in entries)
    assert audit(running.db_path, "case.status") == [
        (
            "boss",
            case.number,
            {
                "version": after.version,
                "old": "open",
                "new": "in_progress",
                "reason": None,
                "note": "the crew is on its way",
            },
        )
    ]

    # closing, with a reason
    form = {"csrf_token": csrf, "version": after.version, "status": "closed", "reason": "repaired", "note": ""}
    await post_form(client, f"/cases/{case.number}/status", form)
    closed = await running.service.cases.get(case.number)
    assert closed.status == "closed" and closed.reason == "repaired" and closed.closed_at is not None
    assert [d["new"] for _, _, d in audit(running.db_path, "case.status")] == ["in_progress", "closed"]


async def test_assigning_a_department_is_saved_in_the_history_and_audited(running):
    client = running.client
    case = await open_case(running, category="general")  # the default department: technical
    csrf = await login(client)
    form = {"csrf_token": csrf, "version": case.version, "department": "public_health", "note": "their area"}
    await post_form(client, f"/cases/{case.number}/department", form)
    after = await running.service.cases.get(case.number)
    assert after.department == "public_health" and after.version == case.version + 1
    page = await get_page(client, f"/cases/{case.number}")
    row = page[page.index('data-action="department"') :].split("</tr>")[0]
    assert "technical affairs" in row and "public health" in row
    assert audit(running.db_path, "case.department") == [
        (
            "boss",
            case.number,
            {"version": after.version, "old": "technical", "new": "public_health", "note": "their area"},
        )
    ]


async def test_a_stale_form_gets_409_with_the_current_state_and_overwrites_nothing(running):
    client = running.client
    case = await open_case(running, category="complaints")
    csrf = await login(client)
    # someone else moves the case on while our form is open (at version 1)
    other = await running.service.cases.change(
        case.number, version=case.version, actor=OTHER, status="rejected", reason="not ours"
    )
    form = {"csrf_token": csrf, "version": case.version, "status": "closed", "reason": "fixed", "note": "done"}
    _, page = await post_form(client, f"/cases/{case.number}/status", form, status=409)
    assert "Someone else changed this case meanwhile" in page and "version 2" in page
    assert 'data-status="rejected"' in page and "not ours" in page  # the current state is shown
    assert 'id="attempted"' in page and "closed" in page.split('id="attempted"')[1].split("</span>")[0]
    assert f'name="version" value="{other.version}"' in page  # the forms now carry the current version
    now = await running.service.cases.get(case.number)
    assert (now.status, now.reason, now.version) == ("rejected", "not ours", other.version)
    assert audit(running.db_path, "case.status") == []

    form = {"csrf_token": csrf, "version": case.version, "department": "technical", "note": ""}
    _, page = await post_form(client, f"/cases/{case.number}/department", form, status=409)
    assert (await running.service.cases.get(case.number)).department == "public_health"
    assert audit(running.db_path, "case.department") == []


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"status": "closed", "reason": ""}, "Closing or rejecting a case needs a reason."),
        ({"status": "rejected", "reason": "   "}, "Closing or rejecting a case needs a reason."),
        ({"status": "finished", "reason": "x"}, "Choose a status from the list."),
        ({"status": "in_progress", "note": "n" * (MAX_NOTE + 1)}, "The note is too long (at most 1000 characters)."),
        ({"status": "closed", "reason": "r" * 501}, "The reason is too long (at most 500 characters)."),
        ({"status": "in_progress", "version": "abc"}, "The form has no valid version"),
        ({"status": "open", "reason": "", "note": ""}, "nothing to change"),  # the service's own refusal
    ],
    ids=[
        "close-no-reason",
        "reject-blank-reason",
        "unknown-status",
        "long-note",
        "long-reason",
        "bad-version",
        "no-change",
    ],
)
async def test_bad_status_forms_are_refused_clearly_and_change_nothing(running, form, words):
    case = await open_case(running, category="complaints")
    csrf = await login(running.client)
    body = {"csrf_token": csrf, "version": case.version, "reason": "", "note": "", **form}
    _, page = await post_form(running.client, f"/cases/{case.number}/status", body, status=400)
    assert words in page.replace("&#39;", "'"), page[:3000]
    assert "Not saved:" in page and 'data-status="open"' in page
    assert await running.service.cases.get(case.number) == case
    assert [h.action for h in await running.service.cases.history(case.number)] == ["created"]
    assert audit(running.db_path, "case.status") == []


async def test_the_status_form_offers_the_moves_the_case_may_make_and_a_reopening_needs_a_reason(running):
    client = running.client
    case = await open_case(running, category="complaints")
    csrf = await login(client)

    def offered(page: str) -> list[str]:
        form = page[page.index('id="status-form"') :].split("</form>")[0]
        return re.findall(r'<option value="([a-z_]+)"', form)

    assert offered(await get_page(client, f"/cases/{case.number}")) == list(CASE_STATUSES)
    closed = await running.service.cases.change(case.number, version=1, actor="x", status="closed", reason="fixed")
    assert offered(await get_page(client, f"/cases/{case.number}")) == ["open", "closed"]
    body = {"csrf_token": csrf, "version": closed.version, "status": "open", "reason": "", "note": ""}
    _, page = await post_form(client, f"/cases/{case.number}/status", body, status=400)
    assert "reopening a case needs a reason" in page
    assert await running.service.cases.get(case.number) == closed
    body["reason"] = "the lamp is broken again"
    await post_form(client, f"/cases/{case.number}/status", body)
    reopened = await running.service.cases.get(case.number)
    assert (reopened.status, reopened.reason, reopened.closed_at) == ("open", "the lamp is broken again", None)


async def test_an_unknown_department_or_an_overlong_note_is_refused_and_changes_nothing(running):
    case = await open_case(running, category="complaints")
    csrf = await login(running.client)
    url = f"/cases/{case.number}/department"
    for department, note, words in (
        ("roads", "", "Unknown department: 'roads'. Choose one from the list."),
        ("", "", "Unknown department: ''"),
        ("technical", "n" * (MAX_NOTE + 1), "The note is too long"),
    ):
        body = {"csrf_token": csrf, "version": case.version, "department": department, "note": note}
        _, page = await post_form(running.client, url, body, status=400)
        assert words in page.replace("&#39;", "'"), page[:3000]
    assert await running.service.cases.get(case.number) == case
    assert audit(running.db_path, "case.department") == []


async def test_unknown_numbers_get_a_clear_404(running):
    case = await open_case(running)
    await login(running.client)
    wrong_check_digit = case.number[:-1] + str((int(case.number[-1]) + 1) % 10)
    for number in (wrong_check_digit, "12345", "abc"):
        page = await get_page(running.client, f"/cases/{number}", status=404)
        assert f"There is no case with the number {number}." in page
    csrf = await login(running.client)
    form = {"csrf_token": csrf, "version": 1, "status": "closed", "reason": "x"}
    await post_form(running.client, f"/cases/{wrong_check_digit}/status", form, status=404)


# -- who may do what ------------------------------------------------------------------------------------------


async def test_a_viewer_reads_the_pages_in_arabic_but_cannot_change_a_case(running):
    client = running.client
    case = await open_case(running, days_ago=5, category="complaints", district="hawalli")
    csrf = await login(client, VIEWER, VIEWER_PASSWORD)
    page = await get_page(client, "/cases")
    assert '<html lang="ar" dir="rtl">' in page and "البلاغات" in page and "حولي" in page and "متأخر" in page
    assert listed(page) == [case.number]
    page = await get_page(client, f"/cases/{case.number}")
    assert 'id="status-form"' not in page and 'id="department-form"' not in page
    assert "الصحة العامة" in page and "مفتوح" in page
    created = page[page.index('data-action="created"') :].split("</tr>")[0]
    assert '<span class="new">مفتوح</span>' in created  # the status a case opens with, in Arabic
    for path, form in (
        (f"/cases/{case.number}/status", {"status": "closed", "reason": "x"}),
        (f"/cases/{case.number}/department", {"department": "technical"}),
    ):
        response = await client.post(path, data={"csrf_token": csrf, "version": "1", **form}, allow_redirects=False)
        assert response.status == 403
        assert "viewer" in (await response.json())["error"]
    assert await running.service.cases.get(case.number) == case
    assert audit(running.db_path, "case.status") == audit(running.db_path, "case.department") == []


async def test_the_pages_need_a_signed_in_user_and_changes_need_the_csrf_token(running):
    client = running.client
    case = await open_case(running)
    for path in ("/cases", "/cases/overdue", f"/cases/{case.number}"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/login"
        assert "Content-Security-Policy" in response.headers
    response = await client.post(
        f"/cases/{case.number}/status", data={"version": "1", "status": "closed", "reason": "x"}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/login"
    await login(client)
    for token in ("", "wrong"):
        response = await client.post(
            f"/cases/{case.number}/status",
            data={"csrf_token": token, "version": "1", "status": "closed", "reason": "x"},
            allow_redirects=False,
        )
        assert response.status == 403 and "CSRF" in (await response.json())["error"]
    response = await client.post(
        f"/cases/{case.number}/status",
        data={"csrf_token": await login(client), "version": "1", "status": "closed", "reason": "x"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert await running.service.cases.get(case.number) == case
    page = await client.get("/cases")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"


async def test_without_cases_in_the_profile_the_pages_answer_404_and_the_header_has_no_link(tmp_path):
    async with running_service(tmp_path) as running:  # the shipped 151 profile keeps no cases
        assert running.service.cases is None
        await running.app[CONSOLE].store.add_user(BOSS, BOSS_PASSWORD, "supervisor")
        await login(running.client)
        for path in ("/cases", "/cases/overdue", "/cases/123456789"):
            page = await get_page(running.client, path, status=404)
            assert "This hotline keeps no cases: its profile has no cases section." in page
        assert 'href="/cases"' not in await get_page(running.client, "/")
