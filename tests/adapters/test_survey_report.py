"""``hotline survey report`` on a real database (SQLite and PostgreSQL): satisfaction and response rate per topic,
per agent and per half hour, in Arabic and English; bad input gets a clear error and exit code 2."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from hotline.cli import build_parser
from storage.engine import upgrade
from survey.db import SurveyStore
from survey.model import SurveyResponse

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "patient-services.yaml"
T0 = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)  # 10:00 in Muscat


def seed(url: str) -> None:
    upgrade(url)
    answers = [
        ("complaints", "agent-ar-1", 5, 0),
        ("complaints", "agent-ar-1", 4, 10),
        ("complaints", "agent-ar-2", 2, 35),
        ("suggestions", "agent-ar-2", None, 40),  # hung up: no answer
        ("complaints", "agent-en-1", 3, 24 * 60),  # the next day
    ]

    async def store_all() -> None:
        store = SurveyStore(url)
        try:
            for n, (topic, agent, first, minutes) in enumerate(answers):
                await store.record(SurveyResponse(f"1.{n}", T0 + timedelta(minutes=minutes), topic, agent, "ar", first))
        finally:
            await store.close()

    asyncio.run(store_all())


def run(url: str, *argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["survey", "report", "--db", url, "--profile", str(PROFILE), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, SimpleNamespace(db_url=url, profile_path=PROFILE), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_report_gives_satisfaction_and_response_rate_per_topic_agent_and_half_hour(db_url: str) -> None:
    seed(db_url)
    code, out, err = run(db_url, "--from", "2027-03-01", "--to", "2027-03-01", "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["topic"]["total"] == {
        "asked": 4, "answered": 3, "satisfied": 2, "response_rate": 0.75, "satisfaction": pytest.approx(2 / 3)
    }  # fmt: skip
    by_topic = {row["key"]: row for row in figures["topic"]["rows"]}
    assert by_topic["complaints"]["name"] == "للبلاغات والشكاوى" and by_topic["complaints"]["satisfied"] == 2
    assert by_topic["suggestions"]["answered"] == 0 and by_topic["suggestions"]["satisfaction"] is None
    by_agent = {row["key"]: row for row in figures["agent"]["rows"]}
    assert by_agent["agent-ar-1"]["satisfaction"] == 1.0 and by_agent["agent-ar-2"]["response_rate"] == 0.5
    assert by_agent["agent-ar-1"]["name"] == "عائشة (agent-ar-1)"
    assert [(row["name"], row["asked"]) for row in figures["interval"]["rows"]] == [
        ("2027-03-01 10:00", 2), ("2027-03-01 10:30", 2)
    ]  # fmt: skip


def test_the_text_report_in_english_and_arabic(db_url: str) -> None:
    seed(db_url)
    code, out, _ = run(db_url, "--lang", "en")
    assert code == 0
    assert "Per topic" in out and "Per agent" in out and "Per half hour" in out and "Satisfied (4-5)" in out
    complaints = next(line for line in out.splitlines() if line.startswith("reports and complaints"))
    assert complaints.split()[-5:] == ["4", "4", "100%", "2", "50%"]
    code, out, _ = run(db_url, "--lang", "ar", "--interval", "60")
    assert code == 0 and "رضا المتصلين" in out and "حسب الساعة" in out and "نسبة الرضا" in out


def test_an_empty_period_says_so(db_url: str) -> None:
    seed(db_url)
    code, out, _ = run(db_url, "--from", "2030-01-01", "--lang", "en")
    assert code == 0 and "No survey in this period." in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--from", "yesterday"], "--from must be a day YYYY-MM-DD or an ISO time"),
        (["--from", "2027-03-02", "--to", "2027-03-01"], "--to must be after --from"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, argv: list[str], words: str) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    code, out, err = run(url, *argv)
    assert code == 2 and words in err and out == ""


def test_a_profile_without_a_survey_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    args = build_parser().parse_args(
        ["survey", "report", "--db", url, "--profile", str(PROFILE.parent / "moh-151.yaml")]
    )
    err = io.StringIO()
    assert args.func(args, SimpleNamespace(db_url=url), io.StringIO(), err) == 2
    assert "this profile has no survey" in err.getvalue()
