"""Screening's pure core: numbers and reasons as the block list takes them, the verdict at call start, and the
automatic detection (thresholds, windows, withheld numbers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from profiles.model import NuisanceRules
from screening.model import (
    WITHHELD,
    Decision,
    Detector,
    ScreeningError,
    ShortCall,
    Verdict,
    caller_key,
    is_withheld,
    valid_expiry,
    valid_number,
    valid_reason,
    verdict,
)

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
RULES = NuisanceRules(max_short_calls=5, within_minutes=2, short_call_seconds=10, block_minutes=60)


def call(number: str | None, at: float, length: float = 3.0, counts: bool = True) -> ShortCall:
    start = T0 + timedelta(seconds=at)
    return ShortCall(number, start, start + timedelta(seconds=length), counts)


def feed(detector: Detector, calls: list[ShortCall]) -> list[Decision]:
    return [detector.observe(c) for c in calls]


def test_five_short_calls_within_two_minutes_warn_then_five_more_block():
    detector = Detector(RULES)
    first = feed(detector, [call("0791234567", 20 * i) for i in range(5)])
    assert first == [Decision.NONE] * 4 + [Decision.WARN]
    second = feed(detector, [call("0791234567", 100 + 20 * i) for i in range(5)])
    assert second == [Decision.NONE] * 4 + [Decision.BLOCK]


def test_four_short_calls_are_not_enough():
    detector = Detector(RULES)
    assert feed(detector, [call("0791234567", 10 * i) for i in range(4)]) == [Decision.NONE] * 4


def test_calls_spread_over_more_than_the_window_do_not_add_up():
    detector = Detector(RULES)
    # 31 s apart: any 5 of them span 124 s, more than 2 minutes
    assert Decision.WARN not in feed(detector, [call("0791234567", 31 * i) for i in range(12)])
    # exactly 2 minutes from the first to the fifth still counts
    assert feed(Detector(RULES), [call("0791234567", 30 * i) for i in range(5)])[-1] is Decision.WARN


def test_a_call_as_long_as_the_threshold_or_longer_is_not_short_and_blocked_calls_do_not_count():
    detector = Detector(RULES)
    calls = [call("0791234567", 5 * i, length=10.0) for i in range(5)]  # 10 s: not shorter than 10 s
    calls += [call("0791234567", 30 + i, counts=False) for i in range(5)]  # blocked calls
    calls += [ShortCall("0791234567", T0, None) for _ in range(5)]  # no end known
    assert set(feed(detector, calls)) == {Decision.NONE}
    assert detector.is_short(call("x", 0, length=9.9)) and not detector.is_short(call("x", 0, length=10))


def test_numbers_are_counted_apart_and_separators_do_not_make_another_number():
    detector = Detector(RULES)
    mixed = [call("0791234567" if i % 2 else "0790000000", 5 * i) for i in range(8)]
    assert set(feed(detector, mixed)) == {Decision.NONE}
    assert feed(detector, [call("079 123-4567", 41)]) == [Decision.WARN]  # the 5th of 0791234567


def test_withheld_numbers_are_never_warned_nor_blocked_as_a_group_unless_the_profile_says_so():
    withheld = [call(name, 5 * i) for i, name in enumerate([None, "anonymous", "Restricted", "", "unknown"] * 2)]
    assert set(feed(Detector(RULES), withheld)) == {Decision.NONE}
    rules = NuisanceRules(max_short_calls=5, within_minutes=2, short_call_seconds=10, block_withheld=True)
    assert feed(Detector(rules), withheld) == [Decision.NONE] * 4 + [Decision.WARN] + [Decision.NONE] * 4 + [
        Decision.BLOCK
    ]
    blocks = {WITHHELD: None}
    assert verdict("Anonymous", blocks, (), T0) is Verdict.PASS
    assert verdict("Anonymous", blocks, (), T0, block_withheld=True) is Verdict.BLOCK
    assert is_withheld(None) and is_withheld(" Restricted ") and not is_withheld("0791234567")


def test_a_warned_number_is_blocked_the_next_time_even_after_a_restart():
    detector = Detector(RULES, warned=["0791234567"])
    assert feed(detector, [call("0791234567", i) for i in range(5)])[-1] is Decision.BLOCK


def test_the_verdict_blocks_until_the_end_and_warns_those_to_warn():
    blocks = {"0791234567": T0 + timedelta(minutes=60), "0790000000": None}
    assert verdict("0791234567", blocks, (), T0) is Verdict.BLOCK
    assert verdict("0791234567", blocks, (), T0 + timedelta(minutes=60)) is Verdict.PASS  # expired
    assert verdict("0790000000", blocks, (), T0 + timedelta(days=900)) is Verdict.BLOCK  # no end
    assert verdict("0795555555", blocks, {"0795555555"}, T0) is Verdict.WARN
    assert verdict("0795555556", blocks, {"0795555555"}, T0) is Verdict.PASS
    assert caller_key("+965 (079) 123.4567") == "+9650791234567"


@pytest.mark.parametrize("bad", ["07912a4567", "abc", "12", "", "   ", "+", "1" * 33, "++123456", "0791;234"])
def test_a_number_with_letters_or_of_the_wrong_length_is_refused(bad):
    with pytest.raises(ScreeningError, match="number must be a phone number"):
        valid_number(bad)


def test_good_numbers_and_reasons_are_kept_tidy():
    assert valid_number(" +965 2222-3333 ") == "+96522223333"
    assert valid_reason("  abusive calls ") == "abusive calls"
    with pytest.raises(ScreeningError, match="at most 500 characters"):
        valid_reason("x" * 501)
    with pytest.raises(ScreeningError, match="reason is required"):
        valid_reason("   ")


def test_an_expiry_must_be_in_the_future_and_have_a_zone():
    assert valid_expiry(None, T0) is None
    assert valid_expiry(T0 + timedelta(minutes=1), T0) == T0 + timedelta(minutes=1)
    with pytest.raises(ScreeningError, match="in the future"):
        valid_expiry(T0 - timedelta(seconds=1), T0)
    with pytest.raises(ScreeningError, match="time zone"):
        valid_expiry(datetime(2030, 1, 1), T0)


def test_a_call_the_dialplan_announces_as_blocked_is_recorded_as_blocked_and_booked_no_callback():
    from support.streams import replay

    from cdr.builder import Outcome, RecordBuilder

    uid = "1700009000.90"
    common = {"Channel": "PJSIP/trunk-00000090", "Uniqueid": uid, "Linkedid": uid}
    log = [
        {"Event": "Newchannel", "Privilege": "call,all", "Timestamp": "1700009000.000000", "ChannelState": "4",
         "ChannelStateDesc": "Ring", "CallerIDNum": "0791234567", "CallerIDName": "", "Context": "hotline-inbound",
         "Exten": "151", "Priority": "1", **common},
        {"Event": "UserEvent", "Privilege": "user,all", "Timestamp": "1700009000.300000", "UserEvent": "HotlineRoute",
         "Language": "", "Topic": "", "Specialty": "", "Queue": "", "Result": "BLOCKED", **common},
        {"Event": "Hangup", "Privilege": "call,all", "Timestamp": "1700009003.000000", "Cause": "16",
         "Cause-txt": "Normal Clearing", **common},
    ]  # fmt: skip
    [record] = replay(log, RecordBuilder(number="151", context="hotline-inbound"))
    assert record.outcome is Outcome.BLOCKED and record.outcome.value == "blocked"
    assert record.caller_number == "0791234567" and record.queue is None and record.agent is None
    # the callback service books a callback only for abandoned calls: a blocked caller is never called back
    assert record.outcome not in (Outcome.ABANDONED_QUEUE, Outcome.ABANDONED_IVR)
