"""Wrap-up codes in the pure core: the builder's call in progress (the screen pop's facts), the counts per
topic and code (the report's "calls per request type"), and their table in the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.streams import ami_stream

from cdr.builder import RecordBuilder
from cdr.report_output import render_html
from cdr.reports import RecordFacts, ReportParams, aggregate, build_report, wrapup_counts, wrapup_rows
from telephony.events import decode_event

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_the_builder_tells_a_call_in_progress_and_forgets_it_when_its_record_is_complete():
    builder = RecordBuilder(number="151", context="hotline-inbound")
    seen = []
    for message in ami_stream("answered_call"):
        event = decode_event(message)
        if event is None:
            continue
        records = builder.feed(event)
        if type(event).__name__ == "AgentConnect":
            seen.append(builder.in_progress("1700000000.1"))
        if records:
            assert builder.in_progress("1700000000.1") is None
    (call,) = seen
    assert call is not None
    assert (call.caller_number, call.language, call.topic, call.specialty, call.queue, call.routed) == (
        "0791234567", "ar", "medical", "paediatrics", "ar-med-paediatrics", True)  # fmt: skip
    assert call.agent == "Dr. Salma Haddad" and call.connected_at is not None and call.kind == "inbound"
    assert builder.in_progress("nope") is None


def fact(topic: str | None, code: str | None, outcome: str = "answered", minutes: int = 0) -> RecordFacts:
    return RecordFacts(started_at=T0 + timedelta(minutes=minutes), outcome=outcome, topic=topic, wrapup_code=code)


def test_calls_are_counted_per_topic_and_code_over_a_period():
    facts = [
        fact("parks", "case_opened"),
        fact("parks", "case_opened", minutes=10),
        fact("parks", None, minutes=20),  # answered, no code chosen
        fact("parks", None, outcome="abandoned_queue"),  # not answered: not a request handled
        fact("cleanliness", "duplicate", minutes=90),
        fact(None, None, outcome="abandoned_ivr"),
    ]
    assert wrapup_counts(facts) == {("parks", "case_opened"): 2, ("parks", None): 1, ("cleanliness", "duplicate"): 1}
    assert wrapup_counts(facts, start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=90)) == {
        ("parks", "case_opened"): 1, ("parks", None): 1}  # fmt: skip
    rows = wrapup_rows(wrapup_counts(facts))
    assert [(r.topic, r.code, r.calls) for r in rows] == [
        ("cleanliness", "duplicate", 1), ("parks", "case_opened", 2), ("parks", None, 1)]  # fmt: skip
    assert wrapup_counts([]) == {}


def test_the_html_report_shows_calls_per_request_type():
    facts = [fact("parks", "case_opened", minutes=m) for m in (0, 40, 70)]
    report = build_report(aggregate(facts), ReportParams())
    report.wrapups = wrapup_rows({("parks", "case_opened"): 2, ("parks", None): 1, ("<b>", "x&y"): 1})
    page = render_html(report)
    assert '<h2 id="wrapups">Calls per request type</h2>' in page
    assert "<td>parks</td><td>case_opened</td><td>2</td>" in page and "<td>(no code)</td>" in page
    assert "(3 of\n4 with a code)" in page
    assert "<b>" not in page.split('id="wrapups"')[1] and "&lt;b&gt;" in page and "x&amp;y" in page


def test_a_report_of_no_calls_renders():
    report = build_report(aggregate([]), ReportParams())
    page = render_html(report)
    assert "no calls" in page and '<h2 id="wrapups">Calls per request type</h2>' in page
