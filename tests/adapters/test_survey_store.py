"""Survey responses on real databases (SQLite file and PostgreSQL): stored once per call, "no answer" kept as
None, and the SQL figures (per topic, agent, interval) equal to the pure reference."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from storage.engine import upgrade
from survey.db import SurveyStore
from survey.model import DIMENSIONS, Figures, SurveyResponse, figures

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SurveyStore]:
    upgrade(db_url)
    store = SurveyStore(db_url)
    yield store
    await store.close()


async def test_a_response_is_stored_once_per_call_and_no_answer_stays_none(store: SurveyStore) -> None:
    answered = SurveyResponse("1700.1", T0, "complaints", "agent-1", "ar", 4, 2)
    silent = SurveyResponse("1700.2", T0, "complaints", "agent-1", "en", None, None)
    assert await store.record(answered) and await store.record(silent)
    assert not await store.record(SurveyResponse("1700.1", T0, "complaints", "agent-1", "ar", 1, 1))  # kept
    assert await store.of_call("1700.1") == answered
    assert await store.of_call("1700.2") == silent
    assert await store.of_call("nope") is None
    assert [x.linkedid for x in await store.responses(T0, T0 + timedelta(seconds=1))] == ["1700.1", "1700.2"]
    assert await store.responses(T0 + timedelta(seconds=1)) == []


@pytest.mark.parametrize("max_score", [5, 2])
async def test_the_sql_figures_equal_the_pure_reference(store: SurveyStore, max_score: int) -> None:
    rng = random.Random(13)
    responses = []
    for n in range(120):
        first = rng.choice([None, *range(1, max_score + 1)])
        responses.append(
            SurveyResponse(
                f"1800.{n}",
                T0 + timedelta(minutes=rng.uniform(-200, 400), microseconds=rng.randrange(10**6)),
                rng.choice(["complaints", "suggestions", None]),
                rng.choice(["agent-1", "agent-2", "وكيل", None]),
                "ar",
                first,
                rng.choice([None, 1, 2]),
            )
        )
    for response in responses:
        await store.record(response)
    for by in DIMENSIONS:
        for minutes in (15, 30, 60):
            assert await store.figures(max_score, by, minutes) == figures(responses, max_score, by, minutes), by
    start, end = T0, T0 + timedelta(hours=2)
    inside = [x for x in responses if start <= x.asked_at < end]
    assert await store.figures(max_score, "topic", 30, start, end) == figures(inside, max_score, "topic")
    assert await store.figures(max_score, "agent", 30, end, end) == {}


async def test_one_answer_in_the_top_boxes(store: SurveyStore) -> None:
    await store.record(SurveyResponse("1.1", T0, "complaints", "a", "ar", 4))
    assert await store.figures(5, "topic") == {"complaints": Figures(1, 1, 1)}
    with pytest.raises(ValueError, match="interval"):
        await store.figures(5, "interval", 20)
