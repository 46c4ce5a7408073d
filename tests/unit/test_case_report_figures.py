"""The pure case report (cases/reports.py): the counting rules, on cases made by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.reports import TOTAL, CaseFacts, case_report, median_of_middle, middle, report_to_dict

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2025, 4, 1, tzinfo=UTC)
H = timedelta(hours=1)


def facts(category, status, created, hours_to_close=None, sla=24):
    closed_at = created + hours_to_close * H if hours_to_close is not None else None
    return CaseFacts(category, status, created, created + sla * H, closed_at)


CASES = [
    facts("cleanliness", "closed", T0, 2),
    facts("cleanliness", "closed", T0, 30),  # late: over the 24 h SLA
    facts("cleanliness", "closed", T0, 4),
    facts("cleanliness", "rejected", T0, 1),
    facts("cleanliness", "open", T0),  # overdue at NOW
    facts("cleanliness", "in_progress", NOW - 2 * H),  # due in 22 hours: not overdue
    facts("parks", "closed", T0, 10),
    facts("parks", "closed", T0 + H, 20),
    facts("parks", "assigned", T0),  # overdue
    facts("parks", "closed", T0 - 24 * H, 1),  # before the period
]


def test_figures_per_category_and_totals():
    report = case_report(CASES, now=NOW, start=T0, end=NOW, categories=["parks", "cleanliness", "lighting_signs"])
    assert [row.category for row in report.categories] == ["parks", "cleanliness", "lighting_signs"]
    clean = report.category("cleanliness")
    assert (clean.opened, clean.closed, clean.rejected, clean.open, clean.overdue) == (6, 3, 1, 2, 1)
    assert clean.closure_rate == pytest.approx(0.5)
    assert clean.closed_on_time == 2
    assert clean.median_close_seconds == 4 * 3600  # 2, 4, 30 hours
    parks = report.category("parks")
    assert (parks.opened, parks.closed, parks.overdue) == (3, 2, 1)  # the case before the period is left out
    assert parks.median_close_seconds == 15 * 3600  # 10 and 20 hours: the mean of the two middle ones
    empty = report.category("lighting_signs")
    assert (empty.opened, empty.closure_rate, empty.median_close_seconds) == (0, None, None)
    total = report.total
    assert total.category == TOTAL
    assert (total.opened, total.closed, total.rejected, total.overdue) == (9, 5, 1, 2)
    assert total.median_close_seconds == 10 * 3600  # 2, 4, 10, 20, 30 hours
    assert report_to_dict(report)["total"]["closure_rate"] == pytest.approx(5 / 9)


def test_a_category_not_in_the_profile_is_still_counted_after_the_listed_ones():
    report = case_report([*CASES, facts("old_topic", "open", T0)], now=NOW, categories=["parks"])
    assert [row.category for row in report.categories] == ["parks", "cleanliness", "old_topic"]
    assert report.total.opened == 11


def test_median_takes_microseconds_exactly():
    created = T0 + timedelta(microseconds=999_999)
    cases = [CaseFacts("parks", "closed", created, created + H, created + timedelta(seconds=1, microseconds=1))]
    assert case_report(cases, now=NOW).category("parks").median_close_seconds == 1.000001
    assert list(middle([1, 2, 3, 4])) == [2, 3] and list(middle([1, 2, 3])) == [2] and list(middle([])) == []
    assert median_of_middle([]) is None


def test_a_bad_period_is_refused():
    with pytest.raises(ValueError, match="ends"):
        case_report(CASES, now=NOW, start=NOW, end=T0)
    with pytest.raises(ValueError, match="aware"):
        case_report(CASES, now=NOW.replace(tzinfo=None))
