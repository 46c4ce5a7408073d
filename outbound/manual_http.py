"""Manual dialling's HTTP API: the desk's click-to-call (``POST /desk/dial``) and the latest calls placed from the
desk (``GET /desk/dial``).

An agent dials from their own desk: the person whose phone rings first is the console user's person id
(``restapi.http.Actor.person``), and naming another is refused (403). A supervisor (or the local admin token) names
the person. A refusal answers 4xx with ``{"error": message, "reason": code}`` (``outbound.manual.Refusal``); every
dial and every refusal is audited (a refusal with its code, never the text that was refused). Without manual
dialling (no ``outbound``, or ``manual_dialling: false``) every operation answers 404.

:func:`routes` describes the operations; the host (the console's /api/v1) registers them, signs the request in,
checks the role (agents may use them besides supervisors) and sets the acting user.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from outbound.manual import ManualCall, ManualDialler, ManualRefused, Refusal
from restapi.http import ACTOR, Actor, Handler, Operation, body_of, error, query_param, reply
from restapi.models import Answer, Body, Id, Timestamp

OFF = "manual dialling is off for this hotline"
LIMIT = 50

#: The HTTP status of each refusal.
STATUS: dict[Refusal, type[web.HTTPException]] = {
    Refusal.DISABLED: web.HTTPNotFound,
    Refusal.UNKNOWN_PERSON: web.HTTPNotFound,
    Refusal.UNKNOWN_CONTACT: web.HTTPNotFound,
    Refusal.NOT_THE_CONTACT: web.HTTPUnprocessableEntity,
    Refusal.EMPTY: web.HTTPUnprocessableEntity,
    Refusal.NOT_DIGITS: web.HTTPUnprocessableEntity,
    Refusal.TOO_LONG: web.HTTPUnprocessableEntity,
    Refusal.NOT_ALLOWED: web.HTTPUnprocessableEntity,
    Refusal.DO_NOT_CALL: web.HTTPUnprocessableEntity,
    Refusal.NOT_REGISTERED: web.HTTPConflict,
    Refusal.BUSY: web.HTTPConflict,
    Refusal.NOT_CONNECTED: web.HTTPServiceUnavailable,
}


class Dial(Body):
    number: str  # as typed (separators allowed); checked by outbound.manual, not here, so a refusal has its reason
    contact_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None  # a contact of a list, when clicked there
    person: Id | None = None  # whose phone rings first: a supervisor names it; an agent's is their own desk's


class ManualCallOut(Answer):
    id: int
    person: str
    number: str
    contact_id: int | None
    requested_by: str
    requested_at: Timestamp
    outcome: str | None  # outbound.model.Outcome; None while under way
    linkedid: str | None


class DialRefusal(Answer):
    error: str
    reason: str  # outbound.manual.Refusal


def call_view(call: ManualCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "person": call.person,
        "number": call.number,
        "contact_id": call.contact_id,
        "requested_by": call.requested_by,
        "requested_at": call.requested_at.isoformat(),
        "outcome": None if call.outcome is None else call.outcome.value,
        "linkedid": call.linkedid,
    }


def refusal(reason: Refusal, message: str) -> web.HTTPException:
    status = STATUS.get(reason, web.HTTPUnprocessableEntity)
    return status(text=json.dumps({"error": message, "reason": reason.value}), content_type="application/json")


class _Handlers:
    def __init__(self, manual: ManualDialler) -> None:
        self.manual = manual
        profile = manual.profile
        self.supervisors = frozenset(s.id for s in profile.supervisors)

    def _own_desk(self, actor: Actor) -> str | None:
        """The person an actor must dial from (an agent's desk), or None when they may name one (a supervisor, whose
        person id is their own phone's, or the local admin token)."""
        if actor.person is None or actor.person in self.supervisors:
            return None
        return actor.person

    async def dial(self, request: web.Request) -> web.Response:
        body = await body_of(request, Dial)
        actor = request[ACTOR]
        own = self._own_desk(actor)
        if own is not None and body.person not in (None, own):
            raise error(web.HTTPForbidden, "an agent dials from their own desk only")
        person = own or body.person
        if person is None:
            raise error(web.HTTPBadRequest, "person is required: whose phone rings first")
        try:
            call = await self.manual.dial(person, body.number, by=actor.name, contact_id=body.contact_id)
        except ManualRefused as exc:
            await actor.audit("desk.dial_refused", person[:64], {"reason": exc.reason.value})
            raise refusal(exc.reason, exc.message) from None
        details = {"person": person, "call": call.id, "contact_id": call.contact_id}
        await actor.audit("desk.dial", call.number, details)
        return reply(ManualCallOut, call_view(call), status=202)

    async def calls(self, request: web.Request) -> web.Response:
        actor = request[ACTOR]
        person = self._own_desk(actor) or request.query.get("person") or None
        return reply(list[ManualCallOut], [call_view(c) for c in await self.manual.recent(person, LIMIT)])


async def _off(_request: web.Request) -> web.Response:
    raise refusal(Refusal.DISABLED, OFF)


def routes(manual: ManualDialler | None) -> tuple[Operation, ...]:
    """The desk's click-to-call, bound to ``manual`` (None, or manual dialling off: each answers 404)."""
    h = _Handlers(manual) if manual is not None and manual.enabled else None

    def bound(name: str) -> Handler:
        return getattr(h, name) if h is not None else _off

    refusals = ((404, DialRefusal), (409, DialRefusal), (422, DialRefusal), (503, DialRefusal))
    return (
        Operation(
            "post",
            "/desk/dial",
            "desk_dial",
            "click to call: the agent's phone rings first, then the number (an agent: their own desk; a supervisor "
            "names the person)",
            bound("dial"),
            body=Dial,
            answer=ManualCallOut,
            status=202,
            errors=(400, 403),
            error_answers=refusals,
            roles=("agent",),
        ),
        Operation(
            "get",
            "/desk/dial",
            "desk_dial_list",
            f"the latest calls placed from the desk, newest first (at most {LIMIT}; an agent: their own)",
            bound("calls"),
            answer=list[ManualCallOut],
            errors=(404,),
            parameters=(query_param("person", {"type": "string", "maxLength": 64}),),
            roles=("agent",),
            restricted=True,
        ),
    )
