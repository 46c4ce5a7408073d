"""Call records built from AMI event logs, as Asterisk 22 sends them (manager.conf timestampevents=yes).

The whole calls are raw AMI streams (tests/support/ami_streams/*.txt) replayed through the real
parser; the other tests paste the events of one call, header names and all. Everything is typed by
``decode_event`` and fed to ``RecordBuilder``. Events we do not use (Newexten, VarSet, ...) are left in
where they matter to show they are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from support.streams import ami_stream, replay

from cdr.builder import CallRecord, Outcome, RecordBuilder
from telephony.ami.message import Message
from telephony.clock import utc
from telephony.events import EventParseError, Hangup, HotlineRoute, Newchannel, decode_event, parse_event

NUMBER = "151"
CONTEXT = "hotline-inbound"

AmiLog = Sequence[Mapping[str, str] | Message]


def play(log: AmiLog, builder: RecordBuilder | None = None) -> list[CallRecord]:
    """Feed an AMI log, event by event, to a builder; the records it completed."""
    return replay(log, builder or RecordBuilder(number=NUMBER, context=CONTEXT))


def only(records: list[CallRecord]) -> CallRecord:
    assert len(records) == 1, records
    return records[0]


# A caller on the Orange trunk dials 151, chooses Arabic > medical > paediatrics, waits 7.4 s in
# ar-med-paediatrics and talks to Dr. Salma Haddad; she hangs up first.
ANSWERED_BY_PAEDIATRICIAN: AmiLog = ami_stream("answered_call")


def test_call_answered_by_the_arabic_speaking_paediatrician_is_recorded_with_agent_route_and_times() -> None:
    record = only(play(ANSWERED_BY_PAEDIATRICIAN))

    assert record.linkedid == "1700000000.1"
    assert record.outcome is Outcome.ANSWERED
    assert record.agent == "Dr. Salma Haddad"
    assert record.queue == "ar-med-paediatrics"
    assert (record.language, record.topic, record.specialty) == ("ar", "medical", "paediatrics")
    assert record.caller_number == "0791234567"
    assert record.wait_seconds == pytest.approx(20.0 - 12.6, abs=1e-3)
    assert record.talk_seconds == pytest.approx(200.25 - 20.0, abs=1e-3)  # to the end of the bridge
    assert record.started_at == datetime(2023, 11, 14, 22, 13, 20, 100000, tzinfo=UTC)
    assert record.ended_at == utc(1700000200.3)
    assert (record.hangup_cause, record.hangup_cause_text) == (16, "Normal Clearing")


def test_arabic_caller_name_is_kept_byte_exact() -> None:
    record = only(play(ANSWERED_BY_PAEDIATRICIAN))

    assert record.caller_name is not None
    assert record.caller_name.encode("utf-8") == "محمد عبدالله".encode()


def test_agent_leg_newchannel_does_not_start_a_record_even_in_the_hotline_context() -> None:
    # The agent leg above carries Context hotline-inbound / Exten 151 too; only Uniqueid != Linkedid tells it apart.
    agent_leg = [event for event in ANSWERED_BY_PAEDIATRICIAN if event.get("Uniqueid") == "1700000016.2"]
    builder = RecordBuilder(number=NUMBER, context=CONTEXT)

    assert play(agent_leg, builder) == []
    assert builder.calls_in_progress == 0


def test_call_from_an_agent_phone_in_another_context_starts_no_record() -> None:
    agent_dials_151 = [
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            "Timestamp": "1700000300.000000",
            "Channel": "PJSIP/dr-salma-00000005",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "1201",
            "CallerIDName": "Dr. Salma Haddad",
            "Context": "hotline-agents",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700000300.5",
            "Linkedid": "1700000300.5",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700000305.000000",
            "Channel": "PJSIP/dr-salma-00000005",
            "Uniqueid": "1700000300.5",
            "Linkedid": "1700000300.5",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]

    assert play(agent_dials_151) == []


def test_duplicate_hangup_and_late_agent_complete_add_nothing() -> None:
    late = [
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700000200.310000",
            "Channel": "PJSIP/orange-trunk-00000001",
            "Uniqueid": "1700000000.1",
            "Linkedid": "1700000000.1",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
        {
            "Event": "AgentComplete",
            "Privilege": "agent,all",
            "Timestamp": "1700000200.400000",
            "Channel": "PJSIP/orange-trunk-00000001",
            "Uniqueid": "1700000000.1",
            "Linkedid": "1700000000.1",
            "Queue": "ar-med-paediatrics",
            "MemberName": "Dr. Salma Haddad",
            "Interface": "PJSIP/dr-salma",
            "HoldTime": "7",
            "TalkTime": "180",
            "Reason": "caller",
        },
    ]
    builder = RecordBuilder(number=NUMBER, context=CONTEXT)

    records = play([*ANSWERED_BY_PAEDIATRICIAN, *late], builder)

    assert len(records) == 1
    assert builder.calls_in_progress == 0


# An English caller for general information waits 45.5 s in en-general and hangs up.
ABANDONED_IN_QUEUE: AmiLog = ami_stream("abandoned_call")


def test_caller_hanging_up_in_queue_is_abandoned_queue_with_the_wait_since_joining() -> None:
    record = only(play(ABANDONED_IN_QUEUE))

    assert record.outcome is Outcome.ABANDONED_QUEUE
    assert record.queue == "en-general"
    assert record.wait_seconds == pytest.approx(45.5, abs=1e-3)
    assert record.agent is None
    assert record.talk_seconds is None
    assert record.specialty is None  # empty Specialty header
    assert record.caller_name is None  # CallerIDName: <unknown>


def test_abandon_without_a_join_seen_falls_back_to_app_queue_hold_time() -> None:
    no_join = [event for event in ABANDONED_IN_QUEUE if event["Event"] != "QueueCallerJoin"]

    assert only(play(no_join)).wait_seconds == 45.0


def test_caller_still_waiting_at_hangup_without_abandon_event_is_abandoned_queue() -> None:
    no_abandon = [
        event for event in ABANDONED_IN_QUEUE if event["Event"] not in ("QueueCallerAbandon", "QueueCallerLeave")
    ]

    record = only(play(no_abandon))

    assert record.outcome is Outcome.ABANDONED_QUEUE
    assert record.wait_seconds == pytest.approx(45.6, abs=1e-3)


def test_caller_hanging_up_during_the_menu_is_abandoned_ivr() -> None:
    log = [
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            "Timestamp": "1700002000.000000",
            "Channel": "PJSIP/orange-trunk-00000020",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "0795550000",
            "CallerIDName": "",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700002000.20",
            "Linkedid": "1700002000.20",
        },
        {
            "Event": "Newexten",
            "Privilege": "dialplan,all",
            "Timestamp": "1700002000.001000",
            "Channel": "PJSIP/orange-trunk-00000020",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Application": "AGI",
            "AppData": "agi://127.0.0.1:4573/ivr",
            "Uniqueid": "1700002000.20",
            "Linkedid": "1700002000.20",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700002008.250000",
            "Channel": "PJSIP/orange-trunk-00000020",
            "Uniqueid": "1700002000.20",
            "Linkedid": "1700002000.20",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]

    record = only(play(log))

    assert record.outcome is Outcome.ABANDONED_IVR
    assert (record.language, record.topic, record.queue, record.wait_seconds) == (None, None, None, None)
    assert record.caller_name is None  # empty CallerIDName
    assert record.ended_at == utc(1700002008.25)


def test_routed_call_that_never_got_into_a_queue_failed() -> None:
    log = [
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            "Timestamp": "1700003000.000000",
            "Channel": "PJSIP/orange-trunk-00000030",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "0796660000",
            "CallerIDName": "Sara",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700003000.30",
            "Linkedid": "1700003000.30",
        },
        {
            "Event": "UserEvent",
            "Privilege": "user,all",
            "Timestamp": "1700003020.000000",
            "Channel": "PJSIP/orange-trunk-00000030",
            "Uniqueid": "1700003000.30",
            "Linkedid": "1700003000.30",
            "UserEvent": "HotlineRoute",
            "Language": "en",
            "Topic": "medical",
            "Specialty": "cardiology",
            "Queue": "en-med-cardiology",
            "Result": "OK",
        },
        {
            "Event": "VarSet",
            "Privilege": "dialplan,all",
            "Timestamp": "1700003020.010000",
            "Channel": "PJSIP/orange-trunk-00000030",
            "Variable": "QUEUESTATUS",
            "Value": "JOINEMPTY",
            "Uniqueid": "1700003000.30",
            "Linkedid": "1700003000.30",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700003021.000000",
            "Channel": "PJSIP/orange-trunk-00000030",
            "Uniqueid": "1700003000.30",
            "Linkedid": "1700003000.30",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]

    record = only(play(log))

    assert record.outcome is Outcome.FAILED
    assert record.queue == "en-med-cardiology"
    assert record.specialty == "cardiology"
    assert record.wait_seconds is None


def test_caller_who_left_the_queue_unanswered_failed() -> None:
    log = [
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            "Timestamp": "1700004000.000000",
            "Channel": "PJSIP/orange-trunk-00000040",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "0797770000",
            "CallerIDName": "Omar",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700004000.40",
            "Linkedid": "1700004000.40",
        },
        {
            "Event": "UserEvent",
            "Privilege": "user,all",
            "Timestamp": "1700004010.000000",
            "Channel": "PJSIP/orange-trunk-00000040",
            "Uniqueid": "1700004000.40",
            "Linkedid": "1700004000.40",
            "UserEvent": "HotlineRoute",
            "Language": "ar",
            "Topic": "information",
            "Specialty": "",
            "Queue": "ar-general",
            "Result": "OK",
        },
        {
            "Event": "QueueCallerJoin",
            "Privilege": "agent,all",
            "Timestamp": "1700004010.100000",
            "Channel": "PJSIP/orange-trunk-00000040",
            "Uniqueid": "1700004000.40",
            "Linkedid": "1700004000.40",
            "Queue": "ar-general",
            "Position": "1",
            "Count": "1",
        },
        {
            "Event": "QueueCallerLeave",
            "Privilege": "agent,all",
            "Timestamp": "1700004310.100000",
            "Channel": "PJSIP/orange-trunk-00000040",
            "Uniqueid": "1700004000.40",
            "Linkedid": "1700004000.40",
            "Queue": "ar-general",
            "Position": "1",
            "Count": "0",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700004315.000000",
            "Channel": "PJSIP/orange-trunk-00000040",
            "Uniqueid": "1700004000.40",
            "Linkedid": "1700004000.40",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]

    record = only(play(log))

    assert record.outcome is Outcome.FAILED
    assert record.queue == "ar-general"
    assert record.wait_seconds == pytest.approx(300.0, abs=1e-3)  # time spent queued before leaving


def test_caller_requeued_into_the_default_queue_is_recorded_on_the_last_queue_with_wait_from_first_join() -> None:
    log = [
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            "Timestamp": "1700005000.000000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "0798880000",
            "CallerIDName": "Huda",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
        },
        {
            "Event": "UserEvent",
            "Privilege": "user,all",
            "Timestamp": "1700005015.000000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "UserEvent": "HotlineRoute",
            "Language": "ar",
            "Topic": "medical",
            "Specialty": "paediatrics",
            "Queue": "ar-med-paediatrics",
            "Result": "OK",
        },
        {
            "Event": "QueueCallerJoin",
            "Privilege": "agent,all",
            "Timestamp": "1700005015.100000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "Queue": "ar-med-paediatrics",
            "Position": "1",
            "Count": "1",
        },
        {
            "Event": "QueueCallerLeave",
            "Privilege": "agent,all",
            "Timestamp": "1700005135.100000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "Queue": "ar-med-paediatrics",
            "Position": "1",
            "Count": "0",
        },
        {
            "Event": "QueueCallerJoin",
            "Privilege": "agent,all",
            "Timestamp": "1700005135.200000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "Queue": "hotline-default",
            "Position": "2",
            "Count": "2",
        },
        {
            "Event": "AgentConnect",
            "Privilege": "agent,all",
            "Timestamp": "1700005165.100000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "DestChannel": "PJSIP/nurse-rana-00000051",
            "DestUniqueid": "1700005160.51",
            "DestLinkedid": "1700005000.50",
            "Queue": "hotline-default",
            "MemberName": "Nurse Rana",
            "Interface": "PJSIP/nurse-rana",
            "HoldTime": "30",
            "RingTime": "5",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            "Timestamp": "1700005225.100000",
            "Channel": "PJSIP/orange-trunk-00000050",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]

    record = only(play(log))

    assert record.outcome is Outcome.ANSWERED
    assert record.queue == "hotline-default"
    assert record.specialty == "paediatrics"  # what the caller asked for stays on record
    assert record.agent == "Nurse Rana"
    assert record.wait_seconds == pytest.approx(150.0, abs=1e-3)  # from the first join, not app_queue's 30
    assert record.talk_seconds == pytest.approx(60.0, abs=1e-3)


def test_expire_completes_calls_whose_hangup_never_came_and_forgets_them() -> None:
    # AMI connection lost after the caller joined the queue: no Abandon, no Hangup ever arrives.
    builder = RecordBuilder(number=NUMBER, context=CONTEXT)
    play(ABANDONED_IN_QUEUE[:3], builder)
    started = utc(1700001000.0)

    assert builder.expire(now=started + timedelta(seconds=3599), max_age_seconds=3600.0) == []
    record = only(builder.expire(now=started + timedelta(seconds=3600), max_age_seconds=3600.0))

    assert record.linkedid == "1700001000.10"
    assert record.outcome is Outcome.ABANDONED_QUEUE
    assert (record.hangup_cause, record.hangup_cause_text, record.ended_at) == (None, None, None)
    assert builder.calls_in_progress == 0
    assert builder.expire(now=started + timedelta(seconds=7200), max_age_seconds=3600.0) == []
    assert play(ABANDONED_IN_QUEUE[3:], builder) == []  # the late tail of a forgotten call adds nothing


def test_expired_answered_call_takes_its_talk_time_from_agent_complete() -> None:
    # AgentComplete ended the talk (its moment, more precise than its whole-second TalkTime)
    builder = RecordBuilder(number=NUMBER, context=CONTEXT)
    play(ANSWERED_BY_PAEDIATRICIAN[:-1], builder)  # everything but the caller's Hangup

    record = only(builder.expire(now=utc(1700010000.0), max_age_seconds=3600.0))

    assert record.outcome is Outcome.ANSWERED
    assert record.agent == "Dr. Salma Haddad"
    assert record.talk_seconds == pytest.approx(180.25, abs=1e-3)
    assert record.hangup_cause is None


def test_a_caller_who_stays_after_the_agent_hung_up_has_only_the_talk_counted_as_talk() -> None:
    # Queue option c: the agent hangs up at 200.25, the caller hears the case read back (or the survey)
    # and hangs up 25 s later: talk time is the bridge's, not the call's.
    hangup = dict(ANSWERED_BY_PAEDIATRICIAN[-1])
    hangup["Timestamp"] = "1700000225.300000"
    record = only(play([*ANSWERED_BY_PAEDIATRICIAN[:-1], hangup]))
    assert record.talk_seconds == pytest.approx(200.25 - 20.0, abs=1e-3)
    assert record.ended_at == utc(1700000225.3)


def test_events_of_calls_never_seen_starting_are_ignored() -> None:
    # Service started mid-call: we get the tail of a call whose Newchannel we missed.
    assert play(ANSWERED_BY_PAEDIATRICIAN[3:]) == []


# -- parse_event --------------------------------------------------------------------------------


def test_parse_event_types_the_headers_it_knows() -> None:
    newchannel = parse_event(ANSWERED_BY_PAEDIATRICIAN[0])
    route = parse_event(ANSWERED_BY_PAEDIATRICIAN[3])
    hangup = parse_event(ANSWERED_BY_PAEDIATRICIAN[-1])

    assert isinstance(newchannel, Newchannel)
    assert newchannel.timestamp == 1700000000.1
    assert newchannel.caller_id_name == "محمد عبدالله"
    assert isinstance(route, HotlineRoute)
    assert (route.language, route.queue, route.result) == ("ar", "ar-med-paediatrics", "OK")
    assert hangup == Hangup(
        timestamp=1700000200.3,
        channel="PJSIP/orange-trunk-00000001",
        uniqueid="1700000000.1",
        linkedid="1700000000.1",
        cause=16,
        cause_txt="Normal Clearing",
    )


def test_parse_event_reads_header_names_case_insensitively() -> None:
    headers = {k.lower(): v for k, v in ANSWERED_BY_PAEDIATRICIAN[-1].headers}

    assert isinstance(parse_event(headers), Hangup)


@pytest.mark.parametrize(
    "headers",
    [
        {"Event": "Newexten", "Timestamp": "1700000000.0", "Uniqueid": "1.1", "Linkedid": "1.1"},
        {
            "Event": "UserEvent",
            "Timestamp": "1700000000.0",
            "UserEvent": "SomethingElse",
            "Uniqueid": "1.1",
            "Linkedid": "1.1",
        },
        {"Response": "Success", "Message": "Authentication accepted"},
    ],
    ids=["unused-event", "other-user-event", "not-an-event"],
)
def test_parse_event_returns_none_for_events_we_do_not_use(headers: Mapping[str, str]) -> None:
    assert parse_event(headers) is None


@pytest.mark.parametrize(
    ("header", "value"),
    [("Timestamp", "yesterday"), ("Timestamp", ""), ("Timestamp", "nan"), ("Uniqueid", "")],
)
def test_malformed_known_event_is_none_from_parse_event_and_an_error_from_decode_event(header: str, value: str) -> None:
    headers = {**ANSWERED_BY_PAEDIATRICIAN[-1], header: value}

    assert parse_event(headers) is None
    with pytest.raises(EventParseError, match=header):
        decode_event(headers)


def test_a_malformed_number_reads_as_its_default_and_the_record_still_completes() -> None:
    log = [*ANSWERED_BY_PAEDIATRICIAN[:-1], {**ANSWERED_BY_PAEDIATRICIAN[-1], "Cause": "sixteen"}]

    record = only(play(log))

    assert record.outcome is Outcome.ANSWERED
    assert (record.hangup_cause, record.hangup_cause_text) == (0, "Normal Clearing")


# The service calls a caller back: Asterisk originates to the trunk; when the caller answers the
# dialplan announces the callback, greets them, and queues them in their skill group.
CALLBACK_CONNECTED: AmiLog = ami_stream("callback_call")


def test_a_callback_call_is_its_own_record_linked_to_the_original_call() -> None:
    record = only(play(CALLBACK_CONNECTED))

    assert (record.kind, record.callback_of) == ("callback", "1700000000.1")
    assert record.caller_number == "55123456" and record.language == "ar"
    assert record.outcome is Outcome.ANSWERED and record.agent == "agent-ar-1" and record.queue == "ar-general"
    assert record.started_at == utc(1700100006.0)
    assert record.talk_seconds == pytest.approx(60.0)


def test_an_inbound_call_is_of_kind_inbound() -> None:
    assert only(play(ANSWERED_BY_PAEDIATRICIAN)).kind == "inbound"


def test_a_caller_who_books_a_callback_leaves_the_queue_as_abandoned_not_failed() -> None:
    log: AmiLog = [
        {
            "Event": "Newchannel",
            "Timestamp": "1700200000.0",
            "Channel": "PJSIP/trunk-01",
            "CallerIDNum": "55123456",
            "CallerIDName": "",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
        },
        {
            "Event": "UserEvent",
            "Timestamp": "1700200010.0",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
            "UserEvent": "HotlineRoute",
            "Language": "ar",
            "Topic": "general",
            "Specialty": "",
            "Queue": "ar-general",
            "Result": "OK",
        },
        {
            "Event": "QueueCallerJoin",
            "Timestamp": "1700200010.1",
            "Queue": "ar-general",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
            "Position": "3",
        },
        {
            "Event": "QueueCallerLeave",
            "Timestamp": "1700200040.1",
            "Queue": "ar-general",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
            "Position": "3",
        },
        {
            "Event": "UserEvent",
            "Timestamp": "1700200052.0",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
            "UserEvent": "HotlineCallbackBooked",
        },
        {
            "Event": "Hangup",
            "Timestamp": "1700200055.0",
            "Uniqueid": "1700200000.1",
            "Linkedid": "1700200000.1",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]
    record = only(play(log))
    assert record.outcome is Outcome.ABANDONED_QUEUE
    assert record.wait_seconds == pytest.approx(30.0)


def test_events_the_builder_has_no_rule_for_change_nothing() -> None:
    """The root feeds every typed event to the builder: routing's own events are ignored."""
    builder = RecordBuilder(number=NUMBER, context=CONTEXT)
    play(ANSWERED_BY_PAEDIATRICIAN[:3], builder)
    others = [
        {"Event": "QueueMemberAdded", "Timestamp": "1700000001.0", "Queue": "ar-general", "MemberName": "agent-ar-1"},
        {
            "Event": "AgentRingNoAnswer",
            "Timestamp": "1700000002.0",
            "Queue": "ar-general",
            "MemberName": "agent-ar-1",
            "Uniqueid": "1700000000.1",
            "Linkedid": "1700000000.1",
        },
        {"Event": "QueueEntry", "Queue": "ar-general", "Uniqueid": "1700000000.1", "Wait": "3"},
    ]
    events = [parse_event(headers) for headers in others]
    assert all(event is not None for event in events)
    assert builder.feed_all(events) == [] and builder.calls_in_progress == 1
    assert only(play(ANSWERED_BY_PAEDIATRICIAN[3:], builder)).outcome is Outcome.ANSWERED
