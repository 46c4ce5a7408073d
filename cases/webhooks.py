"""Outbound webhooks on case created and status changed: signed, from the outbox, at least once.

Each event is one JSON body (``cases.model.webhook_body``: ``event_id``, ``kind``, ``number``, ``status``,
``at``, …) POSTed to every receiver in the settings, with these headers:

* ``Idempotency-Key``: the event's ``event_id`` (the same on every retry: a receiver drops repeats by it);
* ``X-Hotline-Event``: the kind (``case.created`` or ``case.status_changed``);
* ``X-Hotline-Timestamp``: when this attempt was sent, in epoch seconds;
* ``X-Hotline-Signature``: ``sha256=<hex>``, the HMAC-SHA256 with the shared secret over
  ``<timestamp>.<raw body>``. A receiver recomputes it over the raw body it got, compares in constant time
  and refuses a timestamp far from its clock (a replay): :func:`verify` does that.

Delivery: the events wait in ``case_outbox`` (written in the transaction of their change, one row per
receiver) until a receiver answers 2xx. The :class:`Dispatcher` claims due rows (``CaseStore.claim_outbox``:
one instance at a time, SKIP LOCKED on PostgreSQL), sends them with a timeout, and on a failure (refused,
timed out, not 2xx) retries later with exponential backoff up to a cap. Nothing is kept in memory: after a
restart the rows are still there and are sent again; a row whose send was cut short by a crash is sent again
after its lease. So every event reaches every receiver at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp

from cases.db import CaseStore, OutboxEvent
from telephony.clock import epoch, utc_now

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Dispatcher",
    "WebhookSettings",
    "check_urls",
    "sign",
    "verify",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Hotline-Event"
TIMESTAMP_HEADER = "X-Hotline-Timestamp"
SIGNATURE_HEADER = "X-Hotline-Signature"
REPLAY_TOLERANCE_SECONDS = 300


def check_urls(urls: Sequence[str], secret: str | None) -> tuple[str, ...]:
    """The receivers' URLs, checked: each http(s) with a host; a secret is required when there are any."""
    checked = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError(f"{url!r} is not an http(s) URL")
        if len(url) > 2000:
            raise ValueError(f"a webhook URL is at most 2000 characters long ({url[:40]}…)")
        checked.append(url)
    if checked and not secret:
        raise ValueError("webhook URLs need a secret to sign the events with")
    return tuple(dict.fromkeys(checked))


@dataclass(frozen=True)
class WebhookSettings:
    """Where the events go and how they are sent. Refused when there are URLs and no secret."""

    urls: tuple[str, ...]
    secret: str = ""
    timeout_seconds: float = 10.0
    backoff_seconds: float = 2.0  # the first retry; then doubled on every failure...
    backoff_cap_seconds: float = 600.0  # ... up to this
    poll_seconds: float = 1.0  # how often due events are looked for, when no change pokes the dispatcher
    lease_seconds: float = 120.0  # a claimed event is sent again after this if its sender died
    batch: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", check_urls(self.urls, self.secret))
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError("the lease must be longer than the timeout of one send")

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt."""
        return timedelta(seconds=min(self.backoff_cap_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1)))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``secret`` over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance_seconds: float = REPLAY_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``body`` with ``headers`` was signed with ``secret`` no more than ``tolerance_seconds`` from
    ``now`` (what a receiver checks)."""
    raw_time, signature = headers.get(TIMESTAMP_HEADER, ""), headers.get(SIGNATURE_HEADER, "")
    if not raw_time.isascii() or not raw_time.isdigit() or len(raw_time) > 12:
        return False
    if abs(epoch(now) - int(raw_time)) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, int(raw_time), body), signature)


def headers_of(event: OutboxEvent, secret: str, now: datetime) -> dict[str, str]:
    timestamp = int(epoch(now))
    return {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: event.event_id,
        EVENT_HEADER: event.kind,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, event.payload.encode()),
    }


class Dispatcher:
    """Sends the outbox's due events until closed (see the module). ``poke()`` after a change sends at once."""

    def __init__(self, store: CaseStore, settings: WebhookSettings, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sent = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._task is None and self.settings.urls:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds))
            self._task = asyncio.create_task(self._run(), name="hotline-case-webhooks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def poke(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                busy = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away, say: logged, tried again on the next round
                log.exception("case webhooks: the outbox could not be read")
                busy = False
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)

    async def send_due(self) -> bool:
        """Claim and send one batch of due events; whether there were any."""
        events = await self.store.claim_outbox(
            self.clock(), lease=timedelta(seconds=self.settings.lease_seconds), limit=self.settings.batch
        )
        if events:
            await asyncio.gather(*(self._send(event) for event in events))
        return bool(events)

    async def _send(self, event: OutboxEvent) -> None:
        assert self._session is not None
        problem: str | None
        try:
            async with self._session.post(
                event.url,
                data=event.payload.encode(),
                headers=headers_of(event, self.settings.secret, self.clock()),
                allow_redirects=False,
            ) as response:
                await response.read()
                problem = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        now = self.clock()
        if problem is None:
            await self.store.delivered(event.id, now)
            self.sent += 1
            return
        self.failures += 1
        retry_at = now + self.settings.backoff(event.attempts)
        log.warning("case webhook %s to %s failed (attempt %d): %s; again at %s", event.event_id, event.url,
                    event.attempts, problem, retry_at.isoformat())  # fmt: skip
        await self.store.failed(event.id, problem, retry_at)
