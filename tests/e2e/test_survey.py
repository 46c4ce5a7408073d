"""The post-call survey against a real Asterisk 22 with SIPp, on the patient-services profile (Arabic and English;
complaints with a 1-5 question, then a 1-2 one):

* after the agent hangs up, the caller stays on the line, is asked the first question, presses 4, then the second
  and presses 1; they hear thanks and Asterisk ends the call; the answers are stored on the call's record (its
  linkedid) with the agent who took it (the same as the record's);
* a caller who hangs up during the survey is "no answer" (None), never a low score;
* a caller served by nobody (hangs up in the queue) is not surveyed.

One Asterisk and one service for the module. The service runs with debug logging, so its AGI session log shows
which prompt each GET DATA asked for. The caller's keys are sent at fixed times (SIPp), so the survey's timeout is
long (20 s) and the agent talks a short, fixed time: the key lands inside the question's wait.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import PROJECT_ROOT, Rig, running_rig  # tests/e2e is on sys.path

from cdr.builder import Outcome
from survey.db import SurveyStore
from survey.model import SurveyResponse
from telephony.sipp.driver import AgentPhone, CallResult, place_call

pytestmark = pytest.mark.e2e

AGENT = "agent-ar-1"
ARABIC, COMPLAINTS = "1", "1"  # the language menu's key, then the topic's
TALK_SECONDS = 3.0
SURVEY_TIMEOUT = 20


def _short(target: Path) -> Path:
    """patient-services with short prompts (placeholders kept), open around the clock, short timeouts."""
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "patient-services.yaml").read_text(encoding="utf-8"))
    for prompt in data["prompts"].values():
        for code, text in list(prompt.items()):
            if isinstance(text, str):
                prompt[code] = " ".join(["نعم" if code == "ar" else "yes", *re.findall(r"\{[a-z_]+\}", text)])
    data["hotline"]["hours"] = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "open": "00:00",
                                 "close": "24:00"}]  # fmt: skip
    data["hotline"]["holidays"] = []
    data["ivr"].update(retries=1, digit_timeout_seconds=3)
    data["queues"].update(wrapup_seconds=1, announce_position_seconds=0)
    for question in data["survey"]["questions"]:
        question["text"] = {"ar": "قيم", "en": "rate"}
    data["survey"]["thanks"] = {"ar": "شكرا", "en": "thanks"}
    data["survey"]["timeout_seconds"] = SURVEY_TIMEOUT
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-survey")
    with running_rig(workdir, "e2e-survey", _short(workdir / "profile.yaml"), verbose=True) as rig:
        yield rig


@pytest_asyncio.fixture
async def agent(rig: Rig) -> AsyncIterator[AgentPhone]:
    phone = rig.phone(AGENT, talk_seconds=TALK_SECONDS)
    await phone.start()
    try:
        await phone.register()
        result = await phone.dial("*41")
        assert result.answered, result.error
        await rig.wait_for(lambda: _taking_calls(rig), timeout=15, what=f"{AGENT} to take calls")
        yield phone
    finally:
        try:
            await phone.dial("*42")
            await phone.unregister()
        finally:
            await phone.stop()


async def _taking_calls(rig: Rig) -> bool:
    return AGENT in (rig.health() or {}).get("taking_calls", [])


async def call(rig: Rig, caller: str, dtmf: list[tuple[float, str]], **kwargs: object) -> CallResult:
    return await place_call(
        "127.0.0.1",
        rig.sip_port,
        number="1444",
        caller_number=caller,
        dtmf=dtmf,
        workdir=rig.workdir / "callers",
        **kwargs,  # type: ignore[arg-type]
    )


def agi_lines(rig: Rig, uniqueid: str) -> list[str]:
    """The AGI commands the service sent on one channel (its debug log), in order."""
    text = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    return [line.split(">> ", 1)[1] for line in text.splitlines() if f"AGI {uniqueid} >> " in line]


async def survey_of(rig: Rig, linkedid: str, timeout: float = 10.0) -> SurveyResponse:
    store = SurveyStore(rig.db_url)
    try:
        found: SurveyResponse | None = await rig.wait_for(
            lambda: store.of_call(linkedid), timeout=timeout, what=f"the survey of {linkedid}"
        )
    finally:
        await store.close()
    assert found is not None
    return found


MENUS = [(1.0, ARABIC), (1.0, COMPLAINTS)]


async def test_after_the_agent_hangs_up_the_caller_presses_4_and_the_score_is_on_the_record(
    rig: Rig, agent: AgentPhone
) -> None:
    caller = "0551300001"
    # the agent answers about 3 s in and talks 3 s; the question then waits 20 s for a key: 4 at ~12 s, 1 at ~15 s
    result = await call(rig, caller, [*MENUS, (10.0, "4"), (3.0, "1")], max_duration=60)

    assert result.answered and result.remote_hung_up, result.error  # thanks, then Asterisk ended the call
    (answered,) = agent.answered_calls()
    assert answered.caller_number == caller and answered.ended_by == "local"  # the agent hung up first
    assert result.ended_at is not None and answered.ended_at is not None and result.ended_at > answered.ended_at + 2
    (record,) = await rig.records_of(caller)  # served once: not put back into a queue
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT and record.topic == "complaints"
    response = await survey_of(rig, record.linkedid)
    assert (response.first, response.second) == (4, 1)
    assert (response.topic, response.agent, response.language) == ("complaints", record.agent, "ar")
    asked = [line for line in agi_lines(rig, record.linkedid) if line.startswith("b'GET DATA")]
    assert any(f'/ar/survey-q-score" "{SURVEY_TIMEOUT * 1000}" "1"' in line for line in asked), asked
    assert any('/ar/survey-q-solved" ' in line for line in asked), asked


async def test_a_caller_who_hangs_up_during_the_survey_is_no_answer(rig: Rig, agent: AgentPhone) -> None:
    caller = "0551300002"
    # hangs up about 10 s in: after the agent (about 6 s), while the first question waits for a key
    result = await call(rig, caller, MENUS, hangup_after=8.0, max_duration=60)

    assert result.answered and not result.remote_hung_up, result.error  # the caller ended it
    (answered,) = agent.answered_calls()
    assert answered.caller_number == caller and answered.ended_by == "local"
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT
    response = await survey_of(rig, record.linkedid)
    assert response.first is None and response.second is None  # no answer, not a low score
    assert response.agent == AGENT


async def test_a_caller_nobody_served_is_not_surveyed(rig: Rig) -> None:
    caller = "0551300003"
    result = await call(rig, caller, MENUS, hangup_after=4.0, max_duration=30)  # nobody logged in: waits, leaves

    assert result.answered, result.error
    (record,) = await rig.records_of(caller)
    assert record.agent is None
    store = SurveyStore(rig.db_url)
    try:
        assert await store.of_call(record.linkedid) is None
    finally:
        await store.close()
    sent = agi_lines(rig, record.linkedid)
    assert sent and not any("/survey-q-" in line for line in sent)  # the IVR ran; no question was asked


async def test_when_the_answers_cannot_be_stored_the_call_still_ends_politely(rig: Rig, agent: AgentPhone) -> None:
    """The database loses its survey table during the call (it comes back afterwards): the caller answers, hears
    thanks (the dialplan's, after the route) and Asterisk ends the call; nothing is stuck, nothing is stored."""
    import sqlite3

    caller = "0551300004"
    database = rig.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        db.execute("ALTER TABLE survey_responses RENAME TO survey_away")
    try:
        result = await call(rig, caller, [*MENUS, (10.0, "4"), (3.0, "1")], max_duration=60)
    finally:
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE survey_away RENAME TO survey_responses")

    assert result.answered and result.remote_hung_up, result.error  # Asterisk ended it, the caller did not
    assert result.dtmf_sent == 4 and result.duration < 40  # not left waiting on a timeout
    (record,) = await rig.records_of(caller)
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT
    asked = [line for line in agi_lines(rig, record.linkedid) if line.startswith("b'GET DATA")]
    assert any('/ar/survey-q-solved" ' in line for line in asked), asked  # both asked before the store failed
    log = (rig.workdir / "service.log").read_text(encoding="utf-8", errors="replace")
    assert f"survey of {record.linkedid} could not be stored" in log
    store = SurveyStore(rig.db_url)
    try:
        assert await store.of_call(record.linkedid) is None
    finally:
        await store.close()
