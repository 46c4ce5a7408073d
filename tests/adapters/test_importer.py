"""Importing queue_log and Master.csv: transfers counted once (asterisk#759), idempotent on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cdr import cli
from cdr.db import aggregate_sql
from cdr.importer import calls_from_cdr_csv, calls_from_queue_log, import_files, parse_queue_log
from hotline.cli import build_parser
from hotline.settings import Settings
from storage.engine import sync_url, upgrade

T = 1614585600  # 2021-03-01 08:00:00 UTC

QUEUE_LOG = f"""\
{T - 100}|NONE|NONE|NONE|QUEUESTART|
{T - 50}|NONE|ar-virus|PJSIP/agent-ar-1|ADDMEMBER|
{T}|{T}.1|ar-virus|NONE|ENTERQUEUE||96550000001|1
{T + 12}|{T}.1|ar-virus|PJSIP/agent-ar-1|CONNECT|12|{T + 12}.2|3
{T + 112}|{T}.1|ar-virus|PJSIP/agent-ar-1|COMPLETECALLER|12|100|1
{T + 60}|{T}.3|en-general|NONE|ENTERQUEUE||96550000003|1
{T + 100}|{T}.3|en-general|NONE|ABANDON|1|1|40
{T + 120}|{T}.5|ar-virus|NONE|ENTERQUEUE||96550000005|1
{T + 125}|{T}.5|ar-virus|PJSIP/agent-ar-2|CONNECT|5|{T + 125}.6|2
{T + 185}|{T}.5|ar-virus|PJSIP/agent-ar-2|BLINDTRANSFER|8300|queues|5|60|1
{T + 186}|{T}.5|ar-medical-internal|NONE|ENTERQUEUE||96550000005|1
{T + 194}|{T}.5|ar-medical-internal|PJSIP/doc-ar-int-1|CONNECT|8|{T + 194}.7|4
{T + 314}|{T}.5|ar-medical-internal|PJSIP/doc-ar-int-1|COMPLETECALLER|8|120|1
{T + 200}|{T}.9|ar-general|NONE|ENTERQUEUE||96550000009|1
{T + 212}|{T}.9|ar-general|PJSIP/7009|CONNECT|12|{T + 200}.10|11
{T + 330}|{T + 330}.11|ar-complaints|NONE|ENTERQUEUE||7009|1
{T + 331}|{T + 330}.11|ar-general|PJSIP/7009|ATTENDEDTRANSFER|APP|Queue|12|120|1
{T + 337}|{T}.9|ar-complaints|PJSIP/7051|CONNECT|7|{T + 330}.12|6
{T + 510}|{T}.9|ar-complaints|PJSIP/7051|COMPLETEAGENT|7|173|1
{T + 400}|{T}.13|ar-virus|NONE|ENTERQUEUE||96550000013|1
{T + 580}|{T}.13|ar-virus|NONE|EXITWITHTIMEOUT|1|1|180
{T + 581}|{T}.13|ar-general|NONE|ENTERQUEUE||96550000013|1
{T + 600}|{T}.13|ar-general|PJSIP/agent-ar-1|CONNECT|19|{T + 600}.14|2
{T + 700}|{T}.13|ar-general|PJSIP/agent-ar-1|COMPLETEAGENT|19|100|1
"""


def _local(offset: int) -> str:
    # cdr_csv writes local time (Asia/Kuwait, UTC+3) unless usegmtime=yes
    return datetime.fromtimestamp(T + offset + 3 * 3600, UTC).strftime("%Y-%m-%d %H:%M:%S")


MASTER_CSV = (
    "\n".join(
        [
            # call 1: the IVR started 20 s before the queue; two CDR rows for the caller channel
            f'"","96550000001","151","hotline","""Layla"" <96550000001>","PJSIP/trunk-01","","Queue","ar-virus",'
            f'"{_local(-20)}","{_local(-20)}","{_local(60)}",80,80,"ANSWERED","DOCUMENTATION","{T}.1",""',
            f'"","96550000001","s","queues","""Layla"" <96550000001>","PJSIP/trunk-01","PJSIP/agent-ar-1-02","Queue",'
            f'"ar-virus","{_local(60)}","{_local(60)}","{_local(112)}",52,52,"ANSWERED","DOCUMENTATION","{T}.1",""',
            # call 15: hung up in the IVR, never queued
            f'"","96550000015","151","hotline","","PJSIP/trunk-03","","BackGround","welcome",'
            f'"{_local(900)}","{_local(900)}","{_local(912)}",12,12,"ANSWERED","DOCUMENTATION","{T}.15",""',
            # a call to another number on the same PBX: not ours
            f'"","200","300","internal","","PJSIP/200-04","PJSIP/300-05","Dial","PJSIP/300",'
            f'"{_local(950)}","{_local(951)}","{_local(990)}",40,39,"ANSWERED","DOCUMENTATION","{T}.20",""',
        ]
    )
    + "\n"
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    queue_log = tmp_path / "queue_log"
    queue_log.write_text(QUEUE_LOG, encoding="utf-8")
    master = tmp_path / "Master.csv"
    master.write_text(MASTER_CSV, encoding="utf-8")
    return queue_log, master


def test_queue_log_counts_each_call_once_with_transfers() -> None:
    calls = calls_from_queue_log(parse_queue_log(QUEUE_LOG.splitlines()))
    assert set(calls) == {f"{T}.1", f"{T}.3", f"{T}.5", f"{T}.9", f"{T}.13"}  # the consult leg .11 is not a call
    plain = calls[f"{T}.1"]
    assert (plain["outcome"], plain["queue"], plain["wait_seconds"], plain["talk_seconds"]) == (
        "answered",
        "ar-virus",
        12,
        100,
    )
    assert (plain["language"], plain["topic"], plain["agent"]) == ("ar", "virus", "PJSIP/agent-ar-1")
    abandoned = calls[f"{T}.3"]
    assert (abandoned["outcome"], abandoned["queue"], abandoned["wait_seconds"]) == (
        "abandoned_queue",
        "en-general",
        40,
    )
    blind = calls[f"{T}.5"]  # answered in ar-virus, blind-transferred to a doctor's queue
    # the record's talk is the first answer's (as live); the legs split the call's talk between the people
    assert (blind["queue"], blind["transferred_to"], blind["talk_seconds"]) == ("ar-virus", "ar-medical-internal", 60)
    assert [(leg["target"], leg["queue"], leg["talk_seconds"], leg["how"]) for leg in blind["legs"]] == [
        ("PJSIP/agent-ar-2", "ar-virus", 60, None),
        ("PJSIP/doc-ar-int-1", "ar-medical-internal", 120, "blind"),
    ]
    attended = calls[f"{T}.9"]  # asterisk#759: transfer logged under the consult channel's callid
    assert (attended["queue"], attended["transferred_to"], attended["agent"]) == (
        "ar-general",
        "ar-complaints",
        "PJSIP/7009",
    )
    assert attended["talk_seconds"] == 337 - 212  # its first segment ends when the second person connects
    assert [(leg["target"], leg["queue"], leg["talk_seconds"], leg["how"]) for leg in attended["legs"]] == [
        ("PJSIP/7009", "ar-general", 337 - 212, None),
        ("PJSIP/7051", "ar-complaints", 173, "attended"),
    ]
    overflow = calls[f"{T}.13"]  # timed out of ar-virus, answered in ar-general: offered once, there
    assert (overflow["queue"], overflow["wait_seconds"], overflow["outcome"]) == ("ar-general", 200, "answered")


def test_master_csv_merges_rows_of_a_call_and_keeps_only_the_hotline_number() -> None:
    calls = calls_from_cdr_csv(MASTER_CSV.splitlines(), "Asia/Kuwait", number="151")
    assert set(calls) == {f"{T}.1", f"{T}.15"}
    first = calls[f"{T}.1"]
    assert first["started_at"] == datetime.fromtimestamp(T - 20, UTC)
    assert first["ended_at"] == datetime.fromtimestamp(T + 112, UTC)
    assert (first["caller_number"], first["caller_name"]) == ("96550000001", "Layla")
    assert calls[f"{T}.15"]["outcome"] == "abandoned_ivr"


def test_import_is_idempotent_and_reports_count_transfers_once(db_url: str, files: tuple[Path, Path]) -> None:
    queue_log, master = files
    upgrade(db_url)
    read, added = import_files(db_url, queue_log, master, "Asia/Kuwait", "151")
    assert (read, added) == (6, 6)
    assert import_files(db_url, queue_log, master, "Asia/Kuwait", "151") == (6, 0)
    assert import_files(db_url, queue_log, None, "Asia/Kuwait") == (5, 0)
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM call_records")).scalar_one() == 6
            started = conn.execute(
                text("SELECT caller_name, wait_seconds FROM call_records WHERE linkedid = :l"), {"l": f"{T}.1"}
            ).one()
            assert tuple(started) == ("Layla", 12)
    finally:
        engine.dispose()
    agg = aggregate_sql(db_url, 60, 20.0)
    by_queue: dict[str | None, tuple[int, int, float]] = {}
    for (_b, queue, _l, _t), m in agg.groups.items():
        o, a, talk = by_queue.get(queue, (0, 0, 0.0))
        by_queue[queue] = (o + m.offered, a + m.answered, talk + m.talk_sum)
    assert by_queue["ar-virus"] == (2, 2, 100 + 60)  # first answers' talk: the transferred calls counted once
    assert by_queue["ar-general"] == (2, 2, 125 + 100)
    assert by_queue["en-general"] == (1, 0, 0)
    assert by_queue[None] == (1, 0, 0)  # IVR-only call from the CDR
    assert "ar-medical-internal" not in by_queue and "ar-complaints" not in by_queue
    assert sum(m.transferred for m in agg.groups.values()) == 2


def test_import_records_command(db_url: str, files: tuple[Path, Path]) -> None:
    queue_log, master = files
    parser = argparse.ArgumentParser(prog="hotline")
    cli.add_commands(parser.add_subparsers(dest="command"))
    settings = Settings(db_url=db_url)
    argv = ["import-records", "--queue-log", str(queue_log), "--cdr-csv", str(master)]
    out = io.StringIO()
    assert cli.run(parser.parse_args(argv), settings, out=out, err=io.StringIO()) == 0
    assert "read 6 calls, added 6 new records" in out.getvalue()
    engine = create_engine(sync_url(db_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT source FROM call_records")).scalars().all() == ["imported"]
    engine.dispose()
    out = io.StringIO()
    assert cli.run(parser.parse_args(argv), settings, out=out, err=io.StringIO()) == 0
    assert "added 0 new records" in out.getvalue()
    err = io.StringIO()
    assert cli.run(parser.parse_args(["import-records"]), settings, out=io.StringIO(), err=err) == 2
    assert "--queue-log" in err.getvalue()


def _gmt(offset: int) -> str:
    return datetime.fromtimestamp(T + offset, UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_the_gap_of_a_restart_is_imported_from_the_instances_logs_without_half_records(tmp_path: Path) -> None:
    """Calls that ended while the service was down get a record at its next start; calls still in
    progress (in queue_log, no CDR yet) do not, and calls already recorded live are not doubled."""
    from cdr.builder import CallRecord, Outcome
    from cdr.importer import import_gap

    log_dir = tmp_path / "log"
    (log_dir / "cdr-csv").mkdir(parents=True)
    (log_dir / "queue_log").write_text(QUEUE_LOG, encoding="utf-8")
    gmt_rows = [  # the instance writes its CDR in UTC (usegmtime = yes)
        f'"","96550000001","151","hotline","""Layla"" <96550000001>","PJSIP/trunk-01","","Queue","ar-virus",'
        f'"{_gmt(-20)}","{_gmt(-20)}","{_gmt(112)}",132,132,"ANSWERED","DOCUMENTATION","{T}.1",""',
        f'"","96550000003","151","hotline","","PJSIP/trunk-02","","Queue","en-general",'
        f'"{_gmt(50)}","{_gmt(50)}","{_gmt(100)}",50,50,"ANSWERED","DOCUMENTATION","{T}.3",""',
        f'"","96550000015","151","hotline","","PJSIP/trunk-03","","BackGround","welcome",'
        f'"{_gmt(900)}","{_gmt(900)}","{_gmt(912)}",12,12,"ANSWERED","DOCUMENTATION","{T}.15",""',
    ]
    (log_dir / "cdr-csv" / "Master.csv").write_text("\n".join(gmt_rows) + "\n", encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(db_url)
    import asyncio

    from cdr.db import RecordStore

    async def live_record_and_list(action):
        async with RecordStore(db_url) as store:
            return await action(store)

    live = CallRecord(f"{T}.1", "96550000001", "Layla", datetime.fromtimestamp(T - 20, UTC), "ar", "virus", None,
                      "ar-virus", 12.0, Outcome.ANSWERED, "agent-ar-1", 100.0, 16, None,
                      datetime.fromtimestamp(T + 112, UTC))  # fmt: skip
    asyncio.run(live_record_and_list(lambda store: store.add(live)))

    taken, added = import_gap(db_url, log_dir, since=datetime.fromtimestamp(T - 3600, UTC), number="151")
    assert (taken, added) == (3, 2)  # call 1 was recorded live; 3 and 15 ended during the gap
    records = {r.linkedid: r for r in asyncio.run(live_record_and_list(lambda store: store.list_records()))}
    assert set(records) == {f"{T}.1", f"{T}.3", f"{T}.15"}  # not 5, 9, 13: no CDR yet, still in progress
    assert records[f"{T}.1"].agent == "agent-ar-1" and records[f"{T}.1"].talk_seconds == 100.0  # the live one
    assert records[f"{T}.3"].outcome is Outcome.ABANDONED_QUEUE and records[f"{T}.3"].queue == "en-general"
    assert records[f"{T}.15"].outcome is Outcome.ABANDONED_IVR
    sources = {key: record.source for key, record in records.items()}
    assert sources == {f"{T}.1": "live", f"{T}.3": "reconciled", f"{T}.15": "reconciled"}  # marked as reconciled
    # at the next start nothing is added twice, and an old gap is not read again
    assert import_gap(db_url, log_dir, since=datetime.fromtimestamp(T - 3600, UTC), number="151") == (3, 0)
    assert import_gap(db_url, log_dir, since=datetime.fromtimestamp(T + 3600, UTC), number="151") == (0, 0)


def test_records_check_lists_what_differs_between_the_store_and_master_csv(
    db_url: str, files: tuple[Path, Path]
) -> None:
    """`hotline records check`: agree -> exit 0; a lost record, a record Asterisk never logged and a wrong
    caller number -> exit 1, each listed by linkedid."""
    _, master = files
    parser = build_parser()  # `hotline records check` beside the plain `hotline records`
    settings = Settings(db_url=db_url)  # the 151 profile: its number, Asia/Kuwait
    upgrade(db_url)
    import_files(db_url, None, master, "Asia/Kuwait", "151")
    argv = ["records", "check", "--from", "2021-03-01", "--to", "2021-03-01", "--cdr-csv", str(master),
            "--timezone", "Asia/Kuwait"]  # fmt: skip
    out = io.StringIO()
    assert parser.parse_args(argv).func(parser.parse_args(argv), settings, out, io.StringIO()) == 0, out.getvalue()
    assert "2 calls in both, 0 missing from the store, 0 not in Master.csv, 0 differences" in out.getvalue()

    engine = create_engine(sync_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM call_legs WHERE linkedid = :l"), {"l": f"{T}.15"})
        conn.execute(text("DELETE FROM call_records WHERE linkedid = :l"), {"l": f"{T}.15"})  # lost
        conn.execute(text("UPDATE call_records SET caller_number = '96559999999' WHERE linkedid = :l"),
                     {"l": f"{T}.1"})  # fmt: skip
        insert = (
            "INSERT INTO call_records (linkedid, started_at, outcome, kind) VALUES (:l, :s, 'abandoned_ivr', 'inbound')"
        )
        conn.execute(text(insert), {"l": "1614590000.77", "s": datetime.fromtimestamp(T + 900, UTC)})
    engine.dispose()
    out = io.StringIO()
    assert parser.parse_args(argv).func(parser.parse_args(argv), settings, out, io.StringIO()) == 1
    report = out.getvalue()
    assert "1 missing from the store, 1 not in Master.csv, 1 differences" in report, report
    assert f"missing  {T}.15  " in report and "96550000015" in report
    assert "unknown  1614590000.77" in report
    assert f"differs  {T}.1  caller_number: store '96559999999', Master.csv '96550000001'" in report
    out = io.StringIO()  # another day: nothing to compare, nothing differs
    argv[3:6] = ["2021-03-02", "--to", "2021-03-02"]
    assert parser.parse_args(argv).func(parser.parse_args(argv), settings, out, io.StringIO()) == 0
    assert "0 calls in both" in out.getvalue()
