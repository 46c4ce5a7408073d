"""The campaign attempt store on real databases (SQLite file and PostgreSQL, via ``db_url``): each attempt is claimed
exactly once by two instances claiming in parallel, the cap on calls in flight holds across them, a person reached
or of unknown fate is never claimed again that day, and ``recover`` closes what a crash left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from outbound.campaign_db import CampaignStore
from outbound.model import Action, DayState, Outcome
from outbound.rows import ContactListRow, ContactRow
from profiles.model import Campaign, CampaignWindow
from storage.engine import Database, upgrade

T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
DAY = date(2027, 1, 15)


def S(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def a_campaign(**changes: object) -> Campaign:
    values: dict[str, object] = {
        "id": "followup",
        "label": {"en": "Follow-up"},
        "list": "patients",
        "window": CampaignWindow(start="08:00", end="20:00"),  # type: ignore[arg-type]
        "topic": "medical",
        "max_concurrent": 500,
        "attempts_per_day": 3,
        "retry_after_seconds": (60, 120),
    }
    values.update(changes)
    return Campaign(**values)  # type: ignore[arg-type]


async def add_contacts(db_url: str, count: int, *, list_name: str = "patients") -> list[int]:
    async with Database(db_url) as db, db.writers.begin() as session:
        list_id = (
            await session.execute(
                insert(ContactListRow).values(name=list_name, created_at=T0, updated_at=T0).returning(ContactListRow.id)
            )
        ).scalar_one()
        ids = []
        for i in range(count):
            ids.append(
                (
                    await session.execute(
                        insert(ContactRow)
                        .values(
                            list_id=list_id,
                            number=f"9655{i:07d}",
                            name=f"P{i}",
                            language="ar",
                            fields='{"ward": "3"}',
                            line=i + 2,
                            updated_at=T0,
                        )
                        .returning(ContactRow.id)
                    )
                ).scalar_one()
            )
    return ids


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CampaignStore]:
    upgrade(db_url)
    one = CampaignStore(db_url)
    yield one
    await one.close()


@pytest.fixture
async def other_store(db_url: str, store: CampaignStore) -> AsyncIterator[CampaignStore]:
    """A second service instance: its own engine on the same database."""
    one = CampaignStore(db_url)
    yield one
    await one.close()


async def test_contacts_come_back_in_the_file_order_with_their_fields(store: CampaignStore, db_url: str) -> None:
    ids = await add_contacts(db_url, 3)
    contacts = await store.contacts("patients")
    assert [c.id for c in contacts] == ids
    assert contacts[0].number == "96550000000" and contacts[0].fields == {"ward": "3"}
    assert await store.contacts("nobody") == []


async def test_two_instances_claiming_in_parallel_claim_each_attempt_once(
    store: CampaignStore, other_store: CampaignStore, db_url: str
) -> None:
    ids = await add_contacts(db_url, 60)
    campaign = a_campaign()

    async def claimer(s: CampaignStore, name: str) -> list[int]:
        got: list[int] = []
        while True:
            claimed = await s.claim(campaign, ids, name, DAY, T0, limit=7)
            if not claimed:
                return got
            got += [c.contact.id or 0 for c in claimed]

    first, second = await asyncio.gather(claimer(store, "a"), claimer(other_store, "b"))
    assert sorted(first + second) == sorted(ids)  # every person once, by one of the two
    attempts = await store.attempts("followup", DAY)
    assert len(attempts) == 60 and {a.number for a in attempts} == {1}
    # in flight: nobody is claimed again, by either instance
    assert await store.claim(campaign, ids, "a", DAY, T0 + S(3600), limit=100) == []
    assert await other_store.claim(campaign, ids, "b", DAY, T0 + S(3600), limit=100) == []


async def test_the_cap_on_calls_in_flight_holds_across_instances(
    store: CampaignStore, other_store: CampaignStore, db_url: str
) -> None:
    ids = await add_contacts(db_url, 20)
    campaign = a_campaign(max_concurrent=3)
    claims = await asyncio.gather(
        *(s.claim(campaign, ids, n, DAY, T0, limit=3) for s, n in [(store, "a"), (other_store, "b")] * 3)
    )
    assert sum(len(c) for c in claims) == 3
    one = next(c for batch in claims for c in batch)
    assert one.attempt.id is not None
    assert await store.end(one.attempt.id, Outcome.NO_ANSWER, T0 + S(10))
    assert len(await other_store.claim(campaign, ids, "b", DAY, T0 + S(11), limit=5)) == 1


async def test_unanswered_attempts_retry_after_the_backoff_then_the_person_is_not_reached(
    store: CampaignStore, db_url: str
) -> None:
    (contact_id,) = await add_contacts(db_url, 1)
    campaign = a_campaign(attempts_per_day=2, retry_after_seconds=(60,))
    (first,) = await store.claim(campaign, [contact_id], "a", DAY, T0, limit=1)
    assert first.attempt.id is not None and await store.mark_dialled(first.attempt.id, T0)
    assert not await store.mark_dialled(first.attempt.id, T0)  # dialled once
    await store.end(first.attempt.id, Outcome.NO_ANSWER, T0 + S(30))
    assert await store.claim(campaign, [contact_id], "a", DAY, T0 + S(89), limit=1) == []  # backoff
    (second,) = await store.claim(campaign, [contact_id], "a", DAY, T0 + S(90), limit=1)
    assert second.attempt.number == 2
    assert second.attempt.id is not None
    await store.end(second.attempt.id, Outcome.BUSY, T0 + S(100))
    assert await store.claim(campaign, [contact_id], "a", DAY, T0 + S(3600), limit=1) == []
    ((_, state, attempts),) = await store.people(campaign, DAY)
    assert state is DayState.NOT_REACHED and [a.outcome for a in attempts] == [Outcome.NO_ANSWER, Outcome.BUSY]
    figures = await store.figures(campaign, DAY)
    assert (figures.not_reached, figures.attempts, figures.reached) == (1, 2, 0)
    # the next day starts afresh
    assert len(await store.claim(campaign, [contact_id], "a", DAY + timedelta(days=1), T0 + S(86400), limit=1)) == 1


async def test_an_answered_person_is_never_claimed_again_that_day_and_their_key_counts(
    store: CampaignStore, db_url: str
) -> None:
    ids = await add_contacts(db_url, 3)
    campaign = a_campaign()
    claimed = await store.claim(campaign, ids, "a", DAY, T0, limit=3)
    for one, action in zip(claimed, [Action.WELL, Action.DOCTOR, Action.EMERGENCY], strict=True):
        assert one.attempt.id is not None
        await store.mark_dialled(one.attempt.id, T0)
        assert await store.answered(one.attempt.id, f"17000.{one.attempt.id}", T0 + S(5))
        await store.keyed(one.attempt.id, {"well": "1", "doctor": "2", "emergency": "9"}[action], action, T0 + S(9))
    doctor = claimed[1].attempt
    assert await store.took(f"17000.{doctor.id}", "doc-1")
    for one in claimed:
        ended = await store.end_call(f"17000.{one.attempt.id}", T0 + S(60))
        assert ended is not None and ended.outcome is Outcome.ANSWERED
    assert (await store.get_attempt(doctor.id or 0)).agent == "doc-1"  # type: ignore[union-attr]
    assert await store.claim(campaign, ids, "a", DAY, T0 + S(7200), limit=3) == []
    figures = await store.figures(campaign, DAY)
    assert (figures.reached, figures.well, figures.doctor, figures.emergency, figures.no_key) == (3, 1, 1, 1, 0)
    alert = await store.raise_alert(claimed[2].attempt.id or 0, T0 + S(9))
    assert alert is not None and alert.number == claimed[2].contact.number and alert.name == "P2"
    assert await store.raise_alert(claimed[2].attempt.id or 0, T0 + S(10)) == alert  # one per attempt
    assert [a.id for a in await store.alerts()] == [alert.id]
    assert await store.acknowledge(alert.id or 0, "supervisor", T0 + S(30))
    assert not await store.acknowledge(alert.id or 0, "supervisor", T0 + S(31))
    assert await store.alerts() == [] and len(await store.alerts(open_only=False)) == 1


async def test_recover_closes_a_crashed_instances_attempts_and_never_redials_a_dialled_one(
    store: CampaignStore, other_store: CampaignStore, db_url: str
) -> None:
    ids = await add_contacts(db_url, 4)
    campaign = a_campaign()
    dialled, never, answered = await store.claim(campaign, ids[:3], "a", DAY, T0, limit=3)
    (others,) = await other_store.claim(campaign, ids[3:], "b", DAY, T0, limit=1)
    for one in (dialled, answered):
        await store.mark_dialled(one.attempt.id or 0, T0)
    await store.answered(answered.attempt.id or 0, "17000.9", T0 + S(3))
    recovered = await store.recover("a", T0 + S(60))
    assert sorted(a.id or 0 for a in recovered) == sorted(c.attempt.id or 0 for c in (dialled, never, answered))
    assert (await store.get_attempt(others.attempt.id or 0)).ended_at is None  # type: ignore[union-attr]  # b's
    states = {c.id: state for c, state, _ in await store.people(campaign, DAY)}
    assert states[dialled.contact.id] is DayState.UNKNOWN
    assert states[answered.contact.id] is DayState.REACHED
    assert states[never.contact.id] is DayState.PENDING  # nobody was called: claimed again, as attempt 1
    again = await store.claim(campaign, ids[:3], "a", DAY, T0 + S(7200), limit=3)
    assert [(c.contact.id, c.attempt.number) for c in again] == [(never.contact.id, 1)]
