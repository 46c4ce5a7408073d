"""Report numbers on a hand-built set of records, checked by hand (transfers and callbacks included)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from cdr.report_output import Progress, render_html, render_text, write_csv
from cdr.reports import (
    RecordFacts,
    ReportParams,
    aggregate,
    bucket_of,
    build_report,
    parse_presence_csv,
    report_to_dict,
)
from profiles.model import Shift

T0 = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)  # 11:00 in Kuwait: the morning shift
SHIFTS = (
    Shift("morning", time(6), time(14)),
    Shift("evening", time(14), time(22)),
    Shift("night", time(22), time(6)),
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def hand_built() -> list[RecordFacts]:
    """Nine records; 08:00-08:30 holds the inbound calls, 08:30-09:00 the callbacks."""
    virus = {"queue": "ar-virus", "language": "ar", "topic": "virus"}
    return [
        # 1 answered within 20 s
        RecordFacts(at(1), "answered", **virus, wait_seconds=10, talk_seconds=100, wrapup_seconds=10, agent="a1"),
        # 2 answered after 30 s
        RecordFacts(at(2), "answered", **virus, wait_seconds=30, talk_seconds=200, wrapup_seconds=20, agent="a2"),
        # 3 abandoned in the queue within 20 s, 4 after 60 s
        RecordFacts(at(3), "abandoned_queue", **virus, wait_seconds=5),
        RecordFacts(at(4), "abandoned_queue", **virus, wait_seconds=60),
        # 5 hung up in the IVR (no queue)
        RecordFacts(at(5), "abandoned_ivr", language="ar"),
        # 6 left the queue unanswered after 90 s (timeout)
        RecordFacts(at(6), "failed", **virus, wait_seconds=90),
        # 7 answered in ar-virus, then transferred to a doctor: counted once here, whole talk time once
        RecordFacts(
            at(7),
            "answered",
            **virus,
            wait_seconds=15,
            talk_seconds=300,
            agent="a1",
            transferred_to="ar-medical-internal",
        ),
        # 8 callback of call 4, reached; 9 callback of call 3, not reached
        RecordFacts(at(40), "answered", **virus, talk_seconds=60, agent="a3", kind="callback", callback_of="4"),
        RecordFacts(at(45), "failed", **virus, kind="callback", callback_of="3"),
    ]


def _report(present=None, **params):
    agg = aggregate(hand_built(), 30, 20.0)
    defaults = {
        "interval_minutes": 30,
        "sl_seconds": 20.0,
        "target_service_level": 0.8,
        "shrinkage": 0.3,
        "timezone": "Asia/Kuwait",
    }
    defaults.update(params)
    return build_report(agg, ReportParams(**defaults), present=present, shifts=SHIFTS)


def test_queue_group_numbers_by_hand() -> None:
    agg = aggregate(hand_built(), 30, 20.0)
    bucket = int(T0.timestamp())
    m = agg.groups[(bucket, "ar-virus", "ar", "virus")]
    assert (m.offered, m.answered, m.abandoned_queue, m.failed, m.abandoned_ivr) == (6, 3, 2, 1, 0)
    assert (m.answered_within, m.abandoned_within) == (2, 1)  # waits 10 and 15; abandoned at 5 s
    assert m.service_level == pytest.approx(2 / 3)
    assert m.service_level2 == pytest.approx((2 + 1) / (3 + 2))  # app_queue's SL2
    assert m.asa == pytest.approx((10 + 30 + 15) / 3)
    assert m.aht == pytest.approx((100 + 10 + 200 + 20 + 300) / 3)  # talk + wrap-up, transfer counted once
    assert m.max_wait == 90
    assert m.transferred == 1
    assert m.agents == 2  # a1 and a2 answered inbound calls
    # the transfer target is not offered the call again
    assert not any(key[1] == "ar-medical-internal" for key in agg.groups)
    ivr = agg.groups[(bucket, None, "ar", None)]
    assert (ivr.offered, ivr.abandoned_ivr, ivr.answered) == (1, 1, 0)


def test_callbacks_are_counted_as_callbacks_not_offered_calls() -> None:
    agg = aggregate(hand_built(), 30, 20.0)
    m = agg.groups[(int(T0.timestamp()) + 1800, "ar-virus", "ar", "virus")]
    assert (m.offered, m.callbacks, m.callbacks_answered, m.callback_talk_sum) == (0, 2, 1, 60)
    assert agg.agents_by_bucket == {int(T0.timestamp()): 2, int(T0.timestamp()) + 1800: 1}


def test_interval_totals_staffing_and_occupancy_by_hand() -> None:
    report = _report()
    first, second = report.intervals
    assert first.start == T0 and second.start == at(30)
    assert (first.measures.offered, first.measures.queued, first.measures.abandoned) == (7, 6, 3)
    # 6 calls that needed a person × AHT 210 s / 1800 s = 0.7 Erlangs; by hand:
    # n=1: C = 0.7, SL = 1 - 0.7·e^(-0.3·20/210) = 32 %; n=2: B = 0.126, C = 0.181, SL = 84 % >= 80 %
    assert first.traffic == pytest.approx(0.7)
    assert first.needed == 2
    assert first.present == 2  # a1, a2 answered in the interval
    assert first.gap == 0
    assert first.occupancy == pytest.approx((110 + 220 + 300) / (2 * 1800))
    assert (second.needed, second.present) == (0, 1)
    assert second.occupancy == pytest.approx(60 / 1800)
    assert report.understaffed == []
    t = report.totals
    assert (t.offered, t.answered, t.abandoned_ivr, t.abandoned_queue, t.failed) == (7, 3, 1, 2, 1)
    assert (t.callbacks, t.callbacks_answered, t.transferred) == (2, 1, 1)
    assert t.max_wait == 90


def test_presence_from_csv_lists_understaffed_intervals_and_seats_per_shift() -> None:
    present = parse_presence_csv(["interval_start,people", "2021-03-01T11:00:00+03:00,1", "2021-03-01T08:30:00,3"], 30)
    assert present == {int(T0.timestamp()): 1, int(T0.timestamp()) + 1800: 3}
    report = _report(present=present)
    assert [(r.start, r.needed, r.present, r.gap) for r in report.understaffed] == [(T0, 2, 1, -1)]
    morning = next(s for s in report.shifts if s.shift == "morning")
    assert (morning.intervals, morning.peak_needed, morning.seats_needed, morning.understaffed_intervals) == (
        2,
        2,
        3,
        1,
    )


def test_period_bounds_give_empty_intervals_too() -> None:
    report = _report(start=T0, end=T0 + timedelta(hours=2))
    assert len(report.intervals) == 4
    assert [r.measures.offered for r in report.intervals] == [7, 0, 0, 0]
    assert report.intervals[-1].needed == 0


def test_bucket_of_floors_to_the_interval() -> None:
    assert bucket_of(datetime(2021, 3, 1, 8, 44, 59, 999999, tzinfo=UTC), 15) == int(at(30).timestamp())
    assert bucket_of(datetime(2021, 3, 1, 8, 44, 59, tzinfo=UTC), 60) == int(T0.timestamp())
    with pytest.raises(ValueError):
        bucket_of(T0, 20)


def test_erlang_a_option_staffs_no_more_than_erlang_c() -> None:
    c = _report()
    a = _report(patience_seconds=60.0)
    assert a.intervals[0].needed is not None and a.intervals[0].needed <= c.intervals[0].needed
    assert report_to_dict(a)["params"]["model"] == "erlang_a"


def test_json_form_is_plain_data(tmp_path: Path) -> None:
    data = report_to_dict(_report())
    text = json.dumps(data)
    again = json.loads(text)
    assert again["totals"]["offered"] == 7
    assert again["totals"]["service_level2"] == pytest.approx(0.6)
    assert again["intervals"][0]["start"] == "2021-03-01T08:00:00+00:00"
    assert again["intervals"][0]["needed"] == 2
    assert {g["queue"] for g in again["groups"]} == {"ar-virus", None}
    assert again["shifts"][0]["shift"] == "morning"


def test_text_csv_and_html_outputs(tmp_path: Path) -> None:
    report = _report()
    text = render_text(report)
    assert "ar-virus" in text and "66.7%" in text and "60.0%" in text
    intervals, groups = write_csv(report, tmp_path / "r.csv")
    rows = list(csv.DictReader(intervals.open()))
    assert rows[0]["offered"] == "7" and rows[0]["needed"] == "2" and rows[0]["present"] == "2"
    group_rows = list(csv.DictReader(groups.open()))
    assert {r["queue"] for r in group_rows} == {"ar-virus", ""}
    page = render_html(report)
    for chart in ("chart-volumes", "chart-service-level", "chart-staffing"):
        assert f'id="{chart}"' in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_progress_bar_only_on_a_terminal_or_when_forced() -> None:
    import io

    quiet = io.StringIO()
    Progress("x", stream=quiet)(5, 10)
    assert quiet.getvalue() == ""
    forced = io.StringIO()
    bar = Progress("report", stream=forced, force=True)
    bar(10, 10)
    assert "report [" in forced.getvalue() and "100.0%" in forced.getvalue()


def test_pure_modules_load_no_sqlalchemy_asyncio_or_panoramisk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cdr.staffing, cdr.reports; "
        "heavy = ('sqlalchemy', 'asyncio', 'aiohttp', 'panoramisk', 'alembic', 'psycopg'); "
        "bad = [m for m in heavy if m in sys.modules]; "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
