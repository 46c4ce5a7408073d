"""The OpenAPI 3 document of the console's REST API (/api/v1), written by hand next to supervisor/app.py."""

from __future__ import annotations

from typing import Any

_ERROR = {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(schema: dict[str, Any], description: str = "ok") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _ERROR for code in (401, *codes)}


_OBJ = {"type": "object"}
_ARR = {"type": "array", "items": {"type": "object"}}
_PERSON = {"name": "person", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "hotline supervisor console API",
        "version": "1",
        "description": (
            "Live wallboard and control of queues, seats, agents and callbacks. Authenticate with "
            "`Authorization: Bearer <token>` (tokens: `hotline token add USER`), or with the session cookie "
            "from POST /api/v1/session; cookie requests that change something must send the session's "
            "CSRF token in `X-CSRF-Token`. Role `viewer` may only read (403 otherwise). Errors are JSON "
            "`{\"error\": message}`. Live updates: WebSocket GET /api/v1/live (messages `{type: snapshot, ...}`)."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}, {"session": []}],
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "hotline_console"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Me": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "role": {"type": "string", "enum": ["supervisor", "viewer"]},
                    "language": {"type": "string", "enum": ["ar", "en"]},
                },
            },
        },
    },
    "paths": {
        "/api/v1/openapi.json": {
            "get": {"summary": "this document", "security": [], "responses": {"200": _json(_OBJ)}},
        },
        "/api/v1/session": {
            "post": {
                "summary": "sign in: sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token",
                "security": [],
                "requestBody": _body({
                    "type": "object", "required": ["name", "password"],
                    "properties": {"name": {"type": "string", "maxLength": 64},
                                   "password": {"type": "string", "maxLength": 1024}},
                }),
                "responses": {"200": _json(_OBJ), "400": _ERROR, "401": _ERROR},
            },
            "delete": {
                "summary": "sign out (cookie sessions only; 400 with a token)",
                "responses": {"200": _json(_OBJ), **_errors(400, 403)},
            },
        },
        "/api/v1/me": {
            "get": {"summary": "who is asking", "responses": {"200": _json({"$ref": "#/components/schemas/Me"}),
                                                                **_errors()}},
        },
        "/api/v1/me/language": {
            "put": {
                "summary": "the UI language of the user (any role)",
                "requestBody": _body({"type": "object", "required": ["language"],
                                      "properties": {"language": {"type": "string", "enum": ["ar", "en"]}}}),
                "responses": {"200": _json(_OBJ), **_errors(400, 403)},
            },
        },
        "/api/v1/users": {
            "get": {"summary": "users (supervisors)", "responses": {"200": _json(_ARR), **_errors(403)}},
            "post": {
                "summary": "add a user (supervisors)",
                "requestBody": _body({
                    "type": "object", "required": ["name", "password", "role"],
                    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64},
                                   "password": {"type": "string", "minLength": 10, "maxLength": 1024},
                                   "role": {"type": "string", "enum": ["supervisor", "viewer"]},
                                   "language": {"type": "string", "enum": ["ar", "en"]}},
                }),
                "responses": {"201": _json({"$ref": "#/components/schemas/Me"}), **_errors(400, 403, 409)},
            },
        },
        "/api/v1/tokens": {
            "post": {
                "summary": "create an API token (supervisors); the token is shown once",
                "requestBody": _body({"type": "object", "required": ["label"],
                                      "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 64},
                                                     "user": {"type": "string", "maxLength": 64}}}),
                "responses": {"201": _json(_OBJ), **_errors(400, 403, 404)},
            },
        },
        "/api/v1/audit": {
            "get": {
                "summary": "the latest changes, newest first",
                "parameters": [{"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                "responses": {"200": _json(_ARR), **_errors(400)},
            },
        },
        "/api/v1/wallboard": {
            "get": {"summary": "per queue: waiting, longest wait, service level today, people, callbacks; totals",
                    "responses": {"200": _json(_OBJ), **_errors()}},
        },
        "/api/v1/agents": {
            "get": {"summary": "every person: state, skills, queues", "responses": {"200": _json(_ARR), **_errors()}},
        },
        "/api/v1/agents/{person}/{action}": {
            "post": {
                "summary": "log in, log out, pause (optional reason), unpause",
                "parameters": [_PERSON, {"name": "action", "in": "path", "required": True,
                                         "schema": {"type": "string", "enum": ["login", "logout", "pause", "unpause"]}}],
                "requestBody": _body({"type": "object",
                                      "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 64}}},
                                     required=False),
                "responses": {"200": _json(_OBJ), **_errors(400, 403, 404, 409)},
            },
        },
        "/api/v1/agents/{person}/skills": {
            "put": {
                "summary": "change a person's topics and specialties (stored; applied at the next login)",
                "parameters": [_PERSON],
                "requestBody": _body({"type": "object",
                                      "properties": {"topics": {"type": "array", "items": {"type": "string"}},
                                                     "specialties": {"type": "array", "items": {"type": "string"}}}}),
                "responses": {"200": _json(_OBJ), **_errors(400, 403, 404)},
            },
        },
        "/api/v1/queues": {
            "get": {"summary": "queues: seats now and per shift, members, overflow rules",
                    "responses": {"200": _json(_OBJ), **_errors()}},
        },
        "/api/v1/queues/{queue}/seats": {
            "put": {
                "summary": "the queue's seats for the current shift, live",
                "parameters": [{"name": "queue", "in": "path", "required": True,
                                "schema": {"type": "string", "maxLength": 128}}],
                "requestBody": _body({"type": "object", "required": ["seats"],
                                      "properties": {"seats": {"type": "integer", "minimum": 0, "maximum": 10000}}}),
                "responses": {"200": _json(_OBJ), **_errors(400, 403, 404)},
            },
        },
        "/api/v1/callbacks": {
            "get": {
                "summary": "callback requests, newest first (at most 500)",
                "parameters": [{"name": "status", "in": "query", "required": False,
                                "schema": {"type": "string", "enum": ["open", "all"]}}],
                "responses": {"200": _json(_ARR), **_errors(400)},
            },
        },
        "/api/v1/callbacks/{id}/{action}": {
            "post": {
                "summary": "cancel, reschedule (body {at: ISO 8601 with offset}) or call now",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "action", "in": "path", "required": True,
                     "schema": {"type": "string", "enum": ["cancel", "reschedule", "call-now"]}},
                ],
                "requestBody": _body({"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}},
                                     required=False),
                "responses": {"200": _json(_OBJ), **_errors(400, 403, 404, 409)},
            },
        },
        "/api/v1/reports/staffing": {
            "get": {
                "summary": "a day's intervals: offered, answered, service level, people needed against present",
                "parameters": [
                    {"name": "day", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}},
                    {"name": "interval", "in": "query", "required": False,
                     "schema": {"type": "integer", "enum": [15, 30, 60]}},
                ],
                "responses": {"200": _json(_OBJ), **_errors(400)},
            },
        },
        "/api/v1/live": {
            "get": {
                "summary": "WebSocket: a wallboard snapshot at once, then on every change (at most 4 a second)",
                "responses": {"101": {"description": "switching to WebSocket"}, **_errors(400, 403)},
            },
        },
    },
}
