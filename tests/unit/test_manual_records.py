"""The record of a click-to-call (issue 14, item 3): kind ``manual``, the agent whose phone rang first, answered with
the talk from when the number answered, or failed when it did not (never "abandoned in the IVR")."""

from __future__ import annotations

from cdr.builder import Outcome, RecordBuilder
from telephony.events import DialEnd, Hangup, Newchannel, OutboundStart

AGENT, NUMBER, LINKEDID = "agent-ar-1", "96550000001", "1796215516.8"
T0 = 1796215516.0


def _builder() -> RecordBuilder:
    return RecordBuilder(number="151", context="hotline-inbound")


def _start(builder: RecordBuilder, at: float) -> None:
    builder.feed(OutboundStart(at, LINKEDID, LINKEDID, "manual", NUMBER, "", "", "7", AGENT))


def test_an_answered_manual_call_has_the_agent_and_the_talk_from_the_numbers_answer() -> None:
    builder = _builder()
    # the agent's channel is originated into hotline-manual-out: no record until it answers and announces the call
    assert (
        builder.feed(Newchannel(T0, f"PJSIP/{AGENT}-1", LINKEDID, LINKEDID, "151", "151", "hotline-manual-out", "s"))
        == []
    )
    assert builder.calls_in_progress == 0
    _start(builder, T0 + 3)
    assert builder.feed(DialEnd(T0 + 10, LINKEDID, LINKEDID, "PJSIP/trunk-2", "1796215516.9", LINKEDID, "ANSWER")) == []
    assert builder.feed(Hangup(T0 + 40, "PJSIP/trunk-2", "1796215516.9", LINKEDID, 16, "Normal Clearing")) == []
    (record,) = builder.feed(Hangup(T0 + 41, f"PJSIP/{AGENT}-1", LINKEDID, LINKEDID, 16, "Normal Clearing"))
    assert (record.kind, record.outcome, record.agent, record.caller_number) == (
        "manual",
        Outcome.ANSWERED,
        AGENT,
        NUMBER,
    )
    assert record.talk_seconds == 30.0  # from the number's answer to its hang-up
    assert [(leg.kind, leg.target, leg.talk_seconds) for leg in record.legs] == [("person", AGENT, 30.0)]


def test_a_manual_call_the_number_does_not_answer_is_failed_with_the_agent() -> None:
    builder = _builder()
    _start(builder, T0)
    builder.feed(DialEnd(T0 + 45, LINKEDID, LINKEDID, "PJSIP/trunk-2", "1796215516.9", LINKEDID, "NOANSWER"))
    (record,) = builder.feed(Hangup(T0 + 46, f"PJSIP/{AGENT}-1", LINKEDID, LINKEDID, 16, "Normal Clearing"))
    assert (record.kind, record.outcome, record.agent, record.talk_seconds) == ("manual", Outcome.FAILED, AGENT, None)
    assert record.legs == ()
