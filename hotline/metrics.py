"""The service's Prometheus metrics (``GET /metrics``, the text exposition format).

Every metric is defined here, at the composition root; the features keep only plain counters
(``RecordService.written``/``ended``/``spool_depth``, ``AMIClient.reconnects``,
``AGIServer.sessions_total``/``active_sessions``, ``CallbackService.claimed``/``dialled``) and
this collector reads them at scrape time. The one exception is the AGI session durations: a
histogram needs each observation, so it listens on ``AGIServer.session_observers``. The webhook
backlog (outbox rows not yet delivered) is one COUNT query, refreshed before each scrape.

Each service has its own registry (never the process-wide default one: tests build several
services in one process). Nothing here names a caller: no numbers, no names, no case numbers.

Access: ``/metrics`` answers a request with ``Authorization: Bearer <HOTLINE_METRICS_TOKEN>``
when that setting is given; without it, only a request made straight to the loopback socket
(no ``Forwarded``/``X-Forwarded-For``, i.e. not through the console's TLS proxy) is answered.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from hotline.bootstrap import Service

log = logging.getLogger(__name__)

#: AGI sessions last from a few milliseconds (the agent's feature codes) to minutes (a survey, a voice note).
AGI_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class _Figures(Collector):
    """Reads the services' plain counters when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        service = self.metrics.service
        records = service.records
        calls = CounterMetricFamily(
            "hotline_calls_ended", "Calls ended (one record each), by outcome", labels=["outcome"]
        )
        for outcome, count in sorted(records.ended.items()):
            calls.add_metric([outcome], count)
        yield calls
        yield CounterMetricFamily("hotline_records_written", "Call records stored", value=records.written)
        yield GaugeMetricFamily(
            "hotline_record_spool_depth",
            "Records spooled, not yet stored with every hook done",
            value=records.spool_depth,
        )
        yield GaugeMetricFamily("hotline_calls_in_progress", "Calls under way", value=service.builder.calls_in_progress)
        yield CounterMetricFamily("hotline_ami_reconnects", "AMI logins after the first", value=service.ami.reconnects)
        yield GaugeMetricFamily("hotline_ami_connected", "1 while logged in to AMI", value=int(service.ami.connected))
        yield CounterMetricFamily("hotline_ami_events", "AMI events handled", value=service.config.counters["events"])
        yield CounterMetricFamily(
            "hotline_agi_sessions", "FastAGI sessions handed to a route", value=service.agi.sessions_total
        )
        yield GaugeMetricFamily(
            "hotline_agi_sessions_active", "FastAGI connections being served", value=service.agi.active_sessions
        )
        yield CounterMetricFamily(
            "hotline_callback_claims", "Callback attempts claimed by this instance", value=service.callbacks.claimed
        )
        yield CounterMetricFamily(
            "hotline_callback_dials", "Callback Originates sent by this instance", value=service.callbacks.dialled
        )
        if self.metrics.webhook_backlog is not None:
            yield GaugeMetricFamily(
                "hotline_webhook_backlog", "Case webhook events not yet delivered", value=self.metrics.webhook_backlog
            )


class Metrics:
    """One service's registry: the figures collector and the AGI duration histogram."""

    def __init__(self, service: Service, token: str | None = None) -> None:
        if token is not None and len(token) < 16:
            raise ValueError("the metrics token must be at least 16 characters")
        self.service = service
        self.token = token
        self.webhook_backlog: int | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Figures(self))
        self.agi_seconds = Histogram(
            "hotline_agi_session_seconds",
            "FastAGI session durations, by route",
            ["route"],
            buckets=AGI_BUCKETS,
            registry=self.registry,
        )
        service.agi.session_observers.append(self.observe_agi)

    def observe_agi(self, route: str, seconds: float) -> None:
        self.agi_seconds.labels(route=route).observe(seconds)

    async def refresh(self) -> None:
        """What only the database knows: the webhook backlog (None without cases)."""
        cases = self.service.cases
        if cases is None:
            return
        try:
            self.webhook_backlog = await cases.store.outbox_backlog()
        except Exception as exc:  # a database down must not take /metrics with it: the last figure stays
            log.warning("metrics: the webhook backlog could not be read: %s", exc)

    def allowed(self, request: web.Request) -> bool:
        if self.token is not None:
            header = request.headers.get("Authorization", "")
            scheme, _, presented = header.partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), self.token.encode())
        if "Forwarded" in request.headers or "X-Forwarded-For" in request.headers:
            return False  # through a proxy: the requester is not on this machine
        try:
            return ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            return False

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    if not metrics.allowed(request):
        raise web.HTTPForbidden(text="metrics: a loopback request, or the metrics bearer token, is needed\n")
    await metrics.refresh()
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
