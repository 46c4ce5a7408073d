"""Centre-wide seats per shift (issue 13, item 6): a limit on the people taking calls in the whole centre, beside each
queue's seats, applied like them (``no-seat`` pauses), with a supervisor's live figure over the profile's."""

import dataclasses
from pathlib import Path

from profiles.model import Person, load_profile
from routing.policy import CENTRE, centre_seats, decide, seat_plan
from routing.state import LiveState
from telephony.ami.message import Message
from telephony.clock import utc as T
from telephony.events import decode_event

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
NIGHT = 1000.0  # 03:16 in Kuwait: the night shift
MORNING = 4 * 3600.0 + 1000.0  # 07:16 in Kuwait
GENERAL, DELIVERY = "ar-general", "ar-delivery"


def agent(pid, topics=("general", "delivery")):
    return Person(pid, pid, "agent", {"ar": 5}, tuple(topics), (), 4)


AGENTS = tuple(agent(f"agent-c-{i:02}") for i in range(8))


def profile_with(centre=None, default=None, queue_seats=10):
    profile = dataclasses.replace(PROFILE, people=PROFILE.people + AGENTS)
    seats = {q: {"": queue_seats, "night": queue_seats, "morning": queue_seats} for q in (GENERAL, DELIVERY)}
    return dataclasses.replace(
        profile, centre_seats=dict(centre or {}), centre_default_seats=default, seats={**profile.seats, **seats}
    )


def ev(state, t, event, **headers):
    typed = decode_event(Message({"Event": event, "Timestamp": repr(t), **headers}))
    assert typed is not None
    state.apply(typed, T(t))


def login(state, t, pid, *queues, paused=True, reason="no-seat"):
    for queue in queues:
        ev(state, t, "QueueMemberAdded", Queue=queue, MemberName=pid, Interface=f"PJSIP/{pid}", Penalty="0",
           Paused="1" if paused else "0", PausedReason=reason, LoginTime=str(t), Status="1")  # fmt: skip


def apply_decisions(state, decisions, t):
    for pause in decisions.pauses:
        view = state.snapshot(T(t)).people[pause.person_id]
        for queue in [pause.queue] if pause.queue else sorted(view.queues):
            ev(state, t, "QueueMemberPause", Queue=queue, MemberName=pause.person_id,
               Paused="1" if pause.paused else "0", PausedReason=pause.reason)  # fmt: skip


def taking_calls(state, t):
    snap = state.snapshot(T(t))
    return sorted(pid for pid, view in snap.people.items() if any(not m.paused for m in view.queues.values()))


def test_the_centre_limit_follows_the_shift_and_a_live_figure_overrides_it():
    profile = profile_with({"night": 3, "morning": 5})
    assert centre_seats(profile, T(NIGHT)) == 3
    assert centre_seats(profile, T(MORNING)) == 5
    assert centre_seats(profile, T(NIGHT), {CENTRE: 1}) == 1
    assert centre_seats(profile, T(NIGHT), {CENTRE: -4}) == 0  # never negative
    assert centre_seats(profile_with(), T(NIGHT)) is None  # no limit
    assert centre_seats(profile_with(default=2), T(NIGHT)) == 2  # a shift not listed: the default


def test_a_burst_of_logins_across_two_queues_never_gets_more_people_taking_calls_than_the_centre_seats():
    profile = profile_with({"night": 3})
    state = LiveState.from_profile(profile)
    for i, person in enumerate(reversed(AGENTS)):  # logins arrive out of order, each in two queues
        now = NIGHT + i * 0.01
        login(state, NIGHT - 100 + (7 - i), person.id, GENERAL, DELIVERY)
        apply_decisions(state, decide(state.snapshot(T(now)), profile, T(now)), now)
        assert len(taking_calls(state, now)) <= 3
    assert taking_calls(state, NIGHT + 1) == ["agent-c-00", "agent-c-01", "agent-c-02"]  # the earliest logins
    plans = seat_plan(state.snapshot(T(NIGHT + 1)), profile, T(NIGHT + 1))
    for queue in (GENERAL, DELIVERY):
        assert plans[queue].active == ("agent-c-00", "agent-c-01", "agent-c-02")
        assert plans[queue].pause == plans[queue].unpause == ()
        assert plans[queue].seats == 10  # the queue's own seats are not what limits here


def test_the_queue_seats_still_hold_under_a_wider_centre_limit_and_a_person_counts_once():
    profile = profile_with({"night": 6}, queue_seats=2)
    state = LiveState.from_profile(profile)
    for i, person in enumerate(AGENTS[:4]):
        login(state, NIGHT - 100 + i, person.id, GENERAL, DELIVERY)
    login(state, NIGHT - 50, "agent-c-04", DELIVERY)
    apply_decisions(state, decide(state.snapshot(T(NIGHT)), profile, T(NIGHT)), NIGHT)
    plans = seat_plan(state.snapshot(T(NIGHT)), profile, T(NIGHT))
    # two seats per queue: the first two hold both; the one in two queues counts once against the centre
    assert plans[GENERAL].active == plans[DELIVERY].active == ("agent-c-00", "agent-c-01")
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-01"]


def test_a_person_beyond_the_centre_limit_takes_a_queue_seat_that_is_left_nowhere_else():
    profile = profile_with({"night": 2}, queue_seats=1)
    state = LiveState.from_profile(profile)
    login(state, NIGHT - 30, "agent-c-00", GENERAL)
    login(state, NIGHT - 20, "agent-c-01", GENERAL)  # no general seat left: holds no centre seat either
    login(state, NIGHT - 10, "agent-c-02", DELIVERY)
    login(state, NIGHT - 5, "agent-c-03", DELIVERY)
    apply_decisions(state, decide(state.snapshot(T(NIGHT)), profile, T(NIGHT)), NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-02"]


def test_lowering_the_centre_seats_live_pauses_the_latest_logins_and_raising_gives_them_back():
    profile = profile_with({"night": 4})
    state = LiveState.from_profile(profile)
    for i, person in enumerate(AGENTS[:5]):
        login(state, NIGHT - 100 + i, person.id, GENERAL, DELIVERY)
    apply_decisions(state, decide(state.snapshot(T(NIGHT)), profile, T(NIGHT)), NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-01", "agent-c-02", "agent-c-03"]
    lowered = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT), {CENTRE: 2})
    assert sorted((p.person_id, p.queue, p.paused, p.reason) for p in lowered.pauses) == [
        (pid, queue, True, "no-seat") for pid in ("agent-c-02", "agent-c-03") for queue in (DELIVERY, GENERAL)
    ]
    apply_decisions(state, lowered, NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-01"]
    raised = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT), {CENTRE: 3})
    assert sorted((p.person_id, p.paused) for p in raised.pauses) == [("agent-c-02", False), ("agent-c-02", False)]
    apply_decisions(state, raised, NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-01", "agent-c-02"]
    zero = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT), {CENTRE: 0})
    apply_decisions(state, zero, NIGHT)
    assert taking_calls(state, NIGHT) == []


def test_someone_on_a_break_holds_no_centre_seat_and_keeps_their_reason():
    profile = profile_with({"night": 2})
    state = LiveState.from_profile(profile)
    login(state, NIGHT - 30, "agent-c-00", GENERAL, DELIVERY, reason="break")
    login(state, NIGHT - 20, "agent-c-01", GENERAL, DELIVERY)
    login(state, NIGHT - 10, "agent-c-02", GENERAL, DELIVERY)
    decisions = decide(state.snapshot(T(NIGHT)), profile, T(NIGHT))
    assert all(p.person_id != "agent-c-00" for p in decisions.pauses)  # the break is never touched
    apply_decisions(state, decisions, NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-01", "agent-c-02"]


def test_without_a_centre_limit_the_queue_seats_alone_decide_as_before():
    profile = profile_with(queue_seats=3)
    state = LiveState.from_profile(profile)
    for i, person in enumerate(AGENTS):
        login(state, NIGHT - 100 + i, person.id, GENERAL, DELIVERY)
    apply_decisions(state, decide(state.snapshot(T(NIGHT)), profile, T(NIGHT)), NIGHT)
    assert taking_calls(state, NIGHT) == ["agent-c-00", "agent-c-01", "agent-c-02"]
