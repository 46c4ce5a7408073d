"""Manual dialling (issue 14, item 3) at its boundaries: the real ManualDialler and its store on SQLite and PostgreSQL,
a real AMI client against the fake AMI server (the other end of the protocol only), and the HTTP operation under a
bare host naming the acting user.

Hostile numbers and people are refused with a stable reason, and nothing is written or dialled: no ``manual_calls``
row, no ``Originate`` (nor even a ``Getvar``) reaches Asterisk. A number that passes is written BEFORE the Originate
(the fake server reads the database when the Originate arrives), travels in a channel variable only, and the agent's
phone rings first (Channel PJSIP/<person>, Context hotline-manual-out). The outcome comes from Asterisk's events.

The end-to-end proof against a real Asterisk with SIPp phones is tests/e2e/test_manual_dial.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from support.fake_ami import FakeAction, FakeAMIConnection, FakeAMIServer

from outbound import manual_http
from outbound.manual import ManualDialler, ManualRefused, ManualStore, Refusal
from outbound.model import Outcome
from outbound.rows import ContactListRow, ContactRow, DoNotCallRow, ManualCallRow
from profiles.model import Profile, parse_profile
from restapi.http import ACTOR, Actor, Operation
from storage.engine import Database, upgrade
from telephony.ami.client import AMIClient
from telephony.events import DialEnd, Hangup, OriginateResponse, OutboundStart

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AGENT = "agent-ar-1"
NUMBER = "96550000001"  # a Kuwaiti mobile with the country code: allowed by the test's patterns
TABLE_DNC = "96550000008"  # on the do_not_call table
PROFILE_DNC = "96550000009"  # on the profile's outbound.do_not_call
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def profile(**outbound: Any) -> Profile:
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["outbound"] = {
        "allowed_numbers": ["[569][0-9]{7}", "965[569][0-9]{7}"],
        "do_not_call": [PROFILE_DNC],
        **outbound,
    }
    return parse_profile(data)


class Rig:
    def __init__(self, server: FakeAMIServer, client: AMIClient, db: Database) -> None:
        self.server = server
        self.client = client
        self.db = db
        self.state = "NOT_INUSE"  # what DEVICE_STATE of the agent's phone answers
        self.rows_at_originate: list[int] = []  # manual_calls rows in the database when each Originate arrived
        server.on_action("Getvar", self._getvar)
        server.on_action("Originate", self._originate)
        self.originate_answer = "Success"
        self.now = NOW

    async def _getvar(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        await conn.respond(action, Variable=action.get("Variable") or "", Value=self.state)

    async def _originate(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        self.rows_at_originate.append(await self.rows())
        if self.originate_answer == "Success":
            await conn.respond(action, Message="Originate successfully queued")
        else:
            await conn.respond(action, "Error", Message="Extension does not exist.")

    def dialler(self, **outbound: Any) -> ManualDialler:
        return ManualDialler(profile(**outbound), self.client, self.db, clock=lambda: self.now)

    async def rows(self) -> int:
        async with self.db.readers() as session:
            return int(await session.scalar(select(func.count()).select_from(ManualCallRow)) or 0)

    def sent(self, name: str) -> list[FakeAction]:
        return self.server.received(name)


@pytest.fixture
async def rig(db_url: str) -> AsyncIterator[Rig]:
    async with _rig(db_url) as made:
        yield made


@pytest.fixture
async def sqlite_rig(sqlite_url: str) -> AsyncIterator[Rig]:
    """The refusals come before any database write: one database proves them (the suite's time)."""
    async with _rig(sqlite_url) as made:
        yield made


@contextlib.asynccontextmanager
async def _rig(db_url: str) -> AsyncIterator[Rig]:
    upgrade(db_url)
    server = FakeAMIServer()
    await server.start()
    client = AMIClient("127.0.0.1", server.port, "hotline", "s3cret", backoff_initial=0.05, backoff_max=0.2)
    await client.start()
    await client.wait_connected(5)
    db = Database(db_url)
    async with db.writers() as session, session.begin():
        session.add(DoNotCallRow(number=TABLE_DNC, reason="asked not to be called", added_at=NOW, added_by="test"))
    try:
        yield Rig(server, client, db)
    finally:
        await client.close()
        await db.close()
        await server.close()


HOSTILE_NUMBERS = [
    pytest.param("${EXTEN}", Refusal.NOT_DIGITS, id="dialplan-variable"),
    pytest.param("1234;5", Refusal.NOT_DIGITS, id="semicolon"),
    pytest.param(f"{NUMBER}\r\nAction: Originate\r\nChannel: PJSIP/x", Refusal.NOT_DIGITS, id="ami-injection"),
    pytest.param(f"{NUMBER}&PJSIP/00882123456", Refusal.NOT_DIGITS, id="second-dial-target"),
    pytest.param("00882123456789", Refusal.NOT_ALLOWED, id="international-premium"),
    pytest.param("+88212345678", Refusal.NOT_ALLOWED, id="plus-international"),
    pytest.param("1900123", Refusal.NOT_ALLOWED, id="not-a-pattern"),
    pytest.param("nine six five", Refusal.NOT_DIGITS, id="letters"),
    pytest.param("9" * 65536, Refusal.TOO_LONG, id="64KB-digits"),
    pytest.param("x" * 65536, Refusal.TOO_LONG, id="64KB-text"),
    pytest.param("965" + "5" * 30, Refusal.TOO_LONG, id="33-digits"),
    pytest.param(f"\u202e{NUMBER}", Refusal.NOT_DIGITS, id="U+202E"),
    pytest.param(f"{NUMBER}\x00", Refusal.NOT_DIGITS, id="NUL"),
    pytest.param("٩٦٥٥٠٠٠٠٠٠١", Refusal.NOT_DIGITS, id="arabic-indic-digits"),
    pytest.param("", Refusal.EMPTY, id="empty"),
    pytest.param(" - ( ) ", Refusal.EMPTY, id="separators-only"),
    pytest.param(PROFILE_DNC, Refusal.DO_NOT_CALL, id="profile-dnc"),
    pytest.param("965 5000-0009", Refusal.DO_NOT_CALL, id="profile-dnc-with-separators"),
    pytest.param(TABLE_DNC, Refusal.DO_NOT_CALL, id="table-dnc"),
    pytest.param("(965) 5000.0008", Refusal.DO_NOT_CALL, id="table-dnc-with-separators"),
]


@pytest.mark.parametrize(("raw", "reason"), HOSTILE_NUMBERS)
async def test_a_hostile_or_forbidden_number_is_refused_and_nothing_is_written_or_dialled(sqlite_rig, raw, reason):
    rig = sqlite_rig
    dialler = rig.dialler()
    with pytest.raises(ManualRefused) as refused:
        await dialler.dial(AGENT, raw, by="agent1")
    assert refused.value.reason is reason
    assert await rig.rows() == 0
    assert rig.sent("Originate") == [] and rig.sent("Getvar") == []
    assert dialler._busy == {}  # the agent may dial again at once


@pytest.mark.parametrize(
    "person",
    ["agent-nobody", "", "agent-ar-1\r\nAction: Originate", "${EXTEN}", "sup-1", "agent-ar-1-0000000a", "x" * 65536],
    ids=["unknown", "empty", "ami-injection", "dialplan-variable", "not-a-person", "a-channel-name", "64KB"],
)
async def test_an_unknown_person_is_refused_and_nothing_is_written_or_dialled(sqlite_rig, person):
    rig = sqlite_rig
    with pytest.raises(ManualRefused) as refused:
        await rig.dialler().dial(person, NUMBER, by="supervisor")
    assert refused.value.reason is Refusal.UNKNOWN_PERSON
    assert await rig.rows() == 0 and rig.sent("Originate") == []


async def test_manual_dialling_off_or_no_outbound_refuses_every_number(rig):
    with pytest.raises(ManualRefused) as refused:
        await rig.dialler(manual_dialling=False).dial(AGENT, NUMBER, by="agent1")
    assert refused.value.reason is Refusal.DISABLED
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    without = ManualDialler(parse_profile(data), rig.client, rig.db)
    assert not without.enabled
    with pytest.raises(ManualRefused) as refused:
        await without.dial(AGENT, NUMBER, by="agent1")
    assert refused.value.reason is Refusal.DISABLED
    assert await rig.rows() == 0 and rig.sent("Originate") == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [("UNAVAILABLE", Refusal.NOT_REGISTERED), ("INVALID", Refusal.NOT_REGISTERED), ("INUSE", Refusal.BUSY),
     ("RINGING", Refusal.BUSY), ("ONHOLD", Refusal.BUSY)],
)  # fmt: skip
async def test_a_phone_not_registered_or_on_a_call_is_not_rung(rig, state, reason):
    rig.state = state
    with pytest.raises(ManualRefused) as refused:
        await rig.dialler().dial(AGENT, NUMBER, by="agent1")
    assert refused.value.reason is reason
    (getvar,) = rig.sent("Getvar")
    assert getvar.get("Variable") == f"DEVICE_STATE(PJSIP/{AGENT})"
    assert await rig.rows() == 0 and rig.sent("Originate") == []


async def test_an_unknown_contact_is_refused(rig):
    with pytest.raises(ManualRefused) as refused:
        await rig.dialler().dial(AGENT, NUMBER, by="agent1", contact_id=424242)
    assert refused.value.reason is Refusal.UNKNOWN_CONTACT
    assert await rig.rows() == 0 and rig.sent("Originate") == []


async def test_the_call_is_written_before_the_agents_phone_is_rung_with_the_number_in_a_variable_only(rig):
    dialler = rig.dialler()
    call = await dialler.dial(AGENT, "965 5000-0001", by="agent1")
    assert call.number == NUMBER and call.person == AGENT and call.outcome is None
    assert rig.rows_at_originate == [1]  # the row was in the database when the Originate arrived
    (originate,) = rig.sent("Originate")
    assert originate.get("Channel") == f"PJSIP/{AGENT}"
    assert [originate.get(h) for h in ("Context", "Exten", "Priority")] == ["hotline-manual-out", "s", "1"]
    assert originate.get("CallerID") == '"151" <151>'
    assert sorted(originate.getall("Variable")) == sorted([
        "HOTLINE_OUTBOUND_KIND=manual", f"HOTLINE_OUTBOUND_NUMBER={NUMBER}", f"HOTLINE_MANUAL_CALL={call.id}",
        f"HOTLINE_OUTBOUND_PERSON={AGENT}",
    ])  # fmt: skip
    assert NUMBER not in "".join(v for k, v in originate.headers if k != "Variable")
    # A second click while the first call is under way: refused, nothing more dialled.
    with pytest.raises(ManualRefused) as refused:
        await dialler.dial(AGENT, "96550000002", by="agent1")
    assert refused.value.reason is Refusal.BUSY and len(rig.sent("Originate")) == 1 and await rig.rows() == 1


def _stamp() -> float:
    return NOW.timestamp()


async def test_the_outcome_comes_from_asterisk_and_frees_the_agent(rig):
    dialler = rig.dialler()
    call = await dialler.dial(AGENT, NUMBER, by="agent1")
    (originate,) = rig.sent("Originate")
    linkedid = "1796215516.8"
    # The agent answered: the dialplan announces the call (its record starts) and dials the number, which answers.
    await dialler.on_event(OutboundStart(_stamp(), linkedid, linkedid, "manual", NUMBER, "", "", str(call.id), AGENT))
    await dialler.on_originate_response(OriginateResponse(originate.action_id or "", "Success", 4, f"PJSIP/{AGENT}-1",
                                                          linkedid, "hotline-manual-out", "s"))  # fmt: skip
    await dialler.on_event(DialEnd(_stamp(), linkedid, linkedid, "PJSIP/trunk-2", "1796215516.9", linkedid, "ANSWER"))
    await dialler.on_event(Hangup(_stamp(), f"PJSIP/{AGENT}-1", linkedid, linkedid, 16, "Normal Clearing"))
    stored = await ManualStore(rig.db).get(call.id)
    assert stored is not None and (stored.outcome, stored.linkedid) == (Outcome.ANSWERED, linkedid)
    assert dialler._busy == {}
    # Free again: the next call goes out. This time the agent's phone does not answer: failed.
    second = await dialler.dial(AGENT, "96550000002", by="agent1")
    action_id = rig.sent("Originate")[-1].action_id or ""
    await dialler.on_originate_response(OriginateResponse(action_id, "Failure", 3, f"PJSIP/{AGENT}", "<null>",
                                                          "hotline-manual-out", "s"))  # fmt: skip
    assert (await ManualStore(rig.db).get(second.id)).outcome is Outcome.FAILED  # type: ignore[union-attr]
    # And a number that is busy.
    third = await dialler.dial(AGENT, "96550000003", by="agent1")
    other = "1796215600.1"
    await dialler.on_event(OutboundStart(_stamp(), other, other, "manual", "96550000003", "", "", str(third.id), AGENT))
    await dialler.on_event(DialEnd(_stamp(), other, other, "PJSIP/trunk-3", "1796215600.2", other, "BUSY"))
    await dialler.on_event(Hangup(_stamp(), f"PJSIP/{AGENT}-3", other, other, 16, "Normal Clearing"))
    assert (await ManualStore(rig.db).get(third.id)).outcome is Outcome.BUSY  # type: ignore[union-attr]
    assert dialler._busy == {}


async def test_an_originate_asterisk_refuses_is_failed_and_never_sent_again(rig):
    rig.originate_answer = "Error"
    dialler = rig.dialler()
    call = await dialler.dial(AGENT, NUMBER, by="agent1")
    assert (await ManualStore(rig.db).get(call.id)).outcome is Outcome.FAILED  # type: ignore[union-attr]
    assert len(rig.sent("Originate")) == 1 and dialler._busy == {}


# -- the HTTP operation -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def bare_host(
    operations: Iterable[Operation], actor: tuple[str, str | None]
) -> AsyncIterator[tuple[TestClient, list[tuple[str, str, Any]]]]:
    """The operations on a plain app whose only middleware names the actor; the audits it got."""
    audits: list[tuple[str, str, Any]] = []

    @web.middleware
    async def host(request: web.Request, handler: Any) -> web.StreamResponse:
        async def audit(action: str, target: str, details: dict[str, Any]) -> None:
            audits.append((action, target, details))

        request[ACTOR] = Actor(actor[0], audit, person=actor[1])
        return await handler(request)

    app = web.Application(middlewares=[host])
    for op in operations:
        app.router.add_route(op.method.upper(), op.path, op.handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, audits
    finally:
        await client.close()


async def test_an_agent_dials_from_their_own_desk_and_refusals_are_4xx_with_their_reason(rig):
    dialler = rig.dialler()
    async with bare_host(manual_http.routes(dialler), ("agent1", AGENT)) as (client, audits):
        other = await client.post("/desk/dial", json={"number": NUMBER, "person": "agent-ar-2"})
        assert other.status == 403, await other.text()
        for raw, status, reason in [
            ("${EXTEN}", 422, "not_digits"), ("00882123456789", 422, "not_allowed"), (PROFILE_DNC, 422, "do_not_call"),
            ("9" * 65536, 422, "too_long"), ("", 422, "empty"),
        ]:  # fmt: skip
            refused = await client.post("/desk/dial", json={"number": raw})
            answer = await refused.json()
            assert (refused.status, answer["reason"]) == (status, reason) and answer["error"], answer
        assert (await client.post("/desk/dial", json={"number": 96550000001})).status == 400  # a number is a text
        assert (await client.post("/desk/dial", json={"number": NUMBER, "extra": 1})).status == 400
        assert await rig.rows() == 0 and rig.sent("Originate") == []
        placed = await client.post("/desk/dial", json={"number": NUMBER})
        assert placed.status == 202, await placed.text()
        body = await placed.json()
        assert [body[k] for k in ("person", "number", "requested_by", "outcome")] == [AGENT, NUMBER, "agent1", None]
        busy = await client.post("/desk/dial", json={"number": "96550000002"})
        assert busy.status == 409 and (await busy.json())["reason"] == "busy"
        listed = await (await client.get("/desk/dial")).json()
        assert [c["id"] for c in listed] == [body["id"]]
    assert [a for a in audits if a[0] == "desk.dial"] == [
        ("desk.dial", NUMBER, {"person": AGENT, "call": body["id"], "contact_id": None})
    ]
    refusals = [a[2]["reason"] for a in audits if a[0] == "desk.dial_refused"]
    assert refusals == ["not_digits", "not_allowed", "do_not_call", "too_long", "empty", "busy"]
    assert all(len(str(a)) < 200 for a in audits)  # never the refused text itself
    assert len(rig.sent("Originate")) == 1


async def test_a_supervisor_names_the_person_and_without_manual_dialling_it_is_404(rig):
    dialler = rig.dialler()
    async with bare_host(manual_http.routes(dialler), ("boss", None)) as (client, _):
        unnamed = await client.post("/desk/dial", json={"number": NUMBER})
        assert unnamed.status == 400 and "person" in (await unnamed.json())["error"]
        unknown = await client.post("/desk/dial", json={"number": NUMBER, "person": "agent-nobody"})
        assert unknown.status == 404 and (await unknown.json())["reason"] == "unknown_person"
        placed = await client.post("/desk/dial", json={"number": NUMBER, "person": "agent-ar-2"})
        assert placed.status == 202 and (await placed.json())["person"] == "agent-ar-2"
    for off in (None, rig.dialler(manual_dialling=False)):
        async with bare_host(manual_http.routes(off), ("boss", None)) as (client, _):
            answer = await client.post("/desk/dial", json={"number": NUMBER, "person": AGENT})
            assert answer.status == 404 and (await answer.json())["reason"] == "disabled"
    assert len(rig.sent("Originate")) == 1


async def test_a_click_whose_originate_response_is_lost_holds_the_agent_only_until_their_phone_would_have_rung(rig):
    dialler = rig.dialler()
    first = await dialler.dial(AGENT, NUMBER, by="agent1")
    rig.now = NOW + timedelta(seconds=59)  # no OriginateResponse (an AMI gap): still held
    with pytest.raises(ManualRefused) as refused:
        await dialler.dial(AGENT, "96550000002", by="agent1")
    assert refused.value.reason is Refusal.BUSY
    rig.now = NOW + timedelta(seconds=61)  # from now on Asterisk's DEVICE_STATE says whether the phone is busy
    second = await dialler.dial(AGENT, "96550000002", by="agent1")
    assert second.id != first.id and len(rig.sent("Originate")) == 2
    rig.state = "INUSE"
    rig.now = NOW + timedelta(seconds=200)
    with pytest.raises(ManualRefused) as refused:
        await dialler.dial(AGENT, "96550000003", by="agent1")
    assert refused.value.reason is Refusal.BUSY and len(rig.sent("Originate")) == 2


async def test_a_contact_of_a_list_is_dialled_at_their_own_number_only(rig):
    async with rig.db.writers() as session, session.begin():
        listed = ContactListRow(name="home_isolation", created_at=NOW, updated_at=NOW)
        session.add(listed)
        await session.flush()
        contact = ContactRow(list_id=listed.id, number=NUMBER, name="Patient", language="ar", fields="{}", line=2,
                             updated_at=NOW)  # fmt: skip
        gone = ContactRow(list_id=listed.id, number="96550000004", name="Gone", language="ar", fields="{}", line=3,
                          updated_at=NOW, removed_at=NOW)  # fmt: skip
        session.add_all([contact, gone])
        await session.flush()
        contact_id, gone_id = contact.id, gone.id
    dialler = rig.dialler()
    for number, which, reason in [("96550000002", contact_id, Refusal.NOT_THE_CONTACT),
                                  ("96550000004", gone_id, Refusal.UNKNOWN_CONTACT)]:  # fmt: skip
        with pytest.raises(ManualRefused) as refused:
            await dialler.dial(AGENT, number, by="agent1", contact_id=which)
        assert refused.value.reason is reason
    assert await rig.rows() == 0 and rig.sent("Originate") == []
    call = await dialler.dial(AGENT, "965-5000-0001", by="agent1", contact_id=contact_id)
    assert (call.contact_id, call.number) == (contact_id, NUMBER) and len(rig.sent("Originate")) == 1
