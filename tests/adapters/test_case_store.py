"""Cases on real databases (SQLite file and PostgreSQL, via ``db_url``): the store under the case service.

Two services over two Database objects stand for two service instances sharing one database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cases.db import CaseStore
from cases.model import CaseError, CaseNotFound, StaleCase, check_digit, valid_number
from cases.rows import CaseHistoryRow, CaseLookupRow, CaseOutboxRow
from cases.service import CaseService
from profiles.model import load_profile
from storage.engine import Database, upgrade

PROFILE = load_profile(Path(__file__).resolve().parents[2] / "profiles" / "municipal-940.yaml")
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
CALLER = "0551234567"
UNKNOWN = "12345678" + check_digit("12345678")  # a valid number no case has


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(db_url: str, clock: Clock) -> AsyncIterator[CaseService]:
    upgrade(db_url)
    store = CaseStore(db_url)
    yield CaseService(PROFILE, store, clock=clock)
    await store.close()


async def open_one(service: CaseService, **changes: object) -> object:
    fields: dict[str, object] = {
        "category": "cleanliness",
        "description": "النفايات متراكمة أمام المدرسة",
        "caller_number": CALLER,
        "language": "ar",
        "actor": "reem",
        **changes,
    }
    return await service.open(**fields)  # type: ignore[arg-type]


async def count(db_url: str, row: type, **where: object) -> int:
    async with Database(db_url) as db, db.readers() as session:
        query = select(func.count()).select_from(row)
        for name, value in where.items():
            query = query.where(getattr(row, name) == value)
        return int(await session.scalar(query) or 0)


async def test_a_case_is_created_with_a_valid_number_its_department_and_due_time_and_read_back(service):
    case = await service.open(
        category="cleanliness",
        description=" rubbish ",
        caller_number=CALLER,
        language="ar",
        actor="reem",
        district="al_shati",
        location="شارع الملك فهد",
        linkedid="1700000000.1",
    )
    assert valid_number(case.number) and len(case.pin) == 4
    assert case.status == "open" and case.version == 1 and case.description == "rubbish"
    assert case.department == "cleaning" and case.due_at == T0 + timedelta(hours=24)
    assert case.linkedids == ("1700000000.1",)
    stored = await service.get(case.number)
    assert stored == case
    assert [c.number for c in await service.opened_on_call("1700000000.1")] == [case.number]
    history = await service.history(case.number)
    assert [(h.actor, h.action, h.new) for h in history] == [("reem", "created", "open")]
    with pytest.raises(CaseNotFound):
        await service.get("123456789")


async def test_a_category_without_a_department_gets_the_default_and_a_given_one_wins(service):
    other = await open_one(service, category="parks", department="follow_up")
    assert other.department == "follow_up"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"category": "weather"}, "category"),
        ({"description": "x" * 2001}, "description"),
        ({"description": ""}, "description"),
        ({"location": "y" * 201}, "location"),
        ({"district": "riyadh"}, "district"),
        ({"department": "police"}, "department"),
        ({"linkedid": ""}, "linkedid"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(service, db_url, changes, field):
    with pytest.raises(CaseError) as refused:
        await open_one(service, **changes)
    assert refused.value.field == field
    assert await service.list() == []


async def test_a_number_collision_draws_another_number(service, clock):
    first = await open_one(service)
    report_case = await service.get(first.number)
    drawn = iter([first.number, first.number, UNKNOWN])

    def make():
        return new_case_like(report_case, next(drawn))

    again = await service.store.create(make)
    assert again.number == UNKNOWN and (await service.get(UNKNOWN)).category == "cleanliness"


def new_case_like(case, number):
    from dataclasses import replace

    return replace(case, number=number, linkedids=())


async def test_lists_filter_by_category_department_status_caller_and_overdue(service, clock):
    clean = await open_one(service)
    clock.advance(minutes=1)
    road = await open_one(service, category="roads_networks", caller_number="0550000000")
    clock.advance(minutes=1)
    lamp = await open_one(service, category="lighting_signs")
    await service.change(lamp.number, version=1, actor="sara", status="closed", reason="lamp replaced")
    numbers = lambda cases: [c.number for c in cases]  # noqa: E731
    assert numbers(await service.list()) == [lamp.number, road.number, clean.number]  # newest first
    assert numbers(await service.list(category="roads_networks")) == [road.number]
    assert numbers(await service.list(department="cleaning")) == [clean.number]
    assert numbers(await service.list(status="closed")) == [lamp.number]
    assert numbers(await service.list(caller_number="0550000000")) == [road.number]
    assert numbers(await service.list(limit=1, offset=1)) == [road.number]
    assert await service.list(overdue=True) == []
    clock.advance(hours=25)  # cleanliness is due after 24 hours; roads after 72; the closed lamp never
    assert numbers(await service.list(overdue=True)) == [clean.number]
    assert numbers(await service.list(overdue=False)) == [lamp.number, road.number]
    clock.advance(hours=72)
    assert numbers(await service.list(overdue=True)) == [road.number, clean.number]
    for bad in ({"status": "done"}, {"category": "weather"}, {"department": "police"}, {"limit": 0}):
        with pytest.raises(CaseError):
            await service.list(**bad)


async def test_a_change_needs_the_current_version_and_leaves_history(service, db_url, clock):
    case = await open_one(service)
    clock.advance(minutes=5)
    assigned = await service.change(case.number, version=1, actor="sara", status="assigned", department="roads",
                                    note="a roads matter")  # fmt: skip
    assert assigned.version == 2 and assigned.status == "assigned" and assigned.department == "roads"
    with pytest.raises(StaleCase) as stale:
        await service.change(case.number, version=1, actor="omar", status="rejected", reason="duplicate")
    assert stale.value.current == await service.get(case.number) and stale.value.current.version == 2
    with pytest.raises(CaseError, match="needs a reason"):
        await service.change(case.number, version=2, actor="omar", status="closed")
    clock.advance(minutes=5)
    closed = await service.change(case.number, version=2, actor="omar", status="closed", reason="cleaned")
    assert closed.closed_at == clock.now and closed.reason == "cleaned"
    history = [(h.actor, h.action, h.old, h.new, h.note) for h in await service.history(case.number)]
    assert history == [
        ("reem", "created", None, "open", None),
        ("sara", "status", "open", "assigned", None),
        ("sara", "department", "cleaning", "roads", None),
        ("sara", "note", None, None, "a roads matter"),
        ("omar", "status", "assigned", "closed", "cleaned"),
    ]
    reopened = await service.change(case.number, version=3, actor="omar", status="open", reason="came back")
    assert reopened.closed_at is None and reopened.version == 4
    with pytest.raises(CaseNotFound):
        await service.change(UNKNOWN, version=1, actor="x", note="n")


async def test_two_instances_changing_the_same_version_at_once_one_wins_the_other_gets_stale(service, db_url, clock):
    case = await open_one(service)
    other_store = CaseStore(db_url)
    other = CaseService(PROFILE, other_store, clock=clock)
    try:
        for round_ in range(5):
            version = (await service.get(case.number)).version
            results = await asyncio.gather(
                service.change(case.number, version=version, actor="sara", note=f"sara {round_}"),
                other.change(case.number, version=version, actor="omar", note=f"omar {round_}"),
                return_exceptions=True,
            )
            won = [r for r in results if not isinstance(r, BaseException)]
            lost = [r for r in results if isinstance(r, StaleCase)]
            assert len(won) == 1 and len(lost) == 1, results
            assert won[0].version == version + 1 and lost[0].current.version == version + 1
    finally:
        await other_store.close()
    notes = [h.note for h in await service.history(case.number) if h.action == "note"]
    assert len(notes) == 5  # one per round: the loser changed nothing
    assert await count(db_url, CaseHistoryRow) == 6


async def test_linking_a_call_is_idempotent_and_leaves_one_history_row(service):
    case = await open_one(service)
    linked = await service.link_call(case.number, "1700000001.7", "reem")
    again = await service.link_call(case.number, "1700000001.7", "reem")
    assert linked.linkedids == again.linkedids == ("1700000001.7",)
    assert linked.version == case.version  # a linked call is no edit of the case: nobody's version goes stale
    assert [h.action for h in await service.history(case.number)] == ["created", "call"]
    assert await service.opened_on_call("1700000001.7") == []  # linked later, not opened on it
    with pytest.raises(CaseNotFound):
        await service.link_call(UNKNOWN, "1700000001.7", "reem")
    with pytest.raises(CaseError):
        await service.link_call(case.number, "x" * 151, "reem")


async def test_follow_answers_found_not_found_bad_check_digit_and_is_rate_limited_per_caller(service, db_url, clock):
    case = await open_one(service)
    assert (await service.follow(case.number, caller_number=CALLER)).case == case
    assert (await service.follow(case.number, caller_number="0559999999", pin=case.pin)).kind == "found"
    wrong_pin = await service.follow(
        case.number, caller_number="0559999999", pin="0000" if case.pin != "0000" else "1111"
    )
    unknown = await service.follow(UNKNOWN, caller_number="0559999999")
    assert wrong_pin.kind == unknown.kind == "not_found" and wrong_pin.case is None
    typo = case.number[:3] + str((int(case.number[3]) + 1) % 10) + case.number[4:]
    assert (await service.follow(typo, caller_number="0559999999")).kind == "bad_check_digit"
    assert (await service.follow("12345", caller_number="0559999999")).kind == "bad_check_digit"
    # 0559999999 made 3 counted lookups (the bad check digits are refused before any lookup); the limit is 5
    assert await count(db_url, CaseLookupRow, caller_number="0559999999") == 3
    answers = [(await service.follow(case.number, caller_number="0559999999", pin=case.pin)).kind for _ in range(4)]
    assert answers == ["found", "found", "too_many", "too_many"]
    assert (await service.follow(case.number, caller_number=CALLER)).kind == "found"  # another number is free
    clock.advance(minutes=61)
    assert (await service.follow(case.number, caller_number="0559999999", pin=case.pin)).kind == "found"


async def test_a_lookup_flood_from_one_number_in_parallel_never_passes_the_limit(service, db_url):
    case = await open_one(service)
    other_store = CaseStore(db_url)
    other = CaseService(PROFILE, other_store)
    try:
        other.clock = service.clock
        answers = await asyncio.gather(
            *((service if i % 2 else other).follow(case.number, caller_number="0557777777") for i in range(20))
        )
    finally:
        await other_store.close()
    kinds = [a.kind for a in answers]
    assert kinds.count("not_found") == PROFILE.cases.max_lookups_per_number_per_hour
    assert kinds.count("too_many") == 20 - PROFILE.cases.max_lookups_per_number_per_hour


async def test_without_webhook_receivers_no_outbox_rows_are_written(service, db_url):
    case = await open_one(service)
    await service.change(case.number, version=1, actor="sara", status="in_progress")
    assert await count(db_url, CaseOutboxRow) == 0
