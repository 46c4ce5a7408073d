"""A fake Asterisk FastAGI client for tests.

It connects to a real socket like Asterisk's ``AGI(agi://host:port/script,args)``, sends an
``agi_*`` environment, then answers each command line it receives with the next scripted reply,
recording every line. After the script is exhausted it keeps recording (and answers ``510``)
until the server closes the connection.

Also here: :func:`asterisk_parse_args`, a line-for-line Python port of ``parse_args`` from
Asterisk's ``res/res_agi.c``, and :func:`asterisk_separate_app_args`, a port of
``__ast_app_separate_args`` from ``main/app.c`` (the parser behind ``AST_STANDARD_APP_ARGS``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

USAGE_520 = (
    "520-Invalid command syntax.  Proper usage follows:\n"
    " Usage: GET DATA <file to be streamed> [timeout] [maxdigits]\n"
    "\tStream the given file, and receive DTMF data.\n"
    "\n"
    "520 End of proper usage.\n"
)
REPLY_511 = "511 Command Not Permitted on a dead channel or intercept routine\n"
REPLY_510 = "510 Invalid or unknown command\n"


def build_environment(
    script: str = "ivr",
    *,
    uniqueid: str = "1700000000.1",
    channel: str = "PJSIP/caller-00000001",
    callerid: str = "0791234567",
    calleridname: str = "Caller",
    args: Sequence[str] = (),
    host: str = "127.0.0.1",
    port: int = 4573,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The agi_ variables Asterisk 22 sends, in its order (names without the agi_ prefix)."""
    env = {
        "network": "yes",
        "network_script": script,
        "request": f"agi://{host}:{port}/{script}",
        "channel": channel,
        "language": "ar",
        "type": "PJSIP",
        "uniqueid": uniqueid,
        "version": "22.1.0",
        "callerid": callerid,
        "calleridname": calleridname,
        "callingpres": "0",
        "callingani2": "0",
        "callington": "0",
        "callingtns": "0",
        "dnid": "1000",
        "rdnis": "unknown",
        "context": "hotline",
        "extension": "1000",
        "priority": "3",
        "enhanced": "0.0",
        "accountcode": "",
        "threadid": "140000000000000",
    }
    for i, arg in enumerate(args, 1):
        env[f"arg_{i}"] = arg
    if extra:
        env.update(extra)
    return env


def environment_bytes(env: Mapping[str, str]) -> bytes:
    return ("".join(f"agi_{k}: {v}\n" for k, v in env.items()) + "\n").encode()


@dataclass
class FakeAsterisk:
    """``replies``: one reply per expected command, raw text (a missing final newline is added);
    it may start with ``HANGUP\\n`` to simulate the unsolicited hangup line."""

    port: int
    env: Mapping[str, str] = field(default_factory=build_environment)
    replies: Sequence[str] = ()
    host: str = "127.0.0.1"
    received: list[str] = field(default_factory=list)
    closed_by_server: bool = False

    async def run(self, timeout: float = 5.0) -> FakeAsterisk:
        """Connect, send the environment, answer commands until the server closes."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            async with asyncio.timeout(timeout):
                writer.write(environment_bytes(self.env))
                await writer.drain()
                pending = list(self.replies)
                while True:
                    raw = await reader.readline()
                    if not raw:
                        self.closed_by_server = True
                        return self
                    self.received.append(raw.decode("utf-8").removesuffix("\n"))
                    reply = pending.pop(0) if pending else REPLY_510
                    if not reply.endswith("\n"):
                        reply += "\n"
                    writer.write(reply.encode())
                    await writer.drain()
        finally:
            writer.close()


async def run_fake(port: int, replies: Iterable[str] = (), timeout: float = 5.0, **env_kwargs: object) -> FakeAsterisk:
    """Shortcut: one fake call with :func:`build_environment` (``env_kwargs``) and ``replies``."""
    env = build_environment(port=port, **env_kwargs)  # type: ignore[arg-type]
    return await FakeAsterisk(port=port, env=env, replies=list(replies)).run(timeout)


def asterisk_parse_args(line: bytes, max_args: int = 128) -> list[bytes]:
    """Port of ``parse_args()`` in Asterisk's res_agi.c (the command line without its newline)."""
    argv: list[bytearray] = []
    cur: bytearray | None = None
    quoted = escaped = False
    whitespace = True

    def start() -> bytearray:
        word = bytearray()
        argv.append(word)
        return word

    for ch in line:
        c = bytes([ch])
        if c == b"\x00":
            break  # a C string ends here
        if c == b'"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = start()
                whitespace = False
            escaped = False
            continue
        if c in (b" ", b"\t") and not quoted and not escaped:
            whitespace = True
            continue
        if c == b"\\" and not escaped:
            escaped = True
            continue
        # normal:
        if whitespace:
            if len(argv) >= max_args - 1:
                continue  # "Too many arguments, truncating"
            cur = start()
            whitespace = False
        assert cur is not None
        cur += c
        escaped = False
    return [bytes(a) for a in argv]


def asterisk_separate_app_args(
    data: str, delim: str = ",", remove_chars: bool = True, arraylen: int = 100
) -> list[str]:
    """Port of ``__ast_app_separate_args()`` in Asterisk's main/app.c."""
    buf = list(data)
    out: list[str] = []
    i = 0
    paren = bracket = 0
    quote = False
    wasdelim = -1
    argc = 0
    while i < len(buf) and argc < arraylen - 1:
        start = i
        while i < len(buf):
            c = buf[i]
            if c == "(":
                paren += 1
            elif c == ")":
                if paren:
                    paren -= 1
            elif c == "[":
                bracket += 1
            elif c == "]":
                if bracket:
                    bracket -= 1
            elif c == '"' and delim != '"':
                quote = not quote
                if remove_chars:
                    del buf[i]
                    i -= 1
            elif c == "\\":
                if remove_chars:
                    del buf[i]  # the next character is taken literally (skipped by i += 1)
                else:
                    i += 1
            elif c == delim and not paren and not quote and not bracket:
                wasdelim = i
                out.append("".join(buf[start:i]))
                i += 1
                break
            i += 1
        else:
            out.append("".join(buf[start:i]))
        argc += 1
    if i < len(buf) or (i > 0 and i - 1 == wasdelim):
        out.append("".join(buf[i:]))
    return out
