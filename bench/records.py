"""Benchmark: the full call report over 1 million records on SQLite and on PostgreSQL.

    .venv/bin/python bench/records.py [--calls 1000000] [--interval 30] [--pg-url postgresql://postgres@127.0.0.1:5432/test]

For each backend: a temporary database (a file in a temp dir; a uniquely named PostgreSQL
database, dropped at the end) is migrated and filled with ``cdr.synthetic`` records (not timed),
then the report is timed: SQL-side aggregation (GROUP BY on interval buckets) + the pure report
build (per-interval Erlang C staffing, shifts, gaps) + the plain-dict form. In the same run a
straightforward pandas implementation (read the rows, bucket, groupby) feeds the same report
builder; the key figures of both reports are asserted equal, and the time ratio is printed.

Each timed phase (our report, the pandas report) runs in a fresh Python process, so its memory
figure is its own: peak resident set size from ``resource.getrusage(RUSAGE_SELF).ru_maxrss``
(interpreter and imports included). Targets: report <= 15 s per backend, peak <= 1 GB.

The last line of stdout is ONE JSON object with all figures; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cdr.cli import build_report_from_db  # noqa: E402
from cdr.importer import bulk_insert  # noqa: E402
from cdr.reports import Aggregates, Measures, ReportParams, build_report, report_to_dict  # noqa: E402
from cdr.synthetic import generate_rows  # noqa: E402
from profiles.model import load_profile  # noqa: E402
from storage.engine import sync_url, upgrade  # noqa: E402

TARGET_SECONDS = 15.0
TARGET_MB = 1024.0
COUNT_FIELDS = (
    "offered",
    "answered",
    "abandoned_ivr",
    "abandoned_queue",
    "failed",
    "answered_within",
    "abandoned_within",
    "transferred",
    "callbacks",
    "callbacks_answered",
    "agents",
)
SUM_FIELDS = ("wait_answered_sum", "talk_sum", "wrapup_sum", "callback_talk_sum")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pandas_aggregates(url: str, interval_minutes: int, sl_seconds: float) -> Aggregates:
    """The same aggregates, the straightforward pandas way: read every row, bucket, groupby."""
    import pandas as pd
    from sqlalchemy import create_engine

    width = interval_minutes * 60
    engine = create_engine(sync_url(url))
    try:
        df = pd.read_sql_query(
            "SELECT started_at, queue, language, topic, outcome, wait_seconds, talk_seconds, wrapup_seconds, "
            "agent, kind, transferred_to FROM call_records",
            engine,
        )
    finally:
        engine.dispose()
    started = pd.to_datetime(df["started_at"], utc=True, format="ISO8601")
    seconds = (started - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
    df["bucket"] = (seconds // width) * width
    inbound = df["kind"] == "inbound"
    callback = df["kind"] == "callback"
    answered = inbound & (df["outcome"] == "answered")
    ab_queue = inbound & (df["outcome"] == "abandoned_queue")
    ab_ivr = inbound & (df["outcome"] == "abandoned_ivr")
    wait0 = df["wait_seconds"].fillna(0.0)
    talk0 = df["talk_seconds"].fillna(0.0)
    wrap0 = df["wrapup_seconds"].fillna(0.0)
    cb_answered = callback & (df["outcome"] == "answered")
    keys = ["bucket", "queue", "language", "topic"]
    frame = pd.DataFrame(
        {
            "bucket": df["bucket"],
            "queue": df["queue"],
            "language": df["language"],
            "topic": df["topic"],
            "offered": inbound.astype("int64"),
            "answered": answered.astype("int64"),
            "abandoned_ivr": ab_ivr.astype("int64"),
            "abandoned_queue": ab_queue.astype("int64"),
            "failed": (inbound & ~answered & ~ab_queue & ~ab_ivr).astype("int64"),
            "answered_within": (answered & (wait0 <= sl_seconds)).astype("int64"),
            "abandoned_within": (ab_queue & (wait0 <= sl_seconds)).astype("int64"),
            "wait_answered_sum": wait0.where(answered, 0.0),
            "talk_sum": talk0.where(answered, 0.0),
            "wrapup_sum": wrap0.where(answered, 0.0),
            "max_wait": df["wait_seconds"].where(inbound),
            "transferred": (answered & df["transferred_to"].notna()).astype("int64"),
            "callbacks": callback.astype("int64"),
            "callbacks_answered": cb_answered.astype("int64"),
            "callback_talk_sum": (talk0 + wrap0).where(cb_answered, 0.0),
            "agent": df["agent"],
            "inbound_agent": df["agent"].where(answered),
        }
    )
    grouped = frame.groupby(keys, dropna=False, sort=False)
    sums = grouped[[c for c in frame.columns if c not in (*keys, "max_wait", "agent", "inbound_agent")]].sum()
    sums["max_wait"] = grouped["max_wait"].max()
    sums["agents"] = grouped["inbound_agent"].nunique()
    per_bucket = frame.dropna(subset=["agent"]).groupby("bucket")["agent"].nunique()

    def clean(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    result = Aggregates(interval_minutes, sl_seconds)
    columns = list(sums.columns)
    for index, values in zip(sums.index, sums.itertuples(index=False, name=None), strict=True):
        m = Measures(**{c: clean(v) for c, v in zip(columns, values, strict=True)})
        for c in COUNT_FIELDS:
            setattr(m, c, int(getattr(m, c)))
        for c in SUM_FIELDS:
            setattr(m, c, float(getattr(m, c)))
        m.max_wait = None if m.max_wait is None else float(m.max_wait)
        result.groups[(int(index[0]), clean(index[1]), clean(index[2]), clean(index[3]))] = m
    result.agents_by_bucket = {int(b): int(n) for b, n in per_bucket.items()}
    return result


def compare(ours: Any, theirs: Any) -> dict[str, Any]:
    """Assert that the key figures of two reports are equal; returns a summary."""
    assert len(ours.intervals) == len(theirs.intervals), "interval count differs"
    for a, b in zip(ours.intervals, theirs.intervals, strict=True):
        assert a.start == b.start
        for f in COUNT_FIELDS:
            assert getattr(a.measures, f) == getattr(b.measures, f), (a.start, f)
        for f in SUM_FIELDS:
            assert math.isclose(getattr(a.measures, f), getattr(b.measures, f), rel_tol=1e-9, abs_tol=1e-6), (
                a.start,
                f,
            )
        assert a.measures.max_wait == b.measures.max_wait, (a.start, "max_wait")
        assert (a.needed, a.present) == (b.needed, b.present), (a.start, "staffing")
    assert len(ours.groups) == len(theirs.groups), "group count differs"
    theirs_groups = dict(theirs.groups)
    for key, m in ours.groups:
        other = theirs_groups[key]
        for f in COUNT_FIELDS:
            assert getattr(m, f) == getattr(other, f), (key, f)
    t1, t2 = ours.totals, theirs.totals
    for f in COUNT_FIELDS[:-1]:
        assert getattr(t1, f) == getattr(t2, f), ("totals", f)
    return {
        "intervals": len(ours.intervals),
        "groups": len(ours.groups),
        "offered": t1.offered,
        "answered": t1.answered,
        "abandoned": t1.abandoned,
        "service_level": round(t1.service_level or 0, 6),
        "service_level2": round(t1.service_level2 or 0, 6),
        "understaffed_intervals": len(ours.understaffed),
    }


def phase(kind: str, url: str, interval: int, out: Path) -> None:
    """One timed phase in a fresh interpreter (so ru_maxrss is this phase's own peak)."""
    profile = load_profile(ROOT / "profiles" / "moh-151.yaml")
    t0 = time.perf_counter()
    if kind == "ours":
        report = build_report_from_db(
            url, interval, (0.8, 20.0), 0.3, None, None, None, profile.timezone, profile.shifts
        )
    else:
        agg = pandas_aggregates(url, interval, 20.0)
        params = ReportParams(interval, 20.0, 0.8, 0.3, None, profile.timezone)
        report = build_report(agg, params, shifts=profile.shifts)
    report_to_dict(report)
    seconds = time.perf_counter() - t0
    with open(out, "wb") as fh:
        pickle.dump({"seconds": seconds, "peak_mb": _peak_mb(), "report": report}, fh, pickle.HIGHEST_PROTOCOL)


def _run_phase(kind: str, url: str, interval: int, tmp: str) -> dict[str, Any]:
    out = Path(tmp) / f"{kind}.pickle"
    subprocess.run(
        [sys.executable, __file__, "--phase", kind, "--url", url, "--interval", str(interval), "--out", str(out)],
        check=True,
    )
    with open(out, "rb") as fh:
        result = pickle.load(fh)
    out.unlink()
    return result


def run_backend(name: str, url: str, calls: int, interval: int, profile: Any, tmp: str) -> dict[str, Any]:
    _log(f"[{name}] migrating and generating {calls:,} calls (not timed)…")
    upgrade(url)
    t0 = time.perf_counter()
    added = bulk_insert(url, generate_rows(calls, seed=151, timezone=profile.timezone))
    gen_seconds = time.perf_counter() - t0
    _log(f"[{name}] {added:,} rows in {gen_seconds:.1f}s; timing the report (own process)…")
    ours = _run_phase("ours", url, interval, tmp)
    _log(
        f"[{name}] report: {ours['seconds']:.2f}s, {len(ours['report'].intervals):,} intervals, "
        f"{len(ours['report'].groups):,} groups; peak RSS {ours['peak_mb']:.0f} MB"
    )
    theirs = _run_phase("pandas", url, interval, tmp)
    _log(f"[{name}] pandas: {theirs['seconds']:.2f}s, peak RSS {theirs['peak_mb']:.0f} MB; comparing…")
    summary = compare(ours["report"], theirs["report"])
    return {
        "rows": added,
        "generate_seconds": round(gen_seconds, 2),
        "report_seconds": round(ours["seconds"], 3),
        "peak_mb": round(ours["peak_mb"], 1),
        "pandas_seconds": round(theirs["seconds"], 3),
        "pandas_peak_mb": round(theirs["peak_mb"], 1),
        "pandas_ratio": round(theirs["seconds"] / ours["seconds"], 2),
        "same_numbers": True,
        "meets_time_target": ours["seconds"] <= TARGET_SECONDS,
        "meets_memory_target": ours["peak_mb"] <= TARGET_MB,
        **summary,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--interval", type=int, choices=(15, 30, 60), default=30)
    parser.add_argument(
        "--pg-url", default=os.environ.get("HOTLINE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--phase", choices=("ours", "pandas"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        phase(args.phase, args.url, args.interval, args.out)
        return 0
    profile = load_profile(ROOT / "profiles" / "moh-151.yaml")
    result: dict[str, Any] = {
        "calls": args.calls,
        "interval_minutes": args.interval,
        "memory_measure": "resource.getrusage(RUSAGE_SELF).ru_maxrss of a fresh process running only "
        "the timed phase (interpreter and imports included)",
        "targets": {"report_seconds": TARGET_SECONDS, "peak_mb": TARGET_MB},
        "cpus": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        result["sqlite"] = run_backend("sqlite", f"sqlite:///{tmp}/bench.db", args.calls, args.interval, profile, tmp)
        if not args.skip_postgres:
            result["postgresql"] = _postgres(args, profile, tmp)
    backends = [result[b] for b in ("sqlite", "postgresql") if b in result]
    result["meets_time_target"] = all(b["meets_time_target"] for b in backends)
    result["meets_memory_target"] = all(b["meets_memory_target"] for b in backends)
    print(json.dumps(result))
    return 0


def _postgres(args: argparse.Namespace, profile: Any, tmp: str) -> dict[str, Any]:
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"hotline_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        return run_backend("postgresql", url, args.calls, args.interval, profile, tmp)
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    raise SystemExit(main())
