"""Manual dialling (issue 14, item 3) on a real Asterisk with SIPp phones: click-to-call rings the agent's phone
first, then the number through the trunk; the call has a record of kind ``manual`` with that agent; agent phones
still cannot dial anything outside by themselves.

* The ManualDialler (outbound/manual.py, as the service builds it) runs in the test on its own AMI login to the real
  Asterisk and the service's database: it checks the number, writes the ``manual_calls`` row and originates the
  agent's phone into ``hotline-manual-out``. (The console's desk button and ``POST /api/v1/desk/dial`` call the
  service's own dialler the same way; the operation is proven in tests/adapters/test_manual_dialler.py.) The agent's
  SIPp phone answers; the dialplan dials the number at the carrier's UAS on the trunk, which answers. The service,
  listening to Asterisk as always, stores the call's record: kind manual, the agent, answered, with talk time.
* An Originate that bypasses the service with a hostile number in the variable (``…&PJSIP/…``) is refused by the
  dialplan itself before any Dial: the agent's phone rings, but the trunk sees no INVITE.
* An agent phone's own INVITE to an outside number gets 404 and the trunk sees no INVITE.

One Asterisk and one service for the module: the default profile shortened (tests/e2e/conftest.py), with an
``outbound`` section allowing Kuwaiti numbers with the country code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
import yaml
from conftest import (
    CONSOLE_PASSWORD,
    PROJECT_ROOT,
    Rig,
    _short_profile,
    ami_events,
    running_rig,
)  # tests/e2e on sys.path
from support.eventually import eventually

from cdr.builder import Outcome as RecordOutcome
from outbound.manual import EVENTS, ManualDialler, ManualStore
from outbound.model import Outcome
from profiles.model import load_profile
from storage.engine import Database
from telephony.ami.message import Message
from telephony.events import OriginateResponse, parse_event
from telephony.sipp.driver import AgentPhone

pytestmark = pytest.mark.e2e

AGENT = "agent-ar-1"
NUMBER = "96551234567"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-manual")
    profile = _short_profile(workdir / "profile.yaml")
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    data["outbound"] = {"allowed_numbers": ["965[569][0-9]{7}"], "manual_dialling": True}
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with running_rig(workdir, "e2e-manual", profile) as started:
        yield started


@pytest_asyncio.fixture
async def dialler(rig: Rig) -> AsyncIterator[ManualDialler]:
    """The service's dialler, on the test's own AMI login and the service's database."""
    client = rig.ami()
    db = Database(rig.db_url)
    manual = ManualDialler(load_profile(rig.env["HOTLINE_PROFILE"]), client, db)

    async def originated(message: Message) -> None:
        event = parse_event(message)
        if isinstance(event, OriginateResponse):
            await manual.on_originate_response(event)

    client.add_event_handler(manual.on_message, events=EVENTS)
    client.add_event_handler(originated, events=["OriginateResponse"])
    await client.start()
    await client.wait_connected(10)
    try:
        yield manual
    finally:
        await client.close()
        await db.close()


def invites_for(phone: AgentPhone, number: str) -> int:
    """INVITEs to ``number`` the phone (the carrier's UAS) received, answered or not."""
    text = phone.log_file.read_text(errors="replace") if phone.log_file.exists() else ""
    return len(re.findall(rf"HL TO \S+ [^\n]*sip:{re.escape(number)}@", text))


async def test_the_agents_phone_rings_first_then_the_number_and_the_call_is_recorded_as_manual(
    rig: Rig, phones, carrier: AgentPhone, dialler: ManualDialler
) -> None:
    agent = await phones(AGENT, login=False, talk_seconds=6.0)
    call = await dialler.dial(AGENT, "965 5123-4567", by="e2e-agent")
    assert call.number == NUMBER

    answered = await eventually(lambda: _answered(carrier, NUMBER), timeout=30, interval=0.2, what="the number")
    (rung,) = agent.answered_calls()
    assert rung.at < answered.at  # the agent's phone was answered before the number was
    assert "151" in rung.caller_number  # the agent sees the hotline's number
    assert answered.caller_number == "151"  # so does the person called: never the agent's own

    (record,) = await rig.records_of(NUMBER, timeout=40)
    assert (record.kind, record.agent, record.outcome) == ("manual", AGENT, RecordOutcome.ANSWERED)
    assert record.talk_seconds is not None and record.talk_seconds > 0
    assert [(leg.kind, leg.target) for leg in record.legs] == [("person", AGENT)]

    async def stored():
        found = await ManualStore(dialler.store.db).get(call.id)
        return found if found is not None and found.outcome is not None else None

    row = await eventually(stored, timeout=15, interval=0.2, what="the manual call's outcome")
    assert (row.outcome, row.linkedid, row.person, row.requested_by) == (
        Outcome.ANSWERED,
        record.linkedid,
        AGENT,
        "e2e-agent",
    )


async def test_the_dialplan_refuses_a_hostile_number_even_when_the_service_is_bypassed(
    rig: Rig, phones, carrier: AgentPhone
) -> None:
    await phones(AGENT, login=False, talk_seconds=4.0)
    before = invites_for(carrier, NUMBER), invites_for(carrier, "00901234567")
    hostile = f"{NUMBER}&PJSIP/00901234567@trunk"
    async with ami_events(rig, ["UserEvent", "DialBegin", "Hangup"]) as seen:
        client = rig.ami()
        await client.start()
        try:
            await client.wait_connected(10)
            await client.send_action({
                "Action": "Originate", "Channel": f"PJSIP/{AGENT}", "Context": "hotline-manual-out", "Exten": "s",
                "Priority": "1", "CallerID": "151", "Timeout": "20000", "Async": "true",
                "Variable": [f"HOTLINE_OUTBOUND_NUMBER={hostile}", "HOTLINE_MANUAL_CALL=0",
                             f"HOTLINE_OUTBOUND_PERSON={AGENT}"],
            })  # fmt: skip
        finally:
            await client.close()

        def refused() -> bool:
            return any(e.get("UserEvent") == "HotlineManualRefused" for e in seen)

        await eventually(refused, timeout=30, interval=0.2, what="the dialplan's refusal")
        await eventually(lambda: _agent_hung_up(seen), timeout=30, interval=0.2, what="the agent's call to end")
    # the Originate itself dials the agent's phone; nothing else is dialled (the trunk least of all)
    dialled = [e.get("DestChannel", "") for e in seen if e.get("Event") == "DialBegin"]
    assert dialled and all(d.startswith(f"PJSIP/{AGENT}-") for d in dialled), dialled
    assert not any(e.get("UserEvent") == "HotlineOutbound" for e in seen)  # no record started
    assert (invites_for(carrier, NUMBER), invites_for(carrier, "00901234567")) == before  # the trunk saw no INVITE


@pytest.mark.parametrize("outside", [NUMBER, "0096551234567", "s", "hotline-manual-out"])
async def test_an_agent_phone_cannot_dial_outside_by_itself(
    rig: Rig, phones, carrier: AgentPhone, outside: str
) -> None:
    agent = await phones(AGENT, login=False)
    before = invites_for(carrier, outside)
    result = await agent.dial(outside, max_duration=15)
    assert not result.answered and result.final_status == 404, (result.final_status, result.error)
    assert invites_for(carrier, outside) == before  # the trunk saw no INVITE


def _answered(phone: AgentPhone, number: str):
    found = [c for c in phone.answered_calls() if f"sip:{number}@" in c.to_header]
    return found[-1] if found else None


def _agent_hung_up(seen: list[dict[str, str]]) -> bool:
    return any(e.get("Event") == "Hangup" and e.get("Channel", "").startswith(f"PJSIP/{AGENT}-") for e in seen)


# -- through the service: the desk's operation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_token(rig: Rig) -> str:
    """An agent's API token (the console user of agent-ar-1's desk), made with the CLI as an operator would."""
    name = "e2e-manual-agent"
    for args, stdin in ((["user", "add", name, "--role", "agent", "--person", AGENT, "--password-stdin"],
                         CONSOLE_PASSWORD + "\n"), (["token", "add", name], None)):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "hotline", *args], input=stdin, env=rig.env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


async def desk_dial(rig: Rig, token: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    url = f"http://127.0.0.1:{rig.http_port}/api/v1/desk/dial"
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as answer:
        return answer.status, await answer.json()


async def test_an_agent_clicks_to_call_from_their_desk_through_the_service(
    rig: Rig, phones, carrier: AgentPhone, agent_token: str
) -> None:
    number = "96551234570"
    agent = await phones(AGENT, login=False, talk_seconds=5.0)
    before = invites_for(carrier, number)
    for body, status, reason in [
        ({"number": number, "person": "agent-ar-2"}, 403, None),  # an agent dials from their own desk only
        ({"number": "0090123456789"}, 422, "not_allowed"),
        ({"number": f"{number}&PJSIP/0090123456789@trunk"}, 422, "not_digits"),
    ]:
        answered, answer = await desk_dial(rig, agent_token, body)
        assert answered == status and answer.get("reason") == reason, answer
    assert invites_for(carrier, number) == before and agent.answered_calls() == []

    status, placed = await desk_dial(rig, agent_token, {"number": number})
    assert status == 202 and (placed["person"], placed["number"]) == (AGENT, number), placed
    await eventually(lambda: _answered(carrier, number), timeout=30, interval=0.2, what="the number")
    (record,) = await rig.records_of(number, timeout=40)
    assert (record.kind, record.agent, record.outcome) == ("manual", AGENT, RecordOutcome.ANSWERED)

    async def stored():
        async with Database(rig.db_url) as db:
            found = await ManualStore(db).get(int(str(placed["id"])))
        return found if found is not None and found.outcome is not None else None

    row = await eventually(stored, timeout=15, interval=0.2, what="the manual call's outcome")
    assert (row.outcome, row.linkedid, row.requested_by) == (Outcome.ANSWERED, record.linkedid, "e2e-manual-agent")
