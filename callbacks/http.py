"""Callbacks' HTTP API: the requests (newest first) and what a supervisor does to one (cancel, reschedule,
call now).

:func:`routes` describes the operations with their handlers bound to the callback service; the host (the
console's /api/v1) signs the request in, checks the role and sets the acting user
(``restapi.http.ACTOR``), whose ``audit`` each change calls. :func:`callback_views` is what the answers
(and the console's callbacks page) are made of.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from aiohttp import web
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from callbacks.model import CallbackRequest
from callbacks.service import CallbackService
from restapi.http import ACTOR, Operation, body_of, error, path_param, query_param, reply
from restapi.models import Answer, Body, Timestamp

CALLBACK_ACTIONS = ("cancel", "reschedule", "call-now")
LIMIT = 500  # requests listed at most


# -- bodies and answers ------------------------------------------------------------------------------------


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a text")
    return value


def _sensible_year(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2100:
        raise ValueError("the year must be from 2000 to 2100")
    return value


class Reschedule(Body):
    at: Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_text_only), AfterValidator(_sensible_year)]
    messages: ClassVar[dict[str, str]] = {"at": "at must be an ISO 8601 time with a UTC offset"}


class Callback(Answer):
    id: int
    number: str
    language: str
    topic: str
    specialty: str | None
    queue: str
    origin: str
    status: str
    attempts: int
    created_at: Timestamp
    next_attempt_at: Timestamp
    expires_at: Timestamp
    priority: int


# -- views -------------------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def callback_view(r: CallbackRequest) -> dict[str, Any]:
    """One request as a :class:`Callback`."""
    return {
        "id": r.id,
        "number": r.number,
        "language": r.language,
        "topic": r.topic,
        "specialty": r.specialty,
        "queue": r.queue,
        "origin": str(r.origin),
        "status": str(r.status),
        "attempts": r.attempts,
        "created_at": _iso(r.created_at),
        "next_attempt_at": _iso(r.next_attempt_at),
        "expires_at": _iso(r.expires_at),
        "priority": r.priority,
    }


async def callback_views(callbacks: CallbackService, status: str) -> list[dict[str, Any]]:
    """The open requests (``status`` "open") or all of them ("all"), newest first, at most :data:`LIMIT`."""
    requests = await (callbacks.open_requests() if status == "open" else callbacks.all_requests())
    return [callback_view(r) for r in sorted(requests, key=lambda r: r.id or 0, reverse=True)[:LIMIT]]


# -- handlers ----------------------------------------------------------------------------------------------


class _Handlers:
    def __init__(self, callbacks: CallbackService) -> None:
        self.callbacks = callbacks

    async def callbacks_list(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "open")
        if status not in ("open", "all"):
            raise error(web.HTTPBadRequest, "status must be open or all")
        return reply(list[Callback], await callback_views(self.callbacks, status))

    async def callback_action(self, request: web.Request) -> web.Response:
        raw_id, action = request.match_info["id"], request.match_info["action"]
        if action not in CALLBACK_ACTIONS:
            raise error(web.HTTPNotFound, f"unknown action {action!r} (one of {', '.join(CALLBACK_ACTIONS)})")
        if not raw_id.isdigit() or len(raw_id) > 9:
            raise error(web.HTTPBadRequest, "the callback id must be a whole number")
        request_id = int(raw_id)
        callbacks = self.callbacks
        if await callbacks.get(request_id) is None:
            raise error(web.HTTPNotFound, f"no callback request {request_id}")
        details: dict[str, Any] = {}
        if action == "cancel":
            done = await callbacks.cancel(request_id)
        else:
            when = (
                (await body_of(request, Reschedule)).at.astimezone(UTC) if action == "reschedule" else datetime.now(UTC)
            )
            details["at"] = _iso(when)
            done = await callbacks.reschedule(request_id, when)
        if not done:
            raise error(web.HTTPConflict, f"callback request {request_id} is not open (or is being dialled)")
        await request[ACTOR].audit(f"callback.{action}", str(request_id), details)
        updated = await callbacks.get(request_id)
        assert updated is not None  # requests are never deleted
        return reply(Callback, callback_view(updated))


def routes(callbacks: CallbackService) -> tuple[Operation, ...]:
    """Callbacks' operations, their handlers bound to ``callbacks``."""
    h = _Handlers(callbacks)
    return (
        Operation(
            "get",
            "/callbacks",
            "callbacks_list",
            f"callback requests, newest first (at most {LIMIT})",
            h.callbacks_list,
            answer=list[Callback],
            errors=(400,),
            parameters=(query_param("status", {"type": "string", "enum": ["open", "all"]}),),
        ),
        Operation(
            "post",
            "/callbacks/{id}/{action}",
            "callback_action",
            "cancel, reschedule (body {at: ISO 8601 with offset}) or call now",
            h.callback_action,
            body=Reschedule,
            body_required=False,
            answer=Callback,
            errors=(400, 403, 404, 409),
            parameters=(
                path_param("id", {"type": "integer", "minimum": 1}),
                path_param("action", {"type": "string", "enum": list(CALLBACK_ACTIONS)}),
            ),
        ),
    )
