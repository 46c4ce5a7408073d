"""The hotline service: one asyncio process with the IVR (FastAGI), the AMI listener and the records.

``hotline.bootstrap.Service`` builds the object graph; here aiohttp's ``cleanup_ctx`` only starts
and stops its parts, in order: the schema is migrated and the records path started first (nothing
is written before), then AMI with the agent desk, then callbacks, cases (their webhook dispatcher), the
console, and last the IVR (which uses the desk). Shutdown runs the other way and cancels the tasks;
CancelledError is never swallowed.

HTTP: ``/health`` for probes, ``/metrics`` for Prometheus (``hotline.metrics``), the console's pages,
and one admin API, ``/api/v1`` (the console's sub-application). Local tools (``hotline agent``,
``hotline seats``) call ``/api/v1`` with the token the service writes for them at start (mode 0600,
removed at stop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web

from cdr.importer import import_gap
from console.app import setup_console
from hotline.bootstrap import Service, ServiceConfig
from hotline.metrics import METRICS, Metrics, metrics_handler
from storage.engine import upgrade
from telephony.asterisk import write_private

__all__ = ["SERVICE", "Service", "ServiceConfig", "build_app", "serve"]

log = logging.getLogger(__name__)

EXPIRE_EVERY_SECONDS = 60.0
EXPIRE_AFTER_SECONDS = 4 * 3600.0

SERVICE = web.AppKey("service", Service)


class _Waitable(Protocol):
    async def wait(self) -> object: ...


async def token_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    service.local_token = secrets.token_urlsafe(32)
    path = service.config.token_file
    if path is not None:
        write_private(path, service.local_token)  # created 0600, never written then chmod-ed
    yield
    if path is not None:
        path.unlink(missing_ok=True)


async def records_ctx(app: web.Application) -> AsyncIterator[None]:
    """Migrate the schema, replay the spool, then write records as the builder completes them."""
    service = app[SERVICE]
    config = service.config
    await asyncio.to_thread(upgrade, service.db.url)
    await service.records.start()
    if config.asterisk_log_dir is not None:
        since = datetime.now(UTC) - timedelta(hours=config.gap_hours)
        try:
            _taken, added = await asyncio.to_thread(
                import_gap, service.db.url, config.asterisk_log_dir, since, service.profile.number
            )
        except OSError as exc:  # the service still comes up: callers are not kept waiting for a report
            log.error("records: the calls of a restart or an AMI gap could not be imported: %s", exc)
            added = 0
        if added:
            log.warning("records: %d calls ended without a record (a restart or an AMI gap): imported from "
                        "Asterisk's queue_log and Master.csv", added)  # fmt: skip

    async def expire() -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_SECONDS)
            for record in service.builder.expire(datetime.now(UTC), EXPIRE_AFTER_SECONDS):
                service.records.submit(record)

    task = asyncio.create_task(expire(), name="hotline-record-expiry")
    yield
    task.cancel()
    await asyncio.wait([task])
    await service.records.close()
    await service.db.close()


async def ami_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.desk.start()
    await service.ami.start()
    yield
    await service.desk.close()
    if service.conference is not None:
        await service.conference.close()
    await service.ami.close()


async def callbacks_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.callbacks.start()
    await service.place.start()
    yield
    await service.place.close()
    await service.callbacks.close()


async def campaigns_ctx(app: web.Application) -> AsyncIterator[None]:
    """Outbound campaigns: recover this instance's attempts left in flight, then the paced dialler."""
    campaigns = app[SERVICE].campaigns
    if campaigns is not None:
        await campaigns.start()
    yield
    if campaigns is not None:
        await campaigns.close()


async def cases_ctx(app: web.Application) -> AsyncIterator[None]:
    """The case webhooks' dispatcher (events wait in the outbox meanwhile: nothing is lost while it is down)."""
    cases = app[SERVICE].cases
    if cases is not None:
        await cases.start()
    yield
    if cases is not None:
        await cases.close()


async def screening_ctx(app: web.Application) -> AsyncIterator[None]:
    """The block list and the warnings to hear, loaded before the IVR takes calls (the check reads no database)."""
    await app[SERVICE].screening.start()
    yield


async def recording_ctx(app: web.Application) -> AsyncIterator[None]:
    """Call recordings: the disk checked every few seconds (recording off when full), the purge every minute."""
    recording = app[SERVICE].recording
    task = asyncio.create_task(recording.run(), name="hotline-recordings") if recording.enabled else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.wait([task])
    await recording.close()


async def agi_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.agi.start()
    log.info("IVR (FastAGI) listening on %s:%s", service.config.settings.agi_host, service.agi.port)
    yield
    await service.agi.close()


async def health(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return web.json_response(
        {
            "hotline": service.profile.name,
            "number": service.profile.number,
            "ami_connected": service.ami.connected,
            "agi_port": service.agi.port,
            "calls_in_progress": service.builder.calls_in_progress,
            "routing_synced": service.desk.synced,
            "taking_calls": service.desk.taking_calls(),
            "callbacks_dialled": service.callbacks.dialled,
            "records_written": service.records.written,
            **service.config.counters,
        }
    )


def build_app(config: ServiceConfig) -> web.Application:
    service = Service(config)
    app = web.Application()
    app[SERVICE] = service
    app[METRICS] = Metrics(service, config.settings.metrics_token)  # GET /metrics (hotline.metrics: who may read)
    # Order matters: records before events arrive, the desk (on AMI) before the IVR that uses it.
    app.cleanup_ctx.extend(
        [token_ctx, records_ctx, ami_ctx, callbacks_ctx, campaigns_ctx, cases_ctx, screening_ctx, recording_ctx]
    )
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics_handler)
    setup_console(app, service.console)  # pages, the /api/v1 sub-app and live pushes (its context runs here)
    app.cleanup_ctx.append(agi_ctx)
    return app


async def serve(config: ServiceConfig, stop: _Waitable) -> None:
    """Run the service until ``stop`` is set."""
    os.umask(0o077)  # whatever it writes (records spool, token, database) is its own
    runner = web.AppRunner(build_app(config), handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", config.settings.http_port)
        await site.start()
        log.info("hotline service up: health at http://127.0.0.1:%s/health", config.settings.http_port)
        await stop.wait()
    finally:
        await runner.cleanup()
