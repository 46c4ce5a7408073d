"""The console's calendar page through the whole service (fake AMI, real SQLite): supervisors add and remove
special days, each change audited, and the IVR's calendar sees it at once; viewers read; bad input is a 400
with a message and changes nothing; an agent's login is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from multidict import MultiDict
from support.app import ServiceApp, running_service

from console.app import CONSOLE
from ivr.calendar_db import special_day
from profiles.model import load_profile

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
PROFILE = load_profile(PROFILES / "patient-services.yaml")
PASSWORD = "correct horse battery"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    async with running_service(tmp_path, profile=PROFILE) as running:
        store = running.app[CONSOLE].store
        await store.add_user("boss", PASSWORD, "supervisor", "en")
        await store.add_user("nadia", PASSWORD, "viewer", "ar")
        await store.add_user("desk", PASSWORD, "agent", "en", person="agent-ar-1")
        yield running


async def login(client: TestClient, name: str) -> str:
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()
    return str((await response.json())["csrf_token"])


async def post(client: TestClient, path: str, form: list[tuple[str, str]], status: int) -> str:
    response = await client.post(path, data=MultiDict(form), allow_redirects=False)
    text = await response.text()
    assert response.status == status, (path, response.status, text[:2000])
    return text


async def test_a_supervisor_adds_a_special_day_the_ivr_applies_it_at_once_and_the_change_is_audited(running) -> None:
    client, calendar = running.client, running.service.calendar
    csrf = await login(client, "boss")
    page = await client.get("/calendar")
    text = await page.text()
    assert page.status == 200 and 'id="no-days"' in text and "Renaissance Day" in text  # the profile's, read only
    form = [("csrf_token", csrf), ("date", "2027-01-05"), ("until", "2027-01-06"), ("name", "stocktaking"),
            ("hours", "10:00-12:00, 18:00-24:00"), ("topics", "complaints"), ("topics", "suggestions")]  # fmt: skip
    await post(client, "/calendar/add", form, 303)
    (stored,) = await calendar.listed()
    assert stored.created_by == "boss" and stored.day.name == "stocktaking"
    assert stored.day.topics == ("complaints", "suggestions") and stored.day.hours[1].close is None
    assert stored.day in await calendar.current()  # the IVR's list, at once
    text = await (await client.get("/calendar?saved=1")).text()
    assert f'data-id="{stored.id}"' in text and "10:00-12:00, 18:00-24:00" in text and "Saved." in text
    await post(client, "/calendar/remove", [("csrf_token", csrf), ("id", str(stored.id))], 303)
    assert await calendar.listed() == [] and stored.day not in await calendar.current()
    audit = await running.app[CONSOLE].store.audit_rows(10)
    actions = [(a["action"], a["target"], a["actor"]) for a in audit if a["action"].startswith("calendar.")]
    assert sorted(actions) == [
        ("calendar.add", f"special_day:{stored.id}", "boss"),
        ("calendar.remove", f"special_day:{stored.id}", "boss"),
    ]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ([("date", "2027-02-30")], "date"),
        ([("date", "2027-01-05"), ("until", "2027-01-01")], "until: must not be before date"),
        ([("date", "2027-01-05"), ("hours", "14:00-10:00")], "must be after open"),
        ([("date", "2027-01-05"), ("hours", "ten to two")], "HH:MM-HH:MM"),
        ([("date", "2027-01-05"), ("topics", "weather")], "is not a topic id"),
        ([("date", "")], "date"),
    ],
)
async def test_bad_special_days_are_refused_with_a_message_and_change_nothing(running, form, message) -> None:
    csrf = await login(running.client, "boss")
    text = await post(running.client, "/calendar/add", [("csrf_token", csrf), *form], 400)
    assert 'id="calendar-message"' in text and message in text
    assert await running.service.calendar.listed() == []


async def test_removing_an_unknown_day_is_refused(running) -> None:
    csrf = await login(running.client, "boss")
    for raw in ("999", "x", ""):
        text = await post(running.client, "/calendar/remove", [("csrf_token", csrf), ("id", raw)], 400)
        assert "no such special day" in text


async def test_a_viewer_reads_in_arabic_but_cannot_change_and_an_agent_is_refused(running) -> None:
    await running.service.calendar.add(special_day(PROFILE, "2027-01-05", name="جرد"), "boss")
    csrf = await login(running.client, "nadia")
    text = await (await running.client.get("/calendar")).text()
    assert "التقويم" in text and "جرد" in text and 'id="day-form"' not in text and "remove-day" not in text
    response = await running.client.post("/calendar/add", data={"csrf_token": csrf, "date": "2027-01-06"})
    assert response.status == 403 and len(await running.service.calendar.listed()) == 1
    agent = running.client
    await agent.post("/api/v1/session", json={"name": "desk", "password": PASSWORD})
    response = await agent.get("/calendar", allow_redirects=False)
    assert response.status in (303, 403)
