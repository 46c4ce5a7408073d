"""Transfers on a real Asterisk with SIPp phones (issue 12, deliverables 1 and 2; the toll-fraud line):

* blind transfer by DTMF to another queue: the caller keeps their language (English, from an agent whose phone speaks
  Arabic) and enters ahead of a caller already waiting there; the second queue's person answers them first;
* attended transfer by DTMF to ``technical-affairs``, a SIPp UAS, which answers; the agent hangs up and the caller
  stays with technical affairs until they hang up;
* attended transfer by DTMF to a queue: the consultation call carries the caller's language, the paediatrician it
  reaches keeps the caller once the agent hangs up;
* a blind transfer to a person's code rings their phone;
* a blind transfer (REFER) to a destination that is busy brings the caller back to their queue and to a person;
* a softphone's REFER to an allowed destination (``emergency-control-room``, code 99) works (202, NOTIFY 200);
* REFERs to ``sip:0090…@anything`` and to a number outside the profile are refused with a SIP error and logged by
  Asterisk, the agent stays with the caller, the carrier's UAS on the trunk sees no INVITE; a code that does not
  exist keyed by the agent is refused too, and the caller's own transfer keys do nothing.

One Asterisk for the module: the default profile shortened (as the other e2e modules), its destinations pointing at
this module's SIPp UASes. Facts come from Asterisk's own AMI events and the phones' SIP traces, never from sleeps;
each call's record shows its legs (who answered, who it went to and how, talk per person).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import Rig, _short_profile, ami_events, running_rig  # tests/e2e is on sys.path

from telephony.sipp.driver import AgentPhone, Dtmf, Refer, RejectingPhone, free_udp_port, place_call

pytestmark = pytest.mark.e2e

ARABIC, ENGLISH = "1", "2"
VIRUS, MEDICAL, GENERAL = "1", "2", "4"
PAEDIATRICS = "1"
PORTS = {"technical-affairs": free_udp_port(), "emergency-control-room": free_udp_port()}
HOSTILE = "00901234567"  # an international premium number, through "anything"
OUTSIDE = "96522000000"  # a plain number the profile does not name


def _profile(target: Path) -> Path:
    _short_profile(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["callbacks"]["enabled"] = False  # nothing else rings the trunk here
    for destination in data["destinations"]:  # the shipped PBX addresses, rewritten to this module's UASes
        user = destination["sip"].split(":")[1].split("@")[0]
        destination["sip"] = f"sip:{user}@127.0.0.1:{PORTS[destination['id']]}"
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-transfers")
    with running_rig(workdir, "e2e-transfers", _profile(workdir / "profile.yaml")) as rig:
        yield rig


@pytest_asyncio.fixture
async def outside(rig: Rig) -> AsyncIterator[dict[str, AgentPhone]]:
    """The destinations' far ends: SIPp UASes that answer every call and wait for the other side's BYE."""
    phones = {
        name: AgentPhone(
            name, "-", local_port=port, ring_seconds=0.3, talk_seconds=None, workdir=rig.workdir / "outside"
        )
        for name, port in PORTS.items()
    }
    for phone in phones.values():
        await phone.start()
    yield phones
    for phone in phones.values():
        await phone.stop()


def _of(events: list[dict[str, str]], name: str, **headers: str) -> list[dict[str, str]]:
    return [
        e
        for e in events
        if (e.get("Event") == name or (e.get("Event") == "UserEvent" and e.get("UserEvent") == name))
        and all(e.get(key) == value for key, value in headers.items())
    ]


async def call(rig: Rig, number: str, digits: list[str], *, then: list[tuple[float, str]] = (), **kwargs):  # type: ignore[assignment]
    dtmf = [(1.0, digits[0])] + [(0.8, d) for d in digits[1:]] + list(then)
    return await place_call(
        "127.0.0.1", rig.sip_port, caller_number=number, dtmf=dtmf, workdir=rig.workdir / "callers", **kwargs
    )


def instance(rig: Rig):  # type: ignore[no-untyped-def]
    from hotline.settings import Settings
    from telephony.asterisk import AsteriskInstance
    from telephony.provision import current_root

    settings = Settings.from_env(rig.env)
    root = current_root(settings.cache_dir)
    assert root is not None
    return AsteriskInstance(root, settings)


def messages_log(rig: Rig) -> str:
    path = instance(rig).messages_log
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


EVENTS = ["QueueCallerJoin", "BlindTransfer", "AttendedTransfer", "AgentConnect", "UserEvent", "DialBegin"]


async def test_blind_transfer_to_another_queue_keeps_the_callers_language_and_puts_them_ahead(rig: Rig, phones) -> None:
    # what the caller hears first, in their language (the profile's transfer_hold), is made for Asterisk
    assert (instance(rig).sounds_dir / "en" / "transfer-hold.wav").stat().st_size > 1000
    # agent-ar-1's phone speaks Arabic; it takes English callers when widening (English is its second language)
    await phones("agent-ar-1", during_call=[Dtmf("#1", after=2.0), Dtmf("1221", after=1.0)], talk_seconds=15)
    async with ami_events(rig, EVENTS) as events:
        waiting = asyncio.create_task(call(rig, "96551400001", [ENGLISH, MEDICAL, PAEDIATRICS], max_duration=60))
        await rig.wait_for(lambda: _of(events, "QueueCallerJoin", Queue="en-medical-paediatrics"), timeout=20,
                           what="a caller waiting for an English paediatrician")  # fmt: skip
        caller = asyncio.create_task(call(rig, "96551400002", [ENGLISH, VIRUS], max_duration=60))
        joins = lambda: _of(events, "QueueCallerJoin", Queue="en-medical-paediatrics", CallerIDNum="96551400002")  # noqa: E731
        await rig.wait_for(joins, timeout=30, what="the transferred caller in the paediatrics queue")
        (joined,) = joins()
        assert joined["Position"] == "1" and joined["Count"] == "2"  # ahead of the caller who was waiting
        assert joined["Language"] == "en"  # their own language, not the agent's phone's
        (transfer,) = _of(events, "HotlineTransfer")
        assert (transfer["Code"], transfer["Kind"], transfer["Target"], transfer["How"]) == (
            "1221", "queue", "en-medical-paediatrics", "BLIND")  # fmt: skip
        (blind,) = _of(events, "BlindTransfer")
        assert blind["Result"] == "Success" and blind["IsExternal"] == "No" and blind["Extension"] == "1221"
        doctor = await phones("doc-en-paed-1", talk_seconds=2)
        await rig.wait_for(lambda: doctor.answered_calls(), timeout=20, what="the paediatrician's first call")
        assert doctor.answered_calls()[0].caller_number == "96551400002"
        results = await asyncio.gather(caller, waiting)
    assert results[0].answered and results[0].remote_hung_up, results[0].error
    # the record: first answered by agent-ar-1 in en-virus, then the paediatrician after the blind transfer
    (record,) = await rig.records_of("96551400002")
    legs = [(leg.kind, leg.target, leg.queue, leg.how) for leg in record.legs]
    assert legs == [("person", "agent-ar-1", "en-virus", None),
                    ("person", "doc-en-paed-1", "en-medical-paediatrics", "blind")], record.legs  # fmt: skip
    first, second = record.legs
    assert first.talk_seconds is not None and 2 <= first.talk_seconds <= 8  # keyed #1 2 s in, 1221 a second later
    answered = doctor.answered_calls()[0]
    assert answered.ended_at is not None and second.talk_seconds is not None
    assert abs(second.talk_seconds - (answered.ended_at - answered.at)) < 1.5


async def test_attended_transfer_to_technical_affairs_which_answers_and_keeps_the_caller(
    rig: Rig, phones, outside: dict[str, AgentPhone]
) -> None:
    agent = await phones("agent-ar-2", during_call=[Dtmf("*2", after=2.0), Dtmf("71", after=1.0)], talk_seconds=3)
    affairs = outside["technical-affairs"]
    async with ami_events(rig, EVENTS) as events:
        result = await call(rig, "96551400003", [ARABIC, GENERAL], hangup_after=20, max_duration=40)
    assert result.answered and not result.remote_hung_up, result.error  # the caller hung up, nobody dropped them
    await rig.wait_for(lambda: all(c.ended_at for c in affairs.answered_calls()), what="technical affairs' BYE")
    (answered,) = affairs.answered_calls()
    assert answered.ended_by == "remote" and answered.ended_at is not None and result.ended_at is not None
    assert abs(answered.ended_at - result.ended_at) < 1.5  # technical affairs talked to the caller until the end
    (agent_call,) = agent.answered_calls()
    assert agent_call.ended_by == "local" and agent_call.ended_at is not None
    assert answered.ended_at - agent_call.ended_at > 5  # ... long after the agent left
    (transfer,) = _of(events, "HotlineTransfer")
    assert (transfer["Code"], transfer["Kind"], transfer["Target"], transfer["How"]) == (
        "71", "destination", "technical-affairs", "ATTENDED")  # fmt: skip
    assert _of(events, "HotlineDestination", Destination="technical-affairs")
    (attended,) = _of(events, "AttendedTransfer")
    assert attended["Result"] == "Success", attended
    (record,) = await rig.records_of("96551400003")
    legs = [(leg.kind, leg.target, leg.how) for leg in record.legs]
    assert legs == [("person", "agent-ar-2", None), ("destination", "technical-affairs", "attended")], record.legs
    assert record.legs[1].talk_seconds is not None
    assert abs(record.legs[1].talk_seconds - (answered.ended_at - answered.at)) < 1.5  # technical affairs' own talk


async def test_a_refer_to_an_allowed_destination_reaches_it(rig: Rig, phones, outside: dict[str, AgentPhone]) -> None:
    # a softphone hangs up its side once the transfer is NOTIFYed (here: 3 s after the REFER's 202)
    agent = await phones("agent-ar-2", during_call=[Refer(f"sip:99@127.0.0.1:{rig.sip_port}", after=2.0)],
                         talk_seconds=3)  # fmt: skip
    room = outside["emergency-control-room"]
    async with ami_events(rig, EVENTS) as events:
        result = await call(rig, "96551400004", [ARABIC, GENERAL], hangup_after=14, max_duration=40)
    assert result.answered and not result.remote_hung_up, result.error
    (outcome,) = agent.refer_outcomes()
    assert outcome.status == 202 and outcome.result == 200, outcome
    (agent_call,) = agent.answered_calls()
    assert agent_call.ended_at is not None and result.ended_at is not None
    assert result.ended_at - agent_call.ended_at > 5  # the caller talked on with the control room
    await rig.wait_for(lambda: all(c.ended_at for c in room.answered_calls()), what="the control room's BYE")
    (answered,) = room.answered_calls()
    assert answered.ended_by == "remote" and answered.ended_at is not None and result.ended_at is not None
    assert abs(answered.ended_at - result.ended_at) < 1.5
    (blind,) = _of(events, "BlindTransfer")
    assert blind["Result"] == "Success" and blind["IsExternal"] == "Yes" and blind["Extension"] == "99"
    (transfer,) = _of(events, "HotlineTransfer")
    assert (transfer["Code"], transfer["Target"], transfer["How"]) == ("99", "emergency-control-room", "BLIND")
    (record,) = await rig.records_of("96551400004")
    legs = [(leg.kind, leg.target, leg.how) for leg in record.legs]
    assert legs == [("person", "agent-ar-2", None), ("destination", "emergency-control-room", "refer")], record.legs
    assert record.legs[1].talk_seconds is not None
    assert abs(record.legs[1].talk_seconds - (answered.ended_at - answered.at)) < 1.5


async def test_refers_and_codes_outside_the_directory_are_refused_logged_and_place_no_call(
    rig: Rig, phones, carrier: AgentPhone, outside: dict[str, AgentPhone]
) -> None:
    agent = await phones(
        "agent-ar-2",
        during_call=[
            Refer(f"sip:{HOSTILE}@anything.example", after=2.0),
            Refer(f"sip:{OUTSIDE}@127.0.0.1:{rig.sip_port}", after=1.0),
            Dtmf("#1", after=1.0),
            Dtmf(HOSTILE, after=1.0),  # a blind transfer key, then a number that is no code
        ],
        talk_seconds=12,
    )
    async with ami_events(rig, EVENTS) as events:
        # the caller tries the transfer keys too, while the agent talks: callers cannot transfer (no Queue option T)
        result = await call(rig, "96551400005", [ARABIC, GENERAL], then=[(10.0, "#"), (0.3, "1"), (0.3, "7"),
                            (0.3, "1")], max_duration=60)  # fmt: skip
    assert result.answered and result.remote_hung_up, result.error
    outcomes = agent.refer_outcomes()
    assert [o.target for o in outcomes] == [
        f"sip:{HOSTILE}@anything.example",
        f"sip:{OUTSIDE}@127.0.0.1:{rig.sip_port}",
    ]
    # Asterisk accepts a REFER for processing (202), then NOTIFYs the refusal: the target does not exist (404)
    assert all(o.result == 404 for o in outcomes), outcomes
    assert agent.dtmf_sent() == ["#", "1", *HOSTILE]
    # the agent stayed with the caller: the agent's own timer ended the call, and the caller heard that BYE
    (agent_call,) = agent.answered_calls()
    assert agent_call.ended_by == "local" and agent_call.ended_at is not None and result.ended_at is not None
    assert abs(result.ended_at - agent_call.ended_at) < 1.5
    dialled = [e["DestChannel"] for e in _of(events, "DialBegin")]
    assert not _of(events, "HotlineTransfer")
    assert all(channel.startswith("PJSIP/agent-ar-2-") for channel in dialled), dialled  # only the queue rang the agent
    assert all(e.get("Result") != "Success" for e in _of(events, "BlindTransfer") + _of(events, "AttendedTransfer"))
    # nobody outside was called: not the carrier (the trunk), not a destination
    carrier_log = carrier.log_file.read_text(errors="replace") if carrier.log_file.exists() else ""
    assert carrier.running and carrier.answered_calls() == [] and "HL INVITE" not in carrier_log
    assert all(phone.answered_calls() == [] for phone in outside.values())
    log = messages_log(rig)
    assert HOSTILE in log and OUTSIDE in log, "Asterisk did not log the refused REFERs"
    (record,) = await rig.records_of("96551400005")
    assert [(leg.kind, leg.target) for leg in record.legs] == [("person", "agent-ar-2")], record.legs


async def test_attended_transfer_to_a_queue_hands_on_the_callers_language(rig: Rig, phones) -> None:
    # The consultation call of an attended transfer is the agent's (a Local channel): it still carries the caller's
    # language (inherited), not the agent's phone's
    agent = await phones("agent-ar-1", during_call=[Dtmf("*2", after=2.0), Dtmf("1221", after=1.0)], talk_seconds=8)
    doctor = await phones("doc-en-paed-1", talk_seconds=None)
    async with ami_events(rig, EVENTS) as events:
        result = await call(rig, "96551400006", [ENGLISH, VIRUS], hangup_after=30, max_duration=60)
    assert result.answered and not result.remote_hung_up, result.error
    (joined,) = _of(events, "QueueCallerJoin", Queue="en-medical-paediatrics")
    assert joined["Channel"].startswith("Local/1221@hotline-transfer-") and joined["Language"] == "en", joined
    (attended,) = _of(events, "AttendedTransfer")
    assert attended["Result"] == "Success", attended
    await rig.wait_for(lambda: all(c.ended_at for c in doctor.answered_calls()), what="the paediatrician's BYE")
    (answered,) = doctor.answered_calls()
    (agent_call,) = agent.answered_calls()
    assert answered.ended_by == "remote" and answered.ended_at is not None and result.ended_at is not None
    assert abs(answered.ended_at - result.ended_at) < 1.5  # the caller talked with the paediatrician to the end
    assert agent_call.ended_at is not None and answered.ended_at - agent_call.ended_at > 5
    (record,) = await rig.records_of("96551400006")
    legs = [(leg.kind, leg.target, leg.how) for leg in record.legs]
    assert legs == [("person", "agent-ar-1", None), ("person", "doc-en-paed-1", "attended")], record.legs


async def test_a_destination_that_is_busy_brings_the_blind_transferred_caller_back_to_a_person(
    rig: Rig, phones
) -> None:
    busy = RejectingPhone(status=486, reason="Busy Here", local_port=PORTS["emergency-control-room"],
                          workdir=rig.workdir / "outside", name="room-busy")  # fmt: skip
    await busy.start()
    try:
        agent = await phones("agent-ar-2", during_call=[Refer(f"sip:99@127.0.0.1:{rig.sip_port}", after=4.0)],
                             talk_seconds=3)  # fmt: skip
        async with ami_events(rig, EVENTS) as events:
            caller = asyncio.create_task(call(rig, "96551400007", [ARABIC, GENERAL], max_duration=60))
            await rig.wait_for(lambda: _of(events, "AgentConnect", MemberName="agent-ar-2"), timeout=20,
                               what="agent-ar-2 answering")  # fmt: skip
            # agent-ar-2 leaves the queues (its phone would REFER again); agent-ar-3 takes calls instead
            assert (await agent.dial("*42")).answered
            other = await phones("agent-ar-3", talk_seconds=2)
            await rig.wait_for(lambda: _of(events, "AgentConnect", MemberName="agent-ar-3"), timeout=30,
                               what="the caller answered again, by agent-ar-3")  # fmt: skip
            result = await caller
        (outcome,) = agent.refer_outcomes()
        assert outcome.accepted, outcome
        assert busy.rejected_call_ids(), "the control room was not dialled"
        (dialled,) = _of(events, "HotlineDestinationResult", Destination="emergency-control-room")
        assert dialled["Status"] == "BUSY", dialled
        assert len(_of(events, "QueueCallerJoin", Queue="ar-general", CallerIDNum="96551400007")) == 2
        assert [c.caller_number for c in other.answered_calls()] == ["96551400007"]
        assert result.answered and result.remote_hung_up, result.error  # agent-ar-3 ended the call, nobody dropped it
        (record,) = await rig.records_of("96551400007")
        assert [(leg.kind, leg.target) for leg in record.legs] == [("person", "agent-ar-2"), ("person", "agent-ar-3")]
    finally:
        await busy.stop()


async def test_blind_transfer_to_a_persons_code_rings_their_phone(rig: Rig, phones) -> None:
    await phones("agent-ar-2", during_call=[Dtmf("#1", after=2.0), Dtmf("201", after=1.0)], talk_seconds=15)
    colleague = await phones("agent-ar-1", login=False, talk_seconds=None)  # registered, taking no queue calls
    async with ami_events(rig, EVENTS) as events:
        result = await call(rig, "96551400008", [ARABIC, GENERAL], hangup_after=15, max_duration=40)
    assert result.answered and not result.remote_hung_up, result.error
    await rig.wait_for(lambda: all(c.ended_at for c in colleague.answered_calls()), what="agent-ar-1's BYE")
    (answered,) = colleague.answered_calls()
    assert answered.caller_number == "96551400008" and answered.ended_by == "remote"
    (transfer,) = _of(events, "HotlineTransfer")
    assert (transfer["Code"], transfer["Kind"], transfer["Target"], transfer["How"]) == (
        "201", "person", "agent-ar-1", "BLIND")  # fmt: skip
    (record,) = await rig.records_of("96551400008")
    legs = [(leg.kind, leg.target, leg.how) for leg in record.legs]
    assert legs == [("person", "agent-ar-2", None), ("person", "agent-ar-1", "blind")], record.legs
    assert record.legs[1].talk_seconds is not None and answered.ended_at is not None
    assert abs(record.legs[1].talk_seconds - (answered.ended_at - answered.at)) < 1.5
