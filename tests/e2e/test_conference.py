"""The conference (issue 12, deliverable 3) against a real Asterisk 22 with SIPp phones: an agent adds the
``emergency-control-room`` destination (a SIPp UAS on a free port; the profile's URI is rewritten to it) to a call,
then hangs up, and the caller and the control room stay connected; the call then ends cleanly.

* from the agent's desk page (Chromium): "add to call", the control room's button;
* from the agent's phone: the profile's conference key (``*3``) and the control room's code, keyed mid-call.

Proof of "the caller and the UAS stay connected" is Asterisk's own: ``ConfbridgeList`` of the call's conference
has the caller and the destination after the agent's ``ConfbridgeLeave``, the caller's channel is still up, and
the UAS's call is answered and not ended. When the caller hangs up, the control room is let go (its phone gets a
BYE) and nothing of the call is left in Asterisk.

One Asterisk and one service for the module.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import pytest_asyncio
import yaml
from conftest import CONSOLE_PASSWORD, PROJECT_ROOT, Rig, _short_profile, running_rig  # tests/e2e on sys.path
from playwright.async_api import expect
from support.eventually import eventually

from cdr.builder import CallRecord, Outcome
from telephony.ami.client import AMIClient
from telephony.sipp.driver import AgentPhone, Dtmf, free_udp_port, place_call

pytestmark = pytest.mark.e2e

AGENT = "agent-ar-1"  # takes Arabic virus calls: the only phone logged in here
AGENT_USER = "e2e-conference-agent"
CONTROL_ROOM = "emergency-control-room"
CONTROL_ROOM_CODE = "99"
ARABIC, VIRUS = "1", "1"


@pytest.fixture(scope="module")
def control_room_port() -> int:
    return free_udp_port()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, control_room_port: int) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-conference")
    profile = _short_profile(workdir / "profile.yaml")
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))
    data["destinations"] = [
        {"id": CONTROL_ROOM, "code": CONTROL_ROOM_CODE, "label": {"ar": "غرفة عمليات الطوارئ", "en": "control room"},
         "sip": f"sip:ecr@127.0.0.1:{control_room_port}"},
    ]  # fmt: skip
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with running_rig(workdir, "e2e-conference", profile) as started:
        yield started


@pytest_asyncio.fixture
async def control_room(rig: Rig, control_room_port: int) -> AsyncIterator[AgentPhone]:
    """The emergency control room: a SIPp UAS that answers and stays until it gets a BYE."""
    phone = AgentPhone("ecr", "-", registrar=("127.0.0.1", rig.sip_port), local_port=control_room_port,
                       ring_seconds=0.5, talk_seconds=None, workdir=rig.workdir / "control-room")  # fmt: skip
    await phone.start()
    yield phone
    await phone.stop()


@pytest_asyncio.fixture
async def ami(rig: Rig) -> AsyncIterator[Asterisk]:
    watcher = Asterisk(rig.ami())
    await watcher.client.start()
    await watcher.client.wait_connected(10)
    yield watcher
    await watcher.client.close()


class Asterisk:
    """The test's own AMI connection: the conference's events and Asterisk's own view of channels and members."""

    def __init__(self, client: AMIClient) -> None:
        self.client = client
        self.events: list[dict[str, str]] = []
        client.add_event_handler(self._on, events=["ConfbridgeJoin", "ConfbridgeLeave", "UserEvent"])

    def _on(self, message) -> None:  # type: ignore[no-untyped-def]
        self.events.append(dict(message.headers))

    def of(self, name: str, conference: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("Event") == name and e.get("Conference") == conference]

    def facts(self, linkedid: str) -> list[dict[str, str]]:
        return [e for e in self.events if e.get("UserEvent") == "HotlineConference" and e.get("Call") == linkedid]

    async def members(self, conference: str) -> list[str]:
        try:
            events = await self.client.send_action_list({"Action": "ConfbridgeList", "Conference": conference})
        except Exception:  # no such conference (any more)
            return []
        return [e.get("Channel") or "" for e in events if e.event == "ConfbridgeList"]

    async def channels(self) -> list[dict[str, str]]:
        events = await self.client.send_action_list({"Action": "CoreShowChannels"})
        return [dict(e.headers) for e in events if e.event == "CoreShowChannel"]


def caller(rig: Rig, number: str, hangup_after: float) -> asyncio.Task:
    return asyncio.create_task(
        place_call("127.0.0.1", rig.sip_port, number="151", caller_number=number, dtmf=[(1.0, ARABIC), (0.8, VIRUS)],
                   hangup_after=hangup_after, max_duration=hangup_after + 30, workdir=rig.workdir / "callers")
    )  # fmt: skip


async def stays_connected(ami: Asterisk, control_room: AgentPhone, conference: str, linkedid: str) -> None:
    """After the agent left: the caller and the control room are the conference, their calls up."""
    await eventually(lambda: _agent_left(ami, conference), timeout=30, interval=0.2, what="the agent's ConfbridgeLeave")
    members = await ami.members(conference)
    assert len(members) == 2, members
    assert any(m.startswith("PJSIP/trunk-") for m in members), members  # the caller
    assert any(m.startswith(f"Local/{CONTROL_ROOM}@hotline-destinations-") for m in members), members
    up = {c["Channel"]: c for c in await ami.channels()}
    caller_channel = next(m for m in members if m.startswith("PJSIP/trunk-"))
    assert up[caller_channel]["ChannelStateDesc"] == "Up" and up[caller_channel]["Uniqueid"] == linkedid
    assert not any(name.startswith(f"PJSIP/{AGENT}-") for name in up), "the agent's phone is off the call"
    (uas_call,) = control_room.answered_calls()
    assert uas_call.ended_at is None  # the control room is still talking to the caller
    states = [f["State"] for f in ami.facts(linkedid)]
    assert states[:1] == ["adding"] and "joined" in states and "agent-left" in states, states


async def _agent_left(ami: Asterisk, conference: str) -> bool:
    return any((e.get("Channel") or "").startswith(f"PJSIP/{AGENT}-") for e in ami.of("ConfbridgeLeave", conference))


async def ends_cleanly(rig: Rig, ami: Asterisk, control_room: AgentPhone, call: asyncio.Task, number: str,
                       conference: str) -> CallRecord:  # fmt: skip
    """The caller hangs up: the control room gets a BYE, the conference is gone, one answered record."""
    result = await asyncio.wait_for(call, 90)
    assert result.answered and not result.remote_hung_up, result.error  # the caller ended it
    await eventually(lambda: _ended(control_room), timeout=15, interval=0.2, what="the control room's BYE")
    (uas_call,) = control_room.answered_calls()
    assert uas_call.ended_by == "remote"
    await eventually(lambda: _gone(ami, conference), timeout=15, interval=0.3, what="the conference to end")
    (record,) = await rig.records_of(number)
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT
    # the record shows the conference: the agent's leg, then the control room's beside it (not a transfer)
    person, room = record.legs
    assert (person.kind, person.target, person.how) == ("person", AGENT, None)
    assert (room.kind, room.target, room.how) == ("conference", CONTROL_ROOM, "conference")
    assert person.ended_at is not None and room.ended_at is not None
    assert room.answered_at < person.ended_at <= room.ended_at  # the agent left while the control room stayed
    assert person.talk_seconds and room.talk_seconds and room.talk_seconds > 5
    return record


async def _ended(phone: AgentPhone) -> bool:
    calls = phone.answered_calls()
    return bool(calls) and calls[-1].ended_at is not None


async def _gone(ami: Asterisk, conference: str) -> bool:
    return await ami.members(conference) == []


# -- from the desk -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_user(rig: Rig) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hotline", "user", "add", AGENT_USER, "--role", "agent", "--person", AGENT,
         "--language", "en", "--password-stdin"],
        input=CONSOLE_PASSWORD + "\n", env=rig.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return AGENT_USER


async def sign_in(chromium, rig: Rig, name: str):  # type: ignore[no-untyped-def]
    base = f"http://127.0.0.1:{rig.http_port}"
    page = await (await chromium.new_context()).new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', CONSOLE_PASSWORD)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    assert page.url == base + "/desk"
    await expect(page.locator("#live")).not_to_have_class("live off", timeout=5000)
    return page


async def post(page, body: dict) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """The desk's own route, from the signed-in page (its session and CSRF token)."""
    return await page.evaluate(
        """async (body) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch("/desk/conference", {method: "POST", credentials: "same-origin",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)});
            return [r.status, await r.json()];
        }""",
        body,
    )


async def test_from_the_desk_the_agent_adds_the_control_room_then_leaves_and_the_caller_and_it_stay(
    rig: Rig, phones, chromium, agent_user: str, control_room: AgentPhone, ami: Asterisk
) -> None:
    number = "96551000001"
    page = await sign_in(chromium, rig, agent_user)
    await phones(AGENT, talk_seconds=12.0)  # the agent hangs up 12 s after answering: "leaves"
    call = caller(rig, number, hangup_after=32.0)
    try:
        await expect(page.locator("#pop-number")).to_have_text(number, timeout=30000)
        linkedid = await page.get_attribute("#pop", "data-linkedid")
        assert linkedid
        conference = f"hotline-{linkedid}"
        # hostile input on the real route: an arbitrary target and another call are refused, nothing is dialled
        status, answer = await post(page, {"linkedid": linkedid, "destination": "sip:0090123@anything"})
        assert status == 400 and "is not a destination of this hotline" in answer["error"], answer
        status, answer = await post(page, {"linkedid": "1700000000.1", "destination": CONTROL_ROOM})
        assert status == 403, answer
        assert control_room.answered_calls() == []
        button = page.locator(f'#conference-destinations button[data-destination="{CONTROL_ROOM}"]')
        await expect(button).to_have_text("control room")
        await button.click()
        await expect(page.locator("#conference-added")).to_be_visible(timeout=10000)
        await eventually(lambda: _joined(ami, conference), timeout=20, interval=0.2, what="the control room to join")
        assert len(await ami.members(conference)) == 3  # caller, agent, control room
        # the agent still talks, now in the conference: the desk shows the call live, not "wrap-up"
        await expect(page.locator("#pop-state")).to_have_attribute("data-ended", "false")
        await stays_connected(ami, control_room, conference, linkedid)
        await expect(page.locator("#pop-state")).to_have_attribute("data-ended", "true", timeout=5000)  # left
        record = await ends_cleanly(rig, ami, control_room, call, number, conference)
    finally:
        if not call.done():
            call.cancel()
    assert record.linkedid == linkedid
    states = [f["State"] for f in ami.facts(linkedid)]
    assert states.count("joined") == 1 and states[-1] in ("left", "ended"), states
    print(f"conference from the desk: {states}")
    await page.context.close()


async def _joined(ami: Asterisk, conference: str) -> bool:
    return any(
        (e.get("Channel") or "").startswith(f"Local/{CONTROL_ROOM}@") for e in ami.of("ConfbridgeJoin", conference)
    )


# -- from the phone ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def viewer_token(rig: Rig) -> str:
    """A viewer's API token (anyone may see the live calls), made with the CLI as an operator would."""
    for args, stdin in ((["user", "add", "e2e-conference-viewer", "--role", "viewer", "--password-stdin"],
                         CONSOLE_PASSWORD + "\n"), (["token", "add", "e2e-conference-viewer"], None)):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "hotline", *args], input=stdin, env=rig.env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


async def live_calls(rig: Rig, token: str) -> list[tuple[str, str]]:
    """The supervisor's ear's live calls (``GET /api/v1/calls/live``): (call, person)."""
    url = f"http://127.0.0.1:{rig.http_port}/api/v1/calls/live"
    async with aiohttp.ClientSession() as session, session.get(url, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        return [(c["call"], c["person"]) for c in await r.json()]


async def test_from_the_phone_the_agent_keys_the_conference_key_and_the_control_rooms_code_then_leaves(
    rig: Rig, phones, control_room: AgentPhone, ami: Asterisk, viewer_token: str
) -> None:
    number = "96551000002"
    keys = [Dtmf("*3", after=2.0), Dtmf(CONTROL_ROOM_CODE, after=1.0)]
    phone = await phones(AGENT, during_call=keys, talk_seconds=8.0)  # hangs up 8 s after keying the code
    call = caller(rig, number, hangup_after=30.0)
    try:
        await eventually(lambda: _answered(phone), timeout=30, interval=0.2, what="the agent to answer")
        linkedid = await eventually(lambda: _conference_of(ami), timeout=20, interval=0.2, what="the conference")
        conference = f"hotline-{linkedid}"
        await eventually(lambda: _joined(ami, conference), timeout=20, interval=0.2, what="the control room to join")
        assert phone.dtmf_sent() == ["*", "3", "9", "9"]
        assert ami.facts(linkedid)[0]["Via"] == "phone"
        # the agent still talks, now in the conference: the ear keeps the call live (ChanSpy on the same channel)
        assert await live_calls(rig, viewer_token) == [(linkedid, AGENT)]
        await stays_connected(ami, control_room, conference, linkedid)
        await eventually(lambda: _not_live(rig, viewer_token), timeout=5, interval=0.2, what="the ear to let go")
        record = await ends_cleanly(rig, ami, control_room, call, number, conference)
    finally:
        if not call.done():
            call.cancel()
    assert record.linkedid == linkedid


async def _not_live(rig: Rig, token: str) -> bool:
    return await live_calls(rig, token) == []


async def _answered(phone: AgentPhone) -> bool:
    return bool(phone.answered_calls())


async def _conference_of(ami: Asterisk) -> str | None:
    adding = [f for f in ami.events if f.get("UserEvent") == "HotlineConference" and f.get("State") == "adding"]
    return adding[-1]["Call"] if adding else None


async def test_a_queues_code_after_the_conference_key_is_refused_and_the_call_goes_on(
    rig: Rig, phones, control_room: AgentPhone, ami: Asterisk
) -> None:
    """Hostile input from the phone: the conference key, then a queue's code (ar, virus: 111). Nothing is dialled,
    nobody is moved; the agent and the caller keep talking until the agent hangs up."""
    number = "96551000003"
    phone = await phones(AGENT, during_call=[Dtmf("*3", after=2.0), Dtmf("111", after=1.0)], talk_seconds=6.0)
    call = caller(rig, number, hangup_after=40.0)
    try:
        result = await asyncio.wait_for(call, 80)
    finally:
        if not call.done():
            call.cancel()
    assert result.answered and result.remote_hung_up, result.error  # the agent ended it, as a normal call
    assert phone.dtmf_sent() == ["*", "3", "1", "1", "1"]
    assert not [
        e for e in ami.events if e.get("Event") == "ConfbridgeJoin" or e.get("UserEvent") == "HotlineConference"
    ]
    assert control_room.answered_calls() == []
    (record,) = await rig.records_of(number)
    assert record.outcome is Outcome.ANSWERED and record.agent == AGENT
    assert [(leg.kind, leg.target) for leg in record.legs] == [("person", AGENT)]
    assert record.talk_seconds is not None and record.talk_seconds > 8  # keyed for ~4 s, then 6 s of talk


async def test_when_the_control_room_hangs_up_the_caller_left_alone_is_let_go_not_kept_in_silence(
    rig: Rig, phones, control_room_port: int, ami: Asterisk
) -> None:
    """One party left ends the conference: the agent left, then the control room hangs up; the service hangs up
    the caller (who would otherwise sit alone in the conference)."""
    number = "96551000004"
    room = AgentPhone("ecr", "-", registrar=("127.0.0.1", rig.sip_port), local_port=control_room_port,
                      ring_seconds=0.5, talk_seconds=10.0, workdir=rig.workdir / "control-room-hangs-up")  # fmt: skip
    await room.start()
    try:
        keys = [Dtmf("*3", after=2.0), Dtmf(CONTROL_ROOM_CODE, after=1.0)]
        await phones(AGENT, during_call=keys, talk_seconds=6.0)
        call = caller(rig, number, hangup_after=60.0)
        try:
            result = await asyncio.wait_for(call, 90)
        finally:
            if not call.done():
                call.cancel()
        assert result.answered and result.remote_hung_up, result.error  # Asterisk ended it, not the caller
        (room_call,) = room.answered_calls()
        assert room_call.ended_by == "local"  # the control room hung up first
        linkedid = await _conference_of(ami)
        assert linkedid
        states = [f["State"] for f in ami.facts(linkedid)]
        assert states == ["adding", "joined", "agent-left", "left", "ended"], states
        ended = ami.facts(linkedid)[-1]
        hung_up = result.ended_at - room_call.ended_at  # the caller's end came right after the control room's
        assert 0 <= hung_up < 3, hung_up
        assert ended["Call"] == linkedid
    finally:
        await room.stop()
    (record,) = await rig.records_of(number)
    assert [(leg.kind, leg.target) for leg in record.legs] == [("person", AGENT), ("conference", CONTROL_ROOM)]
