"""The supervisor's ear through the console's /api/v1 (issue 12, item 5): the service as the root builds it, a fake
Asterisk over a real AMI socket, SQLite. A supervisor linked to their own phone has it rung into ChanSpy on the agent's
channel of a live call (listen, whisper, barge: the options), with an audit row each; viewers, agents, a supervisor
without a phone, someone else's phone, an unknown call and a channel name are refused with a clear error and ring
nothing. The real Asterisk is tests/e2e/test_supervisor_ear.py."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support.app import running_service

from console.app import CONSOLE
from console.db import ConsoleError, check_person
from routing.ear import AGENT_CHANNEL

PASSWORD = "correct horse battery"
CALL = "1733140000.42"
AGENT_CHANNEL_NAME = "PJSIP/doc-ar-paed-1-0000002a"


def _audit(db: Path) -> list[tuple[str, str, str, dict]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT actor, action, target, details FROM audit_log ORDER BY id").fetchall()
    return [(actor, action, target, json.loads(details)) for actor, action, target, details in rows]


@pytest.fixture
async def ear(tmp_path):
    async with running_service(tmp_path) as running:
        store = running.app[CONSOLE].store
        tokens = {}
        for name, role, person in (
            ("mona", "supervisor", "supervisor-1"),
            ("sarah", "supervisor", "supervisor-2"),
            ("nophone", "supervisor", None),
            ("viewer", "viewer", None),
            ("salma", "agent", "doc-ar-paed-1"),
        ):
            user = await store.add_user(name, PASSWORD, role, person=person)
            tokens[name] = {"Authorization": f"Bearer {await store.add_token(user, 'test')}"}
        yield running, tokens


async def _connect(running, uniqueid: str = CALL, channel: str = AGENT_CHANNEL_NAME) -> None:
    """app_queue connects a caller to doc-ar-paed-1 (the event a real Asterisk sends)."""
    await running.app_queue.broadcast({
        "Event": "AgentConnect", "Queue": "ar-medical-paediatrics", "Uniqueid": uniqueid, "Linkedid": uniqueid,
        "Channel": "PJSIP/trunk-00000029", "DestChannel": channel, "DestUniqueid": "1733140000.43",
        "MemberName": "doc-ar-paed-1", "Interface": "PJSIP/doc-ar-paed-1", "HoldTime": "3", "RingTime": "1",
    })  # fmt: skip
    await running.ami.wait_until(lambda: uniqueid in running.service.ear.calls)


async def test_a_supervisor_listens_whispers_and_barges_on_their_own_phone_each_audited(ear):
    running, tokens = ear
    client = running.client
    await _connect(running)
    live = await (await client.get("/api/v1/calls/live", headers=tokens["viewer"])).json()  # everyone may look
    assert [(c["call"], c["person"], c["queue"]) for c in live] == [(CALL, "doc-ar-paed-1", "ar-medical-paediatrics")]
    for mode, options in (("listen", "qES"), ("whisper", "qESw"), ("barge", "qESB")):
        answer = await client.post(f"/api/v1/calls/{CALL}/ear", json={"mode": mode}, headers=tokens["mona"])
        assert answer.status == 202, await answer.text()
        body = await answer.json()
        assert body == {"call": CALL, "mode": mode, "person": "doc-ar-paed-1", "queue": "ar-medical-paediatrics",
                        "phone": "supervisor-1", "ringing": True}  # fmt: skip
        originate = running.ami.received("Originate")[-1]
        assert originate.get("Channel") == "PJSIP/supervisor-1"  # the supervisor's own phone, nobody else's
        assert originate.get("Application") == "ChanSpy"
        assert originate.get("Data") == f"{AGENT_CHANNEL_NAME},{options}"  # the agent's channel Asterisk named
    naming_own = await client.post(f"/api/v1/calls/{CALL}/ear", json={"mode": "listen", "phone": "supervisor-2"},
                                   headers=tokens["sarah"])  # fmt: skip
    assert naming_own.status == 202
    assert running.ami.received("Originate")[-1].get("Channel") == "PJSIP/supervisor-2"
    audit = [(actor, action, target) for actor, action, target, _ in _audit(running.db_path)]
    assert audit == [("mona", "call.listen", CALL), ("mona", "call.whisper", CALL), ("mona", "call.barge", CALL),
                     ("sarah", "call.listen", CALL)]  # fmt: skip
    details = _audit(running.db_path)[0][3]
    assert details == {"person": "doc-ar-paed-1", "queue": "ar-medical-paediatrics", "phone": "supervisor-1",
                       "agent_channel": AGENT_CHANNEL_NAME}  # fmt: skip


@pytest.mark.parametrize(
    ("who", "path", "body", "status", "message"),
    [
        ("viewer", CALL, {"mode": "listen"}, 403, "your role (viewer) cannot change this"),
        ("salma", CALL, {"mode": "listen"}, 403, ""),  # an agent reaches their own desk only
        ("nophone", CALL, {"mode": "listen"}, 403, "your console user has no supervisor's phone"),
        ("mona", CALL, {"mode": "listen", "phone": "supervisor-2"}, 403, "only your own phone (supervisor-1)"),
        ("mona", CALL, {"mode": "listen", "phone": "doc-ar-paed-1"}, 403, "only your own phone"),
        ("mona", "1733149999.1", {"mode": "listen"}, 404, "no live call '1733149999.1'"),
        ("mona", "PJSIP%2Fdoc-ar-paed-1-0000002a", {"mode": "listen"}, 400, "is not a call id"),
        ("mona", "doc-ar-paed-1", {"mode": "listen"}, 400, "is not a call id"),
        ("mona", CALL + ",qB", {"mode": "listen"}, 400, "is not a call id"),
        ("mona", CALL, {"mode": "record"}, 400, "mode must be one of listen, whisper, barge"),
        ("mona", CALL, {"mode": "listen", "options": "qB"}, 400, "unknown field 'options'"),
        ("mona", CALL, {}, 400, "mode must be one of"),
    ],
)
async def test_a_hostile_or_unlinked_request_is_refused_and_rings_nothing(ear, who, path, body, status, message):
    running, tokens = ear
    await _connect(running)
    answer = await running.client.post(f"/api/v1/calls/{path}/ear", json=body, headers=tokens[who])
    assert answer.status == status, await answer.text()
    assert message in (await answer.json())["error"]
    assert running.ami.received("Originate") == []
    assert [a for _, a, _, _ in _audit(running.db_path) if a.startswith("call.")] == []


async def test_a_call_ends_with_its_agent_and_a_channel_that_is_not_the_members_is_never_kept(ear):
    running, tokens = ear
    await _connect(running)
    await running.app_queue.broadcast({"Event": "AgentComplete", "Queue": "ar-medical-paediatrics", "Uniqueid": CALL,
                                       "Linkedid": CALL, "MemberName": "doc-ar-paed-1", "TalkTime": "9"})  # fmt: skip
    await running.ami.wait_until(lambda: CALL not in running.service.ear.calls)
    gone = await running.client.post(f"/api/v1/calls/{CALL}/ear", json={"mode": "listen"}, headers=tokens["mona"])
    assert gone.status == 404
    # a DestChannel that is not the member's own phone (or could be read as ChanSpy options) is not a live call
    for odd in ("PJSIP/agent-ar-1-0000002b", "PJSIP/doc-ar-paed-1-0000002b,qB", "Local/x@hotline-place-00000001;2"):
        await running.app_queue.broadcast({
            "Event": "AgentConnect", "Queue": "ar-medical-paediatrics", "Uniqueid": "1733140000.50",
            "Linkedid": "1733140000.50", "DestChannel": odd, "MemberName": "doc-ar-paed-1",
        })  # fmt: skip
    await _connect(running, "1733140000.51", "PJSIP/doc-ar-paed-1-0000002c")  # after the odd ones: they were seen
    assert set(running.service.ear.calls) == {"1733140000.51"}
    # the caller's hang-up ends it too
    caller = "1733140000.51"
    await running.app_queue.broadcast({"Event": "Hangup", "Channel": "PJSIP/trunk-0000002d", "Uniqueid": caller,
                                       "Linkedid": caller, "Cause": "16"})  # fmt: skip
    await running.ami.wait_until(lambda: not running.service.ear.calls)
    assert running.ami.received("Originate") == []


def test_the_channel_chanspy_gets_is_only_a_pjsip_channel_name():
    assert AGENT_CHANNEL.fullmatch("PJSIP/doc-ar-paed-1-0000002a")
    for bad in ("PJSIP/x-0000002a,qB", "PJSIP/x-0000002a)", "Local/x-0000002a", "PJSIP/-0000002a", "PJSIP/x"):
        assert not AGENT_CHANNEL.fullmatch(bad), bad


def test_a_supervisor_may_be_linked_to_their_own_phone_only_and_a_viewer_to_none():
    assert check_person("supervisor", None) is None  # a supervisor without a phone may still change things
    assert check_person("supervisor", " supervisor-1 ", supervisors={"supervisor-1"}) == "supervisor-1"
    with pytest.raises(ConsoleError, match="'agent-ar-1' is not a supervisor's phone of the profile"):
        check_person("supervisor", "agent-ar-1", {"agent-ar-1"}, {"supervisor-1"})
    with pytest.raises(ConsoleError, match="only an agent or a supervisor has a person id"):
        check_person("viewer", "supervisor-1")


async def test_the_agents_page_gives_supervisors_the_ear_and_viewers_nothing_to_press(ear):
    running, _ = ear
    client = running.client
    for name, shown in (("mona", True), ("viewer", False)):
        signed = await client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
        assert signed.status == 200
        page = await (await client.get("/agents")).text()
        for mode in ("listen", "whisper", "barge"):
            button = f'data-act="ear" data-person="doc-ar-paed-1" data-mode="{mode}"'
            assert (button in page) is shown, (name, mode)
        client.session.cookie_jar.clear()
    script = await (await client.get("/static/console/console.js")).text()
    assert '"/api/v1/calls/live"' in script and '"/ear"' in script  # the button asks for the person's live call


async def test_a_ring_the_supervisors_phone_does_not_answer_is_logged(ear, caplog):
    running, tokens = ear
    await _connect(running)
    answer = await running.client.post(f"/api/v1/calls/{CALL}/ear", json={"mode": "whisper"}, headers=tokens["mona"])
    assert answer.status == 202
    action_id = running.ami.received("Originate")[-1].get("ActionID")
    failed = {"Event": "OriginateResponse", "ActionID": action_id, "Response": "Failure",
              "Channel": "PJSIP/supervisor-1", "Reason": "0", "Uniqueid": "<null>"}  # fmt: skip
    await running.app_queue.broadcast(failed)
    await running.ami.wait_until(lambda: running.service.ear.unanswered)
    (missed,) = running.service.ear.unanswered
    assert (missed.phone, missed.mode, missed.call.call) == ("supervisor-1", "whisper", CALL)
    assert "supervisor-1 did not answer the whisper" in caplog.text
