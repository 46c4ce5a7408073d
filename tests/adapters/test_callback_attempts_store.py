"""The callback store's view of attempts under way, on SQLite and PostgreSQL (``db_url``): the hourly
cap on dials of every instance together, and a callback the caller answered, which stays open until
the scheduler says whether a person talked to them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from callbacks.db import NOT_DIALLED, CallbackStore
from callbacks.model import AttemptOutcome, CallbackRequest, Origin, RequestStatus
from storage.engine import upgrade

T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def S(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def a_request(number: str, **changes: object) -> CallbackRequest:
    request = CallbackRequest(
        id=None, number=number, language="ar", topic="general", specialty=None, queue="ar-general",
        origin=Origin.ABANDONED_QUEUE, original_linkedid=f"call-{number}", place_at=T0 - S(600), created_at=T0 - S(300),
        expires_at=T0 + S(86400), next_attempt_at=T0 - S(300),
    )  # fmt: skip
    return replace(request, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[CallbackStore]:
    upgrade(db_url)
    callback_store = CallbackStore(db_url)
    yield callback_store
    await callback_store.close()


@pytest.fixture
async def other_store(db_url: str, store: CallbackStore) -> AsyncIterator[CallbackStore]:
    """A second service instance: its own engine on the same database."""
    callback_store = CallbackStore(db_url)
    yield callback_store
    await callback_store.close()


async def dialled(store: CallbackStore, number: str, instance: str, at: datetime) -> int:
    """A request of ``number`` claimed by ``instance`` and dialled at ``at``; its attempt id."""
    request = await store.add(a_request(number, next_attempt_at=at - S(1)))
    ((_, attempt),) = await store.claim([request.id], instance, at)
    assert await store.mark_dialing(attempt.id, at)
    return attempt.id


async def test_dial_times_are_every_instances_dials_after_the_given_time(store, other_store):
    await dialled(store, "55100001", "one", T0 - HOUR - S(5))
    await dialled(store, "55100002", "one", T0 - S(600))
    await dialled(other_store, "55100003", "two", T0 - S(60))

    assert await store.dial_times(T0 - HOUR) == [T0 - S(600), T0 - S(60)]
    assert await other_store.dial_times(T0 - S(300)) == [T0 - S(60)]


async def test_mark_dialing_refuses_a_dial_over_the_hourly_cap_and_puts_the_request_back_uncounted(store, other_store):
    await dialled(other_store, "55100001", "two", T0 - S(1200))
    await dialled(other_store, "55100002", "two", T0 - S(600))
    waiting = await store.add(a_request("55100003"))
    ((_, attempt),) = await store.claim([waiting.id], "one", T0)

    assert not await store.mark_dialing(attempt.id, T0, max_dials_per_hour=2)

    (closed,) = await store.attempts(waiting.id)
    assert (closed.outcome, closed.dialed_at) == (NOT_DIALLED, None)
    request = await store.get(waiting.id)
    assert (request.status, request.attempts) == (RequestStatus.OPEN, 0)
    assert await store.dial_times(T0 - HOUR) == [T0 - S(1200), T0 - S(600)]


async def test_mark_dialing_dials_under_the_cap_and_once_the_oldest_dial_is_an_hour_old(store):
    await dialled(store, "55100001", "one", T0 - HOUR)  # exactly an hour ago: out of the window
    await dialled(store, "55100002", "one", T0 - S(600))
    waiting = await store.add(a_request("55100003"))
    ((_, attempt),) = await store.claim([waiting.id], "one", T0)

    assert await store.mark_dialing(attempt.id, T0, max_dials_per_hour=2)
    assert (await store.get(waiting.id)).status is RequestStatus.DIALING


async def test_an_answered_callback_stays_open_under_way_with_its_call_until_finished(store, other_store):
    attempt_id = await dialled(store, "55100001", "one", T0)
    assert await store.answered(attempt_id, "1800000000.42")

    request, attempt = await other_store.open_attempt_of_call("1800000000.42")  # any instance finds it
    assert (attempt.id, attempt.outcome, attempt.linkedid) == (attempt_id, None, "1800000000.42")
    assert request.status is RequestStatus.DIALING
    assert [(r.number, a.id) for r, a in await other_store.in_flight()] == [("55100001", attempt_id)]

    await store.finish(attempt_id, AttemptOutcome.ABANDONED, T0 + S(30),
                       next_request_state=replace(request, status=RequestStatus.OPEN, attempts=1))  # fmt: skip
    assert await store.open_attempt_of_call("1800000000.42") is None
    assert await store.in_flight() == []
    assert not await store.answered(attempt_id, "1800000000.43")  # closed: left as it is
    (closed,) = await store.attempts(request.id)
    assert (closed.outcome, closed.linkedid) == (AttemptOutcome.ABANDONED, "1800000000.42")


async def test_in_flight_holds_claimed_and_ringing_attempts_not_finished_ones(store):
    claimed = await store.add(a_request("55100001"))
    ((_, claimed_attempt),) = await store.claim([claimed.id], "one", T0)
    ringing = await dialled(store, "55100002", "one", T0)
    done = await dialled(store, "55100003", "one", T0)
    request = await store.get((await store.get_attempt(done))[0].id)
    await store.finish(done, AttemptOutcome.NO_ANSWER, T0 + S(30),
                       next_request_state=replace(request, status=RequestStatus.OPEN, attempts=1))  # fmt: skip

    assert [a.id for _, a in await store.in_flight()] == [claimed_attempt.id, ringing]
