"""Every AMI event the service uses is typed once at the boundary (telephony.events), from AMI text
as Asterisk 22 writes it, replayed through our parser. Numbers are parsed here; a malformed one
never raises."""

from __future__ import annotations

import pytest

from telephony.ami.parser import AMIParser
from telephony.events import (
    EVENT_NAMES,
    AgentCalled,
    AgentRingNoAnswer,
    DeviceStateChange,
    EventParseError,
    OriginateResponse,
    QueueCallerJoin,
    QueueEntry,
    QueueMember,
    QueueMemberAdded,
    QueueMemberPause,
    QueueMemberPenalty,
    QueueMemberRemoved,
    QueueMemberRinginuse,
    QueueMemberStatus,
    QueueParams,
    VarSet,
    decode_event,
    parse_event,
    parse_queue_status,
)


def ami(text: str):
    raw = "\r\n".join(line.strip() for line in text.strip().splitlines()) + "\r\n\r\n"
    return AMIParser().feed(raw.encode())


def one(text: str):
    (message,) = ami(text)
    return parse_event(message)


MEMBER_BLOB = """
    Timestamp: 1000.5
    Queue: ar-general
    MemberName: agent-ar-1
    Interface: PJSIP/agent-ar-1
    StateInterface: PJSIP/agent-ar-1
    Membership: dynamic
    Penalty: 3
    CallsTaken: 7
    LastCall: 990
    LastPause: 0
    LoginTime: 900
    InCall: 0
    Status: 1
    Paused: 1
    PausedReason: lunch
    Ringinuse: 0
    Wrapuptime: 12
"""


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("QueueMemberAdded", QueueMemberAdded),
        ("QueueMemberRemoved", QueueMemberRemoved),
        ("QueueMemberPause", QueueMemberPause),
        ("QueueMemberPenalty", QueueMemberPenalty),
        ("QueueMemberStatus", QueueMemberStatus),
        ("QueueMemberRinginuse", QueueMemberRinginuse),
    ],
)
def test_queue_member_events_carry_the_member_blob_typed(name: str, cls: type) -> None:
    event = one(f"Event: {name}{MEMBER_BLOB}")
    assert type(event) is cls
    assert event == cls(
        timestamp=1000.5, queue="ar-general", member_name="agent-ar-1", interface="PJSIP/agent-ar-1",
        state_interface="PJSIP/agent-ar-1", penalty=3, paused=True, paused_reason="lunch", status=1,
        wrapup=12.0, login_time=900.0, in_call=False, last_call=990.0, calls_taken=7, ringinuse=False,
    )  # fmt: skip


def test_a_member_event_without_a_field_leaves_it_unknown_and_malformed_numbers_do_not_raise() -> None:
    event = one("""
        Event: QueueMemberPenalty
        Timestamp: 5
        Queue: ar-general
        MemberName: agent-ar-1
        Penalty: lots
        LoginTime: yesterday
        Wrapuptime: nan
        Status: 1e400
    """)
    assert isinstance(event, QueueMemberPenalty)
    assert (event.penalty, event.login_time, event.wrapup, event.status, event.paused) == (None, None, None, None, None)


def test_calls_offered_to_members_are_typed() -> None:
    called, missed = (
        parse_event(m)
        for m in ami("""
        Event: AgentCalled
        Timestamp: 1011.0
        Channel: PJSIP/trunk-00000001
        Uniqueid: 1700000000.1
        Linkedid: 1700000000.1
        DestChannel: PJSIP/agent-ar-1-00000002
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1

        Event: AgentRingNoAnswer
        Timestamp: 1026.0
        Uniqueid: 1700000000.1
        Queue: ar-general
        MemberName: agent-ar-1
        Interface: PJSIP/agent-ar-1
        RingTime: 15000
    """)
    )
    assert called == AgentCalled(1011.0, "ar-general", "1700000000.1", "1700000000.1", "agent-ar-1",
                                 "PJSIP/agent-ar-1", "PJSIP/agent-ar-1-00000002")  # fmt: skip
    assert missed == AgentRingNoAnswer(
        1026.0, "ar-general", "1700000000.1", "", "agent-ar-1", "PJSIP/agent-ar-1", 15000
    )


def test_queue_caller_join_gives_the_priority_only_when_sent() -> None:
    plain = one("Event: QueueCallerJoin\nTimestamp: 1\nQueue: q\nUniqueid: u\nPosition: 2")
    with_priority = one("Event: QueueCallerJoin\nTimestamp: 1\nQueue: q\nUniqueid: u\nPosition: x\nPriority: 5")
    assert isinstance(plain, QueueCallerJoin) and (plain.position, plain.priority) == (2, None)
    assert isinstance(with_priority, QueueCallerJoin) and (with_priority.position, with_priority.priority) == (0, 5)


def test_varset_and_device_state_are_typed() -> None:
    varset = one(
        "Event: VarSet\nTimestamp: 2\nChannel: PJSIP/t-1\nUniqueid: u\nLinkedid: u\nVariable: QUEUE_PRIO\nValue: 10"
    )
    device = one("Event: DeviceStateChange\nTimestamp: 3\nDevice: PJSIP/agent-ar-1\nState: INUSE")
    assert varset == VarSet(2.0, "PJSIP/t-1", "u", "u", "QUEUE_PRIO", "10", 10)
    assert device == DeviceStateChange(3.0, "PJSIP/agent-ar-1", "INUSE")
    text = one("Event: VarSet\nTimestamp: 2\nVariable: HOTLINE_LANGUAGE\nValue: ar")
    assert isinstance(text, VarSet) and (text.value, text.number) == ("ar", None)


def test_queue_status_rows_are_typed_without_a_timestamp() -> None:
    rows = parse_queue_status(
        ami("""
        Event: QueueParams
        ActionID: 7
        Queue: ar-general
        Max: 0
        Strategy: leastrecent
        Calls: 1
        Holdtime: 4
        TalkTime: 60
        Completed: 10
        Abandoned: 2
        ServiceLevel: 20
        ServicelevelPerf: 80.5
        Weight: 0

        Event: QueueMember
        ActionID: 7
        Queue: ar-general
        Name: agent-ar-2
        Location: PJSIP/agent-ar-2
        StateInterface: PJSIP/agent-ar-2
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

        Event: QueueEntry
        ActionID: 7
        Queue: ar-general
        Position: 1
        Channel: PJSIP/trunk-00000009
        Uniqueid: w1
        CallerIDNum: 96550000000
        CallerIDName: Sami
        Wait: 42
        Priority: 3

        Event: QueueStatusComplete
        ActionID: 7
        EventList: Complete
    """)
    )
    assert rows == [
        QueueParams("ar-general", 0, "leastrecent", 1, 4, 60, 10, 2, 20, 80.5, 0),
        QueueMember(
            "ar-general",
            "agent-ar-2",
            "PJSIP/agent-ar-2",
            "PJSIP/agent-ar-2",
            "dynamic",
            0,
            0,
            0.0,
            4000.0,
            True,
            2,
            True,
            "break",
            0.0,
        ),
        QueueEntry("ar-general", 1, "PJSIP/trunk-00000009", "w1", "96550000000", "Sami", 42.0, 3),
    ]


def test_originate_response_is_typed_for_the_callbacks() -> None:
    answered = one("""
        Event: OriginateResponse
        Privilege: call,all
        Timestamp: 1700000000.5
        ActionID: cb-7
        Response: Success
        Channel: PJSIP/trunk-0000000a
        Context: hotline-callback-out
        Exten: s
        Reason: 4
        Uniqueid: 1700000000.20
    """)
    failed = one("Event: OriginateResponse\nActionID: cb-8\nResponse: Failure\nReason: five\nUniqueid: <null>")
    assert answered == OriginateResponse("cb-7", "Success", 4, "PJSIP/trunk-0000000a", "1700000000.20",
                                         "hotline-callback-out", "s", 1700000000.5)  # fmt: skip
    assert answered.success
    assert isinstance(failed, OriginateResponse) and not failed.success
    assert (failed.reason, failed.uniqueid, failed.timestamp) == (0, "<null>", None)


UNTIMED = {"queueparams", "queuemember", "queueentry", "originateresponse"}


@pytest.mark.parametrize("name", sorted(EVENT_NAMES - UNTIMED))
def test_every_timed_event_without_a_timestamp_is_malformed_not_a_crash(name: str) -> None:
    headers = {"Event": name, "UserEvent": "HotlineRoute", "Uniqueid": "u", "Linkedid": "u", "Queue": "q"}
    assert parse_event(headers) is None
    with pytest.raises(EventParseError, match="Timestamp"):
        decode_event(headers)


def test_responses_and_events_we_do_not_use_are_none() -> None:
    assert parse_event({"Response": "Success", "Message": "Authentication accepted"}) is None
    assert parse_event({"Event": "Newexten", "Timestamp": "1"}) is None
    assert parse_event({}) is None
