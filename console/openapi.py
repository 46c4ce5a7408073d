"""The OpenAPI 3.1 document of /api/v1, generated from the API's models and its table of operations.

:data:`OPERATIONS` is the one list of the API's routes: ``console.app`` registers a handler for
each, and :func:`document` describes each from its body and answer models
(``console.api_models``), whose JSON Schemas go under ``components/schemas``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from console import api_models as m

REF = "#/components/schemas/{model}"
SAFE = frozenset({"get", "head", "options"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # under /api/v1
    name: str  # the handler's name in console.app, and the operationId
    summary: str
    body: type[m.Body] | None = None
    body_required: bool = True
    answer: Any = None  # a model, or list[model]
    status: int = 200
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    public: bool = False
    websocket: bool = False


def _path(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PERSON = _path("person", {"type": "string", "maxLength": 64}, "an agent's or doctor's id")
USER = _path("name", {"type": "string", "minLength": 1, "maxLength": 64}, "a console user's name")

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/openapi.json", "openapi", "this document", answer=None, public=True),
    Operation(
        "post",
        "/session",
        "session_create",
        "sign in: sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token; "
        "after too many failures for a name or from an address, 429 with Retry-After",
        body=m.SessionCreate,
        answer=m.SessionCreated,
        errors=(400, 401, 429),
        public=True,
    ),
    Operation(
        "delete",
        "/session",
        "session_delete",
        "sign out (cookie sessions only; 400 with a token): the session ends and its live feeds close",
        answer=m.Done,
        errors=(400, 403),
    ),
    Operation("get", "/me", "me", "who is asking", answer=m.Me),
    Operation(
        "put",
        "/me/language",
        "me_language",
        "the UI language of the user (any role)",
        body=m.LanguageChange,
        answer=m.LanguageOut,
        errors=(400, 403),
    ),
    Operation(
        "put",
        "/me/password",
        "me_password",
        "change one's own password (any role), giving the old one; one's other sessions end",
        body=m.PasswordChange,
        answer=m.Done,
        errors=(400, 403),
    ),
    Operation("get", "/users", "users_list", "users (supervisors)", answer=list[m.UserOut], errors=(403,)),
    Operation(
        "post",
        "/users",
        "users_add",
        "add a user (supervisors)",
        body=m.NewUser,
        answer=m.UserOut,
        status=201,
        errors=(400, 403, 409),
    ),
    Operation(
        "delete",
        "/users/{name}",
        "users_remove",
        "remove a user with their sessions and tokens (supervisors; not oneself, not the last supervisor)",
        answer=m.Done,
        errors=(403, 404, 409),
        parameters=(USER,),
    ),
    Operation(
        "post",
        "/users/{name}/disable",
        "users_disable",
        "disable a user: their sessions end, their tokens stop working, their live feeds close",
        answer=m.UserOut,
        errors=(403, 404, 409),
        parameters=(USER,),
    ),
    Operation(
        "post",
        "/users/{name}/enable",
        "users_enable",
        "enable a disabled user again",
        answer=m.UserOut,
        errors=(403, 404),
        parameters=(USER,),
    ),
    Operation(
        "put",
        "/users/{name}/password",
        "users_password",
        "set another user's password (supervisors): their sessions end",
        body=m.PasswordReset,
        answer=m.Done,
        errors=(400, 403, 404),
        parameters=(USER,),
    ),
    Operation(
        "get",
        "/tokens",
        "tokens_list",
        "API tokens (supervisors): never their clear text",
        answer=list[m.TokenOut],
        errors=(403,),
    ),
    Operation(
        "post",
        "/tokens",
        "tokens_add",
        "create an API token for oneself (supervisors); shown once",
        body=m.NewToken,
        answer=m.TokenCreated,
        status=201,
        errors=(400, 403),
    ),
    Operation(
        "delete",
        "/tokens/{id}",
        "tokens_revoke",
        "revoke an API token for good (supervisors); live feeds opened with it close",
        answer=m.TokenOut,
        errors=(400, 403, 404),
        parameters=(_path("id", {"type": "integer", "minimum": 1}),),
    ),
    Operation(
        "get",
        "/audit",
        "audit_list",
        "the latest changes and failed sign-ins, newest first",
        answer=list[m.AuditEntry],
        errors=(400,),
        parameters=(_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),),
    ),
    Operation(
        "get",
        "/wallboard",
        "wallboard",
        "per queue: waiting, longest wait, service level today, people, callbacks; totals",
        answer=m.Wallboard,
    ),
    Operation("get", "/agents", "agents_list", "every person: state, skills, queues", answer=list[m.Agent]),
    Operation(
        "post",
        "/agents/{person}/{action}",
        "agent_action",
        "log in, log out, pause (optional reason), unpause",
        body=m.Pause,
        body_required=False,
        answer=m.AgentDone,
        errors=(400, 403, 404, 409),
        parameters=(PERSON, _path("action", {"type": "string", "enum": ["login", "logout", "pause", "unpause"]})),
    ),
    Operation(
        "put",
        "/agents/{person}/skills",
        "agent_skills",
        "change a person's topics and specialties (stored; applied at the next login)",
        body=m.Skills,
        answer=m.SkillsOut,
        errors=(400, 403, 404),
        parameters=(PERSON,),
    ),
    Operation(
        "get", "/queues", "queues_list", "queues: seats now and per shift, members, overflow rules", answer=m.Queues
    ),
    Operation(
        "put",
        "/queues/{queue}/seats",
        "queue_seats",
        "the queue's seats for the current shift, live",
        body=m.Seats,
        answer=m.SeatsOut,
        errors=(400, 403, 404),
        parameters=(_path("queue", {"type": "string", "maxLength": 128}),),
    ),
    Operation(
        "get",
        "/callbacks",
        "callbacks_list",
        "callback requests, newest first (at most 500)",
        answer=list[m.Callback],
        errors=(400,),
        parameters=(_query("status", {"type": "string", "enum": ["open", "all"]}),),
    ),
    Operation(
        "post",
        "/callbacks/{id}/{action}",
        "callback_action",
        "cancel, reschedule (body {at: ISO 8601 with offset}) or call now",
        body=m.Reschedule,
        body_required=False,
        answer=m.Callback,
        errors=(400, 403, 404, 409),
        parameters=(
            _path("id", {"type": "integer", "minimum": 1}),
            _path("action", {"type": "string", "enum": ["cancel", "reschedule", "call-now"]}),
        ),
    ),
    Operation(
        "get",
        "/reports/staffing",
        "report_api",
        "a day's intervals: offered, answered, service level, people needed against present",
        answer=m.StaffingReport,
        errors=(400,),
        parameters=(
            _query("day", {"type": "string", "format": "date"}),
            _query("interval", {"type": "integer", "enum": [15, 30, 60]}),
        ),
    ),
    Operation(
        "get",
        "/live",
        "live",
        "WebSocket: a wallboard snapshot at once (LiveSnapshot), then on every change (at most 4 a "
        "second); closed when the session ends, the user is disabled or the token revoked",
        answer=m.LiveSnapshot,
        errors=(400, 403),
        websocket=True,
    ),
)

DESCRIPTION = (
    "Live wallboard and control of queues, seats, agents and callbacks. Authenticate with "
    "`Authorization: Bearer <token>` (tokens: `hotline token add USER`, or POST /api/v1/tokens for oneself), "
    "or with the session cookie from POST /api/v1/session; cookie requests that change something must send "
    "the session's CSRF token in `X-CSRF-Token`, from the console's own origin. Role `viewer` may only read "
    '(403 otherwise). Errors are JSON `{"error": message}`; bodies with unknown fields are refused. '
    "Live updates: WebSocket GET /api/v1/live (messages: LiveSnapshot)."
)


def _model_of(shape: Any) -> type[BaseModel] | None:
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        return shape
    args = get_args(shape)
    return _model_of(args[0]) if get_origin(shape) is list and args else None


def _schema_of(shape: Any) -> dict[str, Any]:
    if get_origin(shape) is list:
        return {"type": "array", "items": _schema_of(get_args(shape)[0])}
    return {"$ref": REF.format(model=shape.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once)."""
    models: set[type[BaseModel]] = {m.Error}
    for op in OPERATIONS:
        models |= {x for x in (op.body, _model_of(op.answer)) if x is not None}
    pairs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = sorted(
        ((model, "validation" if issubclass(model, m.Body) else "serialization") for model in models),
        key=lambda pair: pair[0].__name__,
    )
    _, schemas = models_json_schema(pairs, ref_template=REF)
    error = _json({"$ref": REF.format(model="Error")}, "refused")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        item: dict[str, Any] = {"operationId": op.name, "summary": op.summary}
        if op.public:
            item["security"] = []
        elif op.method not in SAFE:
            item["security"] = [{"bearer": []}, {"session": [], "csrf": []}]
        if op.parameters:
            item["parameters"] = list(op.parameters)
        if op.body is not None:
            item["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": _schema_of(op.body)}},
            }
        if op.websocket:
            responses: dict[str, Any] = {
                "101": {
                    "description": "switching to WebSocket; each message is a "
                    "LiveSnapshot (#/components/schemas/LiveSnapshot)"
                }
            }
        elif op.answer is None:
            responses = {str(op.status): _json({"type": "object"}, "ok")}
        else:
            responses = {str(op.status): _json(_schema_of(op.answer), "ok")}
        for code in sorted({*op.errors, *(() if op.public else (401,))}):
            responses[str(code)] = error
        item["responses"] = responses
        paths.setdefault("/api/v1" + op.path, {})[op.method] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline supervisor console API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (hlc_…)"},
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "hotline_console",
                    "description": "the session cookie set by POST /api/v1/session",
                },
                "csrf": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRF-Token",
                    "description": "the session's CSRF token, with the cookie, on every change",
                },
            },
            "schemas": schemas["$defs"],
        },
        "paths": paths,
    }
