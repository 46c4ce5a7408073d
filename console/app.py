"""The supervisor console: pages, the REST API under /api/v1, and live wallboard pushes over a WebSocket.

Mounted by ``hotline.service.build_app`` with :func:`setup_console`. Access:

* people sign in with a name and password (argon2); the server keeps the session (table
  ``console_sessions``) and the browser a random id in an HttpOnly, SameSite=Strict cookie (Secure
  when the request came over https, or when ``HOTLINE_PUBLIC_ORIGIN`` is https, behind a
  TLS-terminating proxy). Every unsafe request made with the cookie must carry the session's CSRF
  token (``X-CSRF-Token`` header, or the ``csrf_token`` form field), and a foreign ``Origin`` is refused;
* automation sends ``Authorization: Bearer <token>`` (tokens are stored as SHA-256; no CSRF);
* ``supervisor`` may change things, ``viewer`` only looks (403 on any change but their own language
  and password);
* each change is written to ``audit_log`` (who, what, target, details, when), and so is each failed sign-in;
* sign-in is throttled per name and per address (429 with Retry-After, the same whether or not the
  name exists); disabling or removing a user, signing out or revoking a token ends the sessions and
  closes the live feeds concerned;
* behind a TLS proxy, ``public_origin`` (``HOTLINE_PUBLIC_ORIGIN``) is the only Origin accepted;
* every answer of the service carries the security headers (:func:`harden_every_answer`, on_response_prepare),
  aiohttp's own 404, 405 and 500 included; a user changes their own password on ``/account`` (a form) or with
  ``PUT /api/v1/me/password``; ending access closes the feeds of every hub (``Console.hubs``: the wallboard's and
  the desks').

/api/v1 is an aiohttp sub-application made of operations (``restapi.http.Operation``): the console's own
(:data:`OPERATIONS`: session, me, users, tokens, audit, wallboard, live; bodies and answers in
``console.api_models``) and the features' (``routing.http``, ``callbacks.http``, ``cdr.http``), whose handlers
are bound to the feature's service. The console's middleware signs each request in, applies CSRF and the
roles the operation declares, and hands feature handlers the acting user with an audit that writes
``audit_log`` (``restapi.http.ACTOR``). ``console.openapi`` generates the OpenAPI document from the operations.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import WSMsgType, web

from callbacks import http as callbacks_http
from cases import http as cases_http
from cdr import http as cdr_http
from cdr.reports import Measures, by_queue
from console import api_models as m
from console import (
    calendar_pages,
    campaign_pages,
    case_pages,
    desk,
    i18n,
    recording_pages,
    screening_pages,
    survey_pages,
)
from console.base import (
    CONSOLE,
    COOKIE,
    PRINCIPAL,
    AgentGate,
    Backend,
    Principal,
    client_address,
    guarded_call,
    harden,
    markup,
    no_desk,
    own_origin,
    public_origin,
    render,
)
from console.db import SESSION_HOURS, ConsoleError, ConsoleStore, Token, User, digest
from console.hub import LiveClient, LiveHub
from console.openapi import document
from console.throttle import LoginThrottle
from outbound import http as outbound_http
from outbound import manual_http
from profiles.model import Profile
from recording import http as recording_http
from restapi.http import Actor, Operation, body_of, error, path_param, query_param, reply
from restapi.models import BodyError
from routing import http as routing_http
from routing.state import PersonState, PersonView
from screening import http as screening_http
from survey import http as survey_http

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
API = "/api/v1"
PAGES = ("/", "/agents", "/queues", "/callbacks", "/reports", "/account")
# The pages' routes open to all, and the pages' changes every signed-in user may make, whatever the role; the
# API's are its operations' (``public``, ``any_role``).
PUBLIC_PAGES = frozenset({("GET", "/login"), ("POST", "/login")})
ANY_ROLE_PAGES = frozenset({("POST", "/logout"), ("POST", "/account")})
SL_SECONDS = cdr_http.SL_SECONDS
CACHE_SECONDS = 5.0
WALLBOARD_INTERVAL = 30  # minutes: today's calls per half-hour on the wallboard


class Console:
    """The console's state: its store, the live hub and the pages; built with no I/O, started by console_ctx."""

    def __init__(self, backend: Backend, store: ConsoleStore, throttle: LoginThrottle | None = None) -> None:
        self.backend = backend
        self.store = store
        self.throttle = throttle or LoginThrottle()
        self.hub = LiveHub(self.live_payload, still_valid=self._still_valid)
        #: Every hub of live feeds (the wallboard's, the agents' desks'): access that ends closes its feeds in all.
        self.hubs: list[LiveHub] = [self.hub]
        self._cache: tuple[float, dict[str, tuple[int, int]], dict[str, int], list[dict[str, Any]]] | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("console", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
        )
        #: Every operation of /api/v1: the console's own, then the features', bound to their services.
        self.operations: tuple[Operation, ...] = (
            *OPERATIONS,
            *routing_http.routes(backend.desk, getattr(backend, "ear", None)),  # the supervisor's ear
            *callbacks_http.routes(backend.callbacks),
            *cdr_http.routes(backend.records.store, backend.profile),
            *cases_http.routes(backend.cases),
            *screening_http.routes(getattr(backend, "screening", None)),  # the block list (None: 404)
            *survey_http.routes(getattr(backend, "survey", None), backend.profile),  # satisfaction (None: 404)
            *recording_http.routes(getattr(backend, "recording", None)),  # call recordings (None: 404)
            *outbound_http.routes(
                getattr(backend, "campaigns", None), getattr(backend, "lists", None), backend.profile
            ),  # campaigns, lists, do-not-call (None: 404)
            *manual_http.routes(getattr(backend, "manual", None)),  # click-to-call from the desk (None: 404)
        )
        self.public = PUBLIC_PAGES | _guarded_routes(self.operations, "public")
        self.any_role = ANY_ROLE_PAGES | _guarded_routes(self.operations, "any_role")
        #: (METHOD, path template) -> the roles that may make that change besides those that may change everything
        self.roles = {(op.method.upper(), API + op.path): frozenset(op.roles) for op in self.operations if op.roles}
        #: (METHOD, path template) of the reads only those who may change may make (the recordings)
        self.restricted = frozenset((op.method.upper(), API + op.path) for op in self.operations if op.restricted)
        #: Where an agent's login may go: nowhere until the desk is mounted (``console.desk.setup``).
        self.agent_gate: AgentGate = no_desk
        #: The open emergency alerts of the campaigns (the wallboard's banner), cached like the figures.
        self._alerts: tuple[float, list[dict[str, Any]]] | None = None
        campaigns = getattr(backend, "campaigns", None)
        if campaigns is not None:
            campaigns.add_alert_listener(self.on_alert)

    @functools.cached_property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of /api/v1 (built once)."""
        return document(self.operations)

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

    async def close_feeds(self, matches: Callable[[LiveClient], bool], reason: str) -> int:
        """Close the live feeds that ``matches`` in every hub, at once; how many."""
        return sum([await hub.close_where(matches, reason) for hub in self.hubs])

    async def on_record(self, _record: object) -> None:
        """A record hook: today's figures changed."""
        self.invalidate()

    def invalidate(self) -> None:
        self._cache = None
        self._alerts = None
        self.hub.poke()

    def on_alert(self, _alert: object) -> None:
        """A campaign's emergency key: the wallboard shows the alert at once (outbound's alert listener)."""
        self.invalidate()

    async def open_alerts(self) -> list[dict[str, Any]]:
        """The campaigns' emergency alerts not yet acknowledged, newest first (none without campaigns)."""
        campaigns = getattr(self.backend, "campaigns", None)
        if campaigns is None:
            return []
        now = time.monotonic()
        if self._alerts is not None and now - self._alerts[0] < CACHE_SECONDS:
            return self._alerts[1]
        alerts = sorted(await campaigns.alerts(open_only=True), key=lambda a: a.id or 0, reverse=True)
        found = [
            {"id": a.id or 0, "campaign": a.campaign, "name": a.name, "number": a.number,
             "raised_at": a.raised_at.timestamp()}
            for a in alerts
        ]  # fmt: skip
        self._alerts = (now, found)
        return found

    async def audit(self, request: web.Request, action: str, target: str, details: dict[str, Any]) -> None:
        who: Principal = request[PRINCIPAL]
        await self.store.audit(who.user.name, who.via, action, target, details)
        self.hub.poke()

    def actor(self, request: web.Request) -> Actor:
        """The acting user that feature handlers get: their change is audited, and the figures refreshed."""

        async def audit(action: str, target: str, details: dict[str, Any]) -> None:
            await self.audit(request, action, target, details)
            self.invalidate()

        user = request[PRINCIPAL].user
        return Actor(user.name, audit, person=user.person)

    # -- figures -------------------------------------------------------------------------------
    async def _slow_figures(self) -> tuple[dict[str, tuple[int, int]], dict[str, int], list[dict[str, Any]]]:
        """Today's service level per queue, the pending callbacks per queue, and today's calls per half-hour
        (the report's aggregates from the records, in the profile's day), cached for a few seconds."""
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < CACHE_SECONDS:
            return self._cache[1], self._cache[2], self._cache[3]
        profile = self.backend.profile
        midnight = datetime.now(ZoneInfo(profile.timezone)).replace(hour=0, minute=0, second=0, microsecond=0)
        aggregates = await self.backend.records.store.aggregates(
            WALLBOARD_INTERVAL, SL_SECONDS, start=midnight.astimezone(UTC)
        )
        sl = {queue: (m.answered, m.answered_within) for queue, m in by_queue(aggregates).items()}
        buckets: dict[int, Measures] = {}
        for (bucket, _queue, _language, _topic), measures in aggregates.groups.items():
            buckets.setdefault(bucket, Measures()).add(measures)
        intervals = [
            {"start": float(bucket), "offered": m.offered, "answered": m.answered, "answered_within": m.answered_within}
            for bucket, m in sorted(buckets.items())
        ]
        callbacks: dict[str, int] = {}
        for request in await self.backend.callbacks.open_requests():
            callbacks[request.queue] = callbacks.get(request.queue, 0) + 1
        self._cache = (now, sl, callbacks, intervals)
        return sl, callbacks, intervals

    def seats(self) -> tuple[str | None, dict[str, int]]:
        """The current shift and the seats of each queue now (the live override, else the profile's)."""
        return self.backend.desk.seats_now()

    async def wallboard(self) -> dict[str, Any]:
        desk = self.backend.desk
        now = desk.clock()
        snapshot = desk.snapshot()
        sl, callbacks, intervals = await self._slow_figures()
        _, seats = self.seats()
        rows: list[dict[str, Any]] = []
        for queue in sorted(desk.queues):
            waits = [(now - c.joined_at).total_seconds() for c in snapshot.calls.values() if c.queue == queue]
            counts = {"available": 0, "on_call": 0, "paused": 0}
            for pid in snapshot.queues.get(queue, ()):
                view = snapshot.people[pid]
                membership = view.queues.get(queue)
                if view.state in (PersonState.ON_CALL, PersonState.RINGING, PersonState.WRAP_UP):
                    # a person busy with a call is counted once: in the queue of the call, not in all of theirs
                    counts["on_call"] += 1 if _busy_queue(view) == queue else 0
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
        return {
            "at": now.timestamp(),
            "sl_seconds": SL_SECONDS,
            "queues": rows,
            "totals": totals,
            "interval_minutes": WALLBOARD_INTERVAL,
            "intervals": intervals,
        }

    def agents(self) -> list[dict[str, Any]]:
        return routing_http.agents(self.backend.desk)

    def queues(self) -> dict[str, Any]:
        return routing_http.queues(self.backend.desk)

    async def live_payload(self) -> dict[str, Any]:
        board = await self.wallboard()
        agents = {
            a["id"]: {"state": a["state"], "pause_reason": a["pause_reason"], "queues_now": a["queues_now"]}
            for a in self.agents()
        }
        return {**board, "agents": agents, "alerts": await self.open_alerts()}


def _busy_queue(view: PersonView) -> str:
    """The one queue whose row counts a busy person: the queue of their call, or (ringing, wrapping up, a call
    of unknown queue) the first of their queues."""
    if view.call_queue and view.call_queue in view.queues:
        return view.call_queue
    return min(view.queues, default="")


def _console(request: web.Request) -> Console:
    """The console that :func:`setup_console` mounted, as this module knows it (``CONSOLE`` is typed with what
    the pages need of it, ``console.base.ConsoleState``)."""
    return cast(Console, request.config_dict[CONSOLE])


def _guarded_routes(operations: Iterable[Operation], flag: str) -> frozenset[tuple[str, str]]:
    """``(METHOD, path)`` of the operations with ``flag`` (``public`` or ``any_role``), fixed paths only."""
    routes = set()
    for op in operations:
        if getattr(op, flag):
            if "{" in op.path:
                raise ValueError(f"{op.name}: a {flag} operation must have a fixed path, not {op.path!r}")
            routes.add((op.method.upper(), API + op.path))
    return frozenset(routes)


# -- request helpers -----------------------------------------------------------------------------------


def _secure(request: web.Request) -> bool:
    public = public_origin(request)
    return request.secure or (public is not None and public.startswith("https://"))


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


def _is_console(path: str) -> bool:
    return (
        path in PAGES
        or path in ("/login", "/logout")
        or path.startswith("/api/v1/")
        or path == "/api/v1"
        or path.startswith("/static/console/")
    )


HSTS = "max-age=31536000"


async def harden_every_answer(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the security headers on every answer of the service, whoever made it: the pages,
    the API, the features' pages, the static files, ``/health``, and aiohttp's own 404, 405 and 500 (an unknown
    address, a wrong method, a page that failed); HSTS when the console is reached over https."""
    harden(response.headers, request.path)
    console = request.config_dict.get(CONSOLE)
    if console is not None and _secure(request):
        response.headers.setdefault("Strict-Transport-Security", HSTS)


@web.middleware
async def console_middleware(request: web.Request, handler):
    path = request.path
    if not _is_console(path):
        return await handler(request)
    api = path.startswith("/api/v1")
    try:
        response = await guarded_call(request, handler, api)
    except web.HTTPException as exc:
        if api and exc.content_type != "application/json" and exc.status >= 400:
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            response = web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
        else:
            harden(exc.headers, path)
            raise
    except (ConsoleError, BodyError) as exc:
        refused = error(web.HTTPBadRequest, str(exc))
        harden(refused.headers, path)
        raise refused from None
    except Exception:
        if not api:
            raise
        log.exception("console API error on %s %s", request.method, path)
        failed = error(web.HTTPInternalServerError, "internal error (logged)")
        harden(failed.headers, path)
        raise failed from None
    if isinstance(response, web.StreamResponse) and not response.prepared:
        harden(response.headers, path)
    return response


# -- sign-in, throttled --------------------------------------------------------------------------------


class Throttled(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"too many failed sign-ins: try again in {seconds} seconds")
        self.seconds = seconds


async def _check_throttle(request: web.Request, name: str) -> None:
    console = _console(request)
    address = client_address(request)
    now = datetime.now(UTC)
    by_name, by_address = await console.store.login_failures(name, address, console.throttle.since(now))
    wait = console.throttle.retry_after(by_name, by_address, now)
    if wait is not None:
        log.warning("sign-in throttled for %r from %s (%ss)", name[:64], address, wait)
        raise Throttled(wait)


async def _failed_sign_in(request: web.Request, name: str, why: str) -> None:
    console = _console(request)
    address = client_address(request)
    await console.store.add_login_failure(name, address)
    await console.store.audit(
        name[:64] or "-", "session", "session.login_failed", name, {"address": address, "why": why}
    )


async def sign_in(request: web.Request, name: str, password: str) -> User | None:
    """The user if ``name`` and ``password`` are right and sign-in is not throttled; a failure is counted
    and audited. Raises :class:`Throttled` (before the password is checked) after too many failures for
    this name, whether or not it exists, or from this address."""
    await _check_throttle(request, name)
    console = _console(request)
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
    return web.json_response(_console(request).openapi)


async def session_create(request: web.Request) -> web.Response:
    body = await body_of(request, m.SessionCreate)
    console = _console(request)
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
    console = _console(request)
    assert principal.secret is not None
    await console.store.end_session(principal.secret)
    ended = digest(principal.secret)
    await console.close_feeds(lambda c: c.session == ended, "signed out")
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
    await _console(request).store.set_language(principal.user.id, language)
    await _console(request).audit(request, "user.language", principal.user.name, {"language": language})
    return reply(m.LanguageOut, {"language": language})


async def me_password(request: web.Request) -> web.Response:
    body = await body_of(request, m.PasswordChange)
    await change_own_password(request, body.old_password, body.new_password)
    return reply(m.Done, {"done": "password"})


class WrongOldPassword(Exception):
    """A password change whose old password is wrong (counted as a failed sign-in)."""


async def change_own_password(request: web.Request, old: str, new: str) -> int:
    """The signed-in user's new password, given the old one (API and the account page): their other sessions
    and live feeds end; audited. Raises :class:`Throttled` and :class:`WrongOldPassword` (counted like a failed
    sign-in, so guessing the old password here is throttled too) and ``ConsoleError`` for a bad new password.
    How many sessions ended."""
    principal: Principal = request[PRINCIPAL]
    if principal.via == "local-token":
        raise error(web.HTTPBadRequest, "the local admin has no password")
    console = _console(request)
    user = principal.user
    try:
        await _check_throttle(request, user.name)
    except Throttled as exc:
        if request.path.startswith(API):
            raise _throttled(exc) from None
        raise
    if not await console.store.check_password_of(user.id, old):
        await _failed_sign_in(request, user.name, "wrong old password on a password change")
        if request.path.startswith(API):
            raise error(web.HTTPForbidden, "the old password is wrong")
        raise WrongOldPassword
    await console.store.set_password(user.id, new)
    ended = await console.store.end_sessions(user.id, keep=principal.secret)
    kept = digest(principal.secret) if principal.secret else None
    await console.close_feeds(
        lambda c: c.user_id == user.id and (kept is None or c.session != kept), "the password changed"
    )
    await console.audit(request, "user.password", user.name, {"sessions_ended": ended})
    return ended


def _supervisors_only(request: web.Request) -> None:
    if not request[PRINCIPAL].user.can_change:
        raise error(web.HTTPForbidden, "only supervisors see the users and tokens")


async def users_list(request: web.Request) -> web.Response:
    _supervisors_only(request)
    return reply(list[m.UserOut], [_user_out(u) for u in await _console(request).store.users()])


async def users_add(request: web.Request) -> web.Response:
    body = await body_of(request, m.NewUser)
    console = _console(request)
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
    user = await _console(request).store.user_by_name(name) if len(name) <= 64 else None
    if user is None:
        raise error(web.HTTPNotFound, f"no user named {name!r}")
    if user.id == request[PRINCIPAL].user.id:
        raise error(web.HTTPConflict, f"you cannot {doing} yourself")
    return user


async def _end_access(console: Console, user: User, reason: str) -> int:
    """End every session of ``user`` and close their live feeds; how many sessions ended."""
    ended = await console.store.end_sessions(user.id)
    await console.close_feeds(lambda c: c.user_id == user.id, reason)
    return ended


async def users_remove(request: web.Request) -> web.Response:
    user = await _other_user(request, "remove")
    console = _console(request)
    try:
        await console.store.remove_user(user)
    except ConsoleError as exc:
        raise error(web.HTTPConflict, str(exc)) from None
    await console.close_feeds(lambda c: c.user_id == user.id, "the user was removed")
    await console.audit(request, "user.remove", user.name, {"role": user.role})
    return reply(m.Done, {"done": "removed"})


async def users_disable(request: web.Request) -> web.Response:
    user = await _other_user(request, "disable")
    console = _console(request)
    try:
        user = await console.store.set_disabled(user, True)
    except ConsoleError as exc:
        raise error(web.HTTPConflict, str(exc)) from None
    await console.close_feeds(lambda c: c.user_id == user.id, "the user was disabled")
    await console.audit(request, "user.disable", user.name, {})
    return reply(m.UserOut, _user_out(user))


async def users_enable(request: web.Request) -> web.Response:
    user = await _other_user(request, "enable")
    console = _console(request)
    user = await console.store.set_disabled(user, False)
    await console.audit(request, "user.enable", user.name, {})
    return reply(m.UserOut, _user_out(user))


async def users_password(request: web.Request) -> web.Response:
    user = await _other_user(request, "reset the password of (use PUT /api/v1/me/password)")
    body = await body_of(request, m.PasswordReset)
    console = _console(request)
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
    return reply(list[m.TokenOut], [_token_out(t) for t in await _console(request).store.tokens()])


async def tokens_add(request: web.Request) -> web.Response:
    body = await body_of(request, m.NewToken)
    console = _console(request)
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


async def my_tokens(request: web.Request) -> web.Response:
    principal: Principal = request[PRINCIPAL]
    if principal.via == "local-token":
        return reply(list[m.TokenOut], [])
    tokens = await _console(request).store.tokens(principal.user.id)
    return reply(list[m.TokenOut], [_token_out(t) for t in tokens])


async def my_tokens_revoke(request: web.Request) -> web.Response:
    """Revoke one of one's own tokens (any role): another's is "no token" (404), as if it did not exist."""
    return await _revoke(request, mine=True)


async def tokens_revoke(request: web.Request) -> web.Response:
    return await _revoke(request, mine=False)


async def _revoke(request: web.Request, mine: bool) -> web.Response:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 9:
        raise error(web.HTTPBadRequest, "the token id must be a whole number")
    console = _console(request)
    principal: Principal = request[PRINCIPAL]
    owner = principal.user.id if mine and principal.via != "local-token" else None
    token = await console.store.revoke_token(int(raw), owner)
    if token is None:
        raise error(web.HTTPNotFound, f"no token {raw}" + (" of yours" if mine else ""))
    await console.close_feeds(lambda c: c.token == token.id, "the token was revoked")
    await console.audit(
        request, "token.revoke", token.user, {"id": token.id, "label": token.label, "prefix": token.prefix}
    )
    return reply(m.TokenOut, _token_out(token))


async def audit_list(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise error(web.HTTPBadRequest, "limit must be a whole number from 1 to 1000")
    return reply(list[m.AuditEntry], await _console(request).store.audit_rows(int(raw)))


# -- API: wallboard ------------------------------------------------------------------------------------------


async def wallboard(request: web.Request) -> web.Response:
    return reply(m.Wallboard, await _console(request).wallboard())


# -- WebSocket -----------------------------------------------------------------------------------------------


async def live(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30.0)
    if not ws.can_prepare(request).ok:
        raise error(web.HTTPBadRequest, "this is a WebSocket endpoint: connect with a WebSocket client")
    if not own_origin(request):
        raise error(web.HTTPForbidden, "cross-site WebSocket refused")
    console = _console(request)
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


def _languages(request: web.Request) -> tuple[str, ...]:
    return i18n.console_languages(request.config_dict[CONSOLE].backend.profile)


async def login_page(request: web.Request) -> web.Response:
    lang = request.query.get("lang") if request.query.get("lang") in i18n.LANGUAGES else None
    return render(
        request,
        "login.html",
        language=lang or i18n.pick_language(request.headers.get("Accept-Language"), _languages(request)),
        failed=False,
        throttled=False,
    )


async def login_form(request: web.Request) -> web.Response:
    form = await request.post()
    name, password = form.get("name"), form.get("password")
    lang = i18n.pick_language(request.headers.get("Accept-Language"), _languages(request))
    console = _console(request)
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


CHART_WIDTH = 480  # the wallboard's chart: a day of half-hours, 10 units each
CHART_HEIGHT = 100


def _day_start(profile: Profile, at: float) -> float:
    """Midnight of the day of ``at`` in the profile's time zone, as UTC epoch seconds."""
    local = datetime.fromtimestamp(at, ZoneInfo(profile.timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def chart_bars(board: dict[str, Any], midnight: float) -> list[dict[str, Any]]:
    """The bars of today's chart: for each interval with calls, the offered and the answered bar (x, height in
    the chart's units) and its service level; console.js draws the same from each live snapshot."""
    minutes = board["interval_minutes"]
    slots = 24 * 60 // minutes
    width = CHART_WIDTH / slots
    top = max((i["offered"] for i in board["intervals"]), default=0)
    bars = []
    for interval in board["intervals"]:
        slot = int((interval["start"] - midnight) // (minutes * 60))
        if not 0 <= slot < slots or not interval["offered"]:
            continue
        answered, within = interval["answered"], interval["answered_within"]
        bars.append({
            "slot": slot, "x": round(slot * width, 2), "w": round(width / 2 - 0.5, 2),
            "offered": interval["offered"], "answered": answered,
            "h_offered": round(CHART_HEIGHT * interval["offered"] / top, 2),
            "h_answered": round(CHART_HEIGHT * answered / top, 2),
            "sl": within / answered if answered else None,
            "clock": f"{slot * minutes // 60:02d}:{slot * minutes % 60:02d}",
        })  # fmt: skip
    return bars


async def wallboard_page(request: web.Request) -> web.Response:
    console = _console(request)
    profile = console.backend.profile
    lang = request[PRINCIPAL].user.language
    board = await console.wallboard()
    midnight = _day_start(profile, board["at"])
    return render(
        request,
        "wallboard.html",
        board=board,
        bars=chart_bars(board, midnight),
        midnight=midnight,
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        shift=i18n.shift_label(profile, console.seats()[0], lang),
        alerts=await console.open_alerts(),
    )


async def agents_page(request: web.Request) -> web.Response:
    profile = _console(request).backend.desk.profile
    return render(
        request,
        "agents.html",
        agents=_console(request).agents(),
        topics=[t.id for t in profile.topics if not t.specialties],
        specialties=[s.id for t in profile.topics for s in t.specialties],
    )


async def queues_page(request: web.Request) -> web.Response:
    return render(request, "queues.html", data=_console(request).queues())


async def callbacks_page(request: web.Request) -> web.Response:
    status = "all" if request.query.get("status") == "all" else "open"
    callbacks = await callbacks_http.callback_views(_console(request).backend.callbacks, status)
    return render(request, "callbacks.html", callbacks=callbacks, show=status)


async def reports_page(request: web.Request) -> web.Response:
    from cdr.report_output import _chart_points, _svg_chart

    backend = _console(request).backend
    try:
        day, interval = cdr_http.report_query(request, backend.profile)
    except web.HTTPBadRequest:
        day, interval = datetime.now(ZoneInfo(backend.profile.timezone)).date(), 30
    report = await cdr_http.staffing_report(backend.records.store, backend.profile, day, interval)
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
        chart=markup(chart),
        rows=rows,
        shifts=report.shifts,
        day=day.isoformat(),
        interval=interval,
    )


async def account_page(request: web.Request) -> web.Response:
    return render(request, "account.html", message=None, changed=request.query.get("changed") == "1")


async def account_form(request: web.Request) -> web.Response:
    """The account page's form: one's own password, with the old one (CSRF checked by the guard)."""
    form = await request.post()
    old, new, again = form.get("old_password"), form.get("new_password"), form.get("new_password_again")
    if not all(isinstance(v, str) and len(v) <= 1024 for v in (old, new, again)):
        return render(request, "account.html", status=400, message="account.bad_new", changed=False)
    if new != again:
        return render(request, "account.html", status=400, message="account.differ", changed=False)
    try:
        await change_own_password(request, str(old), str(new))
    except Throttled as exc:
        page = render(request, "account.html", status=429, message="login.throttled", changed=False)
        page.headers["Retry-After"] = str(exc.seconds)
        return page
    except WrongOldPassword:
        return render(request, "account.html", status=403, message="account.wrong_old", changed=False)
    except ConsoleError:
        return render(request, "account.html", status=400, message="account.bad_new", changed=False)
    raise web.HTTPSeeOther("/account?changed=1")


# -- mounting ----------------------------------------------------------------------------------------------


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the console's live hub (skill overrides are the desk's, loaded when it starts)."""
    console = cast(Console, app[CONSOLE])
    task = asyncio.create_task(console.hub.run(), name="hotline-console-live")
    yield
    task.cancel()
    await asyncio.wait([task])
    await console.hub.close_all()


USER = path_param("name", {"type": "string", "minLength": 1, "maxLength": 64}, "a console user's name")

#: The console's own operations of /api/v1 (the features' are theirs: ``Console.operations`` has them all).
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/openapi.json", "openapi", "this document", openapi, answer=None, public=True),
    Operation(
        "post",
        "/session",
        "session_create",
        "sign in: sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token; "
        "after too many failures for a name or from an address, 429 with Retry-After",
        session_create,
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
        session_delete,
        answer=m.Done,
        errors=(400, 403),
        any_role=True,
    ),
    Operation("get", "/me", "me", "who is asking", me, answer=m.Me),
    Operation(
        "put",
        "/me/language",
        "me_language",
        "the UI language of the user (any role)",
        me_language,
        body=m.LanguageChange,
        answer=m.LanguageOut,
        errors=(400, 403),
        any_role=True,
    ),
    Operation(
        "put",
        "/me/password",
        "me_password",
        "change one's own password (any role), giving the old one; one's other sessions end",
        me_password,
        body=m.PasswordChange,
        answer=m.Done,
        errors=(400, 403),
        any_role=True,
    ),
    Operation("get", "/users", "users_list", "users (supervisors)", users_list, answer=list[m.UserOut], errors=(403,)),
    Operation(
        "post",
        "/users",
        "users_add",
        "add a user (supervisors)",
        users_add,
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
        users_remove,
        answer=m.Done,
        errors=(403, 404, 409),
        parameters=(USER,),
    ),
    Operation(
        "post",
        "/users/{name}/disable",
        "users_disable",
        "disable a user: their sessions end, their tokens stop working, their live feeds close",
        users_disable,
        answer=m.UserOut,
        errors=(403, 404, 409),
        parameters=(USER,),
    ),
    Operation(
        "post",
        "/users/{name}/enable",
        "users_enable",
        "enable a disabled user again",
        users_enable,
        answer=m.UserOut,
        errors=(403, 404),
        parameters=(USER,),
    ),
    Operation(
        "put",
        "/users/{name}/password",
        "users_password",
        "set another user's password (supervisors): their sessions end",
        users_password,
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
        tokens_list,
        answer=list[m.TokenOut],
        errors=(403,),
    ),
    Operation(
        "post",
        "/tokens",
        "tokens_add",
        "create an API token for oneself (supervisors); shown once",
        tokens_add,
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
        tokens_revoke,
        answer=m.TokenOut,
        errors=(400, 403, 404),
        parameters=(path_param("id", {"type": "integer", "minimum": 1}),),
    ),
    Operation(
        "get",
        "/me/tokens",
        "me_tokens",
        "one's own API tokens (any role): never their clear text",
        my_tokens,
        answer=list[m.TokenOut],
        roles=("viewer", "agent"),  # an agent's login reaches it too
    ),
    Operation(
        "delete",
        "/me/tokens/{id}",
        "me_tokens_revoke",
        "revoke one of one's own API tokens for good (any role); live feeds opened with it close",
        my_tokens_revoke,
        answer=m.TokenOut,
        errors=(400, 403, 404),
        parameters=(path_param("id", {"type": "integer", "minimum": 1}),),
        roles=("viewer", "agent"),
    ),
    Operation(
        "get",
        "/audit",
        "audit_list",
        "the latest changes and failed sign-ins, newest first",
        audit_list,
        answer=list[m.AuditEntry],
        errors=(400,),
        parameters=(query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),),
    ),
    Operation(
        "get",
        "/wallboard",
        "wallboard",
        "per queue: waiting, longest wait, service level today, people, callbacks; totals",
        wallboard,
        answer=m.Wallboard,
    ),
    Operation(
        "get",
        "/live",
        "live",
        "WebSocket: a wallboard snapshot at once (LiveSnapshot), then on every change (at most 4 a "
        "second); closed when the session ends, the user is disabled or the token revoked",
        live,
        answer=m.LiveSnapshot,
        errors=(400, 403),
        websocket=True,
    ),
)


def setup_console(app: web.Application, console: Console) -> web.Application:
    """Mount the console on the service's app: its pages and static files on ``app``, its API as the
    ``/api/v1`` sub-application, its middleware (sign-in, CSRF, headers) over both, and its cleanup
    context (to run after the desk and callbacks have started). Returns the API sub-application.
    """
    app[CONSOLE] = console
    app.middlewares.append(console_middleware)
    app.on_response_prepare.append(harden_every_answer)
    app.cleanup_ctx.append(console_ctx)
    api = web.Application()
    api[CONSOLE] = console
    for op in console.operations:
        api.router.add_route(op.method.upper(), op.path, op.handler)
    app.add_subapp(API, api)
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login_form)
    r.add_post("/logout", logout_form)
    r.add_get("/", wallboard_page)
    r.add_get("/agents", agents_page)
    r.add_get("/queues", queues_page)
    r.add_get("/callbacks", callbacks_page)
    r.add_get("/reports", reports_page)
    r.add_get("/account", account_page)
    r.add_post("/account", account_form)
    r.add_static("/static/console/", HERE / "static", follow_symlinks=False)
    case_pages.setup(app, console)
    desk.setup(app, console)  # the agent's desk (screen pop, cases, wrap-up codes)
    screening_pages.setup(app, console)  # the block list (nuisance callers)
    survey_pages.setup(app, console)  # caller satisfaction (the post-call survey)
    calendar_pages.setup(app, console)  # special days (the calendar)
    recording_pages.setup(app, console)  # call recordings (supervisors only)
    campaign_pages.setup(app, console)  # follow-up campaigns: the day, the people not reached, alerts, lists
    return api
