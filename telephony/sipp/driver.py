"""Drive SIPp callers and agent phones from asyncio.

Used by the end-to-end tests (against Asterisk 22 / PJSIP) and by ``hotline simulate``.
Everything is a child process started with :func:`asyncio.create_subprocess_exec`; no threads.

* :class:`AgentPhone` -- a SIPp UAS that answers every INVITE for ever, records each answered
  call (``HL ...`` lines written by ``<log>`` actions) and can REGISTER its Contact with digest
  auth through a separate short-lived SIPp UAC.
* :func:`place_call` -- one SIPp UAC call: INVITE, optional DTMF as SIP INFO
  (``application/dtmf-relay``), then hang up after a delay or wait for the remote BYE.
* :class:`RejectingPhone` -- a SIPp UAS answering every INVITE with a fixed error (486, 503...).
* Mid-call requests of an :class:`AgentPhone` (``during_call``): after each answer it can key
  DTMF (:class:`Dtmf`, SIP INFO: a transfer key and a short code) and send a REFER
  (:class:`Refer`, a softphone's transfer button); :meth:`AgentPhone.refer_outcomes` reports the
  REFER's response and the NOTIFYs' sipfrag statuses, :meth:`AgentPhone.dtmf_sent` the digits.
* :meth:`AgentPhone.dial` / :func:`place_authenticated_call` -- a phone dials an extension or
  feature code (``*41``...) as itself: INVITE from ``<sip:<name>@127.0.0.1>``, answering a
  401/407 digest challenge (``[authentication]``, credentials from an ``-inf`` file) with a
  second INVITE.

The scenarios are Jinja2 templates in ``telephony/sipp/scenarios/`` (package data), rendered by
:mod:`telephony.sipp.render` (one environment, XML attributes escaped, SIP text in CDATA written
with SIPp's ``\\xHH`` escapes). SIP passwords reach SIPp through an injection file (``-inf``, see
:mod:`telephony.sipp.injection`), never through its command line, where ``ps`` would show them.

SIPp specifics relied upon (checked with ``sipp -v``: SIPp v3.6.1-SCTP-PCAP-RTPSTREAM, Debian
package sip-tester):

* Each instance binds its SIP port (``-p``), two media ports (``-mp N`` binds N and N+2, fatal if
  in use) and a UDP control port (``-cp``; without it SIPp tries 8888..8947 only, so at most 60
  instances could run at once). :func:`allocate_ports` hands out a block of 4 consecutive free
  ports (media N, control N+1, media N+2, SIP N+3) in 20000-32767, i.e. outside Linux's ephemeral
  range and Asterisk's default RTP range 10000-20000; on a bind race SIPp exits at start-up and
  the process is simply restarted on a fresh block.
* ``-trace_logs -log_file`` (``<log>`` actions, one line each, flushed), ``-trace_msg
  -message_file`` (every SIP message), ``-trace_err -error_file``, ``-trace_screen
  -screen_file`` (final statistics). stdout is discarded (SIPp redraws its screen there every
  second), stderr goes to ``*.stderr`` in the work directory; ``-nostdin`` keeps SIPp off the
  terminal.
* ``<recv ... timeout="ms" ontimeout="label">`` is used as an interruptible pause (a BYE may
  arrive while a caller "waits" before the next DTMF digit), ``<gettimeofday>`` for epoch times.
* ``-aa`` makes SIPp answer in-dialog INFO/NOTIFY/OPTIONS/UPDATE it does not expect with 200.
* SIPp exit codes: 0 all calls succeeded, 1 some failed, 97 stopped by a command/``-timeout``,
  99 no call processed, 253/254/255 fatal (254: cannot bind).  The results here are derived from
  the ``HL`` log lines, not from the exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telephony.sipp.injection import credentials_file
from telephony.sipp.render import (
    LOCAL_HOST,
    ScenarioError,
    checked_extension,
    checked_host,
    checked_port,
    checked_refer_target,
    checked_user,
    extension_uri_user,
    render_agent_scenario,
    render_call_scenario,
    render_dial_scenario,
    render_register_scenario,
    render_reject_scenario,
    sip_display_name,
)

__all__ = [
    "AgentPhone",
    "AnsweredCall",
    "CallResult",
    "Dtmf",
    "PortBlock",
    "Refer",
    "ReferOutcome",
    "RegistrationError",
    "RejectingPhone",
    "ScenarioError",
    "SippError",
    "allocate_ports",
    "checked_extension",
    "extension_uri_user",
    "free_udp_port",
    "parse_from_header",
    "place_authenticated_call",
    "place_call",
    "render_agent_scenario",
    "render_call_scenario",
    "render_dial_scenario",
    "sip_display_name",
    "sipp_command",
    "sipp_version",
]

SIPP_BINARY = "sipp"
"""The SIPp executable looked up on PATH (Debian: /usr/bin/sipp from sip-tester)."""

PORT_RANGE = (20000, 32764)
"""Where :func:`allocate_ports` looks for free ports (below Linux's ephemeral range)."""

_BIND_FAILURE = re.compile(r"Unable to bind|Address already in use", re.IGNORECASE)

_START_TIMEOUT = 5.0
_STOP_GRACE = 3.0
_BIND_RETRIES = 6


class SippError(RuntimeError):
    """SIPp could not be started or did not behave as expected."""


class RegistrationError(SippError):
    """REGISTER did not end with 200 OK."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class AnsweredCall:
    """One call an :class:`AgentPhone` answered (200 OK sent and ACK received)."""

    at: float
    """Epoch seconds when the ACK arrived."""
    call_id: str
    from_header: str
    """The INVITE's From header value, e.g. ``"محمد" <sip:1001@127.0.0.1>;tag=...``."""
    caller_number: str
    """User part of the From URI."""
    caller_name: str | None
    """Display name of the From header, unquoted and decoded (UTF-8), or None."""
    to_header: str = ""
    ended_at: float | None = None
    """Epoch seconds when the call ended (BYE either way), None while it lasts."""
    ended_by: str | None = None
    """``"remote"`` (BYE received), ``"local"`` (talk_seconds elapsed) or None."""


@dataclass(frozen=True)
class CallResult:
    """Outcome of :func:`place_call`."""

    answered: bool
    final_status: int | None
    """Final response to the INVITE (200, 486, 503...), None when there was none."""
    remote_hung_up: bool
    duration: float
    """Seconds from sending the INVITE to the end of the call (0.0 if SIPp never got going)."""
    started_at: float
    """Epoch seconds when the INVITE was sent (or the process started, if it was not)."""
    call_id: str | None
    answered_at: float | None = None
    ended_at: float | None = None
    dtmf_sent: int = 0
    """How many INFO digits got a 200 OK."""
    exit_code: int | None = None
    error: str | None = None
    """Why the call did not go as planned, None when it did."""
    message_trace: Path | None = None
    """SIPp's ``-message_file``: every SIP message sent and received, for debugging."""
    log_file: Path | None = None
    challenged: int | None = None
    """401 or 407 when the first INVITE was challenged and re-sent with credentials
    (:func:`place_authenticated_call`), None otherwise."""

    @property
    def talk_duration(self) -> float:
        """Seconds between the 200 OK and the end of the call (0.0 if never answered)."""
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.answered_at)


@dataclass(frozen=True)
class Dtmf:
    """Mid-call: key ``digits`` (SIP INFO, one per digit ``gap`` apart) ``after`` seconds after the
    previous step (the answer, for the first step)."""

    digits: str
    after: float = 1.0

    def step(self) -> tuple[str, float, str]:
        return ("dtmf", self.after, self.digits)


@dataclass(frozen=True)
class Refer:
    """Mid-call: send REFER with ``Refer-To: <target>`` (a ``sip:`` URI) ``after`` seconds after the
    previous step, then wait for its NOTIFYs (until the subscription is terminated)."""

    target: str
    after: float = 1.0

    def __post_init__(self) -> None:
        checked_refer_target(self.target)

    def step(self) -> tuple[str, float, str]:
        return ("refer", self.after, self.target)


@dataclass(frozen=True)
class ReferOutcome:
    """What became of one REFER an :class:`AgentPhone` sent in one call."""

    call_id: str
    target: str
    status: int | None
    """The REFER's final response (202 accepted, 404 no such target, 603 declined...), None: none came."""
    notifies: tuple[int, ...] = ()
    """The sipfrag status of each NOTIFY received (100 Trying, then 200 or an error)."""

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202)

    @property
    def result(self) -> int | None:
        """The transfer's outcome as NOTIFYed last (200: the target answered), None without a NOTIFY."""
        return self.notifies[-1] if self.notifies else None


@dataclass(frozen=True)
class PortBlock:
    """Four consecutive local UDP ports reserved for one SIPp instance."""

    base: int

    @property
    def media(self) -> int:
        """``-mp``: SIPp binds this port and ``media + 2``."""
        return self.base

    @property
    def control(self) -> int:
        """``-cp``: SIPp's remote-control socket."""
        return self.base + 1

    @property
    def sip(self) -> int:
        """A SIP port for a UAC that does not need a particular one."""
        return self.base + 3


# --------------------------------------------------------------------------- ports


def _udp_port_is_free(port: int, host: str = LOCAL_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # SIPp's control socket binds 0.0.0.0 unless -ci is given; check the wildcard too.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def allocate_ports(count: int = 4, *, host: str = LOCAL_HOST, rng: random.Random | None = None) -> int:
    """Return the first of ``count`` consecutive UDP ports that are free right now.

    Ports are probed at random in :data:`PORT_RANGE`, so concurrent callers rarely pick the
    same block; a collision that still happens shows up as a SIPp bind failure at start-up,
    which the runners here retry on a new block.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    chooser = rng or random.SystemRandom()
    low, high = PORT_RANGE
    for _ in range(500):
        base = chooser.randrange(low, high - count)
        if all(_udp_port_is_free(base + offset, host) for offset in range(count)):
            return base
    raise SippError(f"no {count} consecutive free UDP ports in {low}-{high}")


def free_udp_port(host: str = LOCAL_HOST) -> int:
    """A free local UDP port (e.g. for an :class:`AgentPhone`'s ``local_port``)."""
    return allocate_ports(1, host=host)


def _allocate_block() -> PortBlock:
    return PortBlock(allocate_ports(4))


def _udp_ports_bound() -> set[int] | None:
    """Local UDP ports with a bound socket, from /proc (None where /proc is unavailable)."""
    ports: set[int] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            if table.endswith("udp"):
                return None
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 1 and ":" in fields[1]:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


# --------------------------------------------------------------------------- processes


def sipp_command(
    scenario: Path,
    *,
    block: PortBlock,
    sip_port: int,
    prefix: Path,
    remote: tuple[str, int] | None = None,
    calls: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The SIPp command line shared by every instance started here.

    Files written: ``<prefix>.log`` (``HL`` lines), ``<prefix>.messages``, ``<prefix>.errors``,
    ``<prefix>.screen``.
    """
    cmd = [SIPP_BINARY]
    if remote is not None:
        cmd.append(f"{remote[0]}:{remote[1]}")
    cmd += [
        "-sf",
        str(scenario),
        "-i",
        LOCAL_HOST,
        "-p",
        str(sip_port),
        "-mi",
        LOCAL_HOST,
        "-mp",
        str(block.media),
        "-ci",
        LOCAL_HOST,
        "-cp",
        str(block.control),
        "-t",
        "u1",
        "-nostdin",
        "-aa",
        "-trace_logs",
        "-log_file",
        f"{prefix}.log",
        "-trace_msg",
        "-message_file",
        f"{prefix}.messages",
        "-trace_err",
        "-error_file",
        f"{prefix}.errors",
        "-trace_screen",
        "-screen_file",
        f"{prefix}.screen",
    ]
    if calls is not None:
        cmd += ["-m", str(calls), "-l", str(calls)]
    cmd += list(extra)
    return cmd


class _SippRun:
    """One SIPp child process: start (retrying port races), wait, stop."""

    def __init__(self, cmd: list[str], *, prefix: Path, watch_port: int | None) -> None:
        self.cmd = cmd
        self.prefix = prefix
        self.watch_port = watch_port
        self.process: asyncio.subprocess.Process | None = None

    @property
    def stderr_path(self) -> Path:
        return Path(f"{self.prefix}.stderr")

    async def spawn(self) -> None:
        for suffix in (".log", ".messages", ".errors", ".screen"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.prefix}{suffix}").unlink()
        with open(self.stderr_path, "wb") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                *self.cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C for the CLI is not delivered to SIPp directly
            )

    async def wait_bound(self, timeout: float = _START_TIMEOUT) -> None:
        """Wait until SIPp has bound ``watch_port``; raise SippError if it exits first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.returncode is not None:
                raise SippError(self.failure_text())
            bound = _udp_ports_bound()
            if bound is None or self.watch_port is None or self.watch_port in bound:
                if bound is None:
                    await asyncio.sleep(0.3)
                    if self.process.returncode is not None:
                        raise SippError(self.failure_text())
                return
            if time.monotonic() > deadline:
                await self.stop()
                raise SippError(f"SIPp did not bind port {self.watch_port} within {timeout}s: " + self.failure_text())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 0.05)

    def failure_text(self) -> str:
        code = self.process.returncode if self.process else None
        text = ""
        for path in (self.stderr_path, Path(f"{self.prefix}.errors")):
            with contextlib.suppress(OSError):
                text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                break
        lines = [line.split(": ", 1)[-1] for line in text.splitlines() if line.strip()]
        detail = "; ".join(dict.fromkeys(lines[-3:])) or "no error output"
        return f"sipp exited with code {code}: {detail} (files {self.prefix}.*)"

    def bind_failed(self) -> bool:
        with contextlib.suppress(OSError):
            return bool(_BIND_FAILURE.search(self.stderr_path.read_text(errors="replace")))
        return False

    async def wait(self, timeout: float) -> int | None:
        """Wait for the process to exit; stop it after ``timeout`` seconds. Returns the exit code."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.stop()
            return None

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; always reaps the child."""
        process = self.process
        if process is None or process.returncode is not None:
            if process is not None:
                await process.wait()
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                await asyncio.wait_for(process.wait(), _STOP_GRACE)
                return
            except TimeoutError:
                continue
        await process.wait()


async def _run_with_port_retries(make: _RunFactory, *, timeout: float) -> tuple[_SippRun, int | None]:
    """Run a SIPp UAC to completion, retrying on a fresh port block when it could not bind."""
    run: _SippRun | None = None
    for _ in range(_BIND_RETRIES):
        run = make(_allocate_block())
        await run.spawn()
        try:
            code = await run.wait(timeout)
        except asyncio.CancelledError:
            await run.stop()
            raise
        if code not in (0, None) and run.bind_failed():
            continue
        return run, code
    assert run is not None
    raise SippError("could not find free ports for SIPp: " + run.failure_text())


class _RunFactory:
    """Builds a :class:`_SippRun` for a given port block (for the retry loop)."""

    def __init__(
        self, scenario: Path, prefix: Path, *, remote: tuple[str, int], local_port: int | None, extra: Sequence[str]
    ) -> None:
        self.scenario = scenario
        self.prefix = prefix
        self.remote = remote
        self.local_port = local_port
        self.extra = list(extra)

    def __call__(self, block: PortBlock) -> _SippRun:
        sip_port = self.local_port or block.sip
        cmd = sipp_command(
            self.scenario,
            block=block,
            sip_port=sip_port,
            prefix=self.prefix,
            remote=self.remote,
            calls=1,
            extra=self.extra,
        )
        return _SippRun(cmd, prefix=self.prefix, watch_port=None)


# --------------------------------------------------------------------------- log parsing


def _read_log_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return [line for line in data.decode("utf-8", errors="replace").splitlines() if line.startswith("HL ")]


def _epoch(sec: str, usec: str) -> float:
    try:
        return float(sec) + float(usec) / 1_000_000
    except ValueError:
        return 0.0


def parse_from_header(value: str) -> tuple[str | None, str]:
    """Split a From header value into (display name or None, user part of the URI)."""
    value = value.strip()
    name: str | None = None
    rest = value
    if value.startswith('"'):
        chars: list[str] = []
        index = 1
        while index < len(value):
            char = value[index]
            if char == "\\" and index + 1 < len(value):
                chars.append(value[index + 1])
                index += 2
                continue
            if char == '"':
                break
            chars.append(char)
            index += 1
        name = "".join(chars)
        rest = value[index + 1 :]
    elif "<" in value:
        token = value.split("<", 1)[0].strip()
        name = token or None
    match = re.search(r"<?\s*sips?:([^@;>\s]+)@", rest)
    number = match.group(1) if match else ""
    return name, number


# --------------------------------------------------------------------------- callers


async def place_call(
    target_host: str,
    target_port: int,
    *,
    number: str = "151",
    caller_number: str,
    caller_name: str | None = None,
    dtmf: Sequence[tuple[float, str]] = (),
    hangup_after: float | None = None,
    max_duration: float = 60,
    answer_timeout: float = 30,
    workdir: Path,
    local_port: int | None = None,
    tag: str | None = None,
    audio: Path | None = None,
) -> CallResult:
    """Place one call with SIPp and report how it went (``audio``: a PCMU WAV the caller sends as RTP).

    INVITE ``sip:<number>@<target_host>:<target_port>`` from ``"<caller_name>"
    <sip:<caller_number>@127.0.0.1>``; 100/180/181/182/183 are accepted in any order, a final
    error (3xx-6xx) yields ``answered=False`` with ``final_status``. After the 200 OK and ACK,
    each ``(delay, digit)`` waits ``delay`` seconds and sends the digit as SIP INFO
    (``application/dtmf-relay``, ``Signal=<digit>``, ``Duration=160``), expecting 200. Then the
    caller hangs up after ``hangup_after`` seconds, or (None) waits for the remote BYE and
    answers it with 200; after ``max_duration`` seconds in the call (DTMF waits included) it
    hangs up itself. A BYE from the other side is honoured at any point.

    Nothing waits for ever: ``answer_timeout`` bounds each wait for a response to the INVITE
    (then the INVITE is CANCELled, or given up if nothing at all came back), and the SIPp
    process is killed if it outlives all scenario timeouts. Never raises for call outcomes;
    raises :class:`SippError` only when SIPp cannot be run at all.

    ``workdir`` receives the rendered scenario and SIPp's files, named ``call-<tag>.*``
    (``tag`` defaults to something unique). ``local_port`` fixes the caller's SIP port
    (otherwise a free one is chosen).
    """
    if local_port is not None:
        checked_port(local_port, "local_port")
    text = render_call_scenario(
        target_host=target_host,
        target_port=target_port,
        number=number,
        caller_number=caller_number,
        caller_name=caller_name,
        dtmf=dtmf,
        hangup_after=hangup_after,
        max_duration=max_duration,
        answer_timeout=answer_timeout,
        audio=None if audio is None else str(audio),
    )
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tag = tag or f"{caller_number}-{os.getpid()}-{time.monotonic_ns()}-{random.randrange(1 << 30)}"
    tag = re.sub(r"[^A-Za-z0-9._-]", "_", tag)
    prefix = workdir / f"call-{tag}"
    scenario = Path(f"{prefix}.xml")
    scenario.write_text(text, encoding="utf-8")
    # Every scenario wait is bounded; this is the last resort if SIPp itself misbehaves.
    dtmf_time = sum(max(0.0, delay) + 8.0 for delay, _ in dtmf)
    call_time = hangup_after if hangup_after is not None else max_duration
    watchdog = 2 * answer_timeout + dtmf_time + call_time + 30.0

    process_started = time.time()
    factory = _RunFactory(scenario, prefix, remote=(target_host, int(target_port)), local_port=local_port, extra=[])
    run, code = await _run_with_port_retries(factory, timeout=watchdog)
    return _call_result(prefix, code, process_started, run, killed=code is None, watchdog=watchdog)


async def place_authenticated_call(
    target_host: str,
    target_port: int,
    *,
    extension: str,
    user: str,
    password: str,
    hangup_after: float | None = None,
    max_duration: float = 30,
    answer_timeout: float = 10,
    workdir: Path,
    local_port: int | None = None,
    tag: str | None = None,
) -> CallResult:
    """Dial ``extension`` (e.g. the feature code ``*41``) as the SIP user ``user``.

    INVITE ``sip:<extension>@<target_host>:<target_port>`` from ``<sip:<user>@127.0.0.1>``.
    If it is challenged with 401 (``WWW-Authenticate``) or 407 (``Proxy-Authenticate``), the
    challenge is ACKed and the INVITE re-sent (same Call-ID and From tag, CSeq 2, new branch)
    with an MD5 digest ``Authorization`` / ``Proxy-Authorization`` for ``user``/``password``
    (realm, nonce and qop taken from the challenge; digest URI = the Request-URI). Without a
    challenge the first INVITE just proceeds. A second 401/407 is final (``answered=False``,
    ``final_status`` 401/407); other errors (403...) are final as with :func:`place_call`.

    Once answered the call waits for the remote BYE (answered with 200) -- Asterisk plays its
    confirmation prompt and hangs up -- or hangs up itself after ``hangup_after`` seconds, or
    after ``max_duration`` seconds at the latest (``error`` then says so). ``answer_timeout``
    bounds each wait for a response to an INVITE (then it is CANCELled / given up).

    ``extension`` may hold digits, ``*``, ``#``, letters, ``-`` and ``_`` (ValueError otherwise,
    before SIPp runs); ``#`` goes on the wire as ``%23``. ``local_port`` is the SIP port this
    short-lived SIPp UAC binds (by default a fresh free one). The user name and password reach
    SIPp through a private injection file (``-inf``, mode 0600, removed when SIPp is done): never
    its command line, the scenario file or ``workdir``. Returns a :class:`CallResult`
    (``challenged`` tells whether credentials were needed); never raises for call outcomes,
    :class:`SippError` only when SIPp cannot be run.
    """
    # Validate everything before touching the disk or starting SIPp.
    checked_extension(extension)
    checked_user(user, "user")
    credentials = credentials_file(user, password)  # validates; the file is made on entry
    if answer_timeout <= 0 or max_duration <= 0:
        raise ValueError("answer_timeout and max_duration must be positive")
    if local_port is not None:
        checked_port(local_port, "local_port")
    text = render_dial_scenario(
        target_host=target_host,
        target_port=target_port,
        extension=extension,
        user=user,
        hangup_after=hangup_after,
        max_duration=max_duration,
        answer_timeout=answer_timeout,
    )

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    safe_exten = extension.replace("*", "s").replace("#", "h")
    tag = tag or f"{user}-{safe_exten}-{os.getpid()}-{time.monotonic_ns()}-{random.randrange(1 << 30)}"
    tag = re.sub(r"[^A-Za-z0-9._-]", "_", tag)
    scenario = workdir / f"dial-{tag}.xml"
    scenario.write_text(text, encoding="utf-8")
    prefix = workdir / f"dial-{tag}"
    # SIPp's default digest URI is sip:<remote host>:<port>; RFC 3261 wants the Request-URI.
    # SIPp puts "sip:" in front of -auth_uri itself.
    auth_uri = f"{extension_uri_user(extension)}@{target_host}:{int(target_port)}"
    call_time = hangup_after if hangup_after is not None else max_duration
    watchdog = 4 * answer_timeout + call_time + 30.0

    process_started = time.time()
    with credentials as injection:
        factory = _RunFactory(
            scenario,
            prefix,
            remote=(target_host, int(target_port)),
            local_port=local_port,
            extra=["-inf", str(injection), "-auth_uri", auth_uri],
        )
        run, code = await _run_with_port_retries(factory, timeout=watchdog)
    return _call_result(prefix, code, process_started, run, killed=code is None, watchdog=watchdog)


def _call_result(
    prefix: Path, code: int | None, process_started: float, run: _SippRun, *, killed: bool, watchdog: float
) -> CallResult:
    log_path = Path(f"{prefix}.log")
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    call_id: str | None = None
    final_status: int | None = None
    remote_bye = local_bye = max_duration = False
    no_answer: str | None = None
    dtmf_ok = 0
    dtmf_rejected: list[str] = []
    challenged: int | None = None
    for line in _read_log_lines(log_path):
        fields = line.split()
        event = fields[1] if len(fields) > 1 else ""
        if event == "START" and len(fields) >= 5:
            started_at, call_id = _epoch(fields[2], fields[3]), fields[4]
        elif event == "FINAL" and len(fields) >= 3 and fields[2].isdigit():
            final_status = int(fields[2])
        elif event == "ANSWERED" and len(fields) >= 4:
            answered_at = _epoch(fields[2], fields[3])
        elif event == "REMOTE_BYE":
            remote_bye = True
        elif event == "LOCAL_BYE":
            local_bye = True
        elif event == "MAX_DURATION":
            max_duration = True
        elif event == "NO_ANSWER":
            no_answer = fields[2] if len(fields) > 2 else "timeout"
        elif event == "DTMF_OK":
            dtmf_ok += 1
        elif event == "CHALLENGED" and len(fields) >= 3 and fields[2].isdigit():
            challenged = int(fields[2])
        elif event == "DTMF_REJECTED":
            dtmf_rejected.append(" ".join(fields[2:]))
        elif event == "END" and len(fields) >= 4:
            ended_at = _epoch(fields[2], fields[3])

    answered = final_status == 200 or answered_at is not None
    error: str | None = None
    if killed:
        error = f"SIPp did not finish within {watchdog:g}s and was killed"
    elif started_at is None:
        error = run.failure_text()
    elif no_answer == "no-response":
        error = "no response to the INVITE"
    elif no_answer is not None:
        error = "not answered in time, INVITE cancelled"
    elif final_status is None:
        error = "no final response to the INVITE: " + run.failure_text()
    elif not answered and challenged is not None and final_status in (401, 407):
        error = f"INVITE rejected with {final_status}: the credentials were not accepted"
    elif not answered:
        error = f"INVITE rejected with {final_status}"
    elif max_duration:
        error = "max_duration reached, hung up locally"
    elif ended_at is None:
        error = "call did not end cleanly: " + run.failure_text()
    if answered and dtmf_rejected and error is None:
        error = "DTMF rejected: " + ", ".join(dtmf_rejected)
    begin = started_at or process_started
    end = ended_at or (time.time() if started_at is None else begin)
    return CallResult(
        answered=answered,
        final_status=final_status,
        remote_hung_up=remote_bye and not local_bye,
        duration=max(0.0, end - begin) if started_at is not None else 0.0,
        started_at=begin,
        call_id=call_id,
        answered_at=answered_at,
        ended_at=ended_at,
        dtmf_sent=dtmf_ok,
        exit_code=code,
        error=error,
        message_trace=Path(f"{prefix}.messages"),
        log_file=log_path,
        challenged=challenged,
    )


# --------------------------------------------------------------------------- phones


class _UasPhone:
    """Common lifecycle of a long-running SIPp UAS bound to 127.0.0.1:local_port."""

    kind = "uas"

    def __init__(self, name: str, *, local_port: int, workdir: Path) -> None:
        self.name = checked_user(name, "name")
        self.local_port = checked_port(local_port, "local_port")
        self.workdir = Path(workdir)
        self._run: _SippRun | None = None

    @property
    def prefix(self) -> Path:
        """Path prefix of this phone's files (``.xml``, ``.log``, ``.messages``, ...)."""
        return self.workdir / f"{self.kind}-{self.name}-{self.local_port}"

    @property
    def log_file(self) -> Path:
        return Path(f"{self.prefix}.log")

    @property
    def message_trace(self) -> Path:
        """SIPp's ``-message_file``: every SIP message this phone sent or received."""
        return Path(f"{self.prefix}.messages")

    @property
    def running(self) -> bool:
        return bool(self._run and self._run.process and self._run.process.returncode is None)

    def _render(self) -> str:
        raise NotImplementedError

    async def start(self) -> None:
        """Start the UAS and return once it listens on 127.0.0.1:local_port.

        Raises :class:`SippError` if SIPp exits (e.g. local_port is taken).
        """
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = Path(f"{self.prefix}.xml")
        scenario.write_text(self._render(), encoding="utf-8")
        last_error: SippError | None = None
        for _ in range(_BIND_RETRIES):
            block = _allocate_block()
            cmd = sipp_command(scenario, block=block, sip_port=self.local_port, prefix=self.prefix)
            run = _SippRun(cmd, prefix=self.prefix, watch_port=block.control)
            await run.spawn()
            try:
                await run.wait_bound()
            except SippError as exc:
                await run.stop()
                last_error = exc
                if run.bind_failed() and _udp_port_is_free(self.local_port):
                    continue  # a media/control port race: try another block
                raise
            except asyncio.CancelledError:
                await run.stop()
                raise
            self._run = run
            return
        raise last_error or SippError("could not start SIPp")

    async def stop(self) -> None:
        """Stop the UAS (SIGTERM, then SIGKILL) and reap it. Safe to call twice."""
        if self._run is not None:
            await self._run.stop()

    async def __aenter__(self) -> _UasPhone:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class AgentPhone(_UasPhone):
    """An agent's / doctor's phone: a SIPp UAS that answers every call, plus REGISTER.

    >>> phone = AgentPhone("doc-ar-paed-1", "secret", registrar=("127.0.0.1", 5060),
    ...                    local_port=free_udp_port(), workdir=Path("/tmp/sim"))
    >>> await phone.start(); await phone.register()     # doctest: +SKIP
    """

    kind = "agent"

    def __init__(
        self,
        name: str,
        password: str,
        *,
        registrar: tuple[str, int] = (LOCAL_HOST, 5060),
        local_port: int,
        ring_seconds: float = 0.5,
        talk_seconds: float | None = None,
        during_call: Sequence[Dtmf | Refer] = (),
        workdir: Path,
    ) -> None:
        super().__init__(name, local_port=local_port, workdir=workdir)
        credentials_file(self.name, password)  # refuses what SIPp could not read back, now
        self.password = password
        self.registrar = (checked_host(registrar[0], "registrar host"), checked_port(registrar[1], "registrar port"))
        self.ring_seconds = ring_seconds
        self.talk_seconds = talk_seconds
        self.during_call: tuple[Dtmf | Refer, ...] = ()
        self._set_during_call(during_call, talk_seconds)
        self._registrations = 0
        self._dials = 0

    def _set_during_call(self, actions: Sequence[Dtmf | Refer], talk_seconds: float | None) -> None:
        self.during_call = tuple(actions)
        self.talk_seconds = talk_seconds
        self._render()  # refuses bad digits or a bad Refer-To now, not when SIPp starts

    def _render(self) -> str:
        return render_agent_scenario(
            user=self.name,
            ring_seconds=self.ring_seconds,
            talk_seconds=self.talk_seconds,
            actions=[action.step() for action in self.during_call],
        )

    async def behave(self, during_call: Sequence[Dtmf | Refer], *, talk_seconds: float | None = None) -> None:
        """From the next answered call on, do ``during_call`` after the answer, then hang up after
        ``talk_seconds`` (None: wait for the other side's BYE).

        The SIPp UAS is restarted on the same port (its registration stays valid): calls in
        progress on this phone are cut, so call this between calls. What it logged so far is kept.
        """
        self._set_during_call(during_call, talk_seconds)
        if self.running:
            await self.stop()
            for suffix in (".log", ".messages"):
                current = Path(f"{self.prefix}{suffix}")
                if current.exists():
                    with open(f"{self.prefix}{suffix}.before", "ab") as handle:
                        handle.write(current.read_bytes())
            await self.start()

    def _log_lines(self) -> list[str]:
        return _read_log_lines(Path(f"{self.prefix}.log.before")) + _read_log_lines(self.log_file)

    def dtmf_sent(self, call_id: str | None = None) -> list[str]:
        """The digits the other side accepted (200 to the INFO), in order; of one call when ``call_id`` is given."""
        digits = []
        for line in self._log_lines():
            fields = line.split()
            if len(fields) >= 5 and fields[1] == "DTMF_OK" and call_id in (None, fields[2]):
                digits.append(fields[4])
        return digits

    def _notified(self) -> dict[str, list[int]]:
        """Call-ID -> the sipfrag statuses of the ``Event: refer`` NOTIFYs received, in order (from the
        message trace: SIPp's -aa answers them whenever they come)."""
        text = ""
        for path in (Path(f"{self.prefix}.messages.before"), self.message_trace):
            with contextlib.suppress(OSError):
                text += path.read_text(encoding="utf-8", errors="replace")
        found: dict[str, list[int]] = {}
        for block in re.split(r"\n-{20,}[^\n]*\n", text):
            message = block.split("message received", 1)
            if len(message) < 2:
                continue
            lines = message[1].split("\n", 1)[-1].lstrip("\r\n").replace("\r\n", "\n")
            head, _, body = lines.partition("\n\n")
            if not head.startswith("NOTIFY ") or not re.search(r"^Event:\s*refer", head, re.MULTILINE | re.IGNORECASE):
                continue
            call = re.search(r"^(?:Call-ID|i):\s*(\S+)", head, re.MULTILINE | re.IGNORECASE)
            frag = re.match(r"\s*SIP/2\.0 (\d{3})", body)
            if call and frag:
                found.setdefault(call.group(1), []).append(int(frag.group(1)))
        return found

    def refer_outcomes(self) -> list[ReferOutcome]:
        """Every REFER sent so far (oldest first): its response and the statuses NOTIFYed for it."""
        found: dict[tuple[str, int], dict[str, object]] = {}
        for line in self._log_lines():
            fields = line.split()
            if len(fields) < 4 or fields[1] not in ("REFER_SENT", "REFER_FINAL") or not fields[3].isdigit():
                continue
            entry = found.setdefault((fields[2], int(fields[3])), {"status": None, "target": ""})
            value = fields[4] if len(fields) > 4 else ""
            if fields[1] == "REFER_SENT":
                entry["target"] = value
            else:
                entry["status"] = int(value) if value.isdigit() else None
        notified = self._notified()
        outcomes = []
        for (call_id, _step), entry in found.items():
            status = entry["status"]
            # the NOTIFYs belong to the call's accepted REFER (a call has at most one: the transfer ends it)
            notifies = tuple(notified.get(call_id, ())) if status in (200, 202) else ()
            outcomes.append(ReferOutcome(call_id, str(entry["target"]), status, notifies))  # type: ignore[arg-type]
        return outcomes

    async def register(self, expires: int = 3600, *, timeout: float = 5.0) -> str:
        """REGISTER ``sip:<name>@<registrar>`` with Contact ``sip:<name>@127.0.0.1:<local_port>``.

        Runs a separate short SIPp UAC from another local port; digest auth (401 or 407) uses
        this phone's name and password, handed to SIPp in a private injection file (``-inf``),
        never on its command line. Returns the Contact header of the 200 OK (may be empty).
        Raises :class:`RegistrationError` unless the registrar answers 200.
        """
        host, port = self.registrar
        text = render_register_scenario(
            user=self.name, registrar=self.registrar, contact_port=self.local_port, expires=expires, timeout=timeout
        )
        credentials = credentials_file(self.name, self.password)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._registrations += 1
        action = "register" if expires else "unregister"
        prefix = self.workdir / f"{action}-{self.name}-{self.local_port}-{self._registrations}"
        scenario = Path(f"{prefix}.xml")
        scenario.write_text(text, encoding="utf-8")
        with credentials as injection:
            factory = _RunFactory(
                scenario,
                prefix,
                remote=self.registrar,
                local_port=None,
                extra=[
                    "-inf",
                    str(injection),
                    "-auth_uri",
                    f"{host}:{port}",  # SIPp adds "sip:" itself
                ],
            )
            run, code = await _run_with_port_retries(factory, timeout=4 * timeout + 10)
        status: int | None = None
        contact: str | None = None
        timed_out = False
        for line in _read_log_lines(Path(f"{prefix}.log")):
            fields = line.split(" ", 2)
            if len(fields) >= 3 and fields[1] == "FINAL" and fields[2].strip().isdigit():
                status = int(fields[2])
            elif len(fields) >= 2 and fields[1] == "REGISTERED":
                contact = fields[2] if len(fields) > 2 else ""
            elif len(fields) >= 2 and fields[1] == "TIMEOUT":
                timed_out = True
        if status == 200:
            return contact or ""
        if timed_out:
            reason = f"no answer from the registrar {host}:{port} within {timeout:g}s"
        elif status is not None:
            reason = f"the registrar answered {status}"
        else:
            reason = run.failure_text() if code is not None else "SIPp was killed"
        raise RegistrationError(
            f"{action} of {self.name} at {host}:{port} failed: {reason} (messages: {prefix}.messages)", status=status
        )

    async def unregister(self, *, timeout: float = 5.0) -> None:
        """Remove the registration (REGISTER with ``Expires: 0``)."""
        await self.register(expires=0, timeout=timeout)

    async def dial(
        self,
        extension: str,
        *,
        hangup_after: float | None = None,
        max_duration: float = 30,
        answer_timeout: float = 10,
    ) -> CallResult:
        """Dial ``extension`` (a feature code such as ``*41``) from this phone, to its registrar.

        The INVITE comes from ``<sip:<name>@127.0.0.1>`` and a 401/407 digest challenge is
        answered with this phone's name and password; see :func:`place_authenticated_call`.
        A separate short-lived SIPp UAC on another local port places the call, so the phone's
        UAS (if started) keeps answering calls meanwhile. Files go to ``workdir`` as
        ``dial-<name>-<local_port>-<n>-<extension>.*`` (``*`` -> ``s``, ``#`` -> ``h``).
        """
        checked_extension(extension)
        self._dials += 1
        safe_exten = extension.replace("*", "s").replace("#", "h")
        host, port = self.registrar
        return await place_authenticated_call(
            host,
            port,
            extension=extension,
            user=self.name,
            password=self.password,
            hangup_after=hangup_after,
            max_duration=max_duration,
            answer_timeout=answer_timeout,
            workdir=self.workdir,
            tag=f"{self.name}-{self.local_port}-{self._dials}-{safe_exten}",
        )

    def answered_calls(self) -> list[AnsweredCall]:
        """Calls answered so far (ACK received), oldest first. Reads the phone's log file."""
        invites: dict[str, dict[str, str]] = {}
        answered: dict[str, float] = {}
        ended: dict[str, tuple[float, str]] = {}
        for line in self._log_lines():
            fields = line.split(" ", 3)
            if len(fields) < 3:
                continue
            event, call_id = fields[1], fields[2]
            rest = fields[3] if len(fields) > 3 else ""
            if event in ("FROM", "TO"):
                invites.setdefault(call_id, {})[event] = rest.strip()
            elif event == "ANSWERED":
                sec, _, usec = rest.partition(" ")
                answered.setdefault(call_id, _epoch(sec, usec))
            elif event == "ENDED":
                parts = rest.split()
                if len(parts) >= 3:
                    ended[call_id] = (_epoch(parts[0], parts[1]), parts[2])
        calls = []
        for call_id, at in answered.items():
            headers = invites.get(call_id, {})
            from_header = headers.get("FROM", "")
            name, number = parse_from_header(from_header)
            end = ended.get(call_id)
            calls.append(
                AnsweredCall(
                    at=at,
                    call_id=call_id,
                    from_header=from_header,
                    caller_number=number,
                    caller_name=name,
                    to_header=headers.get("TO", ""),
                    ended_at=end[0] if end else None,
                    ended_by=end[1] if end else None,
                )
            )
        return sorted(calls, key=lambda call: call.at)


class RejectingPhone(_UasPhone):
    """A SIPp UAS that answers every INVITE with ``status`` (e.g. 486 Busy Here)."""

    kind = "reject"

    def __init__(
        self, *, status: int = 486, reason: str = "Busy Here", local_port: int, workdir: Path, name: str = "busy"
    ) -> None:
        super().__init__(name, local_port=local_port, workdir=workdir)
        render_reject_scenario(status=status, reason=reason)  # refuses a bad status or reason now
        self.status = status
        self.reason = reason

    def _render(self) -> str:
        return render_reject_scenario(status=self.status, reason=self.reason)

    def rejected_call_ids(self) -> list[str]:
        """Call-IDs of the INVITEs rejected so far (ACK received)."""
        return [
            line.split()[2]
            for line in _read_log_lines(self.log_file)
            if line.split()[1:2] == ["REJECTED"] and len(line.split()) > 2
        ]


async def sipp_version() -> str:
    """The first line of ``sipp -v`` (e.g. ``SIPp v3.6.1-SCTP-PCAP-RTPSTREAM.``)."""
    process = await asyncio.create_subprocess_exec(
        SIPP_BINARY,
        "-v",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    for line in out.decode(errors="replace").splitlines():
        if "SIPp" in line:
            return line.strip()
    return ""
