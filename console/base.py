"""What every console page stands on: the console's keys, its access rules (sign-in, CSRF, roles, security
headers) and its page frame.

``console.app`` builds the console and mounts it; the feature pages (``case_pages``, ``calendar_pages``,
``screening_pages``, ``survey_pages``, ``recording_pages``) and the agent's desk (``desk``) take what they need
from here, never from ``console.app``, so the console's modules import one way: app, then the pages, then this.

* :class:`Backend`: what the console needs of the running service (the composition root hands it in);
* :class:`ConsoleState`: what the access rules and the pages need of the console (``console.app.Console`` is it),
  reached through :data:`CONSOLE`; the signed-in user is :data:`PRINCIPAL` (:func:`user_of`);
* :func:`guarded_call`: sign-in, roles, CSRF and the acting user's audit (``restapi.http.ACTOR``) for one request,
  as the console's middleware applies them to its own paths;
* :func:`guard`: the same around a route the middleware does not know (the feature pages, the desk), with the
  security headers, and the page's own refusal for a role it does not serve or a feature that is not running;
* :func:`render`: a page in the console's frame (language, direction, header links, CSRF token).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Protocol

import jinja2
from aiohttp import web
from markupsafe import Markup

from callbacks.service import CallbackService
from cases.service import CaseService
from cdr.service import RecordService
from console import i18n
from console.db import ConsoleStore, Session, User
from console.hub import LiveHub
from profiles.model import Profile
from restapi.http import ACTOR, Actor, error
from routing.service import AgentDesk

COOKIE = "hotline_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The features' pages the header links to when they are mounted (the survey's, the calendar's, the block list's).
OPTIONAL_NAV = (
    ("/campaigns", "nav.campaigns"),
    ("/survey", "nav.survey"),
    ("/calendar", "nav.calendar"),
    ("/screening", "nav.screening"),
    ("/recordings", "nav.recordings"),
)
#: ... of which these only for those who may change (a viewer's header does not offer a page that refuses them).
CHANGERS_NAV = frozenset({"/recordings"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Backend(Protocol):
    """What the console needs of the running service; the composition root hands it in."""

    @property
    def profile(self) -> Profile: ...
    @property
    def desk(self) -> AgentDesk: ...
    @property
    def callbacks(self) -> CallbackService: ...
    @property
    def cases(self) -> CaseService | None: ...  # None: this hotline keeps no cases
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

#: What the guard does with an agent's login: returns when the route is one of theirs, raises otherwise.
AgentGate = Callable[[web.Request, bool], None]


def no_desk(request: web.Request, api: bool) -> None:
    """The agent gate while no desk is mounted: an agent's login reaches nothing."""
    raise error(web.HTTPForbidden, "an agent's login reaches their desk only")


class ConsoleState(Protocol):
    """What the access rules and the pages need of the console; ``console.app.Console`` is one."""

    backend: Backend
    store: ConsoleStore
    templates: jinja2.Environment
    #: Every hub of live feeds: access that ends closes its feeds in all (the desk adds its own).
    hubs: list[LiveHub]
    #: (METHOD, path) open to all, and the changes every signed-in role may make (the desk adds its own).
    public: frozenset[tuple[str, str]]
    any_role: frozenset[tuple[str, str]]
    #: (METHOD, path template) -> the roles that may make that change besides those that may change everything
    roles: dict[tuple[str, str], frozenset[str]]
    #: (METHOD, path template) of the reads only those who may change may make
    restricted: frozenset[tuple[str, str]]
    #: Where an agent's login may go (the desk sets it when it is mounted; :func:`no_desk` until then).
    agent_gate: AgentGate

    def actor(self, request: web.Request) -> Actor: ...

    async def audit(self, request: web.Request, action: str, target: str, details: dict[str, Any]) -> None: ...


CONSOLE = web.AppKey("console", ConsoleState)
PRINCIPAL = web.RequestKey("principal", Principal)


def user_of(request: web.Request) -> User:
    """The signed-in user of a guarded request."""
    return request[PRINCIPAL].user


def backend_of(request: web.Request) -> Backend:
    return request.config_dict[CONSOLE].backend


# -- request helpers -----------------------------------------------------------------------------------


def public_origin(request: web.Request) -> str | None:
    origin = getattr(request.config_dict[CONSOLE].backend, "public_origin", None)
    return origin.rstrip("/").lower() if origin else None


def client_address(request: web.Request) -> str:
    """Who is asking: the socket's peer, or, when that peer is one of the trusted TLS proxies
    (``HOTLINE_TRUSTED_PROXIES``), the last address of ``X-Forwarded-For`` that is not a proxy's (each proxy
    appends the address it was asked by, so the hops right of the client are the proxies' own; what the
    client wrote itself, left of them, is never believed). Without trusted proxies the header is ignored:
    anyone could write it."""
    remote = request.remote or "unknown"
    trusted = _trusted_networks(tuple(getattr(request.config_dict[CONSOLE].backend, "trusted_proxies", ()) or ()))
    if not trusted or not _within(remote, trusted):
        return remote
    hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
    for hop in reversed(hops):
        if not hop:
            continue
        if not _within(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # not an address where the proxy writes one: a misconfigured proxy
    return remote


@functools.lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def own_origin(request: web.Request) -> bool:
    """No Origin (not a browser's cross-site request), or ours: the configured public origin when
    there is one (behind a TLS proxy the request itself looks like plain http), else the request's."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = public_origin(request)
    if public is not None:
        return origin.rstrip("/").lower() == public
    return origin == f"{request.scheme}://{request.host}"


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


def harden(headers: Any, path: str) -> None:
    """The console's security headers, on every answer: pages, API, errors and redirects alike."""
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")  # "no-referrer" makes Origin: null
    headers.setdefault("X-Frame-Options", "DENY")
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


# -- the guard -----------------------------------------------------------------------------------------------


async def guarded_call(request: web.Request, handler: Handler, api: bool) -> web.StreamResponse:
    """Run ``handler`` under the console's access rules: the public routes as they are (a foreign Origin refused
    on a change); else sign-in (401 on the API, the sign-in page otherwise), an agent's login through the desk's
    gate, the restricted reads and, on a change, the Origin, the CSRF token and the role; the handler gets the
    acting user (``request[ACTOR]``), whose changes are audited."""
    method, path = request.method, request.path
    console = request.config_dict[CONSOLE]
    public = ("GET" if method == "HEAD" else method, path) in console.public  # HEAD /login: not a loop to itself
    if path.startswith("/static/console/") or public:
        if method not in SAFE_METHODS and not own_origin(request):
            raise error(web.HTTPForbidden, "cross-site request refused")
        return await handler(request)
    principal = await _principal(request)
    if principal is None:
        if api:
            raise error(web.HTTPUnauthorized, "sign in, or send an API token")
        raise web.HTTPSeeOther("/login")
    request[PRINCIPAL] = principal
    if principal.user.is_agent:  # an agent's login reaches their own desk only
        console.agent_gate(request, api)
    if method in SAFE_METHODS and console.restricted and not principal.user.can_change:
        resource = request.match_info.route.resource
        if (method, resource.canonical if resource is not None else path) in console.restricted:
            raise error(web.HTTPForbidden, f"your role ({principal.user.role}) cannot see this")
    if method not in SAFE_METHODS:
        if principal.via == "session":
            if not own_origin(request):
                raise error(web.HTTPForbidden, "cross-site request refused")
            sent: object = request.headers.get(CSRF_HEADER)
            if sent is None and request.content_type == "application/x-www-form-urlencoded":
                sent = (await request.post()).get("csrf_token")
            expected = principal.session.csrf_token if principal.session else ""
            if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
                raise error(web.HTTPForbidden, "missing or wrong CSRF token")
        if (method, path) not in console.any_role and not principal.user.can_change:
            resource = request.match_info.route.resource
            template = resource.canonical if resource is not None else path
            if principal.user.role not in console.roles.get((method, template), ()):
                raise error(web.HTTPForbidden, f"your role ({principal.user.role}) cannot change this")
    request[ACTOR] = console.actor(request)
    return await handler(request)


def guard(
    handler: Handler,
    *,
    api: bool = False,
    roles: Collection[str] | None = None,
    needs: Callable[[web.Request], object] | None = None,
    refuse: Callable[[web.Request, int], web.StreamResponse] | None = None,
) -> Handler:
    """``handler`` behind the console's sign-in, CSRF, roles and security headers, for a route the console's
    middleware does not know (a feature's page, the desk): a viewer's change is refused before the handler.

    With ``refuse``, the page answers for itself: ``refuse(request, 403)`` when the user's role is not among
    ``roles``, ``refuse(request, 404)`` when ``needs(request)`` is None (the feature is not running here).
    ``api``: an unsigned request gets 401 rather than the sign-in page (the desk's socket and changes)."""
    if refuse is None and (roles is not None or needs is not None):
        raise ValueError("roles and needs go with refuse: the page's own answer when it refuses")

    async def allowed(request: web.Request) -> web.StreamResponse:
        if refuse is not None:
            if roles is not None and user_of(request).role not in roles:
                return refuse(request, 403)
            if needs is not None and needs(request) is None:
                return refuse(request, 404)
        return await handler(request)

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            response = await guarded_call(request, allowed, api)
        except web.HTTPException as exc:
            harden(exc.headers, request.path)
            raise
        if not response.prepared:
            harden(response.headers, request.path)
        return response

    return guarded


# -- the page frame ---------------------------------------------------------------------------------------------


def render(
    request: web.Request, template: str, status: int = 200, language: str | None = None, **context: Any
) -> web.Response:
    principal: Principal | None = request.get(PRINCIPAL)
    lang = language or (principal.user.language if principal else "en")
    console = request.config_dict[CONSOLE]
    labels = i18n.Labels(console.backend.profile, lang)
    recording = getattr(console.backend, "recording", None)  # recording off (a full disk): every page says so
    recording_off = recording.off if recording is not None and principal is not None else None
    page = console.templates.get_template(template).render(
        recording_off=i18n.t(lang, f"recording.off.{recording_off.code}") if recording_off else "",
        lang=lang,
        profile_labels=labels,
        queue_labels=script_json(labels.queues),
        nav_extra=[
            (page, i18n.t(lang, key))
            for page, key in OPTIONAL_NAV
            if page in _mounted(request.app)
            and (page not in CHANGERS_NAV or (principal is not None and principal.user.can_change))
        ],
        dir=i18n.DIRECTION.get(lang, "ltr"),
        switch_to=(switch := i18n.next_language(console.backend.profile, lang)),
        switch_label=i18n.NATIVE.get(switch, switch),
        t=lambda key: i18n.t(lang, key),
        user=principal.user if principal else None,
        csrf=principal.session.csrf_token if principal and principal.session else "",
        path=request.path,
        strings=script_json(
            {
                k: v
                for k, v in i18n.CATALOGUE.get(lang, i18n.CATALOGUE["en"]).items()
                if k.startswith(("state.", "msg.", "live.", "wb.", "camp.", "daystate."))
            }
        ),
        **context,
    )
    return web.Response(text=page, content_type="text/html", status=status)


def _mounted(app: web.Application) -> frozenset[str]:
    """The fixed paths of ``app``'s pages."""
    return frozenset(info["path"] for resource in app.router.resources() if "path" in (info := resource.get_info()))


def script_json(value: Any) -> Any:
    """JSON safe inside <script type="application/json"> (no '<', '>' or '&' to end the element)."""
    text = json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return markup(text)


def markup(html_text: str) -> Any:
    """Text the templates put in as it is: only our own (JSON made safe above, SVG whose texts are escaped)."""
    return Markup(html_text)
