"""The survey route over our FastAGI server, against a fake Asterisk, with the real store on SQLite (the
patient-services profile: a 1-5 question, then a 1-2 one): answers stored on the call with its topic and agent;
a hang-up, silence or invalid keys after the retries are "no answer" (None), never a low score; a failing store
still ends the call politely (the dialplan plays thanks); the prompts plan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.fake_asterisk import FakeAsterisk, asterisk_parse_args, build_environment

from profiles.model import load_profile
from storage.engine import upgrade
from survey.agi import SurveyHandler, question_prompt, survey_prompt_plan, thanks_prompt
from survey.db import SurveyStore
from survey.model import SurveyResponse

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "patient-services.yaml")
SOUNDS = "/hotline/t/sounds"
SECRET = "survey-agi-test-secret-0123456789"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
LINKEDID = "1700000000.7"
HUNGUP = "200 result=-1"


def keyed(digit: str) -> str:
    return f"200 result={digit}" if digit else "200 result= (timeout)"


@dataclass
class Rig:
    handler: SurveyHandler
    store: SurveyStore
    port: int


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    from telephony.agi import AGIServer

    url = f"sqlite:///{tmp_path / 'survey.db'}"
    upgrade(url)
    store = SurveyStore(url)
    handler = SurveyHandler(PROFILE, store, SOUNDS, clock=lambda: T0)
    server = AGIServer("127.0.0.1", 0, secret=SECRET, call_deadline=5.0)
    server.add_route("survey", handler)
    await server.start()
    yield Rig(handler, store, server.port)
    await server.close()
    await store.close()


async def survey(rig: Rig, replies: list[str], args: list[str] | None = None) -> list[list[str]]:
    args = args if args is not None else ["ar", "complaints", LINKEDID, "agent-ar-1", "PJSIP/agent-ar-1"]
    env = build_environment(f"{SECRET}/survey", port=rig.port, args=args)
    fake = FakeAsterisk(port=rig.port, env=env, replies=replies)
    await fake.run(timeout=5.0)
    assert fake.closed_by_server
    return [[a.decode() for a in asterisk_parse_args(line.encode())] for line in fake.received]


def asked(commands: list[list[str]]) -> list[str]:
    assert all(c[:2] == ["GET", "DATA"] and c[4] == "1" for c in commands), commands  # one key per question
    return ["/".join(c[2].rsplit("/", 2)[-2:]) for c in commands]


async def test_both_answers_are_stored_on_the_call_with_its_topic_and_agent(rig: Rig) -> None:
    commands = await survey(rig, [keyed("4"), keyed("1")])
    assert asked(commands) == ["ar/survey-q-score", "ar/survey-q-solved"]
    assert commands[0][3] == str(PROFILE.survey.timeout_seconds * 1000)  # type: ignore[union-attr]
    assert await rig.store.of_call(LINKEDID) == SurveyResponse(LINKEDID, T0, "complaints", "agent-ar-1", "ar", 4, 1)


async def test_the_agent_comes_from_the_member_interface_without_a_member_name(rig: Rig) -> None:
    await survey(rig, [keyed("5"), keyed("2")], ["en", "suggestions", LINKEDID, "", "PJSIP/agent-en-1"])
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and (stored.agent, stored.language, stored.first, stored.second) == (
        "agent-en-1",
        "en",
        5,
        2,
    )


async def test_a_caller_who_hangs_up_is_no_answer_never_a_low_score(rig: Rig) -> None:
    commands = await survey(rig, [HUNGUP])
    assert asked(commands) == ["ar/survey-q-score"]
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and stored.first is None and stored.second is None


async def test_a_hang_up_at_the_second_question_keeps_the_first_answer(rig: Rig) -> None:
    await survey(rig, [keyed("3"), "HANGUP\n200 result=-1"])
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and (stored.first, stored.second) == (3, None)


async def test_nothing_keyed_is_no_answer_and_the_second_question_is_not_asked(rig: Rig) -> None:
    commands = await survey(rig, [keyed("")])
    assert asked(commands) == ["ar/survey-q-score"]
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and (stored.first, stored.second) == (None, None)


async def test_an_invalid_key_is_asked_again_then_is_no_answer_after_the_retries(rig: Rig) -> None:
    assert PROFILE.retries == 2
    commands = await survey(rig, [keyed("7"), keyed("0"), keyed("*")])
    assert asked(commands) == ["ar/survey-q-score", "ar/survey-q-score-again", "ar/survey-q-score-again"]
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and (stored.first, stored.second) == (None, None)


async def test_an_invalid_key_then_a_valid_one_is_that_answer(rig: Rig) -> None:
    commands = await survey(rig, [keyed("9"), keyed("2"), keyed("3"), keyed("2")])  # 3 is not 1..2 for "solved"
    assert asked(commands) == [
        "ar/survey-q-score", "ar/survey-q-score-again", "ar/survey-q-solved", "ar/survey-q-solved-again"
    ]  # fmt: skip
    stored = await rig.store.of_call(LINKEDID)
    assert stored is not None and (stored.first, stored.second) == (2, 2)


@pytest.mark.parametrize(
    "args",
    [
        ["ar", "health_education", LINKEDID, "agent-ar-1", ""],  # a topic without a survey
        ["ar", "nope", LINKEDID, "agent-ar-1", ""],
        ["ar", "complaints", "", "agent-ar-1", ""],  # no linkedid
        [],
    ],
)
async def test_bad_arguments_ask_nothing_and_store_nothing(rig: Rig, args: list[str]) -> None:
    assert await survey(rig, [], args) == []
    assert await rig.store.responses() == []


async def test_an_unknown_language_is_asked_in_the_default_one(rig: Rig) -> None:
    commands = await survey(rig, [keyed("5"), keyed("1")], ["xx", "complaints", LINKEDID, "agent-ar-1", ""])
    assert asked(commands)[0] == "ar/survey-q-score"


async def test_a_failing_store_ends_the_route_without_a_stuck_call(rig: Rig) -> None:
    class Broken:
        async def record(self, response: SurveyResponse) -> bool:
            raise RuntimeError("database down")

    rig.handler.store = Broken()
    commands = await survey(rig, [keyed("4"), keyed("1")])
    assert len(asked(commands)) == 2  # asked, then the connection closed: the dialplan plays thanks


def test_the_prompt_plan_has_every_question_again_and_thanks_in_every_language() -> None:
    plan = survey_prompt_plan(PROFILE)
    for code in ("ar", "en"):
        for question in ("score", "solved"):
            assert plan[question_prompt(code, question)][0].text is not None
            again = plan[question_prompt(code, question, again=True)]
            assert len(again) == 2 and again[1] == plan[question_prompt(code, question)][0]
        (thanks,) = plan[thanks_prompt(code)]
        assert thanks.voice == code and thanks.text is not None
    assert plan[thanks_prompt("en")][0].text == "Thank you for your answers. Goodbye."
    assert len(plan) == 2 * 5
    assert survey_prompt_plan(load_profile(Path(__file__).resolve().parents[2] / "profiles" / "moh-151.yaml")) == {}


async def test_past_its_time_budget_the_survey_stores_what_it_has_and_lets_the_call_end(rig: Rig) -> None:
    """A caller who keeps the line open without keying: the route stops within its budget (under the AGI call
    deadline), so the call is not cut by the server with nothing stored."""
    import asyncio

    class SlowSession:
        def __init__(self) -> None:
            self.args = ["ar", "complaints", LINKEDID, "agent-ar-1", ""]
            self.uniqueid = LINKEDID
            self.asked: list[str] = []

        async def get_data(self, prompt: str, timeout_ms: int, digits: int) -> str:
            self.asked.append(prompt)
            if len(self.asked) == 1:
                return "5"
            await asyncio.sleep(10)  # the second question: the caller never keys
            return ""

    handler = SurveyHandler(PROFILE, rig.store, SOUNDS, budget_seconds=0.3, clock=lambda: T0)
    session = SlowSession()
    await asyncio.wait_for(handler(session), 3)  # type: ignore[arg-type]
    assert len(session.asked) == 2
    assert await rig.store.of_call(LINKEDID) == SurveyResponse(LINKEDID, T0, "complaints", "agent-ar-1", "ar", 5, None)
