"""A small asyncio client for the Asterisk Manager Interface (AMI), written for Asterisk 22.

Why not panoramisk: panoramisk 1.4 decodes every TCP chunk on its own with errors ignored, so a
UTF-8 caller name split across two reads loses letters ('محمد' arrives as 'ممد'), and after a
reconnect it re-sends the actions that had no response, so an Originate can be placed twice.
This package uses nothing from panoramisk.

The package is in three modules:

* :mod:`telephony.ami.message` - :class:`Message` (one response or event) and action encoding.
* :mod:`telephony.ami.parser` - :class:`AMIParser`, the incremental UTF-8 parser with size caps.
* this module - :class:`AMIClient`: connects, logs in with the challenge (MD5) form, so the secret
  never crosses the socket, reconnects with exponential backoff, sends actions and matches
  responses by ActionID, collects list actions, dispatches events to handlers, and detects a
  half-open connection with periodic pings.

Delivery rules of :class:`AMIClient` (the integrator must know these):

* An action is written at most once. If the connection drops before its response, the caller gets
  :class:`AMIDisconnected` and the action is *never* re-sent on reconnect: the caller decides.
  :meth:`AMIClient.send_action` on a client that is not logged in raises :class:`AMIDisconnected`
  at once; nothing is queued.
* Events carrying the ActionID of a running :meth:`AMIClient.send_action_list` go to that list
  only, not to the event handlers. Every other event (including events carrying the ActionID of a
  plain action, e.g. ``OriginateResponse`` of an async Originate, and list events arriving after
  their list timed out) goes to the event handlers.
* Plain (synchronous) event handlers are called inline, in the order the events arrive, by the
  code that reads the socket: keep them short and non-blocking. Coroutine-function handlers are
  awaited one at a time, in arrival order, by a single dispatcher task owned by the client (a slow
  coroutine handler delays the later coroutine handlers, not the reader nor the plain handlers;
  the queue in between is unbounded). A plain callable that *returns* an awaitable gets it run as
  a separate task (no ordering). An exception in any handler is logged and never stops the reader
  or the dispatcher. All handlers of an event share the same (read-only) :class:`Message`; the
  composition root registers one handler that parses it once into a typed event
  (:func:`telephony.events.parse_event`) and fans that out.
* ``on_connect`` callbacks run after every successful (re)login, with the client as argument;
  coroutine callbacks run as tasks owned by the client, so they may await
  :meth:`AMIClient.send_action`. They are not awaited before events flow: events that arrive
  during a resync are dispatched as usual.
* :meth:`AMIClient.close` cancels the connection task, the dispatcher and every task the client
  started, and waits for them; pending actions fail with :class:`AMIDisconnected`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeAlias

from telephony.ami.message import ActionValue, Message, encode_action, redact
from telephony.ami.message import header as _header
from telephony.ami.parser import AMIParser

__all__ = [
    "AMIAuthError",
    "AMIClient",
    "AMIDisconnected",
    "AMIError",
    "AMIException",
    "AMIParser",  # re-exported: it lives in telephony.ami.parser
    "AMITimeout",
    "ActionValue",  # re-exported: it lives in telephony.ami.message
    "ConnectCallback",
    "EventHandler",
    "Message",  # re-exported: it lives in telephony.ami.message
]

logger = logging.getLogger(__name__)

#: An event handler: called with the event; a coroutine function is awaited by the dispatcher.
EventHandler: TypeAlias = Callable[["Message"], Any]
#: Called with the client after every successful (re)login; may be a coroutine function.
ConnectCallback: TypeAlias = Callable[["AMIClient"], Any]


# --------------------------------------------------------------------------------------------
# Exceptions
# --------------------------------------------------------------------------------------------


class AMIException(Exception):
    """Base of every error raised by this module.

    ``action`` is the action as it was sent (a copy of the caller's dict, with the ActionID added
    and secrets redacted), or None when no action is involved. ``response`` is the AMI response
    when there was one.
    """

    def __init__(
        self,
        message: str,
        action: Mapping[str, Any] | None = None,
        response: Message | None = None,
    ) -> None:
        super().__init__(message)
        self.action: dict[str, Any] | None = redact(action) if action is not None else None
        self.response: Message | None = response

    @property
    def action_name(self) -> str | None:
        """The ``Action`` header of the failed action, if any."""
        if self.action is None:
            return None
        for key, value in self.action.items():
            if key.lower() == "action":
                return str(value)
        return None


class AMIError(AMIException):
    """Asterisk answered ``Response: Error`` (``response`` holds the answer, e.g. its Message)."""


class AMIAuthError(AMIError):
    """Asterisk rejected the Login action (wrong credentials, or AMI not ready yet)."""


class AMIDisconnected(AMIException):
    """Not connected, or the connection dropped before the response arrived.

    The action was written at most once and is never re-sent by the client.
    """


class AMITimeout(AMIException):
    """No (complete) response within the timeout, or not connected within the timeout."""


class _Pending:
    """An action waiting for its response (and, for a list action, its events)."""

    __slots__ = ("action", "events", "future", "is_list", "response")

    def __init__(self, action: dict[str, Any], future: asyncio.Future[None], is_list: bool) -> None:
        self.action = action
        self.future = future
        self.is_list = is_list
        self.response: Message | None = None
        self.events: list[Message] = []


class _Connection:
    """State of one TCP connection; discarded when it is lost."""

    __slots__ = ("logged_in", "lost", "number", "parser", "pending", "transport")

    def __init__(self, number: int, lost: asyncio.Future[None]) -> None:
        self.number = number
        self.transport: asyncio.Transport | None = None
        self.parser = AMIParser()
        self.pending: dict[str, _Pending] = {}
        self.lost = lost
        self.logged_in = False

    def fail_pending(self, reason: str) -> None:
        pending, self.pending = self.pending, {}
        for item in pending.values():
            if not item.future.done():
                name = _header(item.action, "Action")
                item.future.set_exception(AMIDisconnected(f"{reason} (Action: {name})", item.action))


class _Protocol(asyncio.Protocol):
    """Feeds the parser and hands each message to the client, in order."""

    def __init__(self, client: AMIClient, conn: _Connection) -> None:
        self._client = client
        self._conn = conn

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._conn.transport = transport

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        route = self._client._route
        for message in conn.parser.feed(data):
            try:
                route(conn, message)
            except Exception:  # pragma: no cover - _dispatch already guards each handler
                logger.exception("AMI: failed to route %r", message)

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self._conn
        conn.logged_in = False
        conn.fail_pending("AMI connection lost before the response")
        if not conn.lost.done():
            conn.lost.set_result(None)


class _Handler:
    __slots__ = ("callback", "events", "is_async")

    def __init__(self, callback: EventHandler, events: frozenset[str] | None) -> None:
        self.callback = callback
        self.events = events
        # an object whose __call__ is a coroutine function is awaited too (getattr reads that method; B004 is about
        # testing callability, which this is not)
        self.is_async = inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004
        )


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------


class AMIClient:
    """An asyncio AMI client with automatic reconnection.

    >>> client = AMIClient("127.0.0.1", 5038, "hotline", "secret")     # doctest: +SKIP
    >>> client.add_event_handler(on_queue_event, events=["QueueCallerJoin"])
    >>> client.add_on_connect(resync)             # called after every (re)login
    >>> await client.start()
    >>> await client.wait_connected(timeout=10)
    >>> response = await client.send_action({"Action": "Originate", ...}, timeout=10)
    >>> await client.close()

    See the module docstring for the delivery rules (at-most-once actions, list events, how
    handlers are called).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        events: str = "on",
    ) -> None:
        """
        :param ping_interval: seconds between two ``Ping`` actions on an idle or busy connection.
        :param ping_timeout: seconds to wait for the ``Ping`` response before the connection is
            considered half-open, aborted and re-established. A dead peer is detected within
            ``ping_interval + ping_timeout`` (15 s with the defaults).
        :param connect_timeout: limit for the TCP connect, and separately for the login response.
        :param backoff_initial: delay before the first reconnect attempt; doubled after each
            failed attempt up to ``backoff_max``; back to ``backoff_initial`` after a login.
        :param events: the ``Events`` header of the Login action (``on``, ``off``, or a list of
            event classes such as ``call,agent``).
        """
        if ping_interval <= 0 or ping_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("ping_interval, ping_timeout and connect_timeout must be > 0")
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.connect_timeout = connect_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.events = events

        self._id_prefix = uuid.uuid4().hex[:12]
        self._id_counter = itertools.count(1)
        self._handlers: list[_Handler] = []
        self._handler_cache: dict[str, tuple[_Handler, ...]] = {}
        self._on_connect: list[ConnectCallback] = []

        self._conn: _Connection | None = None
        self._connected: asyncio.Event | None = None
        self._last_error: BaseException | None = None
        self._runner: asyncio.Task[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[_Handler, Message]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connection_count = 0
        self._closed = False
        #: Successful logins since start (the first, then one per reconnect): read by hotline.metrics.
        self.logins = 0
        #: AMI protocol version announced by the banner of the current connection.
        self.version: str | None = None

    # -- registration -----------------------------------------------------------------------

    def add_event_handler(self, callback: EventHandler, events: Iterable[str] | str | None = None) -> EventHandler:
        """Call ``callback(message)`` for each event named in ``events`` (case-insensitive), or
        for every event when ``events`` is None. Returns ``callback``.

        A plain function is called inline, in arrival order; a coroutine function is awaited by
        the client's dispatcher task, one event at a time, in arrival order.
        """
        if isinstance(events, str):
            events = [events]
        names = frozenset(e.lower() for e in events) if events is not None else None
        self._handlers.append(_Handler(callback, names))
        self._handler_cache.clear()
        return callback

    def remove_event_handler(self, callback: EventHandler) -> None:
        """Unregister every registration of ``callback`` (compared with ==, so a new bound
        method of the same object matches)."""
        self._handlers = [h for h in self._handlers if h.callback != callback]
        self._handler_cache.clear()

    def add_on_connect(self, callback: ConnectCallback) -> ConnectCallback:
        """Call ``callback(client)`` after every successful login (first connect and reconnects),
        e.g. to resync state with ``QueueStatus``. A coroutine function runs as a task owned by
        the client (cancelled by :meth:`close`). Returns ``callback``."""
        self._on_connect.append(callback)
        return callback

    def remove_on_connect(self, callback: ConnectCallback) -> None:
        """Unregister ``callback``."""
        self._on_connect = [c for c in self._on_connect if c != callback]

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while logged in."""
        return self._conn is not None and self._conn.logged_in

    @property
    def reconnects(self) -> int:
        """Logins after the first one: each is a connection lost and made again."""
        return max(0, self.logins - 1)

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed connection attempt (None after a successful login)."""
        return self._last_error

    async def start(self) -> None:
        """Start the background connect/reconnect task. Returns at once; see
        :meth:`wait_connected`. Calling it again while running does nothing."""
        if self._closed:
            raise RuntimeError("AMIClient is closed")
        if self._runner is not None:
            return
        self._connected = asyncio.Event()
        self._queue = asyncio.Queue()
        self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="hotline-ami-dispatch")
        self._runner = asyncio.create_task(self._run(), name="hotline-ami-connection")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in.

        On timeout, raise the last connection error if it was an :class:`AMIAuthError`,
        otherwise :class:`AMITimeout` (with the last error as ``__cause__``).
        """
        if self._connected is None or self._closed:
            raise AMIDisconnected("AMIClient is not started" if not self._closed else "closed")
        if self.connected:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            last = self._last_error
            if isinstance(last, AMIAuthError):
                raise last from None
            raise AMITimeout(
                f"not connected to AMI {self.host}:{self.port} within {timeout} s"
                + (f" (last error: {last!r})" if last is not None else "")
            ) from last

    async def close(self) -> None:
        """Stop reconnecting, close the connection, fail pending actions with
        :class:`AMIDisconnected`, cancel the dispatcher and the ``on_connect`` tasks, and wait
        for all of them. Idempotent."""
        self._closed = True
        tasks: list[asyncio.Task[Any]] = []
        if self._runner is not None:
            tasks.append(self._runner)
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        tasks.extend(self._tasks)
        for task in tasks:
            task.cancel()
        conn = self._conn
        if conn is not None and conn.transport is not None:
            conn.transport.abort()
        if tasks:
            # asyncio.wait neither raises the tasks' CancelledError nor swallows ours.
            await asyncio.wait(tasks)
        if conn is not None:
            conn.fail_pending("AMIClient closed")
            if conn.transport is not None:
                await asyncio.wait([conn.lost], timeout=1.0)
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
        self._conn = None

    async def __aenter__(self) -> AMIClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- actions --------------------------------------------------------------------------------

    async def send_action(self, action: Mapping[str, ActionValue], timeout: float | None = 10.0) -> Message:
        """Send ``action`` once and return its response.

        A unique ActionID is added (a caller-supplied one is kept). List/tuple values become
        repeated headers (``Variable``). Raises :class:`AMIDisconnected` if not logged in (the
        action is not queued) or if the connection drops before the response (the action is
        never re-sent), :class:`AMIError` on ``Response: Error``, :class:`AMITimeout` on timeout,
        ValueError if a header contains CR/LF.
        """
        conn = self._conn
        if conn is None or not conn.logged_in:
            raise AMIDisconnected("not connected to AMI", action)
        pending = await self._request(conn, action, timeout, is_list=False)
        return _raise_for_error(pending)

    async def send_action_list(self, action: Mapping[str, ActionValue], timeout: float | None = 30.0) -> list[Message]:
        """Send a list action (``QueueStatus``, ``CoreShowChannels``, ``Status``...) and return
        the events carrying its ActionID, in order, WITHOUT the first response
        (``EventList: start``) and WITHOUT the final ``...Complete`` event (``EventList:
        Complete``). These events are not delivered to the event handlers.

        If Asterisk answers ``Success`` without announcing a list (no ``EventList: start`` and no
        "will follow" message), [] is returned at once. Errors as for :meth:`send_action`; the
        timeout covers the whole list.
        """
        conn = self._conn
        if conn is None or not conn.logged_in:
            raise AMIDisconnected("not connected to AMI", action)
        pending = await self._request(conn, action, timeout, is_list=True)
        _raise_for_error(pending)
        return pending.events

    async def send_command(self, command: str, timeout: float | None = 10.0) -> list[str]:
        """Run a CLI command (``Action: Command``) and return its output lines."""
        response = await self.send_action({"Action": "Command", "Command": command}, timeout)
        return response.output

    async def _request(
        self,
        conn: _Connection,
        action: Mapping[str, ActionValue],
        timeout: float | None,
        *,
        is_list: bool,
    ) -> _Pending:
        """Write ``action`` once on ``conn`` and wait for its (list) response."""
        sent: dict[str, Any] = dict(action)
        action_id = _header(sent, "ActionID")
        if action_id is None:
            action_id = f"{self._id_prefix}-{next(self._id_counter)}"
            sent["ActionID"] = action_id
        action_id = str(action_id)
        if action_id in conn.pending:
            raise ValueError(f"ActionID {action_id!r} is already pending")
        data = encode_action(sent)
        transport = conn.transport
        if transport is None or transport.is_closing():
            raise AMIDisconnected("AMI connection is closing", sent)
        loop = asyncio.get_running_loop()
        pending = _Pending(sent, loop.create_future(), is_list)
        conn.pending[action_id] = pending
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("AMI send %r", redact(sent))
        transport.write(data)
        try:
            async with asyncio.timeout(timeout):
                await pending.future
        except TimeoutError:
            raise AMITimeout(
                f"no complete response to AMI {_header(sent, 'Action')} within {timeout} s",
                sent,
                pending.response,
            ) from None
        finally:
            if conn.pending.get(action_id) is pending:
                del conn.pending[action_id]
        return pending

    # -- incoming messages ----------------------------------------------------------------------

    def _route(self, conn: _Connection, message: Message) -> None:
        """Give ``message`` to its pending action, or to the event handlers."""
        index = message._index
        action_id = index.get("actionid")
        is_event = "event" in index
        if action_id is not None:
            pending = conn.pending.get(action_id)
            if pending is not None and not pending.future.done():
                if not is_event:
                    pending.response = message
                    if not pending.is_list or message.is_error or not _announces_list(message):
                        pending.future.set_result(None)
                    return
                if pending.is_list:
                    if message.event_list == "complete":
                        pending.future.set_result(None)
                    else:
                        pending.events.append(message)
                    return
        if is_event:
            self._dispatch(message)
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("AMI response without a waiting action: %r", message)

    def _dispatch(self, message: Message) -> None:
        name = (message._index.get("event") or "").lower()
        handlers = self._handler_cache.get(name)
        if handlers is None:
            handlers = tuple(h for h in self._handlers if h.events is None or name in h.events)
            self._handler_cache[name] = handlers
        for handler in handlers:
            if handler.is_async:
                if self._queue is not None:
                    self._queue.put_nowait((handler, message))
                continue
            try:
                result = handler.callback(message)
            except Exception:
                logger.exception("AMI event handler %r failed on %s", handler.callback, message.event)
                continue
            if inspect.isawaitable(result):
                # A plain callable that returned an awaitable: run it as a tracked task.
                self._track(_await_logged(result, handler.callback, message), "hotline-ami-handler")

    async def _dispatch_loop(self) -> None:
        """Await coroutine handlers one at a time, in arrival order."""
        assert self._queue is not None
        queue = self._queue
        while True:
            handler, message = await queue.get()
            try:
                await handler.callback(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("AMI event handler %r failed on %s", handler.callback, message.event)

    def _track(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as a task owned by the client (cancelled and awaited by close())."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- connection management ------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, log in, serve until the connection is lost, back off, repeat. Forever."""
        delay = self.backoff_initial
        while True:
            try:
                conn = await self._connect()
            except (OSError, TimeoutError, AMIException) as exc:
                self._last_error = exc
                if isinstance(exc, AMIAuthError):
                    logger.error(
                        "AMI login to %s:%s as %r rejected: %s; retrying in %.1f s",
                        self.host, self.port, self.username,
                        exc.response.get("Message", "") if exc.response else exc, delay,
                    )  # fmt: skip
                else:
                    logger.warning(
                        "AMI connection to %s:%s failed: %r; retrying in %.1f s",
                        self.host, self.port, exc, delay,
                    )  # fmt: skip
            else:
                delay = self.backoff_initial
                self._last_error = None
                try:
                    await self._serve(conn)
                finally:
                    self._teardown(conn)
                logger.warning(
                    "AMI connection to %s:%s lost; reconnecting in %.1f s", self.host, self.port,
                    delay,
                )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _connect(self) -> _Connection:
        """Open a connection and log in; returns the logged-in connection."""
        loop = asyncio.get_running_loop()
        self._connection_count += 1
        conn = _Connection(self._connection_count, loop.create_future())
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_connection(lambda: _Protocol(self, conn), self.host, self.port)
            self._conn = conn
            login = await self._login_action(conn)
            try:
                pending = await self._request(conn, login, self.connect_timeout, is_list=False)
            except AMITimeout as exc:
                raise AMITimeout("no response to AMI Login", exc.action) from None
            response = pending.response
            assert response is not None
            if response.is_error:
                raise AMIAuthError(
                    f"AMI login as {self.username!r} rejected: {response.get('Message', '')}",
                    login,
                    response,
                )
        except BaseException:
            # CancelledError included: never leave a half-open connection behind.
            self._teardown(conn)
            raise
        self.version = conn.parser.version
        conn.logged_in = True
        self.logins += 1
        logger.info(
            "AMI connected to %s:%s as %r (AMI %s, connection #%d)",
            self.host, self.port, self.username, self.version, conn.number,
        )  # fmt: skip
        return conn

    async def _login_action(self, conn: _Connection) -> dict[str, str]:
        """The Login action, in the challenge form: ``Action: Challenge`` (``AuthType: MD5``)
        gives a nonce, and Login sends ``Key: md5(challenge + secret)`` instead of the secret."""
        try:
            pending = await self._request(
                conn, {"Action": "Challenge", "AuthType": "MD5"}, self.connect_timeout, is_list=False
            )
        except AMITimeout as exc:
            raise AMITimeout("no response to AMI Challenge", exc.action) from None
        response = pending.response
        assert response is not None
        challenge = response.get("Challenge")
        if response.is_error or not challenge:
            raise AMIAuthError(
                f"AMI refused the MD5 challenge: {response.get('Message', '')}",
                {"Action": "Challenge", "AuthType": "MD5"},
                response,
            )
        key = hashlib.md5((challenge + self._secret).encode("utf-8"), usedforsecurity=False).hexdigest()
        return {
            "Action": "Login",
            "AuthType": "MD5",
            "Username": self.username,
            "Key": key,
            "Events": self.events,
        }

    async def _serve(self, conn: _Connection) -> None:
        """Run the on_connect callbacks and the pinger until ``conn`` is lost."""
        assert self._connected is not None
        self._connected.set()
        for callback in list(self._on_connect):
            try:
                result = callback(self)
            except Exception:
                logger.exception("AMI on_connect callback %r failed", callback)
                continue
            if inspect.isawaitable(result):
                # The callback's own coroutine is the task, so a close() before it runs cancels it
                # cleanly (a wrapper would leave it never awaited).
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(functools.partial(_log_failure, callback))
        pinger = asyncio.create_task(self._ping_loop(conn), name="hotline-ami-ping")
        try:
            await conn.lost
        finally:
            pinger.cancel()
            await asyncio.wait([pinger])

    async def _ping_loop(self, conn: _Connection) -> None:
        """Ping every ``ping_interval``; abort the transport when a ping gets no answer."""
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self._request(conn, {"Action": "Ping"}, self.ping_timeout, is_list=False)
            except AMITimeout:
                logger.warning(
                    "AMI %s:%s did not answer Ping within %.1f s: connection considered dead",
                    self.host, self.port, self.ping_timeout,
                )  # fmt: skip
                if conn.transport is not None:
                    conn.transport.abort()
                return
            except AMIError:
                pass  # an answer, even an error, proves the peer is alive
            except AMIDisconnected:
                return

    def _teardown(self, conn: _Connection) -> None:
        """Forget ``conn``: mark disconnected, abort it, fail its pending actions."""
        if self._connected is not None and self._conn is conn:
            self._connected.clear()
        if self._conn is conn:
            self._conn = None
        conn.logged_in = False
        if conn.transport is not None:
            conn.transport.abort()
        conn.fail_pending("AMI connection lost before the response")


def _raise_for_error(pending: _Pending) -> Message:
    """The response of ``pending``; AMIError if it is ``Response: Error``."""
    response = pending.response
    assert response is not None
    if response.is_error:
        raise AMIError(
            f"AMI {_header(pending.action, 'Action')} failed: {response.get('Message', '')}",
            pending.action,
            response,
        )
    return response


def _announces_list(response: Message) -> bool:
    """True if a Success response starts a list of events (``EventList: start``)."""
    if response.event_list == "start":
        return True
    return "will follow" in (response.get("Message") or "").lower()


def _log_failure(callback: Callable[..., Any], task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("AMI on_connect callback %r failed", callback, exc_info=task.exception())


async def _await_logged(awaitable: Awaitable[Any], callback: Callable[..., Any], message: Message | None) -> None:
    try:
        await awaitable
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("AMI callback %r failed%s", callback, f" on {message.event}" if message else "")
