"""Manual dialling (issue 14, item 3): an agent clicks to call a number from the desk. Their own phone rings first;
when they answer, the dialplan (``hotline-manual-out``) dials the number through the trunk.

The rules, checked in this order before anything is written or dialled (a refusal raises :class:`ManualRefused`
with a stable :class:`Refusal` code):

* the profile has ``outbound`` with ``manual_dialling`` on;
* the person is a person of the profile (their phone is the PJSIP endpoint of that id);
* the number passes ``profiles.numbers.check_allowed`` against ``outbound.allowed_numbers`` (the one check of every
  number dialled out), is not on the do-not-call list (the profile's ``outbound.do_not_call`` or the
  ``do_not_call`` table), and a list's contact named with it exists and has that number;
* the person's phone is registered and not on a call (Asterisk's ``DEVICE_STATE``), and no click of theirs is still
  on its way to their phone in this service.

Then a ``manual_calls`` row is written (write-ahead: the Originate is sent only once it is stored) and one AMI
Originate rings the agent's phone into ``telephony.names.MANUAL_CONTEXT``. The checked number travels in a channel
variable (``OUTBOUND_NUMBER``), never in an extension: the dialplan checks it again before its one ``Dial``. The
agent's channel sends ``OUTBOUND_USEREVENT`` (Kind manual, Number, Person, and Attempt: the manual call's id) when
it answers: the call's record starts there, of kind ``manual``, with the agent. The row's outcome comes from the
``OriginateResponse`` (the agent's phone did not answer: ``failed``) and from the ``DialEnd`` of the agent's channel
(the number answered, was busy, did not answer); a call that ends before either is ``failed``, and an Originate
whose fate is unknown (AMI dropped) is ``unknown``. It is never re-sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update

from outbound.list_db import ListStore
from outbound.lists import dnc_key
from outbound.model import Outcome
from outbound.rows import ContactRow, ManualCallRow
from profiles.model import Profile
from profiles.numbers import Reason, check_allowed
from storage.engine import Database
from telephony import names as v
from telephony.ami.client import AMIClient, AMIDisconnected, AMIException
from telephony.ami.message import Message
from telephony.clock import utc_now
from telephony.events import DialEnd, EventParseError, Hangup, OriginateResponse, OutboundStart, decode_event

__all__ = ["ACTION_PREFIX", "EVENTS", "ManualCall", "ManualDialler", "ManualRefused", "ManualStore", "Refusal"]

log = logging.getLogger(__name__)

#: The AMI events the dialler follows besides ``OriginateResponse`` (which the root hands over).
EVENTS = ("UserEvent", "DialEnd", "Hangup")
#: How long the agent's phone rings (ms), and the number (s, the dialplan's Dial).
ORIGINATE_TIMEOUT_MS = 30_000
DIAL_SECONDS = 45
#: The longest number dialled out (E.164 is 15 digits; a leading 00 or + and a little slack). The column holds 32.
MAX_NUMBER = 20
#: The service holds an agent as busy from the click until their phone rings (from then Asterisk's DEVICE_STATE
#: says so), at most this long: an Originate whose response was lost (an AMI gap) does not hold them for good.
HOLD_AFTER_CLICK = timedelta(milliseconds=ORIGINATE_TIMEOUT_MS) + timedelta(seconds=30)
ACTION_PREFIX = "manual-"
#: DEVICE_STATE values of a phone that cannot be rung, and of one already on a call.
_UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID"})
_ON_A_CALL = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})
#: Dial's DIALSTATUS (the number's side) as the manual call's outcome; anything else failed.
_DIAL_OUTCOMES = {
    "ANSWER": Outcome.ANSWERED,
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.NO_ANSWER,  # the agent hung up while the number rang
}


class Refusal(StrEnum):
    """Why a manual call is refused: stable codes for the API, the audit and the logs."""

    DISABLED = "disabled"  # no outbound section, or manual_dialling: false
    UNKNOWN_PERSON = "unknown_person"
    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    TOO_LONG = "too_long"
    NOT_ALLOWED = "not_allowed"
    DO_NOT_CALL = "do_not_call"
    UNKNOWN_CONTACT = "unknown_contact"
    NOT_THE_CONTACT = "not_the_contact"  # a contact named with a number that is not theirs
    NOT_REGISTERED = "not_registered"  # the agent's phone is not registered
    BUSY = "busy"  # the agent's phone is on a call, or a manual call of theirs is under way
    NOT_CONNECTED = "not_connected"  # Asterisk (AMI) cannot be reached now


_MESSAGES = {
    Refusal.DISABLED: "manual dialling is off for this hotline",
    Refusal.UNKNOWN_PERSON: "not a person of the profile",
    Refusal.EMPTY: "no number given",
    Refusal.NOT_DIGITS: "a number is digits only (an optional leading +; spaces, dashes, dots, brackets dropped)",
    Refusal.TOO_LONG: f"a number has at most {MAX_NUMBER} digits",
    Refusal.NOT_ALLOWED: "this number is not one the hotline may call (outbound.allowed_numbers)",
    Refusal.DO_NOT_CALL: "this number is on the do-not-call list",
    Refusal.UNKNOWN_CONTACT: "no such contact in the lists",
    Refusal.NOT_THE_CONTACT: "the number is not that contact's",
    Refusal.NOT_REGISTERED: "the agent's phone is not registered",
    Refusal.BUSY: "the agent's phone is on a call",
    Refusal.NOT_CONNECTED: "the telephony is not reachable now; try again",
}


class ManualRefused(Exception):
    """A manual call refused before anything was written or dialled."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        self.reason = reason
        self.message = _MESSAGES[reason] + (f" ({detail})" if detail else "")
        super().__init__(f"{reason.value}: {self.message}")


@dataclass(frozen=True)
class ManualCall:
    """One click-to-call (a ``manual_calls`` row)."""

    id: int
    person: str
    number: str
    requested_by: str
    requested_at: datetime
    contact_id: int | None = None
    outcome: Outcome | None = None  # None while under way
    linkedid: str | None = None


def _call(row: ManualCallRow) -> ManualCall:
    return ManualCall(
        id=row.id,
        person=row.person,
        number=row.number,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        contact_id=row.contact_id,
        outcome=None if row.outcome is None else Outcome(row.outcome),
        linkedid=row.linkedid,
    )


class ManualStore:
    """The ``manual_calls`` rows, and whether a contact of the lists exists."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, person: str, number: str, by: str, at: datetime, contact_id: int | None) -> ManualCall:
        async with self.db.writers() as session, session.begin():
            row = ManualCallRow(person=person, requested_by=by[:128], number=number, contact_id=contact_id,
                                requested_at=at)  # fmt: skip
            session.add(row)
            await session.flush()
            return _call(row)

    async def get(self, call_id: int) -> ManualCall | None:
        async with self.db.readers() as session:
            row = await session.get(ManualCallRow, call_id)
            return None if row is None else _call(row)

    async def recent(self, person: str | None = None, limit: int = 50) -> list[ManualCall]:
        """The latest manual calls (of ``person``), newest first."""
        query = select(ManualCallRow).order_by(ManualCallRow.id.desc()).limit(limit)
        if person is not None:
            query = query.where(ManualCallRow.person == person)
        async with self.db.readers() as session:
            return [_call(row) for row in (await session.scalars(query)).all()]

    async def linked(self, call_id: int, linkedid: str) -> None:
        async with self.db.writers() as session, session.begin():
            await session.execute(
                update(ManualCallRow)
                .where(ManualCallRow.id == call_id, ManualCallRow.linkedid.is_(None))
                .values(linkedid=linkedid[:150])
            )

    async def finish(self, call_id: int, outcome: Outcome) -> bool:
        """The call's outcome; the first one stands (False when it had one already)."""
        async with self.db.writers() as session, session.begin():
            done = await session.execute(
                update(ManualCallRow)
                .where(ManualCallRow.id == call_id, ManualCallRow.outcome.is_(None))
                .values(outcome=outcome.value)
            )
            return bool(getattr(done, "rowcount", 0))

    async def contact_number(self, contact_id: int) -> str | None:
        """The number of a contact of the lists (not removed from their list), or None."""
        async with self.db.readers() as session:
            return await session.scalar(
                select(ContactRow.number).where(ContactRow.id == contact_id, ContactRow.removed_at.is_(None))
            )


class ManualDialler:
    """Click-to-call from the desk (see the module's docstring). Built with no I/O; nothing to start."""

    def __init__(
        self,
        profile: Profile,
        ami: AMIClient,
        db: Database | ManualStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        is_dnc: Callable[[str], Any] | None = None,
    ) -> None:
        self.profile = profile
        self.rules = profile.outbound
        self.ami = ami
        self.store = db if isinstance(db, ManualStore) else ManualStore(db)
        self.clock = clock
        #: ``await is_dnc(number)``: the do-not-call list, the profile's and the table's (the lists' store).
        self._is_dnc = is_dnc or self._listed_dnc
        self._lists = ListStore(self.store.db)
        self._people = frozenset(p.id for p in profile.people)
        self._pending: dict[str, int] = {}  # ActionID -> the manual call's id (Originate sent, no response yet)
        self._busy: dict[str, tuple[int, datetime]] = {}  # person -> (their call under way, since)
        self._calls: dict[int, str] = {}  # call id -> person, while under way
        self._linked: dict[str, int] = {}  # the call's linkedid (the agent's channel) -> call id
        self.dialled = 0

    async def _listed_dnc(self, number: str) -> bool:
        return await self._lists.is_dnc(number, self.profile)

    @property
    def enabled(self) -> bool:
        return self.rules is not None and self.rules.manual_dialling

    # -- checks -----------------------------------------------------------------------------------
    def check_number(self, raw: str) -> str:
        """The number as it will be dialled, or :class:`ManualRefused` (no I/O: the profile's rules only)."""
        if self.rules is None or not self.rules.manual_dialling:
            raise ManualRefused(Refusal.DISABLED)
        if not isinstance(raw, str):
            raise ManualRefused(Refusal.NOT_DIGITS)
        if len(raw) > 4 * MAX_NUMBER:  # never run a pattern over a flood; separators allowed, within reason
            raise ManualRefused(Refusal.TOO_LONG)
        check = check_allowed(raw, self.rules.allowed_numbers)
        if not check.ok:
            reason = {Reason.EMPTY: Refusal.EMPTY, Reason.NOT_DIGITS: Refusal.NOT_DIGITS}.get(
                check.reason or Reason.NOT_ALLOWED, Refusal.NOT_ALLOWED
            )
            if reason is Refusal.NOT_ALLOWED and len(check.number) > MAX_NUMBER:
                reason = Refusal.TOO_LONG
            raise ManualRefused(reason)
        if len(check.number) > MAX_NUMBER:
            raise ManualRefused(Refusal.TOO_LONG)
        key = dnc_key(check.number)
        if any(dnc_key(n) == key for n in self.rules.do_not_call):
            raise ManualRefused(Refusal.DO_NOT_CALL)
        return check.number

    def _busy_with(self, person: str) -> int | None:
        held = self._busy.get(person)
        if held is None:
            return None
        call_id, since = held
        if self.clock() - since > HOLD_AFTER_CLICK:
            del self._busy[person]  # the call itself is still followed (its outcome, when Asterisk says)
            return None
        return call_id

    async def _phone_state(self, person: str) -> str:
        """Asterisk's DEVICE_STATE of the person's phone (NOT_INUSE, INUSE, UNAVAILABLE...)."""
        try:
            answer = await self.ami.send_action(
                {"Action": "Getvar", "Variable": f"DEVICE_STATE({v.interface(person)})"}, timeout=5
            )
        except AMIException as exc:
            log.warning("manual call for %s: the phone's state could not be read: %s", person, exc)
            raise ManualRefused(Refusal.NOT_CONNECTED) from None
        return (answer.get("Value") or "").strip().upper()

    # -- the dial ---------------------------------------------------------------------------------
    async def dial(self, person_id: str, raw_number: str, *, by: str, contact_id: int | None = None) -> ManualCall:
        """Ring ``person_id``'s phone, then ``raw_number`` once they answer; :class:`ManualRefused` (nothing written,
        nothing dialled) when a rule says no."""
        number = self.check_number(raw_number)
        if not isinstance(person_id, str) or person_id not in self._people:
            raise ManualRefused(Refusal.UNKNOWN_PERSON)
        if self._busy_with(person_id) is not None:
            raise ManualRefused(Refusal.BUSY, "a call placed from the desk is under way")
        if not self.ami.connected:
            raise ManualRefused(Refusal.NOT_CONNECTED)
        self._busy[person_id] = (0, self.clock())  # held from here: a second click waits for this one
        try:
            if contact_id is not None:
                listed = await self.store.contact_number(contact_id)
                if listed is None:
                    raise ManualRefused(Refusal.UNKNOWN_CONTACT)
                if dnc_key(listed) != dnc_key(number):
                    raise ManualRefused(Refusal.NOT_THE_CONTACT)
            if await self._is_dnc(number):
                raise ManualRefused(Refusal.DO_NOT_CALL)
            state = await self._phone_state(person_id)
            if state in _UNREACHABLE:
                raise ManualRefused(Refusal.NOT_REGISTERED)
            if state in _ON_A_CALL:
                raise ManualRefused(Refusal.BUSY)
            call = await self.store.add(person_id, number, by, self.clock(), contact_id)  # write-ahead
        except BaseException:
            self._busy.pop(person_id, None)
            raise
        self._busy[person_id] = (call.id, self.clock())
        self._calls[call.id] = person_id
        await self._originate(call)
        return call

    async def _originate(self, call: ManualCall) -> None:
        action_id = f"{ACTION_PREFIX}{call.id}"
        number = self.profile.number
        action: dict[str, Any] = {
            "Action": "Originate",
            "Channel": v.interface(call.person),
            "Context": v.MANUAL_CONTEXT,
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"{number}" <{number}>',
            "Timeout": str(ORIGINATE_TIMEOUT_MS),
            "Async": "true",
            "Variable": [
                f"{v.OUTBOUND_KIND}=manual",
                f"{v.OUTBOUND_NUMBER}={call.number}",
                f"{v.MANUAL_CALL}={call.id}",
                f"{v.OUTBOUND_PERSON}={call.person}",
            ],
            "ActionID": action_id,
        }
        self._pending[action_id] = call.id
        self.dialled += 1
        try:
            await self.ami.send_action(action, timeout=10)
            log.info("manual call %s: ringing %s, then %s", call.id, call.person, call.number)
        except AMIDisconnected:
            # Maybe sent, maybe not: never sent again blindly.
            self._pending.pop(action_id, None)
            await self._end(call.id, Outcome.UNKNOWN)
        except AMIException as exc:
            self._pending.pop(action_id, None)
            log.warning("manual call %s: Originate refused: %s", call.id, exc)
            await self._end(call.id, Outcome.FAILED)

    # -- what Asterisk says -------------------------------------------------------------------------
    async def on_originate_response(self, event: OriginateResponse) -> None:
        """The agent's phone answered (the dialplan now dials the number) or did not (the call failed)."""
        call_id = self._pending.pop(event.action_id, None)
        if call_id is None:
            return
        linkedid = event.uniqueid if event.uniqueid not in ("", "<null>") else None
        if event.success and linkedid is not None:
            await self._link(call_id, linkedid)
            return
        log.info("manual call %s: the agent's phone did not answer (reason %s)", call_id, event.reason)
        await self._end(call_id, Outcome.FAILED)

    async def on_message(self, message: Message) -> None:
        """The AMI events of :data:`EVENTS` (the root registers this handler)."""
        try:
            event = decode_event(message)
        except EventParseError:
            return
        await self.on_event(event)

    async def on_event(self, event: object) -> None:
        if isinstance(event, OutboundStart):
            attempt = event.attempt
            ours = event.kind == "manual" and event.uniqueid == event.linkedid
            if ours and attempt.isdigit() and len(attempt) < 12 and int(attempt) in self._calls:
                await self._link(int(attempt), event.linkedid)
        elif isinstance(event, DialEnd):
            dialled = self._linked.get(event.uniqueid)
            if dialled is not None and event.uniqueid == event.linkedid:
                outcome = _DIAL_OUTCOMES.get(event.dial_status.upper(), Outcome.FAILED)
                if await self.store.finish(dialled, outcome):
                    log.info("manual call %s: the number %s", dialled, outcome.value)
        elif isinstance(event, Hangup):
            ended = self._linked.get(event.uniqueid)
            if ended is not None:
                await self._end(ended, Outcome.FAILED)  # only when nothing said otherwise before

    async def _link(self, call_id: int, linkedid: str) -> None:
        if self._linked.get(linkedid) == call_id:
            return
        self._linked[linkedid] = call_id
        await self.store.linked(call_id, linkedid)

    async def _end(self, call_id: int, outcome: Outcome) -> None:
        """The call is over: its outcome unless one was written before, and the agent is free again."""
        await self.store.finish(call_id, outcome)
        self._release(call_id)

    def _release(self, call_id: int) -> None:
        person = self._calls.pop(call_id, None)
        if person is not None and self._busy.get(person, (None,))[0] == call_id:
            del self._busy[person]
        for linkedid in [k for k, c in self._linked.items() if c == call_id]:
            del self._linked[linkedid]
        for action_id in [k for k, c in self._pending.items() if c == call_id]:
            del self._pending[action_id]

    # -- for the desk -------------------------------------------------------------------------------
    async def recent(self, person: str | None = None, limit: int = 50) -> list[ManualCall]:
        return await self.store.recent(person, limit)
