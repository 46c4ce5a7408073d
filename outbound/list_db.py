"""Contact lists and the do-not-call list in the database (rows: outbound/rows.py; schema: migration 0011).

* **All or nothing**: ``import_csv`` reads the whole file first (``outbound.lists.parse_csv``); one bad row
  and it raises ``ImportRefused`` with every error, having written nothing (not even a new list). A good
  file is applied in ONE writing transaction (``BEGIN IMMEDIATE`` on SQLite; the list's row locked
  ``FOR UPDATE`` on PostgreSQL, so two imports of one list run one after the other).
* **Idempotent**: the same file (its SHA-256) imported again into the same list, while the list holds just
  what it put there, changes nothing and writes nothing (``unchanged=True``).
* **A new file replaces the list's content**: a new number is added, a changed person (name, language,
  district, free fields) updated, a number no longer in the file gets ``removed_at`` (the row stays: its
  attempts refer to it) and is restored when a later file has it again (counted as added). Each applied
  import leaves a ``contact_imports`` row with its counts (a file applied again after another one updates
  its own row: one row per file and list).
* **Do-not-call**: numbers of the profile's ``outbound.do_not_call`` and of the table, compared in one
  form (``outbound.lists.dnc_key``: ``+91…``, ``0091…`` and ``91…`` are one number).

Times are aware UTC datetimes. Each method is one session and one transaction. Call
``storage.engine.upgrade(url)`` before opening a store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outbound.lists import (
    MAX_CHARS,
    ContactLine,
    ImportRefused,
    ParsedList,
    RowError,
    check_list_name,
    dnc_forms,
    dnc_key,
    fields_json,
    parse_csv,
)
from outbound.model import Contact
from outbound.rows import ContactImportRow, ContactListRow, ContactRow, DoNotCallRow
from profiles.model import Profile
from profiles.numbers import Reason, check_allowed
from storage.engine import Database

__all__ = ["ContactList", "DncEntry", "ImportRefused", "ImportResult", "ListStore", "RowError"]

_CHUNK = 500  # ids per IN (...): well under SQLite's and PostgreSQL's limits on parameters


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: the rows of the file, the people added (or restored), updated and removed."""

    list_id: int
    rows: int
    added: int
    updated: int
    removed: int
    unchanged: bool  # the same file again: nothing written
    dnc: int = 0  # rows whose number is on the do-not-call list (imported, never dialled)


@dataclass(frozen=True, slots=True)
class ContactList:
    id: int
    name: str
    contacts: int  # people in the list now (not removed)
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DncEntry:
    number: str
    reason: str
    added_at: datetime | None  # None for the profile's
    added_by: str  # a console user, "cli", or "profile"


def _contact(row: ContactRow) -> Contact:
    try:
        fields = json.loads(row.fields)
    except ValueError:
        fields = {}
    return Contact(
        id=row.id,
        list_id=row.list_id,
        number=row.number,
        name=row.name,
        language=row.language,
        district=row.district,
        fields=fields if isinstance(fields, dict) else {},
        line=row.line,
    )


def _values(line: ContactLine) -> dict[str, Any]:
    """A file's row as the columns it sets (``line`` apart: a row that only moved is not "updated")."""
    return {
        "name": line.name,
        "language": line.language,
        "district": line.district,
        "fields": fields_json(line.fields),
    }


def _clip(text: str, limit: int) -> str:
    """Text for a column of ``limit`` characters: control characters dropped, cut to the limit."""
    return "".join(c for c in text if c.isprintable())[:limit] or "-"


def _chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class ListStore:
    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    # -- lists -------------------------------------------------------------------------------------

    async def import_csv(
        self, name: str, data: bytes, *, filename: str, by: str, profile: Profile, now: datetime
    ) -> ImportResult:
        """Make the list ``name`` (created if new) hold the people of the CSV file ``data``; see the module.
        Raises ``ImportRefused`` with every error (nothing written) when the name or any row is bad."""
        if (why := check_list_name(name)) is not None:
            raise ImportRefused([RowError(0, why)])
        parsed = parse_csv(data, profile, dnc=await self._dnc_numbers())
        if not parsed.ok:
            raise ImportRefused(parsed.errors)
        for attempt in (1, 2):
            try:
                async with self.db.writers.begin() as session:
                    return await self._apply(session, name, parsed, filename=filename, by=by, now=now)
            except IntegrityError:  # a list of this name was created meanwhile (PostgreSQL): once more, locked
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _apply(
        self, session: AsyncSession, name: str, parsed: ParsedList, *, filename: str, by: str, now: datetime
    ) -> ImportResult:
        found = await session.scalar(select(ContactListRow).where(ContactListRow.name == name).with_for_update())
        if found is None:
            found = ContactListRow(name=name, created_at=now, updated_at=now)
            session.add(found)
            await session.flush()
        list_row = found
        rows = {row.number: row for row in await session.scalars(
            select(ContactRow).where(ContactRow.list_id == list_row.id)
        )}  # fmt: skip
        added: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []  # updated or restored, counted apart below
        restored = updated = 0
        in_file = set()
        for line in parsed.contacts:
            in_file.add(line.number)
            values = _values(line)
            row = rows.get(line.number)
            if row is None:
                added.append({"list_id": list_row.id, "number": line.number, "line": line.line,
                              "updated_at": now, "removed_at": None, **values})  # fmt: skip
                continue
            differs = any(getattr(row, column) != value for column, value in values.items())
            if row.removed_at is not None:
                restored += 1
            elif differs:
                updated += 1
            elif row.line == line.line:
                continue
            touched = now if differs or row.removed_at is not None else row.updated_at
            changed.append({"id": row.id, "line": line.line, "removed_at": None, "updated_at": touched, **values})
        gone = [row.id for number, row in rows.items() if row.removed_at is None and number not in in_file]
        previous = await session.scalar(
            select(ContactImportRow).where(
                ContactImportRow.list_id == list_row.id, ContactImportRow.sha256 == parsed.sha256
            )
        )
        if previous is not None and not (added or changed or gone):
            return ImportResult(list_row.id, len(parsed.contacts), 0, 0, 0, unchanged=True, dnc=parsed.dnc)
        if added:
            await session.execute(insert(ContactRow), added)
        if changed:  # by primary key, many at once
            await session.execute(update(ContactRow), changed)
        for ids in _chunks(gone):
            await session.execute(update(ContactRow).where(ContactRow.id.in_(ids)).values(removed_at=now))
        counts = {
            "rows": len(parsed.contacts),
            "added": len(added) + restored,
            "updated": updated,
            "removed": len(gone),
        }
        record = {"filename": _clip(filename, 255), "imported_at": now, "imported_by": _clip(by, 128), **counts}
        if previous is None:
            session.add(ContactImportRow(list_id=list_row.id, sha256=parsed.sha256, **record))
        else:  # this file again after another one: one row per file and list (unique), brought up to date
            for column, value in record.items():
                setattr(previous, column, value)
        list_row.updated_at = now
        return ImportResult(list_row.id, unchanged=False, dnc=parsed.dnc, **counts)

    async def lists(self) -> list[ContactList]:
        """Every list, by name, with the number of people in it now."""
        people = (
            select(ContactRow.list_id, func.count().label("n"))
            .where(ContactRow.removed_at.is_(None))
            .group_by(ContactRow.list_id)
            .subquery()
        )
        query = (
            select(ContactListRow, func.coalesce(people.c.n, 0))
            .outerjoin(people, people.c.list_id == ContactListRow.id)
            .order_by(ContactListRow.name)
        )
        async with self.db.readers() as session:
            return [
                ContactList(row.id, row.name, int(count), row.updated_at)
                for row, count in (await session.execute(query)).all()
            ]

    async def list_id(self, name: str) -> int | None:
        async with self.db.readers() as session:
            return await session.scalar(select(ContactListRow.id).where(ContactListRow.name == name))

    async def contacts(self, list_name: str) -> list[Contact]:
        """The people of a list now (not removed), in the order of its file."""
        query = (
            select(ContactRow)
            .join(ContactListRow, ContactListRow.id == ContactRow.list_id)
            .where(ContactListRow.name == list_name, ContactRow.removed_at.is_(None))
            .order_by(ContactRow.line, ContactRow.id)
        )
        async with self.db.readers() as session:
            return [_contact(row) for row in await session.scalars(query)]

    async def contact(self, contact_id: int) -> Contact | None:
        """A person by id, also one removed from their list since (their attempts refer to them)."""
        async with self.db.readers() as session:
            row = await session.get(ContactRow, contact_id)
            return None if row is None else _contact(row)

    # -- do-not-call -------------------------------------------------------------------------------

    async def add_dnc(self, number: str, reason: str, *, by: str, now: datetime) -> DncEntry:
        """Put ``number`` on the do-not-call list (any number: it need not be one hotline may dial). Already
        there (in any spelling): the entry as it is. Raises ``ValueError`` for no number or no reason."""
        check = check_allowed(number, ())
        if check.reason in (Reason.EMPTY, Reason.NOT_DIGITS) or len(check.number) > MAX_CHARS["number"]:
            raise ValueError(f"not a phone number: {number!r}")
        reason = reason.strip()
        if not reason or not reason.isprintable():
            raise ValueError("a reason is needed, on one line")
        async with self.db.writers.begin() as session:
            row = await session.scalar(select(DoNotCallRow).where(DoNotCallRow.number.in_(dnc_forms(check.number))))
            if row is None:
                row = DoNotCallRow(
                    number=check.number, reason=_clip(reason, 255), added_at=now, added_by=_clip(by, 128)
                )
                session.add(row)
            return DncEntry(row.number, row.reason, row.added_at, row.added_by)

    async def remove_dnc(self, number: str) -> bool:
        """Take ``number`` (in any spelling) off the table; False when it was not on it (the profile's
        numbers are changed in the profile)."""
        async with self.db.writers.begin() as session:
            result = await session.execute(
                delete(DoNotCallRow).where(DoNotCallRow.number.in_(dnc_forms(check_allowed(number, ()).number)))
            )
            return bool(getattr(result, "rowcount", 0))

    async def dnc(self) -> list[DncEntry]:
        """The table's numbers (added from the console or the CLI), oldest first."""
        query = select(DoNotCallRow).order_by(DoNotCallRow.added_at, DoNotCallRow.id)
        async with self.db.readers() as session:
            return [DncEntry(r.number, r.reason, r.added_at, r.added_by) for r in await session.scalars(query)]

    async def is_dnc(self, number: str, profile: Profile) -> bool:
        """Whether ``number`` may never be dialled: on the profile's ``outbound.do_not_call`` or the table."""
        key = dnc_key(number)
        if profile.outbound is not None and key in {dnc_key(n) for n in profile.outbound.do_not_call}:
            return True
        forms = dnc_forms(check_allowed(number, ()).number)
        async with self.db.readers() as session:
            return await session.scalar(select(DoNotCallRow.id).where(DoNotCallRow.number.in_(forms))) is not None

    async def _dnc_numbers(self) -> list[str]:
        async with self.db.readers() as session:
            return list(await session.scalars(select(DoNotCallRow.number)))
