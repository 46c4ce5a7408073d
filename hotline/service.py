"""The hotline service: one asyncio process with the IVR (FastAGI), the AMI listener and the records.

aiohttp's ``cleanup_ctx`` owns every long-running piece, so start-up and shutdown happen in one
place and in order: records first (the schema is migrated before anything is written), then AMI
with the agent desk, then the IVR (which uses the desk). Shutdown runs the other way and cancels the tasks; CancelledError is never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aiohttp import web

from cdr.builder import CallRecord, RecordBuilder
from cdr.db import RecordStore
from storage.engine import upgrade
from telephony.events import parse_event
from telephony.ami.client import AMIClient, Message
from telephony.asterisk import Credentials
from profiles.model import Profile
from hotline.settings import Settings
from routing.agi import AgentFeatureHandler
from telephony.agi import AGIServer
from ivr.handler import IvrHandler
from routing.db import RoutingStore
from routing.service import AgentDesk, AgentDeskError
from callbacks.db import CallbackStore
from console.app import setup_console
from callbacks.service import CallbackService, instance_name
from callbacks.agi import CallbackOfferHandler

log = logging.getLogger(__name__)


class _Waitable(Protocol):
    async def wait(self) -> object: ...

INBOUND_CONTEXT = "hotline-inbound"
RECORD_EVENTS = (
    "Newchannel",
    "UserEvent",
    "QueueCallerJoin",
    "QueueCallerAbandon",
    "QueueCallerLeave",
    "AgentConnect",
    "AgentComplete",
    "Hangup",
)
EXPIRE_EVERY_SECONDS = 60.0
EXPIRE_AFTER_SECONDS = 4 * 3600.0


@dataclass
class ServiceConfig:
    settings: Settings
    profile: Profile
    credentials: Credentials
    sounds_dir: str  # the prompt folder as Asterisk sees it
    token_file: Path | None = None  # where the admin token for local tools is written (mode 0600)
    sounds_host_dir: Path | None = None  # the prompt folder from here (to switch the callback offer)
    counters: dict[str, int] = field(default_factory=lambda: {"records_written": 0, "events": 0})


@dataclass
class Services:
    """The running service's parts, filled in by the cleanup contexts in order; the console reads them."""

    config: ServiceConfig
    _ami: AMIClient | None = None
    _desk: AgentDesk | None = None
    _callbacks: CallbackService | None = None
    record_hooks: list = field(default_factory=list)  # called with each new record

    @property
    def profile(self) -> Profile:
        return self.config.profile

    @property
    def db_url(self) -> str:
        return self.config.settings.db_url

    @property
    def ami(self) -> AMIClient:
        assert self._ami is not None, "AMI is started by ami_ctx"
        return self._ami

    @property
    def desk(self) -> AgentDesk:
        assert self._desk is not None, "the desk is started by ami_ctx"
        return self._desk

    @property
    def callbacks(self) -> CallbackService:
        assert self._callbacks is not None, "callbacks are started by callbacks_ctx"
        return self._callbacks


CONFIG = web.AppKey("config", ServiceConfig)
SERVICES = web.AppKey("services", Services)
AMI = web.AppKey("ami", AMIClient)
AGI = web.AppKey("agi", AGIServer)
BUILDER = web.AppKey("builder", RecordBuilder)
RECORD_QUEUE = web.AppKey("record_queue", asyncio.Queue)
DESK = web.AppKey("desk", AgentDesk)
CALLBACKS = web.AppKey("callbacks", CallbackService)


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """Migrate the schema, then write completed records from a queue fed by the AMI listener."""
    config = app[CONFIG]
    upgrade(config.settings.db_url)
    store = RecordStore(config.settings.db_url)
    builder = RecordBuilder(number=config.profile.number, context=INBOUND_CONTEXT)
    pending: asyncio.Queue[CallRecord] = asyncio.Queue()
    app[BUILDER] = builder
    app[RECORD_QUEUE] = pending
    hooks = app[SERVICES].record_hooks  # called with each new record (callbacks for abandoned callers, …)

    async def write() -> None:
        while True:
            record = await pending.get()
            try:
                if await store.add(record):
                    config.counters["records_written"] += 1
                    for hook in hooks:
                        await hook(record)
            except Exception:  # a database hiccup must not stop the writer; the record is retried
                log.exception("could not write the record of call %s; retrying in 1 s", record.linkedid)
                await asyncio.sleep(1.0)
                pending.put_nowait(record)

    async def expire() -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_SECONDS)
            for record in builder.expire(time.time(), EXPIRE_AFTER_SECONDS):
                pending.put_nowait(record)

    tasks = [asyncio.create_task(write(), name="hotline-record-writer"), asyncio.create_task(expire())]
    yield
    # Write what is still queued before closing, then stop.
    while not pending.empty():
        record = pending.get_nowait()
        with contextlib.suppress(Exception):
            await store.add(record)
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    await store.close()


async def agi_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    server = AGIServer(
        config.settings.agi_host, config.settings.agi_port, call_deadline=config.settings.ivr_deadline_seconds
    )
    server.add_route("ivr", IvrHandler(config.profile, config.sounds_dir))
    server.add_route("agent", AgentFeatureHandler(config.profile, app[DESK], config.sounds_dir))
    server.add_route("callback", CallbackOfferHandler(config.profile, app[CALLBACKS], config.sounds_dir))
    await server.start()
    app[AGI] = server
    log.info("IVR (FastAGI) listening on %s:%s", config.settings.agi_host, server.port)
    yield
    await server.close()


async def ami_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    builder = app[BUILDER]
    pending: asyncio.Queue[CallRecord] = app[RECORD_QUEUE]
    client = AMIClient(
        "127.0.0.1", config.settings.ami_port, config.credentials.ami_username, config.credentials.ami_secret
    )

    def on_event(message: Message) -> None:
        config.counters["events"] += 1
        event = parse_event(message.to_dict())
        if event is None:
            return
        for record in builder.feed(event):
            pending.put_nowait(record)

    client.add_event_handler(on_event, events=RECORD_EVENTS)
    store = RoutingStore(config.settings.db_url)
    desk = AgentDesk(config.profile, client, store)
    await desk.start()
    app[AMI] = client
    app[DESK] = desk
    app[SERVICES]._ami, app[SERVICES]._desk = client, desk
    await client.start()
    yield
    await desk.close()
    await client.close()
    await store.close()


async def callbacks_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = CallbackStore(config.settings.db_url)
    service = CallbackService(
        config.profile, app[AMI], store, app[DESK], config.sounds_host_dir, instance_name(config.settings.agi_port)
    )
    await service.start()
    app[CALLBACKS] = service
    app[SERVICES]._callbacks = service
    app[SERVICES].record_hooks.append(service.on_record)
    yield
    await service.close()
    await store.close()


async def health(request: web.Request) -> web.Response:
    app = request.app
    config = app[CONFIG]
    return web.json_response(
        {
            "hotline": config.profile.name,
            "number": config.profile.number,
            "ami_connected": app[AMI].connected,
            "agi_port": app[AGI].port,
            "calls_in_progress": app[BUILDER].calls_in_progress,
            "routing_synced": app[DESK].synced,
            "taking_calls": app[DESK].taking_calls(),
            "callbacks_dialled": app[CALLBACKS].dialled,
            **config.counters,
        }
    )


TOKEN = web.AppKey("token", str)
AGENT_ACTIONS = ("login", "logout", "pause", "unpause")


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


@web.middleware
async def local_admin_auth(request: web.Request, handler):  # noqa: ANN001, ANN201
    """/api needs the admin token that the service wrote for local tools (the console brings users)."""
    if request.path.startswith("/api/") and not request.path.startswith("/api/v1/"):  # /api/v1: the console
        expected = f"Bearer {request.app[TOKEN]}"
        if not secrets.compare_digest(request.headers.get("Authorization", ""), expected):
            raise _error(web.HTTPUnauthorized, "missing or wrong admin token")
    return await handler(request)


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _error(web.HTTPBadRequest, "the body must be a JSON object")
    return body


async def agent_action(request: web.Request) -> web.Response:
    person_id, action = request.match_info["person"], request.match_info["action"]
    if action not in AGENT_ACTIONS:
        raise _error(web.HTTPNotFound, f"unknown action {action!r} (one of {', '.join(AGENT_ACTIONS)})")
    body = await _json_body(request)
    desk = request.app[DESK]
    try:
        if action == "pause":
            reason = body.get("reason", "supervisor")
            if not isinstance(reason, str) or not reason.strip() or len(reason) > 64:
                raise _error(web.HTTPBadRequest, "reason must be a short text")
            await desk.pause(person_id, reason.strip())
        else:
            await getattr(desk, action)(person_id)
    except AgentDeskError as exc:
        raise _error(web.HTTPNotFound if person_id not in desk.people else web.HTTPConflict, str(exc)) from None
    return web.json_response({"person": person_id, "done": action, "session": _session(desk, person_id)})


async def queue_seats(request: web.Request) -> web.Response:
    queue = request.match_info["queue"]
    body = await _json_body(request)
    seats = body.get("seats")
    if isinstance(seats, bool) or not isinstance(seats, int) or not 0 <= seats <= 10000:
        raise _error(web.HTTPBadRequest, "seats must be a whole number from 0 to 10000")
    desk = request.app[DESK]
    try:
        await desk.set_seats(queue, seats, by=str(body.get("by") or "local admin"))
    except AgentDeskError as exc:
        raise _error(web.HTTPNotFound, str(exc)) from None
    return web.json_response({"queue": queue, "seats": seats})


async def agents(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    return web.json_response({pid: _session(desk, pid) for pid in desk.people})


def _session(desk: AgentDesk, person_id: str) -> dict[str, object]:
    session = desk.session(person_id)
    return {"logged_in": session.logged_in, "paused": session.paused, "pause_reason": session.pause_reason}


async def token_ctx(app: web.Application) -> AsyncIterator[None]:
    token = secrets.token_urlsafe(32)
    app[TOKEN] = token
    path = app[CONFIG].token_file
    if path is not None:
        path.write_text(token)
        path.chmod(0o600)
    yield
    if path is not None:
        path.unlink(missing_ok=True)


def build_app(config: ServiceConfig) -> web.Application:
    app = web.Application(middlewares=[local_admin_auth])
    app[CONFIG] = config
    app[SERVICES] = Services(config)
    # Order matters: records before events arrive, the desk (on AMI) before the IVR that uses it.
    app.cleanup_ctx.extend([token_ctx, records_ctx, ami_ctx, callbacks_ctx, agi_ctx])
    app.router.add_get("/health", health)
    app.router.add_get("/api/agents", agents)
    app.router.add_post("/api/agents/{person}/{action}", agent_action)
    app.router.add_post("/api/queues/{queue}/seats", queue_seats)
    setup_console(app, app[SERVICES])  # the supervisor console: pages, /api/v1, live pushes (its context runs after agi_ctx)
    return app


async def serve(config: ServiceConfig, stop: _Waitable) -> None:
    """Run the service until ``stop`` is set."""
    runner = web.AppRunner(build_app(config), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", config.settings.http_port)
        await site.start()
        log.info("hotline service up: health at http://127.0.0.1:%s/health", config.settings.http_port)
        await stop.wait()
    finally:
        await runner.cleanup()
