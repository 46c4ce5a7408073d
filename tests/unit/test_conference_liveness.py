"""A call moved into a conference (issue 12, ``routing.conference``) stays live for the agent's desk
(``cdr.wrapup.Wrapups``: the screen pop and the wrap-up) and for the supervisor's ear (``routing.ear.Ear``) while
the agent is in the ConfBridge, whatever app_queue's ``AgentComplete`` says, and ends when the agent leaves.

Driven by a real Asterisk 22 capture (``ami_streams/conference_by_phone_key``: a caller in ar-virus answered by
agent-ar-1, who keys the conference key and 99; the service Redirects both into ``hotline-<linkedid>``, the
emergency-control-room UAS joins, the agent hangs up, then the caller), replayed through the real parser, and by
variants of it: app_queue's ``AgentComplete`` "transfer" at the move (what H3 reported of the Redirect), the
service's ``agent-left`` lost, the caller hanging up first. The transfer captures prove a transfer still ends the
transferring agent's call at once.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from support.streams import ami_stream, typed

from cdr.wrapup import AgentCall, Wrapups
from profiles.model import load_profile
from routing.ear import Ear
from telephony.ami.message import Message
from telephony.clock import utc
from telephony.events import AgentComplete, Event, Hangup, HotlineConference

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
CALL = "1796218041.1"  # the caller's Uniqueid and the call's Linkedid in the capture
AGENT = "agent-ar-1"
AGENT_CHANNEL = "PJSIP/agent-ar-1-00000002"
AGENT_UNIQUEID = "1796218043.2"
MOVED_AT = 1796218050.2  # between the caller's BridgeLeave of the queue's bridge and ConfbridgeJoin


class FakeAmi:
    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    async def send_action(self, action, timeout=10.0):
        self.sent.append(dict(action))
        return Message({"Response": "Success"})


class Watch:
    """The desk's call and the ear's live call after each event."""

    def __init__(self) -> None:
        self.wrapups = Wrapups(PROFILE, None, lambda _linkedid: None)  # type: ignore[arg-type]  # no store needed
        self.ami = FakeAmi()
        self.ear = Ear(PROFILE, self.ami)  # type: ignore[arg-type]
        self.told: list[AgentCall] = []
        self.wrapups.add_listener(self.told.append)

    def feed(self, events: list[Event]) -> None:
        for event in events:
            self.wrapups.on_event(event)
            self.ear.on_event(event)

    def desk(self, person: str = AGENT, linkedid: str = CALL) -> AgentCall:
        call = self.wrapups.call(person, linkedid)
        assert call is not None
        return call

    def live(self) -> set[tuple[str, str]]:
        return {(c.call, c.person) for c in self.ear.live()}


def capture() -> list[Message]:
    return ami_stream("conference_by_phone_key")


def index(messages: list[Message], event: str, **headers: str) -> int:
    return next(
        i for i, m in enumerate(messages) if m.get("Event") == event and all(m.get(k) == v for k, v in headers.items())
    )


def moved_by_app_queue(messages: list[Message]) -> list[Message]:
    """The capture as H3 reported the Redirect: app_queue's AgentComplete "transfer" at the move (no transfer event),
    none when the agent hangs up."""
    complete = messages[index(messages, "AgentComplete")]
    rest = [m for m in messages if m is not complete]
    at = index(rest, "ConfbridgeJoin", Uniqueid=CALL)  # the caller enters the ConfBridge
    moved = Message({**dict(complete.headers), "Timestamp": str(MOVED_AT), "Reason": "transfer", "TalkTime": "7"})
    return [*rest[:at], moved, *rest[at:]]


def fact(messages: list[Message], state: str) -> Message:
    return next(m for m in messages if m.get("UserEvent") == "HotlineConference" and m.get("State") == state)


def stamp(message: Message) -> datetime:
    return utc(float(message.get("Timestamp") or 0))


# -- the real capture --------------------------------------------------------------------------------------------


def test_the_capture_is_a_phone_key_conference_the_agent_leaves_first():
    events = typed(capture())
    facts = [e.state for e in events if isinstance(e, HotlineConference) and e.call == CALL]
    assert facts == ["adding", "joined", "agent-left", "left"]
    (complete,) = [e for e in events if isinstance(e, AgentComplete)]
    assert (complete.member_name, complete.reason) == (AGENT, "agent")  # Asterisk 22: at the agent's hang-up


def test_in_the_real_capture_the_agent_talks_until_they_hang_up_in_the_conference():
    messages = capture()
    watch = Watch()
    joined = messages.index(fact(messages, "joined"))
    watch.feed(typed(messages[: joined + 1]))
    assert watch.desk().in_progress
    assert watch.live() == {(CALL, AGENT)}
    watch.feed(typed(messages[joined + 1 :]))
    hangup = next(e for e in typed(messages) if isinstance(e, Hangup) and e.uniqueid == AGENT_UNIQUEID)
    assert watch.desk().ended_at == hangup.at  # the agent's channel is gone: wrap-up
    assert watch.live() == set()
    assert [c.in_progress for c in watch.told] == [True, False]  # one pop, one end


# -- app_queue's AgentComplete at the move -------------------------------------------------------------------------


def test_the_desk_keeps_a_call_moved_into_the_conference_live_until_the_agent_leaves():
    messages = moved_by_app_queue(capture())
    watch = Watch()
    moved = index(messages, "AgentComplete")
    watch.feed(typed(messages[: moved + 1]))
    assert watch.desk().in_progress, "app_queue's AgentComplete for the move is not the end of the agent's talk"
    left = messages.index(fact(messages, "agent-left"))
    hangup = index(messages, "Hangup", Uniqueid=AGENT_UNIQUEID)
    end = min(left, hangup)
    watch.feed(typed(messages[moved + 1 : end]))
    assert watch.desk().in_progress  # the destination joined; the agent is still talking in the conference
    assert [c.in_progress for c in watch.told] == [True]
    watch.feed(typed(messages[end:]))
    assert watch.desk().ended_at == stamp(messages[end]) > utc(MOVED_AT)
    assert [c.in_progress for c in watch.told] == [True, False]


def test_the_agent_left_fact_ends_the_desk_call_when_it_comes_before_the_hang_up():
    messages = moved_by_app_queue(capture())
    left = fact(messages, "agent-left")
    reordered = [m for m in messages if m is not left]
    at = index(reordered, "HangupRequest", Uniqueid=AGENT_UNIQUEID)
    reordered.insert(at, left)  # the agent leaves the bridge (e.g. the conference menu), then hangs up
    watch = Watch()
    watch.feed(typed(reordered))
    assert watch.desk().ended_at == stamp(left)
    assert watch.live() == set()


def test_without_the_agent_left_fact_the_agents_hang_up_ends_it():
    messages = [m for m in moved_by_app_queue(capture()) if m.get("State") not in ("agent-left", "ended")]
    watch = Watch()
    watch.feed(typed(messages))
    assert watch.desk().ended_at == stamp(messages[index(messages, "Hangup", Uniqueid=AGENT_UNIQUEID)])
    assert watch.live() == set()


def test_the_ear_can_listen_to_the_conference_on_the_agents_own_channel():
    messages = moved_by_app_queue(capture())
    watch = Watch()
    joined = messages.index(fact(messages, "joined"))
    watch.feed(typed(messages[: joined + 1]))
    assert watch.live() == {(CALL, AGENT)}, "the move's AgentComplete must not drop the call from the ear"


async def test_a_supervisor_rings_into_chanspy_on_the_agent_in_the_conference():
    messages = moved_by_app_queue(capture())
    watch = Watch()
    joined = messages.index(fact(messages, "joined"))
    watch.feed(typed(messages[: joined + 1]))
    rung = await watch.ear.ring(CALL, "listen", "supervisor-1")
    (originate,) = watch.ami.sent
    assert (originate["Channel"], originate["Application"], originate["Data"]) == (
        "PJSIP/supervisor-1", "ChanSpy", f"{AGENT_CHANNEL},qES")  # fmt: skip
    assert rung.call.agent_channel == AGENT_CHANNEL


def test_the_ear_ends_the_conference_call_when_the_agent_leaves():
    messages = moved_by_app_queue(capture())
    watch = Watch()
    left = messages.index(fact(messages, "agent-left"))
    hangup = messages[index(messages, "Hangup", Uniqueid=AGENT_UNIQUEID)]
    watch.feed(typed([m for m in messages[:left] if m is not hangup]))  # the agent leaves first, hangs up after
    assert watch.live() == {(CALL, AGENT)}
    watch.feed(typed([messages[left]]))
    assert watch.live() == set()


def test_the_callers_hang_up_in_the_conference_ends_the_call_for_the_desk_and_the_ear():
    messages = moved_by_app_queue(capture())
    joined = messages.index(fact(messages, "joined"))
    watch = Watch()
    watch.feed(typed(messages[: joined + 1]))
    gone = Hangup(1796218052.0, "PJSIP/trunk-00000001", CALL, CALL, 16, "Normal Clearing")
    watch.feed([gone])
    assert watch.desk().ended_at == gone.at
    assert watch.live() == set()


def test_the_conference_ended_fact_ends_the_call():
    messages = moved_by_app_queue(capture())
    joined = messages.index(fact(messages, "joined"))
    watch = Watch()
    watch.feed(typed(messages[: joined + 1]))
    ended = HotlineConference(1796218053.0, CALL, "", "ended", "")
    watch.feed([ended])
    assert watch.desk().ended_at == ended.at
    assert watch.live() == set()


# -- a transfer is still the end of the transferring agent's call -------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "first", "second"),
    [
        ("blind_transfer_to_queue", "agent-ar-2", "agent-ar-3"),
        ("refer_transfer_to_queue", "agent-ar-2", "agent-ar-3"),
        ("attended_transfer_to_queue", "agent-ar-2", "agent-ar-3"),
        ("attended_transfer_to_destination", "agent-ar-2", None),
        ("blind_transfer_to_destination", "agent-ar-2", None),
    ],
)
def test_a_transfer_ends_the_transferring_agents_call_at_app_queues_agent_complete(stream, first, second):
    messages = ami_stream(stream)
    events = typed(messages)
    complete = next(e for e in events if isinstance(e, AgentComplete) and e.member_name == first)
    assert complete.reason == "transfer"
    watch = Watch()
    upto = events.index(complete)
    watch.feed(events[: upto + 1])
    call = watch.desk(first, complete.linkedid)
    # not kept live: a transfer event explained app_queue's "transfer" (a REFER's transferer may hang up just before)
    assert call.ended_at is not None and call.ended_at <= complete.at
    assert all(c.person != first for c in watch.ear.live())
    watch.feed(events[upto + 1 :])
    if second is not None:
        assert watch.wrapups.call(second, complete.linkedid) is not None
    assert watch.ear.live() == []
