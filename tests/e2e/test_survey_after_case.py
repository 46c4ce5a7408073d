"""The survey after the case read-back, against a real Asterisk 22 with SIPp (the municipal 940 profile, Arabic only,
with a survey added on the agent's topic): the agent opens a case during the call and hangs up; the caller hears
the case number read back, then the survey's question, presses 5, and the answer is on the call with its agent.

One Asterisk and one service for the module (a profile with cases: see test_cases_phone.py for the rig).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Rig, running_rig  # tests/e2e is on sys.path
from test_cases_phone import LINES, Events, _logged_in, _short, agi_lines, call

from cases.db import CaseStore
from cases.service import CaseService
from cdr.builder import Outcome
from profiles.model import load_profile
from survey.db import SurveyStore
from survey.model import SurveyResponse

pytestmark = pytest.mark.e2e

LINE = LINES[0]  # 940: the agent of roads_networks takes key 5
SURVEY_TIMEOUT = 30


def _with_survey(target: Path) -> Path:
    _short(LINE, target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["survey"] = {
        "questions": [{"id": "score", "max": 5, "text": {"ar": "قيم"}}],
        "thanks": {"ar": "شكرا"},
        "timeout_seconds": SURVEY_TIMEOUT,
    }
    for topic in data["topics"]:
        if topic["id"] == LINE.agent_topic:
            topic["survey"] = True
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-survey-case")
    with running_rig(workdir, "e2e-survey-case", _with_survey(workdir / "profile.yaml"), verbose=True) as rig:
        yield rig


async def test_the_survey_follows_the_case_read_back(rig: Rig) -> None:
    caller = "0551400001"
    profile = load_profile(rig.env["HOTLINE_PROFILE"])
    store = CaseStore(rig.db_url)
    cases = CaseService(profile, store)
    try:
        async with (
            _logged_in(rig, LINE.agent, talk_seconds=4.0) as agent,
            Events(rig, ["AgentConnect", "UserEvent"]) as events,
        ):
            # the agent hangs up ~5 s in, the read-back then lasts ~26 s (measured), the question waits 30 s: 5 at ~41 s
            dtmf = [(1.0, LINE.agent_key), (40.0, "5")]
            caller_call = asyncio.create_task(call(rig, caller, dtmf, max_duration=90))
            connected = await events.wait(
                lambda e: e.get("Event") == "AgentConnect" and e.get("CallerIDNum") == caller, 25, "agent connect"
            )
            case = await cases.open(
                category=LINE.agent_topic,
                description="حفرة في الطريق",
                caller_number=caller,
                language="ar",
                actor=LINE.agent,
                linkedid=connected["Linkedid"],
            )
            readback = await events.wait(
                lambda e: e.get("UserEvent") == "HotlineCaseReadback" and e.get("CallerIDNum") == caller,
                40,
                "read-back",
            )
            read_at = time.time()
            result = await caller_call
            answered = agent.answered_calls()
    finally:
        await store.close()

    assert readback["Case"] == case.number and readback["Status"] == "SUCCESS"
    assert result.answered and result.remote_hung_up and result.dtmf_sent == 2, result.error
    assert result.ended_at is not None and result.ended_at > read_at  # the survey came after the read-back
    assert [c.caller_number for c in answered] == [caller]
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == LINE.agent
    survey = SurveyStore(rig.db_url)
    try:
        response = await rig.wait_for(lambda: survey.of_call(record.linkedid), timeout=10, what="the survey")
    finally:
        await survey.close()
    assert response == SurveyResponse(record.linkedid, response.asked_at, LINE.agent_topic, LINE.agent, "ar", 5, None)
    sent = agi_lines(rig, record.linkedid)
    readback_at = next(i for i, line in enumerate(sent) if "HOTLINE_CASE_PROMPT=" in line)
    asked_at = next(i for i, line in enumerate(sent) if '/ar/survey-q-score" "30000" "1"' in line)
    assert readback_at < asked_at  # the read-back, then the survey
