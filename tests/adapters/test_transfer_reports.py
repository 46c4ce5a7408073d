"""Reports over transferred calls on SQLite and PostgreSQL (issue 12, the asterisk#759 problem): a transferred
call counts once, where it was first answered, live and imported, and each person's talk is their own legs'.

The live records are real Asterisk 22 captures replayed through the record builder (a blind transfer to
another queue, one to the technical-affairs destination, a softphone's REFER); the imported ones are the
queue_log and Master.csv lines Asterisk wrote for the same blind transfers. The SQL twin gives the same numbers
as the pure reference on both databases.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.streams import ami_stream, replay

from cdr.builder import CallRecord, Leg, Outcome, RecordBuilder
from cdr.db import RecordStore, aggregate_sql, people_figures_sql
from cdr.importer import calls_from_cdr_csv, calls_from_queue_log, import_files, parse_queue_log
from cdr.reports import PersonMeasures, RecordFacts, aggregate, by_queue, people_figures
from storage.engine import upgrade
from telephony.clock import utc

# What Asterisk 22 wrote for the two captured blind transfers (tests/support/ami_streams/blind_transfer_*.txt):
# its queue_log and its Master.csv (cdr_csv with loguniqueid and usegmtime), the lines of those two calls.
LOGS = Path(__file__).resolve().parents[1] / "support" / "asterisk_logs"
QUEUE_LOG = (LOGS / "transfers.queue_log").read_text(encoding="utf-8")
MASTER_CSV = (LOGS / "transfers.Master.csv").read_text(encoding="utf-8")


def live_records() -> list[CallRecord]:
    records: list[CallRecord] = []
    for name in ("blind_transfer_to_queue", "blind_transfer_to_destination", "refer_transfer_to_queue"):
        records += replay(ami_stream(name), RecordBuilder(number="151", context="hotline-inbound"))
    assert len(records) == 3
    return records


def legless(record: CallRecord) -> CallRecord:
    """A record as revision 0008 stored it: no legs (counted under its agent)."""
    return replace(record, linkedid=record.linkedid + "-old", legs=(), transferred_to=None)


def expected_people(records: list[CallRecord]) -> dict[tuple[str, str], PersonMeasures]:
    return people_figures([RecordFacts.of(r) for r in records])


async def test_live_transferred_calls_count_once_where_first_answered_with_the_talk_split(db_url: str) -> None:
    upgrade(db_url)
    records = live_records()
    old = legless(records[0])
    async with RecordStore(db_url) as store:
        assert await store.add_many([*records, old]) == 4
        agg = await store.aggregates(60, 20.0)
        people = await store.people_figures()

    queues = by_queue(agg)
    assert set(queues) == {"ar-general", "ar-virus"}  # never in ar-complaints, where two of them went on to
    assert (queues["ar-general"].offered, queues["ar-general"].answered, queues["ar-general"].transferred) == (3, 3, 2)
    assert (queues["ar-virus"].offered, queues["ar-virus"].answered, queues["ar-virus"].transferred) == (1, 1, 1)
    first_talk = sum(r.legs[0].talk_seconds or 0.0 for r in records) + (old.talk_seconds or 0.0)
    assert sum(m.talk_sum for m in queues.values()) == pytest.approx(first_talk)  # the first answers' talk
    pure = aggregate([RecordFacts.of(r) for r in [*records, old]], 60, 20.0)
    assert agg.groups == pure.groups and agg.agents_by_bucket == pure.agents_by_bucket

    # per person: each call once, each one's own legs' talk (the legless record under its agent)
    assert people == expected_people([*records, old])
    to_queue, to_destination, by_refer = records
    assert people[("person", "agent-ar-2")] == PersonMeasures(
        calls=4,
        first_answers=4,
        transfers_in=0,
        talk_sum=pytest.approx(sum(r.legs[0].talk_seconds or 0.0 for r in records) + (old.talk_seconds or 0.0)),
    )
    assert people[("person", "agent-ar-3")] == PersonMeasures(
        calls=2,
        first_answers=0,
        transfers_in=2,
        talk_sum=pytest.approx((to_queue.legs[1].talk_seconds or 0.0) + (by_refer.legs[1].talk_seconds or 0.0)),
    )
    assert people[("destination", "technical-affairs")] == PersonMeasures(
        1, 0, 1, pytest.approx(to_destination.legs[1].talk_seconds)
    )
    assert people_figures_sql(db_url) == people
    assert aggregate_sql(db_url, 60, 20.0).groups == agg.groups


async def test_people_figures_follow_the_period_of_the_calls_start(db_url: str) -> None:
    upgrade(db_url)
    records = live_records()
    async with RecordStore(db_url) as store:
        await store.add_many(records)
        first = min(r.started_at for r in records)
        after_first = first + timedelta(seconds=1)
        assert await store.people_figures(end=after_first) == people_figures(
            [RecordFacts.of(r) for r in records], end=after_first
        )
        assert await store.people_figures(start=after_first) == people_figures(
            [RecordFacts.of(r) for r in records], start=after_first
        )
        assert (await store.people_figures(end=after_first))[("person", "agent-ar-3")].calls == 1
        assert await store.people_figures(start=datetime(2030, 1, 1, tzinfo=UTC)) == {}


async def test_a_person_on_two_legs_of_one_call_counts_the_call_once_with_both_talks(db_url: str) -> None:
    """agent-ar-2 transfers the caller to the control room for a conference and comes back on the call."""
    upgrade(db_url)
    t = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    record = replace(
        live_records()[0],
        linkedid="1796200000.1",
        legs=(
            Leg("person", "agent-ar-2", "ar-general", t, t + timedelta(seconds=30), 30.0),
            Leg("person", "agent-ar-3", "ar-complaints", t + timedelta(seconds=31), t + timedelta(seconds=50), 19.0,
                "blind"),
            Leg("person", "agent-ar-2", "ar-general", t + timedelta(seconds=51), t + timedelta(seconds=60), 9.0,
                "attended"),
        ),
    )  # fmt: skip
    async with RecordStore(db_url) as store:
        await store.add(record)
        people = await store.people_figures()
    assert people[("person", "agent-ar-2")] == PersonMeasures(1, 1, 1, 39.0)
    assert people == people_figures([RecordFacts.of(record)])


def test_imported_queue_log_and_master_csv_count_a_transferred_call_once_with_its_legs(
    db_url: str, tmp_path: Path
) -> None:
    queue_log, master = tmp_path / "queue_log", tmp_path / "Master.csv"
    queue_log.write_text(QUEUE_LOG, encoding="utf-8")
    master.write_text(MASTER_CSV, encoding="utf-8")
    upgrade(db_url)

    assert import_files(db_url, queue_log, master, "UTC", "151") == (2, 2)
    assert import_files(db_url, queue_log, master, "UTC", "151") == (2, 0)  # again: nothing, legs not doubled

    agg = aggregate_sql(db_url, 60, 20.0)
    queues = by_queue(agg)
    assert set(queues) == {"ar-general"}
    assert (queues["ar-general"].offered, queues["ar-general"].answered, queues["ar-general"].transferred) == (2, 2, 2)
    assert queues["ar-general"].talk_sum == 4 + 2  # the first answers' call times (BLINDTRANSFER's calltime)
    people = people_figures_sql(db_url)
    assert people == {
        ("person", "agent-ar-2"): PersonMeasures(2, 2, 0, 6.0),
        ("person", "agent-ar-3"): PersonMeasures(1, 0, 1, 12.0),
        ("destination", "technical-affairs"): PersonMeasures(1, 0, 1, 13.0),
    }


async def test_imported_legs_read_back_like_live_ones(db_url: str, tmp_path: Path) -> None:
    queue_log, master = tmp_path / "queue_log", tmp_path / "Master.csv"
    queue_log.write_text(QUEUE_LOG, encoding="utf-8")
    master.write_text(MASTER_CSV, encoding="utf-8")
    upgrade(db_url)
    import_files(db_url, queue_log, master, "UTC", "151")

    async with RecordStore(db_url) as store:
        to_queue = await store.get("1796215480.1")
        to_destination = await store.get("1796215516.8")
    assert to_queue is not None and to_destination is not None
    assert (to_queue.queue, to_queue.agent, to_queue.talk_seconds, to_queue.transferred_to) == (
        "ar-general", "agent-ar-2", 4.0, "ar-complaints")  # fmt: skip
    assert to_queue.legs == (
        Leg("person", "agent-ar-2", "ar-general", utc(1796215484), utc(1796215488), 4.0),
        Leg("person", "agent-ar-3", "ar-complaints", utc(1796215488), utc(1796215500), 12.0, "blind"),
    )
    assert to_destination.transferred_to == "technical-affairs"
    assert to_destination.legs == (
        Leg("person", "agent-ar-2", "ar-general", utc(1796215520), utc(1796215522), 2.0),
        Leg("destination", "technical-affairs", None, utc(1796215522), utc(1796215535), 13.0, "blind"),
    )


async def test_an_import_never_adds_legs_to_a_live_record_that_has_its_own(db_url: str, tmp_path: Path) -> None:
    """The gap import at start reads the same calls the live path stored: their legs stay the live ones."""
    upgrade(db_url)
    live = live_records()[:2]
    async with RecordStore(db_url) as store:
        await store.add_many(live)
    queue_log, master = tmp_path / "queue_log", tmp_path / "Master.csv"
    queue_log.write_text(QUEUE_LOG, encoding="utf-8")
    master.write_text(MASTER_CSV, encoding="utf-8")

    assert import_files(db_url, queue_log, master, "UTC", "151") == (2, 0)

    async with RecordStore(db_url) as store:
        assert [r.legs for r in await store.list_records()] == [r.legs for r in live]


def test_the_master_csv_of_a_transfer_keeps_the_call_and_finds_the_destination() -> None:
    """A transfer re-stamps the caller's CDR rows with the code keyed (7001, 9001): still the hotline's call."""
    calls = calls_from_cdr_csv(MASTER_CSV.splitlines(), "UTC", number="151")
    assert set(calls) == {"1796215480.1", "1796215516.8"}
    assert calls["1796215480.1"]["legs"] == []
    (leg,) = calls["1796215516.8"]["legs"]
    assert (leg["kind"], leg["target"], leg["talk_seconds"]) == ("destination", "technical-affairs", 13.0)
    other = (
        '"","200","300","internal","","PJSIP/200-04","PJSIP/300-05","Dial","PJSIP/300","2026-12-02 12:50:00",'
        '"2026-12-02 12:50:01","2026-12-02 12:50:40",40,39,"ANSWERED","DOCUMENTATION","1796215800.20",""'
    )  # another number of the same Asterisk
    assert set(calls_from_cdr_csv([*MASTER_CSV.splitlines(), other], "UTC", number="151")) == set(calls)
    queue_calls = calls_from_queue_log(parse_queue_log(QUEUE_LOG.splitlines()))
    assert queue_calls["1796215480.1"]["outcome"] == "answered"
    assert [leg["how"] for leg in queue_calls["1796215480.1"]["legs"]] == [None, "blind"]


def test_a_record_fact_carries_its_legs() -> None:
    record = live_records()[0]
    facts = RecordFacts.of(record)
    assert [(leg.kind, leg.target, leg.how) for leg in facts.legs] == [
        ("person", "agent-ar-2", None),
        ("person", "agent-ar-3", "refer"),
    ]
    assert RecordFacts.of(replace(record, outcome=Outcome.ANSWERED, legs=())).legs == ()


def test_the_report_shows_each_persons_own_talk_in_text_html_and_json(db_url: str, tmp_path: Path) -> None:
    from cdr.cli import build_report_from_db
    from cdr.report_output import render_html, render_text
    from cdr.reports import report_to_dict

    queue_log, master = tmp_path / "queue_log", tmp_path / "Master.csv"
    queue_log.write_text(QUEUE_LOG, encoding="utf-8")
    master.write_text(MASTER_CSV, encoding="utf-8")
    upgrade(db_url)
    import_files(db_url, queue_log, master, "UTC", "151")

    report = build_report_from_db(db_url, 60)

    assert [(row.kind, row.target, row.measures.talk_sum) for row in report.people] == [
        ("person", "agent-ar-3", 12.0),
        ("person", "agent-ar-2", 6.0),
        ("destination", "technical-affairs", 13.0),
    ]
    assert report.totals.offered == 2  # each transferred call once
    text = render_text(report)
    assert "By person" in text and "technical-affairs" in text
    assert 'id="people"' in render_html(report) and "agent-ar-3" in render_html(report)
    people = report_to_dict(report)["people"]
    assert people[0] == {"kind": "person", "id": "agent-ar-3", "calls": 1, "first_answers": 0, "transfers_in": 1,
                         "talk_sum": 12.0, "mean_talk": 12.0}  # fmt: skip


async def test_the_people_a_call_went_on_to_count_in_the_occupancy_not_in_the_aht(db_url: str) -> None:
    from cdr.reports import ReportParams, build_report

    upgrade(db_url)
    records = live_records()
    async with RecordStore(db_url) as store:
        await store.add_many(records)
        agg = await store.aggregates(60, 20.0)
    onward = sum(leg.talk_seconds or 0.0 for r in records for leg in r.legs[1:] if leg.kind == "person")
    assert onward > 0
    totals = build_report(agg, ReportParams(60, 20.0)).totals
    assert totals.onward_talk_sum == pytest.approx(onward)  # agent-ar-3's two calls (not the destination)
    assert totals.handle_sum == pytest.approx(sum(r.talk_seconds or 0.0 for r in records) + onward)
    assert totals.aht == pytest.approx(sum(r.talk_seconds or 0.0 for r in records) / 3)  # the first answers'
    assert agg.groups == aggregate([RecordFacts.of(r) for r in records], 60, 20.0).groups


# -- attended transfers by the phone's keys (*2 and a code): real captures of Asterisk 22 -------------------
# tests/support/ami_streams/attended_transfer_to_{destination,queue}.txt and the logs Asterisk wrote for them.
ATTENDED_QUEUE_LOG = (LOGS / "attended_transfers.queue_log").read_text(encoding="utf-8")
ATTENDED_MASTER_CSV = (LOGS / "attended_transfers.Master.csv").read_text(encoding="utf-8")


def test_imported_attended_transfers_count_once_although_asterisk_logs_the_consultation_as_a_call(
    db_url: str, tmp_path: Path
) -> None:
    """asterisk#759 as Asterisk 22 still logs it: the consulted person's ENTERQUEUE/CONNECT in ar-complaints under
    the consultation's callid; the CDR's Local channel rows tie it back to the caller's call."""
    queue_log, master = tmp_path / "queue_log", tmp_path / "Master.csv"
    queue_log.write_text(ATTENDED_QUEUE_LOG, encoding="utf-8")
    master.write_text(ATTENDED_MASTER_CSV, encoding="utf-8")
    upgrade(db_url)

    assert import_files(db_url, queue_log, master, "UTC", "151") == (2, 2)

    queues = by_queue(aggregate_sql(db_url, 60, 20.0))
    assert {q: (m.offered, m.answered, m.transferred) for q, m in queues.items()} == {"ar-virus": (2, 2, 2)}
    assert people_figures_sql(db_url) == {
        ("person", "agent-ar-2"): PersonMeasures(2, 2, 0, 20.0),  # ATTENDEDTRANSFER's call time, 10 s each
        ("person", "agent-ar-3"): PersonMeasures(1, 0, 1, 18.0),
        ("destination", "technical-affairs"): PersonMeasures(1, 0, 1, 18.0),
    }


async def test_live_attended_transfers_by_the_phones_keys_have_the_consulted_leg(db_url: str) -> None:
    upgrade(db_url)
    records = []
    for name in ("attended_transfer_to_destination", "attended_transfer_to_queue"):
        records += replay(ami_stream(name), RecordBuilder(number="151", context="hotline-inbound"))
    async with RecordStore(db_url) as store:
        await store.add_many(records)
        queues = by_queue(await store.aggregates(60, 20.0))
        people = await store.people_figures()
    assert {q: (m.offered, m.answered, m.transferred) for q, m in queues.items()} == {"ar-virus": (2, 2, 2)}
    assert people == people_figures([RecordFacts.of(r) for r in records])
    assert people[("person", "agent-ar-3")].transfers_in == 1
    assert people[("destination", "technical-affairs")].calls == 1
