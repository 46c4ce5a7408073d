"""Cases' HTTP API under /api/v1: list (with filters), open, read one (with its history and calls), change
(status, department, note, against the version one has seen) and link a call.

:func:`routes` describes the operations with their handlers bound to the case service (None: the hotline
keeps no cases, and every operation answers 404). The host (the console's /api/v1) signs the request in,
checks the role and sets the acting user (``restapi.http.ACTOR``), whose name goes into the case's history
and whose ``audit`` each change calls. Every signed-in user reads; supervisors change; the ``agent`` role
may also open a case and link a call to one (``Operation.roles``).

Refusals: bad input 400 (the message names the field), an unknown case 404, a change against a stale
version 409 with the case as it is now (``{"error": …, "current": {…, "version": N}}``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import Field

from cases.model import CASE_STATUSES, Case, CaseError, CaseNotFound, HistoryEntry, StaleCase, valid_number
from cases.service import MAX_LIST, CaseService
from restapi.http import ACTOR, Handler, Operation, body_of, error, path_param, query_param, reply
from restapi.models import Answer, Body, Timestamp

NO_CASES = "this hotline keeps no cases"
AGENT_ROLES = ("agent",)  # besides the supervisors: who may open a case and link a call

# -- bodies and answers ------------------------------------------------------------------------------------


class CaseNew(Body):
    category: Annotated[str, Field(max_length=64)]
    description: Annotated[str, Field(max_length=20_000)]  # the service refuses past 2000, with its message
    language: Annotated[str, Field(max_length=16)]
    caller_number: Annotated[str, Field(max_length=128)] | None = None
    district: Annotated[str, Field(max_length=64)] | None = None
    location: Annotated[str, Field(max_length=2000)] | None = None
    department: Annotated[str, Field(max_length=64)] | None = None
    linkedid: Annotated[str, Field(max_length=150)] | None = None  # the call it is opened on
    messages: ClassVar[dict[str, str]] = {
        "category": "category must be a topic id of the profile",
        "description": "description must be a text of at most 2000 characters",
        "language": "language must be a language code of the profile",
        "location": "location must be a text of at most 200 characters",
    }


class CaseChange(Body):
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]  # the version one has seen
    status: Annotated[str, Field(max_length=32)] | None = None
    reason: Annotated[str, Field(max_length=2000)] | None = None
    department: Annotated[str, Field(max_length=64)] | None = None
    note: Annotated[str, Field(max_length=4000)] | None = None
    messages: ClassVar[dict[str, str]] = {
        "version": "version must be the whole number of the version you have seen (from 1)",
        "status": f"status must be one of {', '.join(CASE_STATUSES)}",
    }


class CallLink(Body):
    linkedid: Annotated[str, Field(min_length=1, max_length=150)]
    messages: ClassVar[dict[str, str]] = {"linkedid": "linkedid must be a call's id (1 to 150 characters)"}


class CaseOut(Answer):
    number: str
    category: str
    caller_number: str | None
    language: str
    description: str
    district: str | None
    location: str | None
    department: str | None
    status: str
    reason: str | None
    source: str
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp
    due_at: Timestamp
    closed_at: Timestamp | None
    overdue: bool
    voice_note_seconds: float | None
    version: int
    calls: list[str]  # the linked calls' linkedids, oldest first


class CaseOpened(CaseOut):
    pin: str  # read to the caller: another phone may follow the case with it (shown only here)


class CaseConflict(Answer):
    error: str
    current: CaseOut  # the case as it is now, with its version


class HistoryOut(Answer):
    at: Timestamp
    actor: str
    action: str
    old: str | None
    new: str | None
    note: str | None


class CaseDetail(CaseOut):
    history: list[HistoryOut]


# -- views -------------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def case_view(case: Case, now: datetime) -> dict[str, Any]:
    """One case as a :class:`CaseOut`."""
    return {
        "number": case.number,
        "category": case.category,
        "caller_number": case.caller_number,
        "language": case.language,
        "description": case.description,
        "district": case.district,
        "location": case.location,
        "department": case.department,
        "status": case.status,
        "reason": case.reason,
        "source": case.source,
        "created_by": case.created_by,
        "created_at": _iso(case.created_at),
        "updated_at": _iso(case.updated_at),
        "due_at": _iso(case.due_at),
        "closed_at": _iso(case.closed_at),
        "overdue": case.overdue(now),
        "voice_note_seconds": case.voice_note_seconds,
        "version": case.version,
        "calls": list(case.linkedids),
    }


def history_view(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "at": _iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "old": entry.old,
        "new": entry.new,
        "note": entry.note,
    }


# -- handlers ----------------------------------------------------------------------------------------------


def _bad(exc: CaseError) -> web.HTTPException:
    return error(web.HTTPBadRequest, exc.message)


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not valid_number(number):
        raise error(web.HTTPBadRequest, f"{number[:20]!r} is not a case number (9 digits, the last a check digit)")
    return number


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise error(web.HTTPBadRequest, f"{name} must be true or false")
    return raw == "true"


def _whole(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise error(web.HTTPBadRequest, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


class _Handlers:
    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    async def _case(self, number: str) -> Case:
        try:
            return await self.cases.get(number)
        except CaseNotFound:
            raise error(web.HTTPNotFound, f"no case {number}") from None

    async def cases_list(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            found = await self.cases.list(
                category=query.get("category") or None,
                department=query.get("department") or None,
                status=query.get("status") or None,
                overdue=_flag(request, "overdue"),
                caller_number=query.get("caller_number") or None,
                limit=_whole(request, "limit", 100, 1, MAX_LIST),
                offset=_whole(request, "offset", 0, 0, 10**9),
            )
        except CaseError as exc:
            raise _bad(exc) from None
        now = self.cases.clock()
        return reply(list[CaseOut], [case_view(case, now) for case in found])

    async def case_open(self, request: web.Request) -> web.Response:
        body = await body_of(request, CaseNew)
        actor = request[ACTOR]
        try:
            case = await self.cases.open(
                category=body.category,
                description=body.description,
                caller_number=body.caller_number,
                language=body.language,
                actor=actor.name,
                source="api",
                district=body.district,
                location=body.location,
                department=body.department,
                linkedid=body.linkedid,
            )
        except CaseError as exc:
            raise _bad(exc) from None
        details = {"category": case.category, "department": case.department, "linkedid": body.linkedid}
        await actor.audit("case.open", case.number, details)
        return reply(CaseOpened, {**case_view(case, self.cases.clock()), "pin": case.pin}, status=201)

    async def case_get(self, request: web.Request) -> web.Response:
        number = _number(request)
        case = await self._case(number)
        history = await self.cases.history(number)
        detail = {**case_view(case, self.cases.clock()), "history": [history_view(h) for h in history]}
        return reply(CaseDetail, detail)

    async def case_change(self, request: web.Request) -> web.Response:
        number = _number(request)
        body = await body_of(request, CaseChange)
        actor = request[ACTOR]
        try:
            case = await self.cases.change(
                number,
                version=body.version,
                actor=actor.name,
                status=body.status,
                reason=body.reason,
                department=body.department,
                note=body.note,
            )
        except CaseError as exc:
            raise _bad(exc) from None
        except CaseNotFound:
            raise error(web.HTTPNotFound, f"no case {number}") from None
        except StaleCase as stale:
            current = case_view(stale.current, self.cases.clock())
            message = (
                f"case {number} has changed since version {body.version} (it is at version "
                f"{stale.current.version}): nothing was changed; look at it again and retry"
            )
            return reply(CaseConflict, {"error": message, "current": current}, status=409)
        details = {
            key: value
            for key, value in (
                ("version", case.version),
                ("status", body.status),
                ("reason", body.reason),
                ("department", body.department),
                ("note", body.note),
            )
            if value is not None
        }
        await actor.audit("case.change", number, details)
        return reply(CaseOut, case_view(case, self.cases.clock()))

    async def case_link_call(self, request: web.Request) -> web.Response:
        number = _number(request)
        body = await body_of(request, CallLink)
        actor = request[ACTOR]
        try:
            case = await self.cases.link_call(number, body.linkedid, actor.name)
        except CaseError as exc:
            raise _bad(exc) from None
        except CaseNotFound:
            raise error(web.HTTPNotFound, f"no case {number}") from None
        await actor.audit("case.link_call", number, {"linkedid": body.linkedid})
        return reply(CaseOut, case_view(case, self.cases.clock()))


async def _no_cases(_request: web.Request) -> web.Response:
    raise error(web.HTTPNotFound, NO_CASES)


NUMBER = path_param("number", {"type": "string", "pattern": "^[0-9]{9}$"}, "the case number (9 digits)")


def routes(cases: CaseService | None) -> tuple[Operation, ...]:
    """Cases' operations, their handlers bound to ``cases`` (None: each answers 404 "this hotline keeps no
    cases")."""
    h = _Handlers(cases) if cases is not None else None

    def bound(name: str) -> Handler:
        return getattr(h, name) if h is not None else _no_cases

    statuses = {"type": "string", "enum": list(CASE_STATUSES)}
    return (
        Operation(
            "get",
            "/cases",
            "cases_list",
            f"cases, newest first (at most {MAX_LIST} a page), filtered by category, department, status, "
            "overdue (against the SLA) and caller number",
            bound("cases_list"),
            answer=list[CaseOut],
            errors=(400, 404),
            parameters=(
                query_param("category", {"type": "string"}, "a topic id of the profile"),
                query_param("department", {"type": "string"}, "a department id of the profile"),
                query_param("status", statuses),
                query_param("overdue", {"type": "string", "enum": ["true", "false"]}, "past its due time"),
                query_param("caller_number", {"type": "string", "maxLength": 128}),
                query_param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST}),
                query_param("offset", {"type": "integer", "minimum": 0}),
            ),
        ),
        Operation(
            "post",
            "/cases",
            "case_open",
            "open a case (supervisors and agents); the answer holds its number and the PIN to read to the caller",
            bound("case_open"),
            body=CaseNew,
            answer=CaseOpened,
            status=201,
            errors=(400, 403, 404),
            roles=AGENT_ROLES,
        ),
        Operation(
            "get",
            "/cases/{number}",
            "case_get",
            "one case with its history (who changed what, when) and its calls",
            bound("case_get"),
            answer=CaseDetail,
            errors=(400, 404),
            parameters=(NUMBER,),
        ),
        Operation(
            "patch",
            "/cases/{number}",
            "case_change",
            "change a case's status (with a reason to close, reject or reopen), department and/or add a note, "
            "against the version you have seen (409 with the case as it is now when it has changed)",
            bound("case_change"),
            body=CaseChange,
            answer=CaseOut,
            errors=(400, 403, 404, 409),
            parameters=(NUMBER,),
            error_answers=((409, CaseConflict),),
        ),
        Operation(
            "post",
            "/cases/{number}/calls",
            "case_link_call",
            "link a call (its linkedid) to a case (supervisors and agents); linking it again changes nothing",
            bound("case_link_call"),
            body=CallLink,
            answer=CaseOut,
            errors=(400, 403, 404),
            parameters=(NUMBER,),
            roles=AGENT_ROLES,
        ),
    )
