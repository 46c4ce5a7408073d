"""The callback scheduler (CallbackService.tick) with the real store on SQLite and PostgreSQL, a real
AMI client against the fake AMI server, and the live routing state fed with AMI events as app_queue
sends them: what is dialled, what is refused at dial time, the hourly cap, and when a request is
served.

Each tick is awaited: when it returns, every Originate it sent has been received by the fake server
(the client waits for the action's response), so "nothing dialled" is a terminal state, not a wait.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.fake_ami import FakeAMIServer

from callbacks.db import CallbackStore
from callbacks.model import AttemptOutcome, CallbackRequest, Origin, RequestStatus
from callbacks.service import CallbackService
from cdr.builder import CallRecord, Outcome
from profiles.model import load_profile
from routing.queues import build_queues
from routing.state import LiveState
from storage.engine import upgrade
from telephony.ami.client import AMIClient
from telephony.ami.message import Message
from telephony.clock import epoch
from telephony.events import OriginateResponse, decode_event

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
NOON = datetime(2021, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Kuwait: outside the quiet hours
Q = "ar-general"


def S(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def profile(**rules: object):
    return dataclasses.replace(PROFILE, callbacks=dataclasses.replace(PROFILE.callbacks, **rules))


class Desk:
    """The desk as the scheduler reads it: synced, its queues, and the live routing state (the real
    LiveState, fed AMI events as app_queue sends them)."""

    def __init__(self) -> None:
        self.state = LiveState.from_profile(PROFILE, wrapup_seconds=0)
        self.synced = True
        self.queues = {q.name for q in build_queues(PROFILE)}

    def event(self, t: datetime, event: str, **headers: str) -> None:
        """One AMI event at ``t`` (stamped in epoch seconds, as Asterisk does), typed by the boundary's parser."""
        typed = decode_event(Message({"Event": event, "Timestamp": repr(epoch(t)), **headers}))
        assert typed is not None, f"{event} is not an event the service uses"
        self.state.apply(typed, t)

    def login(self, t: datetime, person: str, *queues: str) -> None:
        for queue in queues:
            self.event(t, "QueueMemberAdded", Queue=queue, MemberName=person, Interface=f"PJSIP/{person}",
                       Penalty="0", LoginTime=str(int(epoch(t))), Status="1", Paused="0", PausedReason="")  # fmt: skip

    def caller_joins(self, t: datetime, uniqueid: str, queue: str = Q) -> None:
        self.event(t, "QueueCallerJoin", Queue=queue, Uniqueid=uniqueid, Position="1", Count="1")

    def person_answers(self, t: datetime, uniqueid: str, person: str, queue: str = Q) -> None:
        self.event(t, "AgentCalled", Queue=queue, Uniqueid=uniqueid, MemberName=person)
        self.event(t, "QueueCallerLeave", Queue=queue, Uniqueid=uniqueid)
        self.event(t, "AgentConnect", Queue=queue, Uniqueid=uniqueid, MemberName=person, HoldTime="1")

    def caller_leaves(self, t: datetime, uniqueid: str, queue: str = Q) -> None:
        self.event(t, "QueueCallerAbandon", Queue=queue, Uniqueid=uniqueid, Position="1", HoldTime="5")
        self.event(t, "QueueCallerLeave", Queue=queue, Uniqueid=uniqueid)


class Rig:
    def __init__(self, server: FakeAMIServer, store: CallbackStore, client: AMIClient) -> None:
        self.server = server
        self.store = store
        self.client = client
        self.desk = Desk()
        self.now = NOON

    def service(self, **rules: object) -> CallbackService:
        return CallbackService(profile(**rules), self.client, self.store, self.desk, sounds_host_dir=None,  # type: ignore[arg-type]
                               instance="one", clock=lambda: self.now)  # fmt: skip

    def originates(self) -> list[str]:
        """The numbers dialled so far (the trunk channel of each Originate received)."""
        return [a.get("Channel", "").split("/", 1)[1].split("@", 1)[0] for a in self.server.received("Originate")]

    def action_id(self, number: str) -> str:
        (action,) = [a for a in self.server.received("Originate") if f"/{number}@" in (a.get("Channel") or "")]
        return action.action_id or ""

    async def request(self, number: str, queue: str = Q, place: float = 600) -> CallbackRequest:
        return await self.store.add(CallbackRequest(
            id=None, number=number, language=queue.split("-", 1)[0], topic=queue.split("-", 1)[1], specialty=None,
            queue=queue, origin=Origin.ABANDONED_QUEUE, original_linkedid=f"call-{number}",
            place_at=self.now - S(place), created_at=self.now - S(place), expires_at=self.now + S(86400),
            next_attempt_at=self.now - S(place),
        ))  # fmt: skip

    async def status(self, request: CallbackRequest) -> tuple[RequestStatus, int]:
        stored = await self.store.get(request.id)
        return stored.status, stored.attempts

    async def outcomes(self, request: CallbackRequest) -> list[AttemptOutcome | None]:
        return [a.outcome for a in await self.store.attempts(request.id)]


def answered(action_id: str, linkedid: str) -> OriginateResponse:
    return OriginateResponse(action_id=action_id, response="Success", reason=4, channel="PJSIP/trunk-00000001",
                             uniqueid=linkedid, context="hotline-callback-out", exten="s")  # fmt: skip


def not_answered(action_id: str) -> OriginateResponse:
    return OriginateResponse(action_id=action_id, response="Failure", reason=3, channel="PJSIP/trunk",
                             uniqueid="<null>", context="hotline-callback-out", exten="s")  # fmt: skip


def callback_record(linkedid: str, number: str, outcome: Outcome, agent: str | None) -> CallRecord:
    return CallRecord(
        linkedid=linkedid, caller_number=number, caller_name=None, started_at=NOON,
        language="ar", topic=None, specialty=None, queue=Q, wait_seconds=5.0, outcome=outcome, agent=agent,
        talk_seconds=30.0 if agent else None, hangup_cause=16, hangup_cause_text="Normal Clearing",
        ended_at=NOON + S(60), kind="callback", callback_of=f"call-{number}",
    )  # fmt: skip


@pytest.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    upgrade(db_url)
    server = FakeAMIServer()
    await server.start()
    client = AMIClient("127.0.0.1", server.port, "hotline", "s3cret", backoff_initial=0.05, backoff_max=0.2)
    await client.start()
    await client.wait_connected(5)
    store = CallbackStore(db_url)
    try:
        yield Rig(server, store, client)
    finally:
        await client.close()
        await store.close()
        await server.close()


# -- the number, checked again at dial time ---------------------------------------------------------------


async def test_a_number_the_profile_no_longer_allows_is_refused_at_dial_time_and_the_request_fails(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")  # allowed when it was booked
    service = rig.service(allowed_numbers=("9[0-9]{7}",))  # the profile changed since

    await service.tick()

    assert rig.originates() == []
    assert await rig.status(request) == (RequestStatus.FAILED, 0)
    assert await rig.outcomes(request) == [AttemptOutcome.FAILED]
    assert await rig.store.refusals() == [("55123456", "dial_not_allowed", "call-55123456")]


async def test_a_forged_international_request_in_the_database_is_never_dialled(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    forged = await rig.request("0088213456789")  # written straight into the store, never checked
    mangled = await rig.request("5512-3456", place=500)  # not as the service stores numbers
    good = await rig.request("55123457", place=400)
    service = rig.service()

    await service.tick()  # one person free: the one dial is the real caller's

    assert rig.originates() == ["55123457"]
    assert (await rig.status(forged))[0] is RequestStatus.FAILED
    assert (await rig.status(mangled))[0] is RequestStatus.FAILED
    assert (await rig.status(good))[0] is RequestStatus.DIALING
    assert [r[1] for r in await rig.store.refusals()] == ["dial_not_allowed", "dial_not_normalised"]


# -- the hourly cap, every instance together ----------------------------------------------------------------


async def test_the_hourly_cap_counts_the_dials_of_every_instance_and_frees_up_an_hour_later(rig):
    for i, number in enumerate(["55100001", "55100002"]):  # another instance dialled twice, 50 and 40 min ago
        other = await rig.request(number, place=4000)
        ((_, attempt),) = await rig.store.claim([other.id], "two", NOON - S(3000 - 600 * i))
        assert await rig.store.mark_dialing(attempt.id, NOON - S(3000 - 600 * i))
        await rig.store.finish(attempt.id, AttemptOutcome.NO_ANSWER, NOON - S(2900 - 600 * i),
                               next_request_state=dataclasses.replace(other, status=RequestStatus.FAILED))  # fmt: skip
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    waiting = await rig.request("55123456")
    service = rig.service(max_dials_per_hour=2)

    await service.tick()

    assert rig.originates() == []
    assert await rig.status(waiting) == (RequestStatus.OPEN, 0)
    assert await rig.outcomes(waiting) == []  # not even claimed

    rig.now = NOON + S(601)  # the first of the two dials is now over an hour old
    await service.tick()

    assert rig.originates() == ["55123456"]


# -- served only when a person talks to the caller ------------------------------------------------------------


async def test_an_answered_callback_is_served_only_once_a_person_talks_to_the_caller(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")
    service = rig.service()
    await service.tick()
    assert rig.originates() == ["55123456"]

    await service.on_originate_response(answered(rig.action_id("55123456"), "1615366800.7"))
    rig.desk.caller_joins(NOON + S(3), "1615366800.7")  # greeted, now waiting in the queue
    rig.now = NOON + S(4)
    await service.tick()

    assert await rig.status(request) == (RequestStatus.DIALING, 0)  # answered, not yet served
    assert await rig.outcomes(request) == [None]

    rig.desk.person_answers(NOON + S(5), "1615366800.7", "agent-ar-1")
    rig.now = NOON + S(6)
    await service.tick()

    assert await rig.status(request) == (RequestStatus.CONNECTED, 1)
    assert await rig.outcomes(request) == [AttemptOutcome.CONNECTED]
    await service.on_record(callback_record("1615366800.7", "55123456", Outcome.ANSWERED, "agent-ar-1"))
    assert await rig.outcomes(request) == [AttemptOutcome.CONNECTED]  # the record changes nothing more


async def test_the_record_of_a_callback_a_person_answered_serves_the_request(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")
    service = rig.service()
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("55123456"), "1615366800.8"))

    # A short call: connected and over between two ticks; its record says who answered.
    await service.on_record(callback_record("1615366800.8", "55123456", Outcome.ANSWERED, "agent-ar-1"))

    assert await rig.status(request) == (RequestStatus.CONNECTED, 1)


async def test_a_called_back_caller_who_leaves_the_queue_before_a_person_answers_is_called_again(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")
    service = rig.service(retry_after_seconds=(60,), max_attempts=2)
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("55123456"), "1615366800.9"))
    rig.desk.caller_joins(NOON + S(3), "1615366800.9")
    rig.desk.caller_leaves(NOON + S(20), "1615366800.9")
    rig.now = NOON + S(20)

    await service.on_record(callback_record("1615366800.9", "55123456", Outcome.ABANDONED_QUEUE, None))

    stored = await rig.store.get(request.id)
    assert (stored.status, stored.attempts, stored.next_attempt_at) == (RequestStatus.OPEN, 1, NOON + S(80))
    assert await rig.outcomes(request) == [AttemptOutcome.ABANDONED]

    rig.now = NOON + S(80)
    await service.tick()
    assert rig.originates() == ["55123456", "55123456"]
    (_, second) = rig.server.received("Originate")
    await service.on_originate_response(answered(second.action_id or "", "1615366880.1"))
    await service.on_record(callback_record("1615366880.1", "55123456", Outcome.ABANDONED_QUEUE, None))
    assert await rig.status(request) == (RequestStatus.FAILED, 2)  # every attempt used, never closed as served


async def test_a_callback_nobody_answers_is_retried_under_the_policy(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")
    service = rig.service(retry_after_seconds=(60,), max_attempts=3)
    await service.tick()

    await service.on_originate_response(not_answered(rig.action_id("55123456")))

    assert await rig.status(request) == (RequestStatus.OPEN, 1)
    assert await rig.outcomes(request) == [AttemptOutcome.NO_ANSWER]


# -- pacing: no more callbacks under way than free people ----------------------------------------------------


async def test_no_second_callback_is_dialled_while_the_first_caller_is_greeted_for_the_one_free_person(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    first = await rig.request("55100001", place=900)
    await rig.request("55100002", place=800)
    service = rig.service(capacity_share=1.0)
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("55100001"), "1615366800.11"))

    rig.now = NOON + S(2)  # the caller hears the greeting: not in the queue yet, the person still free
    await service.tick()
    rig.desk.caller_joins(NOON + S(3), "1615366800.11")
    rig.now = NOON + S(4)
    await service.tick()

    assert rig.originates() == ["55100001"]
    rig.desk.person_answers(NOON + S(5), "1615366800.11", "agent-ar-1")
    rig.now = NOON + S(6)
    await service.tick()
    assert rig.originates() == ["55100001"]  # the one person is busy with the first caller
    assert await rig.status(first) == (RequestStatus.CONNECTED, 1)


async def test_a_person_free_in_two_queues_is_counted_on_by_one_callback_not_one_of_each(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q, "ar-complaints")
    await rig.request("55100001", queue=Q, place=900)
    await rig.request("55100002", queue="ar-complaints", place=800)
    service = rig.service(capacity_share=1.0)

    await service.tick()
    await service.tick()

    assert len(rig.originates()) == 1


async def test_callbacks_are_dialled_up_to_the_free_people(rig):
    for person in ("agent-ar-1", "agent-ar-2"):
        rig.desk.login(NOON - S(100), person, Q)
    for i in range(4):
        await rig.request(f"5510000{i}", place=900 - i)
    service = rig.service(capacity_share=1.0)

    await service.tick()
    await service.tick()

    assert rig.originates() == ["55100000", "55100001"]


async def test_a_caller_served_after_a_restart_closed_their_attempt_is_not_called_again(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    request = await rig.request("55123456")
    service = rig.service(retry_after_seconds=(60,))
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("55123456"), "1615366800.12"))

    # The service restarts while the caller waits in the queue: the attempt's fate is unknown.
    rig.now = NOON + S(10)
    restarted = rig.service(retry_after_seconds=(60,))
    await restarted.start()
    await restarted.close()
    assert await rig.status(request) == (RequestStatus.OPEN, 1)

    await restarted.on_record(callback_record("1615366800.12", "55123456", Outcome.ANSWERED, "agent-ar-1"))

    assert await rig.status(request) == (RequestStatus.CONNECTED, 1)
    assert await rig.outcomes(request) == [AttemptOutcome.CONNECTED]
    rig.now = NOON + S(120)
    await restarted.tick()
    assert rig.originates() == ["55123456"]


async def test_a_callback_lost_from_sight_stops_holding_a_person_after_an_hour_and_is_retried(rig):
    rig.desk.login(NOON - S(100), "agent-ar-1", Q)
    first = await rig.request("55100001", place=900)
    await rig.request("55100002", place=800)
    service = rig.service(capacity_share=1.0, retry_after_seconds=(60,))
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("55100001"), "1615366800.13"))
    # Its events and record are lost (an AMI gap): the live state never sees the caller again.

    rig.now = NOON + S(3599)
    await service.tick()
    assert rig.originates() == ["55100001"]  # still held for the caller, who may be waiting

    rig.now = NOON + S(3601)
    await service.tick()

    assert await rig.outcomes(first) == [AttemptOutcome.UNKNOWN]
    assert await rig.status(first) == (RequestStatus.OPEN, 1)
    assert rig.originates() == ["55100001", "55100002"]  # the person is free for the next caller
