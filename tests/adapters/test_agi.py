"""Tests of telephony.agi, our FastAGI server, against a fake Asterisk on a real socket."""

from __future__ import annotations

import asyncio
import io
import logging
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from support.eventually import eventually
from support.fake_asterisk import (
    REPLY_510,
    REPLY_511,
    USAGE_520,
    FakeAsterisk,
    asterisk_parse_args,
    asterisk_separate_app_args,
    environment_bytes,
)
from support.fake_asterisk import build_environment as asterisk_environment
from support.fake_asterisk import run_fake as run_fake_asterisk

from telephony.agi import (
    LINE_LIMIT,
    MAX_ENV_BYTES,
    MAX_REPLY_BYTES,
    AGIArgumentError,
    AGICommandError,
    AGIError,
    AGIHangup,
    AGIProtocolError,
    AGIResponse,
    AGIServer,
    AGISession,
    AGIUsageError,
    check_app_argument,
    encode_command,
    parse_environment,
    parse_response_line,
    quote_argument,
)

# The per-start secret our server is built with; the dialplan puts it first in every AGI URL,
# agi://host:port/<secret>/<route>, and Asterisk sends agi_network_script: <secret>/<route>.
SECRET = "0123456789abcdef0123456789abcdef"


def build_environment(script: str = "ivr", **kwargs: object) -> dict[str, str]:
    """What Asterisk sends for AGI(agi://host:port/<SECRET>/<script>)."""
    return asterisk_environment(f"{SECRET}/{script}", **kwargs)  # type: ignore[arg-type]


async def run_fake(
    port: int, replies: object = (), timeout: float = 5.0, *, script: str = "ivr", **env_kwargs: object
) -> FakeAsterisk:
    """One fake call through the dialplan's URL, secret included."""
    return await run_fake_asterisk(port, replies, timeout, script=f"{SECRET}/{script}", **env_kwargs)  # type: ignore[arg-type]


NASTY_STRINGS = [
    "",
    " ",
    "plain",
    "two words",
    "tab\there",
    "  leading and trailing  ",
    'Ali"',
    '"quoted"',
    'Ali" HANGUP',
    "back\\slash",
    "trailing backslash\\",
    '\\"',
    '\\\\"\\',
    'عبد الله "أبو علي" \\ الحسن',
    "مرحبا\tبكم",
    "comma,separated,(parens)[brackets]|pipe",
    "$ {VAR} ${EXTEN} ;semi",
    "'single' `back`",
    "é€🙂",
]

ServerFactory = Callable[..., Awaitable[AGIServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[ServerFactory]:
    servers: list[AGIServer] = []

    async def factory(**kwargs: object) -> AGIServer:
        kwargs.setdefault("secret", SECRET)
        kwargs.setdefault("call_deadline", 5.0)
        kwargs.setdefault("env_timeout", 1.0)
        server = AGIServer("127.0.0.1", 0, **kwargs)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


# ------------------------------------------------------------------------------------------
# Environment and routing


async def test_environment_is_parsed_into_session_fields(start_server: ServerFactory) -> None:
    server = await start_server()
    seen: list[AGISession] = []
    server.add_route("ivr", seen.append)
    env = build_environment(
        "ivr?lang=ar&x=1",
        port=server.port,
        uniqueid="1700000001.7",
        channel="PJSIP/trunk-0000002a",
        callerid="0599000000",
        calleridname='عبد الله: "x"',
        args=["first arg", "", "third"],
    )
    fake = await FakeAsterisk(port=server.port, env=env).run()
    assert fake.closed_by_server and fake.received == []
    (session,) = seen
    assert session.script == "ivr"
    assert session.query == {"lang": "ar", "x": "1"}
    assert session.args == ["first arg", "", "third"]
    assert session.uniqueid == "1700000001.7"
    assert session.channel == "PJSIP/trunk-0000002a"
    assert session.callerid == "0599000000"
    assert session.env["calleridname"] == 'عبد الله: "x"'
    assert session.env["request"] == f"agi://127.0.0.1:{server.port}/ivr?lang=ar&x=1"
    assert session.env["accountcode"] == ""
    assert session.hungup is False


def test_environment_parsing_strips_prefix_and_one_space() -> None:
    env = parse_environment(["agi_request: agi://h:1/ivr?a=b:c", "agi_accountcode: ", "garbage", "x_y: z"])
    assert env == {"request": "agi://h:1/ivr?a=b:c", "accountcode": ""}


def test_script_falls_back_to_agi_request_when_network_script_is_absent() -> None:
    session = AGISession({"request": "agi://10.0.0.1:4573/ivr/?k=v"}, io.BytesIO(), io.BytesIO())  # type: ignore[arg-type]
    assert session.script == "ivr" and session.query == {"k": "v"}


async def test_unknown_script_is_logged_and_closed(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    server.add_route("ivr", lambda s: None)
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    fake = await run_fake(server.port, script="nope", uniqueid="1700000002.1")
    assert fake.closed_by_server and fake.received == []
    assert any("nope" in r.getMessage() and "1700000002.1" in r.getMessage() for r in caplog.records)


def test_add_route_refuses_duplicates_and_non_callables() -> None:
    server = AGIServer(secret=SECRET)
    server.add_route("/ivr", lambda s: None)
    with pytest.raises(ValueError):
        server.add_route("ivr", lambda s: None)
    with pytest.raises(TypeError):
        server.add_route("other", "not callable")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Handler kinds


async def test_coroutine_handler_round_trips_commands(start_server: ServerFactory) -> None:
    server = await start_server()
    results: dict[str, object] = {}

    async def handler(session: AGISession) -> None:
        results["digits"] = await session.get_data("ar/welcome", 5000, 1)
        results["timeout"] = await session.get_data("ar/welcome", 5000, 1)
        results["pressed"] = await session.stream_file("ar/menu", "123#")
        results["played"] = await session.stream_file("ar/bye")
        results["var"] = await session.get_variable("CALLERID(name)")
        results["unset"] = await session.get_variable("NOPE")
        await session.verbose("hello", 3)
        results["exec"] = await session.exec("Answer")
        await session.hangup()

    server.add_route("ivr", handler)
    fake = await run_fake(
        server.port,
        [
            "200 result=2 (timeout)",
            "200 result= (timeout)",
            "200 result=50 endpos=8000",
            "200 result=0 endpos=16000",
            "200 result=1 (Ali (office) x=y)",
            "200 result=0",
            "200 result=1",
            "200 result=0",
            "200 result=1",
        ],
    )
    assert fake.received == [
        'GET DATA "ar/welcome" "5000" "1"',
        'GET DATA "ar/welcome" "5000" "1"',
        'STREAM FILE "ar/menu" "123#"',
        'STREAM FILE "ar/bye" ""',
        'GET VARIABLE "CALLERID(name)"',
        'GET VARIABLE "NOPE"',
        'VERBOSE "hello" "3"',
        'EXEC "Answer"',
        "HANGUP",
    ]
    assert results == {
        "digits": "2",
        "timeout": "",
        "pressed": "2",
        "played": "",
        "var": "Ali (office) x=y",
        "unset": None,
        "exec": 0,
    }
    assert fake.closed_by_server


async def test_plain_function_route_is_served(start_server: ServerFactory) -> None:
    """Regression: panoramisk's add_route fails with a plain function on Python 3.11."""
    server = await start_server()
    calls: list[str] = []

    def handler(session: AGISession) -> None:
        calls.append(session.uniqueid)

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, uniqueid="1700000003.1")
    assert calls == ["1700000003.1"] and fake.closed_by_server


async def test_plain_function_returning_an_awaitable_is_served(start_server: ServerFactory) -> None:
    server = await start_server()

    def handler(session: AGISession) -> Awaitable[None]:
        return session.set_variable("HOTLINE_RESULT", "OK")

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=1"])
    assert fake.received == ['SET VARIABLE "HOTLINE_RESULT" "OK"'] and fake.closed_by_server


# ------------------------------------------------------------------------------------------
# Robust reading


class _ServerInThread:
    """An AGIServer on its own event loop in a daemon thread, so that a server whose loop freezes
    (panoramisk's bug) makes the test fail on a timeout instead of freezing the test's loop."""

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.ready = threading.Event()
        self.port = 0
        self.served: list[str] = []
        self.active_sessions = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = AGIServer("127.0.0.1", 0, secret=SECRET, **self.kwargs)  # type: ignore[arg-type]

        async def handler(session: AGISession) -> None:
            self.served.append(session.uniqueid)
            await session.set_variable("HOTLINE_RESULT", "OK")

        server.add_route("ivr", handler)
        async with server:
            self.port = server.port
            self.ready.set()
            await self._stop.wait()
            await eventually(lambda: server.active_sessions == 0, what="the sessions to end")
            self.active_sessions = server.active_sessions

    def start(self) -> None:
        self._thread.start()
        assert self.ready.wait(10), "server thread did not start"

    def stop(self) -> bool:
        """True when the server loop was still responsive and shut down."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        return not self._thread.is_alive()


async def test_port_probe_does_not_freeze_the_server() -> None:
    """Regression: panoramisk spins for ever (never yielding) when a peer closes before sending
    its environment, so one port probe freezes every call."""
    server = _ServerInThread(env_timeout=0.5)
    server.start()
    try:
        async with asyncio.timeout(30):  # a frozen server loop fails here instead of hanging
            await _probe_then_call(server)
    finally:
        stopped = server.stop()
    assert stopped, "the server's event loop is frozen"
    assert server.active_sessions == 0  # every probe connection was dropped server-side


async def _probe_then_call(server: _ServerInThread) -> None:
    for _ in range(200):  # connect-and-close probes
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        await writer.wait_closed()
    for partial in (b"agi_network: yes\nagi_network_script: ivr\n", b"agi_netw"):  # half an env, then close
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(partial)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
    # a peer that sends half an environment and then stalls with the connection open
    stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", server.port)
    stalled_writer.write(b"agi_network: yes\n")
    await stalled_writer.drain()

    fake = await run_fake(server.port, ["200 result=1"], timeout=10, uniqueid="1700000004.1")
    assert fake.received == ['SET VARIABLE "HOTLINE_RESULT" "OK"'] and fake.closed_by_server
    assert server.served == ["1700000004.1"]
    assert await asyncio.wait_for(stalled_reader.read(), 10) == b""  # closed by the server
    stalled_writer.close()


async def test_silent_peer_is_closed_after_env_timeout(start_server: ServerFactory) -> None:
    server = await start_server(env_timeout=0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await eventually(lambda: server.active_sessions == 0)


# ------------------------------------------------------------------------------------------
# Replies and errors


async def test_multiline_520_usage_reply_keeps_stream_in_sync(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: dict[str, object] = {}

    async def handler(session: AGISession) -> None:
        with pytest.raises(AGIUsageError) as info:
            await session.command("GET DATA")
        outcome["usage"] = info.value.usage
        outcome["value"] = await session.get_variable("X")
        outcome["digits"] = await session.get_data("p", 100, 2)

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, [USAGE_520, "200 result=1 (after)", "200 result=42"])
    assert fake.received == ["GET DATA", 'GET VARIABLE "X"', 'GET DATA "p" "100" "2"']
    assert outcome["value"] == "after" and outcome["digits"] == "42"
    assert "Usage: GET DATA <file to be streamed>" in str(outcome["usage"])
    assert "Stream the given file" in str(outcome["usage"])


async def test_hangup_line_before_response_raises_hangup(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: dict[str, object] = {}

    async def handler(session: AGISession) -> None:
        with pytest.raises(AGIHangup) as info:
            await session.stream_file("ar/menu", "1")
        assert info.value.response is not None
        outcome["in_flight_reply"] = info.value.response.raw
        outcome["hungup"] = session.hungup
        # the stream is still in sync: a dead-channel-safe command gets its own reply
        await session.set_variable("X", "1")
        with pytest.raises(AGIHangup):
            await session.get_data("p", 100, 1)

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["HANGUP\n200 result=-1 endpos=0", "200 result=1", REPLY_511])
    assert fake.received == ['STREAM FILE "ar/menu" "1"', 'SET VARIABLE "X" "1"', 'GET DATA "p" "100" "1"']
    assert outcome == {"in_flight_reply": "200 result=-1 endpos=0", "hungup": True}


async def test_hangup_line_before_a_200_reply_raises_hangup(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: list[object] = []

    async def handler(session: AGISession) -> None:
        try:
            await session.set_variable("X", "1")
        except AGIHangup as exc:
            outcome.append(exc.response.raw if exc.response else None)
            outcome.append(session.hungup)

    server.add_route("ivr", handler)
    await run_fake(server.port, ["HANGUP\n200 result=1"])
    assert outcome == ["200 result=1", True]


async def test_511_dead_channel_reply_raises_hangup(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: list[bool] = []

    async def handler(session: AGISession) -> None:
        with pytest.raises(AGIHangup):
            await session.get_data("p", 100, 1)
        outcome.append(session.hungup)

    server.add_route("ivr", handler)
    await run_fake(server.port, [REPLY_511])
    assert outcome == [True]


async def test_eof_mid_command_raises_hangup() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"200 res")
    reader.feed_eof()
    session = AGISession(build_environment(), reader, _BufferWriter())
    with pytest.raises(AGIHangup):
        await session.get_variable("X")
    assert session.hungup
    with pytest.raises(AGIHangup):  # and every later command, without writing anything
        await session.verbose("still there?")


async def test_510_reply_raises_command_error(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: list[object] = []

    async def handler(session: AGISession) -> None:
        with pytest.raises(AGICommandError) as info:
            await session.command("SAY FOO", "x")
        assert info.value.response is not None
        outcome.append(info.value.response.code)
        outcome.append(await session.get_variable("Y"))

    server.add_route("ivr", handler)
    await run_fake(server.port, [REPLY_510, "200 result=1 (y)"])
    assert outcome == [510, "y"]


async def test_exec_of_missing_application_raises_command_error(start_server: ServerFactory) -> None:
    server = await start_server()
    outcome: list[type] = []

    async def handler(session: AGISession) -> None:
        try:
            await session.exec("NoSuchApp", "x")
        except AGIError as exc:
            outcome.append(type(exc))

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=-2"])
    assert fake.received == ['EXEC "NoSuchApp" "x"'] and outcome == [AGICommandError]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("200 result=1", AGIResponse(200, "1", "", {}, "200 result=1")),
        ("200 result=-1", AGIResponse(200, "-1", "", {}, "200 result=-1")),
        ("200 result=1 (timeout)", AGIResponse(200, "1", "timeout", {}, "200 result=1 (timeout)")),
        ("200 result= (timeout)", AGIResponse(200, "", "timeout", {}, "200 result= (timeout)")),
        ("200 result=0 endpos=1234", AGIResponse(200, "0", "", {"endpos": "1234"}, "200 result=0 endpos=1234")),
        (
            "200 result=0 (timeout) endpos=16000",
            AGIResponse(200, "0", "timeout", {"endpos": "16000"}, "200 result=0 (timeout) endpos=16000"),
        ),
        ("200 result=1 (a (b) c)", AGIResponse(200, "1", "a (b) c", {}, "200 result=1 (a (b) c)")),
        ("510 Invalid or unknown command", AGIResponse(510, "", "", {}, "510 Invalid or unknown command")),
    ],
)
def test_reply_lines_are_parsed(line: str, expected: AGIResponse) -> None:
    assert parse_response_line(line) == expected


# ------------------------------------------------------------------------------------------
# Quoting and injection


def _pyst2_written_bytes(name: str, value: str) -> str:
    """What pyst2 0.5.1 writes for SET VARIABLE, using its own _quote and send_command, without
    running AGI.__init__ (which reads stdin and installs signal handlers)."""
    from asterisk.agi import AGI

    agi = AGI.__new__(AGI)
    agi.stdout = io.StringIO()
    agi.stderr = io.StringIO()
    agi.send_command("SET VARIABLE", agi._quote(name), agi._quote(value))
    return agi.stdout.getvalue()


@pytest.mark.xfail(
    strict=True,
    reason="pyst2 0.5.1 bug: send_command writes a newline inside an argument as is, so the bytes hold a "
    "second command line (here HANGUP) that Asterisk runs",
)
def test_pyst2_set_variable_cannot_inject_a_command() -> None:
    written = _pyst2_written_bytes("CALLER_NAME", 'Ali" \nHANGUP')
    assert len(written.split("\n")[:-1]) == 1


async def test_caller_name_with_quote_and_newline_cannot_inject_a_command(start_server: ServerFactory) -> None:
    payload = 'Ali" \nHANGUP'
    # refused before anything is written
    with pytest.raises(AGIArgumentError):
        encode_command("SET VARIABLE", "CALLER_NAME", payload)
    server = await start_server()
    outcome: list[str] = []

    async def handler(session: AGISession) -> None:
        for bad in (payload, "a\rb", "a\x00b", "x\n"):
            with pytest.raises(AGIArgumentError):
                await session.set_variable("CALLER_NAME", bad)
        outcome.append(await session.get_variable("CALLER_NAME") or "")

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=1 (kept)"])
    assert fake.received == ['GET VARIABLE "CALLER_NAME"'] and outcome == ["kept"]


@pytest.mark.parametrize("value", NASTY_STRINGS)
def test_quoted_argument_parses_back_exactly_in_asterisk(value: str) -> None:
    line = encode_command("SET VARIABLE", "CALLER_NAME", value)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    argv = asterisk_parse_args(line[:-1])
    assert [a.decode() for a in argv] == ["SET", "VARIABLE", "CALLER_NAME", value]


def test_random_nasty_arguments_parse_back_exactly_in_asterisk() -> None:
    rng = random.Random(20241123)
    alphabet = " \t\"\\'$,()[]|;=abcXYZ019ع ب د ل ا ه€🙂"
    for _ in range(500):
        args = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(rng.randrange(1, 5))]
        line = encode_command("EXEC", *args)
        assert [a.decode() for a in asterisk_parse_args(line[:-1])] == ["EXEC", *args]


@pytest.mark.xfail(
    strict=True,
    reason="pyst2 0.5.1 bug: _quote wraps a value in double quotes without escaping the quotes and "
    "backslashes inside, so Asterisk's parse_args reads another value",
)
def test_pyst2_quoting_survives_asterisk_parsing() -> None:
    from asterisk.agi import AGI

    value = 'Ali "the" \\ one'
    pyst2_line = "SET VARIABLE " + AGI._quote(None, "N") + " " + AGI._quote(None, value)  # type: ignore[arg-type]
    assert asterisk_parse_args(pyst2_line.encode())[3:] == [value.encode()]


def test_our_quoting_survives_asterisk_parsing_where_pyst2s_does_not() -> None:
    value = 'Ali "the" \\ one'
    assert asterisk_parse_args(encode_command("SET VARIABLE", "N", value)[:-1])[3] == value.encode()


@pytest.mark.parametrize("bad", ["\n", "\r", "\x00", "a\nb", "\r\n"])
def test_argument_with_cr_lf_or_nul_is_refused(bad: str) -> None:
    with pytest.raises(AGIArgumentError):
        quote_argument(bad)
    with pytest.raises(AGIArgumentError):
        encode_command("VERBOSE", "ok", bad)


@pytest.mark.parametrize("name", ["", "GET DATA\n", 'SET "X"', "GET  DATA", " HANGUP", "GET-DATA"])
def test_malformed_command_names_are_refused(name: str) -> None:
    with pytest.raises(AGIArgumentError):
        encode_command(name)


# ------------------------------------------------------------------------------------------
# EXEC and MSet


async def test_exec_joins_application_arguments_with_commas(start_server: ServerFactory) -> None:
    server = await start_server()
    refused: list[str] = []

    async def handler(session: AGISession) -> None:
        assert await session.exec("Playback", "ar/welcome&ar/menu", "noanswer") == 0
        assert await session.exec("Set", "CALLERID(name)=Ali Hassan") == 0
        for args in (("a,b",), ('x"y',), ("unbalanced(",)):
            try:
                await session.exec("Set", *args)
            except AGIArgumentError as exc:
                refused.append(str(exc))

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=0", "200 result=0"])
    assert fake.received == [
        'EXEC "Playback" "ar/welcome&ar/menu,noanswer"',
        'EXEC "Set" "CALLERID(name)=Ali Hassan"',
    ]
    assert len(refused) == 3


async def test_mset_sets_many_variables_in_one_round_trip(start_server: ServerFactory) -> None:
    server = await start_server()
    variables = {
        "HOTLINE_LANGUAGE": "ar",
        "HOTLINE_TOPIC": "medical",
        "HOTLINE_SPECIALTY": "",
        "HOTLINE_QUEUE": "medical-ar",
        "HOTLINE_NOTE": "عيادة الأطفال (صباحاً) a=b [x]",
        "HOTLINE_RESULT": "OK",
    }

    async def handler(session: AGISession) -> None:
        await session.mset(variables)
        await session.mset({})  # no round trip

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=0"])
    assert len(fake.received) == 1
    # parse it the way Asterisk does: res_agi parse_args, then MSet's app-argument split
    command, app, data = asterisk_parse_args(fake.received[0].encode())
    assert (command, app) == (b"EXEC", b"MSet")
    pairs = asterisk_separate_app_args(data.decode(), ",", True, arraylen=99)
    parsed = dict(asterisk_separate_app_args(pair, "=", False, arraylen=2) for pair in pairs)
    assert parsed == variables


@pytest.mark.parametrize(
    "variables",
    [
        {"A": "Smith, John"},
        {"A": 'say "hi"'},
        {"A": "back\\slash"},
        {"A": "open ( paren"},
        {"A": ")("},
        {"A": "open [ bracket"},
        {"A": "new\nline"},
        {"A=B": "x"},
        {"": "x"},
        {"A B": "x"},
        {f"V{i}": "x" for i in range(100)},
    ],
)
async def test_mset_refuses_values_that_would_break_mset_parsing(variables: dict[str, str]) -> None:
    writer = _BufferWriter()
    session = AGISession(build_environment(), asyncio.StreamReader(), writer)
    with pytest.raises(AGIArgumentError):
        await session.mset(variables)
    assert writer.data == b""


def test_app_argument_check_accepts_balanced_parentheses() -> None:
    assert check_app_argument("CALLERID(name)=Ali [x] (y)") == "CALLERID(name)=Ali [x] (y)"


# ------------------------------------------------------------------------------------------
# Threads


class _BufferWriter:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None


class _ListReader:
    def __init__(self, lines: list[bytes]) -> None:
        self._lines = deque(lines)

    async def readline(self) -> bytes:
        return self._lines.popleft() if self._lines else b""


def _in_thread(fn: Callable[[], object]) -> object:
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


@pytest.mark.xfail(
    strict=True,
    raises=ValueError,
    reason="pyst2 0.5.1 bug: AGI.__init__ installs signal handlers, which Python allows only in the main thread",
)
def test_pyst2_agi_can_be_built_outside_main_thread() -> None:
    from asterisk.agi import AGI

    def build() -> object:
        return AGI(stdin=io.StringIO("agi_request: x\n\n"), stdout=io.StringIO(), stderr=io.StringIO())

    _in_thread(build)


def test_session_can_be_built_outside_main_thread() -> None:
    def build_and_use() -> object:
        writer = _BufferWriter()
        session = AGISession(build_environment(), _ListReader([b"200 result=1 (hello)\n"]), writer)
        value = asyncio.run(session.get_variable("X"))
        return value, writer.data, encode_command("VERBOSE", "x", 1)

    assert _in_thread(build_and_use) == ("hello", b'GET VARIABLE "X"\n', b'VERBOSE "x" "1"\n')


# ------------------------------------------------------------------------------------------
# Deadline, failures and shutdown


async def test_handler_exceeding_deadline_closes_the_call(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(call_deadline=0.3)
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    cancelled: list[bool] = []

    async def handler(session: AGISession) -> None:
        if session.uniqueid == "slow.1":
            try:
                await session.get_data("ar/welcome", 60000, 1)  # Asterisk never answers
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
        else:
            await session.set_variable("HOTLINE_RESULT", "OK")

    server.add_route("ivr", handler)
    slow_env = build_environment(port=server.port, uniqueid="slow.1")
    slow = FakeAsterisk(port=server.port, env=slow_env, replies=[])
    slow_task = asyncio.create_task(_fake_that_never_answers(slow))
    fine = await run_fake(server.port, ["200 result=1"], uniqueid="fine.1")  # others are served meanwhile
    assert fine.received == ['SET VARIABLE "HOTLINE_RESULT" "OK"'] and fine.closed_by_server
    received, closed = await asyncio.wait_for(slow_task, 5)
    assert received == ['GET DATA "ar/welcome" "60000" "1"'] and closed  # no result variable set
    assert cancelled == [True]
    assert any("slow.1" in r.getMessage() and "deadline" in r.getMessage() for r in caplog.records)
    await eventually(lambda: server.active_sessions == 0)


async def _fake_that_never_answers(fake: FakeAsterisk) -> tuple[list[str], bool]:
    reader, writer = await asyncio.open_connection(fake.host, fake.port)
    writer.write(environment_bytes(fake.env))
    received: list[str] = []
    try:
        while raw := await reader.readline():
            received.append(raw.decode().rstrip("\n"))
        return received, True
    finally:
        writer.close()


async def test_handler_exception_is_logged_with_uniqueid_and_the_call_closed(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    caplog.set_level(logging.ERROR, logger="telephony.agi")

    async def handler(session: AGISession) -> None:
        if session.uniqueid == "boom.1":
            await session.get_data("ar/welcome", 5000, 1)
            raise RuntimeError("menu exploded")
        await session.set_variable("HOTLINE_RESULT", "OK")

    server.add_route("ivr", handler)
    boom = await run_fake(server.port, ["200 result=1"], uniqueid="boom.1")
    assert boom.received == ['GET DATA "ar/welcome" "5000" "1"'] and boom.closed_by_server
    (record,) = [r for r in caplog.records if "boom.1" in r.getMessage()]
    assert record.exc_info and "menu exploded" in str(record.exc_info[1])
    after = await run_fake(server.port, ["200 result=1"], uniqueid="after.1")
    assert after.received == ['SET VARIABLE "HOTLINE_RESULT" "OK"']


async def test_close_cancels_running_sessions_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="telephony.agi")
    server = AGIServer("127.0.0.1", 0, secret=SECRET)
    await server.start()
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def handler(session: AGISession) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    server.add_route("ivr", handler)
    fake = FakeAsterisk(port=server.port, env=build_environment(port=server.port))
    fake_task = asyncio.create_task(fake.run())
    await asyncio.wait_for(started.wait(), 5)
    await server.close()
    assert cancelled == [True] and server.active_sessions == 0
    await asyncio.wait_for(fake_task, 5)
    assert fake.closed_by_server
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", fake.port)
    await server.close()  # idempotent


async def test_concurrent_commands_on_one_session_are_refused() -> None:
    reader = asyncio.StreamReader()
    session = AGISession(build_environment(), reader, _BufferWriter())
    first = asyncio.create_task(session.get_variable("A"))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await session.get_variable("B")
    reader.feed_data(b"200 result=1 (a)\n")
    assert await first == "a"


# ------------------------------------------------------------------------------------------
# Trust: the per-start secret, the session cap, and bounded reading (issue 10, items 5 and 9)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param("ivr", id="no secret"),
        pytest.param(f"{'f' * len(SECRET)}/ivr", id="wrong secret"),
        pytest.param(f"{SECRET[:-1]}/ivr", id="secret one character short"),
        pytest.param(f"{SECRET}x/ivr", id="secret with one character more"),
        pytest.param(f"ivr/{SECRET}", id="secret in the wrong place"),
        pytest.param(f"ivr?secret={SECRET}", id="secret in the query"),
        pytest.param(SECRET, id="secret without a route"),
        pytest.param("", id="empty script"),
    ],
)
async def test_a_connection_without_the_secret_is_closed_and_no_route_runs(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture, script: str
) -> None:
    server = await start_server()
    ran: list[str] = []
    server.add_route("ivr", lambda session: ran.append(session.uniqueid))
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    env = asterisk_environment(script, port=server.port, uniqueid="forged.1", channel="PJSIP/agent-ar-1-00000001")
    fake = await FakeAsterisk(port=server.port, env=env, replies=["200 result=1"] * 3).run()

    assert fake.closed_by_server and fake.received == [] and ran == []
    (record,) = [r for r in caplog.records if "secret" in r.getMessage()]
    assert record.levelno == logging.WARNING and "forged.1" in record.getMessage()
    assert SECRET not in caplog.text
    # and the real Asterisk is still served
    served = await run_fake(server.port, uniqueid="real.1")
    assert served.closed_by_server and ran == ["real.1"]


async def test_the_secret_is_checked_in_agi_request_when_network_script_is_absent(start_server: ServerFactory) -> None:
    server = await start_server()
    ran: list[str] = []
    server.add_route("ivr", lambda session: ran.append(session.uniqueid))
    for uniqueid, script in (("good.1", f"{SECRET}/ivr"), ("bad.1", "ivr"), ("bad.2", f"{'0' * len(SECRET)}/ivr")):
        env = asterisk_environment(script, port=server.port, uniqueid=uniqueid)
        del env["network_script"]
        await FakeAsterisk(port=server.port, env=env).run()
    assert ran == ["good.1"]


async def test_handlers_never_see_the_secret(start_server: ServerFactory) -> None:
    server = await start_server()
    seen: list[AGISession] = []
    server.add_route("ivr", seen.append)
    await run_fake(server.port, script="ivr?lang=ar", args=["x"])
    (session,) = seen
    assert (session.script, session.query, session.args) == ("ivr", {"lang": "ar"}, ["x"])
    assert not [value for value in session.env.values() if SECRET in value]
    assert session.env["network_script"] == "ivr?lang=ar"


@pytest.mark.parametrize("secret", ["", "short", "0123456789abcdef/ivr", "0123456789abcdef,x", "0123456789 abcdef"])
def test_the_server_refuses_a_weak_or_malformed_secret(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        AGIServer(secret=secret)


async def test_a_server_built_without_a_secret_refuses_everyone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    server = AGIServer("127.0.0.1", 0)
    assert any("without the secret" in r.getMessage() for r in caplog.records)
    ran: list[str] = []
    server.add_route("ivr", lambda session: ran.append(session.uniqueid))
    async with server:
        for script in ("ivr", f"{SECRET}/ivr", "None/ivr", "/ivr"):
            env = asterisk_environment(script, port=server.port)
            fake = await FakeAsterisk(port=server.port, env=env).run()
            assert fake.closed_by_server and fake.received == []
    assert ran == []


async def test_over_the_session_cap_a_new_connection_is_closed_at_once_and_nothing_runs(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # env_timeout is long: a server without the cap would keep the extra connection open, and
    # then run its route, instead of closing it at once.
    server = await start_server(max_sessions=2, env_timeout=60.0)
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    release = asyncio.Event()
    started: list[str] = []

    async def handler(session: AGISession) -> None:
        started.append(session.uniqueid)
        if session.uniqueid.startswith("held"):
            await release.wait()

    server.add_route("ivr", handler)
    held = [asyncio.create_task(run_fake(server.port, uniqueid=f"held.{i}", timeout=30)) for i in range(2)]
    await eventually(lambda: len(started) == 2)

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(environment_bytes(build_environment(port=server.port, uniqueid="over.1")))
    try:
        async with asyncio.timeout(10):
            closed = await reader.read()
    except ConnectionResetError:
        closed = b""
    writer.close()
    assert closed == b"" and "over.1" not in started
    assert any("cap" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)

    release.set()
    for task in held:
        assert (await task).closed_by_server
    await eventually(lambda: server.active_sessions == 0)
    after = await run_fake(server.port, uniqueid="after.1")
    assert after.closed_by_server and started[-1] == "after.1"
    messages = [r.getMessage() for r in caplog.records]
    assert any("below the cap" in m and "1 connections were closed" in m for m in messages)


def test_the_session_cap_has_a_sane_default_and_must_be_positive() -> None:
    assert 50 <= AGIServer(secret=SECRET).max_sessions <= 1000
    with pytest.raises(ValueError):
        AGIServer(secret=SECRET, max_sessions=0)


async def _send_raw_environment(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_an_over_long_environment_line_closes_the_connection_with_a_log_line(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(env_timeout=60.0)
    ran: list[str] = []
    server.add_route("ivr", lambda session: ran.append(session.uniqueid))
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    env = build_environment(port=server.port, calleridname="x" * (LINE_LIMIT + 1))

    assert await _send_raw_environment(server.port, environment_bytes(env)) == b""
    assert ran == []
    assert any("longer than" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    await eventually(lambda: server.active_sessions == 0)


async def test_an_environment_over_the_byte_cap_closes_the_connection_with_a_log_line(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(env_timeout=60.0)
    ran: list[str] = []
    server.add_route("ivr", lambda session: ran.append(session.uniqueid))
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    # short lines, each well under the line limit, that add up to more than the cap
    args = ["a" * 200] * (MAX_ENV_BYTES // 200 + 1)
    env = build_environment(port=server.port, args=args)

    assert await _send_raw_environment(server.port, environment_bytes(env)) == b""
    assert ran == []
    assert any(f"longer than {MAX_ENV_BYTES} bytes" in r.getMessage() for r in caplog.records)


async def test_an_over_long_reply_line_ends_the_session_with_a_log_line(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    caplog.set_level(logging.ERROR, logger="telephony.agi")
    errors: list[type] = []

    async def handler(session: AGISession) -> None:
        try:
            await session.get_variable("X")
        except AGIError as exc:
            errors.append(type(exc))
            raise

    server.add_route("ivr", handler)
    fake = await run_fake(server.port, ["200 result=1 (" + "x" * LINE_LIMIT + ")"], uniqueid="long.1")
    assert fake.closed_by_server and errors == [AGIProtocolError]
    assert any("long.1" in r.getMessage() for r in caplog.records)


async def test_a_multiline_reply_over_the_byte_cap_ends_the_session(start_server: ServerFactory) -> None:
    server = await start_server()
    errors: list[type] = []

    async def handler(session: AGISession) -> None:
        try:
            await session.command("GET DATA")
        except AGIError as exc:
            errors.append(type(exc))

    server.add_route("ivr", handler)
    body = "".join(f" usage line {i} " + "u" * 100 + "\n" for i in range(MAX_REPLY_BYTES // 100))
    reply = "520-Invalid command syntax.  Proper usage follows:\n" + body + "520 End of proper usage.\n"
    fake = await run_fake(server.port, [reply])
    assert fake.closed_by_server and errors == [AGIProtocolError]


async def _held_connection(port: int, uniqueid: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(environment_bytes(build_environment(port=port, uniqueid=uniqueid)))
    await writer.drain()
    return reader, writer


async def _closed(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection (EOF or reset) within 30 s, sending nothing first."""
    try:
        async with asyncio.timeout(30):
            return await reader.read() == b""
    except ConnectionResetError:
        return True


async def test_five_hundred_connects_at_once_the_cap_serves_its_share_closes_the_rest_and_serves_after(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A burst of 500 FastAGI connects at once (a flood, or a peak after a restart): the default cap's
    sessions run, every connection over it is closed at once (the dialplan then routes that caller to the
    default queue: never silence), and once the burst ends new calls are served again."""
    server = await start_server(env_timeout=60.0, call_deadline=120.0)  # the default cap
    cap = server.max_sessions
    caplog.set_level(logging.WARNING, logger="telephony.agi")
    release = asyncio.Event()
    started: list[str] = []

    async def handler(session: AGISession) -> None:
        started.append(session.uniqueid)
        await release.wait()

    server.add_route("ivr", handler)
    connections = await asyncio.gather(*(_held_connection(server.port, f"burst.{i}") for i in range(500)))
    await eventually(lambda: len(started) == cap, timeout=30)
    running = set(started)
    over = [reader for i, (reader, _) in enumerate(connections) if f"burst.{i}" not in running]
    assert len(over) == 500 - cap
    assert all(await asyncio.gather(*(_closed(reader) for reader in over)))  # closed, and none ran its route
    assert len(started) == cap and server.active_sessions == cap
    release.set()
    await eventually(lambda: server.active_sessions == 0, timeout=30)
    for _, writer in connections:
        writer.close()
    after = await run_fake(server.port, uniqueid="after.burst")
    assert after.closed_by_server and started[-1] == "after.burst" and len(started) == cap + 1


async def test_slow_loris_clients_are_closed_after_the_environment_timeout_and_calls_go_on(
    start_server: ServerFactory,
) -> None:
    """Clients that dribble their environment a byte at a time never finish it: each is closed when the
    environment timeout ends (a whole-environment deadline, not one per byte), no route runs for them, and a
    real call made meanwhile is served."""
    server = await start_server(env_timeout=1.0)
    started: list[str] = []
    server.add_route("ivr", lambda session: started.append(session.uniqueid))
    stop = asyncio.Event()

    async def loris(i: int) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        data = environment_bytes(build_environment(port=server.port, uniqueid=f"loris.{i}"))
        try:
            for byte in data:
                if reader.at_eof() or stop.is_set():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)  # 20 bytes a second: the environment would take minutes
            return await _closed(reader)
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            writer.close()

    lorises = [asyncio.create_task(loris(i)) for i in range(50)]
    real = await run_fake(server.port, uniqueid="real.1")
    assert real.closed_by_server and started == ["real.1"]
    closed = await asyncio.gather(*lorises)
    stop.set()
    assert all(closed) and started == ["real.1"]  # every loris closed by the server, none ran a route
    await eventually(lambda: server.active_sessions == 0)
