"""Outbound follow-up campaigns on a real Asterisk (issue 14): the service calls each patient of a list through the
trunk, plays the script, and acts on the key.

The trunk's far end is one SIPp UAS (the patients' phones): what it does after answering (the key it presses, or
ringing on and never answering) is set per test; who was called is read from the INVITEs it received (the request
URI names the number). The control room (the campaign's ``emergency-control-room`` destination) is a SIPp UAS at a
SIP URI of its own; the doctors are SIPp phones registered and logged in. Patients are added to the campaign's list
in the database as the tests go (the campaign runs all day in this profile, so a new patient is called at once).

One Asterisk for the module: the default profile shortened (as the other e2e modules) with an ``outbound`` section.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from conftest import Rig, _short_profile, running_rig  # tests/e2e is on sys.path

from cdr.builder import Outcome as RecordOutcome
from outbound.campaign_db import CampaignStore
from outbound.list_db import ListStore
from outbound.model import Action, Attempt, DayState, Outcome
from telephony.sipp.driver import AgentPhone, Dtmf, RejectingPhone, free_udp_port

pytestmark = pytest.mark.e2e

CAMPAIGN = "followup"
CONTROL_ROOM_PORT = free_udp_port()
DOCTORS = ("doc-ar-int-1", "doc-ar-int-2", "doc-ar-int-3", "doc-ar-int-4")
CAP = 3


def _profile(target: Path) -> Path:
    _short_profile(target)
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    data["callbacks"]["enabled"] = False  # nothing else rings the trunk here
    for destination in data["destinations"]:
        if destination["id"] == "emergency-control-room":
            destination["sip"] = f"sip:9900@127.0.0.1:{CONTROL_ROOM_PORT}"
    data["people"] += [
        {"id": pid, "kind": "doctor", "languages": {"ar": 5}, "specialties": ["internal"], "level": 4}
        for pid in DOCTORS[1:]
    ]
    for name, (ar, en) in {
        "campaign_greeting": ("مرحبا", "Hello"),
        "campaign_question": ("اضغط", "Press"),
        "campaign_thanks": ("شكرا", "Thanks"),
        "campaign_doctor": ("طبيب", "Doctor"),
        "campaign_emergency": ("طوارئ", "Emergency"),
    }.items():
        data["prompts"][name] = {"ar": ar, "en": en}
    data["outbound"] = {
        "allowed_numbers": ["9655[0-9]{7}"],
        "do_not_call": ["96559999999"],
        "campaigns": [
            {
                "id": CAMPAIGN,
                "label": {"ar": "متابعة", "en": "Follow-up"},
                "list": "patients",
                "window": {"start": "00:00", "end": "23:59"},
                "topic": "medical",
                "specialty": "internal",
                "max_concurrent": CAP,
                "attempts_per_day": 2,
                "retry_after_seconds": [5],
                "ring_seconds": 5,
                "script": {"retries": 1, "timeout_seconds": 4},
            }
        ],
    }
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-campaign")
    with running_rig(workdir, "e2e-campaign", _profile(workdir / "profile.yaml")) as rig:
        yield rig


@pytest_asyncio.fixture
async def patients(rig: Rig) -> AsyncIterator[AgentPhone]:
    """The far end of the trunk: every patient's phone. It answers and waits for the other side's BYE until a test
    tells it what to do (``behave``)."""
    phone = AgentPhone(
        "patients",
        "-",
        registrar=("127.0.0.1", rig.sip_port),
        local_port=rig.carrier_port,
        ring_seconds=0.5,
        talk_seconds=None,
        workdir=rig.workdir / "patients",
    )
    await phone.start()
    yield phone
    await phone.stop()


@pytest_asyncio.fixture
async def control_room(rig: Rig) -> AsyncIterator[AgentPhone]:
    phone = AgentPhone(
        "control-room", "-", local_port=CONTROL_ROOM_PORT, ring_seconds=0.3, talk_seconds=2.0,
        workdir=rig.workdir / "control-room",
    )  # fmt: skip
    await phone.start()
    yield phone
    await phone.stop()


# -- helpers ------------------------------------------------------------------------------------------------------


_LIST: list[tuple[str, str]] = []  # every patient of the module's list so far: (number, language)


async def add_patients(rig: Rig, numbers: list[str], *, language: str = "ar") -> None:
    """Add people to the campaign's list as an operator would: the list's file, grown by these rows, imported again
    (``ListStore.import_csv``, as ``hotline campaign import`` does)."""
    _LIST.extend((number, language) for number in numbers)
    rows = "".join(f"{n},Patient {n[-4:]},{lang},7\n" for n, lang in _LIST)
    data = ("number,name,language,ward\n" + rows).encode()
    async with ListStore(rig.db_url) as lists:
        result = await lists.import_csv(
            "patients", data, filename="patients.csv", by="e2e", profile=_profile_of(rig), now=datetime.now(UTC)
        )
    assert result.added == len(numbers), result


def _profile_of(rig: Rig):
    from profiles.model import load_profile

    return load_profile(Path(rig.env["HOTLINE_PROFILE"]))


async def attempts_of(rig: Rig, number: str) -> list[Attempt]:
    store = CampaignStore(rig.db_url)
    try:
        ids = {c.id for c in await store.contacts("patients") if c.number == number}
        today = [a for a in await store.attempts(CAMPAIGN, _today()) if a.contact_id in ids]
    finally:
        await store.close()
    return sorted(today, key=lambda a: a.number)


def _today():  # the profile's local day (Asia/Kuwait), as the service counts it
    from outbound.model import local_day

    return local_day("Asia/Kuwait", datetime.now(UTC))


async def states(rig: Rig, numbers: list[str]) -> dict[str, DayState]:
    store = CampaignStore(rig.db_url)
    try:
        campaign = _campaign(rig)
        return {c.number: s for c, s, _ in await store.people(campaign, _today()) if c.number in numbers}
    finally:
        await store.close()


def _campaign(rig: Rig):
    return _profile_of(rig).outbound.campaign(CAMPAIGN)  # type: ignore[union-attr]


def invites(phone: AgentPhone, number: str) -> int:
    """INVITEs for ``number`` the trunk's far end received (a new call each; re-INVITEs of a call not counted)."""
    text = ""
    for path in (Path(f"{phone.prefix}.messages.before"), phone.message_trace):
        if path.exists():
            text += path.read_text(encoding="utf-8", errors="replace")
    calls = set()
    for block in re.split(r"\n-{20,}[^\n]*\n", text):
        if "message received" not in block:
            continue
        body = block.split("message received", 1)[1].split("\n", 1)[-1].lstrip("\r\n")
        if not body.startswith(f"INVITE sip:{number}@"):
            continue
        call = re.search(r"^(?:Call-ID|i):\s*(\S+)", body, re.MULTILINE | re.IGNORECASE)
        if call and not re.search(r"^(?:To|t):.*;tag=", body, re.MULTILINE | re.IGNORECASE):
            calls.add(call.group(1))
    return len(calls)


async def _ended(rig: Rig, number: str, count: int = 1) -> list[Attempt] | None:
    attempts = await attempts_of(rig, number)
    return attempts if len(attempts) >= count and all(a.ended_at is not None for a in attempts) else None


async def _campaign_record(rig: Rig, number: str):
    records = [r for r in await rig.records_of(number, timeout=0.5) if r.kind == "campaign"]
    return records[-1] if records else None


async def doctors(phones, count: int = 1, **kwargs) -> list[AgentPhone]:
    return [await phones(pid, **kwargs) for pid in DOCTORS[:count]]


# -- (a), (b), (c): the three keys ------------------------------------------------------------------------------


async def test_a_patient_who_answers_and_presses_1_is_reached_and_thanked(rig, phones, patients):
    await doctors(phones, 1, talk_seconds=2.0)  # progressive: a call is placed only while a doctor is free
    await patients.behave([Dtmf("1", after=2.0)])
    number = "96550000101"
    await add_patients(rig, [number])
    (attempt,) = await rig.wait_for(lambda: _ended(rig, number), timeout=45, what="the call to end")
    assert attempt.outcome is Outcome.ANSWERED and attempt.number == 1
    assert (attempt.key, attempt.action, attempt.agent) == ("1", Action.WELL, None)
    assert attempt.linkedid and attempt.dialed_at is not None and attempt.answered_at is not None
    assert invites(patients, number) == 1
    record = await rig.wait_for(lambda: _campaign_record(rig, number), timeout=20, what="the call's record")
    assert record.linkedid == attempt.linkedid and record.language == "ar"
    assert record.outcome is RecordOutcome.SELF_SERVED and record.agent is None  # well: not a failed call
    assert (await states(rig, [number]))[number] is DayState.REACHED


async def test_a_patient_who_presses_2_reaches_a_doctor_ahead_and_the_attempt_names_the_doctor(rig, phones, patients):
    (doctor,) = await doctors(phones, 1, talk_seconds=2.0)
    await patients.behave([Dtmf("2", after=2.0)])
    number = "96550000102"
    await add_patients(rig, [number])
    (attempt,) = await rig.wait_for(lambda: _ended(rig, number), timeout=60, what="the call to end")
    assert (attempt.key, attempt.action, attempt.agent) == ("2", Action.DOCTOR, DOCTORS[0])
    assert [c.caller_number for c in doctor.answered_calls()] == [number]
    record = await rig.wait_for(lambda: _campaign_record(rig, number), timeout=20, what="the call's record")
    assert record.outcome is RecordOutcome.ANSWERED and record.agent == DOCTORS[0]
    assert record.queue == "ar-medical-internal" and record.kind == "campaign"
    assert invites(patients, number) == 1


async def test_a_patient_who_presses_9_reaches_the_control_room_and_an_alert_is_written(
    rig, phones, patients, control_room
):
    await doctors(phones, 1, talk_seconds=2.0)
    await patients.behave([Dtmf("9", after=2.0)])
    number = "96550000109"
    await add_patients(rig, [number])
    (attempt,) = await rig.wait_for(lambda: _ended(rig, number), timeout=60, what="the call to end")
    assert (attempt.key, attempt.action) == ("9", Action.EMERGENCY)
    assert len(control_room.answered_calls()) == 1  # the control room answered the patient's call
    store = CampaignStore(rig.db_url)
    try:
        (alert,) = [a for a in await store.alerts() if a.number == number]
    finally:
        await store.close()
    assert (alert.attempt_id, alert.campaign, alert.name, alert.linkedid) == (
        attempt.id, CAMPAIGN, "Patient 0109", attempt.linkedid,
    )  # fmt: skip
    assert invites(patients, number) == 1


async def test_a_patient_who_presses_9_while_the_control_room_is_busy_reaches_a_doctor_not_silence(
    rig, phones, patients
):
    (doctor,) = await doctors(phones, 1, talk_seconds=2.0)
    busy = RejectingPhone(status=486, reason="Busy Here", local_port=CONTROL_ROOM_PORT,
                          workdir=rig.workdir / "control-room-busy")  # fmt: skip
    await busy.start()
    try:
        await patients.behave([Dtmf("9", after=2.0)])
        number = "96550000119"
        await add_patients(rig, [number])
        (attempt,) = await rig.wait_for(lambda: _ended(rig, number), timeout=60, what="the call to end")
        assert len(busy.rejected_call_ids()) == 1  # the control room was tried first
    finally:
        await busy.stop()
    assert (attempt.key, attempt.action, attempt.agent) == ("9", Action.EMERGENCY, DOCTORS[0])
    assert [c.caller_number for c in doctor.answered_calls()] == [number]
    store = CampaignStore(rig.db_url)
    try:
        assert [a.attempt_id for a in await store.alerts() if a.number == number] == [attempt.id]
    finally:
        await store.close()


async def test_a_number_on_the_do_not_call_list_is_never_dialled(rig, phones, patients):
    await doctors(phones, 1, talk_seconds=2.0)
    await add_patients(rig, ["96559999999"])
    (attempt,) = await rig.wait_for(lambda: _ended(rig, "96559999999"), timeout=20, what="the refusal")
    assert attempt.outcome is Outcome.REFUSED and attempt.dialed_at is None
    assert invites(patients, "96559999999") == 0


# -- (d): never answers -------------------------------------------------------------------------------------------


async def test_a_patient_who_never_answers_is_retried_after_the_backoff_then_not_reached(rig, phones, patients):
    await doctors(phones, 1, talk_seconds=2.0)
    patients.ring_seconds = 60.0  # rings on past the campaign's ring_seconds (5)
    await patients.behave([])
    number = "96550000104"
    await add_patients(rig, [number])
    first, second = await rig.wait_for(lambda: _ended(rig, number, 2), timeout=60, what="two attempts")
    assert [a.outcome for a in (first, second)] == [Outcome.NO_ANSWER, Outcome.NO_ANSWER]
    assert first.ended_at is not None and second.claimed_at >= first.ended_at  # after the backoff (5 s)
    assert (second.claimed_at - first.ended_at).total_seconds() >= 5
    assert (await states(rig, [number]))[number] is DayState.NOT_REACHED
    assert invites(patients, number) == 2


# -- (f): the cap on concurrent calls ----------------------------------------------------------------------------


def _most_at_once(phone: AgentPhone, numbers: set[str]) -> int:
    spans = []
    for call in phone.answered_calls():
        to = re.search(r"sip:(\d+)@", call.to_header)
        if to and to.group(1) in numbers:
            spans.append((call.at, 1))
            spans.append((call.ended_at if call.ended_at is not None else float("inf"), -1))
    most = now = 0
    for _, step in sorted(spans, key=lambda s: (s[0], s[1])):
        now += step
        most = max(most, now)
    return most


async def test_twenty_patients_with_a_cap_of_three_are_all_reached_never_more_than_three_at_once(rig, phones, patients):
    await doctors(phones, 4, talk_seconds=2.0)  # four free doctors: only the cap keeps it to three
    await patients.behave([Dtmf("1", after=2.0)])
    numbers = [f"965500002{i:02d}" for i in range(20)]
    await add_patients(rig, numbers)

    async def all_reached():
        found = await states(rig, numbers)
        return len(found) == 20 and all(s is DayState.REACHED for s in found.values())

    await rig.wait_for(all_reached, timeout=240, what="all twenty reached")
    assert _most_at_once(patients, set(numbers)) == CAP  # the cap is reached, and never passed
    assert {n: invites(patients, n) for n in numbers} == dict.fromkeys(numbers, 1)


# -- (e): killed mid-campaign --------------------------------------------------------------------------------------


def _service_child(rig: Rig) -> int:
    """The service itself: the child of root's ``hotline serve`` (it runs as the unprivileged user)."""
    assert rig.service is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s*{rig.service.pid}$", status, re.MULTILINE):
            return int(entry.name)
    raise AssertionError("no service process under 'hotline serve'")


async def test_the_service_killed_mid_campaign_and_restarted_calls_no_patient_twice(rig, phones, patients):
    await doctors(phones, 4, talk_seconds=2.0)
    await patients.behave([Dtmf("1", after=2.0)])
    numbers = [f"965500003{i:02d}" for i in range(10)]
    await add_patients(rig, numbers)

    async def mid_campaign():
        attempts = [a for n in numbers for a in await attempts_of(rig, n)]
        dialled = [a for a in attempts if a.dialed_at is not None and a.ended_at is None]
        done = [a for a in attempts if a.ended_at is not None]
        return len(dialled) >= 2 and len(done) >= 2

    await rig.wait_for(mid_campaign, timeout=90, what="calls in flight and calls done")
    os.kill(_service_child(rig), signal.SIGKILL)
    assert rig.service is not None
    rig.service.wait(30)
    rig.service = None
    rig.start_service()

    async def settled():
        found = await states(rig, numbers)
        return len(found) == 10 and all(s in (DayState.REACHED, DayState.UNKNOWN) for s in found.values())

    await rig.wait_for(settled, timeout=180, what="every patient reached, or of unknown fate after the kill")
    assert {n: invites(patients, n) for n in numbers} == dict.fromkeys(numbers, 1)
