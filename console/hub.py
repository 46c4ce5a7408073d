"""Live wallboard pushes over WebSockets: one slow client never holds up the others.

Each client has its own bounded outbox and its own sender task. A push only puts the message in
every outbox, so it never waits on a socket. A client whose outbox is full (it has stopped
reading, or reads far slower than we push), or whose send does not finish within
``SEND_TIMEOUT`` seconds, is dropped: its connection is aborted, and the browser reconnects.

The hub also knows who opened each client (user, session, token), so that signing out,
disabling or removing a user, or revoking a token closes their live feeds at once; a feed opened
with a session closes when the session expires, and every ``RECHECK_SECONDS`` the feeds are checked
against the database (for changes made by the command line or another instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.1
MIN_PUSH_GAP = 0.25  # at most 4 pushes a second
PERIODIC_SECONDS = 2.0  # waiting times move on without events
BACKLOG = 8  # pushes a client may fall behind before it is dropped
SEND_TIMEOUT = 30.0  # one push that takes longer than this drops the client
RECHECK_SECONDS = 30.0  # how often open feeds are checked against the sessions and tokens in the database
CLOSE_TIMEOUT = 5.0  # a closing handshake that takes longer is cut short


@dataclasses.dataclass(eq=False)
class LiveClient:
    """One open WebSocket, who opened it, and its outbox."""

    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    user_id: int
    session: str | None = None  # the SHA-256 of the session cookie it was opened with
    token: int | None = None  # the id of the API token it was opened with
    expires_at: datetime | None = None  # when its session ends (a feed does not outlive its session)
    outbox: asyncio.Queue[str] = dataclasses.field(default_factory=lambda: asyncio.Queue(BACKLOG))
    task: asyncio.Task[None] | None = None


class LiveHub:
    """WebSocket clients, and a debounced push of the wallboard when the routing state changes."""

    def __init__(
        self,
        build: Callable[[], Awaitable[dict[str, Any]]],
        *,
        send_timeout: float = SEND_TIMEOUT,
        still_valid: Callable[[list[LiveClient]], Awaitable[set[LiveClient]]] | None = None,
    ) -> None:
        self.build = build
        self.send_timeout = send_timeout
        self.still_valid = still_valid
        self._checked = 0.0
        self.clients: set[LiveClient] = set()
        self.pushes = 0
        self.dropped = 0  # clients dropped for not keeping up
        self._dirty = asyncio.Event()
        self._last = ""

    def poke(self, *_: object) -> None:
        self._dirty.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=PERIODIC_SECONDS)
            await asyncio.sleep(DEBOUNCE_SECONDS)
            self._dirty.clear()
            await self.close_expired(datetime.now(UTC))
            if self.clients and asyncio.get_running_loop().time() - self._checked >= RECHECK_SECONDS:
                try:
                    await self.recheck()
                except Exception:  # a database hiccup must not end the pushes
                    log.exception("could not check the live feeds' sessions and tokens")
            if not self.clients:
                continue
            try:
                payload = await self.build()
            except Exception:  # a database hiccup must not end the pushes
                log.exception("could not build the wallboard")
                continue
            text = json.dumps({k: v for k, v in payload.items() if k != "at"}, sort_keys=True, default=str)
            if text == self._last:
                continue
            self._last = text
            await self.broadcast(payload)
            await asyncio.sleep(MIN_PUSH_GAP)

    # -- clients -------------------------------------------------------------------------------
    def join(self, client: LiveClient, first: dict[str, Any]) -> None:
        """Add a client, with ``first`` as its first message; its sender starts now."""
        self.clients.add(client)
        client.outbox.put_nowait(_message(first))
        client.task = asyncio.create_task(self._pump(client), name=f"hotline-console-live-{id(client.ws):x}")

    def leave(self, client: LiveClient) -> None:
        self.clients.discard(client)
        if client.task is not None and client.task is not asyncio.current_task():
            client.task.cancel()

    async def broadcast(self, payload: dict[str, Any]) -> None:
        """Put one snapshot in every client's outbox; never waits on a socket."""
        message = _message(payload)
        for client in list(self.clients):
            try:
                client.outbox.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("live client of user %s fell %d pushes behind: dropped", client.user_id, BACKLOG)
                self._drop(client)
        self.pushes += 1

    async def _pump(self, client: LiveClient) -> None:
        while True:
            message = await client.outbox.get()
            try:
                await asyncio.wait_for(client.ws.send_str(message), self.send_timeout)
            except TimeoutError:
                log.warning(
                    "live client of user %s did not take a push in %ss: dropped", client.user_id, self.send_timeout
                )
                self._drop(client)
                return
            except (ConnectionError, RuntimeError):
                self.leave(client)
                return

    def _drop(self, client: LiveClient) -> None:
        """Cut a client that does not keep up: no closing handshake (it would wait on the same full socket)."""
        self.dropped += 1
        self.leave(client)
        if client.transport is not None:
            client.transport.abort()

    # -- ending access -------------------------------------------------------------------------
    async def close_where(
        self, matches: Callable[[LiveClient], bool], reason: str, code: WSCloseCode = WSCloseCode.POLICY_VIOLATION
    ) -> int:
        """Close the clients that ``matches`` (with ``code`` and ``reason``); how many."""
        chosen = [c for c in self.clients if matches(c)]
        for client in chosen:
            self.leave(client)
        await asyncio.gather(*(self._close(c, reason, code) for c in chosen))
        return len(chosen)

    async def close_user(self, user_id: int, reason: str) -> int:
        return await self.close_where(lambda c: c.user_id == user_id, reason)

    async def close_session(self, session: str, reason: str) -> int:
        return await self.close_where(lambda c: c.session == session, reason)

    async def close_token(self, token: int, reason: str) -> int:
        return await self.close_where(lambda c: c.token == token, reason)

    async def close_expired(self, now: datetime) -> int:
        return await self.close_where(lambda c: c.expires_at is not None and c.expires_at <= now, "the session expired")

    async def recheck(self) -> int:
        """Close the feeds whose session or token is no longer valid (ended, revoked, user disabled or
        removed, also from the command line or another instance); how many."""
        self._checked = asyncio.get_running_loop().time()
        if self.still_valid is None or not self.clients:
            return 0
        clients = list(self.clients)
        valid = await self.still_valid(clients)
        return await self.close_where(lambda c: c in clients and c not in valid, "signed out")

    async def close_all(self) -> None:
        await self.close_where(lambda _: True, "the service is stopping", WSCloseCode.GOING_AWAY)

    async def _close(self, client: LiveClient, reason: str, code: WSCloseCode) -> None:
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=reason.encode()[:120]), CLOSE_TIMEOUT)
        except (TimeoutError, ConnectionError, RuntimeError):
            if client.transport is not None:
                client.transport.abort()


def _message(payload: dict[str, Any]) -> str:
    return json.dumps({"type": "snapshot", **payload}, default=str)
