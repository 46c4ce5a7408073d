"""The callback policy: pure decisions on hand-made live states (AMI-like dicts fed to LiveState).

Times are aware UTC datetimes (the events carry them as epochs): the default profile's time zone
is Asia/Kuwait (UTC+3, no DST) and its quiet hours run from 23:00 to 07:00 local time.
"""

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from callbacks.model import AttemptOutcome, CallbackRequest, Origin, RequestStatus
from callbacks.policy import (
    DEFAULT_AHT_SECONDS,
    Decision,
    Dial,
    Reason,
    abandoned_request,
    after_attempt,
    aht_from_snapshot,
    backoff_seconds,
    callback_limit,
    callback_priority,
    callbacks_under_way,
    cancels,
    check_number,
    dial_allowed,
    dials_left,
    due_requests,
    estimated_wait,
    expire,
    in_quiet_hours,
    is_peak,
    merge_request,
    rate_limited,
    should_offer,
    wait_from_counts,
)
from cdr.builder import Outcome
from profiles.model import CallbackRules, QuietHours, load_profile
from routing.policy import call_priority
from routing.state import LiveState
from telephony.ami.message import Message
from telephony.clock import epoch
from telephony.events import decode_event

ROOT = Path(__file__).parents[2]
PROFILE = load_profile(ROOT / "profiles" / "moh-151.yaml")
RULES = PROFILE.callbacks
TZ = PROFILE.timezone


def kuwait(hour, minute=0, day=10):
    """2021-03-<day> hour:minute in Kuwait (UTC+3)."""
    return datetime(2021, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=3)


def S(seconds):
    return timedelta(seconds=seconds)


NOON = kuwait(12)
AN_HOUR_BEFORE_NOON = NOON - S(3600)
TEN_MINUTES_BEFORE_NOON = NOON - S(600)
Q = "ar-general"


def rules(**changes):
    return dataclasses.replace(RULES, **changes)


# -- live states, built from AMI-like events --------------------------------------------------------


def ev(state, t, event, **headers):
    """One event at ``t``, stamped as Asterisk stamps it (epoch seconds), typed by the boundary's parser."""
    state.apply(decode_event(Message({"Event": event, "Timestamp": repr(epoch(t)), **headers})), t)


def login(state, t, pid, *queues, paused=False):
    for queue in queues:
        ev(state, t, "QueueMemberAdded", Queue=queue, MemberName=pid, Interface=f"PJSIP/{pid}",
           Penalty="0", LoginTime=str(int(epoch(t))), Status="1", Paused="1" if paused else "0",
           PausedReason="break" if paused else "")  # fmt: skip


def on_call(state, t, pid, queue, uid):
    ev(state, t, "QueueCallerJoin", Queue=queue, Uniqueid=uid, Position="1", Count="1")
    ev(state, t, "AgentCalled", Queue=queue, Uniqueid=uid, MemberName=pid)
    ev(state, t, "QueueCallerLeave", Queue=queue, Uniqueid=uid)
    ev(state, t, "AgentConnect", Queue=queue, Uniqueid=uid, MemberName=pid, HoldTime="1")


def caller(state, t, uid, queue=Q, position=1, priority=0):
    if priority:
        state.set_call_priority(uid, priority)
    ev(state, t, "QueueCallerJoin", Queue=queue, Uniqueid=uid, Position=str(position), Count=str(position))


def profile_state():
    return LiveState.from_profile(PROFILE)


def pool(n, queue=Q, busy=0, t=AN_HOUR_BEFORE_NOON):
    """``n`` people of an anonymous pool in ``queue``, the first ``busy`` of them on a call."""
    ids = [f"p{i:02}" for i in range(n)]
    state = LiveState(ids, wrapup_seconds=0)
    for i, pid in enumerate(ids):
        login(state, t + S(i), pid, queue)
    for pid in ids[:busy]:
        on_call(state, NOON - S(60), pid, queue, f"busy-{pid}")
    return state


def request(rid=1, number="55512345", place_at=TEN_MINUTES_BEFORE_NOON, queue=Q, **changes):
    base = CallbackRequest(
        id=rid, number=number, language="ar", topic="general", specialty=None, queue=queue,
        origin=Origin.OFFER, original_linkedid=f"call-{rid}", place_at=place_at, created_at=place_at + S(60),
        expires_at=place_at + S(60 + 86400),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


# -- estimated wait and the offer ---------------------------------------------------------------------


def test_estimated_wait_is_zero_for_the_next_caller_when_a_matching_person_is_free():
    state = pool(3, busy=2)
    assert estimated_wait(state.snapshot(NOON), Q, 1, 180, NOON) == 0.0


def test_estimated_wait_is_position_beyond_the_free_people_times_aht_over_working_people():
    state = pool(4, busy=3)  # 1 free, 4 working
    snap = state.snapshot(NOON)
    assert estimated_wait(snap, Q, 5, 200, NOON) == pytest.approx((5 - 1) * 200 / 4)
    all_busy = pool(4, busy=4).snapshot(NOON)
    assert estimated_wait(all_busy, Q, 2, 200, NOON) == pytest.approx(2 * 200 / 4)


def test_estimated_wait_ignores_paused_people_and_counts_one_person_when_nobody_works():
    state = pool(2, busy=2)
    login(state, NOON - S(10), "p00", "ar-virus")  # another queue: not counted
    snap = state.snapshot(NOON)
    assert estimated_wait(snap, Q, 3, 100, NOON) == pytest.approx(3 * 100 / 2)
    paused = LiveState(["x"], wrapup_seconds=0)
    login(paused, NOON - S(10), "x", Q, paused=True)
    assert estimated_wait(paused.snapshot(NOON), Q, 3, 100, NOON) == pytest.approx(300)
    assert estimated_wait(LiveState([]).snapshot(NOON), Q, 2, 100, NOON) == pytest.approx(200)


def test_estimated_wait_uses_the_default_handle_time_without_a_recent_one():
    assert wait_from_counts(2, 0, 1, None) == pytest.approx(2 * DEFAULT_AHT_SECONDS)
    assert wait_from_counts(2, 0, 1, 0) == pytest.approx(2 * DEFAULT_AHT_SECONDS)


def test_average_handle_time_comes_from_the_last_hours_calls_or_the_default():
    state = pool(2, t=NOON - S(7200))
    ev(state, NOON - S(900), "AgentConnect", Queue=Q, Uniqueid="a", MemberName="p00")
    ev(state, NOON - S(800), "AgentComplete", Queue=Q, Uniqueid="a", MemberName="p00", TalkTime="100")
    ev(state, NOON - S(700), "AgentConnect", Queue=Q, Uniqueid="b", MemberName="p01")
    ev(state, NOON - S(400), "AgentComplete", Queue=Q, Uniqueid="b", MemberName="p01", TalkTime="300")
    assert aht_from_snapshot(state.snapshot(NOON), NOON, Q) == pytest.approx(200)
    assert aht_from_snapshot(pool(1).snapshot(NOON), NOON, Q) == DEFAULT_AHT_SECONDS


def test_offer_when_the_estimated_wait_is_longer_than_the_threshold():
    snap = pool(3, busy=3).snapshot(NOON)  # position 3: 3 * 180 / 3 = 180 s > 120 s
    assert should_offer(snap, Q, 3, 180, RULES, NOON)
    assert not should_offer(snap, Q, 1, 180, RULES, NOON)  # 60 s


def test_offer_when_more_callers_wait_per_working_person_than_the_rule():
    state = pool(1, busy=1)
    for i in range(4):
        caller(state, NOON - S(50 - i), f"c{i}", position=i + 1)
    snap = state.snapshot(NOON)
    lenient = rules(offer_after_wait_seconds=86400)
    assert should_offer(snap, Q, 1, 10, lenient, NOON)  # 4 callers for 1 person > 3
    assert not should_offer(snap, Q, 1, 10, rules(offer_after_wait_seconds=86400, offer_callers_per_person=5), NOON)


def test_no_offer_when_callbacks_are_disabled():
    snap = pool(1, busy=1).snapshot(NOON)
    assert not should_offer(snap, Q, 10, 600, rules(enabled=False), NOON)


def test_peak_is_more_waiting_callers_per_working_person_than_the_rule():
    state = pool(2, busy=2)
    for i in range(6):
        caller(state, NOON - S(30), f"c{i}", position=i + 1)
    assert not is_peak(state.snapshot(NOON), RULES)  # 6 / 2 = 3, not above
    caller(state, NOON - S(20), "c6", position=7)
    assert is_peak(state.snapshot(NOON), RULES)
    assert is_peak(state.snapshot(NOON), RULES, queue=Q)
    assert not is_peak(pool(2).snapshot(NOON), RULES)


# -- numbers -------------------------------------------------------------------------------------------


def test_a_national_number_is_accepted_without_spaces_and_dashes():
    check = check_number(" 555-123 45 ", RULES, caller_id=False)
    assert check.ok and check.number == "55512345"
    assert check.reason is None
    assert check_number("96555512345", RULES, caller_id=True).ok


def test_empty_numbers_and_withheld_caller_ids_are_refused_as_empty():
    assert check_number("", RULES, caller_id=False).reason is Reason.EMPTY
    assert check_number(" - ", RULES, caller_id=False).reason is Reason.EMPTY
    assert check_number(None, RULES, caller_id=True).reason is Reason.EMPTY
    assert check_number("anonymous", RULES, caller_id=True).reason is Reason.EMPTY


def test_non_digits_are_refused():
    for raw in ("5551234x", "555*1234", "55512345#", "+", "++96555512345", "9655+5512345"):
        check = check_number(raw, RULES, caller_id=False)
        assert not check.ok and check.reason == "not_digits", raw


def test_premium_rate_and_international_numbers_are_refused():
    for raw in ("0900123456", "1900123456", "00447700900123", "447700900123", "12345", "555123456789"):
        check = check_number(raw, RULES, caller_id=False)
        assert not check.ok and check.reason is Reason.NOT_ALLOWED, raw


def test_a_spoofed_premium_caller_id_is_refused_like_a_typed_number():
    for raw in ("+882 1234 5678", "0900-123-456", "+96555512345"):
        check = check_number(raw, RULES, caller_id=True)
        assert not check.ok and check.reason is Reason.NOT_ALLOWED, raw


def test_a_plus_number_is_accepted_only_when_a_profile_pattern_allows_it():
    plus = rules(allowed_numbers=(r"\+965[569][0-9]{7}",))
    assert check_number("+965 5551 2345", plus, caller_id=True) == check_number("+96555512345", plus, caller_id=False)
    assert check_number("+96555512345", plus, caller_id=True).number == "+96555512345"
    assert check_number("+4477009001", plus, caller_id=True).reason is Reason.NOT_ALLOWED


def test_patterns_must_match_the_whole_number():
    loose = rules(allowed_numbers=("[569][0-9]{7}",))  # no anchors in the profile
    assert check_number("55512345", loose, caller_id=False).ok
    assert check_number("0055512345", loose, caller_id=False).reason is Reason.NOT_ALLOWED


def test_a_loose_pattern_never_lets_an_international_number_through():
    loose = rules(allowed_numbers=(r"[0-9]{6,15}",))  # the old default: it matches 00882..., 0090..., 1900...
    assert check_number("55512345", loose, caller_id=False).ok
    for raw in ("00882 1234 5678", "0090 212 555 0000", "+4477009001"):
        check = check_number(raw, loose, caller_id=True)
        assert not check.ok and check.reason is Reason.NOT_ALLOWED, raw


def test_an_international_number_is_called_back_when_a_pattern_names_its_prefix():
    named = rules(allowed_numbers=(r"[569][0-9]{7}", r"00965[569][0-9]{7}", r"^(?:\+|00)44[0-9]{10}$"))
    assert check_number("00965 5551 2345", named, caller_id=True).ok
    assert check_number("+447700900123", named, caller_id=True).ok
    assert check_number("00447700900123", named, caller_id=True).ok
    assert check_number("0033612345678", named, caller_id=True).reason is Reason.NOT_ALLOWED


def test_callbacks_are_off_and_call_nobody_unless_the_profile_says_so():
    default = CallbackRules()
    assert default.enabled is False and default.allowed_numbers == ()
    assert check_number("55512345", default, caller_id=True).reason is Reason.NOT_ALLOWED


def test_the_hourly_cap_counts_every_dial_of_the_last_hour():
    capped = rules(max_dials_per_hour=3)
    assert dials_left([], capped, NOON) == 3 and dial_allowed([], capped, NOON)
    last_hour = [NOON - S(10), NOON - S(1800), NOON - S(3599)]
    assert dials_left(last_hour, capped, NOON) == 0 and not dial_allowed(last_hour, capped, NOON)
    # a dial older than an hour no longer counts; one more than the cap is not "negative" left
    assert dials_left([*last_hour[:2], NOON - S(3600)], capped, NOON) == 1
    assert dials_left([*last_hour, NOON - S(5)], capped, NOON) == 0
    # any aware datetime counts, whatever its zone
    assert dials_left([(NOON - S(10)).astimezone(timezone(timedelta(hours=3)))], capped, NOON) == 2


def test_the_default_hourly_cap_is_set_and_the_profile_can_change_it():
    assert CallbackRules().max_dials_per_hour == 60
    assert RULES.max_dials_per_hour > 0


def test_rate_limit_counts_the_numbers_requests_of_the_last_24_hours():
    recent = [NOON - S(100), NOON - S(3600), NOON - S(80000)]
    assert rate_limited("55512345", recent, RULES, NOON)  # 3 of 3
    assert not rate_limited("55512345", [*recent[:2], NOON - S(90000)], RULES, NOON)  # one older than a day
    check = check_number("55512345", RULES, caller_id=True, recent_request_times=recent, now=NOON)
    assert not check.ok and check.reason is Reason.RATE_LIMITED
    assert check_number("55512345", RULES, caller_id=True, recent_request_times=recent[:2], now=NOON).ok


# -- one open request per number ----------------------------------------------------------------------


def test_a_number_without_an_open_request_gets_a_new_one():
    new = request(rid=None)
    assert merge_request(None, new) == Decision("create", new, True)
    done = request(rid=1, status=RequestStatus.CONNECTED)
    assert merge_request(done, new).action == Decision.CREATE


def test_a_second_request_keeps_the_open_one_with_the_earlier_place():
    existing = request(rid=7, place_at=NOON - S(600), attempts=1, next_attempt_at=NOON + S(60))
    earlier = request(rid=None, place_at=NOON - S(900), origin=Origin.ABANDONED_QUEUE)
    decision = merge_request(existing, earlier)
    assert decision.action == "keep" and decision.changed
    assert decision.request.id == 7 and decision.request.place_at == NOON - S(900)
    assert decision.request.attempts == 1 and decision.request.next_attempt_at == NOON + S(60)
    later = request(rid=None, place_at=NOON - S(60))
    kept = merge_request(existing, later)
    assert kept.action == "keep" and kept.request.place_at == NOON - S(600)
    dialing = dataclasses.replace(existing, status=RequestStatus.DIALING)
    assert merge_request(dialing, later).request.status is RequestStatus.DIALING


def test_merging_requests_of_different_numbers_is_a_bug():
    with pytest.raises(ValueError):
        merge_request(request(number="55512345"), request(number="66612345"))


# -- abandoned callers ---------------------------------------------------------------------------------


def abandoned(**changes):
    facts = {
        "caller_number": "55512345", "language": "ar", "topic": "general", "specialty": None, "queue": Q,
        "outcome": "abandoned_queue", "wait_seconds": 30.0, "started_at": NOON - S(100), "joined_at": NOON - S(40),
        "linkedid": "1700.1", "is_peak": False, "rules": RULES, "now": NOON, "default_language": "ar",
        "default_topic": "general",
    }  # fmt: skip
    facts.update(changes)
    return abandoned_request(**facts)


def test_a_caller_who_hung_up_in_the_queue_after_n_seconds_gets_a_callback_keeping_the_place():
    req = abandoned(wait_seconds=10.0)
    assert req is not None and req.origin is Origin.ABANDONED_QUEUE
    assert req.queue == Q and req.place_at == NOON - S(40) and req.original_linkedid == "1700.1"
    assert req.status is RequestStatus.OPEN and req.expires_at == NOON + S(RULES.expire_after_seconds)
    assert req.created_at == NOON and req.next_attempt_at <= NOON


def test_a_caller_who_hung_up_in_the_queue_before_n_seconds_gets_none():
    assert abandoned(wait_seconds=9.9) is None
    assert abandoned(wait_seconds=None) is None


def test_the_place_falls_back_to_the_start_of_the_call():
    assert abandoned(joined_at=None).place_at == NOON - S(100)
    started = NOON - S(150)
    assert abandoned(joined_at=None, started_at=started).place_at == NOON - S(150)


def test_a_caller_who_hung_up_in_the_ivr_at_peak_gets_a_callback_with_the_defaults():
    req = abandoned(outcome="abandoned_ivr", is_peak=True, language=None, topic=None, queue=None,
                    wait_seconds=None, joined_at=None, default_language="en", default_topic="general")  # fmt: skip
    assert req is not None and req.origin is Origin.ABANDONED_IVR
    assert (req.language, req.topic, req.specialty, req.queue) == ("en", "general", None, "en-general")
    assert req.place_at == NOON - S(100)


def test_a_caller_who_hung_up_in_the_ivr_off_peak_or_with_the_rule_off_gets_none():
    assert abandoned(outcome="abandoned_ivr", is_peak=False, queue=None) is None
    off = rules(abandoned_in_ivr_at_peak=False)
    assert abandoned(outcome="abandoned_ivr", is_peak=True, queue=None, rules=off) is None


def test_no_callback_when_disabled_answered_or_the_number_is_refused():
    assert abandoned(rules=rules(enabled=False)) is None
    assert abandoned(outcome="answered") is None
    assert abandoned(outcome="failed") is None
    assert abandoned(caller_number="+882123456789") is None
    assert abandoned(caller_number=None) is None
    assert abandoned(recent_request_times=[NOON - S(10)] * 3) is None


def test_the_facts_can_come_from_a_call_record_with_the_profiles_defaults():
    record = SimpleNamespace(
        linkedid="1700.9", caller_number="96555512345", started_at=NOON - S(200),
        language=None, topic=None, specialty=None, queue=None, wait_seconds=None, outcome=Outcome.ABANDONED_IVR,
    )  # fmt: skip
    req = abandoned_request(record, is_peak=True, rules=RULES, profile=PROFILE, now=NOON)
    assert (req.number, req.queue, req.language, req.topic) == ("96555512345", "ar-general", "ar", "general")
    assert req.original_linkedid == "1700.9" and req.place_at == NOON - S(200) and req.priority == 0
    in_queue = SimpleNamespace(**{**vars(record), "outcome": Outcome.ABANDONED_QUEUE, "queue": "en-virus",
                                  "language": "en", "topic": "virus", "wait_seconds": 45.0})  # fmt: skip
    req = abandoned_request(in_queue, is_peak=False, rules=RULES, profile=PROFILE, now=NOON)
    assert req.queue == "en-virus" and req.origin is Origin.ABANDONED_QUEUE
    assert abandoned_request(in_queue, wait_seconds=5.0, is_peak=False, rules=RULES, profile=PROFILE, now=NOON) is None


# -- cancellation ---------------------------------------------------------------------------------


def test_a_caller_who_got_through_on_their_own_cancels_the_open_request():
    req = request()
    assert cancels(req, "55512345", req.created_at + S(30))
    assert cancels(dataclasses.replace(req, status=RequestStatus.DIALING), "555-12345", req.created_at + S(30))


def test_no_cancel_for_a_call_before_the_request_another_number_or_a_closed_request():
    req = request()
    assert not cancels(req, "55512345", req.created_at - S(1))
    assert not cancels(req, "66612345", req.created_at + S(30))
    assert not cancels(req, None, req.created_at + S(30))
    assert not cancels(dataclasses.replace(req, status=RequestStatus.CONNECTED), "55512345", req.created_at + S(30))


# -- the scheduler decision --------------------------------------------------------------------------


def test_due_at_the_front_when_a_matching_person_is_free():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    caller(state, NOON - S(100), "later")  # joined after the request's place: behind it
    req = request(place_at=NOON - S(600))
    dials = due_requests([req], state.snapshot(NOON), RULES, NOON, profile=PROFILE)
    assert dials == [Dial(1, Q, "agent-ar-1", callback_priority(req), False)]


def test_not_due_while_a_live_caller_who_joined_earlier_still_waits():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    caller(state, NOON - S(700), "earlier")
    req = request(place_at=NOON - S(600))
    assert due_requests([req], state.snapshot(NOON), RULES, NOON, profile=PROFILE) == []
    other_queue = request(place_at=NOON - S(600), queue="ar-virus")
    login(state, NOON - S(3600), "agent-ar-2", "ar-virus")
    assert [d.queue for d in due_requests([req, other_queue], state.snapshot(NOON), RULES, NOON, profile=PROFILE)] == [
        "ar-virus"
    ]


def test_a_higher_priority_live_caller_is_ahead_whatever_its_join_time():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    caller(state, NOON - S(10), "urgent", priority=3)
    assert due_requests([request()], state.snapshot(NOON), RULES, NOON, profile=PROFILE) == []
    urgent_request = request(priority=3)
    assert len(due_requests([urgent_request], state.snapshot(NOON), RULES, NOON, profile=PROFILE)) == 1


def test_waiting_calls_can_be_given_instead_of_the_snapshots():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    caller(state, NOON - S(700), "earlier")
    snap = state.snapshot(NOON)
    assert len(due_requests([request()], snap, RULES, NOON, profile=PROFILE, waiting_calls=[])) == 1


def test_not_due_when_no_matching_person_is_free():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    on_call(state, NOON - S(60), "agent-ar-1", Q, "busy")
    login(state, NOON - S(3600), "agent-ar-2", Q, paused=True)
    login(state, NOON - S(3600), "doc-ar-paed-1", "ar-medical-paediatrics")  # free, other queue
    assert due_requests([request()], state.snapshot(NOON), RULES, NOON, profile=PROFILE) == []


def test_only_an_exact_match_counts_like_for_a_fresh_call():
    state = profile_state()
    login(state, NOON - S(3600), "agent-en-1", Q)  # Arabic level 2: widened in ar-general
    assert due_requests([request()], state.snapshot(NOON), RULES, NOON, profile=PROFILE) == []
    login(state, NOON - S(3600), "agent-ar-2", Q)
    assert [d.person_id for d in due_requests([request()], state.snapshot(NOON), RULES, NOON, profile=PROFILE)] == [
        "agent-ar-2"
    ]


def test_without_a_profile_anyone_who_can_take_the_queue_matches_longest_idle_first():
    state = pool(3)
    dials = due_requests([request()], state.snapshot(NOON), RULES, NOON, timezone=TZ)
    assert [d.person_id for d in dials] == ["p00"]


def test_callbacks_use_at_most_the_capacity_share_of_the_free_people():
    assert [callback_limit(n, 0.3) for n in (0, 1, 3, 4, 7, 10)] == [0, 1, 1, 1, 2, 3]
    assert callback_limit(5, 1.0) == 5
    reqs = [request(rid=i, number=f"555000{i:02}", place_at=NOON - S(600 - i)) for i in range(6)]
    snap = pool(7).snapshot(NOON)  # 7 free: 2 callbacks at once
    dials = due_requests(reqs, snap, RULES, NOON, timezone=TZ)
    assert [d.request_id for d in dials] == [0, 1]
    assert len({d.person_id for d in dials}) == 2


def test_callbacks_already_dialing_count_against_the_capacity_share():
    reqs = [request(rid=i, number=f"555000{i:02}", place_at=NOON - S(600 - i)) for i in range(4)]
    reqs[0] = dataclasses.replace(reqs[0], status=RequestStatus.DIALING)
    snap = pool(7).snapshot(NOON)
    assert [d.request_id for d in due_requests(reqs, snap, RULES, NOON, timezone=TZ)] == [1]
    one_free = pool(4, busy=3).snapshot(NOON)
    assert due_requests(reqs, one_free, RULES, NOON, timezone=TZ) == []  # 1 allowed, 1 dialing


def test_dials_in_flight_outside_the_requests_count_too():
    reqs = [request(rid=i, number=f"555000{i:02}", place_at=NOON - S(600 - i)) for i in range(4)]
    snap = pool(7).snapshot(NOON)  # 2 allowed
    assert len(due_requests(reqs, snap, RULES, NOON, timezone=TZ, dialing=1)) == 1
    assert len(due_requests(reqs, snap, RULES, NOON, timezone=TZ, dialing={Q: 2})) == 0
    assert len(due_requests(reqs, snap, RULES, NOON, timezone=TZ, dialing={"en-general": 2})) == 2


def test_higher_priority_first_then_the_earlier_place():
    reqs = [
        request(rid=1, number="55500001", place_at=NOON - S(900)),
        request(rid=2, number="55500002", place_at=NOON - S(300), priority=2),
        request(rid=3, number="55500003", place_at=NOON - S(1200)),
    ]
    snap = pool(10).snapshot(NOON)
    dials = due_requests(reqs, snap, rules(capacity_share=1.0), NOON, timezone=TZ)
    assert [d.request_id for d in dials] == [2, 3, 1]
    assert [d.priority for d in dials] == [7, 5, 5]


def test_nothing_is_due_in_quiet_hours_across_midnight():
    assert RULES.quiet_start == time(23, 0) and RULES.quiet_end == time(7, 0)
    for hour, minute, quiet in ((22, 59, False), (23, 0, True), (23, 30, True), (0, 0, True), (3, 0, True),
                                (6, 59, True), (7, 0, False), (12, 0, False)):  # fmt: skip
        now = kuwait(hour, minute)
        assert in_quiet_hours(RULES, now, TZ) is quiet, (hour, minute)
        state = pool(3, t=now - S(3600))
        req = request(place_at=now - S(600))
        assert bool(due_requests([req], state.snapshot(now), RULES, now, timezone=TZ)) is not quiet, (hour, minute)


def test_the_profiles_time_zone_decides_the_quiet_hours():
    night = kuwait(3)
    state = profile_state()
    login(state, night - S(3600), "agent-ar-1", Q)
    req = request(place_at=night - S(600))
    assert due_requests([req], state.snapshot(night), RULES, night, profile=PROFILE) == []
    assert len(due_requests([req], state.snapshot(night), RULES, night, profile=PROFILE, timezone="Asia/Tokyo")) == 1


def test_quiet_hours_within_a_day_and_none():
    daytime = rules(quiet_hours=QuietHours(time(13, 0), time(14, 0)))
    assert in_quiet_hours(daytime, kuwait(13, 30), TZ) and not in_quiet_hours(daytime, kuwait(14, 0), TZ)
    assert not in_quiet_hours(rules(quiet_hours=None), kuwait(3), TZ)
    # the profile's time zone decides: 09:00 in Kuwait is 06:00 UTC
    assert not in_quiet_hours(RULES, kuwait(9), TZ) and in_quiet_hours(RULES, kuwait(9), "UTC")


def test_not_due_before_the_next_attempt_or_after_the_expiry():
    snap = pool(3).snapshot(NOON)
    waiting = request(next_attempt_at=NOON + S(1))
    assert due_requests([waiting], snap, RULES, NOON, timezone=TZ) == []
    assert len(due_requests([waiting], snap, RULES, NOON + S(1), timezone=TZ)) == 1
    old = request(expires_at=NOON)
    assert due_requests([old], snap, RULES, NOON, timezone=TZ) == []
    assert due_requests([request(status=RequestStatus.CANCELLED)], snap, RULES, NOON, timezone=TZ) == []


def test_agent_first_reserves_a_free_person_without_waiting_for_the_front():
    state = profile_state()
    login(state, NOON - S(3600), "agent-ar-1", Q)
    caller(state, NOON - S(700), "earlier")
    agent_first = rules(agent_first=True)
    dials = due_requests([request(place_at=NOON - S(600))], state.snapshot(NOON), agent_first, NOON, profile=PROFILE)
    assert dials == [Dial(1, Q, "agent-ar-1", 5, True)]
    nobody_free = profile_state()
    login(nobody_free, NOON - S(3600), "agent-ar-1", Q)
    on_call(nobody_free, NOON - S(60), "agent-ar-1", Q, "busy")
    assert due_requests([request()], nobody_free.snapshot(NOON), agent_first, NOON, profile=PROFILE) == []


def test_requests_already_promised_are_dialled_even_when_offers_are_disabled():
    snap = pool(3).snapshot(NOON)
    assert len(due_requests([request()], snap, rules(enabled=False), NOON, timezone=TZ)) == 1


# -- attempts --------------------------------------------------------------------------------------------


def test_backoff_follows_the_retry_list_and_fails_after_max_attempts():
    req = dataclasses.replace(request(), status=RequestStatus.DIALING)
    now = NOON
    delays = []
    for _ in range(2):
        req = after_attempt(req, AttemptOutcome.NO_ANSWER, RULES, now)
        assert req.status is RequestStatus.OPEN
        delays.append(req.next_attempt_at - now)
        now = req.next_attempt_at
        req = dataclasses.replace(req, status=RequestStatus.DIALING)
    assert delays == [S(120), S(600)]
    req = after_attempt(req, AttemptOutcome.BUSY, RULES, now)
    assert req.status is RequestStatus.FAILED and req.attempts == 3


def test_the_last_retry_delay_repeats():
    five = rules(max_attempts=5)
    assert [backoff_seconds(n, five) for n in (1, 2, 3, 4, 5)] == [120, 600, 1800, 1800, 1800]
    req = request()
    for n in range(4):
        req = after_attempt(req, "failed", five, NOON)
        assert req.status is RequestStatus.OPEN and req.attempts == n + 1
    assert req.next_attempt_at == NOON + S(1800)
    assert after_attempt(req, "no_answer", five, NOON).status is RequestStatus.FAILED


def test_a_connected_attempt_closes_the_request():
    req = after_attempt(request(status=RequestStatus.DIALING, attempts=1), AttemptOutcome.CONNECTED, RULES, NOON)
    assert req.status is RequestStatus.CONNECTED and req.attempts == 2


def test_an_unknown_outcome_counts_and_is_never_retried_immediately():
    req = after_attempt(request(status=RequestStatus.DIALING), AttemptOutcome.UNKNOWN, RULES, NOON)
    assert req.status is RequestStatus.OPEN and req.attempts == 1
    assert req.next_attempt_at == NOON + S(120)
    snap = pool(3).snapshot(NOON)
    assert due_requests([req], snap, RULES, NOON, timezone=TZ) == []
    assert due_requests([req], snap, RULES, NOON + S(119), timezone=TZ) == []
    assert len(due_requests([req], snap, RULES, NOON + S(120), timezone=TZ)) == 1
    last = after_attempt(request(attempts=2, status=RequestStatus.DIALING), "unknown", RULES, NOON)
    assert last.status is RequestStatus.FAILED


def test_an_attempt_ending_after_a_cancel_only_counts():
    req = after_attempt(request(status=RequestStatus.CANCELLED), "connected", RULES, NOON)
    assert req.status is RequestStatus.CANCELLED and req.attempts == 1


def test_expire_closes_open_requests_past_their_expiry_only():
    fresh = request(rid=1, expires_at=NOON + S(1))
    stale = request(rid=2, expires_at=NOON)
    dialing = request(rid=3, expires_at=NOON - S(5), status=RequestStatus.DIALING)
    done = request(rid=4, expires_at=NOON - S(5), status=RequestStatus.CONNECTED)
    expired = expire([fresh, stale, dialing, done], NOON)
    assert [(r.id, r.status) for r in expired] == [(2, RequestStatus.EXPIRED)]


def test_a_connected_callback_goes_before_live_callers_of_its_topic():
    assert callback_priority(request()) == call_priority("general", True, PROFILE) == 5
    assert callback_priority(request(priority=2)) == 7


def test_the_policy_imports_no_event_loop_network_or_database_library():
    code = (
        "import sys, callbacks.policy\n"
        "bad = [m for m in ('asyncio', 'aiohttp', 'sqlalchemy', 'panoramisk', 'psycopg', 'alembic')\n"
        "       if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


# -- pacing: callbacks under way hold the free people ---------------------------------------------------


def test_a_callback_under_way_holds_a_free_person_of_every_queue_that_shares_them():
    state = LiveState(["a", "b"], wrapup_seconds=0)
    login(state, NOON - S(100), "a", Q, "ar-complaints")  # free in both queues
    login(state, NOON - S(100), "b", "ar-virus")
    snap = state.snapshot(NOON)

    under_way = callbacks_under_way(["ar-complaints"], snap)

    assert under_way == {"ar-complaints": 1, Q: 1}  # "a" is the free person of both; ar-virus shares nobody
    later = request(2, number="55512346", place_at=NOON - S(300))
    assert due_requests([later], snap, rules(capacity_share=1.0), NOON, dialing=under_way) == []
    assert len(due_requests([later], snap, rules(capacity_share=1.0), NOON)) == 1


def test_callbacks_under_way_leave_the_free_people_beyond_them_to_further_dials():
    state = pool(3)
    snap = state.snapshot(NOON)
    under_way = callbacks_under_way([Q, Q], snap)
    waiting = [request(i, number=f"5551234{i}", place_at=NOON - S(600 - i)) for i in range(1, 4)]

    dials = due_requests(waiting, snap, rules(capacity_share=1.0), NOON, dialing=under_way)

    assert under_way == {Q: 2} and [d.request_id for d in dials] == [1]  # 3 free, 2 held: one more dial
    assert callbacks_under_way([], snap) == {}
