"""Skill- and load-aware routing decisions: pure functions of a snapshot, the profile and the time.

Penalty = tier * 100 + rank: tier 0 exact match, tier 1 widened; rank by load among the members
who can take a call now (longest idle, lowest occupancy, fewest calls, id); others rank 99.
"""

import dataclasses
from pathlib import Path

from support.streams import ami_text, replay

from profiles.model import Person, load_profile
from routing.policy import (
    Choice,
    PauseChange,
    auto_pauses,
    call_priority,
    choose_for_call,
    decide,
    desired_penalties,
    seat_plan,
)
from routing.queues import build_queues
from routing.state import LiveState, WaitingCall
from telephony.ami.message import Message
from telephony.clock import utc as T
from telephony.events import decode_event

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
# epoch 1000 is 03:16 in Kuwait: the night shift (ar-medical-paediatrics: 2 seats)
NIGHT = 1000.0
MORNING = 4 * 3600.0 + 1000.0  # 07:16 in Kuwait


def person(pid, level=4, languages=None, topics=("general", "virus"), specialties=(), kind="agent"):
    return Person(pid, pid, kind, dict(languages or {"ar": 5}), tuple(topics), tuple(specialties), level)


def doctor(pid, level=5):
    return person(pid, level, topics=(), specialties=("paediatrics",), kind="doctor")


def profile_with(*extra, **routing):
    profile = dataclasses.replace(PROFILE, people=PROFILE.people + tuple(extra))
    if routing:
        profile = dataclasses.replace(profile, routing=dataclasses.replace(profile.routing, **routing))
    return profile


def play(state, text):
    """Apply an AMI log, each message typed once (``Timestamp`` = when the event is applied)."""
    return replay(ami_text(text), state)


def ev(state, t, event, **headers):
    """One event written by hand, typed by the boundary's parser (``Timestamp``: ``t``), applied at ``t``."""
    typed = decode_event(Message({"Event": event, "Timestamp": repr(t), **headers}))
    assert typed is not None, f"{event} is not an event routing uses"
    state.apply(typed, T(t))


def login(state, t, pid, *queues, paused=False, reason=""):
    for queue in queues:
        ev(state, t, "QueueMemberAdded", Queue=queue, MemberName=pid, Interface=f"PJSIP/{pid}", Penalty="0",
           Paused="1" if paused else "0", PausedReason=reason, LoginTime=str(t), Status="1")  # fmt: skip


def logout(state, t, pid, *queues):
    for queue in queues:
        ev(state, t, "QueueMemberRemoved", Queue=queue, MemberName=pid, Interface=f"PJSIP/{pid}")


def call(state, start, end, pid, queue="ar-general"):
    ev(state, start, "AgentConnect", Queue=queue, MemberName=pid, Uniqueid=f"call-{pid}-{start}")
    if end is not None:
        ev(state, end, "AgentComplete", Queue=queue, MemberName=pid, TalkTime=str(end - start))


def waiting(uid, queue, joined_at, priority=0):
    """A caller who joined at ``joined_at`` (epoch seconds, like the events here)."""
    return WaitingCall(uid, queue, T(joined_at), 1, priority)


def ranks(profile, snap, now, queue):
    penalties = desired_penalties(snap, profile, T(now))
    return {pid: p for (q, pid), p in penalties.items() if q == queue}


def apply_decisions(state, decisions, t):
    """What Asterisk answers to the adapter's actions."""
    for change in decisions.penalties:
        ev(state, t, "QueueMemberPenalty", Queue=change.queue, MemberName=change.person_id,
           Interface=change.interface, Penalty=str(change.penalty))  # fmt: skip
    for pause in decisions.pauses:
        view = state.snapshot(T(t)).people[pause.person_id]
        for queue in [pause.queue] if pause.queue else sorted(view.queues):
            ev(state, t, "QueueMemberPause", Queue=queue, MemberName=pause.person_id,
               Paused="1" if pause.paused else "0", PausedReason=pause.reason)  # fmt: skip


# -- skills and load ------------------------------------------------------------------------------


def test_an_idle_matching_doctor_ranks_over_a_busy_one():
    profile = profile_with(doctor("doc-ar-paed-2"))
    state = play(
        LiveState.from_profile(profile),
        """
        Event: QueueMemberAdded
        Timestamp: 900.0
        Queue: ar-medical-paediatrics
        MemberName: doc-ar-paed-1
        Interface: PJSIP/doc-ar-paed-1
        LoginTime: 900
        Status: 1
        Paused: 0

        Event: QueueMemberAdded
        Timestamp: 1000.0
        Queue: ar-medical-paediatrics
        MemberName: doc-ar-paed-2
        Interface: PJSIP/doc-ar-paed-2
        LoginTime: 1000
        Status: 1
        Paused: 0

        Event: AgentConnect
        Timestamp: 1100.0
        Queue: ar-medical-paediatrics
        MemberName: doc-ar-paed-1
        Uniqueid: 1700000100.7
        """,
    )
    snap = state.snapshot(T(1200.0))
    # The busy doctor keeps the penalty Asterisk has (app_queue rings no busy member, so no action
    # is spent on it); the idle one is ranked first among the free, and is the one chosen.
    assert ranks(profile, snap, 1200.0, "ar-medical-paediatrics") == {"doc-ar-paed-2": 0, "doc-ar-paed-1": 0}
    assert not snap.people["doc-ar-paed-1"].free and snap.people["doc-ar-paed-2"].free
    choice = choose_for_call(snap, waiting("c", "ar-medical-paediatrics", 1190.0), profile, T(1200.0))
    assert choice == Choice("c", "ar-medical-paediatrics", 10.0, person_id="doc-ar-paed-2", tier=0)


def test_of_two_idle_matching_agents_the_one_idle_longer_gets_rank_0():
    state = LiveState.from_profile(PROFILE)
    login(state, 1000.0, "agent-ar-1", "ar-general")
    login(state, 1000.0, "agent-ar-2", "ar-general")
    login(state, 1000.0, "agent-en-1", "ar-general")
    call(state, 1100.0, 1200.0, "agent-ar-1")  # idle since 1205 (5 s wrap-up)
    snap = state.snapshot(T(1300.0))
    # agent-en-1 speaks Arabic at level 2 only: widened, tier 1
    assert ranks(PROFILE, snap, 1300.0, "ar-general") == {"agent-ar-2": 0, "agent-ar-1": 1, "agent-en-1": 100}
    assert choose_for_call(snap, waiting("c", "ar-general", 1299.0), PROFILE, T(1300.0)).person_id == "agent-ar-2"


def test_equal_idle_times_are_ordered_by_occupancy_then_fewest_calls_then_id():
    profile = profile_with(person("agent-ar-3"), person("agent-ar-4"))
    state = LiveState.from_profile(profile)
    for pid in ("agent-ar-1", "agent-ar-2", "agent-ar-3", "agent-ar-4"):
        login(state, 1000.0, pid, "ar-general")
    call(state, 1000.0, 1500.0, "agent-ar-1")  # 500 s on call
    call(state, 1300.0, 1500.0, "agent-ar-2")  # 200 s, one call
    call(state, 1300.0, 1400.0, "agent-ar-3")  # 200 s, two calls
    call(state, 1400.0, 1500.0, "agent-ar-3")
    call(state, 1300.0, 1500.0, "agent-ar-4")  # as agent-ar-2: the id decides
    snap = state.snapshot(T(2000.0))
    assert {snap.people[p].idle_since for p in snap.queues["ar-general"]} == {T(1505.0)}
    assert ranks(profile, snap, 2000.0, "ar-general") == {
        "agent-ar-2": 0, "agent-ar-4": 1, "agent-ar-3": 2, "agent-ar-1": 3, "agent-en-1": 199,
    }  # fmt: skip
    assert choose_for_call(snap, waiting("c", "ar-general", 1990.0), profile, T(2000.0)).person_id == "agent-ar-2"
    excluded = choose_for_call(snap, waiting("c", "ar-general", 1990.0), profile, T(2000.0), exclude={"agent-ar-2"})
    assert excluded.person_id == "agent-ar-4"


def test_low_skill_level_is_widened_like_a_second_language():
    profile = profile_with(person("agent-ar-junior", level=2))
    spec = {q.name: q for q in build_queues(profile)}["ar-general"]
    assert {(m.person_id, m.penalty) for m in spec.members} >= {("agent-ar-junior", 100), ("agent-ar-1", 0)}
    state = LiveState.from_profile(profile)
    login(state, 1000.0, "agent-ar-junior", "ar-general")
    assert ranks(profile, state.snapshot(T(1001.0)), 1001.0, "ar-general")["agent-ar-junior"] == 100


def test_people_of_the_queue_not_logged_in_get_their_tier_base_plus_99():
    snap = LiveState.from_profile(PROFILE).snapshot(T(1000.0))
    assert ranks(PROFILE, snap, 1000.0, "ar-general") == {"agent-ar-1": 99, "agent-ar-2": 99, "agent-en-1": 199}


# -- widening and overflow --------------------------------------------------------------------------


def widening_state():
    """agent-ar-1 (exact) is on a call; agent-en-1 (Arabic level 2: widened) is free."""
    state = LiveState.from_profile(PROFILE)
    login(state, 900.0, "agent-ar-1", "ar-general")
    login(state, 900.0, "agent-en-1", "ar-general")
    call(state, 950.0, None, "agent-ar-1")
    return state


def test_a_widened_person_is_never_chosen_before_t1():
    state = widening_state()
    for now in (1000.0, 1010.0, 1029.9):
        assert choose_for_call(state.snapshot(T(now)), waiting("c", "ar-general", 1000.0), PROFILE, T(now)) is None


def test_after_t1_a_widened_person_is_chosen_when_no_exact_match_is_free():
    state = widening_state()
    choice = choose_for_call(state.snapshot(T(1030.0)), waiting("c", "ar-general", 1000.0), PROFILE, T(1030.0))
    assert (choice.person_id, choice.tier) == ("agent-en-1", 1)


def test_after_t1_a_free_exact_match_still_goes_first():
    state = widening_state()
    call(state, 950.0, 1000.0, "agent-ar-1")  # idle since 1005, agent-en-1 since 900
    choice = choose_for_call(state.snapshot(T(1100.0)), waiting("c", "ar-general", 1000.0), PROFILE, T(1100.0))
    assert (choice.person_id, choice.tier) == ("agent-ar-1", 0)


def test_after_t2_the_caller_overflows_to_the_overflow_topic_of_the_same_language():
    state = widening_state()
    snap = state.snapshot(T(1180.0))
    paed = waiting("c", "ar-medical-paediatrics", 1000.0)
    assert choose_for_call(snap, paed, PROFILE, T(1179.0)) is None
    assert choose_for_call(snap, paed, PROFILE, T(1180.0)) == Choice(
        "c", "ar-medical-paediatrics", 180.0, overflow_to="ar-general"
    )
    en = choose_for_call(snap, waiting("e", "en-virus", 1000.0), PROFILE, T(1200.0))
    assert en.overflow_to == "en-general"
    complaints = profile_with(overflow_topic="complaints")
    assert choose_for_call(snap, paed, complaints, T(1200.0)).overflow_to == "ar-complaints"
    default = profile_with(overflow_topic=None)
    assert choose_for_call(snap, paed, default, T(1200.0)).overflow_to == "ar-general"  # the default topic


def test_a_caller_already_in_the_overflow_queue_stays_and_gets_anyone_free():
    state = widening_state()
    choice = choose_for_call(state.snapshot(T(1300.0)), waiting("c", "ar-general", 1000.0), PROFILE, T(1300.0))
    assert (choice.person_id, choice.overflow_to) == ("agent-en-1", None)


# -- priority ------------------------------------------------------------------------------------


def test_call_priority_is_the_topic_priority_plus_5_for_a_callback():
    topics = tuple(dataclasses.replace(t, priority=2) if t.id == "medical" else t for t in PROFILE.topics)
    profile = dataclasses.replace(PROFILE, topics=topics)
    assert call_priority("medical", False, profile) == 2
    assert call_priority("medical", True, profile) == 7
    assert call_priority(profile.topic("general"), True, profile) == 5
    assert call_priority("general", False, profile) == 0


def test_the_higher_priority_caller_gets_the_free_person_first():
    state = LiveState.from_profile(PROFILE)
    login(state, 900.0, "agent-ar-1", "ar-general")
    play(
        state,
        """
        Event: QueueCallerJoin
        Timestamp: 1000.0
        Uniqueid: early-normal
        Queue: ar-general
        Position: 1

        Event: VarSet
        Timestamp: 1001.0
        Uniqueid: late-callback
        Variable: QUEUE_PRIO
        Value: 5

        Event: QueueCallerJoin
        Timestamp: 1002.0
        Uniqueid: late-callback
        Queue: ar-general
        Position: 1
        """,
    )
    decisions = decide(state.snapshot(T(1005.0)), PROFILE, T(1005.0))
    assert [(c.uniqueid, c.person_id) for c in decisions.choices] == [
        ("late-callback", "agent-ar-1"),
        ("early-normal", None),
    ]


# -- seats ------------------------------------------------------------------------------------------


AGENTS = tuple(person(f"agent-b-{i:02}") for i in range(10))


def unpaused(snap, queue):
    return sorted(pid for pid in snap.queues.get(queue, ()) if not snap.people[pid].queues[queue].paused)


def test_a_burst_of_logins_never_gets_more_than_n_members_taking_calls():
    profile = profile_with(*AGENTS)
    state = LiveState.from_profile(profile)
    overrides = {"ar-general": 3}
    # The adapter adds members paused "no-seat"; the seat plan unpauses those holding a seat.
    for i, agent in enumerate(reversed(AGENTS)):  # logins arrive out of login-time order
        now = 1000.0 + i * 0.01
        login(state, 1000.0 + (9 - i), agent.id, "ar-general", paused=True, reason="no-seat")
        apply_decisions(state, decide(state.snapshot(T(now)), profile, T(now), overrides), now)
        assert len(unpaused(state.snapshot(T(now)), "ar-general")) <= 3
    snap = state.snapshot(T(1001.0))
    plan = seat_plan(snap, profile, T(1001.0), overrides)["ar-general"]
    assert plan.active == ("agent-b-00", "agent-b-01", "agent-b-02")
    assert plan.waiting == tuple(a.id for a in AGENTS[3:])
    assert plan.pause == plan.unpause == ()
    assert unpaused(snap, "ar-general") == ["agent-b-00", "agent-b-01", "agent-b-02"]


def test_members_added_unpaused_beyond_the_seats_are_paused_no_seat():
    profile = profile_with(*AGENTS)
    state = LiveState.from_profile(profile)
    for i, agent in enumerate(AGENTS[:5]):
        login(state, 1000.0 + i, agent.id, "ar-general")
    decisions = decide(state.snapshot(T(1010.0)), profile, T(1010.0), {"ar-general": 2})
    assert decisions.pauses == tuple(
        PauseChange(a.id, f"PJSIP/{a.id}", "ar-general", True, "no-seat") for a in AGENTS[2:5]
    )
    # Only seat holders are ranked by load (agent-b-00 is at 0 already: no change sent); the
    # members being paused keep their penalty, since app_queue rings no paused member.
    assert {c.person_id: c.penalty for c in decisions.penalties} == {"agent-b-01": 1}


def test_a_seat_freed_by_a_logout_goes_to_the_earliest_waiting_login():
    profile = profile_with(*AGENTS)
    state = LiveState.from_profile(profile)
    overrides = {"ar-general": 2}
    for i, agent in enumerate(AGENTS[:4]):
        login(state, 1000.0 + i, agent.id, "ar-general", paused=True, reason="no-seat")
    apply_decisions(state, decide(state.snapshot(T(1010.0)), profile, T(1010.0), overrides), 1010.0)
    assert unpaused(state.snapshot(T(1010.0)), "ar-general") == ["agent-b-00", "agent-b-01"]
    logout(state, 1100.0, "agent-b-01", "ar-general")
    decisions = decide(state.snapshot(T(1100.0)), profile, T(1100.0), overrides)
    assert decisions.pauses == (PauseChange("agent-b-02", "PJSIP/agent-b-02", "ar-general", False, "no-seat"),)
    assert decisions.seats["ar-general"].waiting == ("agent-b-03",)


def test_a_member_paused_for_another_reason_keeps_the_seat_and_the_reason():
    profile = profile_with(*AGENTS)
    state = LiveState.from_profile(profile)
    login(state, 1000.0, "agent-b-00", "ar-general", paused=True, reason="break")
    login(state, 1001.0, "agent-b-01", "ar-general", paused=True, reason="no-seat")
    plan = seat_plan(state.snapshot(T(1002.0)), profile, T(1002.0), {"ar-general": 1})["ar-general"]
    assert plan.active == ("agent-b-00",) and plan.unpause == () and plan.pause == ()


def test_seats_follow_the_shift_and_a_live_override_raises_or_lowers_them():
    profile = profile_with(*(doctor(f"doc-ar-paed-{i}") for i in range(2, 6)))
    state = LiveState.from_profile(profile)
    queue = "ar-medical-paediatrics"
    for i in range(1, 6):
        login(state, 100.0 + i, f"doc-ar-paed-{i}", queue, paused=True, reason="no-seat")
    snap = state.snapshot(T(NIGHT))
    assert seat_plan(snap, profile, T(NIGHT))[queue].unpause == ("doc-ar-paed-1", "doc-ar-paed-2")
    assert seat_plan(snap, profile, T(MORNING))[queue].seats == 4
    apply_decisions(state, decide(snap, profile, T(NIGHT)), NIGHT)
    raised = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT), {queue: 3})
    assert [(p.person_id, p.paused) for p in raised.pauses] == [("doc-ar-paed-3", False)]
    apply_decisions(state, raised, NIGHT)
    lowered = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT), {queue: 1})
    assert [(p.person_id, p.paused, p.reason) for p in lowered.pauses] == [
        ("doc-ar-paed-2", True, "no-seat"),
        ("doc-ar-paed-3", True, "no-seat"),
    ]
    apply_decisions(state, lowered, NIGHT)
    assert unpaused(state.snapshot(T(NIGHT)), queue) == ["doc-ar-paed-1"]


# -- auto-pause -------------------------------------------------------------------------------------


def ring_no_answer(state, t, pid, n):
    for i in range(n):
        ev(state, t + i, "AgentCalled", Queue="ar-general", MemberName=pid, Uniqueid=f"u{t + i}")
        ev(state, t + i + 0.5, "AgentRingNoAnswer", Queue="ar-general", MemberName=pid)


def test_three_missed_rings_in_a_row_pause_the_person_in_all_queues():
    state = LiveState.from_profile(PROFILE)
    login(state, 900.0, "agent-ar-1", "ar-general", "ar-virus")
    ring_no_answer(state, 1000.0, "agent-ar-1", 2)
    assert auto_pauses(state.snapshot(T(1010.0)), PROFILE.routing) == []
    ring_no_answer(state, 1010.0, "agent-ar-1", 1)
    snap = state.snapshot(T(1020.0))
    assert auto_pauses(snap, PROFILE.routing) == ["agent-ar-1"]
    ev(state, 1020.0, "QueueCallerJoin", Queue="ar-general", Uniqueid="c", Position="1")
    decisions = decide(state.snapshot(T(1020.0)), PROFILE, T(1020.0))
    assert decisions.pauses == (PauseChange("agent-ar-1", "PJSIP/agent-ar-1", None, True, "missed-rings"),)
    assert decisions.choices[0].person_id is None  # not rung again
    apply_decisions(state, decisions, 1021.0)
    assert auto_pauses(state.snapshot(T(1021.0)), PROFILE.routing) == []  # already paused
    # the person (or a supervisor) unpauses: the count starts again
    ev(state, 1100.0, "QueueMemberPause", Queue="ar-general", MemberName="agent-ar-1", Paused="0")
    assert state.snapshot(T(1100.0)).people["agent-ar-1"].missed_rings == 0


def test_a_connect_resets_the_missed_ring_count():
    state = LiveState.from_profile(PROFILE)
    login(state, 900.0, "agent-ar-1", "ar-general")
    ring_no_answer(state, 1000.0, "agent-ar-1", 2)
    call(state, 1005.0, 1010.0, "agent-ar-1")
    ring_no_answer(state, 1100.0, "agent-ar-1", 2)
    snap = state.snapshot(T(1200.0))
    assert snap.people["agent-ar-1"].missed_rings == 2
    assert auto_pauses(snap, PROFILE.routing) == []


def test_max_missed_rings_zero_disables_the_auto_pause():
    state = LiveState.from_profile(PROFILE)
    login(state, 900.0, "agent-ar-1", "ar-general")
    ring_no_answer(state, 1000.0, "agent-ar-1", 10)
    rules = dataclasses.replace(PROFILE.routing, max_missed_rings=0)
    assert auto_pauses(state.snapshot(T(1100.0)), rules) == []


# -- decide -------------------------------------------------------------------------------------------


def busy_state():
    profile = profile_with(*AGENTS)
    state = LiveState.from_profile(profile)
    for i, agent in enumerate(AGENTS):
        login(state, 1000.0 + i, agent.id, "ar-general", "ar-virus")
        if i % 3 == 0:
            call(state, 1100.0 + i, 1200.0 + 7 * i, agent.id, "ar-virus")
    call(state, 1300.0, None, "agent-b-04")
    for i in range(4):
        queue = ("ar-general", "ar-virus")[i % 2]
        ev(state, 1400.0 + i, "QueueCallerJoin", Queue=queue, Uniqueid=f"w{i}", Position=str(i // 2 + 1))
    return profile, state


def test_decide_sends_only_penalties_that_differ_from_the_current_ones():
    profile, state = busy_state()
    first = decide(state.snapshot(T(1500.0)), profile, T(1500.0))
    assert first.penalties
    apply_decisions(state, first, 1500.0)
    again = decide(state.snapshot(T(1500.0)), profile, T(1500.0))
    assert again.penalties == () and again.pauses == ()
    assert [c.person_id for c in again.choices] == [c.person_id for c in first.choices]
    assert len({c.person_id for c in first.choices}) == 4  # no one rung for two calls


def test_decisions_are_deterministic():
    profile, one = busy_state()
    _, two = busy_state()
    a = decide(one.snapshot(T(1500.0)), profile, T(1500.0), {"ar-virus": 6})
    b = decide(two.snapshot(T(1500.0)), profile, T(1500.0), {"ar-virus": 6})
    assert a == b
    assert list(desired_penalties(one.snapshot(T(1500.0)), profile, T(1500.0)).items()) == list(
        desired_penalties(two.snapshot(T(1500.0)), profile, T(1500.0)).items()
    )
    assert decide(one.snapshot(T(1500.0)), profile, T(1500.0), {"ar-virus": 6}) == a


def test_recheck_at_is_the_next_t1_t2_or_wrap_up_end():
    profile, state = busy_state()
    assert decide(state.snapshot(T(1401.0)), profile, T(1401.0)).recheck_at == T(1430.0)  # T1 of w0
    call(state, 1402.0, 1425.0, "agent-b-05")
    assert decide(state.snapshot(T(1426.0)), profile, T(1426.0)).recheck_at == T(1430.0)
    assert decide(state.snapshot(T(1428.0)), profile, T(1428.0)).recheck_at == T(1430.0)
    assert decide(state.snapshot(T(1429.5)), profile, T(1429.5)).recheck_at == T(1430.0)
    state2 = LiveState.from_profile(profile)
    login(state2, 1000.0, "agent-b-00", "ar-general")
    call(state2, 1000.0, 1010.0, "agent-b-00")
    assert decide(state2.snapshot(T(1012.0)), profile, T(1012.0)).recheck_at == T(1015.0)


def test_a_call_costs_at_most_one_penalty_change_per_queue_not_a_renumbering():
    agents = [person(f"agent-p-{i:02d}", topics=("general",)) for i in range(30)]
    profile = profile_with(*agents)
    state = LiveState.from_profile(profile)
    for i, agent in enumerate(agents):
        login(state, 1000.0 + i, agent.id, "ar-general")
    t = 1100.0
    apply_decisions(state, decide(state.snapshot(T(t)), profile, T(t), {"ar-general": 30}), t)
    assert decide(state.snapshot(T(t)), profile, T(t), {"ar-general": 30}).penalties == ()

    # The best-ranked agent starts a call: the others keep their order, nothing to send.
    best = choose_for_call(state.snapshot(T(t)), waiting("c1", "ar-general", t), profile, T(t)).person_id
    ev(state, t + 1, "AgentConnect", Queue="ar-general", MemberName=best, Uniqueid="c1")
    assert decide(state.snapshot(T(t + 1)), profile, T(t + 1), {"ar-general": 30}).penalties == ()

    # The call ends; after wrap-up the agent is free again and, idle the shortest, goes last: one change.
    ev(state, t + 60, "AgentComplete", Queue="ar-general", MemberName=best, Uniqueid="c1", TalkTime="59")
    after = t + 60 + profile.queue_settings.wrapup_seconds + 1
    changes = decide(state.snapshot(T(after)), profile, T(after), {"ar-general": 30}).penalties
    assert [(c.person_id, c.queue) for c in changes] == [(best, "ar-general")]
    ranks_now = ranks(profile, state.snapshot(T(after)), after, "ar-general")
    assert ranks_now[best] == max(ranks_now[a.id] for a in agents)
