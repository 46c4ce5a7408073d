"""The campaign service (CampaignService.tick and what Asterisk tells it) with the real store on SQLite and
PostgreSQL, a real AMI client against the fake AMI server, and the live routing state fed AMI events as app_queue
sends them: what is dialled and how, the pacing, the window, what is refused at dial time, the Originate's answer,
an AMI drop mid-dial, the keys and the alert, the record that names the doctor, and a restart.

Each tick is awaited: when it returns, every Originate it sent has been received by the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from support.fake_ami import FakeAMIServer

from cdr.builder import CallRecord
from cdr.builder import Outcome as RecordOutcome
from outbound.campaign_db import CampaignStore
from outbound.model import Action, Alert, DayState, Outcome, local_day
from outbound.service import CampaignService
from profiles.model import Profile, load_profile
from storage.engine import upgrade
from telephony.ami.client import AMIClient
from telephony.ami.message import Message
from telephony.clock import epoch
from telephony.events import OriginateResponse, decode_event

NOON = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)  # 12:00 in Kuwait, a Wednesday
Q = "ar-medical-internal"


def S(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _profile(tmp: Path) -> Profile:
    data = yaml.safe_load((Path(__file__).parents[2] / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    for name in ("campaign_greeting", "campaign_question", "campaign_thanks", "campaign_doctor", "campaign_emergency"):
        data["prompts"][name] = {"ar": "نص", "en": "Text"}
    data["people"] += [
        {"id": f"doc-ar-int-{i}", "kind": "doctor", "languages": {"ar": 5}, "specialties": ["internal"], "level": 4}
        for i in (2, 3)
    ]
    data["outbound"] = {
        "allowed_numbers": ["9655[0-9]{7}"],
        "do_not_call": ["96559999999"],
        "quiet_hours": {"start": "13:00", "end": "14:00"},
        "campaigns": [
            {"id": "followup", "label": {"ar": "متابعة", "en": "Follow-up"}, "list": "patients",
             "window": {"start": "09:00", "end": "17:00"}, "topic": "medical", "specialty": "internal",
             "max_concurrent": 2, "attempts_per_day": 2, "retry_after_seconds": [60], "ring_seconds": 20},
        ],
    }  # fmt: skip
    path = tmp / "profile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_profile(path)


class Desk:
    def __init__(self, profile: Profile) -> None:
        from routing.state import LiveState

        self.state = LiveState.from_profile(profile, wrapup_seconds=0)
        self.synced = True

    def event(self, t: datetime, event: str, **headers: str) -> None:
        typed = decode_event(Message({"Event": event, "Timestamp": repr(epoch(t)), **headers}))
        assert typed is not None
        self.state.apply(typed, t)

    def login(self, t: datetime, person: str, queue: str = Q) -> None:
        self.event(t, "QueueMemberAdded", Queue=queue, MemberName=person, Interface=f"PJSIP/{person}",
                   Penalty="0", LoginTime=str(int(epoch(t))), Status="1", Paused="0", PausedReason="")  # fmt: skip

    def person_answers(self, t: datetime, uniqueid: str, person: str, queue: str = Q) -> None:
        self.event(t, "QueueCallerJoin", Queue=queue, Uniqueid=uniqueid, Position="1", Count="1")
        self.event(t, "AgentCalled", Queue=queue, Uniqueid=uniqueid, MemberName=person)
        self.event(t, "QueueCallerLeave", Queue=queue, Uniqueid=uniqueid)
        self.event(t, "AgentConnect", Queue=queue, Uniqueid=uniqueid, MemberName=person, HoldTime="1")


class Rig:
    def __init__(self, server: FakeAMIServer, store: CampaignStore, client: AMIClient, profile: Profile) -> None:
        self.server, self.store, self.client, self.profile = server, store, client, profile
        self.desk = Desk(profile)
        self.now = NOON

    def service(self, instance: str = "one") -> CampaignService:
        return CampaignService(self.profile, self.client, self.store, self.desk, instance,  # type: ignore[arg-type]
                               clock=lambda: self.now)  # fmt: skip

    def originates(self) -> list[str]:
        return [a.get("Channel", "").split("/", 1)[1].split("@", 1)[0] for a in self.server.received("Originate")]

    def action_id(self, number: str) -> str:
        (action,) = [a for a in self.server.received("Originate") if f"/{number}@" in (a.get("Channel") or "")]
        return action.action_id or ""

    async def patients(self, *numbers: str) -> None:
        rows = "".join(f"{n},P{n[-3:]},ar,3\n" for n in numbers)
        await self.store.lists.import_csv("patients", f"number,name,language,ward\n{rows}".encode(),
                                          filename="p.csv", by="test", profile=self.profile, now=self.now)  # fmt: skip

    async def states(self) -> dict[str, DayState]:
        people = await self.store.people(self.profile.outbound.campaign("followup"), self.day)  # type: ignore[union-attr]
        return {c.number: state for c, state, _ in people}

    async def attempts(self, number: str):
        return [a for c, _, attempts in await self.store.people(self.profile.outbound.campaign("followup"), self.day)  # type: ignore[union-attr]
                if c.number == number for a in attempts]  # fmt: skip

    @property
    def day(self):
        return local_day(self.profile.timezone, self.now)


def answered(action_id: str, linkedid: str) -> OriginateResponse:
    return OriginateResponse(action_id=action_id, response="Success", reason=4, channel="PJSIP/trunk-00000001",
                             uniqueid=linkedid, context="hotline-campaign-out", exten="followup")  # fmt: skip


def not_answered(action_id: str, reason: int = 3) -> OriginateResponse:
    return OriginateResponse(action_id=action_id, response="Failure", reason=reason, channel="PJSIP/trunk",
                             uniqueid="<null>", context="hotline-campaign-out", exten="followup")  # fmt: skip


def key(attempt_id: int, pressed: str, action: str) -> Message:
    return Message({"Event": "UserEvent", "UserEvent": "HotlineCampaignKey", "Attempt": str(attempt_id),
                    "Key": pressed, "Action": action})  # fmt: skip


def record(linkedid: str, number: str, agent: str | None) -> CallRecord:
    return CallRecord(
        linkedid=linkedid, caller_number=number, caller_name=None, started_at=NOON, language="ar", topic=None,
        specialty=None, queue=Q if agent else None, wait_seconds=None,
        outcome=RecordOutcome.ANSWERED if agent else RecordOutcome.SELF_SERVED, agent=agent, talk_seconds=None,
        hangup_cause=16, hangup_cause_text="Normal Clearing", ended_at=NOON + S(60), kind="campaign",
    )  # fmt: skip


@pytest.fixture
async def rig(db_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    upgrade(db_url)
    server = FakeAMIServer()
    await server.start()
    client = AMIClient("127.0.0.1", server.port, "hotline", "s3cret", backoff_initial=0.05, backoff_max=0.2)
    await client.start()
    await client.wait_connected(5)
    store = CampaignStore(db_url)
    try:
        yield Rig(server, store, client, _profile(tmp_path))
    finally:
        await client.close()
        await store.close()
        await server.close()


async def test_nobody_is_called_without_a_free_doctor_and_one_call_per_free_doctor_within_the_cap(rig):
    await rig.patients("96550000001", "96550000002", "96550000003", "96550000004")
    service = rig.service()
    await service.tick()
    assert rig.originates() == []  # no doctor logged in: nobody who presses 2 would wait on a dead line
    rig.desk.login(NOON - S(60), "doc-ar-int-1")
    await service.tick()
    assert rig.originates() == ["96550000001"]
    (action,) = rig.server.received("Originate")
    assert (action.get("Channel"), action.get("Context"), action.get("Exten"), action.get("Timeout")) == (
        "PJSIP/96550000001@trunk", "hotline-campaign-out", "followup", "20000",
    )  # fmt: skip
    variables = dict(item.split("=", 1) for item in action.getall("Variable"))
    assert variables["HOTLINE_QUEUE"] == Q and variables["HOTLINE_LANGUAGE"] == "ar"
    assert variables["HOTLINE_OUTBOUND_NUMBER"] == "96550000001" and variables["HOTLINE_CAMPAIGN"] == "followup"
    await service.tick()
    assert len(rig.originates()) == 1  # the one free doctor is covered by the call in flight
    rig.desk.login(NOON - S(60), "doc-ar-int-2")
    rig.desk.login(NOON - S(60), "doc-ar-int-3")
    await service.tick()
    assert len(rig.originates()) == 2  # the cap: two at once


async def test_outside_the_window_and_in_the_quiet_hours_nobody_is_called(rig):
    await rig.patients("96550000001")
    rig.desk.login(NOON - S(60), "doc-ar-int-1")
    service = rig.service()
    for at in (NOON.replace(hour=5), NOON.replace(hour=10, minute=30), NOON.replace(hour=15)):  # 8:00, 13:30, 18:00
        rig.now = at
        await service.tick()
    assert rig.originates() == []
    rig.now = NOON.replace(hour=11)  # 14:00: the quiet hours are over
    await service.tick()
    assert rig.originates() == ["96550000001"]


async def test_a_number_not_allowed_or_on_the_do_not_call_list_is_refused_and_never_dialled(rig):
    await rig.patients("96559999999", "96550000002")
    await rig.store.lists.add_dnc("9655-0000-002", "asked by phone", by="test", now=NOON)
    rig.desk.login(NOON - S(60), "doc-ar-int-1")
    service = rig.service()
    await service.tick()
    await service.tick()
    assert rig.originates() == []
    assert await rig.states() == {"96559999999": DayState.REFUSED, "96550000002": DayState.REFUSED}


async def test_not_answered_is_retried_after_the_backoff_then_not_reached(rig):
    await rig.patients("96550000001")
    rig.desk.login(NOON - S(60), "doc-ar-int-1")
    service = rig.service()
    await service.tick()
    await service.on_originate_response(not_answered(rig.action_id("96550000001")))
    rig.now += S(59)
    await service.tick()
    assert len(rig.originates()) == 1  # the backoff: 60 s
    rig.now += S(1)
    await service.tick()
    assert len(rig.originates()) == 2
    second = rig.server.received("Originate")[1].action_id or ""
    await service.on_originate_response(not_answered(second, reason=5))
    rig.now += S(3600)
    await service.tick()
    assert len(rig.originates()) == 2
    assert [a.outcome for a in await rig.attempts("96550000001")] == [Outcome.NO_ANSWER, Outcome.BUSY]
    assert (await rig.states())["96550000001"] is DayState.NOT_REACHED


async def test_the_keys_the_alert_and_the_doctor_who_took_the_call_are_recorded(rig):
    await rig.patients("96550000001", "96550000002")
    for person in ("doc-ar-int-1", "doc-ar-int-2"):
        rig.desk.login(NOON - S(60), person)
    service = rig.service()
    alerts: list[Alert] = []
    service.add_alert_listener(alerts.append)
    await service.tick()
    await service.on_originate_response(answered(rig.action_id("96550000001"), "1700.1"))
    await service.on_originate_response(answered(rig.action_id("96550000002"), "1700.2"))
    (first,) = await rig.attempts("96550000001")
    (second,) = await rig.attempts("96550000002")
    await service.on_message(key(first.id, "2", "doctor"))
    await service.on_message(key(second.id, "9", "emergency"))
    rig.desk.person_answers(NOON + S(10), "1700.1", "doc-ar-int-1")
    await service.tick()  # the live state: doc-ar-int-1 talks to the patient
    (first,) = await rig.attempts("96550000001")
    assert (first.key, first.action, first.agent, first.ended_at) == ("2", Action.DOCTOR, "doc-ar-int-1", None)
    assert [(a.number, a.name, a.attempt_id) for a in alerts] == [("96550000002", "P002", second.id)]
    await service.on_record(record("1700.1", "96550000001", "doc-ar-int-1"))
    await service.on_record(record("1700.2", "96550000002", None))
    figures = await service.figures("followup", rig.day)
    assert (figures.reached, figures.doctor, figures.emergency, figures.in_flight) == (2, 1, 1, 0)
    assert [a.id for a in await service.alerts()] == [alerts[0].id]
    assert await service.acknowledge(alerts[0].id, "supervisor") and await service.alerts() == []


async def test_an_ami_drop_mid_dial_leaves_the_attempt_unknown_and_never_dialled_again(rig):
    await rig.patients("96550000001")
    rig.desk.login(NOON - S(60), "doc-ar-int-1")

    async def drop(conn, action) -> None:
        conn.drop()

    rig.server.on_action("Originate", drop)
    service = rig.service()
    await service.tick()
    assert rig.originates() == ["96550000001"]  # sent: it may ring
    assert [a.outcome for a in await rig.attempts("96550000001")] == [Outcome.UNKNOWN]  # at once, not by age
    rig.server.on_action("Originate", lambda conn, action: conn.respond(action))
    await rig.client.wait_connected(5)
    rig.now += S(3600)
    await service.tick()
    assert rig.originates() == ["96550000001"]
    assert [a.outcome for a in await rig.attempts("96550000001")] == [Outcome.UNKNOWN]


async def test_a_dial_whose_answer_never_came_becomes_unknown_after_its_ring_time(rig):
    await rig.patients("96550000001")
    rig.desk.login(NOON - S(60), "doc-ar-int-1")
    service = rig.service()
    await service.tick()
    rig.now += S(20 + 119)
    await service.tick()
    assert [a.outcome for a in await rig.attempts("96550000001")] == [None]
    rig.now += S(2)
    await service.tick()
    assert [a.outcome for a in await rig.attempts("96550000001")] == [Outcome.UNKNOWN]
    assert len(rig.originates()) == 1


async def test_a_restart_never_dials_again_a_person_dialled_before_it(rig):
    await rig.patients("96550000001", "96550000002")
    for person in ("doc-ar-int-1", "doc-ar-int-2"):
        rig.desk.login(NOON - S(60), person)
    await rig.service().tick()  # dialled both, then the process died: no answer ever came
    restarted = rig.service()
    await restarted.start()
    try:
        rig.now += S(3600)
        await restarted.tick()
    finally:
        await restarted.close()
    assert len(rig.originates()) == 2
    assert set((await rig.states()).values()) == {DayState.UNKNOWN}


async def test_another_instance_does_not_dial_who_the_first_is_dialling(rig):
    await rig.patients("96550000001")
    for person in ("doc-ar-int-1", "doc-ar-int-2"):
        rig.desk.login(NOON - S(60), person)
    await rig.service("one").tick()
    await rig.service("two").tick()
    assert rig.originates() == ["96550000001"]
