"""Wrap-up codes on call records, on SQLite and PostgreSQL: kept on the stored record, kept pending for a
record not stored yet and applied when it is (the race both ways), refused for another person's call;
the counts per topic and code equal the pure reference; a caller's earlier calls."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cdr.builder import CallRecord, Outcome
from cdr.db import RecordStore, WrapupRefused, wrapup_counts_sql
from cdr.reports import RecordFacts, wrapup_counts
from storage.engine import upgrade

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def a_call(linkedid: str, agent: str | None = "agent-1", **changes: object) -> CallRecord:
    record = CallRecord(
        linkedid=linkedid,
        caller_number="0791234567",
        caller_name=None,
        started_at=T0,
        language="ar",
        topic="cleanliness",
        specialty=None,
        queue="ar-cleanliness",
        wait_seconds=4.0,
        outcome=Outcome.ANSWERED if agent else Outcome.ABANDONED_QUEUE,
        agent=agent,
        talk_seconds=30.0 if agent else None,
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        ended_at=T0 + timedelta(seconds=40),
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[RecordStore]:
    await asyncio.to_thread(upgrade, db_url)
    records = RecordStore(db_url)
    yield records
    await records.close()


async def test_a_code_is_kept_on_the_stored_record_and_the_last_choice_wins(store):
    await store.add(a_call("1.1"))
    assert await store.set_wrapup("1.1", "container_request", "agent-1") is True
    assert (await store.get("1.1")).wrapup_code == "container_request"
    assert await store.set_wrapup("1.1", "duplicate", "agent-1") is True
    assert (await store.get("1.1")).wrapup_code == "duplicate"
    assert store.pending_wrapup("1.1") is None


async def test_a_code_chosen_before_the_record_is_stored_is_applied_when_it_is(store):
    assert await store.set_wrapup("2.1", "case_opened", "agent-1") is False
    assert store.pending_wrapup("2.1") == "case_opened"
    assert await store.get("2.1") is None
    assert await store.set_wrapup("2.1", "duplicate", "agent-1") is False  # changed before the insert: the last wins
    assert await store.add(a_call("2.1")) is True
    assert (await store.get("2.1")).wrapup_code == "duplicate"
    assert store.pending_wrapup("2.1") is None
    # add_many (the importer's path) applies them too
    await store.set_wrapup("2.2", "case_opened", "agent-1")
    assert await store.add_many([a_call("2.2"), a_call("2.3")]) == 2
    assert (await store.get("2.2")).wrapup_code == "case_opened"
    assert (await store.get("2.3")).wrapup_code is None


async def test_the_race_between_the_choice_and_the_insert_loses_no_code(store):
    """The insert and the choice run at the same time, in both orders and interleaved: every code lands."""
    rng = random.Random(11)
    calls = [a_call(f"3.{i}") for i in range(40)]

    async def choose(linkedid: str) -> None:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        await store.set_wrapup(linkedid, "case_opened", "agent-1")

    async def insert(record: CallRecord) -> None:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        await store.add(record)

    jobs = []
    for record in calls:
        pair = [choose(record.linkedid), insert(record)]
        rng.shuffle(pair)
        jobs += pair
    await asyncio.gather(*jobs)
    stored = {r.linkedid: r.wrapup_code for r in await store.list_records()}
    assert stored == {r.linkedid: "case_opened" for r in calls}
    assert all(store.pending_wrapup(r.linkedid) is None for r in calls)


async def test_another_persons_call_is_refused_and_nothing_changes(store):
    await store.add(a_call("4.1", agent="agent-2"))
    with pytest.raises(WrapupRefused, match="agent-2"):
        await store.set_wrapup("4.1", "case_opened", "agent-1")
    await store.add(a_call("4.2", agent=None))  # abandoned: nobody's call
    with pytest.raises(WrapupRefused, match="nobody"):
        await store.set_wrapup("4.2", "case_opened", "agent-1")
    assert (await store.get("4.1")).wrapup_code is None and (await store.get("4.2")).wrapup_code is None
    assert store.pending_wrapup("4.1") is None and store.pending_wrapup("4.2") is None
    # a code pending for a call that then turns out to be another person's is not applied
    assert await store.set_wrapup("4.3", "case_opened", "agent-1") is False
    await store.add(a_call("4.3", agent="agent-2"))
    assert (await store.get("4.3")).wrapup_code is None and store.pending_wrapup("4.3") is None


async def test_a_record_with_a_code_round_trips(store):
    await store.add(a_call("5.1", wrapup_code="duplicate"))
    assert (await store.get("5.1")).wrapup_code == "duplicate"


def _random_records(n: int, seed: int) -> list[CallRecord]:
    rng = random.Random(seed)
    topics = ["cleanliness", "parks", None]
    codes = {"cleanliness": ["case_opened", "duplicate"], "parks": ["case_opened", "info_given"], None: []}
    out = []
    for i in range(n):
        topic = rng.choice(topics)
        answered = rng.random() < 0.7
        code = rng.choice([None, *codes[topic]]) if answered else None
        out.append(
            a_call(
                f"6.{i}",
                agent="agent-1" if answered else None,
                topic=topic,
                wrapup_code=code,
                started_at=T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60)),
                kind=rng.choice(["inbound", "inbound", "callback"]),
            )
        )
    return out


async def test_the_counts_per_topic_and_code_equal_the_pure_reference(store, db_url):
    records = _random_records(300, 5)
    await store.add_many(records)
    facts = [RecordFacts.of(r) for r in records]
    start, end = T0 + timedelta(days=1), T0 + timedelta(days=2)
    for window in ((None, None), (start, None), (None, end), (start, end)):
        expected = wrapup_counts(facts, *window)
        assert await store.wrapup_counts(*window) == expected
        assert await asyncio.to_thread(wrapup_counts_sql, db_url, *window) == expected
    whole = wrapup_counts(facts)
    assert sum(whole.values()) == sum(1 for r in records if r.outcome is Outcome.ANSWERED)
    assert whole[("cleanliness", None)] > 0 and whole[("parks", "info_given")] > 0


async def test_a_callers_earlier_calls_newest_first(store):
    await store.add_many(
        [
            a_call("7.1", started_at=T0),
            a_call("7.2", started_at=T0 + timedelta(hours=2)),
            a_call("7.3", started_at=T0 + timedelta(hours=1)),
            a_call("7.4", caller_number="0700000000"),
        ]
    )
    assert [r.linkedid for r in await store.by_caller("0791234567")] == ["7.2", "7.3", "7.1"]
    assert [r.linkedid for r in await store.by_caller("0791234567", limit=1)] == ["7.2"]
    assert await store.by_caller("nobody") == []
