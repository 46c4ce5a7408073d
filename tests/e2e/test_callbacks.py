"""Callbacks at peak on a real Asterisk: keep your place, and every abandoned caller is called back once.

The trunk's far end is a SIPp UAS (the "carrier" fixture) that answers the callback calls Asterisk
places; who was called is read from the To header of what it answered.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from callbacks.db import CallbackStore
from callbacks.model import AttemptOutcome, RequestStatus
from cdr.builder import Outcome
from telephony.sipp.driver import place_call

pytestmark = pytest.mark.e2e

ARABIC, ENGLISH = "1", "2"
GENERAL, VIRUS, COMPLAINTS, DELIVERY = "4", "1", "5", "3"
MEDICAL, PSYCHIATRY = "2", "3"


async def call(rig, number: str, digits: list[str], **kwargs):
    dtmf = [(1.0, digits[0])] + [(0.8, d) for d in digits[1:]]
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=dtmf, workdir=rig.workdir / "callers", **kwargs
    )


def called(carrier, number: str) -> int:
    return sum(1 for c in carrier.answered_calls() if re.search(rf"sip:{number}@", c.to_header))


async def requests_of(rig, number: str, db_url: str | None = None):
    store = CallbackStore(db_url or rig.db_url)
    try:
        return [r for r in await store.open_requests() if r.number == number] + [
            r
            for r in await store.all_requests()
            if r.number == number and r.status not in (RequestStatus.OPEN, RequestStatus.DIALING)
        ]
    finally:
        await store.close()


async def test_a_queued_caller_who_presses_1_is_called_back_greeted_in_arabic_and_connected(rig, phones, carrier):
    agent = await phones("agent-ar-1", talk_seconds=6.0)
    busy = asyncio.create_task(call(rig, "96551200001", [ARABIC, GENERAL], max_duration=40))
    await rig.wait_for(lambda: _answered(agent, "96551200001"), timeout=20, what="the first caller")

    # Listen for the callback's greeting before it can happen (a busy machine may call back at once).
    events = asyncio.create_task(_callback_events(rig, timeout=120))
    # The second caller waits, presses 1, keeps the number read back (no key: confirmed) and hangs up.
    booked = await call(rig, "96551200002", [ARABIC, GENERAL, "1"], max_duration=60)
    assert booked.answered and booked.remote_hung_up, booked.error

    await rig.wait_for(lambda: _answered(agent, "96551200002"), timeout=45, what="the callback to reach the agent")
    assert called(carrier, "96551200002") == 1
    greeting = await events
    assert (greeting["Number"], greeting["Language"], greeting["Queue"]) == ("96551200002", "ar", "ar-general")
    assert (await busy).remote_hung_up

    (original,) = await rig.records_of("96551200002")
    assert original.outcome is Outcome.ABANDONED_QUEUE  # left by choice, with a callback
    callback = await rig.wait_for(lambda: _callback_record(rig, "96551200002"), timeout=20, what="the callback record")
    assert callback.callback_of == original.linkedid and callback.agent == "agent-ar-1"
    (request,) = await requests_of(rig, "96551200002")
    assert request.status is RequestStatus.CONNECTED and request.attempts == 1


async def test_a_caller_who_abandons_after_n_seconds_gets_exactly_one_callback(rig, phones, carrier):
    waited = await call(rig, "96551200003", [ENGLISH, DELIVERY], hangup_after=5.0)
    assert waited.answered and not waited.remote_hung_up
    (record,) = await rig.records_of("96551200003")
    assert record.outcome is Outcome.ABANDONED_QUEUE and record.wait_seconds >= 3.0

    agent = await phones("agent-en-1", talk_seconds=1.0)  # now someone can take English deliveries
    await rig.wait_for(lambda: _answered(agent, "96551200003"), timeout=30, what="the callback")
    # Served is terminal: the scheduler dials open requests only, so no second attempt can follow.
    await rig.wait_for(lambda: _status(rig, "96551200003", RequestStatus.CONNECTED), timeout=30, what="served")
    assert called(carrier, "96551200003") == 1
    (request,) = await requests_of(rig, "96551200003")
    assert request.status is RequestStatus.CONNECTED and request.attempts == 1


async def test_a_caller_who_calls_again_and_is_answered_has_the_request_cancelled(rig, phones, carrier):
    waited = await call(rig, "96551200004", [ARABIC, MEDICAL, PSYCHIATRY], hangup_after=5.0)
    assert waited.answered
    await rig.wait_for(lambda: _open_request(rig, "96551200004"), timeout=15, what="the callback request")

    english = await phones("agent-en-1", talk_seconds=1.0)
    again = await call(rig, "96551200004", [ENGLISH, VIRUS], max_duration=30)
    assert (
        again.answered
        and again.remote_hung_up
        and [c.caller_number for c in english.answered_calls()] == ["96551200004"]
    )
    await rig.wait_for(lambda: _status(rig, "96551200004", RequestStatus.CANCELLED), timeout=15,
                       what="the cancellation")  # fmt: skip

    await phones("doc-ar-psy-1", talk_seconds=1.0)  # a psychologist is free now: still no callback
    # Barrier: a later request for the same psychologist is called back; the scheduler takes requests
    # in the order of their place, so by then it has passed over the cancelled one.
    await _add_requests(rig.db_url, ["96551200014"], queue="ar-medical-psychiatry", topic="medical",
                        specialty="psychiatry")  # fmt: skip
    await rig.wait_for(lambda: _status(rig, "96551200014", RequestStatus.CONNECTED), timeout=45,
                       what="the later request to be served")  # fmt: skip
    assert called(carrier, "96551200004") == 0


async def test_after_the_service_is_killed_between_claim_and_dial_the_caller_rings_exactly_once(rig, phones, carrier):
    rig.stop_service()
    rig.start_service(HOTLINE_TEST_CRASH_AFTER_CLAIM="1")
    crashed = rig.service
    try:
        waited = await call(rig, "96551200005", [ENGLISH, COMPLAINTS], hangup_after=5.0)
        assert waited.answered
        await rig.wait_for(lambda: _open_request(rig, "96551200005"), timeout=15, what="the callback request")
        agent = await phones("agent-en-1", talk_seconds=1.0)
        await rig.wait_for(lambda: _exited(crashed), timeout=20, what="the service to die after its claim")
        assert crashed.returncode == 70
        assert called(carrier, "96551200005") == 0
    finally:
        rig.service = None
        rig.start_service()

    await rig.wait_for(lambda: _answered(agent, "96551200005"), timeout=30, what="the callback after the restart")
    await rig.wait_for(lambda: _status(rig, "96551200005", RequestStatus.CONNECTED), timeout=30, what="served")
    assert called(carrier, "96551200005") == 1


async def test_two_service_instances_on_one_postgresql_dial_every_request_once(rig, phones, carrier, pg_url):
    from storage.engine import upgrade

    upgrade(pg_url)
    rig.stop_service()
    second = None
    try:
        rig.start_service(HOTLINE_DB_URL=pg_url)
        second = rig.spawn_second_service(pg_url)
        agents = [await phones("agent-ar-1", talk_seconds=1.0), await phones("agent-ar-3", talk_seconds=1.0)]
        numbers = [f"9655130000{i}" for i in range(4)]
        await _add_requests(pg_url, numbers)
        for number in numbers:
            await rig.wait_for(lambda n=number: _answered_any(agents, n), timeout=60, what=f"the callback to {number}")
        for number in numbers:  # served is terminal: neither instance dials these again
            await rig.wait_for(lambda n=number: _served_in(pg_url, n), timeout=30, what=f"{number} served")
        assert {n: called(carrier, n) for n in numbers} == dict.fromkeys(numbers, 1)
        for number in numbers:
            (request,) = await requests_of(rig, number, pg_url)
            assert request.status is RequestStatus.CONNECTED and request.attempts == 1
    finally:
        if second is not None:
            second.terminate()
            second.wait(15)
        rig.stop_service()
        rig.start_service()


async def _served_in(db_url: str, number: str) -> bool:
    store = CallbackStore(db_url)
    try:
        return any(r.number == number and r.status is RequestStatus.CONNECTED for r in await store.all_requests())
    finally:
        await store.close()


async def _add_requests(
    db_url: str, numbers: list[str], queue: str = "ar-general", topic: str = "general", specialty: str | None = None
) -> None:
    from datetime import timedelta

    from callbacks.model import CallbackRequest, Origin
    from telephony.clock import utc_now

    store = CallbackStore(db_url)
    now = utc_now()
    try:
        for i, number in enumerate(numbers):
            await store.add(CallbackRequest(
                id=None, number=number, language="ar", topic=topic, specialty=specialty, queue=queue,
                origin=Origin.OFFER, original_linkedid=f"test-{uuid.uuid4()}", place_at=now - timedelta(seconds=60 - i),
                created_at=now, expires_at=now + timedelta(hours=1),
            ))  # fmt: skip
    finally:
        await store.close()


async def _callback_events(rig, timeout: float) -> dict[str, str]:
    client = rig.ami()
    seen: asyncio.Queue = asyncio.Queue()
    client.add_event_handler(lambda m: seen.put_nowait(dict(m.headers)) if m.get("UserEvent") == "HotlineCallback"
                             else None, events=["UserEvent"])  # fmt: skip
    await client.start()
    try:
        await client.wait_connected(10)
        return await asyncio.wait_for(seen.get(), timeout)
    finally:
        await client.close()


async def _answered(phone, number: str) -> bool:
    return any(c.caller_number == number for c in phone.answered_calls())


async def _answered_any(phones, number: str) -> bool:
    return any(await asyncio.gather(*(_answered(p, number) for p in phones)))


async def _callback_record(rig, number: str):
    records = await rig.records_of(number, timeout=0)
    return next((r for r in records if r.kind == "callback"), None)


async def _open_request(rig, number: str) -> bool:
    store = CallbackStore(rig.db_url)
    try:
        return any(r.number == number for r in await store.open_requests())
    finally:
        await store.close()


async def _status(rig, number: str, status: RequestStatus) -> bool:
    return any(r.status is status for r in await requests_of(rig, number))


async def _exited(process) -> bool:
    return process.poll() is not None


async def test_the_offer_is_announced_while_callers_wait_long_and_silenced_after(rig):
    from hotline.settings import Settings
    from telephony.asterisk import AsteriskInstance
    from telephony.provision import current_root

    settings = Settings.from_env(rig.env)
    sounds = AsteriskInstance(current_root(settings.cache_dir), settings).sounds_dir
    offer, prompt = sounds / "offer" / "en-complaints.wav", sounds / "en" / "callback-offer.wav"
    assert offer.read_bytes() != prompt.read_bytes()  # nobody waits: silence

    waiting = asyncio.create_task(call(rig, "96551200009", [ENGLISH, COMPLAINTS], hangup_after=8.0))
    await rig.wait_for(lambda: _same(offer, prompt), timeout=10, what="the offer to be announced")
    await waiting
    await rig.wait_for(lambda: _different(offer, prompt), timeout=10, what="the offer to be silenced")
    store = CallbackStore(rig.db_url)  # the caller abandoned: no later test should call them back
    try:
        await rig.wait_for(lambda: _open_request(rig, "96551200009"), timeout=10, what="the abandoned request")
        await store.cancel_open_for_number("96551200009")
    finally:
        await store.close()


async def _same(a, b) -> bool:
    return a.read_bytes() == b.read_bytes()


async def _different(a, b) -> bool:
    return a.read_bytes() != b.read_bytes()


# -- many abandoned callers, few people, called-back callers who do not wait long -------------------------------

ANSWERER_WAITS = 6.0  # seconds: a called-back caller hangs up this long after answering, served or not
SLOW_RING = 10.0  # one agent's phone rings this long before it answers: longer than the answerer waits


async def test_callbacks_of_many_abandoned_callers_are_served_or_retried_and_never_outnumber_the_free_people(
    rig, phones
):
    from telephony.sipp.driver import AgentPhone

    numbers = [f"9655140000{i}" for i in range(6)]
    abandoned = await asyncio.gather(*(call(rig, n, [ARABIC, GENERAL], hangup_after=8.0) for n in numbers))
    assert all(c.answered for c in abandoned), [c.error for c in abandoned]
    for number in numbers:
        await rig.wait_for(lambda n=number: _open_request(rig, n), timeout=15, what=f"the request of {number}")

    # The carrier's answerers hang up ANSWERER_WAITS after answering, whether a person took them or not.
    carrier = AgentPhone(
        "carrier",
        "-",
        registrar=("127.0.0.1", rig.sip_port),
        local_port=rig.carrier_port,
        ring_seconds=0.5,
        talk_seconds=ANSWERER_WAITS,
        workdir=rig.workdir / "carrier-impatient",
    )
    await carrier.start()
    try:
        quick = await phones("agent-ar-1", ring_seconds=0.3, talk_seconds=None)
        slow = await phones("agent-ar-3", ring_seconds=SLOW_RING, talk_seconds=None)  # never in time
        agents = [quick, slow]
        await rig.wait_for(lambda: _all_settled(rig, numbers), timeout=180, what="every request to be served or failed")
        carried = carrier.answered_calls()
    finally:
        await carrier.stop()

    requests = {n: (await requests_of(rig, n))[0] for n in numbers}
    store = CallbackStore(rig.db_url)
    try:
        attempts = {n: await store.attempts(r.id) for n, r in requests.items()}
    finally:
        await store.close()
    talks = [c for a in agents for c in a.answered_calls() if c.caller_number in requests]

    # Served (closed CONNECTED) exactly when a person talked to the called-back caller; otherwise
    # retried under the policy until its attempts were used (max_attempts 2), never closed unserved.
    for number, request in requests.items():
        served = [c for c in talks if c.caller_number == number]
        outcomes = [a.outcome for a in attempts[number]]
        if request.status is RequestStatus.CONNECTED:
            assert served and outcomes[-1] is AttemptOutcome.CONNECTED, (number, outcomes)
        else:
            assert request.status is RequestStatus.FAILED and request.attempts == 2, (number, request)
            assert not served and AttemptOutcome.CONNECTED not in outcomes, (number, outcomes)
    assert any(r.status is RequestStatus.CONNECTED for r in requests.values())
    assert any(AttemptOutcome.ABANDONED in [a.outcome for a in tried] for tried in attempts.values())

    # No more callbacks under way than free people: a callback is under way from its dial until a
    # person answers it or the caller hangs up; a person is free when not on a call.
    # (the SIPp driver keeps Asterisk's epochs: the store's datetimes are compared as epochs)
    dials = sorted(
        (a.dialed_at.timestamp(), n) for n, tried in attempts.items() for a in tried if a.dialed_at is not None
    )
    under_way = [(start, _callback_end(start, number, talks, carried)) for start, number in dials]
    agent_calls = [(c.at, c.ended_at or float("inf")) for a in agents for c in a.answered_calls()]
    for start, _ in under_way:
        busy = sum(1 for s, e in under_way if s <= start < e)
        free = len(agents) - sum(1 for s, e in agent_calls if s <= start < e)
        assert busy <= free, (start, busy, free, under_way, agent_calls)


def _callback_end(dialled_at: float, number: str, talks, carried) -> float:
    """When a callback dialled at ``dialled_at`` stopped holding a person: a person answered it, or it ended."""
    answered = [c.at for c in talks if c.caller_number == number and c.at >= dialled_at]
    ended = [c.ended_at or float("inf") for c in carried if re.search(rf"sip:{number}@", c.to_header)
             and c.at >= dialled_at]  # fmt: skip
    return min(answered + ended + [float("inf")])


async def _all_settled(rig, numbers: list[str]) -> bool:
    for number in numbers:
        found = await requests_of(rig, number)
        if not found or found[0].status in (RequestStatus.OPEN, RequestStatus.DIALING):
            return False
    return True
