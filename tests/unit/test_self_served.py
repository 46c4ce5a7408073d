"""Calls served without a person (an information topic heard, a message left): their own outcome, counted
apart in the reports (offered, never queued, answered, abandoned or failed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.streams import replay

from cdr import report_output
from cdr.builder import Outcome, RecordBuilder
from cdr.reports import Measures, RecordFacts, aggregate, fold_group_row

CHANNEL = "PJSIP/orange-trunk-00000050"


def call(*results: str) -> list[dict[str, str]]:
    """A caller whose dialplan announces ``results`` (HotlineRoute), in turn, and hangs up."""
    log = [
        {
            "Event": "Newchannel",
            "Timestamp": "1700005000.000000",
            "Channel": CHANNEL,
            "ChannelState": "4",
            "ChannelStateDesc": "Ring",
            "CallerIDNum": "0795550000",
            "CallerIDName": "Huda",
            "Context": "hotline-inbound",
            "Exten": "151",
            "Priority": "1",
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
        }
    ]
    for i, result in enumerate(results):
        log.append(
            {
                "Event": "UserEvent",
                "Timestamp": f"17000050{10 + i}.000000",
                "Channel": CHANNEL,
                "Uniqueid": "1700005000.50",
                "Linkedid": "1700005000.50",
                "UserEvent": "HotlineRoute",
                "Language": "en",
                "Topic": "virus",
                "Specialty": "",
                "Queue": "en-virus",
                "Result": result,
            }
        )
    log.append(
        {
            "Event": "Hangup",
            "Timestamp": "1700005040.000000",
            "Channel": CHANNEL,
            "Uniqueid": "1700005000.50",
            "Linkedid": "1700005000.50",
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        }
    )
    return log


@pytest.mark.parametrize("result", ["INFO", "MESSAGE", "REPORT", "FOLLOW"])
def test_a_caller_who_heard_the_information_or_left_a_message_was_served_without_a_person(result):
    # REPORT and FOLLOW: a case reported or followed by phone (cases), also with no person
    (record,) = replay(call(result), RecordBuilder(number="151", context="hotline-inbound"))
    assert record.outcome is Outcome.SELF_SERVED and record.topic == "virus" and record.agent is None


def test_a_self_service_report_that_failed_and_went_to_a_person_is_not_self_served():
    (record,) = replay(call("REPORT", "CASE_FAILED"), RecordBuilder(number="151", context="hotline-inbound"))
    assert record.outcome is Outcome.FAILED


def test_a_caller_who_went_on_to_a_person_is_not_self_served():
    (record,) = replay(call("INFO", "OK"), RecordBuilder(number="151", context="hotline-inbound"))
    assert record.outcome is Outcome.FAILED  # routed, never in a queue (here: no QueueCallerJoin)


def test_the_reports_count_self_served_calls_as_offered_but_not_queued():
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    facts = [
        RecordFacts(started_at=at, outcome="self_served", queue="en-virus"),
        RecordFacts(started_at=at, outcome="answered", queue="en-virus", wait_seconds=5.0, talk_seconds=60.0),
    ]
    (measures,) = aggregate(facts).groups.values()
    assert (measures.offered, measures.self_served, measures.answered, measures.failed) == (2, 1, 1, 0)
    assert measures.queued == 1 and measures.to_dict()["self_served"] == 1 and measures.to_dict()["queued"] == 1
    # The SQL twin's fold counts them the same way.
    folded = type(measures)()
    fold_group_row(folded, "inbound", "self_served", 1, 0, 0.0, 0.0, 0.0, None, 0, 0)
    assert (folded.offered, folded.self_served, folded.failed) == (1, 1, 0)


def test_the_report_tables_show_the_self_served_calls():
    headers = report_output._MEASURE_HEADERS
    m = Measures(offered=3, self_served=2, answered=1)
    assert report_output._measure_cells(m)[headers.index("self-served")] == 2
    assert "self_served" in report_output._CSV_MEASURES
