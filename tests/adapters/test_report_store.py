"""SQL-side report aggregation on SQLite and PostgreSQL equals the pure reference; migration 0003;
the report and generate-records commands end to end through ``cdr.cli``."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from cdr import cli
from cdr.builder import CallRecord, Outcome
from cdr.db import RecordStore, aggregate_sql
from cdr.importer import bulk_insert
from cdr.reports import RecordFacts, aggregate, by_queue
from cdr.synthetic import ROW_COLUMNS, generate_rows
from hotline.settings import Settings
from storage.engine import downgrade, sync_url, upgrade

# The hand-built set of tests/unit/test_reports.py (same records, same hand-checked figures).
T0 = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)  # 11:00 in Kuwait: the morning shift


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


def _rows(facts: list[RecordFacts]) -> list[tuple]:
    rows = []
    for i, f in enumerate(facts, start=1):
        values = {
            "linkedid": f"1614585600.{i}" if f.kind == "inbound" else f"cb-{i}",
            "caller_number": "+96550000000",
            "caller_name": None,
            "started_at": f.started_at,
            "ended_at": None,
            "language": f.language,
            "topic": f.topic,
            "specialty": None,
            "queue": f.queue,
            "wait_seconds": f.wait_seconds,
            "outcome": f.outcome,
            "agent": f.agent,
            "talk_seconds": f.talk_seconds,
            "hangup_cause": 16,
            "hangup_cause_text": None,
            "kind": f.kind,
            "callback_of": f.callback_of,
            "transferred_to": f.transferred_to,
            "wrapup_seconds": f.wrapup_seconds,
        }
        rows.append(tuple(values[c] for c in ROW_COLUMNS))
    return rows


def _settings(db_url: str) -> Settings:
    return Settings(db_url=db_url)


def _cli(argv: list[str], db_url: str) -> tuple[int | None, str, str]:
    parser = argparse.ArgumentParser(prog="hotline")
    cli.add_commands(parser.add_subparsers(dest="command"))
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(parser.parse_args(argv), _settings(db_url), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_migration_0003_adds_callback_and_transfer_columns_and_goes_back(db_url: str) -> None:
    upgrade(db_url)
    engine = create_engine(sync_url(db_url))
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("call_records")}
        assert {"kind", "callback_of", "transferred_to", "wrapup_seconds"} <= columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() >= "0003"
        downgrade(db_url, "0002")
        columns = {c["name"] for c in inspect(engine).get_columns("call_records")}
        assert "kind" not in columns and "callback_of" not in columns
        upgrade(db_url)
    finally:
        engine.dispose()


async def test_record_store_still_writes_and_rows_default_to_inbound(db_url: str) -> None:
    upgrade(db_url)
    record = CallRecord(
        "1700000000.1",
        None,
        None,
        T0,
        "ar",
        "virus",
        None,
        "ar-virus",
        3.0,
        Outcome.ANSWERED,
        "a1",
        50.0,
        16,
        None,
        T0 + timedelta(minutes=1),
    )
    async with RecordStore(db_url) as store:
        assert await store.add(record)
    agg = aggregate_sql(db_url, 30, 20.0)
    (m,) = agg.groups.values()
    assert (m.offered, m.answered, m.callbacks) == (1, 1, 0)


def test_sql_aggregation_equals_the_pure_reference_on_the_hand_built_set(db_url: str) -> None:
    upgrade(db_url)
    facts = hand_built()
    assert bulk_insert(db_url, _rows(facts)) == len(facts)
    for interval in (15, 30, 60):
        ours = aggregate_sql(db_url, interval, 20.0)
        reference = aggregate(facts, interval, 20.0)
        assert ours.groups == reference.groups
        assert ours.agents_by_bucket == reference.agents_by_bucket
    # hand-checked figures, straight from the database
    m = aggregate_sql(db_url, 30, 20.0).groups[(int(T0.timestamp()), "ar-virus", "ar", "virus")]
    assert (m.offered, m.answered, m.answered_within, m.abandoned_within, m.transferred) == (6, 3, 2, 1, 1)
    assert m.talk_sum == 600 and m.max_wait == 90


async def test_the_store_aggregates_on_the_async_engine_like_the_pure_reference(db_url: str) -> None:
    upgrade(db_url)
    facts = hand_built()
    bulk_insert(db_url, _rows(facts))
    async with RecordStore(db_url) as store:
        for interval in (15, 30, 60):
            ours = await store.aggregates(interval, 20.0)
            reference = aggregate(facts, interval, 20.0)
            assert ours.groups == reference.groups
            assert ours.agents_by_bucket == reference.agents_by_bucket


async def test_the_wallboard_service_level_is_the_reports_one(db_url: str) -> None:
    """One definition: the wallboard's "answered / within T today" per queue is the report's, summed."""
    upgrade(db_url)
    facts = hand_built()
    bulk_insert(db_url, _rows(facts))
    async with RecordStore(db_url) as store:
        board = await store.service_level_by_queue(T0 - timedelta(hours=1), 20.0)
    reference = by_queue(aggregate(facts, 30, 20.0))
    assert {q: (m.answered, m.answered_within) for q, m in board.items()} == {
        q: (m.answered, m.answered_within) for q, m in reference.items()
    }
    assert board["ar-virus"].service_level == 2 / 3  # 3 answered, 2 of them within 20 s (hand-checked)


async def test_period_filter_on_the_store(db_url: str) -> None:
    upgrade(db_url)
    bulk_insert(db_url, _rows(hand_built()))
    async with RecordStore(db_url) as store:
        later = await store.aggregates(30, 20.0, start=T0 + timedelta(minutes=30))
    assert sum(m.offered for m in later.groups.values()) == 0
    assert sum(m.callbacks for m in later.groups.values()) == 2
    earlier = aggregate_sql(db_url, 30, 20.0, end=T0 + timedelta(minutes=30))
    assert sum(m.offered for m in earlier.groups.values()) == 7


def test_report_command_prints_tables_json_and_writes_csv_and_html(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    bulk_insert(db_url, _rows(hand_built()))
    code, out, _ = _cli(["report", "--json", "--from", "2021-03-01", "--to", "2021-03-01"], db_url)
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["offered"] == 7 and data["totals"]["callbacks_answered"] == 1
    assert len(data["intervals"]) == 48  # the whole local day (Asia/Kuwait) in 30-minute intervals
    code, out, _err = _cli(
        ["report", "--interval", "60", "--csv", str(tmp_path / "r.csv"), "--html", str(tmp_path / "r.html")], db_url
    )
    assert code == 0
    assert "ar-virus" in out and "Seats per shift" in out
    assert (tmp_path / "r.csv").exists() and (tmp_path / "r-groups.csv").exists()
    assert 'id="chart-staffing"' in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_generate_records_is_shaped_and_idempotent(db_url: str) -> None:
    code, out, _ = _cli(["generate-records", "--calls", "3000", "--months", "2021-02,2021-03"], db_url)
    assert code == 0
    agg = aggregate_sql(db_url, 60, 20.0)
    offered = sum(m.offered for m in agg.groups.values())
    assert abs(offered - 3000) < 150  # stochastic rounding per hour
    by_month: dict[int, int] = {}
    by_language: dict[str | None, int] = {}
    for (bucket, _q, language, _t), m in agg.groups.items():
        month = datetime.fromtimestamp(bucket, UTC).month
        by_month[month] = by_month.get(month, 0) + m.offered
        by_language[language] = by_language.get(language, 0) + m.offered
    assert by_month[3] / by_month[2] == pytest.approx(120 / 50, rel=0.15)  # the seed's 50k -> 120k
    assert by_language["ar"] > 2.5 * by_language["en"]
    assert sum(m.callbacks for m in agg.groups.values()) > 0
    # the same seed again adds nothing
    code, out, _ = _cli(["generate-records", "--calls", "3000", "--months", "2021-02,2021-03"], db_url)
    assert code == 0 and "added 0 records" in out


def test_synthetic_abandonment_rises_with_load() -> None:
    rows = list(generate_rows(60_000, months=["2020-04"], seed=3))
    idx = {c: i for i, c in enumerate(ROW_COLUMNS)}
    per_hour: dict[datetime, list[str]] = {}
    for r in rows:
        if r[idx["kind"]] == "inbound":
            per_hour.setdefault(r[idx["started_at"]].replace(minute=0, second=0, microsecond=0), []).append(
                r[idx["outcome"]]
            )
    busy = sorted(per_hour.values(), key=len)
    quiet, peak = busy[: len(busy) // 4], busy[-len(busy) // 4 :]

    def rate(groups: list[list[str]]) -> float:
        calls = [o for g in groups for o in g]
        return calls.count("abandoned_queue") / len(calls)

    assert rate(peak) > 2 * rate(quiet)


def test_record_facts_from_a_call_record() -> None:
    record = CallRecord(
        "1",
        None,
        None,
        T0,
        "en",
        "general",
        None,
        "en-general",
        1.0,
        Outcome.ABANDONED_QUEUE,
        None,
        None,
        None,
        None,
        None,
    )
    facts = RecordFacts.of(record)
    assert (facts.outcome, facts.kind, facts.transferred_to) == ("abandoned_queue", "inbound", None)
    assert RecordFacts.of(replace(facts, kind="callback")).kind == "callback"


def test_outbound_calls_are_not_offered_calls_and_their_talk_is_work_in_both_halves(db_url: str) -> None:
    """Campaign and click-to-call records (issue 14): never offered, answered or abandoned inbound calls on the
    wallboard or in the reports; counted as outbound, and their talk counts in occupancy."""
    upgrade(db_url)
    virus = {"queue": "ar-virus", "language": "ar", "topic": "virus"}
    outbound = [
        RecordFacts(at(8), "answered", **virus, talk_seconds=120, wrapup_seconds=15, agent="d1", kind="campaign"),
        RecordFacts(at(9), "self_served", language="ar", kind="campaign"),  # "well": no person
        RecordFacts(at(10), "answered", talk_seconds=40, agent="a2", kind="manual"),
        RecordFacts(at(11), "failed", kind="manual"),
    ]
    facts = hand_built() + outbound
    assert bulk_insert(db_url, _rows(facts)) == len(facts)
    for interval in (15, 30, 60):
        ours = aggregate_sql(db_url, interval, 20.0)
        reference = aggregate(facts, interval, 20.0)
        assert ours.groups == reference.groups
        assert ours.agents_by_bucket == reference.agents_by_bucket
    groups = aggregate_sql(db_url, 30, 20.0).groups
    m = groups[(int(T0.timestamp()), "ar-virus", "ar", "virus")]
    assert (m.offered, m.answered, m.outbound, m.outbound_answered, m.outbound_talk_sum) == (6, 3, 1, 1, 135.0)
    total_offered = sum(g.offered for g in groups.values())
    assert total_offered == sum(g.offered for g in aggregate(hand_built(), 30, 20.0).groups.values())
    assert sum(g.outbound for g in groups.values()) == 4 and sum(g.outbound_answered for g in groups.values()) == 2
