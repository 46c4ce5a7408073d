"""What a feature's HTTP handlers share with their host: the description of an operation, the acting user,
JSON refusals, bodies and answers.

A feature's ``http.py`` describes its operations with :class:`Operation` (``routes(service)`` returns them,
their handlers bound to the service); the host (the console, for /api/v1) registers each handler under its
prefix, signs the request in, applies CSRF and the roles, sets :data:`ACTOR` and generates the OpenAPI
document from the operations. A handler refuses with :func:`error` (``{"error": message}``), reads its body
with :func:`body_of` and answers with :func:`reply`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from restapi.models import Body, BodyError, dump, parse

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: ``await audit(action, target, details)``: record a change made by the acting user.
Audit = Callable[[str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    """One route of the API, described once: the host registers ``handler`` and documents the rest."""

    method: str  # lower case: get, post, put, delete
    path: str  # under the host's prefix (/api/v1)
    name: str  # the operationId
    summary: str
    handler: Handler
    body: type[Body] | None = None
    body_required: bool = True
    answer: Any = None  # a model, or list[model]
    status: int = 200
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    #: Roles: reads are for every signed-in user and changes for those whose role may change things,
    #: unless the operation is ``public`` (no sign-in) or ``any_role`` (a change anyone signed in may make).
    public: bool = False
    any_role: bool = False
    websocket: bool = False
    #: Roles that may make this change besides those whose role may change everything (e.g. ``agent``).
    roles: tuple[str, ...] = ()
    #: A read only those who may change (and ``roles``) may make: health data (the call recordings).
    restricted: bool = False
    #: Refusals whose body says more than ``{"error": message}``: (status, answer model), documented as such.
    error_answers: tuple[tuple[int, Any], ...] = ()


@dataclass(frozen=True)
class Actor:
    """Who acts on a request, set by the host (under :data:`ACTOR`) once the request is signed in and allowed."""

    name: str
    audit: Audit  # the host also refreshes what it shows of the feature's figures
    person: str | None = None  # the profile's id the user is linked to (an agent's desk, a supervisor's own phone)


ACTOR = web.RequestKey("restapi.actor", Actor)


def path_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    """A refusal with the JSON body ``{"error": message}``."""
    return status(text=json.dumps({"error": message}), content_type="application/json")


B = TypeVar("B", bound=Body)


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        raise error(web.HTTPBadRequest, "a JSON object body is required")
    try:
        body = await request.json(loads=lambda s: json.loads(s, parse_constant=_no_constant))
    except (ValueError, UnicodeDecodeError):
        raise error(web.HTTPBadRequest, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


async def body_of(request: web.Request, model: type[B], optional: bool = False) -> B:
    """The request's JSON body as ``model`` (400 naming the field otherwise); with ``optional``, no
    body is the model's defaults."""
    if optional and not request.can_read_body:
        return parse(model, {})
    try:
        return parse(model, await json_body(request))
    except BodyError as exc:
        raise error(web.HTTPBadRequest, str(exc)) from None


def reply(shape: Any, data: Any, status: int = 200) -> web.Response:
    """``data`` checked against the answer model ``shape``, as JSON."""
    return web.json_response(dump(shape, data), status=status)
