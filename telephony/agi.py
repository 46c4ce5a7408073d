"""A small FastAGI server on asyncio streams.

Asterisk connects (dialplan ``AGI(agi://127.0.0.1:4573/<secret>/ivr?x=1)`` or
``AGI(agi://host:port/<secret>/ivr,a,b)``), sends its ``agi_name: value`` environment ended by an
empty line, then answers one command per line.

Trust: any local process can connect to the FastAGI port and claim any ``agi_channel``. So the server
is built with a secret generated at every start and written only into the rendered dialplan; the
first path segment of the request (Asterisk passes everything after ``host:port/`` as
``agi_network_script``) must be that secret, compared in constant time, before any route runs. A
peer without it is logged and closed with nothing done, and handlers never see the secret. The
number of concurrent connections is capped (``max_sessions``), and every line and every message
(environment, reply) is capped in bytes, so no peer can make the server hold unbounded memory.
This module replaces panoramisk's and pyst2's AGI code, which have known defects (a peer that
closes before sending its environment freezes panoramisk's server, a multi-line 520 reply
desynchronises its command stream, pyst2 quotes nothing and cannot be built outside the main
thread).

Wire format, as implemented by Asterisk's ``res_agi.c``:

* A command is one line. Asterisk's ``parse_args`` splits it on spaces and tabs, honours double
  quotes, and a backslash makes the next character literal. Every argument is therefore sent
  double-quoted with ``\\`` and ``"`` backslash-escaped; CR, LF and NUL cannot be carried at all and
  are refused (:class:`AGIArgumentError`) before anything is written.
* A reply is ``200 result=<r> [(<data>)] [key=value ...]``, ``510 ...``, ``511 ...`` (dead channel),
  or a multi-line ``520-...`` usage block ended by ``520 End of proper usage.``.
* Asterisk may write an unsolicited ``HANGUP`` line at any time when the channel hangs up.

Application arguments for ``EXEC`` travel comma-separated inside one AGI argument and are then
split by Asterisk's ``__ast_app_separate_args`` (which gives ``,``, ``"``, ``\\``, ``()`` and ``[]``
a meaning); :meth:`AGISession.exec` and :meth:`AGISession.mset` refuse values that this second parser
would misread. This assumes the default ``[compat] res_agi`` (1.6+) in ``asterisk.conf``.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

__all__ = [
    "AGIArgumentError",
    "AGICommandError",
    "AGIError",
    "AGIHangup",
    "AGIProtocolError",
    "AGIResponse",
    "AGIServer",
    "AGISession",
    "AGIUsageError",
    "Handler",
    "check_app_argument",
    "encode_command",
    "parse_environment",
    "parse_response_line",
    "quote_argument",
]

logger = logging.getLogger(__name__)

# res_agi.c: MAX_ARGS is 128 and argv[0] (and argv[1] for two-word commands) are the command words.
MAX_COMMAND_ARGS = 120
# app_set / pbx.c pbx_builtin_setvar_multiple: AST_APP_ARG(pair)[99].
MAX_MSET_PAIRS = 99
# A FastAGI environment has ~25 lines plus one per argument; more is not Asterisk.
MAX_ENV_LINES = 512
# ... and well under a kilobyte plus the arguments: the whole environment is capped in bytes.
MAX_ENV_BYTES = 16 * 1024
# A multi-line (520) usage reply is a handful of lines (the longest usage text is ~2 KiB).
MAX_REPLY_LINES = 512
MAX_REPLY_BYTES = 16 * 1024
# StreamReader line limit (bytes), for environment and reply lines alike. Our routes read digits
# and short variables; a longer line closes the session.
LINE_LIMIT = 8 * 1024
# Concurrent connections served at once unless the server is told otherwise. Over the cap a new
# connection is closed at once, and the dialplan's fallback routes the caller.
DEFAULT_MAX_SESSIONS = 300
# The per-start secret: URL- and dialplan-safe characters only, long enough not to be guessed.
_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,256}")


# --------------------------------------------------------------------------------------------
# Errors


class AGIError(Exception):
    """Base class of every error raised by this module."""


class AGIHangup(AGIError):
    """The channel is gone: ``511``, an unsolicited ``HANGUP`` line, EOF mid-command, or ``result=-1``
    from a command that only fails that way in practice (GET DATA, STREAM FILE, EXEC).

    ``response`` is the reply that came with it, if any (a HANGUP line is followed by the reply
    to the command that was in flight; it is read so that the stream stays in sync).
    """

    def __init__(self, message: str, response: AGIResponse | None = None) -> None:
        super().__init__(message)
        self.response = response


class AGIUsageError(AGIError):
    """``520``: Asterisk rejected the command's syntax. ``usage`` holds the usage text it sent."""

    def __init__(self, message: str, usage: str, response: AGIResponse) -> None:
        super().__init__(message)
        self.usage = usage
        self.response = response


class AGICommandError(AGIError):
    """Any other non-200 reply (``510`` unknown command, ...) or a command-level failure."""

    def __init__(self, message: str, response: AGIResponse | None = None) -> None:
        super().__init__(message)
        self.response = response


class AGIArgumentError(AGIError, ValueError):
    """An argument cannot be sent safely (CR, LF, NUL, or it would break app-argument parsing).
    Raised before anything is written."""


class AGIProtocolError(AGIError):
    """Asterisk sent something that is not an AGI reply (or an over-long line); the session is
    unusable afterwards."""


# --------------------------------------------------------------------------------------------
# Codec (pure functions, no I/O, usable from any thread)


@dataclass(slots=True)
class AGIResponse:
    """One reply. For ``200 result=1 (timeout) endpos=1234``: code=200, result="1",
    data="timeout", extras={"endpos": "1234"}. ``raw`` is the full reply text (all lines of a
    multi-line reply, without the final newline)."""

    code: int
    result: str = ""
    data: str = ""
    extras: dict[str, str] = field(default_factory=dict)
    raw: str = ""


def quote_argument(value: object) -> str:
    """Quote one argument for Asterisk's ``parse_args``: ``"`` + value with ``\\`` and ``"``
    backslash-escaped + ``"``. Refuses CR, LF and NUL (a newline always ends an AGI command)."""
    s = value if type(value) is str else str(value)
    if "\n" in s or "\r" in s or "\x00" in s:
        raise AGIArgumentError(f"AGI argument contains CR, LF or NUL and cannot be sent: {s!r}")
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if '"' in s:
        s = s.replace('"', '\\"')
    return '"' + s + '"'


def _check_command_name(name: str) -> None:
    if not name or not name.replace(" ", "").isalpha() or not name.isascii() or "  " in name or name.strip() != name:
        raise AGIArgumentError(f"not an AGI command name: {name!r}")


def encode_command(name: str, *args: object) -> bytes:
    """The bytes of one AGI command line: ``NAME "arg1" "arg2"\\n``.

    ``name`` is the command word(s), e.g. ``"GET DATA"`` (ASCII letters and single spaces only);
    every argument is quoted with :func:`quote_argument`. Nothing is returned (so nothing can be
    written) if any argument is refused."""
    _check_command_name(name)
    if len(args) > MAX_COMMAND_ARGS:
        raise AGIArgumentError(f"too many AGI arguments ({len(args)} > {MAX_COMMAND_ARGS})")
    if not args:
        return (name + "\n").encode()
    return (name + " " + " ".join([quote_argument(a) for a in args]) + "\n").encode()


def parse_response_line(line: str) -> AGIResponse:
    """Parse one single-line reply (without its newline), e.g. ``200 result=1 (value) endpos=3``.

    The parenthesised data runs to the *last* ``)``, so variable values containing ``)`` survive."""
    if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and line[3] != " "):
        raise AGIProtocolError(f"not an AGI reply: {line!r}")
    code = int(line[:3])
    rest = line[4:]
    if code != 200 or not rest.startswith("result="):
        return AGIResponse(code, "", "", {}, line)
    space = rest.find(" ", 7)
    if space < 0:
        return AGIResponse(code, rest[7:], "", {}, line)
    result = rest[7:space]
    tail = rest[space + 1 :]
    data = ""
    if tail.startswith("("):
        close = tail.rfind(")")
        if close > 0:
            data = tail[1:close]
            tail = tail[close + 1 :]
    extras: dict[str, str] = {}
    if tail:
        for token in tail.split():
            key, _, value = token.partition("=")
            extras[key] = value
    return AGIResponse(code, result, data, extras, line)


def parse_environment(lines: Iterable[str]) -> dict[str, str]:
    """``agi_name: value`` lines -> ``{"name": "value"}`` (prefix stripped, one space after the
    colon removed, other lines ignored)."""
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.rstrip("\r\n").partition(":")
        if sep and key.startswith("agi_"):
            env[key[4:]] = value[1:] if value.startswith(" ") else value
    return env


def check_app_argument(value: str, what: str = "application argument") -> str:
    """Refuse a value that Asterisk's application-argument parser would not pass through intact:
    ``,`` (argument separator), ``"`` and ``\\`` (removed by the parser), CR/LF/NUL, and
    unbalanced ``(``/``[`` (they suppress the splitting of the following arguments)."""
    if "," in value or '"' in value or "\\" in value:
        raise AGIArgumentError(
            f"{what} {value!r} contains ',', '\"' or '\\', which Asterisk's application argument "
            "parser would split or strip; use set_variable() for such values"
        )
    if "(" in value or "[" in value:
        paren = bracket = 0
        for ch in value:  # the same counting as __ast_app_separate_args
            if ch == "(":
                paren += 1
            elif ch == ")" and paren:
                paren -= 1
            elif ch == "[":
                bracket += 1
            elif ch == "]" and bracket:
                bracket -= 1
        if paren or bracket:
            raise AGIArgumentError(
                f"{what} {value!r} has an unbalanced '(' or '[', which would stop Asterisk from "
                "splitting the following arguments; use set_variable() for such values"
            )
    return value


# --------------------------------------------------------------------------------------------
# Session


class LineReader(Protocol):
    async def readline(self) -> bytes: ...


class ByteWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class AGISession:
    """One FastAGI call. Built by :class:`AGIServer` from the environment Asterisk sent; it only
    touches the event loop when a command is awaited, so it can be built in any thread.

    Commands must not be issued concurrently on one session (AGI is strictly request/reply)."""

    __slots__ = (
        "_broken",
        "_busy",
        "_debug",
        "_hangup_seen",
        "_reader",
        "_writer",
        "args",
        "callerid",
        "channel",
        "env",
        "hungup",
        "query",
        "script",
        "uniqueid",
    )

    def __init__(self, env: Mapping[str, str], reader: LineReader, writer: ByteWriter) -> None:
        self.env: dict[str, str] = dict(env)
        request = self.env.get("network_script")
        if request is None:  # agi_request is agi://host:port/script?query
            request = self.env.get("request", "")
            scheme = request.find("://")
            if scheme >= 0:
                slash = request.find("/", scheme + 3)
                request = request[slash + 1 :] if slash >= 0 else ""
        script, _, query = request.partition("?")
        self.script: str = script.strip("/")
        self.query: dict[str, str] = dict(parse_qsl(query)) if query else {}
        args: list[str] = []
        n = 1
        while (arg := self.env.get(f"arg_{n}")) is not None:
            args.append(arg)
            n += 1
        self.args: list[str] = args
        self.uniqueid: str = self.env.get("uniqueid", "")
        self.channel: str = self.env.get("channel", "")
        self.callerid: str = self.env.get("callerid", "")
        self.hungup: bool = False
        self._reader = reader
        self._writer = writer
        self._busy = False
        self._broken = False
        self._hangup_seen = False
        self._debug = logger.isEnabledFor(logging.DEBUG)

    def __repr__(self) -> str:
        return f"<AGISession script={self.script!r} uniqueid={self.uniqueid!r} channel={self.channel!r}>"

    # -- the round trip ----------------------------------------------------------------------

    async def command(self, name: str, *args: object) -> AGIResponse:
        """Send ``name`` (command words, e.g. ``"SET VARIABLE"``) with quoted ``args``; return the
        200 reply. Raises :class:`AGIHangup`, :class:`AGIUsageError`, :class:`AGICommandError`,
        :class:`AGIArgumentError` (nothing written) or :class:`AGIProtocolError`."""
        line = encode_command(name, *args)
        if self._busy:
            raise RuntimeError("concurrent AGI commands on one session")
        if self._broken:
            if self.hungup:
                raise AGIHangup("AGI connection already closed")
            raise AGIProtocolError("AGI session is out of sync after an interrupted or garbled command")
        self._busy = True
        ok = False
        try:
            if self._debug:
                logger.debug("AGI %s >> %r", self.uniqueid, line)
            self._writer.write(line)
            await self._writer.drain()
            response = await self._read_reply()
            ok = True
        except ConnectionError as exc:
            self.hungup = True
            raise AGIHangup(f"AGI connection lost: {exc}") from exc
        finally:
            self._busy = False
            if not ok:
                # Cancelled or failed mid-command: the next line on the wire would belong to
                # this command, so the session cannot be used any more.
                self._broken = True
        if self._debug:
            logger.debug("AGI %s << %r", self.uniqueid, response.raw)
        code = response.code
        if code == 200:
            if self._hangup_seen:
                self._hangup_seen = False
                raise AGIHangup("channel hung up (HANGUP received)", response)
            return response
        self._hangup_seen = False
        if code == 511:
            self.hungup = True
            raise AGIHangup(f"{name}: {response.raw}", response)
        if code == 520:
            usage = response.data or response.raw
            raise AGIUsageError(f"{name}: invalid command syntax", usage, response)
        raise AGICommandError(f"{name}: {response.raw}", response)

    async def _read_reply(self) -> AGIResponse:
        readline = self._reader.readline
        while True:
            try:
                raw = await readline()
            except ValueError as exc:  # line over the StreamReader limit (LINE_LIMIT)
                raise AGIProtocolError(f"AGI reply line longer than {LINE_LIMIT} bytes") from exc
            if not raw.endswith(b"\n"):
                self.hungup = True
                raise AGIHangup("AGI connection closed by Asterisk")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if line == "HANGUP":
                self.hungup = True
                self._hangup_seen = True
                continue
            if len(line) > 3 and line[3] == "-":
                return await self._read_multiline(line)
            return parse_response_line(line)

    async def _read_multiline(self, first: str) -> AGIResponse:
        code_text = first[:3]
        if not code_text.isdigit():
            raise AGIProtocolError(f"not an AGI reply: {first!r}")
        end = code_text + " "
        lines = [first]
        body: list[str] = []
        size = len(first)
        for _ in range(MAX_REPLY_LINES):
            try:
                raw = await self._reader.readline()
            except ValueError as exc:
                raise AGIProtocolError(f"AGI reply line longer than {LINE_LIMIT} bytes") from exc
            if not raw.endswith(b"\n"):
                self.hungup = True
                raise AGIHangup("AGI connection closed by Asterisk")
            size += len(raw)
            if size > MAX_REPLY_BYTES:
                raise AGIProtocolError(f"multi-line {code_text} reply longer than {MAX_REPLY_BYTES} bytes")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if line.startswith(end) or line == code_text:
                return AGIResponse(int(code_text), "", "\n".join(body), {}, "\n".join(lines))
            body.append(line)
        raise AGIProtocolError(f"unterminated multi-line {code_text} reply")

    # -- helpers -----------------------------------------------------------------------------

    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``filename`` and collect up to ``max_digits`` DTMF digits; return them ('' on
        timeout or no input)."""
        response = await self.command("GET DATA", filename, timeout_ms, max_digits)
        if response.result == "-1":
            raise AGIHangup("GET DATA failed (result=-1)", response)
        return response.result

    async def stream_file(self, filename: str, escape_digits: str = "") -> str:
        """Play ``filename``; return the escape digit pressed, or '' if it played to the end."""
        response = await self.command("STREAM FILE", filename, escape_digits)
        result = response.result
        if result == "0" or result == "":
            return ""
        if result == "-1":
            raise AGIHangup("STREAM FILE failed (result=-1)", response)
        try:
            return chr(int(result))
        except ValueError:
            raise AGIProtocolError(f"STREAM FILE: unexpected result {result!r}") from None

    async def set_variable(self, name: str, value: object) -> None:
        await self.command("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        """The channel variable's value, or None when it is not set."""
        response = await self.command("GET VARIABLE", name)
        return response.data if response.result == "1" else None

    async def exec(self, app: str, *args: object) -> int:
        """``EXEC app "arg1,arg2,..."``: Asterisk application arguments are comma-separated inside
        one AGI argument. Each element of ``args`` is one application argument and is checked
        with :func:`check_app_argument`. Returns the application's result (0 normally)."""
        if not app or not app.replace("_", "").isalnum() or not app.isascii():
            raise AGIArgumentError(f"not an Asterisk application name: {app!r}")
        if args:
            data = ",".join([check_app_argument(a if type(a) is str else str(a)) for a in args])
            response = await self.command("EXEC", app, data)
        else:
            response = await self.command("EXEC", app)
        return self._exec_result(app, response)

    async def mset(self, variables: Mapping[str, object]) -> None:
        """Set many channel variables in one round trip: ``EXEC MSet n1=v1,n2=v2``.

        Refuses (:class:`AGIArgumentError`, nothing written) names that are empty or contain
        ``=`` or whitespace, values that MSet would misparse (see :func:`check_app_argument`), and
        more than 99 pairs. A no-op for an empty mapping."""
        if not variables:
            return
        if len(variables) > MAX_MSET_PAIRS:
            raise AGIArgumentError(f"MSet takes at most {MAX_MSET_PAIRS} variables, got {len(variables)}")
        pairs: list[str] = []
        for name, value in variables.items():
            if not name or "=" in name or name.split() != [name]:
                raise AGIArgumentError(f"invalid channel variable name for MSet: {name!r}")
            check_app_argument(name, "variable name")
            text = value if type(value) is str else str(value)
            check_app_argument(text, f"value of {name}")
            pairs.append(name + "=" + text)
        response = await self.command("EXEC", "MSet", ",".join(pairs))
        self._exec_result("MSet", response)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, level)

    async def hangup(self) -> None:
        """Hang up the channel (Asterisk will then send HANGUP; the handler should return)."""
        await self.command("HANGUP")

    @staticmethod
    def _exec_result(app: str, response: AGIResponse) -> int:
        try:
            result = int(response.result)
        except ValueError:
            raise AGIProtocolError(f"EXEC {app}: unexpected result {response.result!r}") from None
        if result == -2:
            raise AGICommandError(f"EXEC {app}: no such application", response)
        if result == -1:
            raise AGIHangup(f"EXEC {app}: result=-1 (hangup)", response)
        return result


# --------------------------------------------------------------------------------------------
# Server

Handler = Callable[[AGISession], "Awaitable[object] | None"]


class AGIServer:
    """FastAGI server. Routes are registered explicitly with :meth:`add_route`; each call runs its
    handler under ``call_deadline`` seconds (None: no deadline). When the handler raises or exceeds
    the deadline, the error is logged with the channel's uniqueid and the connection is closed
    (Asterisk then continues the dialplan). Peers that close or stall before completing the
    environment (port probes, health checks) are dropped quietly after at most ``env_timeout``.

    ``secret`` (16 or more of ``[A-Za-z0-9_-]``, generated at every start) must be the first path
    segment of every request, ``agi://host:port/<secret>/<route>``; a connection without it is
    logged and closed before any route runs. Without a secret the server fails closed: it makes one
    that no dialplan knows, warns, and refuses every connection. At most ``max_sessions`` connections are served at
    once; a connection over the cap is closed at once."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        secret: str | None = None,
        call_deadline: float | None = 30.0,
        env_timeout: float = 5.0,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
    ) -> None:
        if secret is None:  # fail closed: a secret no dialplan knows
            logger.warning("FastAGI server built without the secret of the dialplan: it will refuse every connection")
            secret = secrets.token_hex(24)
        if not isinstance(secret, str) or not _SECRET_PATTERN.fullmatch(secret):
            raise ValueError(
                "the FastAGI secret must be 16 to 256 characters of A-Z, a-z, 0-9, '_' or '-' "
                "(generate one per start, e.g. secrets.token_hex(24))"
            )
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, not {max_sessions}")
        self.host = host
        self._requested_port = port
        self._secret = secret.encode("ascii")
        self.call_deadline = call_deadline
        self.env_timeout = env_timeout
        self.max_sessions = max_sessions
        self._routes: dict[str, Handler] = {}
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._refused_over_cap = 0  # connections closed since the cap was last reached
        #: Sessions handed to a route since start, and who hears of each one's end (route, seconds): hotline.metrics.
        self.sessions_total = 0
        self.session_observers: list[Callable[[str, float], None]] = []

    # -- configuration -----------------------------------------------------------------------

    def add_route(self, script_name: str, handler: Handler) -> None:
        """Serve ``agi://host:port/<script_name>`` with ``handler(session)``: a coroutine function,
        or a plain function returning an awaitable or None."""
        if not callable(handler):
            raise TypeError(f"AGI handler for {script_name!r} is not callable: {handler!r}")
        name = script_name.strip("/")
        if "?" in name:
            raise ValueError(f"AGI script name must not contain a query string: {script_name!r}")
        if name in self._routes:
            raise ValueError(f"AGI script {name!r} already has a handler")
        self._routes[name] = handler

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening; returns once the socket is bound (see :attr:`port`)."""
        if self._server is not None:
            raise RuntimeError("AGIServer already started")
        self._server = await asyncio.start_server(self._on_connect, self.host, self._requested_port, limit=LINE_LIMIT)
        logger.info("FastAGI server listening on %s:%d", self.host, self.port)

    @property
    def port(self) -> int:
        """The bound port once started (useful when 0 was asked), else the requested one."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._requested_port

    @property
    def active_sessions(self) -> int:
        """Connections currently being served (including ones still sending their environment)."""
        return len(self._sessions)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, cancel the running sessions and wait for them to finish."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        current = asyncio.current_task()
        tasks = [t for t in self._sessions if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> AGIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- per connection ----------------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback (not a coroutine) so that the session task is ours to cancel cleanly.
        if len(self._sessions) >= self.max_sessions:
            if not self._refused_over_cap:
                logger.warning(
                    "FastAGI: %d connections open, the cap; closing new connections (from %s) until one ends; "
                    "their callers take the dialplan's fallback",
                    len(self._sessions),
                    _peer(writer),
                )
            self._refused_over_cap += 1
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._sessions.add(task)
        task.add_done_callback(self._session_done)

    def _session_done(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        if self._refused_over_cap and len(self._sessions) < self.max_sessions:
            logger.warning(
                "FastAGI: below the cap of %d again; %d connections were closed meanwhile",
                self.max_sessions,
                self._refused_over_cap,
            )
            self._refused_over_cap = 0
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("FastAGI connection task failed", exc_info=exc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            env = await self._read_environment(reader, writer)
            if not env:
                return
            trusted = self._authenticate(env)
            if trusted is None:
                logger.warning(
                    "FastAGI: connection from %s without the right secret refused, nothing done "
                    "(it claimed channel=%r, uniqueid=%r)",
                    _peer(writer),
                    env.get("channel", ""),
                    env.get("uniqueid", ""),
                )
                return
            session = AGISession(trusted, reader, writer)
            handler = self._routes.get(session.script)
            if handler is None:
                logger.warning(
                    "FastAGI: no route for script %r (uniqueid=%s, channel=%s); closing",
                    session.script,
                    session.uniqueid,
                    session.channel,
                )
                return
            self.sessions_total += 1
            started = time.monotonic()
            try:
                await self._run_handler(handler, session)
            finally:
                for observe in self.session_observers:
                    observe(session.script, time.monotonic() - started)
        finally:
            writer.close()

    def _authenticate(self, env: dict[str, str]) -> dict[str, str] | None:
        """The environment with the secret taken out of the request, or None when the request does
        not start with the secret. The comparison takes the same time wherever a guess differs."""
        path = env.get("network_script")
        if path is None:  # agi_request is agi://host:port/<secret>/script?query
            request = env.get("request", "")
            scheme = request.find("://")
            slash = request.find("/", scheme + 3) if scheme >= 0 else -1
            path = request[slash + 1 :] if slash >= 0 else ""
        presented, sep, rest = path.lstrip("/").partition("/")
        if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self._secret) or not sep:
            return None
        trusted = dict(env)
        trusted["network_script"] = rest
        if "request" in trusted:
            trusted["request"] = trusted["request"].replace(f"/{presented}/", "/", 1)
        return trusted

    async def _read_environment(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, str] | None:
        """The agi_ environment, or None when the peer closes, stalls or sends garbage first."""
        lines: list[str] = []
        size = 0
        try:
            async with asyncio.timeout(self.env_timeout):
                for _ in range(MAX_ENV_LINES):
                    raw = await reader.readline()
                    if not raw.endswith(b"\n"):  # EOF (possibly after a partial line)
                        if lines or raw:
                            logger.debug("FastAGI peer closed before the end of its environment")
                        return None
                    size += len(raw)
                    if size > MAX_ENV_BYTES:
                        logger.warning(
                            "FastAGI: environment from %s longer than %d bytes; closing", _peer(writer), MAX_ENV_BYTES
                        )
                        return None
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        return parse_environment(lines)
                    lines.append(line)
        except TimeoutError:
            logger.debug("FastAGI peer sent no complete environment within %.1fs", self.env_timeout)
            return None
        except ValueError:  # a line over the StreamReader limit
            logger.warning("FastAGI: environment line from %s longer than %d bytes; closing", _peer(writer), LINE_LIMIT)
            return None
        except ConnectionError as exc:
            logger.debug("FastAGI environment unreadable: %s", exc)
            return None
        logger.warning("FastAGI: environment from %s longer than %d lines; closing", _peer(writer), MAX_ENV_LINES)
        return None

    async def _run_handler(self, handler: Handler, session: AGISession) -> None:
        deadline = asyncio.timeout(self.call_deadline)
        try:
            async with deadline:
                result = handler(session)
                if inspect.isawaitable(result):
                    await result
        except TimeoutError:
            if deadline.expired():
                logger.warning(
                    "FastAGI handler for %r exceeded its %.1fs deadline (uniqueid=%s, channel=%s); closing",
                    session.script,
                    self.call_deadline,
                    session.uniqueid,
                    session.channel,
                )
            else:
                logger.exception(
                    "FastAGI handler for %r failed (uniqueid=%s, channel=%s); closing",
                    session.script,
                    session.uniqueid,
                    session.channel,
                )
        except AGIHangup as exc:
            logger.info(
                "FastAGI call hung up during %r (uniqueid=%s, channel=%s): %s",
                session.script,
                session.uniqueid,
                session.channel,
                exc,
            )
        except Exception:
            logger.exception(
                "FastAGI handler for %r failed (uniqueid=%s, channel=%s); closing",
                session.script,
                session.uniqueid,
                session.channel,
            )
        else:
            if deadline.expired():  # the handler swallowed the deadline's cancellation
                logger.warning(
                    "FastAGI handler for %r exceeded its %.1fs deadline (uniqueid=%s, channel=%s); closing",
                    session.script,
                    self.call_deadline,
                    session.uniqueid,
                    session.channel,
                )


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
