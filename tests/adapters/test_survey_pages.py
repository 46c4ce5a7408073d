"""The console's survey page through the whole service (fake AMI, real SQLite): satisfaction and response rate per
topic, per agent and per interval for one day, in English and in Arabic (right to left); viewers read it, an
agent's login is refused; a bad day is a 400 with a message; a hotline without a survey answers 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from support.app import ServiceApp, running_service

from console.app import CONSOLE
from profiles.model import load_profile
from survey.model import SurveyResponse

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
PROFILE = load_profile(PROFILES / "patient-services.yaml")
PASSWORD = "correct horse battery"
T0 = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)  # 10:00 in Muscat


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[ServiceApp]:
    async with running_service(tmp_path, profile=PROFILE) as running:
        store = running.app[CONSOLE].store
        await store.add_user("boss", PASSWORD, "supervisor", "en")
        await store.add_user("nadia", PASSWORD, "viewer", "ar")
        await store.add_user("desk", PASSWORD, "agent", "en", person="agent-ar-1")
        survey = running.service.survey
        answers = [("complaints", "agent-ar-1", 5, 0), ("complaints", "agent-ar-1", 4, 10),
                   ("complaints", "agent-ar-2", 1, 35), ("suggestions", "agent-ar-2", None, 40),
                   ("complaints", "agent-en-1", 5, 24 * 60)]  # fmt: skip
        for n, (topic, agent, first, minutes) in enumerate(answers):
            await survey.record(SurveyResponse(f"9.{n}", T0 + timedelta(minutes=minutes), topic, agent, "ar", first))
        yield running


async def login(client: TestClient, name: str) -> None:
    response = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
    assert response.status == 200, await response.text()


def row(text: str, table: str, key: str) -> str:
    part = text[text.index(f'id="survey-{table}"') :]
    part = part[part.index(f'data-key="{key}"') :]
    return part[: part.index("</tr>")]


async def test_a_supervisor_sees_satisfaction_per_topic_agent_and_half_hour(running: ServiceApp) -> None:
    await login(running.client, "boss")
    page = await running.client.get("/survey?day=2027-03-01")
    text = await page.text()
    assert page.status == 200, text
    assert "Caller satisfaction" in text and 'dir="ltr"' in text.split(">", 2)[1]
    complaints = row(text, "topic", "complaints")  # 5, 4, 1: two of three satisfied; the next day's not counted
    assert "reports and complaints" in complaints and ">3<" in complaints and "67%" in complaints
    suggestions = row(text, "topic", "suggestions")
    assert ">1<" in suggestions and ">0<" in suggestions and "0%" in suggestions  # asked, not answered: no score
    assert "100%" in row(text, "agent", "agent-ar-1") and "50%" in row(text, "agent", "agent-ar-2")
    start = int(T0.timestamp())
    assert "2027-03-01 10:00" in row(text, "interval", str(start)) and "100%" in row(text, "interval", str(start))
    assert "2027-03-01 10:30" in row(text, "interval", str(start + 1800))
    assert 'data-key="agent-en-1"' not in text
    assert "Satisfied (4-5)" in text


async def test_a_viewer_reads_it_in_arabic_right_to_left(running: ServiceApp) -> None:
    await login(running.client, "nadia")
    page = await running.client.get("/survey?day=2027-03-01&interval=60")
    text = await page.text()
    assert page.status == 200 and 'dir="rtl"' in text and 'lang="ar"' in text
    assert "رضا المتصلين" in text and "حسب الموضوع" in text and "حسب الساعة" in text and "نسبة الرضا" in text
    assert "للبلاغات والشكاوى" in row(text, "topic", "complaints")
    assert "عائشة (agent-ar-1)" in row(text, "agent", "agent-ar-1")


async def test_a_day_without_answers_says_so(running: ServiceApp) -> None:
    await login(running.client, "boss")
    text = await (await running.client.get("/survey?day=2030-01-01")).text()
    assert 'id="survey-none"' in text and "No survey in this period." in text


@pytest.mark.parametrize("query", ["day=yesterday", "day=2027-02-30", "interval=7", "interval=x"])
async def test_bad_input_is_a_400_with_a_message(running: ServiceApp, query: str) -> None:
    await login(running.client, "boss")
    page = await running.client.get(f"/survey?{query}")
    text = await page.text()
    assert page.status == 400 and 'id="survey-message"' in text and 'id="survey-topic"' not in text


async def test_an_agent_login_and_a_stranger_are_refused(running: ServiceApp) -> None:
    stranger = await running.client.get("/survey", allow_redirects=False)
    assert stranger.status in (302, 303, 401)
    await login(running.client, "desk")
    page = await running.client.get("/survey")
    assert page.status == 403 and 'id="survey-topic"' not in await page.text()


async def test_a_hotline_without_a_survey_answers_404(tmp_path: Path) -> None:
    async with running_service(tmp_path, profile=load_profile(PROFILES / "moh-151.yaml")) as running:
        await running.app[CONSOLE].store.add_user("boss", PASSWORD, "supervisor", "en")
        await login(running.client, "boss")
        page = await running.client.get("/survey")
        assert page.status == 404 and "This hotline has no survey." in await page.text()
        answer = await running.client.get("/api/v1/survey/figures")
        assert answer.status == 404 and (await answer.json())["error"] == "this hotline has no survey"


# -- the API: /api/v1/survey/figures ---------------------------------------------------------------------------


async def api(running: ServiceApp, query: str) -> tuple[int, object]:
    if not running.client.session.cookie_jar:
        await login(running.client, "nadia")  # a viewer
    response = await running.client.get(f"/api/v1/survey/figures?{query}")
    return response.status, await response.json()


async def test_the_api_gives_the_same_figures_to_a_viewer(running: ServiceApp) -> None:
    status, rows = await api(running, "by=topic&from=2027-03-01&to=2027-03-01&lang=en")
    assert status == 200, rows
    assert rows == [
        {"key": "complaints", "name": "reports and complaints", "asked": 3, "answered": 3, "satisfied": 2,
         "response_rate": 1.0, "satisfaction": pytest.approx(2 / 3)},
        {"key": "suggestions", "name": "suggestions", "asked": 1, "answered": 0, "satisfied": 0,
         "response_rate": 0.0, "satisfaction": None},
    ]  # fmt: skip
    status, rows = await api(running, "by=interval&from=2027-03-01T00:00:00Z&interval=60")
    assert status == 200 and [(r["key"], r["asked"]) for r in rows] == [  # type: ignore[index,union-attr]
        ("2027-03-01T06:00:00+00:00", 4), ("2027-03-02T06:00:00+00:00", 1)
    ]  # fmt: skip
    status, rows = await api(running, "by=agent")
    assert status == 200 and {r["key"] for r in rows} == {"agent-ar-1", "agent-ar-2", "agent-en-1"}  # type: ignore[index,union-attr]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("by=shift", "by must be one of topic, agent, interval"),
        ("interval=20", "interval must be 15, 30 or 60"),
        ("from=soon", "from must be a day YYYY-MM-DD or an ISO time"),
        ("from=2027-03-02&to=2027-03-01", "to must be after from"),
        ("lang=fr", "lang must be one of ar, en"),
        ("to=9999-12-31", "out of range"),
    ],
)
async def test_the_api_refuses_bad_input_clearly(running: ServiceApp, query: str, words: str) -> None:
    status, answer = await api(running, query)
    assert status == 400 and words in answer["error"], answer  # type: ignore[index]
