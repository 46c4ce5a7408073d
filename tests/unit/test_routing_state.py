"""The live routing state follows Asterisk 22's AMI events (pure reducer, no event loop).

Event tables are written as AMI logs (``timestampevents = yes``: the ``Timestamp`` header is the
time the event is applied at) and parsed by our own parser.
"""

import dataclasses

import pytest
from support.streams import ami_text, replay

from routing.state import LiveState, PersonState
from telephony.ami.message import Message
from telephony.clock import utc as T
from telephony.events import parse_event, parse_queue_status

PEOPLE = ("agent-ar-1", "agent-ar-2", "agent-en-1", "doc-ar-paed-1")


ami = ami_text  # AMI log text (blocks separated by blank lines) -> messages, through the real parser


def play(state, text):
    """Each message typed once (telephony.events), as the service does, and applied at its Timestamp."""
    return replay(ami_text(text), state)


def apply_raw(state, headers, now):
    """Headers written by hand, typed by the boundary's parser (Timestamp: ``now``, epoch seconds),
    then applied at that time."""
    return state.apply(parse_event(Message({"Timestamp": repr(now), **headers})), T(now))


def fresh(**kwargs):
    kwargs.setdefault("wrapup_seconds", 5)
    return LiveState(PEOPLE, **kwargs)


LOGIN_AR1 = """
    Event: QueueMemberAdded
    Timestamp: 1000.0
    Queue: ar-general
    MemberName: agent-ar-1
    Interface: PJSIP/agent-ar-1
    StateInterface: PJSIP/agent-ar-1
    Membership: dynamic
    Penalty: 0
    CallsTaken: 0
    LastCall: 0
    LastPause: 0
    LoginTime: 1000
    InCall: 0
    Status: 1
    Paused: 0
    PausedReason:
    Wrapuptime: 0
"""

CALL_1 = """
    Event: QueueCallerJoin
    Timestamp: 1010.0
    Channel: PJSIP/trunk-00000001
    Uniqueid: 1700000000.1
    Queue: ar-general
    Position: 1
    Count: 1

    Event: AgentCalled
    Timestamp: 1011.0
    Channel: PJSIP/trunk-00000001
    Uniqueid: 1700000000.1
    DestChannel: PJSIP/agent-ar-1-00000002
    DestUniqueid: 1700000000.2
    Queue: ar-general
    MemberName: agent-ar-1
    Interface: PJSIP/agent-ar-1
"""


def test_member_added_logs_the_person_in_available_and_idle_since_login():
    state = play(fresh(), LOGIN_AR1)
    view = state.snapshot(T(1001.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE
    assert view.login_time == T(1000.0) and view.idle_since == T(1000.0)
    assert view.queues["ar-general"].interface == "PJSIP/agent-ar-1"
    assert state.snapshot(T(1001.0)).queues == {"ar-general": ("agent-ar-1",)}
    assert state.person_state("agent-ar-2", T(1001.0)) is PersonState.LOGGED_OUT


def test_a_member_whose_name_is_not_a_known_person_is_ignored():
    state = play(
        fresh(),
        """
        Event: QueueMemberAdded
        Timestamp: 1000.0
        Queue: ar-general
        MemberName: supervisor-9
        Interface: PJSIP/supervisor-9
        Paused: 0
        """,
    )
    snap = state.snapshot(T(1001.0))
    assert snap.people == {} and snap.queues == {}


def test_called_member_rings_and_a_ring_no_answer_counts_a_missed_ring():
    state = play(fresh(), LOGIN_AR1 + CALL_1)
    assert state.person_state("agent-ar-1", T(1011.0)) is PersonState.RINGING
    play(
        state,
        """
        Event: AgentRingNoAnswer
        Timestamp: 1026.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        RingTime: 15
        """,
    )
    view = state.snapshot(T(1026.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE and view.missed_rings == 1


def test_connect_puts_the_member_on_call_and_resets_missed_rings():
    state = play(
        fresh(),
        LOGIN_AR1
        + CALL_1
        + """
        Event: AgentRingNoAnswer
        Timestamp: 1026.0
        Queue: ar-general
        MemberName: agent-ar-1

        Event: AgentCalled
        Timestamp: 1028.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1

        Event: QueueCallerLeave
        Timestamp: 1030.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        Position: 1
        Count: 0

        Event: AgentConnect
        Timestamp: 1030.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        HoldTime: 20
        RingTime: 2
        """,
    )
    snap = state.snapshot(T(1040.0))
    view = snap.people["agent-ar-1"]
    assert view.state is PersonState.ON_CALL
    assert view.call_uniqueid == "1700000000.1" and view.call_started == T(1030.0)
    assert view.missed_rings == 0
    assert snap.calls == {}


def test_complete_means_wrap_up_for_the_queue_wrapup_time_then_available():
    state = play(
        fresh(wrapup_seconds=5),
        LOGIN_AR1
        + CALL_1
        + """
        Event: AgentConnect
        Timestamp: 1030.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1

        Event: AgentComplete
        Timestamp: 1090.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1
        HoldTime: 20
        TalkTime: 60
        Reason: caller
        """,
    )
    assert state.snapshot(T(1092.0)).people["agent-ar-1"].state is PersonState.WRAP_UP
    assert state.next_change_at(T(1092.0)) == T(1095.0)
    view = state.snapshot(T(1095.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE
    assert view.idle_since == T(1095.0)  # idle since the end of the wrap-up
    assert view.calls_taken == 1 and view.history == ((T(1030.0), T(1090.0)),)
    assert state.next_change_at(T(1095.0)) is None


def test_a_member_wrapuptime_wins_over_the_queue_setting():
    login = LOGIN_AR1.replace("Wrapuptime: 0", "Wrapuptime: 30")
    state = play(
        fresh(wrapup_seconds=5),
        login
        + """
        Event: AgentComplete
        Timestamp: 1100.0
        Queue: ar-general
        MemberName: agent-ar-1
        TalkTime: 40
        """,
    )
    view = state.snapshot(T(1110.0)).people["agent-ar-1"]
    assert view.state is PersonState.WRAP_UP and view.wrapup_until == T(1130.0)
    # Started before we saw the connect: the talk time gives the call's start.
    assert view.history == ((T(1060.0), T(1100.0)),)


def test_wrapup_seconds_may_differ_per_queue():
    state = play(
        LiveState(PEOPLE, wrapup_seconds={"ar-general": 12}),
        LOGIN_AR1
        + """
        Event: AgentComplete
        Timestamp: 1100.0
        Queue: ar-general
        MemberName: agent-ar-1
        TalkTime: 40
        """,
    )
    assert state.snapshot(T(1100.0)).people["agent-ar-1"].wrapup_until == T(1112.0)


def test_pause_in_one_queue_keeps_the_person_available_pause_in_all_makes_them_paused():
    state = play(
        fresh(),
        LOGIN_AR1
        + """
        Event: QueueMemberAdded
        Timestamp: 1000.0
        Queue: ar-virus
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        Paused: 0

        Event: QueueMemberPause
        Timestamp: 1001.0
        Queue: ar-virus
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        Paused: 1
        PausedReason: no-seat
        """,
    )
    view = state.snapshot(T(1001.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE
    assert view.queues["ar-virus"].paused and view.queues["ar-virus"].pause_reason == "no-seat"
    assert view.can_take("ar-general") and not view.can_take("ar-virus")
    play(
        state,
        """
        Event: QueueMemberPause
        Timestamp: 1002.0
        Queue: ar-general
        MemberName: agent-ar-1
        Paused: 1
        PausedReason: no-seat
        """,
    )
    view = state.snapshot(T(1002.0)).people["agent-ar-1"]
    assert view.state is PersonState.PAUSED and view.pause_reason == "no-seat"
    play(
        state,
        """
        Event: QueueMemberPause
        Timestamp: 1003.0
        Queue: ar-general
        MemberName: agent-ar-1
        Paused: 0
        PausedReason:
        """,
    )
    view = state.snapshot(T(1003.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE and view.queues["ar-general"].pause_reason == ""


def test_penalty_event_updates_the_membership():
    state = play(
        fresh(),
        LOGIN_AR1
        + """
        Event: QueueMemberPenalty
        Timestamp: 1001.0
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        Penalty: 103
        """,
    )
    assert state.snapshot(T(1001.0)).people["agent-ar-1"].queues["ar-general"].penalty == 103


@pytest.mark.parametrize(
    ("status", "expected", "reachable"),
    [
        ("1", PersonState.AVAILABLE, True),
        ("2", PersonState.ON_CALL, True),  # INUSE (e.g. an outgoing call)
        ("3", PersonState.ON_CALL, True),  # BUSY
        ("4", PersonState.AVAILABLE, False),  # INVALID: not reachable
        ("5", PersonState.AVAILABLE, False),  # UNAVAILABLE (phone unregistered)
        ("6", PersonState.RINGING, True),
        ("7", PersonState.ON_CALL, True),  # RINGINUSE
        ("8", PersonState.ON_CALL, True),  # ONHOLD
    ],
)
def test_member_status_device_state_gives_the_person_state(status, expected, reachable):
    state = play(
        fresh(),
        LOGIN_AR1
        + f"""
        Event: QueueMemberStatus
        Timestamp: 1001.0
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        Status: {status}
        InCall: 0
        Paused: 0
        """,
    )
    view = state.snapshot(T(1001.0)).people["agent-ar-1"]
    assert (view.state, view.reachable) == (expected, reachable)
    assert view.can_take("ar-general") is (expected is PersonState.AVAILABLE and reachable)


def test_member_status_for_an_unseen_membership_adds_it():
    state = play(
        fresh(),
        """
        Event: QueueMemberStatus
        Timestamp: 1005.0
        Queue: ar-general
        MemberName: agent-ar-2
        Interface: PJSIP/agent-ar-2
        Penalty: 7
        LoginTime: 990
        Status: 1
        Paused: 0
        """,
    )
    view = state.snapshot(T(1005.0)).people["agent-ar-2"]
    assert view.state is PersonState.AVAILABLE and view.login_time == T(990.0)
    assert view.queues["ar-general"].penalty == 7


def test_removed_from_the_last_queue_logs_out_and_keeps_the_load_figures():
    state = play(
        fresh(),
        LOGIN_AR1
        + """
        Event: AgentConnect
        Timestamp: 1100.0
        Queue: ar-general
        MemberName: agent-ar-1
        Uniqueid: 1.1

        Event: AgentComplete
        Timestamp: 1400.0
        Queue: ar-general
        MemberName: agent-ar-1
        TalkTime: 300

        Event: QueueMemberRemoved
        Timestamp: 1600.0
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        """,
    )
    snap = state.snapshot(T(1600.0))
    view = snap.people["agent-ar-1"]
    assert view.state is PersonState.LOGGED_OUT and view.queues == {} and snap.queues == {}
    assert view.sessions == ((T(1000.0), T(1600.0)),)
    assert view.occupancy(T(1600.0)) == pytest.approx(300 / 600)
    play(state, LOGIN_AR1.replace("1000", "1800"))
    view = state.snapshot(T(2400.0)).people["agent-ar-1"]
    assert view.idle_since == T(1800.0) and view.calls_taken == 1
    # 300 s on call over 600 + 600 s logged in
    assert view.occupancy(T(2400.0)) == pytest.approx(300 / 1200)


def test_waiting_calls_follow_join_leave_and_abandon_with_positions_and_priority():
    state = play(
        fresh(),
        """
        Event: VarSet
        Timestamp: 1000.0
        Channel: PJSIP/trunk-00000003
        Uniqueid: c2
        Variable: QUEUE_PRIO
        Value: 5

        Event: QueueCallerJoin
        Timestamp: 1001.0
        Uniqueid: c1
        Queue: ar-general
        Position: 1
        Count: 1

        Event: QueueCallerJoin
        Timestamp: 1002.0
        Uniqueid: c2
        Queue: ar-general
        Position: 1
        Count: 2

        Event: QueueCallerJoin
        Timestamp: 1003.0
        Uniqueid: c3
        Queue: ar-general
        Position: 3
        Count: 3

        Event: QueueCallerJoin
        Timestamp: 1004.0
        Uniqueid: e1
        Queue: en-general
        Position: 1
        Count: 1
        """,
    )
    calls = state.snapshot(T(1005.0)).calls
    assert {uid: (c.queue, c.position, c.priority, c.joined_at) for uid, c in calls.items()} == {
        "c1": ("ar-general", 1, 0, T(1001.0)),
        "c2": ("ar-general", 1, 5, T(1002.0)),
        "c3": ("ar-general", 3, 0, T(1003.0)),
        "e1": ("en-general", 1, 0, T(1004.0)),
    }
    play(
        state,
        """
        Event: QueueCallerAbandon
        Timestamp: 1010.0
        Uniqueid: c2
        Queue: ar-general
        Position: 1
        OriginalPosition: 1
        HoldTime: 8
        """,
    )
    calls = state.snapshot(T(1010.0)).calls
    assert {uid: c.position for uid, c in calls.items()} == {"c1": 1, "c3": 2, "e1": 1}
    state.set_call_priority("c3", 9)
    assert state.snapshot(T(1011.0)).calls["c3"].priority == 9


def test_a_caller_leaving_stops_the_ringing_of_members_called_for_it():
    state = play(
        fresh(),
        LOGIN_AR1
        + CALL_1
        + """
        Event: QueueCallerAbandon
        Timestamp: 1012.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        Position: 1
        """,
    )
    view = state.snapshot(T(1012.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE and view.missed_rings == 0


def test_unknown_events_and_malformed_numbers_never_raise():
    state = fresh()
    assert apply_raw(state, {"Event": "Newchannel", "Channel": "PJSIP/x"}, 1.0) is False
    assert apply_raw(state, {"Response": "Success"}, 1.0) is False
    assert apply_raw(state, {}, 1.0) is False
    apply_raw(
        state,
        {
            "Event": "QueueMemberAdded",
            "Queue": "ar-general",
            "MemberName": "agent-ar-1",
            "Penalty": "lots",
            "LoginTime": "yesterday",
            "Status": "",
            "Paused": "maybe",
            "Wrapuptime": "nan",
        },
        50.0,
    )
    apply_raw(
        state, {"Event": "AgentComplete", "Queue": "ar-general", "MemberName": "agent-ar-1", "TalkTime": "x"}, 60.0
    )
    apply_raw(state, {"Event": "QueueCallerJoin", "Queue": "ar-general", "Uniqueid": "u", "Position": "1e400"}, 61.0)
    apply_raw(state, {"Event": "QueueMemberRemoved", "MemberName": "agent-ar-1"}, 62.0)  # no Queue
    apply_raw(state, {"Event": "AgentCalled", "MemberName": "nobody"}, 62.0)
    view = state.snapshot(T(70.0)).people["agent-ar-1"]
    assert view.login_time == T(50.0) and view.queues["ar-general"].penalty == 0
    assert view.state is PersonState.AVAILABLE  # wrap-up over at 65
    assert state.snapshot(T(70.0)).calls["u"].position == 0


QUEUE_STATUS = """
    Event: QueueParams
    Timestamp: 5000.0
    Queue: ar-general
    Max: 0
    Strategy: leastrecent
    Calls: 1

    Event: QueueMember
    Timestamp: 5000.0
    Queue: ar-general
    Name: agent-ar-1
    Location: PJSIP/agent-ar-1
    StateInterface: PJSIP/agent-ar-1
    Membership: dynamic
    Penalty: 2
    CallsTaken: 1
    LastCall: 1400
    LastPause: 0
    LoginTime: 1000
    InCall: 0
    Status: 1
    Paused: 0
    PausedReason:
    Wrapuptime: 0

    Event: QueueMember
    Timestamp: 5000.0
    Queue: ar-general
    Name: agent-ar-2
    Location: PJSIP/agent-ar-2
    Membership: dynamic
    Penalty: 0
    CallsTaken: 0
    LastCall: 0
    LoginTime: 4000
    InCall: 1
    Status: 2
    Paused: 1
    PausedReason: break
    Wrapuptime: 0

    Event: QueueMember
    Timestamp: 5000.0
    Queue: ar-general
    Name: someone-else
    Location: PJSIP/someone-else
    Status: 1
    Paused: 0

    Event: QueueEntry
    Timestamp: 5000.0
    Queue: ar-general
    Position: 1
    Channel: PJSIP/trunk-00000009
    Uniqueid: w1
    CallerIDNum: 96550000000
    Wait: 42
    Priority: 3
"""


def test_resync_from_queue_status_keeps_the_occupancy_history():
    state = play(
        fresh(),
        LOGIN_AR1
        + """
        Event: AgentConnect
        Timestamp: 4100.0
        Queue: ar-general
        MemberName: agent-ar-1
        Uniqueid: 1.1

        Event: AgentComplete
        Timestamp: 4400.0
        Queue: ar-general
        MemberName: agent-ar-1
        TalkTime: 300
        """,
    )
    before = state.snapshot(T(5000.0)).people["agent-ar-1"]
    state.reset_from_queue_status(parse_queue_status(ami(QUEUE_STATUS)), T(5000.0))
    snap = state.snapshot(T(5000.0))
    after = snap.people["agent-ar-1"]
    assert after.history == before.history == ((T(4100.0), T(4400.0)),)
    assert after.sessions == before.sessions == ((T(1000.0), None),)
    assert after.occupancy(T(5000.0)) == pytest.approx(before.occupancy(T(5000.0))) == pytest.approx(300 / 3600)
    assert after.calls_taken == 1 and after.idle_since == T(4405.0)
    assert after.queues["ar-general"].penalty == 2


def test_resync_rebuilds_members_and_waiting_calls_and_logs_out_people_not_listed():
    state = play(
        fresh(),
        LOGIN_AR1.replace("agent-ar-1", "agent-en-1")
        + """
        Event: QueueCallerJoin
        Timestamp: 1001.0
        Uniqueid: stale
        Queue: ar-general
        Position: 1
        """,
    )
    state.reset_from_queue_status(parse_queue_status(ami(QUEUE_STATUS)), T(5000.0))
    snap = state.snapshot(T(5000.0))
    assert snap.queues == {"ar-general": ("agent-ar-1", "agent-ar-2")}
    assert snap.people["agent-en-1"].state is PersonState.LOGGED_OUT
    assert snap.people["agent-en-1"].sessions == ((T(1000.0), T(5000.0)),)
    ar2 = snap.people["agent-ar-2"]
    assert ar2.state is PersonState.ON_CALL and ar2.login_time == T(4000.0)
    assert ar2.queues["ar-general"].pause_reason == "break"
    ar1 = snap.people["agent-ar-1"]
    assert ar1.state is PersonState.AVAILABLE and ar1.idle_since == T(1405.0)  # LastCall + wrap-up
    (call,) = snap.calls.values()
    assert (call.uniqueid, call.queue, call.joined_at, call.priority) == ("w1", "ar-general", T(4958.0), 3)


def test_resync_ends_a_call_whose_complete_event_was_missed():
    state = play(
        fresh(),
        LOGIN_AR1
        + """
        Event: AgentConnect
        Timestamp: 4100.0
        Queue: ar-general
        MemberName: agent-ar-1
        Uniqueid: 1.1
        """,
    )
    status = QUEUE_STATUS.replace("LastCall: 1400", "LastCall: 4300")
    state.reset_from_queue_status(parse_queue_status(ami(status)), T(5000.0))
    view = state.snapshot(T(5000.0)).people["agent-ar-1"]
    assert view.state is PersonState.AVAILABLE and view.history == ((T(4100.0), T(4300.0)),)
    assert view.calls_taken == 1 and view.idle_since == T(4305.0)


def test_occupancy_and_calls_count_only_the_last_hour():
    state = play(fresh(wrapup_seconds=0), LOGIN_AR1)
    t = 1000.0
    for _ in range(10):  # ten calls of 100 s, one every 1000 s
        apply_raw(state, {"Event": "AgentConnect", "Queue": "ar-general", "MemberName": "agent-ar-1"}, t + 500)
        apply_raw(state, {"Event": "AgentComplete", "Queue": "ar-general", "MemberName": "agent-ar-1"}, t + 600)
        t += 1000
    view = state.snapshot(T(t)).people["agent-ar-1"]
    assert view.calls_taken == 10
    assert view.calls_in_window(T(t)) == 4  # ended at t-400, t-1400, t-2400, t-3400
    assert view.occupancy(T(t)) == pytest.approx(400 / 3600)
    assert all(end > T(t - 3600 - 1000) for _, end in view.history)  # old intervals are pruned


def test_history_is_bounded():
    state = play(fresh(wrapup_seconds=0), LOGIN_AR1)
    for i in range(2000):
        apply_raw(state, {"Event": "AgentConnect", "Queue": "ar-general", "MemberName": "agent-ar-1"}, 1000.0 + i)
        apply_raw(state, {"Event": "AgentComplete", "Queue": "ar-general", "MemberName": "agent-ar-1"}, 1000.5 + i)
    view = state.snapshot(T(3001.0)).people["agent-ar-1"]
    assert view.calls_taken == 2000 and len(view.history) <= 256


def test_snapshot_is_immutable_and_rebuilds_only_changed_people():
    state = play(fresh(), LOGIN_AR1 + LOGIN_AR1.replace("agent-ar-1", "agent-ar-2"))
    first = state.snapshot(T(1001.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.at = 0.0
    with pytest.raises(TypeError):
        first.people["x"] = None
    apply_raw(
        state, {"Event": "AgentCalled", "Queue": "ar-general", "MemberName": "agent-ar-2", "Uniqueid": "u"}, 1002.0
    )
    second = state.snapshot(T(1002.0))
    assert second.people["agent-ar-1"] is first.people["agent-ar-1"]
    assert second.people["agent-ar-2"] is not first.people["agent-ar-2"]
    assert first.people["agent-ar-2"].state is PersonState.AVAILABLE  # old snapshots do not change
    assert second.people["agent-ar-2"].state is PersonState.RINGING


def test_the_known_people_may_be_given_as_a_profile():
    from types import SimpleNamespace

    profile = SimpleNamespace(people=[SimpleNamespace(id="agent-ar-1")])
    state = play(LiveState(profile, wrapup_seconds=5), LOGIN_AR1 + LOGIN_AR1.replace("agent-ar-1", "agent-ar-2"))
    assert set(state.snapshot(T(1001.0)).people) == {"agent-ar-1"}
