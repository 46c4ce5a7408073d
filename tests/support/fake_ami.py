"""A fake Asterisk Manager Interface server on a real socket, for the AMI adapter tests.

It speaks just enough AMI: the banner, Challenge and Login (MD5 as manager.c checks it, or plaintext;
with configurable failures), Ping (which a
connection may stop answering, to simulate a half-open peer), and a default ``Response: Success``
for every other action. Tests plug in per-action behaviour with :meth:`FakeAMIServer.on_action`.
It parses actions itself (it does not use ``telephony.ami.client``), so it checks the client independently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeAlias

Headers: TypeAlias = "Mapping[str, str] | Iterable[tuple[str, str]]"
ActionBehaviour: TypeAlias = "Callable[[FakeAMIConnection, FakeAction], Awaitable[None]]"

BANNER = b"Asterisk Call Manager/10.0.0\r\n"


class FakeAction:
    """One action received by the fake server: its header lines in order."""

    def __init__(self, connection: int, headers: list[tuple[str, str]]) -> None:
        self.connection = connection
        self.headers = headers
        self.received_at = time.monotonic()

    def get(self, name: str, default: str | None = None) -> str | None:
        """Last value of header ``name`` (case-insensitive)."""
        result = default
        for key, value in self.headers:
            if key.lower() == name.lower():
                result = value
        return result

    def getall(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def name(self) -> str:
        return (self.get("Action") or "").lower()

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def __repr__(self) -> str:
        return f"<FakeAction #{self.connection} {self.headers!r}>"


def encode(headers: Headers) -> bytes:
    """Serialise one AMI message (header lines + blank line)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return "".join(f"{k}: {v}\r\n" for k, v in pairs).encode("utf-8") + b"\r\n"


class FakeAMIConnection:
    """The server side of one client connection."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.number = number
        self.reader = reader
        self.writer = writer
        self.answer_ping = True
        self.logged_in = False
        self.challenge = ""  # the nonce of the last Challenge action on this connection
        self.closed = asyncio.Event()

    async def send(self, headers: Headers) -> None:
        """Write one message and drain."""
        await self.send_raw(encode(headers))

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def respond(self, action: FakeAction, response: str = "Success", **extra: str) -> None:
        """Answer ``action`` with ``Response: <response>`` and its ActionID."""
        headers = [("Response", response)]
        if action.action_id is not None:
            headers.append(("ActionID", action.action_id))
        headers.extend(extra.items())
        await self.send(headers)

    def drop(self) -> None:
        """Close the TCP connection abruptly."""
        self.writer.transport.abort()


class FakeAMIServer:
    """A fake AMI server listening on 127.0.0.1 (random port)."""

    def __init__(self, username: str = "hotline", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.host = "127.0.0.1"
        self.port = 0
        #: Reject the next N logins even with the right secret (Asterisk still booting).
        self.login_failures = 0
        #: Send "Event: FullyBooted" after a successful login (panoramisk needs it).
        self.fully_booted = True
        self.connections: list[FakeAMIConnection] = []
        self.connect_times: list[float] = []
        self.actions: list[FakeAction] = []
        self.secrets_seen: list[str] = []
        #: How each login authenticated: "plain" (Secret sent) or "md5" (Challenge, then Key).
        self.auth_types: list[str] = []
        #: Refuse a plaintext Login (Secret) as an Asterisk hardened by the hotline would be tested.
        self.md5_only = False
        self._behaviours: dict[str, ActionBehaviour] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    # -- configuration ----------------------------------------------------------------------

    def on_action(self, name: str, behaviour: ActionBehaviour) -> None:
        """Handle action ``name`` (case-insensitive) with ``behaviour(conn, action)``."""
        self._behaviours[name.lower()] = behaviour

    # -- observation ----------------------------------------------------------------------------

    def count(self, name: str) -> int:
        """How many actions called ``name`` were received, over all connections."""
        return sum(1 for a in self.actions if a.name == name.lower())

    def received(self, name: str) -> list[FakeAction]:
        return [a for a in self.actions if a.name == name.lower()]

    @property
    def logged_in_connections(self) -> list[FakeAMIConnection]:
        return [c for c in self.connections if c.logged_in]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` is true (checked whenever the server sees something)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in self.connections:
            conn.drop()
        # The handlers end by themselves once their connection is aborted. (Cancelling them
        # makes asyncio.start_server log the CancelledError, so only stragglers are cancelled.)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    # -- protocol -------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = FakeAMIConnection(len(self.connections) + 1, reader, writer)
        self.connections.append(conn)
        self.connect_times.append(time.monotonic())
        self._changed.set()
        try:
            await conn.send_raw(BANNER)
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                headers: list[tuple[str, str]] = []
                for line in raw.decode("utf-8").split("\r\n"):
                    if line:
                        key, _, value = line.partition(": ")
                        headers.append((key, value))
                action = FakeAction(conn.number, headers)
                self.actions.append(action)
                self._changed.set()
                await self._answer(conn, action)
        except ConnectionError:
            return
        finally:
            writer.transport.abort()
            conn.closed.set()
            self._changed.set()
            self._tasks.discard(task)

    async def _answer(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        behaviour = self._behaviours.get(action.name)
        if behaviour is not None:
            await behaviour(conn, action)
        elif action.name == "challenge":
            if (action.get("AuthType") or "").lower() != "md5":
                await conn.respond(action, "Error", Message="Must specify AuthType")
                return
            conn.challenge = f"{secrets.randbelow(10**9):09d}"
            await conn.respond(action, Challenge=conn.challenge)
        elif action.name == "login":
            await self._login(conn, action)
        elif action.name == "ping":
            if conn.answer_ping:
                await conn.respond(action, Ping="Pong", Timestamp=f"{time.time():.6f}")
        else:
            await conn.respond(action, Message="OK")

    async def _login(self, conn: FakeAMIConnection, action: FakeAction) -> None:
        # Like manager.c authenticate(): AuthType MD5 compares Key with md5(challenge + secret).
        if (action.get("AuthType") or "").lower() == "md5":
            self.auth_types.append("md5")
            key = action.get("Key") or ""
            self.secrets_seen.append(key)
            expected = hashlib.md5((conn.challenge + self.secret).encode()).hexdigest() if conn.challenge else None
            ok = action.get("Username") == self.username and key == expected
        else:
            self.auth_types.append("plain")
            self.secrets_seen.append(action.get("Secret") or "")
            ok = not self.md5_only and action.get("Username") == self.username and action.get("Secret") == self.secret
        if ok and self.login_failures > 0:
            self.login_failures -= 1
            ok = False
        if not ok:
            await conn.respond(action, "Error", Message="Authentication failed")
            conn.drop()  # Asterisk ends the session after a failed login
            return
        conn.logged_in = True
        self._changed.set()
        await conn.respond(action, Message="Authentication accepted")
        if self.fully_booted:
            await conn.send([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")])
