"""The case report computed by the database (cases/report_db.py) against the pure reference
(cases/reports.py), on SQLite and PostgreSQL; the synthetic 940 year (cases/synthetic.py) gives
the article's counts per category."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from cases.model import new_number, new_pin
from cases.report_db import case_report_db, case_report_sql
from cases.reports import CaseReport, case_report
from cases.rows import CaseRow
from cases.synthetic import ARTICLE_940, generate_cases, insert_cases
from hotline.cli import main
from profiles.model import load_profile
from storage.engine import Database, sync_url, upgrade

ROOT = Path(__file__).parents[2]
MUNICIPAL = load_profile(ROOT / "profiles" / "municipal-940.yaml")
CATEGORIES = [t.id for t in MUNICIPAL.topics]
T0 = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 7, 1, tzinfo=UTC)


def row(rng, category, status, created, closed_at=None, sla_hours=24):
    return {
        "number": new_number(rng.randrange),
        "pin": new_pin(rng.randrange),
        "category": category,
        "caller_number": "0500000000",
        "language": "ar",
        "description": "بلاغ",
        "district": None,
        "location": None,
        "department": None,
        "status": status,
        "reason": None,
        "source": "desk",
        "created_by": "agent-940-1",
        "created_at": created,
        "updated_at": closed_at or created,
        "due_at": created + timedelta(hours=sla_hours),
        "closed_at": closed_at,
        "voice_note": None,
        "voice_note_seconds": None,
        "version": 1,
    }


def store(url, rows):
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(insert(CaseRow), rows)
    finally:
        engine.dispose()


def pure_report(url, **kwargs) -> CaseReport:
    """The pure reference over every row of the database."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            columns = (CaseRow.category, CaseRow.status, CaseRow.created_at, CaseRow.due_at, CaseRow.closed_at)
            facts = conn.execute(select(*columns)).all()
    finally:
        engine.dispose()
    return case_report(facts, **kwargs)


def edge_cases() -> list[dict]:
    """Microsecond fractions that borrow across a second, even and odd counts, ties, the period's
    edges, rejected and overdue cases, a category the profile does not know."""
    rng = random.Random(11)
    us = timedelta(microseconds=1)
    rows = [
        row(rng, "cleanliness", "closed", T0 + 999_999 * us, T0 + timedelta(seconds=3, microseconds=1)),
        row(rng, "cleanliness", "closed", T0, T0 + timedelta(hours=30)),  # late
        row(rng, "cleanliness", "closed", T0 + 5 * us, T0 + timedelta(hours=2, microseconds=3)),
        row(rng, "cleanliness", "closed", T0, T0 + timedelta(hours=2, microseconds=2)),  # even count
        row(rng, "cleanliness", "rejected", T0, T0 + timedelta(hours=1)),
        row(rng, "cleanliness", "open", T0),  # overdue at NOW
        row(rng, "cleanliness", "in_progress", NOW - timedelta(hours=1)),  # not yet due
        row(rng, "parks", "closed", T0, T0 + timedelta(hours=5)),
        row(rng, "parks", "closed", T0, T0 + timedelta(hours=5)),  # a tie
        row(rng, "parks", "closed", T0, T0 + timedelta(days=9, microseconds=7)),
        row(rng, "parks", "assigned", T0, sla_hours=120),  # overdue
        row(rng, "parks", "closed", T0 - 1 * us, T0 + timedelta(hours=1)),  # just before the period
        row(rng, "parks", "open", NOW),  # at the period's (exclusive) end
        row(rng, "old_topic", "closed", T0, T0 + timedelta(minutes=1)),
    ]
    for _ in range(200):  # and some noise
        created = T0 + timedelta(seconds=rng.randrange(25 * 86400), microseconds=rng.randrange(10**6))
        status = rng.choice(("open", "assigned", "in_progress", "closed", "closed", "closed", "rejected"))
        closed_at = created + timedelta(seconds=rng.randrange(1, 9 * 86400), microseconds=rng.randrange(10**6))
        rows.append(
            row(rng, rng.choice(CATEGORIES), status, created, closed_at if status in ("closed", "rejected") else None)
        )
    return rows


def test_the_database_gives_the_pure_figures_medians_included(db_url):
    upgrade(db_url)
    store(db_url, edge_cases())
    for period in ({"start": T0, "end": NOW}, {}, {"start": T0 + timedelta(days=10)}, {"end": T0 + timedelta(days=3)}):
        sql = case_report_sql(db_url, now=NOW, categories=CATEGORIES, **period)
        assert sql == pure_report(db_url, now=NOW, categories=CATEGORIES, **period), period
    report = case_report_sql(db_url, now=NOW, start=T0, end=NOW, categories=CATEGORIES)
    parks = report.category("parks")
    assert (parks.opened, parks.closed, parks.overdue) >= (4, 3, 1)
    assert report.category("old_topic").opened == 1  # found in the data though not in the profile
    assert report.categories[-1].category == "old_topic"


def test_the_figures_of_the_edge_cases(db_url):
    upgrade(db_url)
    store(db_url, edge_cases()[:14])
    report = case_report_sql(db_url, now=NOW, start=T0, end=NOW, categories=CATEGORIES)
    clean = report.category("cleanliness")
    assert (clean.opened, clean.closed, clean.rejected, clean.open, clean.overdue, clean.closed_on_time) == (
        7,
        4,
        1,
        2,
        1,
        3,
    )
    # 2.000002 s, 2 h - 2 us, 2 h + 2 us, 30 h: the mean of the two middle ones, to the microsecond
    assert clean.median_close_seconds == 7200.0
    parks = report.category("parks")
    assert (parks.opened, parks.closed, parks.overdue) == (4, 3, 1)
    assert parks.median_close_seconds == 5 * 3600
    assert report.total.closed == 8
    assert report == pure_report(db_url, now=NOW, start=T0, end=NOW, categories=CATEGORIES)


async def test_the_service_database_gives_the_same_report(db_url):
    upgrade(db_url)
    store(db_url, edge_cases())
    db = Database(db_url)
    try:
        report = await case_report_db(db, now=NOW, start=T0, categories=CATEGORIES)
    finally:
        await db.close()
    assert report == case_report_sql(db_url, now=NOW, start=T0, categories=CATEGORIES)


def test_an_empty_database_and_a_bad_period(db_url):
    upgrade(db_url)
    report = case_report_sql(db_url, now=NOW, categories=CATEGORIES)
    assert [r.category for r in report.categories] == CATEGORIES
    assert report.total.opened == 0 and report.total.median_close_seconds is None
    assert report.total.closure_rate is None
    with pytest.raises(ValueError, match="ends"):
        case_report_sql(db_url, now=NOW, start=NOW, end=T0)
    with pytest.raises(ValueError, match="aware"):
        case_report_sql(db_url, now=NOW.replace(tzinfo=None))


def test_the_synthetic_940_year_gives_the_articles_counts(db_url):
    upgrade(db_url)
    added = insert_cases(db_url, generate_cases(MUNICIPAL, seed=940))
    assert added == 17_534
    year_end = datetime(2026, 1, 1, tzinfo=UTC)
    report = case_report_sql(db_url, now=year_end, categories=CATEGORIES)
    assert {r.category: r.opened for r in report.categories} == {c: n for c, (n, _) in ARTICLE_940.items()}
    assert report.total.opened == 17_534
    assert report.total.closed > 12_000
    assert report.category("markets_public_health").closure_rate == pytest.approx(0.90, abs=0.001)
    assert report.category("cleanliness").closure_rate == pytest.approx(0.85, abs=0.001)
    assert 0 < report.total.overdue < report.total.open  # some overdue, not all
    for figures in report.categories:
        assert figures.rejected > 0 and figures.median_close_seconds is not None
        # a median of about half the category's SLA
        sla = MUNICIPAL.sla_hours(figures.category) * 3600
        assert 0.3 * sla < figures.median_close_seconds < 0.8 * sla, figures.category
    assert report == pure_report(db_url, now=year_end, categories=CATEGORIES)
    # the same seed gives the same year; a second synthetic year is refused, nothing added
    again = list(generate_cases(MUNICIPAL, seed=940))
    assert [r["number"] for r in again[:50]] == [r["number"] for r in list(generate_cases(MUNICIPAL, seed=940))[:50]]
    with pytest.raises(ValueError, match="already holds 17,534 cases"):
        insert_cases(db_url, again)
    assert case_report_sql(db_url, now=year_end).total.opened == 17_534


def test_the_cli_stores_a_synthetic_year_and_reports_it(db_url, tmp_path, capsys):
    assert main(["cases", "synthetic", "--db", db_url]) == 0
    assert "added 17,534 synthetic cases (2025)" in capsys.readouterr().out
    page = tmp_path / "cases.html"
    argv = ["cases", "report", "--db", db_url, "--profile", str(ROOT / "profiles" / "municipal-940.yaml")]
    period = ["--from", "2025-01-01", "--to", "2025-12-31", "--now", "2026-01-01"]
    assert main([*argv, *period, "--json", "--html", str(page)]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["start"] == "2025-01-01T00:00:00+03:00" and figures["end"] == "2026-01-01T00:00:00+03:00"
    assert {c["category"]: c["opened"] for c in figures["categories"]} == {c: n for c, (n, _) in ARTICLE_940.items()}
    assert figures["total"]["closed"] > 12_000
    assert 'data-category="parks" data-series="opened" data-value="564"' in page.read_text(encoding="utf-8")
    # the same figures as a table, and a second year refused with nothing added
    assert main([*argv, *period]) == 0
    assert re.search(r"^الإجمالي\s+17534\s+13462\s+76\.8%", capsys.readouterr().out, re.M)
    assert main(["cases", "synthetic", "--db", db_url]) == 2
    assert "already holds 17,534 cases" in capsys.readouterr().err


def test_the_cli_refuses_bad_input_with_a_clear_message(sqlite_url, capsys):
    report = ["cases", "report", "--db", sqlite_url, "--profile", str(ROOT / "profiles" / "municipal-940.yaml")]
    assert main([*report, "--from", "2025-13-01"]) == 2
    assert "--from must be a day YYYY-MM-DD or an ISO time, got '2025-13-01'" in capsys.readouterr().err
    assert main([*report, "--from", "2025-06-01", "--to", "2025-01-01"]) == 2
    assert "the report's period is empty" in capsys.readouterr().err
    complaints = str(ROOT / "profiles" / "complaints-16528.yaml")
    assert main(["cases", "synthetic", "--db", sqlite_url, "--profile", complaints]) == 2
    assert "not topics of the profile: markets_public_health" in capsys.readouterr().err
    assert main(["cases", "synthetic", "--db", sqlite_url, "--profile", str(ROOT / "profiles" / "moh-151.yaml")]) == 2
    assert "keeps no cases" in capsys.readouterr().err
    assert main(["cases", "report", "--db", "mysql://x/y"]) == 2
    assert "unsupported database URL scheme" in capsys.readouterr().err
