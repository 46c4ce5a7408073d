"""The legs of a call (issue 12): who answered, who it went to, and each one's talk time.

Blind transfers are real Asterisk 22 captures (tests/support/ami_streams/blind_transfer_*.txt: a caller in
ar-general answered by agent-ar-2, who transfers them through ``hotline-transfer`` to ar-complaints, where
agent-ar-3 answers, or to the ``technical-affairs`` destination on the trunk; the transfer was made with the
AMI BlindTransfer action, which Asterisk reports like a SIP REFER: ``IsExternal: Yes``). The attended
transfers and the conference continue the same captured call with events written after Asterisk 22's
AttendedTransfer / AgentConnect on the consultation's Local channel, and H3's HotlineConference UserEvent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from support.streams import ami_stream, ami_text, replay

from cdr.builder import CallRecord, Leg, Outcome, RecordBuilder
from cdr.reports import PersonMeasures, RecordFacts, aggregate, by_queue, people_figures
from telephony.ami.message import Message
from telephony.clock import utc

L = "1796215480.1"  # the captured call: its caller's channel
AGENT_CHANNEL = "1796215484.2"  # agent-ar-2's channel
CONNECT = 1796215484.364795  # agent-ar-2 answered (AgentConnect)


def play(messages: Sequence[Message]) -> CallRecord:
    records = replay(messages, RecordBuilder(number="151", context="hotline-inbound"))
    assert len(records) == 1, records
    return records[0]


def answered_by_agent_ar_2() -> list[Message]:
    """The captured call up to agent-ar-2's answer (and the bridge), nothing after."""
    stream = ami_stream("blind_transfer_to_queue")
    end = next(i for i, m in enumerate(stream) if m.event == "BlindTransfer")
    return [m for m in stream[:end] if m.get("Linkedid") == L or m.event != "Hangup"]


def test_a_blind_transfer_to_another_queue_has_both_people_with_their_own_talk() -> None:
    record = play(ami_stream("blind_transfer_to_queue"))

    assert record.outcome is Outcome.ANSWERED
    # counted once, where it was first answered; the record's own figures are the first answer's
    assert (record.queue, record.agent, record.transferred_to) == ("ar-general", "agent-ar-2", "ar-complaints")
    assert record.wait_seconds == pytest.approx(CONNECT - 1796215484.057875)
    assert record.talk_seconds == pytest.approx(1796215488.121615 - CONNECT)  # to the transfer
    first, second = record.legs
    assert first == Leg("person", "agent-ar-2", "ar-general", utc(CONNECT), utc(1796215488.121615),
                        pytest.approx(1796215488.121615 - CONNECT), None)  # fmt: skip
    assert (second.kind, second.target, second.queue, second.how) == ("person", "agent-ar-3", "ar-complaints", "refer")
    assert second.answered_at == utc(1796215488.433036)
    assert second.ended_at == utc(1796215500.061635)  # agent-ar-3's AgentComplete (the caller hung up)
    assert second.talk_seconds == pytest.approx(1796215500.061635 - 1796215488.433036)
    assert record.ended_at == utc(1796215500.063466)


def test_a_dtmf_blind_transfer_is_blind_and_a_refer_is_refer() -> None:
    """IsExternal: No is Asterisk's own transfer (the features.conf keys); Yes a REFER (or the AMI action)."""
    stream = [
        Message([(k, "No" if k == "IsExternal" else v) for k, v in m.headers]) if m.event == "BlindTransfer" else m
        for m in ami_stream("blind_transfer_to_queue")
    ]
    assert play(stream).legs[1].how == "blind"
    assert play(ami_stream("blind_transfer_to_queue")).legs[1].how == "refer"


def test_a_blind_transfer_to_an_outside_destination_records_the_destination_until_the_caller_hangs_up() -> None:
    record = play(ami_stream("blind_transfer_to_destination"))

    assert (record.queue, record.agent, record.transferred_to) == ("ar-general", "agent-ar-2", "technical-affairs")
    first, second = record.legs
    assert (first.target, first.ended_at) == ("agent-ar-2", utc(1796215522.132904))  # BlindTransfer
    assert first.talk_seconds == pytest.approx(1796215522.132904 - 1796215520.061835)
    assert (second.kind, second.target, second.queue, second.how) == ("destination", "technical-affairs", None, "refer")
    assert second.answered_at == utc(1796215522.643982)  # the DialEnd that answered
    assert second.ended_at == utc(1796215535.754319) == record.ended_at  # the caller hung up first
    assert second.talk_seconds == pytest.approx(1796215535.754319 - 1796215522.643982)
    assert record.talk_seconds == first.talk_seconds


CONSULT_TO_DESTINATION = f"""
Event: Newchannel
Timestamp: 1796215488.500000
Channel: Local/9001@hotline-transfer-00000001;1
Uniqueid: 1796215488.5
Linkedid: {L}
CallerIDNum: 1202
CallerIDName: agent-ar-2
Context: hotline-transfer
Exten: 9001

Event: Newchannel
Timestamp: 1796215488.500100
Channel: Local/9001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
CallerIDNum: 1202
CallerIDName: agent-ar-2
Context: hotline-transfer
Exten: 9001

Event: UserEvent
Timestamp: 1796215488.501000
Channel: Local/9001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Context: hotline-destinations
Exten: technical-affairs
UserEvent: HotlineDestination
Destination: technical-affairs

Event: Newchannel
Timestamp: 1796215488.502000
Channel: PJSIP/trunk-00000005
Uniqueid: 1796215488.7
Linkedid: {L}
CallerIDNum: 1202
CallerIDName: agent-ar-2
Context: hotline-inbound
Exten: s

Event: DialEnd
Timestamp: 1796215489.000000
Channel: Local/9001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
DestChannel: PJSIP/trunk-00000005
DestUniqueid: 1796215488.7
DestLinkedid: {L}
DialStatus: ANSWER
"""

CONSULT_TO_QUEUE = f"""
Event: Newchannel
Timestamp: 1796215488.500000
Channel: Local/7001@hotline-transfer-00000001;1
Uniqueid: 1796215488.5
Linkedid: {L}
Context: hotline-transfer
Exten: 7001

Event: Newchannel
Timestamp: 1796215488.500100
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Context: hotline-transfer
Exten: 7001

Event: QueueCallerJoin
Timestamp: 1796215488.501000
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Queue: ar-complaints
Position: 1
Count: 1

Event: Newchannel
Timestamp: 1796215488.502000
Channel: PJSIP/agent-ar-3-00000005
Uniqueid: 1796215488.7
Linkedid: {L}
Context: hotline-phones
Exten: s

Event: QueueCallerLeave
Timestamp: 1796215489.000000
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Queue: ar-complaints
Position: 1
Count: 0

Event: AgentConnect
Timestamp: 1796215489.000100
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Queue: ar-complaints
MemberName: agent-ar-3
Interface: PJSIP/agent-ar-3
DestChannel: PJSIP/agent-ar-3-00000005
DestUniqueid: 1796215488.7
DestLinkedid: {L}
HoldTime: 0
RingTime: 0
"""


def attended_transfer(is_external: str = "No") -> str:
    return f"""
Event: AttendedTransfer
Timestamp: 1796215495.000000
Result: Success
OrigTransfererChannel: PJSIP/agent-ar-2-00000002
OrigTransfererUniqueid: {AGENT_CHANNEL}
OrigTransfererLinkedid: {L}
OrigBridgeUniqueid: 59c1f238-dc2b-46f1-92bd-f107df7c647c
SecondTransfererChannel: PJSIP/agent-ar-2-00000002
SecondTransfererUniqueid: {AGENT_CHANNEL}
SecondTransfererLinkedid: {L}
TransfereeChannel: PJSIP/trunk-00000001
TransfereeUniqueid: {L}
TransfereeLinkedid: {L}
TransferTargetChannel: Local/9001@hotline-transfer-00000001;1
TransferTargetUniqueid: 1796215488.5
TransferTargetLinkedid: {L}
DestType: Bridge
IsExternal: {is_external}

Event: AgentComplete
Timestamp: 1796215495.000100
Channel: PJSIP/trunk-00000001
Uniqueid: {L}
Linkedid: {L}
Queue: ar-general
MemberName: agent-ar-2
Interface: PJSIP/agent-ar-2
DestUniqueid: {AGENT_CHANNEL}
HoldTime: 0
TalkTime: 11
Reason: transfer

Event: Hangup
Timestamp: 1796215495.010000
Channel: PJSIP/agent-ar-2-00000002
Uniqueid: {AGENT_CHANNEL}
Linkedid: {L}
Cause: 16

Event: Hangup
Timestamp: 1796215495.100000
Channel: Local/9001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Cause: 16
"""


CALLER_HANGS_UP = f"""
Event: Hangup
Timestamp: 1796215510.000000
Channel: PJSIP/trunk-00000001
Uniqueid: {L}
Linkedid: {L}
Cause: 16
Cause-txt: Normal Clearing

Event: Hangup
Timestamp: 1796215510.010000
Channel: PJSIP/trunk-00000005
Uniqueid: 1796215488.7
Linkedid: {L}
Cause: 16
"""


def test_an_attended_transfer_to_technical_affairs_counts_the_consultation_with_both() -> None:
    record = play(answered_by_agent_ar_2() + ami_text(CONSULT_TO_DESTINATION + attended_transfer() + CALLER_HANGS_UP))

    assert (record.queue, record.agent, record.transferred_to) == ("ar-general", "agent-ar-2", "technical-affairs")
    first, second = record.legs
    assert (first.target, first.ended_at, first.how) == ("agent-ar-2", utc(1796215495.0), None)  # the transfer
    assert record.talk_seconds == first.talk_seconds == pytest.approx(1796215495.0 - CONNECT)
    assert second == Leg("destination", "technical-affairs", None, utc(1796215489.0), utc(1796215510.0),
                         pytest.approx(21.0), "attended")  # fmt: skip


def test_an_attended_transfer_by_refer_with_replaces_is_refer() -> None:
    record = play(
        answered_by_agent_ar_2() + ami_text(CONSULT_TO_DESTINATION + attended_transfer("Yes") + CALLER_HANGS_UP)
    )

    assert record.legs[1].how == "refer"


def test_an_attended_transfer_to_another_queue_makes_the_consulted_person_the_second_leg() -> None:
    end_of_second = f"""
Event: AgentComplete
Timestamp: 1796215509.900000
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Queue: ar-complaints
MemberName: agent-ar-3
Interface: PJSIP/agent-ar-3
HoldTime: 0
TalkTime: 20
Reason: caller
"""
    record = play(
        answered_by_agent_ar_2() + ami_text(CONSULT_TO_QUEUE + attended_transfer() + end_of_second + CALLER_HANGS_UP)
    )

    assert (record.queue, record.agent, record.transferred_to) == ("ar-general", "agent-ar-2", "ar-complaints")
    first, second = record.legs
    assert first.target == "agent-ar-2" and first.ended_at == utc(1796215495.0)
    assert second == Leg("person", "agent-ar-3", "ar-complaints", utc(1796215489.0001), utc(1796215509.9),
                         pytest.approx(1796215509.9 - 1796215489.0001), "attended")  # fmt: skip


def test_a_consultation_given_up_is_no_leg_of_the_callers_call() -> None:
    """agent-ar-2 consults agent-ar-3, who hangs up; agent-ar-2 goes back to the caller and finishes the call."""
    given_up = f"""
Event: Hangup
Timestamp: 1796215492.000000
Channel: PJSIP/agent-ar-3-00000005
Uniqueid: 1796215488.7
Linkedid: {L}
Cause: 16

Event: AgentComplete
Timestamp: 1796215492.000100
Channel: Local/7001@hotline-transfer-00000001;2
Uniqueid: 1796215488.6
Linkedid: {L}
Queue: ar-complaints
MemberName: agent-ar-3
HoldTime: 0
TalkTime: 3
Reason: agent

Event: AgentComplete
Timestamp: 1796215505.000000
Channel: PJSIP/trunk-00000001
Uniqueid: {L}
Linkedid: {L}
Queue: ar-general
MemberName: agent-ar-2
HoldTime: 0
TalkTime: 21
Reason: agent
"""
    record = play(answered_by_agent_ar_2() + ami_text(CONSULT_TO_QUEUE + given_up + CALLER_HANGS_UP))

    assert record.transferred_to is None
    (only,) = record.legs
    assert (only.target, only.ended_at) == ("agent-ar-2", utc(1796215505.0))
    assert record.talk_seconds == only.talk_seconds == pytest.approx(1796215505.0 - CONNECT)


def conference(state: str, at: float, **headers: str) -> str:
    extra = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return f"""
Event: UserEvent
Timestamp: {at:.6f}
UserEvent: HotlineConference
Call: {L}
Destination: emergency-control-room
State: {state}
{extra}"""


def test_a_conference_with_the_control_room_keeps_the_agent_until_they_leave() -> None:
    """The caller is moved into the ConfBridge (app_queue ends the queue call then: AgentComplete "transfer"),
    the control room joins, the agent leaves later, the caller and the control room stay."""
    moved = f"""
Event: AgentComplete
Timestamp: 1796215489.000000
Channel: PJSIP/trunk-00000001
Uniqueid: {L}
Linkedid: {L}
Queue: ar-general
MemberName: agent-ar-2
HoldTime: 0
TalkTime: 5
Reason: transfer
"""
    agent_hangs_up = f"""
Event: Hangup
Timestamp: 1796215500.010000
Channel: PJSIP/agent-ar-2-00000002
Uniqueid: {AGENT_CHANNEL}
Linkedid: {L}
Cause: 16
"""
    record = play(
        answered_by_agent_ar_2()
        + ami_text(
            moved
            + conference("joined", 1796215490.0)
            + conference("agent-left", 1796215500.0, Agent="agent-ar-2")
            + agent_hangs_up
            + CALLER_HANGS_UP
            + conference("left", 1796215510.02)
        )
    )

    assert (record.queue, record.agent, record.transferred_to) == ("ar-general", "agent-ar-2", None)
    person, room = record.legs
    assert (person.target, person.ended_at) == ("agent-ar-2", utc(1796215500.0))
    assert record.talk_seconds == person.talk_seconds == pytest.approx(1796215500.0 - CONNECT)
    assert room == Leg("conference", "emergency-control-room", None, utc(1796215490.0), utc(1796215510.0),
                       pytest.approx(20.0), "conference")  # fmt: skip


def test_the_control_room_leaving_first_ends_only_its_own_leg() -> None:
    record = play(
        answered_by_agent_ar_2()
        + ami_text(conference("joined", 1796215490.0) + conference("left", 1796215495.0) + CALLER_HANGS_UP)
    )

    person, room = record.legs
    assert (room.ended_at, room.talk_seconds) == (utc(1796215495.0), pytest.approx(5.0))
    assert person.ended_at == utc(1796215510.0)


def test_an_unanswered_call_has_no_legs_and_a_transfer_event_of_another_call_changes_nothing() -> None:
    stream = ami_stream("blind_transfer_to_queue")
    answer = next(i for i, m in enumerate(stream) if m.event == "DialEnd")
    hangup = ami_text(f"Event: Hangup\nTimestamp: 1796215485.0\nUniqueid: {L}\nLinkedid: {L}\nCause: 16\n")
    stranger = ami_text(attended_transfer().replace(L, "1796215999.1").replace(AGENT_CHANNEL, "1796215999.2"))
    record = play(stream[:answer] + stranger + hangup)

    assert record.outcome is not Outcome.ANSWERED
    assert record.legs == () and record.transferred_to is None


def test_a_failed_blind_transfer_leaves_the_call_with_the_first_person() -> None:
    failed = f"""
Event: BlindTransfer
Timestamp: 1796215488.000000
Result: Fail
TransfererUniqueid: {AGENT_CHANNEL}
TransfererLinkedid: {L}
TransfereeUniqueid: {L}
TransfereeLinkedid: {L}
IsExternal: No
Context: hotline-transfer
Extension: 0090555
"""
    record = play(answered_by_agent_ar_2() + ami_text(failed + CALLER_HANGS_UP))

    (only,) = record.legs
    assert (only.target, only.ended_at, only.how) == ("agent-ar-2", utc(1796215510.0), None)


def test_the_record_keeps_the_queue_of_the_first_answer_when_the_caller_queues_again() -> None:
    """asterisk#759: the second queue's QueueCallerJoin must not move the call there."""
    record = play(ami_stream("blind_transfer_to_queue"))

    assert record.queue == "ar-general"
    assert (record.language, record.topic) == ("ar", "general")


def test_in_a_conference_without_agent_left_the_persons_hang_up_is_when_they_left() -> None:
    moved = f"""
Event: AgentComplete
Timestamp: 1796215489.000000
Uniqueid: {L}
Linkedid: {L}
Queue: ar-general
MemberName: agent-ar-2
TalkTime: 5
Reason: transfer

Event: Hangup
Timestamp: 1796215503.000000
Uniqueid: {AGENT_CHANNEL}
Linkedid: {L}
Cause: 16
"""
    record = play(answered_by_agent_ar_2() + ami_text(conference("joined", 1796215490.0) + moved + CALLER_HANGS_UP))

    person, room = record.legs
    assert person.ended_at == utc(1796215503.0)
    assert room.ended_at == utc(1796215510.0)


def test_a_sip_refer_from_the_agents_softphone_is_a_refer_leg() -> None:
    """Real capture: agent-ar-2's phone REFERs the caller to sip:7001@… (a queue's short code); agent-ar-3
    answers in ar-complaints."""
    record = play(ami_stream("refer_transfer_to_queue"))

    assert (record.queue, record.agent, record.transferred_to) == ("ar-virus", "agent-ar-2", "ar-complaints")
    first, second = record.legs
    assert (first.target, first.ended_at) == ("agent-ar-2", utc(1796215955.945667))  # the transfer, not the BYE
    assert (second.target, second.queue, second.how) == ("agent-ar-3", "ar-complaints", "refer")
    assert (second.answered_at, second.ended_at) == (utc(1796215956.252992), utc(1796215969.637891))
    assert record.talk_seconds == pytest.approx(1796215955.945667 - 1796215953.940537)


# -- reports: counted once where first answered, the talk split per person ---------------------------


def test_the_reports_count_a_transferred_call_once_in_its_first_queue_and_split_the_talk_per_person() -> None:
    records = [play(ami_stream(name)) for name in ("blind_transfer_to_queue", "refer_transfer_to_queue")]
    facts = [RecordFacts.of(r) for r in records]

    queues = by_queue(aggregate(facts, 60, 20.0))
    assert {q: (m.offered, m.answered, m.transferred) for q, m in queues.items()} == {
        "ar-general": (1, 1, 1),
        "ar-virus": (1, 1, 1),
    }  # never offered again in ar-complaints (asterisk#759)
    assert sum(m.talk_sum for m in queues.values()) == pytest.approx(sum(r.talk_seconds or 0.0 for r in records))
    people = people_figures(facts)
    assert people[("person", "agent-ar-2")] == PersonMeasures(
        2, 2, 0, pytest.approx(sum(r.legs[0].talk_seconds or 0.0 for r in records))
    )
    assert people[("person", "agent-ar-3")] == PersonMeasures(
        2, 0, 2, pytest.approx(sum(r.legs[1].talk_seconds or 0.0 for r in records))
    )
    # the whole call's talk is the sum of the people's: nothing counted twice, nothing lost
    total = sum(m.talk_sum for m in people.values())
    assert total == pytest.approx(sum(leg.talk_seconds or 0.0 for r in records for leg in r.legs))


def test_a_record_without_legs_counts_for_its_agent_and_an_unanswered_one_for_nobody() -> None:
    record = play(ami_stream("blind_transfer_to_queue"))
    old = RecordFacts.of(replace(record, legs=()))
    unanswered = RecordFacts(started_at=record.started_at, outcome="abandoned_queue", agent=None)

    assert people_figures([old, unanswered]) == {
        ("person", "agent-ar-2"): PersonMeasures(1, 1, 0, pytest.approx(record.talk_seconds))
    }


def test_transfer_and_leg_events_parse_what_asterisk_sends_and_refuse_what_is_malformed() -> None:
    from telephony.events import (
        AttendedTransfer,
        BlindTransfer,
        DialEnd,
        EventParseError,
        HotlineConference,
        HotlineDestination,
        decode_event,
        parse_event,
    )

    blind = next(m for m in ami_stream("refer_transfer_to_queue") if m.event == "BlindTransfer")
    event = decode_event(blind)
    assert isinstance(event, BlindTransfer)
    assert (event.result, event.is_external, event.context, event.extension) == (
        "Success", True, "hotline-transfer", "7001")  # fmt: skip
    assert (event.transferer_uniqueid, event.transferee_uniqueid) == ("1796215953.13", "1796215950.12")
    (attended,) = ami_text(attended_transfer())[:1]
    assert isinstance(decode_event(attended), AttendedTransfer)
    dial_end = next(m for m in ami_stream("blind_transfer_to_destination") if m.event == "DialEnd")
    assert isinstance(decode_event(dial_end), DialEnd)
    destination = next(
        m for m in ami_stream("blind_transfer_to_destination") if m.get("UserEvent") == "HotlineDestination"
    )
    assert decode_event(destination) == HotlineDestination(
        1796215522.134492, "1796215516.8", "1796215516.8", "technical-affairs"
    )
    (left,) = ami_text(conference("agent-left", 1796215500.0, Agent="agent-ar-2"))
    assert decode_event(left) == HotlineConference(
        1796215500.0, L, "emergency-control-room", "agent-left", "agent-ar-2"
    )

    # hostile or broken: no time, no call, no state, no destination id: refused, never a leg
    no_time = ami_text("Event: BlindTransfer\nResult: Success\nTransfereeLinkedid: 1.1\n")[0]
    with pytest.raises(EventParseError):
        decode_event(no_time)
    assert parse_event(no_time) is None
    no_call = ami_text("Event: UserEvent\nTimestamp: 1.0\nUserEvent: HotlineConference\nState: joined\n")[0]
    assert parse_event(no_call) is None
    no_state = ami_text(f"Event: UserEvent\nTimestamp: 1.0\nUserEvent: HotlineConference\nCall: {L}\n")[0]
    assert parse_event(no_state) is None
    no_id = ami_text(
        f"Event: UserEvent\nTimestamp: 1.0\nUniqueid: {L}\nLinkedid: {L}\nUserEvent: HotlineDestination\n"
    )[0]
    assert parse_event(no_id) is None


def test_a_conference_fact_for_a_call_never_answered_or_unknown_adds_no_leg() -> None:
    stream = ami_stream("blind_transfer_to_queue")
    answer = next(i for i, m in enumerate(stream) if m.event == "DialEnd")
    hangup = ami_text(f"Event: Hangup\nTimestamp: 1796215485.0\nUniqueid: {L}\nLinkedid: {L}\nCause: 16\n")
    record = play(stream[:answer] + ami_text(conference("joined", 1796215484.1)) + hangup)
    assert record.legs == ()


def test_an_agent_complete_that_comes_late_after_an_attended_transfer_does_not_stretch_the_first_leg() -> None:
    """The caller stays in app_queue's bridge through an attended transfer: if app_queue reports the first person's
    AgentComplete only when the call ends, their leg still ends at the transfer."""
    transfer = attended_transfer()
    early_complete = transfer[transfer.index("Event: AgentComplete") : transfer.index("Event: Hangup")]
    late_complete = early_complete.replace("1796215495.000100", "1796215509.950000")
    record = play(
        answered_by_agent_ar_2()
        + ami_text(CONSULT_TO_QUEUE + transfer.replace(early_complete, "") + late_complete + CALLER_HANGS_UP)
    )

    first, second = record.legs
    assert first.ended_at == utc(1796215495.0)
    assert record.talk_seconds == pytest.approx(1796215495.0 - CONNECT)
    assert (second.target, second.how) == ("agent-ar-3", "attended")


# -- real captures of attended transfers made with the phone's keys (*2, then the code; the agent hangs up) ----


def test_a_real_attended_transfer_to_technical_affairs() -> None:
    record = play(ami_stream("attended_transfer_to_destination"))

    assert (record.queue, record.agent, record.transferred_to) == ("ar-virus", "agent-ar-2", "technical-affairs")
    first, second = record.legs
    assert (first.target, first.answered_at, first.ended_at) == (
        "agent-ar-2", utc(1796216842.884286), utc(1796216852.408098))  # fmt: skip
    assert (second.kind, second.target, second.how) == ("destination", "technical-affairs", "attended")
    assert second.answered_at == utc(1796216846.912058)  # it answered the consultation
    assert second.ended_at == utc(1796216864.578143)  # its own hang-up
    assert record.talk_seconds == pytest.approx(1796216852.408098 - 1796216842.884286)


def test_a_real_attended_transfer_to_another_queue() -> None:
    record = play(ami_stream("attended_transfer_to_queue"))

    assert (record.queue, record.agent, record.transferred_to) == ("ar-virus", "agent-ar-2", "ar-complaints")
    first, second = record.legs
    assert (first.target, first.ended_at, first.how) == ("agent-ar-2", utc(1796216893.412701), None)
    assert (second.target, second.queue, second.how) == ("agent-ar-3", "ar-complaints", "attended")
    assert (second.answered_at, second.ended_at) == (utc(1796216887.726039), utc(1796216905.561701))


def test_an_agent_who_stays_in_the_conference_to_the_end_talks_to_the_end() -> None:
    """H3 moves caller and agent into the ConfBridge (app_queue: AgentComplete "transfer"); nobody leaves before the
    caller hangs up: the agent's leg runs to the end of the call, and so does the record's talk."""
    moved = f"""
Event: AgentComplete
Timestamp: 1796215489.000000
Uniqueid: {L}
Linkedid: {L}
Queue: ar-general
MemberName: agent-ar-2
TalkTime: 5
Reason: transfer
"""
    record = play(answered_by_agent_ar_2() + ami_text(moved + conference("joined", 1796215490.0) + CALLER_HANGS_UP))

    person, room = record.legs
    assert person.ended_at == room.ended_at == utc(1796215510.0)
    assert record.talk_seconds == pytest.approx(1796215510.0 - CONNECT)


def test_an_attended_transfer_completed_while_the_consultation_still_rings_makes_its_answer_the_leg() -> None:
    """A "blonde" transfer: agent-ar-2 hangs up while agent-ar-3 still rings; when agent-ar-3 answers the Local
    channel's queue call, that is the caller's second leg."""
    ringing, answered = CONSULT_TO_QUEUE.split("Event: QueueCallerLeave")
    answered = "Event: QueueCallerLeave" + answered.replace("1796215489.0001", "1796215496.0").replace(
        "1796215489.000000", "1796215495.9"
    )
    record = play(answered_by_agent_ar_2() + ami_text(ringing + attended_transfer() + answered + CALLER_HANGS_UP))

    first, second = record.legs
    assert first.ended_at == utc(1796215495.0)
    assert (second.target, second.how, second.answered_at) == ("agent-ar-3", "attended", utc(1796215496.0))


def test_the_service_listens_to_every_event_the_record_builder_reads() -> None:
    """The root subscribes the records path to a list of AMI events: a leg's event left out of it never arrives."""
    from support.streams import STREAMS

    from hotline.bootstrap import RECORD_EVENTS
    from telephony.events import decode_event

    builder = RecordBuilder(number="151", context="hotline-inbound")
    read = set(builder._handlers)  # the event types it has a rule for
    needed = {
        message.event
        for path in sorted(STREAMS.glob("*.txt"))
        for message in ami_stream(path.stem)
        if type(decode_event(message)) in read
    }
    assert {"BlindTransfer", "AttendedTransfer", "DialEnd", "AgentConnect", "UserEvent"} <= needed
    assert needed <= RECORD_EVENTS


def test_a_transfer_to_a_persons_code_dials_their_phone_and_is_a_person_leg() -> None:
    """H1's dialplan says ``Kind: person`` when a person's code dials their phone (not a queue, not a destination)."""
    stream = [
        Message([*((k, "agent-ar-3" if k == "Destination" else v) for k, v in m.headers), ("Kind", "person")])
        if m.get("UserEvent") == "HotlineDestination"
        else m
        for m in ami_stream("blind_transfer_to_destination")
    ]
    record = play(stream)

    first, second = record.legs
    assert first.target == "agent-ar-2"
    assert (second.kind, second.target, second.queue, second.how) == ("person", "agent-ar-3", None, "refer")
    assert record.transferred_to == "agent-ar-3"
    assert people_figures([RecordFacts.of(record)])[("person", "agent-ar-3")].transfers_in == 1
