"""Skill- and load-aware routing on a real Asterisk with SIPp phones that log in from the phone.

People log in with *41 and pause with *43 from their own SIPp phone. Caller numbers are unique per
test. Times come from the phones' and callers' own clocks, never from timed assertions on our code.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time

import pytest
from conftest import WIDEN_AFTER, WRAPUP

from cdr.builder import Outcome
from telephony.sipp.driver import place_call

pytestmark = pytest.mark.e2e

ARABIC, PAEDIATRICS_PATH, GENERAL, COMPLAINTS, DELIVERY = "1", ("2", "1"), "4", "5", "3"


async def call(rig, number: str, digits: tuple[str, ...], **kwargs):
    dtmf = [(1.0, ARABIC)] + [(0.8, d) for d in digits]
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=dtmf, workdir=rig.workdir / "callers", **kwargs
    )


def answered_by(phones, number: str) -> list[str]:
    return [p.name for p in phones for c in p.answered_calls() if c.caller_number == number]


async def test_an_idle_matching_doctor_gets_the_call_over_a_busy_one(rig, phones):
    first = await phones("doc-ar-paed-1", talk_seconds=8.0)
    second = await phones("doc-ar-paed-2", talk_seconds=1.0)
    doctors = [first, second]

    busy_call = asyncio.create_task(call(rig, "96551100001", PAEDIATRICS_PATH, max_duration=40))
    await rig.wait_for(lambda: _answered(doctors, "96551100001"), timeout=20, what="the first consultation")
    (busy_doctor,) = answered_by(doctors, "96551100001")

    result = await call(rig, "96551100002", PAEDIATRICS_PATH, max_duration=40)

    assert result.answered and result.remote_hung_up, result.error
    (idle_doctor,) = answered_by(doctors, "96551100002")
    assert idle_doctor != busy_doctor
    assert (await busy_call).remote_hung_up


async def test_of_two_idle_matching_agents_the_one_idle_longer_gets_the_call(rig, phones):
    # Built so that app_queue alone picks the other agent: the one idle longer (agent-ar-1) has
    # taken a call, the other (agent-ar-3) logs in after that call's wrap-up and has taken none.
    # leastrecent (the profile's strategy: LastCall 0 rings first) and fewestcalls both point at
    # agent-ar-3; only the desk's ranking (longest idle since the end of wrap-up or the login
    # first, as penalties) gives the call to agent-ar-1.
    idle_longer = await phones("agent-ar-1", talk_seconds=1.0)
    first = await call(rig, "96551100003", (GENERAL,), max_duration=30)
    assert first.answered and first.remote_hung_up, first.error
    assert answered_by([idle_longer], "96551100003") == ["agent-ar-1"]
    last_call = int((await rig.members("ar-general"))["agent-ar-1"]["LastCall"])
    assert last_call > 0
    # The scenario: the second agent comes on shift after agent-ar-1's wrap-up is over.
    await rig.wait_for(lambda: _clock_past(last_call + WRAPUP + 1), timeout=WRAPUP + 10, what="the wrap-up")
    newcomer = await phones("agent-ar-3", talk_seconds=1.0)
    # Barrier: the desk has ranked the newcomer among the free members (a login enters at 99,
    # the band's "cannot take a call now").
    await rig.wait_for(
        lambda: _all_ranked(rig, "ar-general", {"agent-ar-1", "agent-ar-3"}),
        timeout=10,
        what="both agents ranked as free",
    )
    members = await rig.members("ar-general")
    # What app_queue's own strategy would go by: it points at the newcomer.
    assert members["agent-ar-3"]["LastCall"] == "0" and members["agent-ar-3"]["CallsTaken"] == "0"
    assert int(members["agent-ar-1"]["CallsTaken"]) >= 1
    assert int(members["agent-ar-3"]["LoginTime"]) > last_call + WRAPUP

    second = await call(rig, "96551100004", (GENERAL,), max_duration=30)

    assert second.answered and second.remote_hung_up, second.error
    assert answered_by([idle_longer, newcomer], "96551100004") == ["agent-ar-1"], members
    (record,) = await rig.records_of("96551100004")
    assert record.agent == "agent-ar-1"


async def test_with_no_exact_match_free_widening_happens_after_t1_and_no_sooner(rig, phones):
    # agent-ar-junior (level 2, below the profile's min_skill_level 3) is only a widened match.
    junior = await phones("agent-ar-junior", talk_seconds=1.0)

    result = await call(rig, "96551100005", (DELIVERY,), max_duration=40)

    assert result.answered and result.remote_hung_up, result.error
    assert answered_by([junior], "96551100005") == ["agent-ar-junior"]
    (record,) = await rig.records_of("96551100005")
    assert record.outcome is Outcome.ANSWERED and record.queue == "ar-delivery"
    assert WIDEN_AFTER - 0.5 <= record.wait_seconds <= WIDEN_AFTER + 4.0


async def test_a_paused_agent_gets_no_calls_within_one_second_of_the_pause(rig, phones):
    paused = await phones("agent-ar-1", talk_seconds=1.0)
    other = await phones("agent-ar-3", talk_seconds=1.0)

    pause = await paused.dial("*43")
    assert pause.answered, pause.error
    paused_at = pause.answered_at
    members = await rig.members("ar-general")
    assert members["agent-ar-1"]["Paused"] == "1"

    results = await asyncio.gather(*(call(rig, f"9655110001{i}", (GENERAL,), max_duration=20) for i in range(3)))
    assert all(r.answered for r in results)
    # Every call came after the pause took effect, and none reached the paused agent.
    assert all(r.started_at > paused_at for r in results)
    assert paused.answered_calls() == []
    assert sorted(c.caller_number for c in other.answered_calls()) == ["96551100010", "96551100011", "96551100012"]
    # And back: after *44 the agent takes calls again.
    assert (await paused.dial("*44")).answered
    await rig.wait_for(lambda: _unpaused(rig, "ar-general", "agent-ar-1"), timeout=5, what="the unpause")


async def test_after_the_ami_connection_is_killed_the_service_resyncs_and_routes_the_next_call(rig, phones):
    doctor = await phones("doc-ar-paed-1", talk_seconds=6.0)
    in_progress = asyncio.create_task(call(rig, "96551100020", PAEDIATRICS_PATH, max_duration=40))
    await rig.wait_for(lambda: _answered([doctor], "96551100020"), timeout=20, what="the consultation")
    connections_before = rig.ami_proxy.connections

    rig.ami_proxy.cut()
    await rig.wait_for(lambda: _reconnected(rig, connections_before), timeout=20, what="the AMI reconnect")

    # The call that was in progress is not lost: it ends normally, with the doctor.
    finished = await in_progress
    assert finished.answered and finished.remote_hung_up and finished.talk_duration >= 5.0
    # The next call is routed with the resynced state.
    result = await call(rig, "96551100021", PAEDIATRICS_PATH, max_duration=40)
    assert result.answered and result.remote_hung_up, result.error
    assert answered_by([doctor], "96551100021") == ["doc-ar-paed-1"]
    (record,) = await rig.records_of("96551100021")
    assert record.agent == "doc-ar-paed-1" and record.outcome is Outcome.ANSWERED


async def test_a_seat_limit_holds_under_a_burst(rig, phones):
    # ar-complaints has one seat in every shift of the test profile; two agents serve it.
    agents = [await phones("agent-ar-1", talk_seconds=2.0), await phones("agent-ar-3", talk_seconds=2.0)]
    members = await rig.members("ar-complaints")
    assert sorted(members) == ["agent-ar-1", "agent-ar-3"]
    assert sum(m["Paused"] == "0" for m in members.values()) == 1

    numbers = [f"9655110003{i}" for i in range(4)]
    results = await asyncio.gather(*(call(rig, n, (COMPLAINTS,), max_duration=60) for n in numbers))

    assert all(r.answered and r.remote_hung_up for r in results), [r.error for r in results]
    spans = sorted((c.at, c.ended_at) for p in agents for c in p.answered_calls() if c.caller_number in numbers)
    assert len(spans) == 4
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.05, f"two complaint calls overlapped: {spans}"

    # A supervisor raises the seats live: Asterisk's queue membership follows at once.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline",
        "seats",
        "ar-complaints",
        "2",
        env=rig.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    await rig.wait_for(lambda: _active_count(rig, "ar-complaints", 2), timeout=5, what="the second seat")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline",
        "seats",
        "ar-complaints",
        "1",
        env=rig.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert (await process.wait()) == 0
    await rig.wait_for(lambda: _active_count(rig, "ar-complaints", 1), timeout=5, what="back to one seat")


async def _clock_past(epoch: float) -> bool:
    return time.time() > epoch


async def _all_ranked(rig, queue: str, people: set[str]) -> bool:
    members = await rig.members(queue)
    return people <= set(members) and all(int(members[p]["Penalty"]) % 100 < 99 for p in people)


async def _answered(phones, number: str) -> bool:
    return bool(answered_by(phones, number))


async def _active_count(rig, queue: str, count: int) -> bool:
    return sum(m["Paused"] == "0" for m in (await rig.members(queue)).values()) == count


async def _unpaused(rig, queue: str, person: str) -> bool:
    return (await rig.members(queue)).get(person, {}).get("Paused") == "0"


async def _reconnected(rig, before: int) -> bool:
    health = rig.health() or {}
    return rig.ami_proxy.connections > before and health.get("ami_connected") and health.get("routing_synced")
