"""The OpenAPI 3.1 document of /api/v1, generated from the operations mounted there and their models.

The operations are the console's own (``console.app.OPERATIONS``) and the features' (``routing.http``,
``callbacks.http``, ``cdr.http``, each ``routes(service)``): :func:`document` describes each from its body
and answer models (``restapi.models`` bases), whose JSON Schemas go under ``components/schemas``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from restapi.http import Operation
from restapi.models import Body, Error

REF = "#/components/schemas/{model}"
SAFE = frozenset({"get", "head", "options"})

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


def document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` (the console builds it once)."""
    operations = tuple(operations)
    names = [op.name for op in operations]
    if len(set(names)) != len(names):
        raise ValueError(f"operation ids must be unique: {sorted({n for n in names if names.count(n) > 1})}")
    models: set[type[BaseModel]] = {Error}
    for op in operations:
        models |= {x for x in (op.body, _model_of(op.answer)) if x is not None}
        models |= {model for _, model in op.error_answers}
    if len({model.__name__ for model in models}) != len(models):
        raise ValueError("two models of the API have the same name: their schemas would be renamed")
    pairs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = sorted(
        ((model, "validation" if issubclass(model, Body) else "serialization") for model in models),
        key=lambda pair: pair[0].__name__,
    )
    _, schemas = models_json_schema(pairs, ref_template=REF)
    error = _json({"$ref": REF.format(model="Error")}, "refused")
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
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
        for code, model in op.error_answers:
            responses[str(code)] = _json(_schema_of(model), "refused")
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
