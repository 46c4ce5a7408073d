"""Hostile input at the FastAGI boundary, fuzzed with hypothesis (issue 15, item 5).

* The environment Asterisk (or any local peer) sends is read through the server's own path
  (``AGIServer._read_environment`` on a real ``StreamReader``): arbitrary bytes, invalid UTF-8, NUL,
  huge lines never raise; a value comes back byte-exact, or with invalid UTF-8 visibly replaced (U+FFFD).
* Every command we write is exactly one line, and Asterisk's own argument parser (``parse_args`` of
  res_agi.c, modelled below) reads back exactly the arguments we meant, whatever they hold (quotes,
  backslashes, ``${...}``, ``$[...]``, U+202E); CR, LF and NUL are refused before anything is written.
* ``EXEC`` data (``exec``, ``mset``) is parsed a second time by ``__ast_app_separate_args`` (modelled
  below): a value is either refused, or arrives as exactly the argument / variable we meant.
* ``$``-expressions: AGI ``SET VARIABLE`` never substitutes, and ``EXEC`` substitutes only when the
  channel has ``AGIEXECFULL`` set, which no dialplan of ours does (checked on the templates).
* Replies: any bytes from the peer end in an AGI error of ours, never in another exception.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.agi import (
    MAX_ENV_BYTES,
    AGIArgumentError,
    AGIError,
    AGIServer,
    AGISession,
    encode_command,
    parse_environment,
    parse_response_line,
)

FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=40, deadline=None)
SECRET = "s3cret-s3cret-s3cret"

HOSTILE_TEXT = st.one_of(
    st.text(),
    st.text(st.sampled_from(['"', "\\", " ", "\t", ",", "=", "(", ")", "[", "]", "$", "{", "}", "\u202e", "x"])),
    st.sampled_from(
        ["${SHELL(id)}", "$[1+1]", '"; HANGUP "', "a\nHANGUP", "a\r\nEXEC Dial", "nul\x00", "\\", '\\"', "x" * 1024]
    ),
)


# -- models of Asterisk's two parsers ---------------------------------------------------------------


def asterisk_parse_args(line: str) -> list[str]:
    """res_agi.c ``parse_args``: split on space/tab outside quotes, ``"`` toggles quoting, ``\\`` makes
    the next character literal."""
    args: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and current is None:
                current = []
                args.append("")
            continue
        if ch in " \t" and not quoted and not escaped:
            if current is not None:
                args[-1] = "".join(current)
            current = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if current is None:
            current = []
            args.append("")
        current.append(ch)
        escaped = False
    if current is not None:
        args[-1] = "".join(current)
    return args


def asterisk_app_args(data: str, delim: str = ",", max_args: int = 1000) -> list[str]:
    """app.c ``__ast_app_separate_args`` with remove_chars (``AST_STANDARD_APP_ARGS``)."""
    out: list[str] = []
    current: list[str] = []
    paren = bracket = 0
    quote = False
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "(":
            paren += 1
        elif ch == ")" and paren:
            paren -= 1
        elif ch == "[":
            bracket += 1
        elif ch == "]" and bracket:
            bracket -= 1
        elif ch == '"' and delim != '"':
            quote = not quote
            i += 1
            continue  # removed
        elif ch == "\\":
            i += 1  # removed; the next character is taken as it is
            if i < len(data):
                current.append(data[i])
            i += 1
            continue
        elif ch == delim and not paren and not quote and not bracket and len(out) < max_args - 1:
            out.append("".join(current))
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def test_the_models_read_what_the_asterisk_sources_say() -> None:
    assert asterisk_parse_args('GET DATA "a b" "" "x\\"y"') == ["GET", "DATA", "a b", "", 'x"y']
    assert asterisk_app_args("a,b(c,d),[e,f],g") == ["a", "b(c,d)", "[e,f]", "g"]
    assert asterisk_app_args('a"b,c"d,e') == ["ab,cd", "e"]
    assert asterisk_app_args("n=v=w", "=", 2) == ["n", "v=w"]


# -- commands -------------------------------------------------------------------------------------------


@FAST
@given(st.lists(HOSTILE_TEXT, max_size=5), st.sampled_from(["SET VARIABLE", "GET DATA", "VERBOSE", "EXEC"]))
def test_a_command_is_one_line_and_asterisk_reads_back_exactly_its_arguments(args: list[str], name: str) -> None:
    if any(c in a for a in args for c in "\r\n\x00"):
        try:
            encode_command(name, *args)
        except AGIArgumentError:
            return
        raise AssertionError("CR, LF or NUL was let through")
    line = encode_command(name, *args)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line and b"\x00" not in line
    assert asterisk_parse_args(line[:-1].decode()) == [*name.split(), *args]


class Wire:
    """A session's two ends: the replies Asterisk gives, and the bytes we write."""

    def __init__(self, replies: bytes = b"") -> None:
        self.reader = asyncio.StreamReader()
        self.reader.feed_data(replies)
        self.reader.feed_eof()
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        return None

    def lines(self) -> list[list[str]]:
        return [asterisk_parse_args(line) for line in self.written.decode().split("\n")[:-1]]


def drive(call: Callable[[AGISession], Awaitable[object]], replies: bytes = b"200 result=1\n" * 4) -> Wire:
    """Run ``call`` on a session whose Asterisk answers ``replies``; the wire, also when ``call`` raised
    (then as ``error.wire``)."""

    async def run() -> Wire:
        wire = Wire(replies)
        try:
            await call(AGISession({"network_script": "ivr", "uniqueid": "1.1"}, wire.reader, wire))
        except AGIError as exc:
            exc.wire = wire  # type: ignore[attr-defined]
            raise
        return wire

    return asyncio.run(run())


@FAST
@given(st.text(st.characters(codec="ascii", categories=("Lu", "Nd")), min_size=1, max_size=12), HOSTILE_TEXT)
def test_set_variable_carries_any_value_verbatim_or_refuses_it(name: str, value: str) -> None:
    try:
        wire = drive(lambda agi: agi.set_variable(name, value))
    except AGIArgumentError as exc:
        assert not exc.wire.written and any(c in value for c in "\r\n\x00")  # type: ignore[attr-defined]
        return
    assert wire.lines() == [["SET", "VARIABLE", name, value]]  # SET VARIABLE never evaluates ${...}


@FAST
@given(st.dictionaries(st.sampled_from(["HOTLINE_QUEUE", "HOTLINE_TOPIC", "A", "B_1"]), HOSTILE_TEXT, max_size=4))
def test_mset_sets_exactly_the_variables_meant_or_writes_nothing(variables: dict[str, str]) -> None:
    try:
        wire = drive(lambda agi: agi.mset(variables))
    except AGIArgumentError as exc:
        assert not exc.wire.written  # type: ignore[attr-defined]
        return
    if not variables:
        assert not wire.written
        return
    ((exec_, app, data),) = wire.lines()
    assert (exec_, app) == ("EXEC", "MSet")
    pairs = [asterisk_app_args(pair, "=", 2) for pair in asterisk_app_args(data)]
    assert dict(pairs) == variables  # type: ignore[arg-type]


@FAST
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=4))
def test_exec_passes_each_application_argument_intact_or_writes_nothing(args: list[str]) -> None:
    try:
        wire = drive(lambda agi: agi.exec("UserEvent", *args), b"200 result=0\n")
    except AGIArgumentError as exc:
        assert not exc.wire.written  # type: ignore[attr-defined]
        return
    ((exec_, app, data),) = wire.lines()
    assert (exec_, app) == ("EXEC", "UserEvent")
    assert asterisk_app_args(data) == args


def test_no_dialplan_of_ours_turns_on_substitution_of_exec_arguments() -> None:
    # res_agi.c handle_exec substitutes ${...} in EXEC data only when AGIEXECFULL is true on the channel.
    templates = Path(__file__).parents[2] / "telephony" / "templates"
    for path in templates.rglob("*"):
        if path.is_file():
            assert "AGIEXECFULL" not in path.read_text(errors="replace").upper(), path


# -- replies ----------------------------------------------------------------------------------------------


@FAST
@given(st.text())
def test_any_reply_line_parses_or_is_a_protocol_error(line: str) -> None:
    try:
        response = parse_response_line(line)
    except AGIError:
        return
    assert 0 <= response.code <= 999


@SLOW
@given(st.binary(max_size=300))
def test_any_bytes_from_asterisk_end_in_a_reply_or_an_agi_error(replies: bytes) -> None:
    with contextlib.suppress(AGIError):
        drive(lambda agi: agi.get_data("ar/topics", 5000, 1), replies)


# -- the environment, through the server's own reading path ----------------------------------------------


class Peer:
    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 40000)


def read_environment(data: bytes) -> dict[str, str] | None:
    async def read() -> dict[str, str] | None:
        reader = asyncio.StreamReader(limit=8 * 1024)
        reader.feed_data(data)
        reader.feed_eof()
        server = AGIServer(secret=SECRET, env_timeout=1.0)
        env = await server._read_environment(reader, Peer())  # type: ignore[arg-type]
        if env is not None:
            trusted = server._authenticate(env)
            if trusted is not None:
                AGISession(trusted, reader, Wire(b""))  # never raises, whatever the request holds
        return env

    return asyncio.run(read())


@SLOW
@given(st.binary(max_size=2048))
def test_any_bytes_as_an_environment_never_raise(data: bytes) -> None:
    env = read_environment(data)
    assert env is None or all(isinstance(k, str) and isinstance(v, str) and "\n" not in v for k, v in env.items())


VALUE_BYTES = st.binary(max_size=200).filter(lambda b: b"\n" not in b and not b.endswith(b"\r"))


@SLOW
@given(st.dictionaries(st.sampled_from(["callerid", "calleridname", "channel", "arg_1", "dnid"]), VALUE_BYTES))
def test_environment_values_arrive_byte_exact_or_visibly_replaced(values: dict[str, bytes]) -> None:
    lines = [f"agi_network_script: {SECRET}/ivr".encode()] + [
        b"agi_" + k.encode() + b": " + v for k, v in values.items()
    ]
    env = read_environment(b"\n".join(lines) + b"\n\n")
    assert env is not None
    for key, raw in values.items():
        assert env[key] == raw.decode("utf-8", "replace")
        if all(c < 0x80 for c in raw) or _valid_utf8(raw):
            assert env[key].encode() == raw  # byte-exact
        else:
            assert "\ufffd" in env[key]  # visibly replaced


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def test_huge_or_endless_environments_are_refused_not_held() -> None:
    assert read_environment(b"agi_callerid: " + b"x" * 65536 + b"\n\n") is None  # one 64 KB line
    many = b"".join(b"agi_arg_%d: %s\n" % (n, b"y" * 1000) for n in range(1, 40))
    assert len(many) > MAX_ENV_BYTES and read_environment(many + b"\n") is None
    assert read_environment(b"agi_callerid: 1\n" * 1000 + b"\n") is None  # over MAX_ENV_LINES
    assert read_environment(b"agi_callerid: 1\n") is None  # ended before its blank line


@FAST
@given(st.lists(st.text(), max_size=8))
def test_parse_environment_takes_only_agi_lines(lines: list[str]) -> None:
    env = parse_environment(lines)
    assert all(any(line.startswith("agi_" + key) for line in lines) for key in env)
