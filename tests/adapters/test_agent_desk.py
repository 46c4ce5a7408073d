"""The agent desk against a fake app_queue on the other end of a real AMI socket, and a real database.

The fake keeps queue members the way app_queue does and answers QueueAdd, QueueRemove,
QueuePause, QueuePenalty and QueueStatus with the events Asterisk 22 sends.
"""

from __future__ import annotations

import time

import pytest
from support.app import PROFILE
from support.desk import Running
from support.fake_ami import FakeAMIServer
from support.fake_app_queue import FakeAppQueue

from routing.policy import MISSED_RINGS, NO_SEAT
from routing.queues import build_queues
from routing.service import AgentDeskError
from storage.engine import upgrade
from telephony.events import AgentRingNoAnswer, Hangup, QueueMemberAdded

QUEUES_OF = {}
for spec in build_queues(PROFILE):
    for member in spec.members:
        QUEUES_OF.setdefault(member.person_id, set()).add(spec.name)


@pytest.fixture
async def fake():
    server = FakeAMIServer()
    await server.start()
    app_queue = FakeAppQueue(server)
    yield server, app_queue
    await server.close()


@pytest.fixture
def db_path(db_url):
    upgrade(db_url)
    return db_url


async def settled(server: FakeAMIServer, predicate, timeout: float = 5.0) -> None:
    await server.wait_until(predicate, timeout)


async def test_login_adds_the_person_paused_to_each_queue_then_gives_the_seats(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.login("agent-ar-1")
        await settled(server, lambda: set(app_queue.of("agent-ar-1")) == QUEUES_OF["agent-ar-1"]
                      and all(m["Paused"] == "0" for m in app_queue.of("agent-ar-1").values()))  # fmt: skip

        adds = server.received("QueueAdd")
        assert {a.get("Queue") for a in adds} == QUEUES_OF["agent-ar-1"]
        assert all(a.get("Paused") == "true" and a.get("Reason") == NO_SEAT for a in adds)
        assert all(a.get("MemberName") == "agent-ar-1" and a.get("Interface") == "PJSIP/agent-ar-1" for a in adds)
        assert desk.taking_calls() == ["agent-ar-1"]


async def test_who_is_logged_in_survives_a_restart_of_the_service_and_of_asterisk(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.login("doc-ar-paed-1")
        await settled(server, lambda: app_queue.active("ar-medical-paediatrics") == {"doc-ar-paed-1"})

    app_queue.members.clear()  # Asterisk restarted too: it remembers nobody
    adds_before = server.count("QueueAdd")
    async with Running(server, db_path) as desk:
        await settled(server, lambda: app_queue.active("ar-medical-paediatrics") == {"doc-ar-paed-1"})
        assert desk.session("doc-ar-paed-1").logged_in
    assert server.count("QueueAdd") > adds_before


async def test_pause_reaches_asterisk_at_once_and_is_kept(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.login("agent-en-1")
        await settled(server, lambda: app_queue.active("en-general") == {"agent-en-1"})
        await desk.pause("agent-en-1", "lunch")

        (pause,) = [a for a in server.received("QueuePause") if a.get("Reason") == "lunch"]
        assert pause.get("Paused") == "true" and pause.get("Queue") is None  # every queue of the person
        await settled(server, lambda: all(m["Paused"] == "1" for m in app_queue.of("agent-en-1").values()))
        assert desk.taking_calls() == []

    async with Running(server, db_path) as desk:  # a restart keeps the pause
        assert desk.session("agent-en-1").paused and desk.session("agent-en-1").pause_reason == "lunch"
        await desk.unpause("agent-en-1")
        await settled(server, lambda: all(m["Paused"] == "0" for m in app_queue.of("agent-en-1").values()))


async def test_a_seat_count_changed_live_holds_and_frees(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.set_seats("ar-complaints", 1, by="supervisor")
        await desk.login("agent-ar-1")
        await desk.login("agent-en-1")  # a widened match for Arabic complaints
        await settled(server, lambda: len(app_queue.of("agent-en-1")) == len(QUEUES_OF["agent-en-1"]))
        await settled(server, lambda: app_queue.active("ar-complaints") == {"agent-ar-1"})
        assert app_queue.of("agent-en-1")["ar-complaints"]["PausedReason"] == NO_SEAT

        await desk.set_seats("ar-complaints", 2, by="supervisor")
        await settled(server, lambda: app_queue.active("ar-complaints") == {"agent-ar-1", "agent-en-1"})

        await desk.set_seats("ar-complaints", 1, by="supervisor")
        await settled(server, lambda: len(app_queue.active("ar-complaints")) == 1)
    async with Running(server, db_path) as desk:  # the supervisor's count is kept
        assert desk.seat_overrides["ar-complaints"] == 1

    with pytest.raises(AgentDeskError, match="not a queue"):
        await desk.set_seats("xx-nothing", 1)


async def test_missed_rings_pause_the_person_automatically(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.login("agent-ar-2")
        await settled(server, lambda: app_queue.active("ar-general") == {"agent-ar-2"})
        for n in range(PROFILE.routing.max_missed_rings):
            await app_queue.broadcast({"Event": "AgentRingNoAnswer", "Queue": "ar-general", "MemberName": "agent-ar-2",
                                       "Interface": "PJSIP/agent-ar-2", "Uniqueid": f"17000.{n}",
                                       "RingTime": "15"})  # fmt: skip
        await settled(server, lambda: any(a.get("Reason") == MISSED_RINGS for a in server.received("QueuePause")))
        await settled(server, lambda: desk.session("agent-ar-2").pause_reason == MISSED_RINGS)
        assert desk.session("agent-ar-2").paused


async def test_a_login_while_ami_is_gone_is_saved_and_applied_on_reconnect(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        server.login_failures = 1000
        for conn in server.connections:
            conn.drop()
        await settled(server, lambda: not desk.ami.connected)

        await desk.login("agent-ar-1")  # no exception: saved, and Asterisk learns on reconnect
        assert desk.session("agent-ar-1").logged_in and app_queue.of("agent-ar-1") == {}

        server.login_failures = 0
        await settled(server, lambda: app_queue.active("ar-general") == {"agent-ar-1"}, timeout=10)


async def test_unknown_people_and_logged_out_pauses_are_refused_clearly(fake, db_path):
    server, _ = fake
    async with Running(server, db_path) as desk:
        with pytest.raises(AgentDeskError, match="not an agent or doctor"):
            await desk.login("nobody")
        with pytest.raises(AgentDeskError, match="not logged in"):
            await desk.pause("agent-ar-1")


# -- the desk takes typed events from the root ---------------------------------------------------------


async def test_the_desk_hears_asterisk_only_through_on_event(fake, db_path):
    server, app_queue = fake
    running = Running(server, db_path, wired=False)
    async with running as desk:
        await settled(server, lambda: desk.synced)
        await app_queue.broadcast(app_queue.member_event("QueueMemberAdded", {
            "Queue": "ar-general", "MemberName": "agent-ar-1", "Interface": "PJSIP/agent-ar-1", "Penalty": "0",
            "Paused": "0", "PausedReason": "", "Status": "1", "LoginTime": "0"}))  # fmt: skip
        # A barrier: the Ping's answer comes after the event on the same socket.
        await desk.ami.send_action({"Action": "Ping"})
        assert desk.snapshot().people == {}  # the desk did not subscribe itself

        desk.on_event(QueueMemberAdded(time.time(), "ar-general", "agent-ar-1", "PJSIP/agent-ar-1", "", penalty=0,
                                       paused=False, status=1))  # fmt: skip
        assert set(desk.snapshot().people["agent-ar-1"].queues) == {"ar-general"}
        desk.on_event(Hangup(time.time(), "PJSIP/x", "1.1", "1.1", 16, "Normal Clearing"))  # not routing's: ignored
    assert QueueMemberAdded in desk.event_types and AgentRingNoAnswer in desk.event_types
    assert Hangup not in desk.event_types
    assert "QueueMemberAdded" in desk.events


async def test_skills_set_by_a_supervisor_give_the_queues_at_login_and_survive_a_restart(fake, db_path):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        assert desk.queues_at_login("agent-ar-1") == sorted(QUEUES_OF["agent-ar-1"])
        person = next(p for p in PROFILE.people if p.id == "agent-ar-1")
        assert desk.skills("agent-ar-1") == (tuple(person.topics), tuple(person.specialties), False)

        queues = await desk.set_skills("agent-ar-1", ["complaints"], [], by="supervisor")
        assert queues == desk.queues_at_login("agent-ar-1")
        assert queues and all(q.endswith("-complaints") for q in queues)
        assert desk.skills("agent-ar-1") == (("complaints",), (), True)

        await desk.login("agent-ar-1")
        await settled(server, lambda: set(app_queue.of("agent-ar-1")) == set(queues))

    async with Running(server, db_path) as desk:  # the override is in the database
        assert desk.skills("agent-ar-1") == (("complaints",), (), True)
        assert desk.queues_at_login("agent-ar-1") == queues


async def test_skills_without_an_override_match_the_profile_queues(fake, db_path):
    server, _ = fake
    async with Running(server, db_path) as desk:
        for person in PROFILE.people:
            topics, specialties, overridden = desk.skills(person.id)
            assert not overridden
            expected = desk.queues_at_login(person.id)
            assert await desk.set_skills(person.id, topics, specialties, by="test") == expected


async def test_unknown_skills_and_people_are_refused_clearly(fake, db_path):
    server, _ = fake
    async with Running(server, db_path) as desk:
        with pytest.raises(AgentDeskError, match="unknown topics: astrology"):
            await desk.set_skills("agent-ar-1", ["astrology"], [], by="supervisor")
        with pytest.raises(AgentDeskError, match="unknown specialties: alchemy"):
            await desk.set_skills("agent-ar-1", [], ["alchemy"], by="supervisor")
        with pytest.raises(AgentDeskError, match="not an agent or doctor"):
            await desk.set_skills("nobody", [], [], by="supervisor")
        assert not desk.skills("agent-ar-1")[2]


async def test_seats_now_are_the_live_override_else_the_profile(fake, db_path):
    server, _ = fake
    async with Running(server, db_path) as desk:
        shift, before = desk.seats_now()
        assert set(before) == desk.queues
        assert all(before[q] == PROFILE.seats_for(q, shift) for q in before)
        assert desk.seat_override("ar-complaints") is None
        await desk.set_seats("ar-complaints", before["ar-complaints"] + 3, by="supervisor")
        assert desk.seats_now() == (shift, {**before, "ar-complaints": before["ar-complaints"] + 3})
        assert desk.seat_override("ar-complaints") == before["ar-complaints"] + 3


async def test_a_pause_reason_asterisk_cannot_carry_is_logged_not_raised(fake, db_path, caplog):
    server, app_queue = fake
    async with Running(server, db_path) as desk:
        await settled(server, lambda: desk.synced)
        await desk.login("agent-en-1")
        await settled(server, lambda: app_queue.active("en-general") == {"agent-en-1"})
        await desk.pause("agent-en-1", "lunch\r\nAction: Originate")
        assert "must not contain CR or LF" in caplog.text
        assert server.count("Originate") == 0


# -- the desk inside the service the root builds (the shared app fixture) ---------------------------------


async def test_the_service_built_by_the_root_logs_a_person_into_app_queue(service_app):
    await service_app.service.desk.login("agent-ar-1")

    await settled(service_app.ami, lambda: set(service_app.app_queue.of("agent-ar-1")) == QUEUES_OF["agent-ar-1"])
    # The member events came back over AMI through the root's one handler to the desk's live state.
    await settled(service_app.ami, lambda: "agent-ar-1" in service_app.service.desk.snapshot().people)
    assert service_app.service.desk.taking_calls() == ["agent-ar-1"]
