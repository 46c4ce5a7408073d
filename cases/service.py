"""The case service: what the desk, the phone and the API do with cases, checked against the profile.

* ``open``: a new case (category a topic, district and department known, the department defaulting to the
  category's, due after the category's SLA), under a fresh number and PIN, with its ``case.created`` events.
* ``change``: a status (along the model's transitions, with a reason to close, reject or reopen), a
  department and/or a note, against the version one has seen (``StaleCase`` otherwise: HTTP 409).
* ``follow``: a caller's lookup by phone. A number whose check digit is wrong is refused before any
  lookup (``bad_check_digit``); each lookup is counted per caller number and refused past the profile's
  hourly limit (``too_many``); a case opened from another number, without its PIN, is ``not_found``,
  exactly like an unknown case.
* The webhook dispatcher (``cases.webhooks``) runs between ``start`` and ``close``.
"""

from __future__ import annotations

import builtins
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from cases.db import CaseStore
from cases.model import (
    CASE_STATUSES,
    Case,
    CaseError,
    FollowAnswer,
    HistoryEntry,
    check_report,
    new_case,
    new_number,
    new_pin,
    plan_change,
    valid_number,
)
from cases.webhooks import Dispatcher, WebhookSettings
from profiles.model import CaseRules, Profile
from telephony.clock import utc_now

__all__ = ["MAX_LIST", "CaseService"]

MAX_LIST = 500
MAX_LINKEDID = 150
MAX_CALLER_NUMBER = 128
LOOKUP_WINDOW = timedelta(hours=1)


def _caller(number: str | None) -> str | None:
    if number is None:
        return None
    number = number.strip()
    if len(number) > MAX_CALLER_NUMBER or not number.isprintable():
        raise CaseError("caller_number", f"caller_number must be printable, at most {MAX_CALLER_NUMBER} characters")
    return number or None


class CaseService:
    def __init__(
        self,
        profile: Profile,
        store: CaseStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        webhooks: WebhookSettings | None = None,
    ) -> None:
        if profile.cases is None:
            raise ValueError(f"profile {profile.name!r} keeps no cases")
        self.profile = profile
        self.rules: CaseRules = profile.cases
        self.store = store
        self.clock = clock
        self.webhooks = webhooks
        self.notify: tuple[str, ...] = webhooks.urls if webhooks is not None else ()
        self.dispatcher = Dispatcher(store, webhooks, clock) if webhooks is not None and webhooks.urls else None

    async def start(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.start()

    async def close(self) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.close()

    def _poke(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.poke()

    # -- cases ----------------------------------------------------------------------------------------------

    async def open(
        self,
        *,
        category: str,
        description: str,
        caller_number: str | None,
        language: str,
        actor: str,
        source: str = "desk",
        district: str | None = None,
        location: str | None = None,
        department: str | None = None,
        linkedid: str | None = None,
        voice_note: str | None = None,
        voice_note_seconds: float | None = None,
    ) -> Case:
        """A new open case (``CaseError`` for bad input)."""
        report = check_report(
            self.profile,
            category=category,
            description=description,
            language=language,
            actor=actor,
            source=source,
            district=district,
            location=location,
            department=department,
            voice_note=voice_note,
        )
        caller = _caller(caller_number)
        call = self._linkedid(linkedid) if linkedid is not None else None
        if voice_note_seconds is not None and not 0 <= voice_note_seconds <= 24 * 3600:
            raise CaseError("voice_note_seconds", "voice_note_seconds must be from 0 to 86400")
        now = self.clock()
        sla = self.profile.sla_hours(report.category)

        def make() -> Case:
            return new_case(
                report,
                number=new_number(),
                pin=new_pin(),
                caller_number=caller,
                now=now,
                sla_hours=sla,
                voice_note=voice_note,
                voice_note_seconds=voice_note_seconds,
            )

        case = await self.store.create(make, linkedid=call, notify=self.notify)
        self._poke()
        return case

    async def get(self, number: str) -> Case:
        return await self.store.get(number)

    async def history(self, number: str) -> builtins.list[HistoryEntry]:
        return await self.store.history(number)

    async def list(
        self,
        *,
        category: str | None = None,
        department: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
        caller_number: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Case]:
        """Cases, newest first (``CaseError`` for a filter that names nothing of the profile)."""
        if category is not None and category not in [t.id for t in self.profile.topics]:
            raise CaseError("category", f"{category!r} is not a category")
        if department is not None and department not in [d.id for d in self.rules.departments]:
            raise CaseError("department", f"{department!r} is not a department")
        if status is not None and status not in CASE_STATUSES:
            raise CaseError("status", f"{status!r} is not a status (one of {', '.join(CASE_STATUSES)})")
        if not 1 <= limit <= MAX_LIST:
            raise CaseError("limit", f"limit must be from 1 to {MAX_LIST}")
        if offset < 0:
            raise CaseError("offset", "offset must not be negative")
        return await self.store.list(
            category=category,
            department=department,
            status=status,
            overdue=overdue,
            now=self.clock(),
            caller_number=_caller(caller_number),
            limit=limit,
            offset=offset,
        )

    async def change(
        self,
        number: str,
        *,
        version: int,
        actor: str,
        status: str | None = None,
        reason: str | None = None,
        department: str | None = None,
        note: str | None = None,
    ) -> Case:
        """The case after the change (``CaseNotFound``, ``StaleCase``, ``CaseError``)."""
        now = self.clock()
        case = await self.store.change(
            number,
            version,
            lambda current: plan_change(
                self.profile,
                current,
                actor=actor,
                now=now,
                status=status,
                reason=reason,
                department=department,
                note=note,
            ),
            notify=self.notify,
        )
        self._poke()
        return case

    @staticmethod
    def _linkedid(linkedid: str) -> str:
        linkedid = linkedid.strip()
        if not linkedid or len(linkedid) > MAX_LINKEDID or not linkedid.isprintable():
            raise CaseError("linkedid", f"linkedid must be a call's id (printable, 1-{MAX_LINKEDID} characters)")
        return linkedid

    async def link_call(self, number: str, linkedid: str, actor: str) -> Case:
        """The case with the call ``linkedid`` linked to it (a second link of the same call changes nothing)."""
        if not actor.strip():
            raise CaseError("actor", "actor must not be empty")
        case, _added = await self.store.link_call(number, self._linkedid(linkedid), actor.strip()[:64], self.clock())
        return case

    async def opened_on_call(self, linkedid: str) -> builtins.list[Case]:
        """The cases opened during the call ``linkedid`` (what the caller hears read back), oldest first."""
        return await self.store.opened_on_call(linkedid)

    # -- follow a report by phone ---------------------------------------------------------------------------

    async def follow(self, keyed: str, *, caller_number: str | None, pin: str | None = None) -> FollowAnswer:
        """A caller's lookup of the case number ``keyed`` (see the module)."""
        keyed = keyed.strip()
        if not valid_number(keyed):
            return FollowAnswer("bad_check_digit")
        caller = (caller_number or "").strip()[:MAX_CALLER_NUMBER]

        def allowed(case: Case) -> bool:
            if caller and case.caller_number == caller:
                return True
            return pin is not None and pin.isascii() and hmac.compare_digest(pin.encode(), case.pin.encode())

        counted, case = await self.store.lookup(
            keyed,
            caller_number=caller,
            now=self.clock(),
            limit=self.rules.max_lookups_per_number_per_hour,
            window=LOOKUP_WINDOW,
            allowed=allowed,
        )
        if not counted:
            return FollowAnswer("too_many")
        if case is None:
            return FollowAnswer("not_found")
        return FollowAnswer("found", case)
