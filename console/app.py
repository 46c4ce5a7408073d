"""The supervisor console: pages, the REST API under /api/v1, and live wallboard pushes over a WebSocket.

Mounted by ``hotline.service.build_app`` with :func:`setup_console`. Access:

* people sign in with a name and password (argon2); the server keeps the session (table
  ``console_sessions``) and the browser a random id in an HttpOnly, SameSite=Strict cookie (Secure
  when the request came over https, or always with ``HOTLINE_CONSOLE_SECURE_COOKIES=1`` behind a
  TLS-terminating proxy). Every unsafe request made with the cookie must carry the session's CSRF
  token (``X-CSRF-Token`` header, or the ``csrf_token`` form field), and a foreign ``Origin`` is refused;
* automation sends ``Authorization: Bearer <token>`` (tokens are stored as SHA-256; no CSRF);
* ``supervisor`` may change things, ``viewer`` only looks (403 on any change but their own language
  and password);
* each change is written to ``audit_log`` (who, what, target, details, when), and so is each failed sign-in;
* sign-in is throttled per name and per address (429 with Retry-After, the same whether or not the
  name exists); disabling or removing a user, signing out or revoking a token ends the sessions and
  closes the live feeds concerned;
* behind a TLS proxy, ``public_origin`` (``HOTLINE_PUBLIC_ORIGIN``) is the only Origin accepted.

Bodies and answers of /api/v1 are the pydantic models of ``console.api_models``; ``console.openapi``
lists the operations (registered here from that list) and generates the OpenAPI document from them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import WSMsgType, web

from callbacks.service import CallbackService
from cdr.reports import ReportParams, build_report, report_to_dict
from cdr.service import RecordService
from console import api_models as m
from console import i18n
from console.api_models import BodyError, dump, parse
from console.db import SESSION_HOURS, ConsoleError, ConsoleStore, Session, Token, User, digest
from console.hub import LiveClient, LiveHub
from console.openapi import OPERATIONS, document
from console.throttle import LoginThrottle
from profiles.model import Profile
from routing.queues import build_queues
from routing.service import AgentDesk, AgentDeskError
from routing.state import PersonState
from telephony.ami.client import AMIClient
from telephony.names import queue_name

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
COOKIE = "hotline_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
AGENT_ACTIONS = ("login", "logout", "pause", "unpause")
CALLBACK_ACTIONS = ("cancel", "reschedule", "call-now")
PAGES = ("/", "/agents", "/queues", "/callbacks", "/reports")
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/session")}
# Changes every signed-in user may make, whatever the role (their own session and language).
ANY_ROLE = {
    ("DELETE", "/api/v1/session"),
    ("PUT", "/api/v1/me/language"),
    ("PUT", "/api/v1/me/password"),
    ("POST", "/logout"),
}
SL_SECONDS = 20.0
CACHE_SECONDS = 5.0
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class Backend(Protocol):
    """What the console needs of the running service; the composition root hands it in."""

    @property
    def profile(self) -> Profile: ...
    @property
    def db_url(self) -> str: ...
    @property
    def desk(self) -> AgentDesk: ...
    @property
    def callbacks(self) -> CallbackService: ...
    @property
    def ami(self) -> AMIClient: ...
    @property
    def local_token(self) -> str | None: ...
    @property
    def records(self) -> RecordService: ...
    @property
    def public_origin(self) -> str | None:
        """The origin browsers use (``https://hotline.example.org``) behind a proxy; None: the request's own."""
        ...


@dataclasses.dataclass(frozen=True)
class Principal:
    user: User
    via: str  # session | token
    session: Session | None = None
    secret: str | None = None  # the cookie value (to end the session)
    token_id: int | None = None  # the API token used (via token)


#: Who acts through the token that the service writes for local tools (`hotline agent`, `hotline seats`).
LOCAL_ADMIN = User(id=0, name="local admin", role="supervisor", language="en")


def error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


class Console:
    """The console's state: its store, the live hub and the pages; built with no I/O, started by console_ctx."""

    def __init__(self, backend: Backend, store: ConsoleStore, throttle: LoginThrottle | None = None) -> None:
        self.backend = backend
        self.store = store
        self.throttle = throttle or LoginThrottle()
        self.hub = LiveHub(self.live_payload, still_valid=self._still_valid)
        self._cache: tuple[float, dict[str, tuple[int, int]], dict[str, int]] | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("console", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
        )

    async def _still_valid(self, clients: list[LiveClient]) -> set[LiveClient]:
        """The live feeds whose session or token is still valid (feeds of the local admin token always are)."""
        sessions = {c.session for c in clients if c.session is not None}
        tokens = {c.token for c in clients if c.token is not None}
        live_sessions, live_tokens = await self.store.still_valid(sessions, tokens)
        return {
            c
            for c in clients
            if (
                c.session in live_sessions
                if c.session is not None
                else c.token in live_tokens
                if c.token is not None
                else True
            )
        }

    async def on_record(self, _record: object) -> None:
        """A record hook: today's figures changed."""
        self.invalidate()

    def invalidate(self) -> None:
        self._cache = None
        self.hub.poke()

    async def audit(self, request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
        who: Principal = request[PRINCIPAL]
        await self.store.audit(who.user.name, who.via, action, target, details)
        self.hub.poke()

    # -- figures -------------------------------------------------------------------------------
    async def _slow_figures(self) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < CACHE_SECONDS:
            return self._cache[1], self._cache[2]
        profile = self.backend.profile
        midnight = datetime.now(ZoneInfo(profile.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
        today = await self.backend.records.store.service_level_by_queue(midnight.astimezone(UTC), SL_SECONDS)
        sl = {queue: (m.answered, m.answered_within) for queue, m in today.items()}
        callbacks: dict[str, int] = {}
        for request in await self.backend.callbacks.open_requests():
            callbacks[request.queue] = callbacks.get(request.queue, 0) + 1
        self._cache = (now, sl, callbacks)
        return sl, callbacks

    def seats(self) -> tuple[str | None, dict[str, int]]:
        """The current shift and the seats of each queue now (the live override, else the profile's)."""
        return self.backend.desk.seats_now()

    async def wallboard(self) -> dict[str, Any]:
        desk = self.backend.desk
        now = desk.clock()
        snapshot = desk.snapshot()
        sl, callbacks = await self._slow_figures()
        _, seats = self.seats()
        rows: list[dict[str, Any]] = []
        for queue in sorted(desk.queues):
            waits = [now - c.joined_at for c in snapshot.calls.values() if c.queue == queue]
            counts = {"available": 0, "on_call": 0, "paused": 0}
            for pid in snapshot.queues.get(queue, ()):
                view = snapshot.people[pid]
                membership = view.queues.get(queue)
                if view.state in (PersonState.ON_CALL, PersonState.RINGING, PersonState.WRAP_UP):
                    counts["on_call"] += 1
                elif view.state is PersonState.PAUSED or (membership is not None and membership.paused):
                    counts["paused"] += 1
                else:
                    counts["available"] += 1
            answered, within = sl.get(queue, (0, 0))
            rows.append({
                "queue": queue, "waiting": len(waits), "longest_wait": round(max(waits), 1) if waits else 0.0,
                "answered_today": answered, "answered_within_today": within,
                "service_level_today": within / answered if answered else None,
                **counts, "callbacks_pending": callbacks.get(queue, 0), "seats": seats.get(queue, 0),
            })  # fmt: skip
        people = [v for v in snapshot.people.values() if v.state is not PersonState.LOGGED_OUT]
        answered = sum(r["answered_today"] for r in rows)
        within = sum(r["answered_within_today"] for r in rows)
        totals = {
            "waiting": sum(r["waiting"] for r in rows),
            "longest_wait": max((r["longest_wait"] for r in rows), default=0.0),
            "answered_today": answered, "answered_within_today": within,
            "service_level_today": within / answered if answered else None,
            "available": sum(1 for v in people if v.state is PersonState.AVAILABLE and not all(
                m.paused for m in v.queues.values())),
            "on_call": sum(1 for v in people if v.state in (PersonState.ON_CALL, PersonState.RINGING,
                                                            PersonState.WRAP_UP)),
            "paused": sum(1 for v in people if v.state is PersonState.PAUSED),
            "callbacks_pending": sum(callbacks.values()),
        }  # fmt: skip
        return {"at": now, "sl_seconds": SL_SECONDS, "queues": rows, "totals": totals}

    def agents(self) -> list[dict[str, Any]]:
        desk = self.backend.desk
        snapshot = desk.snapshot()
        out = []
        for person in desk.profile.people:
            view = snapshot.people.get(person.id)
            session = desk.session(person.id)
            topics, specialties, overridden = desk.skills(person.id)
            out.append({
                "id": person.id, "name": person.name, "kind": person.kind, "level": person.level,
                "languages": dict(person.languages), "topics": list(topics), "specialties": list(specialties),
                "skills_overridden": overridden,
                "state": (view.state if view else PersonState.LOGGED_OUT).value,
                "pause_reason": (view.pause_reason if view else "") or session.pause_reason or "",
                "queues_now": sorted(view.queues) if view else [],
                "queues_at_login": sorted(desk.queues_at_login(person.id)),
                "logged_in": session.logged_in, "paused": session.paused,
            })  # fmt: skip
        return out

    def queues(self) -> dict[str, Any]:
        desk = self.backend.desk
        profile = desk.profile
        snapshot = desk.snapshot()
        shift_id, seats = self.seats()
        overflow_topic = profile.routing.overflow_topic or profile.default_topic
        rows = []
        for spec in build_queues(profile):
            rows.append({
                "queue": spec.name, "language": spec.language, "topic": spec.topic, "specialty": spec.specialty,
                "seats_now": seats.get(spec.name, 0), "seats_override": desk.seat_override(spec.name),
                "seats_by_shift": {s.id: profile.seats_for(spec.name, s.id) for s in profile.shifts},
                "members": [m.person_id for m in spec.members],
                "logged_in": list(snapshot.queues.get(spec.name, ())),
                "overflow_to": queue_name(spec.language, overflow_topic),
            })  # fmt: skip
        return {
            "current_shift": shift_id,
            "shifts": [{"id": s.id, "start": s.start.strftime("%H:%M"), "end": s.end.strftime("%H:%M")}
                       for s in profile.shifts],
            "rules": {"widen_after_seconds": profile.routing.widen_after_seconds,
                      "overflow_after_seconds": profile.routing.overflow_after_seconds,
                      "overflow_topic": overflow_topic},
            "queues": rows,
        }  # fmt: skip

    async def live_payload(self) -> dict[str, Any]:
        board = await self.wallboard()
        agents = {
            a["id"]: {"state": a["state"], "pause_reason": a["pause_reason"], "queues_now": a["queues_now"]}
            for a in self.agents()
        }
        return {**board, "agents": agents}


CONSOLE = web.AppKey("console", Console)
PRINCIPAL = web.RequestKey("principal", Principal)


# -- request helpers -----------------------------------------------------------------------------------

B = TypeVar("B", bound=m.Body)


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


def _person(request: web.Request) -> str:
    person = request.match_info["person"]
    if not _ID.match(person) or person not in request.config_dict[CONSOLE].backend.desk.people:
        raise error(web.HTTPNotFound, f"{person!r} is not an agent or doctor of this hotline")
    return person


def _public_origin(request: web.Request) -> str | None:
    origin = getattr(request.config_dict[CONSOLE].backend, "public_origin", None)
    return origin.rstrip("/").lower() if origin else None


def _own_origin(request: web.Request) -> bool:
    """No Origin (not a browser's cross-site request), or ours: the configured public origin when
    there is one (behind a TLS proxy the request itself looks like plain http), else the request's."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = _public_origin(request)
    if public is not None:
        return origin.rstrip("/").lower() == public
    return origin == f"{request.scheme}://{request.host}"


def _secure(request: web.Request) -> bool:
    public = _public_origin(request)
    return (
        request.secure
        or os.environ.get("HOTLINE_CONSOLE_SECURE_COOKIES") == "1"
        or (public is not None and public.startswith("https://"))
    )


def _set_session_cookie(request: web.Request, response: web.StreamResponse, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        path="/",
        max_age=SESSION_HOURS * 3600,
    )


async def _principal(request: web.Request) -> Principal | None:
    store = request.config_dict[CONSOLE].store
    auth = request.headers.get("Authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 256:
            raise error(web.HTTPUnauthorized, "the Authorization header must be 'Bearer <token>'")
        local = request.config_dict[CONSOLE].backend.local_token
        if local is not None and secrets.compare_digest(token.strip().encode(), local.encode()):
            return Principal(LOCAL_ADMIN, "local-token")
        found = await store.token(token.strip())
        if found is None:
            raise error(web.HTTPUnauthorized, "unknown or revoked API token")
        return Principal(found[0], "token", token_id=found[1])
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > 128:
        return None
    session = await store.session(secret)
    return None if session is None else Principal(session.user, "session", session, secret)


def _is_console(path: str) -> bool:
    return (
        path in PAGES
        or path in ("/login", "/logout")
        or path.startswith("/api/v1/")
        or path == "/api/v1"
        or path.startswith("/static/console/")
    )


def _harden(headers: Any, path: str) -> None:
    """The console's security headers, on every answer: pages, API, errors and redirects alike."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")  # "no-referrer" makes Origin: null
    headers.setdefault("X-Frame-Options", "DENY")
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


@web.middleware
async def console_middleware(request: web.Request, handler):
    path = request.path
    if not _is_console(path):
        return await handler(request)
    api = path.startswith("/api/v1")
    try:
        response = await _guarded(request, handler, api)
    except web.HTTPException as exc:
        if api and exc.content_type != "application/json" and exc.status >= 400:
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            response = web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
        else:
            _harden(exc.headers, path)
            raise
    except (ConsoleError, AgentDeskError, BodyError) as exc:
        refused = error(web.HTTPBadRequest, str(exc))
        _harden(refused.headers, path)
        raise refused from None
    except Exception:
        if not api:
            raise
        log.exception("console API error on %s %s", request.method, path)
        failed = error(web.HTTPInternalServerError, "internal error (logged)")
        _harden(failed.headers, path)
        raise failed from None
    if isinstance(response, web.StreamResponse) and not response.prepared:
        _harden(response.headers, path)
    return response


async def _guarded(request: web.Request, handler, api: bool):
    method, path = request.method, request.path
    if path.startswith("/static/console/") or (method, path) in PUBLIC:
        if method not in SAFE_METHODS and not _own_origin(request):
            raise error(web.HTTPForbidden, "cross-site request refused")
        return await handler(request)
    principal = await _principal(request)
    if principal is None:
        if api:
            raise error(web.HTTPUnauthorized, "sign in, or send an API token")
        raise web.HTTPSeeOther("/login")
    request[PRINCIPAL] = principal
    if method not in SAFE_METHODS:
        if principal.via == "session":
            if not _own_origin(request):
                raise error(web.HTTPForbidden, "cross-site request refused")
            sent: object = request.headers.get(CSRF_HEADER)
            if sent is None and request.content_type == "application/x-www-form-urlencoded":
                sent = (await request.post()).get("csrf_token")
            expected = principal.session.csrf_token if principal.session else ""
            if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
                raise error(web.HTTPForbidden, "missing or wrong CSRF token")
        if (method, path) not in ANY_ROLE and not principal.user.can_change:
            raise error(web.HTTPForbidden, "your role (viewer) cannot change anything")
    return await handler(request)


# -- sign-in, throttled --------------------------------------------------------------------------------


class Throttled(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {seconds} seconds")
        self.seconds = seconds


async def _check_throttle(request: web.Request, name: str) -> None:
    console = request.config_dict[CONSOLE]
    address = request.remote or "unknown"
    now = datetime.now(UTC)
    by_name, by_address = await console.store.login_failures(name, address, console.throttle.since(now))
    wait = console.throttle.retry_after(by_name, by_address, now)
    if wait is not None:
        log.warning("sign-in throttled for %r from %s (%ss)", name[:64], address, wait)
        raise Throttled(wait)


async def _failed_sign_in(request: web.Request, name: str, why: str) -> None:
    console = request.config_dict[CONSOLE]
    address = request.remote or "unknown"
    await console.store.add_login_failure(name, address)
    await console.store.audit(
        name[:64] or "-", "session", "session.login_failed", name, {"address": address, "why": why}
    )


async def sign_in(request: web.Request, name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` are right and sign-in is not throttled; a failure is counted
    and audited. Raises :class:`Throttled` (before the password is checked) after too many failures for
    this name, whether or not it exists, or from this address."""
    await _check_throttle(request, name)
    console = request.config_dict[CONSOLE]
    user = await console.store.authenticate(name, password)
    if user is None:
        await _failed_sign_in(request, name, "wrong user name or password, or disabled")
        return None
    await console.store.clear_login_failures(name)
    return user


def _throttled(exc: Throttled) -> web.HTTPException:
    refused = error(web.HTTPTooManyRequests, str(exc))
    refused.headers["Retry-After"] = str(exc.seconds)
    return refused


# -- API: session and user -------------------------------------------------------------------------------


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def session_create(request: web.Request) -> web.Response:
    body = await body_of(request, m.SessionCreate)
    console = request.config_dict[CONSOLE]
    try:
        user = await sign_in(request, body.name, body.password)
    except Throttled as exc:
        raise _throttled(exc) from None
    if user is None:
        raise error(web.HTTPUnauthorized, "wrong user name or password")
    secret, session = await console.store.new_session(user)
    await console.store.audit(user.name, "session", "session.login", user.name, {})
    response = reply(m.SessionCreated, {**_me(user), "csrf_token": session.csrf_token})
    _set_session_cookie(request, response, secret)
    return response


async def _end_session(request: web.Request, principal: Principal) -> None:
    console = request.config_dict[CONSOLE]
    assert principal.secret is not None
    await console.store.end_session(principal.secret)
    await console.hub.close_session(digest(principal.secret), "signed out")
    await console.audit(request, "session.logout", principal.user.name, {})


async def session_delete(request: web.Request) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    if principal.via != "session" or principal.secret is None:
        raise error(web.HTTPBadRequest, "requests with an API token have no session to end")
    await _end_session(request, principal)
    response = reply(m.Done, {"done": "logout"})
    response.del_cookie(COOKIE, path="/")
    return response


def _me(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "language": user.language}


def _user_out(user: User) -> dict[str, Any]:
    return {**_me(user), "disabled": user.disabled}


async def me(request: web.Request) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    return reply(m.Me, {**_me(principal.user), "via": principal.via})


async def me_language(request: web.Request) -> web.Response:
    language = (await body_of(request, m.LanguageChange)).language
    principal: Principal = request[PRINCIPAL]
    await request.config_dict[CONSOLE].store.set_language(principal.user.id, language)
    await request.config_dict[CONSOLE].audit(request, "user.language", principal.user.name, {"language": language})
    return reply(m.LanguageOut, {"language": language})


async def me_password(request: web.Request) -> web.Response:
    body = await body_of(request, m.PasswordChange)
    principal: Principal = request[PRINCIPAL]
    if principal.via == "local-token":
        raise error(web.HTTPBadRequest, "the local admin has no password")
    console = request.config_dict[CONSOLE]
    user = principal.user
    try:
        await _check_throttle(request, user.name)
    except Throttled as exc:
        raise _throttled(exc) from None
    if not await console.store.check_password_of(user.id, body.old_password):
        await _failed_sign_in(request, user.name, "wrong old password on a password change")
        raise error(web.HTTPForbidden, "the old password is wrong")
    await console.store.set_password(user.id, body.new_password)
    ended = await console.store.end_sessions(user.id, keep=principal.secret)
    kept = digest(principal.secret) if principal.secret else None
    await console.hub.close_where(
        lambda c: c.user_id == user.id and (kept is None or c.session != kept), "the password changed"
    )
    await console.audit(request, "user.password", user.name, {"sessions_ended": ended})
    return reply(m.Done, {"done": "password"})


def _supervisors_only(request: web.Request) -> None:
    if not request[PRINCIPAL].user.can_change:
        raise error(web.HTTPForbidden, "only supervisors see the users and tokens")


async def users_list(request: web.Request) -> web.Response:
    _supervisors_only(request)
    return reply(list[m.UserOut], [_user_out(u) for u in await request.config_dict[CONSOLE].store.users()])


async def users_add(request: web.Request) -> web.Response:
    body = await body_of(request, m.NewUser)
    console = request.config_dict[CONSOLE]
    try:
        user = await console.store.add_user(body.name, body.password, body.role, body.language)
    except ConsoleError as exc:
        status = web.HTTPConflict if "exists already" in str(exc) else web.HTTPBadRequest
        raise error(status, str(exc)) from None
    await console.audit(request, "user.add", user.name, {"role": user.role, "language": user.language})
    return reply(m.UserOut, _user_out(user), status=201)


async def _other_user(request: web.Request, doing: str) -> User:
    """The user named in the path: 404 if there is none, 409 if it is the one asking."""
    name = request.match_info["name"]
    user = await request.config_dict[CONSOLE].store.user_by_name(name) if len(name) <= 64 else None
    if user is None:
        raise error(web.HTTPNotFound, f"no user named {name!r}")
    if user.id == request[PRINCIPAL].user.id:
        raise error(web.HTTPConflict, f"you cannot {doing} yourself")
    return user


async def _end_access(console: Console, user: User, reason: str) -> int:
    """End every session of ``user`` and close their live feeds; how many sessions ended."""
    ended = await console.store.end_sessions(user.id)
    await console.hub.close_user(user.id, reason)
    return ended


async def users_remove(request: web.Request) -> web.Response:
    user = await _other_user(request, "remove")
    console = request.config_dict[CONSOLE]
    try:
        await console.store.remove_user(user)
    except ConsoleError as exc:
        raise error(web.HTTPConflict, str(exc)) from None
    await console.hub.close_user(user.id, "the user was removed")
    await console.audit(request, "user.remove", user.name, {"role": user.role})
    return reply(m.Done, {"done": "removed"})


async def users_disable(request: web.Request) -> web.Response:
    user = await _other_user(request, "disable")
    console = request.config_dict[CONSOLE]
    try:
        user = await console.store.set_disabled(user, True)
    except ConsoleError as exc:
        raise error(web.HTTPConflict, str(exc)) from None
    await console.hub.close_user(user.id, "the user was disabled")
    await console.audit(request, "user.disable", user.name, {})
    return reply(m.UserOut, _user_out(user))


async def users_enable(request: web.Request) -> web.Response:
    user = await _other_user(request, "enable")
    console = request.config_dict[CONSOLE]
    user = await console.store.set_disabled(user, False)
    await console.audit(request, "user.enable", user.name, {})
    return reply(m.UserOut, _user_out(user))


async def users_password(request: web.Request) -> web.Response:
    user = await _other_user(request, "reset the password of (use PUT /api/v1/me/password)")
    body = await body_of(request, m.PasswordReset)
    console = request.config_dict[CONSOLE]
    await console.store.set_password(user.id, body.password)
    ended = await _end_access(console, user, "the password was reset")
    await console.audit(request, "user.password_reset", user.name, {"sessions_ended": ended})
    return reply(m.Done, {"done": "password"})


def _token_out(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user,
        "label": token.label,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.revoked,
    }


async def tokens_list(request: web.Request) -> web.Response:
    _supervisors_only(request)
    return reply(list[m.TokenOut], [_token_out(t) for t in await request.config_dict[CONSOLE].store.tokens()])


async def tokens_add(request: web.Request) -> web.Response:
    body = await body_of(request, m.NewToken)
    console = request.config_dict[CONSOLE]
    principal: Principal = request[PRINCIPAL]
    owner = principal.user
    if principal.via == "local-token":  # the service's own token for local tools: like `hotline token add USER`
        if body.user is None:
            raise error(web.HTTPBadRequest, "the local admin has no user of its own: name the user")
        found = await console.store.user_by_name(body.user)
        if found is None:
            raise error(web.HTTPNotFound, f"no user named {body.user!r}")
        owner = found
    elif body.user is not None and body.user != owner.name:
        raise error(web.HTTPForbidden, "a token can only be made for yourself (on the server: hotline token add USER)")
    if owner.disabled:
        raise error(web.HTTPConflict, f"{owner.name!r} is disabled")
    token = await console.store.add_token(owner, body.label)
    await console.audit(request, "token.add", owner.name, {"label": body.label, "prefix": token[:10]})
    return reply(
        m.TokenCreated, {"user": owner.name, "label": body.label, "prefix": token[:10], "token": token}, status=201
    )


async def tokens_revoke(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise error(web.HTTPBadRequest, "the token id must be a whole number")
    console = request.config_dict[CONSOLE]
    token = await console.store.revoke_token(int(raw))
    if token is None:
        raise error(web.HTTPNotFound, f"no token {raw}")
    await console.hub.close_token(token.id, "the token was revoked")
    await console.audit(
        request, "token.revoke", token.user, {"id": token.id, "label": token.label, "prefix": token.prefix}
    )
    return reply(m.TokenOut, _token_out(token))


async def audit_list(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise error(web.HTTPBadRequest, "limit must be a whole number from 1 to 1000")
    return reply(list[m.AuditEntry], await request.config_dict[CONSOLE].store.audit_rows(int(raw)))


# -- API: wallboard, agents, queues -------------------------------------------------------------------------


async def wallboard(request: web.Request) -> web.Response:
    return reply(m.Wallboard, await request.config_dict[CONSOLE].wallboard())


async def agents_list(request: web.Request) -> web.Response:
    return reply(list[m.Agent], request.config_dict[CONSOLE].agents())


async def agent_action(request: web.Request) -> web.Response:
    person = _person(request)
    action = request.match_info["action"]
    if action not in AGENT_ACTIONS:
        raise error(web.HTTPNotFound, f"unknown action {action!r} (one of {', '.join(AGENT_ACTIONS)})")
    desk = request.config_dict[CONSOLE].backend.desk
    details: dict[str, Any] = {}
    try:
        if action == "pause":
            reason = (await body_of(request, m.Pause, optional=True)).reason
            details["reason"] = reason
            await desk.pause(person, reason)
        else:
            await getattr(desk, action)(person)
    except AgentDeskError as exc:
        raise error(web.HTTPConflict, str(exc)) from None
    await request.config_dict[CONSOLE].audit(request, f"agent.{action}", person, details)
    session = desk.session(person)
    return reply(
        m.AgentDone,
        {
            "person": person,
            "done": action,
            "logged_in": session.logged_in,
            "paused": session.paused,
            "pause_reason": session.pause_reason,
        },
    )


def _id_list(value: list[str], key: str, allowed: set[str]) -> tuple[str, ...]:
    unknown = sorted(set(value) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise error(web.HTTPBadRequest, f"unknown {key}: {', '.join(unknown[:5])} (known: {known})")
    return tuple(sorted(set(value)))


async def agent_skills(request: web.Request) -> web.Response:
    person = _person(request)
    body = await body_of(request, m.Skills)
    profile = request.config_dict[CONSOLE].backend.desk.profile
    topics = _id_list(body.topics, "topics", {t.id for t in profile.topics if not t.specialties})
    specialties = _id_list(body.specialties, "specialties", {s.id for t in profile.topics for s in t.specialties})
    console = request.config_dict[CONSOLE]
    queues = await console.backend.desk.set_skills(person, topics, specialties, by=request[PRINCIPAL].user.name)
    await console.audit(
        request,
        "agent.skills",
        person,
        {"topics": list(topics), "specialties": list(specialties), "queues_at_login": queues},
    )
    return reply(
        m.SkillsOut,
        {
            "person": person,
            "topics": list(topics),
            "specialties": list(specialties),
            "queues_at_login": queues,
            "applies": "at the next login",
        },
    )


async def queues_list(request: web.Request) -> web.Response:
    return reply(m.Queues, request.config_dict[CONSOLE].queues())


async def queue_seats(request: web.Request) -> web.Response:
    queue = request.match_info["queue"]
    desk = request.config_dict[CONSOLE].backend.desk
    if queue not in desk.queues:
        raise error(web.HTTPNotFound, f"{queue!r} is not a queue of this hotline")
    seats = (await body_of(request, m.Seats)).seats
    console = request.config_dict[CONSOLE]
    before = console.seats()[1].get(queue)
    await desk.set_seats(queue, seats, by=request[PRINCIPAL].user.name)
    shift, _ = console.seats()
    await console.audit(request, "queue.seats", queue, {"seats": seats, "before": before, "shift": shift})
    return reply(m.SeatsOut, {"queue": queue, "seats": seats, "shift": shift})


# -- API: callbacks and reports -----------------------------------------------------------------------------


def _callback_dict(r: Any) -> dict[str, Any]:
    def iso(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, UTC).isoformat()

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
        "created_at": iso(r.created_at),
        "next_attempt_at": iso(r.next_attempt_at),
        "expires_at": iso(r.expires_at),
        "priority": r.priority,
    }


async def _callbacks(request: web.Request, status: str) -> list[dict[str, Any]]:
    callbacks = request.config_dict[CONSOLE].backend.callbacks
    requests = await (callbacks.open_requests() if status == "open" else callbacks.all_requests())
    return [_callback_dict(r) for r in sorted(requests, key=lambda r: r.id or 0, reverse=True)[:500]]


async def callbacks_list(request: web.Request) -> web.Response:
    status = request.query.get("status", "open")
    if status not in ("open", "all"):
        raise error(web.HTTPBadRequest, "status must be open or all")
    return reply(list[m.Callback], await _callbacks(request, status))


async def callback_action(request: web.Request) -> web.Response:
    raw_id, action = request.match_info["id"], request.match_info["action"]
    if action not in CALLBACK_ACTIONS:
        raise error(web.HTTPNotFound, f"unknown action {action!r} (one of {', '.join(CALLBACK_ACTIONS)})")
    if not raw_id.isdigit() or len(raw_id) > 9:
        raise error(web.HTTPBadRequest, "the callback id must be a whole number")
    request_id = int(raw_id)
    callbacks = request.config_dict[CONSOLE].backend.callbacks
    if await callbacks.get(request_id) is None:
        raise error(web.HTTPNotFound, f"no callback request {request_id}")
    details: dict[str, Any] = {}
    if action == "cancel":
        done = await callbacks.cancel(request_id)
    else:
        when = (await body_of(request, m.Reschedule)).at.timestamp() if action == "reschedule" else time.time()
        details["at"] = datetime.fromtimestamp(when, UTC).isoformat()
        done = await callbacks.reschedule(request_id, when)
    if not done:
        raise error(web.HTTPConflict, f"callback request {request_id} is not open (or is being dialled)")
    console = request.config_dict[CONSOLE]
    await console.audit(request, f"callback.{action}", str(request_id), details)
    console.invalidate()
    updated = await callbacks.get(request_id)
    return reply(m.Callback, _callback_dict(updated))


async def staffing_report(console: Console, day: date, interval: int) -> Any:
    profile = console.backend.profile
    tz = ZoneInfo(profile.timezone)
    start = datetime.combine(day, clock_time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), clock_time(0), tz).astimezone(UTC)
    agg = await console.backend.records.store.aggregates(interval, SL_SECONDS, start, end)
    params = ReportParams(
        interval_minutes=interval, sl_seconds=SL_SECONDS, timezone=profile.timezone, start=start, end=end
    )
    return build_report(agg, params, shifts=profile.shifts)


def _report_query(request: web.Request) -> tuple[date, int]:
    profile = request.config_dict[CONSOLE].backend.profile
    raw_day = request.query.get("day") or datetime.now(ZoneInfo(profile.timezone)).date().isoformat()
    raw_interval = request.query.get("interval", "30")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_day):
            raise ValueError
        day = date.fromisoformat(raw_day)
        if not 2000 <= day.year <= 2100:
            raise ValueError
    except ValueError:
        raise error(web.HTTPBadRequest, "day must be a date YYYY-MM-DD (2000-2100)") from None
    if raw_interval not in ("15", "30", "60"):
        raise error(web.HTTPBadRequest, "interval must be 15, 30 or 60 (minutes)")
    return day, int(raw_interval)


async def report_api(request: web.Request) -> web.Response:
    day, interval = _report_query(request)
    data = report_to_dict(await staffing_report(request.config_dict[CONSOLE], day, interval))
    keep = ("start", "offered", "answered", "service_level", "needed", "present", "gap")
    return reply(m.StaffingReport, {
        "day": day.isoformat(), "params": data["params"], "totals": data["totals"], "shifts": data["shifts"],
        "intervals": [{k: row[k] for k in keep} for row in data["intervals"]],
    })  # fmt: skip


# -- WebSocket -----------------------------------------------------------------------------------------------


async def live(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30.0)
    if not ws.can_prepare(request).ok:
        raise error(web.HTTPBadRequest, "this is a WebSocket endpoint: connect with a WebSocket client")
    if not _own_origin(request):
        raise error(web.HTTPForbidden, "cross-site WebSocket refused")
    console = request.config_dict[CONSOLE]
    principal: Principal = request[PRINCIPAL]
    first = await console.live_payload()
    await ws.prepare(request)
    client = LiveClient(
        ws,
        request.transport,
        principal.user.id,
        session=digest(principal.secret) if principal.secret else None,
        token=principal.token_id,
        expires_at=principal.session.expires_at if principal.session else None,
    )
    console.hub.join(client, first)
    try:
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        console.hub.leave(client)
    return ws


# -- pages ------------------------------------------------------------------------------------------------


def render(
    request: web.Request, template: str, status: int = 200, language: str | None = None, **context: Any
) -> web.Response:
    principal: Principal | None = request.get(PRINCIPAL)
    lang = language or (principal.user.language if principal else "en")
    page = (
        request.config_dict[CONSOLE]
        .templates.get_template(template)
        .render(
            lang=lang,
            dir=i18n.DIRECTION[lang],
            t=lambda key: i18n.t(lang, key),
            user=principal.user if principal else None,
            csrf=principal.session.csrf_token if principal and principal.session else "",
            path=request.path,
            strings=_script_json(
                {k: v for k, v in i18n.CATALOGUE[lang].items() if k.startswith(("state.", "msg.", "live.", "wb."))}
            ),
            **context,
        )
    )
    return web.Response(text=page, content_type="text/html", status=status)


def _script_json(value: Any) -> Any:
    """JSON safe inside <script type="application/json"> (no '<', '>' or '&' to end the element)."""
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return jinja2_markup(text)


async def login_page(request: web.Request) -> web.Response:
    lang = request.query.get("lang") if request.query.get("lang") in i18n.LANGUAGES else None
    return render(
        request,
        "login.html",
        language=lang or i18n.pick_language(request.headers.get("Accept-Language")),
        failed=False,
        throttled=False,
    )


async def login_form(request: web.Request) -> web.Response:
    form = await request.post()
    name, password = form.get("name"), form.get("password")
    lang = i18n.pick_language(request.headers.get("Accept-Language"))
    console = request.config_dict[CONSOLE]
    user = None
    if isinstance(name, str) and isinstance(password, str) and len(name) <= 64 and len(password) <= 1024:
        try:
            user = await sign_in(request, name, password)
        except Throttled as exc:
            page = render(request, "login.html", status=429, language=lang, failed=True, throttled=True)
            page.headers["Retry-After"] = str(exc.seconds)
            return page
    if user is None:
        return render(request, "login.html", status=401, language=lang, failed=True, throttled=False)
    secret, _ = await console.store.new_session(user)
    await console.store.audit(user.name, "session", "session.login", user.name, {})
    response = web.HTTPSeeOther("/")
    _set_session_cookie(request, response, secret)
    raise response


async def logout_form(request: web.Request) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    if principal.secret is not None:
        await _end_session(request, principal)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def wallboard_page(request: web.Request) -> web.Response:
    return render(request, "wallboard.html", board=await request.config_dict[CONSOLE].wallboard())


async def agents_page(request: web.Request) -> web.Response:
    profile = request.config_dict[CONSOLE].backend.desk.profile
    return render(
        request,
        "agents.html",
        agents=request.config_dict[CONSOLE].agents(),
        topics=[t.id for t in profile.topics if not t.specialties],
        specialties=[s.id for t in profile.topics for s in t.specialties],
    )


async def queues_page(request: web.Request) -> web.Response:
    return render(request, "queues.html", data=request.config_dict[CONSOLE].queues())


async def callbacks_page(request: web.Request) -> web.Response:
    status = "all" if request.query.get("status") == "all" else "open"
    return render(request, "callbacks.html", callbacks=await _callbacks(request, status), show=status)


async def reports_page(request: web.Request) -> web.Response:
    from cdr.report_output import _chart_points, _svg_chart

    try:
        day, interval = _report_query(request)
    except web.HTTPBadRequest:
        day, interval = datetime.now(ZoneInfo(request.config_dict[CONSOLE].backend.profile.timezone)).date(), 30
    report = await staffing_report(request.config_dict[CONSOLE], day, interval)
    lang = request[PRINCIPAL].user.language
    points, _ = _chart_points(report.intervals, ZoneInfo(report.params.timezone))
    chart = _svg_chart(
        "chart-staffing",
        i18n.t(lang, "rep.staffing"),
        [p.label[-5:] for p in points],
        [
            (i18n.t(lang, "rep.needed"), "#e6550d", [p.needed for p in points]),
            (i18n.t(lang, "rep.present"), "#3182bd", [p.present for p in points]),
        ],
    )
    tz = ZoneInfo(report.params.timezone)
    rows = [
        {
            "start": r.start.astimezone(tz).strftime("%H:%M"),
            "offered": r.measures.offered,
            "answered": r.measures.answered,
            "sl": r.measures.service_level,
            "needed": r.needed,
            "present": r.present,
            "gap": r.gap,
        }
        for r in report.intervals
        if r.measures.offered or r.present
    ]
    return render(
        request,
        "reports.html",
        chart=jinja2_markup(chart),
        rows=rows,
        shifts=report.shifts,
        day=day.isoformat(),
        interval=interval,
    )


def jinja2_markup(html_text: str) -> Any:
    from markupsafe import Markup

    return Markup(html_text)  # our own SVG, its texts escaped by cdr.report_output


# -- mounting ----------------------------------------------------------------------------------------------


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the console's live hub (skill overrides are the desk's, loaded when it starts)."""
    console = app[CONSOLE]
    task = asyncio.create_task(console.hub.run(), name="hotline-console-live")
    yield
    task.cancel()
    await asyncio.wait([task])
    await console.hub.close_all()


#: The handler of each operation of ``console.openapi.OPERATIONS`` (which lists the routes).
HANDLERS: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]] = {
    "openapi": openapi, "session_create": session_create, "session_delete": session_delete, "me": me,
    "me_language": me_language, "me_password": me_password, "users_list": users_list, "users_add": users_add,
    "users_remove": users_remove, "users_disable": users_disable, "users_enable": users_enable,
    "users_password": users_password, "tokens_list": tokens_list, "tokens_add": tokens_add,
    "tokens_revoke": tokens_revoke, "audit_list": audit_list, "wallboard": wallboard, "agents_list": agents_list,
    "agent_action": agent_action, "agent_skills": agent_skills, "queues_list": queues_list,
    "queue_seats": queue_seats, "callbacks_list": callbacks_list, "callback_action": callback_action,
    "report_api": report_api, "live": live,
}  # fmt: skip


def setup_console(app: web.Application, console: Console) -> web.Application:
    """Mount the console on the service's app: its pages and static files on ``app``, its API as the
    ``/api/v1`` sub-application, its middleware (sign-in, CSRF, headers) over both, and its cleanup
    context (to run after the desk and callbacks have started). Returns the API sub-application.
    """
    app[CONSOLE] = console
    app.middlewares.append(console_middleware)
    app.cleanup_ctx.append(console_ctx)
    api = web.Application()
    api[CONSOLE] = console
    for op in OPERATIONS:
        api.router.add_route(op.method.upper(), op.path, HANDLERS[op.name])
    app.add_subapp("/api/v1", api)
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login_form)
    r.add_post("/logout", logout_form)
    r.add_get("/", wallboard_page)
    r.add_get("/agents", agents_page)
    r.add_get("/queues", queues_page)
    r.add_get("/callbacks", callbacks_page)
    r.add_get("/reports", reports_page)
    r.add_static("/static/console/", HERE / "static", follow_symlinks=False)
    return api
