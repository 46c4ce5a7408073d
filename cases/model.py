"""What a case is, its number and PIN, what may become of it, and how bad input is refused. Pure: no I/O.

* **The number** is 9 digits: 8 random ones (:mod:`secrets`, the first never 0, so it keeps its 9 digits
  when keyed or read) and a Verhoeff check digit, which catches every mistyped digit and every swap of two
  neighbouring digits before any lookup (:func:`valid_number`).
* **The PIN** is 4 random digits, read to the caller at registration, so that another phone may follow it.
* **The status** moves only along :data:`TRANSITIONS`; closing or rejecting needs a reason, and a closed
  or rejected case is only reopened (to ``open``) with one.
* **Bad input** raises :class:`CaseError` naming the field (HTTP 400, or a clear CLI error).

Times are aware UTC datetimes (``telephony.clock``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from profiles.model import CASE_STATUSES, Profile

__all__ = [
    "CASE_STATUSES",
    "DONE_STATUSES",
    "MAX_DESCRIPTION",
    "MAX_LOCATION",
    "MAX_NOTE",
    "MAX_REASON",
    "NUMBER_DIGITS",
    "SOURCES",
    "TRANSITIONS",
    "Case",
    "CaseError",
    "CaseNotFound",
    "Change",
    "FollowAnswer",
    "HistoryEntry",
    "StaleCase",
    "check_digit",
    "check_report",
    "new_number",
    "new_pin",
    "plan_change",
    "valid_number",
    "webhook_body",
]

NUMBER_DIGITS = 9
PIN_DIGITS = 4
MAX_DESCRIPTION = 2000  # characters
MAX_LOCATION = 200
MAX_REASON = 500
MAX_NOTE = 1000
MAX_ACTOR = 64
SOURCES = ("desk", "phone", "api")
DONE_STATUSES = frozenset({"closed", "rejected"})

#: Where a status may go (a closed or rejected case goes back to ``open`` only as a reopen, with a reason).
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "open": frozenset({"assigned", "in_progress", "closed", "rejected"}),
    "assigned": frozenset({"in_progress", "closed", "rejected", "open"}),
    "in_progress": frozenset({"closed", "rejected", "assigned"}),
    "closed": frozenset({"open"}),
    "rejected": frozenset({"open"}),
}

# -- Verhoeff ----------------------------------------------------------------------------------------------
# The dihedral group D5 on 0-9 (0-4 rotations, 5-9 reflections), the position permutation and its powers,
# and the inverses: every single-digit error and every adjacent transposition changes the checksum.


def _d5(i: int, j: int) -> int:
    if i < 5:
        return (i + j) % 5 if j < 5 else 5 + (i + j - 5) % 5
    return 5 + (i - 5 - j) % 5 if j < 5 else (i - j) % 5


_MULTIPLY = tuple(tuple(_d5(i, j) for j in range(10)) for i in range(10))
_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)


def _powers() -> tuple[tuple[int, ...], ...]:
    rows = [tuple(range(10))]
    for _ in range(7):
        rows.append(tuple(_P1[x] for x in rows[-1]))
    return tuple(rows)


_PERMUTE = _powers()
_INVERSE = tuple(next(j for j in range(10) if _MULTIPLY[i][j] == 0) for i in range(10))


def _checksum(digits: str, shift: int) -> int:
    c = 0
    for position, digit in enumerate(reversed(digits)):
        c = _MULTIPLY[c][_PERMUTE[(position + shift) % 8][int(digit)]]
    return c


def check_digit(digits: str) -> str:
    """The Verhoeff check digit of ``digits`` (ASCII digits)."""
    if not digits or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a string of digits: {digits!r}")
    return str(_INVERSE[_checksum(digits, 1)])


def valid_number(text: str) -> bool:
    """``text`` is 9 ASCII digits whose last is the Verhoeff check digit of the others."""
    if len(text) != NUMBER_DIGITS or not (text.isascii() and text.isdigit()):
        return False
    return _checksum(text, 0) == 0


def new_number(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A new case number: 8 random digits (the first not 0) and the check digit."""
    body = str(1 + randbelow(9)) + "".join(str(randbelow(10)) for _ in range(NUMBER_DIGITS - 2))
    return body + check_digit(body)


def new_pin(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A new 4-digit PIN."""
    return "".join(str(randbelow(10)) for _ in range(PIN_DIGITS))


# -- the case ----------------------------------------------------------------------------------------------


class CaseError(ValueError):
    """Bad input about a case: ``field`` is what is wrong, ``message`` says what (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class CaseNotFound(LookupError):
    """No case with that number."""


@dataclass(frozen=True)
class Case:
    number: str
    pin: str
    category: str  # a topic id of the profile
    caller_number: str | None
    language: str
    description: str
    district: str | None
    location: str | None
    department: str | None
    status: str  # CASE_STATUSES
    reason: str | None  # why the status is what it is
    source: str  # desk | phone | api
    created_by: str
    created_at: datetime
    updated_at: datetime
    due_at: datetime  # created_at + the category's SLA
    closed_at: datetime | None
    voice_note: str | None
    voice_note_seconds: float | None
    version: int  # +1 on every change
    linkedids: tuple[str, ...] = ()  # the calls about it, oldest first

    def overdue(self, now: datetime) -> bool:
        """Still to be done (not closed nor rejected) and past its due time."""
        return self.status not in DONE_STATUSES and now > self.due_at


class StaleCase(Exception):
    """A change made against an old version: nothing was changed. ``current`` is the case as it is (HTTP 409)."""

    def __init__(self, current: Case) -> None:
        super().__init__(f"case {current.number} has changed meanwhile (now version {current.version})")
        self.current = current


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str  # created | status | department | note | call
    old: str | None
    new: str | None
    note: str | None


@dataclass(frozen=True)
class FollowAnswer:
    """A caller's "follow a report": ``found`` (with the case), or why not. A wrong caller number or PIN
    is ``not_found``, exactly like an unknown case."""

    kind: Literal["found", "not_found", "bad_check_digit", "too_many"]
    case: Case | None = None


# -- checks ------------------------------------------------------------------------------------------------


def _text(field: str, value: str | None, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise CaseError(field, f"{field} is required")
        return None
    if not isinstance(value, str):
        raise CaseError(field, f"{field} must be a text")
    value = value.strip()
    if not value:
        if required:
            raise CaseError(field, f"{field} must not be empty")
        return None
    if len(value) > limit:
        raise CaseError(field, f"{field} is {len(value)} characters long (at most {limit})")
    if "\x00" in value:
        raise CaseError(field, f"{field} must not hold a NUL character")
    return value


def _department(profile: Profile, department: str) -> str:
    assert profile.cases is not None
    known = [d.id for d in profile.cases.departments]
    if department not in known:
        raise CaseError("department", f"{department!r} is not a department (one of {', '.join(known)})")
    return department


@dataclass(frozen=True)
class Report:
    """A new case's checked fields."""

    category: str
    description: str
    district: str | None
    location: str | None
    department: str | None
    language: str
    source: str
    actor: str


def check_report(
    profile: Profile,
    *,
    category: str,
    description: str,
    language: str,
    actor: str,
    source: str = "desk",
    district: str | None = None,
    location: str | None = None,
    department: str | None = None,
    voice_note: str | None = None,
) -> Report:
    """The fields of a new case checked against the profile (``CaseError`` on the first that is wrong).

    A self-service report may have an empty description when it has a voice note. The department, when
    not given, is the category's (``profile.case_department``)."""
    if profile.cases is None:
        raise CaseError("category", "this hotline keeps no cases")
    topics = [t.id for t in profile.topics]
    if category not in topics:
        raise CaseError("category", f"{category!r} is not a category (one of {', '.join(topics)})")
    text = _text("description", description, MAX_DESCRIPTION, required=voice_note is None) or ""
    districts = [d.id for d in profile.cases.districts]
    if district is not None and district not in districts:
        choice = f"one of {', '.join(districts)}" if districts else "this hotline lists no districts"
        raise CaseError("district", f"{district!r} is not a district ({choice})")
    place = _text("location", location, MAX_LOCATION)
    chosen = _department(profile, department) if department is not None else profile.case_department(category)
    if language not in profile.language_codes:
        raise CaseError("language", f"{language!r} is not a language of this hotline")
    if source not in SOURCES:
        raise CaseError("source", f"source must be one of {', '.join(SOURCES)}")
    who = _text("actor", actor, MAX_ACTOR, required=True)
    assert who is not None
    return Report(category, text, district, place, chosen, language, source, who)


def new_case(
    report: Report,
    *,
    number: str,
    pin: str,
    caller_number: str | None,
    now: datetime,
    sla_hours: int,
    voice_note: str | None = None,
    voice_note_seconds: float | None = None,
) -> Case:
    """A new open case of ``report`` at ``now``, due ``sla_hours`` later, version 1."""
    return Case(
        number=number,
        pin=pin,
        category=report.category,
        caller_number=caller_number or None,
        language=report.language,
        description=report.description,
        district=report.district,
        location=report.location,
        department=report.department,
        status="open",
        reason=None,
        source=report.source,
        created_by=report.actor,
        created_at=now,
        updated_at=now,
        due_at=now + timedelta(hours=sla_hours),
        closed_at=None,
        voice_note=voice_note,
        voice_note_seconds=voice_note_seconds,
        version=1,
    )


@dataclass(frozen=True)
class Change:
    """What a change does: the case after it, and its history rows (``status_changed`` for the webhooks)."""

    case: Case
    history: tuple[HistoryEntry, ...]
    status_changed: bool


def plan_change(
    profile: Profile,
    case: Case,
    *,
    actor: str,
    now: datetime,
    status: str | None = None,
    reason: str | None = None,
    department: str | None = None,
    note: str | None = None,
) -> Change:
    """``case`` after a status change (with ``reason``), a new department and/or a note, at ``now``.

    Raises ``CaseError`` for an unknown status or department, a move not in :data:`TRANSITIONS`, a close,
    reject or reopen without a reason, or a change that changes nothing. The version grows by one."""
    who = _text("actor", actor, MAX_ACTOR, required=True)
    assert who is not None
    why = _text("reason", reason, MAX_REASON)
    remark = _text("note", note, MAX_NOTE)
    history: list[HistoryEntry] = []
    updated = case
    status_changed = False
    if status is not None and status != case.status:
        if status not in CASE_STATUSES:
            raise CaseError("status", f"{status!r} is not a status (one of {', '.join(CASE_STATUSES)})")
        if status not in TRANSITIONS[case.status]:
            allowed = ", ".join(sorted(TRANSITIONS[case.status]))
            raise CaseError("status", f"a case that is {case.status} cannot become {status} (only {allowed})")
        if (status in DONE_STATUSES or case.status in DONE_STATUSES) and why is None:
            verb = {"closed": "closing", "rejected": "rejecting"}.get(status, "reopening")
            raise CaseError("reason", f"{verb} a case needs a reason")
        updated = replace(updated, status=status, reason=why, closed_at=now if status in DONE_STATUSES else None)
        history.append(HistoryEntry(now, who, "status", case.status, status, why))
        status_changed = True
    elif status is not None and status not in CASE_STATUSES:
        raise CaseError("status", f"{status!r} is not a status (one of {', '.join(CASE_STATUSES)})")
    elif why is not None:
        raise CaseError("reason", "a reason goes with a change of status")
    if department is not None and department != case.department:
        _department(profile, department)
        updated = replace(updated, department=department)
        history.append(HistoryEntry(now, who, "department", case.department, department, None))
    if remark is not None:
        history.append(HistoryEntry(now, who, "note", None, None, remark))
    if not history:
        raise CaseError("status", "nothing to change: give a new status, a department or a note")
    updated = replace(updated, updated_at=now, version=case.version + 1)
    return Change(updated, tuple(history), status_changed)


def webhook_body(kind: str, event_id: str, case: Case, at: datetime) -> str:
    """The JSON body of a webhook event (signed as it is: keep the text, do not re-encode it)."""
    return json.dumps(
        {
            "event_id": event_id,
            "kind": kind,
            "number": case.number,
            "status": case.status,
            "category": case.category,
            "department": case.department,
            "version": case.version,
            "at": at.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
