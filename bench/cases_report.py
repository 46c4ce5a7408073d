"""Benchmark: the case report over the synthetic 940 year (17,534 cases) on SQLite and on PostgreSQL.

    .venv/bin/python bench/cases_report.py [--runs 5] [--pg-url postgresql://postgres@127.0.0.1:5432/test]

For each backend: a temporary database (a file in a temp dir; a uniquely named PostgreSQL database,
dropped at the end) is migrated and filled by ``cases.synthetic`` (generation and the bulk insert are
timed apart), then the report computed by the database (``cases.report_db.case_report_sql``: the counts
per category and the window-function medians) is timed ``--runs`` times, and the HTML page is rendered.
The pure reference (``cases.reports.case_report`` over every row, read back) must give the same report.

The last line of stdout is ONE JSON object with all figures; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from cases.report_db import case_report_sql  # noqa: E402
from cases.report_output import render_html  # noqa: E402
from cases.reports import case_report  # noqa: E402
from cases.rows import CaseRow  # noqa: E402
from cases.synthetic import generate_cases, insert_cases  # noqa: E402
from profiles.model import load_profile  # noqa: E402
from storage.engine import sync_url, upgrade  # noqa: E402

PROFILE = load_profile(ROOT / "profiles" / "municipal-940.yaml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(url: str, runs: int) -> dict[str, Any]:
    categories = [t.id for t in PROFILE.topics]
    upgrade(url)
    began = time.perf_counter()
    rows = list(generate_cases(PROFILE, seed=940))
    generated = time.perf_counter() - began
    began = time.perf_counter()
    added = insert_cases(url, rows)
    inserted = time.perf_counter() - began
    times = []
    report = None
    for _ in range(runs):
        began = time.perf_counter()
        report = case_report_sql(url, now=NOW, categories=categories)
        times.append(time.perf_counter() - began)
    assert report is not None
    began = time.perf_counter()
    page = render_html(report, PROFILE, "ar")
    rendered = time.perf_counter() - began
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            columns = (CaseRow.category, CaseRow.status, CaseRow.created_at, CaseRow.due_at, CaseRow.closed_at)
            facts = conn.execute(select(*columns)).all()
    finally:
        engine.dispose()
    began = time.perf_counter()
    pure = case_report(facts, now=NOW, categories=categories)
    pure_seconds = time.perf_counter() - began
    return {
        "cases": added,
        "closed": report.total.closed,
        "overdue": report.total.overdue,
        "generate_seconds": round(generated, 3),
        "insert_seconds": round(inserted, 3),
        "report_seconds_median": round(statistics.median(times), 4),
        "report_seconds_first": round(times[0], 4),
        "html_seconds": round(rendered, 4),
        "html_bytes": len(page.encode()),
        "pure_seconds_over_rows_read": round(pure_seconds, 4),
        "same_as_pure": pure == report,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "cases_report", "runs": args.runs}
    with tempfile.TemporaryDirectory() as folder:
        _log("sqlite ...")
        result["sqlite"] = _measure(f"sqlite:///{folder}/cases.db", args.runs)
    name = f"hotline_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(sync_url(args.pg_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        _log("postgresql ...")
        url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        result["postgresql"] = _measure(url, args.runs)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(result))
    return 0 if all(result[db]["same_as_pure"] for db in ("sqlite", "postgresql")) else 1


if __name__ == "__main__":
    sys.exit(main())
