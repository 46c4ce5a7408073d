"""Campaign attempts and alerts in the database, claimed exactly once.

Rows: outbound/rows.py; schema: the migrations in storage/migrations (0011).

The guarantees, and how they are kept:

* **A person is called at most once per attempt number of a day, whatever the number of instances**: an attempt is
  a row unique on (campaign, contact, day, number). ``claim`` reads the person's attempts of the day and inserts the
  next one in ONE writing transaction, serialised per campaign: on PostgreSQL by a transaction-scoped advisory lock
  on the campaign (a second instance waits, then sees the first one's attempts), on SQLite by ``BEGIN IMMEDIATE``.
  A person whose day is not PENDING (reached, in flight, unknown, refused, attempts used up) or whose backoff has
  not passed is never claimed. The cap on concurrent calls is checked in the same transaction (every instance's
  calls in flight counted).
* **Write-ahead dialling**: ``mark_dialled`` stamps ``dialed_at`` BEFORE the Originate is sent. ``recover`` closes an
  instance's attempts left in flight: dialled and not answered -> UNKNOWN (never dialled again that day); claimed and
  never dialled -> the row is deleted (nobody was called: the attempt number is claimed again); answered and not
  ended -> ended now (the person is reached).
* An attempt is *in flight* until it ends (``ended_at``): claimed, ringing, or answered and in the script. One a
  person of the doctor queue took (``agent``) no longer holds a free person for the pacing.

Times are aware UTC datetimes. Each method is one session and one transaction.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outbound.list_db import ListStore
from outbound.model import Action, Alert, Attempt, Contact, DayState, Outcome, day_state, next_attempt_at
from outbound.rows import CampaignAlertRow, CampaignAttemptRow, ContactRow
from profiles.model import Campaign
from storage.engine import Database

__all__ = ["CampaignStore", "Claimed", "DayFigures"]


@dataclass(frozen=True)
class Claimed:
    """An attempt this instance claimed, with the person it calls."""

    contact: Contact
    attempt: Attempt


@dataclass(frozen=True)
class DayFigures:
    """A campaign's day, person by person (each counted once, by their day state) and key by key."""

    reached: int = 0
    not_reached: int = 0
    pending: int = 0
    in_flight: int = 0
    unknown: int = 0
    refused: int = 0
    well: int = 0
    doctor: int = 0
    emergency: int = 0
    no_key: int = 0
    attempts: int = 0


def campaign_lock(campaign: str) -> int:
    """The PostgreSQL advisory lock (transaction scope) that serialises the claims of one campaign."""
    return 0x0B0000000 + zlib.crc32(campaign.encode())


def _contact(row: ContactRow) -> Contact:
    try:
        fields = json.loads(row.fields) if row.fields else {}
    except ValueError:
        fields = {}
    return Contact(
        id=row.id,
        list_id=row.list_id,
        number=row.number,
        name=row.name,
        language=row.language,
        district=row.district,
        fields={str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
        line=row.line,
    )


def _attempt(row: CampaignAttemptRow) -> Attempt:
    return Attempt(
        id=row.id,
        campaign=row.campaign,
        contact_id=row.contact_id,
        day=row.day,
        number=row.number,
        claimed_at=row.claimed_at,
        claimed_by=row.claimed_by,
        dialed_at=row.dialed_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        outcome=None if row.outcome is None else Outcome(row.outcome),
        key=row.key,
        action=None if row.action is None else Action(row.action),
        agent=row.agent,
        linkedid=row.linkedid,
    )


def _alert(row: CampaignAlertRow) -> Alert:
    return Alert(
        id=row.id,
        campaign=row.campaign,
        attempt_id=row.attempt_id,
        contact_id=row.contact_id,
        number=row.number,
        name=row.name,
        raised_at=row.raised_at,
        linkedid=row.linkedid,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
    )


class CampaignStore:
    """Campaign attempts and alerts in SQLite or PostgreSQL. Several service instances may share one database;
    each passes its own stable ``instance`` name to ``claim`` and ``recover``."""

    def __init__(self, db: Database | str) -> None:
        self.db, self._owned = Database.of(db)
        self._dialect = self.db.dialect
        self.lists = ListStore(self.db)  # the people of the lists and the do-not-call list

    async def close(self) -> None:
        if self._owned:
            await self.db.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self.db.writers.begin() as session:
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self.db.readers() as session:
            yield session

    # -- contacts: the list store's ---------------------------------------------------------------------------

    async def contacts(self, list_name: str) -> list[Contact]:
        """The people of a list (not removed), in the file's order."""
        return await self.lists.contacts(list_name)

    async def contact(self, contact_id: int) -> Contact | None:
        return await self.lists.contact(contact_id)

    # -- a day's attempts ------------------------------------------------------------------------------------

    async def attempts(self, campaign: str, day: date) -> list[Attempt]:
        query = (
            select(CampaignAttemptRow)
            .where(CampaignAttemptRow.campaign == campaign, CampaignAttemptRow.day == day)
            .order_by(CampaignAttemptRow.id)
        )
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [_attempt(row) for row in rows]

    async def get_attempt(self, attempt_id: int) -> Attempt | None:
        async with self._read() as session:
            row = await session.get(CampaignAttemptRow, attempt_id)
        return None if row is None else _attempt(row)

    async def in_flight(self, campaign: str | None = None) -> list[tuple[Contact, Attempt]]:
        """Every attempt not ended (any instance's), with its person, oldest first."""
        query = (
            select(CampaignAttemptRow, ContactRow)
            .join(ContactRow, ContactRow.id == CampaignAttemptRow.contact_id)
            .where(CampaignAttemptRow.ended_at.is_(None))
            .order_by(CampaignAttemptRow.id)
        )
        if campaign is not None:
            query = query.where(CampaignAttemptRow.campaign == campaign)
        async with self._read() as session:
            rows = (await session.execute(query)).all()
        return [(_contact(contact), _attempt(attempt)) for attempt, contact in rows]

    async def claim(
        self,
        campaign: Campaign,
        contact_ids: Sequence[int],
        instance: str,
        day: date,
        now: datetime,
        *,
        limit: int,
    ) -> list[Claimed]:
        """Claim the next attempt of the day for at most ``limit`` of ``contact_ids`` (the caller's preferred order)
        whose day is PENDING and due at ``now``, and never more than the campaign's ``max_concurrent`` attempts in
        flight of every instance together. One transaction, serialised per campaign."""
        ids = list(dict.fromkeys(contact_ids))
        if not ids or limit <= 0:
            return []
        claimed: list[Claimed] = []
        async with self._write() as session:
            if self._dialect == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": campaign_lock(campaign.id)})
            count = await session.scalar(
                select(func.count(CampaignAttemptRow.id)).where(
                    CampaignAttemptRow.campaign == campaign.id, CampaignAttemptRow.ended_at.is_(None)
                )
            )
            room = min(limit, campaign.max_concurrent - int(count or 0))
            if room <= 0:
                return []
            rows = (
                await session.scalars(
                    select(CampaignAttemptRow).where(
                        CampaignAttemptRow.campaign == campaign.id,
                        CampaignAttemptRow.day == day,
                        CampaignAttemptRow.contact_id.in_(ids),
                    )
                )
            ).all()
            of: dict[int, list[Attempt]] = {}
            for row in rows:
                of.setdefault(row.contact_id, []).append(_attempt(row))
            contacts = {
                row.id: row
                for row in (
                    await session.scalars(
                        select(ContactRow).where(ContactRow.id.in_(ids), ContactRow.removed_at.is_(None))
                    )
                ).all()
            }
            for contact_id in ids:
                if len(claimed) >= room:
                    break
                contact = contacts.get(contact_id)
                if contact is None:
                    continue
                attempts = of.get(contact_id, [])
                due = next_attempt_at(campaign, attempts)
                if due is None or due > now:
                    continue
                row = CampaignAttemptRow(
                    campaign=campaign.id,
                    contact_id=contact_id,
                    day=day,
                    number=max((a.number for a in attempts), default=0) + 1,
                    dialled_number=contact.number,
                    claimed_at=now,
                    claimed_by=instance,
                )
                try:
                    async with session.begin_nested():
                        session.add(row)
                        await session.flush()
                except IntegrityError:
                    continue  # another instance claimed it (cannot happen under the lock: a guard)
                claimed.append(Claimed(_contact(contact), _attempt(row)))
        return claimed

    async def mark_dialled(self, attempt_id: int, now: datetime) -> bool:
        """Stamp ``dialed_at`` BEFORE the Originate; False when the attempt is not claimed and open any more."""
        async with self._write() as session:
            row = await session.get(CampaignAttemptRow, attempt_id, with_for_update=True)
            if row is None or row.ended_at is not None or row.dialed_at is not None:
                return False
            row.dialed_at = now
        return True

    async def answered(self, attempt_id: int, linkedid: str | None, now: datetime) -> bool:
        """The person answered: the attempt's outcome is ANSWERED (reached: never called again that day); it stays
        in flight until the call ends. False when the attempt is unknown or already closed otherwise."""
        async with self._write() as session:
            row = await session.get(CampaignAttemptRow, attempt_id, with_for_update=True)
            if row is None or row.outcome not in (None, Outcome.UNKNOWN.value):
                return False
            row.outcome = Outcome.ANSWERED.value
            row.answered_at = row.answered_at or now
            if linkedid:
                row.linkedid = linkedid
        return True

    async def keyed(self, attempt_id: int, key: str, action: Action, now: datetime) -> Attempt | None:
        """The key the person pressed in the script and what it did (an answered attempt, by definition)."""
        async with self._write() as session:
            row = await session.get(CampaignAttemptRow, attempt_id, with_for_update=True)
            if row is None:
                return None
            row.key = key[:8] or None
            row.action = Action(action).value
            if row.outcome in (None, Outcome.UNKNOWN.value):
                row.outcome = Outcome.ANSWERED.value
                row.answered_at = row.answered_at or now
            await session.flush()
            return _attempt(row)

    async def took(self, linkedid: str, agent: str) -> bool:
        """A person of the doctor queue took the call ``linkedid``: the attempt's ``agent``."""
        async with self._write() as session:
            row = await session.scalar(
                select(CampaignAttemptRow)
                .where(CampaignAttemptRow.linkedid == linkedid)
                .order_by(CampaignAttemptRow.id.desc())
                .limit(1)
                .with_for_update()
            )
            if row is None or row.agent == agent:
                return False
            row.agent = agent
        return True

    async def end(self, attempt_id: int, outcome: Outcome, now: datetime, *, linkedid: str | None = None) -> bool:
        """End an attempt in flight with ``outcome`` (an answered one keeps ANSWERED). False when it already ended."""
        async with self._write() as session:
            row = await session.get(CampaignAttemptRow, attempt_id, with_for_update=True)
            if row is None or row.ended_at is not None:
                return False
            row.ended_at = now
            if row.outcome != Outcome.ANSWERED.value:
                row.outcome = Outcome(outcome).value
            if linkedid and row.linkedid is None:
                row.linkedid = linkedid
        return True

    async def end_call(self, linkedid: str, now: datetime, *, agent: str | None = None) -> Attempt | None:
        """The record of campaign call ``linkedid`` is complete: its attempt ends (and gets the record's agent)."""
        async with self._write() as session:
            row = await session.scalar(
                select(CampaignAttemptRow)
                .where(CampaignAttemptRow.linkedid == linkedid)
                .order_by(CampaignAttemptRow.id.desc())
                .limit(1)
                .with_for_update()
            )
            if row is None:
                return None
            if agent and row.agent is None:
                row.agent = agent
            if row.ended_at is None:
                row.ended_at = now
                if row.outcome is None:
                    row.outcome = Outcome.ANSWERED.value
                    row.answered_at = row.answered_at or now
            await session.flush()
            return _attempt(row)

    async def recover(self, instance: str | None, now: datetime) -> list[Attempt]:
        """After a crash: close the attempts ``instance`` left in flight (``None``: every instance's). Dialled and
        not answered: UNKNOWN (never dialled again that day); answered: ended now; claimed, never dialled: deleted
        (nobody was called). Returns the attempts closed or deleted, as they were."""
        query = select(CampaignAttemptRow).where(CampaignAttemptRow.ended_at.is_(None)).with_for_update()
        if instance is not None:
            query = query.where(CampaignAttemptRow.claimed_by == instance)
        closed: list[Attempt] = []
        async with self._write() as session:
            for row in (await session.scalars(query.order_by(CampaignAttemptRow.id))).all():
                closed.append(_attempt(row))
                if row.dialed_at is None and row.outcome is None:
                    await session.execute(delete(CampaignAttemptRow).where(CampaignAttemptRow.id == row.id))
                    continue
                row.ended_at = now
                if row.outcome is None:
                    row.outcome = Outcome.UNKNOWN.value
        return closed

    # -- alerts ---------------------------------------------------------------------------------------------

    async def raise_alert(self, attempt_id: int, now: datetime) -> Alert | None:
        """The person of ``attempt_id`` pressed the emergency key: one alert per attempt (a second is the first)."""
        for _ in range(2):
            try:
                async with self._write() as session:
                    existing = await session.scalar(
                        select(CampaignAlertRow).where(CampaignAlertRow.attempt_id == attempt_id)
                    )
                    if existing is not None:
                        return _alert(existing)
                    attempt = await session.get(CampaignAttemptRow, attempt_id)
                    if attempt is None:
                        return None
                    contact = await session.get(ContactRow, attempt.contact_id)
                    assert contact is not None
                    row = CampaignAlertRow(
                        campaign=attempt.campaign,
                        attempt_id=attempt.id,
                        contact_id=contact.id,
                        number=attempt.dialled_number,
                        name=contact.name,
                        raised_at=now,
                        linkedid=attempt.linkedid,
                    )
                    session.add(row)
                    await session.flush()
                    return _alert(row)
            except IntegrityError:
                continue
        return None

    async def alerts(self, *, open_only: bool = True) -> list[Alert]:
        query = select(CampaignAlertRow).order_by(CampaignAlertRow.raised_at.desc(), CampaignAlertRow.id.desc())
        if open_only:
            query = query.where(CampaignAlertRow.acknowledged_at.is_(None))
        async with self._read() as session:
            rows = (await session.scalars(query)).all()
        return [_alert(row) for row in rows]

    async def acknowledge(self, alert_id: int, by: str, now: datetime) -> bool:
        async with self._write() as session:
            row = await session.get(CampaignAlertRow, alert_id, with_for_update=True)
            if row is None or row.acknowledged_at is not None:
                return False
            row.acknowledged_at = now
            row.acknowledged_by = by[:128]
        return True

    # -- the day, person by person ---------------------------------------------------------------------------

    async def people(self, campaign: Campaign, day: date) -> list[tuple[Contact, DayState, list[Attempt]]]:
        """Every person of the campaign's list (and anyone called that day since removed), their day state and
        their attempts of the day, in the list's order."""
        contacts = await self.contacts(campaign.list)
        attempts = await self.attempts(campaign.id, day)
        of: dict[int, list[Attempt]] = {}
        for attempt in attempts:
            of.setdefault(attempt.contact_id, []).append(attempt)
        known = {c.id for c in contacts}
        for contact_id in of:
            if contact_id not in known and (gone := await self.contact(contact_id)) is not None:
                contacts.append(gone)
        return [(c, day_state(campaign, of.get(c.id or 0, [])), of.get(c.id or 0, [])) for c in contacts]

    async def figures(self, campaign: Campaign, day: date) -> DayFigures:
        counts: dict[str, int] = {}
        for _contact, state, attempts in await self.people(campaign, day):
            counts[state.value] = counts.get(state.value, 0) + 1
            counts["attempts"] = counts.get("attempts", 0) + len(attempts)
            actions = {a.action for a in attempts if a.outcome is Outcome.ANSWERED}
            for action in (Action.WELL, Action.DOCTOR, Action.EMERGENCY):
                if action in actions:
                    counts[action.value] = counts.get(action.value, 0) + 1
            if state is DayState.REACHED and not actions - {None, Action.NONE}:
                counts["no_key"] = counts.get("no_key", 0) + 1
        return DayFigures(**{name: counts.get(value, 0) for name, value in _FIGURES.items()})


_FIGURES: dict[str, Any] = {
    "reached": DayState.REACHED.value,
    "not_reached": DayState.NOT_REACHED.value,
    "pending": DayState.PENDING.value,
    "in_flight": DayState.IN_FLIGHT.value,
    "unknown": DayState.UNKNOWN.value,
    "refused": DayState.REFUSED.value,
    "well": Action.WELL.value,
    "doctor": Action.DOCTOR.value,
    "emergency": Action.EMERGENCY.value,
    "no_key": "no_key",
    "attempts": "attempts",
}
