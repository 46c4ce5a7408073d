"""telephony.sipp.driver: SIPp callers and agent phones driven from asyncio, tested SIPp-against-SIPp.

Everything runs on 127.0.0.1; the registrar is a tiny asyncio UDP fake in this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import stat
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import telephony.sipp.driver
from telephony.sipp.driver import (
    AgentPhone,
    RegistrationError,
    RejectingPhone,
    allocate_ports,
    checked_extension,
    extension_uri_user,
    free_udp_port,
    parse_from_header,
    place_authenticated_call,
    place_call,
    render_agent_scenario,
    render_call_scenario,
    render_dial_scenario,
    sip_display_name,
    sipp_version,
)

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) is not installed")

ARABIC_NAME = "محمد"


def _parent(entry: Path) -> int | None:
    for line in (entry / "status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def sipp_command_lines() -> dict[int, bytes]:
    """The raw /proc/<pid>/cmdline of every SIPp process this test started and that still runs, by pid
    (SIPp of other test runs on the machine are not this test's business)."""
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            parent = _parent(entry)
        except (OSError, ValueError):  # the process ended meanwhile
            continue
        if os.path.basename(raw.split(b"\0", 1)[0]) == b"sipp" and parent == os.getpid():
            found[int(entry.name)] = raw
    return found


def injection_files(command_lines: dict[int, bytes]) -> list[Path]:
    """The -inf arguments of those command lines."""
    paths = []
    for raw in command_lines.values():
        argv = raw.split(b"\0")
        paths += [Path(os.fsdecode(argv[i + 1])) for i, arg in enumerate(argv[:-1]) if arg == b"-inf"]
    return paths


@dataclass
class SippSnapshot:
    """What another local user could see of the running SIPp processes at one moment."""

    command_lines: dict[int, bytes]
    injection_modes: dict[Path, tuple[int, int]]
    """-inf file -> (its permission bits, its directory's), for the files that existed."""

    @classmethod
    def take(cls) -> SippSnapshot:
        lines = sipp_command_lines()
        modes = {}
        for path in injection_files(lines):
            with contextlib.suppress(FileNotFoundError):
                modes[path] = (stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode))
        return cls(lines, modes)


def assert_password_hidden(snapshots: list[SippSnapshot], password: str) -> None:
    """The password was on no SIPp command line; SIPp read it from a private 0600 -inf file
    that is gone now."""
    secret = password.encode()
    assert snapshots
    for snapshot in snapshots:
        assert snapshot.command_lines, "no SIPp process was running"
        for pid, raw in snapshot.command_lines.items():
            assert secret not in raw, f"password on the command line of SIPp {pid}: {raw!r}"
        assert snapshot.injection_modes, "the SIPp that sent the request had no readable -inf file"
        assert set(snapshot.injection_modes.values()) == {(0o600, 0o700)}
        for path in snapshot.injection_modes:
            assert not path.exists() and not path.parent.exists()


@pytest.fixture
async def phones(tmp_path: Path) -> AsyncIterator[Callable[..., AgentPhone]]:
    """Factory for started-later AgentPhones that are always stopped at teardown."""
    made: list[AgentPhone | RejectingPhone] = []

    def make(name: str = "doc-ar-paed-1", **kwargs: object) -> AgentPhone:
        kwargs.setdefault("local_port", free_udp_port())
        kwargs.setdefault("workdir", tmp_path / name)
        kwargs.setdefault("ring_seconds", 0.1)
        phone = AgentPhone(name, "s3cret", **kwargs)  # type: ignore[arg-type]
        made.append(phone)
        return phone

    make.made = made  # type: ignore[attr-defined]
    yield make
    for phone in made:
        await phone.stop()


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- calls


async def test_caller_reaches_phone_and_phone_records_arabic_display_name_and_number(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones()
    await phone.start()

    result = await place_call(
        "127.0.0.1",
        phone.local_port,
        caller_number="0791234567",
        caller_name=ARABIC_NAME,
        hangup_after=0.3,
        workdir=tmp_path / "callers",
    )

    assert result.answered and result.final_status == 200, result
    await wait_for(lambda: bool(phone.answered_calls()))
    [call] = phone.answered_calls()
    assert call.caller_name == ARABIC_NAME
    assert call.caller_number == "0791234567"
    assert call.call_id == result.call_id
    assert f'"{ARABIC_NAME}"'.encode() in phone.message_trace.read_bytes()
    assert call.from_header.startswith(f'"{ARABIC_NAME}" <sip:0791234567@127.0.0.1>')
    assert "sip:151@127.0.0.1" in call.to_header
    assert abs(call.at - time.time()) < 30


async def test_caller_hanging_up_after_delay_is_answered_and_not_remote_hangup(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones()
    await phone.start()

    result = await place_call("127.0.0.1", phone.local_port, caller_number="1001", hangup_after=0.5, workdir=tmp_path)

    assert result.answered
    assert not result.remote_hung_up
    assert result.error is None, result.error
    assert 0.4 <= result.talk_duration < 5
    assert result.duration >= result.talk_duration
    await wait_for(lambda: phone.answered_calls()[0].ended_by == "remote")


async def test_phone_with_talk_seconds_hangs_up_and_caller_sees_remote_hangup(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones(talk_seconds=0.5)
    await phone.start()

    started = time.monotonic()
    result = await place_call("127.0.0.1", phone.local_port, caller_number="1002", max_duration=20, workdir=tmp_path)

    assert result.answered and result.remote_hung_up
    assert result.error is None, result.error
    assert time.monotonic() - started < 10
    await wait_for(lambda: phone.answered_calls()[0].ended_by == "local")


async def test_caller_without_hangup_hangs_up_itself_at_max_duration(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones()
    await phone.start()

    result = await place_call("127.0.0.1", phone.local_port, caller_number="1003", max_duration=0.7, workdir=tmp_path)

    assert result.answered and not result.remote_hung_up
    assert result.error and "max_duration" in result.error
    assert result.talk_duration < 5


async def test_busy_uas_yields_486_not_answered_promptly(tmp_path: Path) -> None:
    busy = RejectingPhone(status=486, reason="Busy Here", local_port=free_udp_port(), workdir=tmp_path)
    await busy.start()
    try:
        started = time.monotonic()
        result = await place_call(
            "127.0.0.1",
            busy.local_port,
            caller_number="1004",
            caller_name=ARABIC_NAME,
            workdir=tmp_path,
            answer_timeout=10,
        )
        elapsed = time.monotonic() - started
        await wait_for(lambda: busy.rejected_call_ids() == [result.call_id])  # our ACK arrived
    finally:
        await busy.stop()

    assert not result.answered
    assert result.final_status == 486
    assert not result.remote_hung_up
    assert result.error and "486" in result.error
    assert elapsed < 5


@pytest.mark.parametrize("status", [404, 503])
async def test_other_final_errors_are_reported_as_final_status(tmp_path: Path, status: int) -> None:
    uas = RejectingPhone(status=status, reason="Nope", local_port=free_udp_port(), workdir=tmp_path)
    async with uas:
        result = await place_call("127.0.0.1", uas.local_port, caller_number="1005", workdir=tmp_path)
    assert (result.answered, result.final_status) == (False, status)


async def test_call_to_dead_port_gives_up_within_answer_timeout(tmp_path: Path) -> None:
    dead_port = free_udp_port()

    started = time.monotonic()
    result = await asyncio.wait_for(
        place_call("127.0.0.1", dead_port, caller_number="1006", workdir=tmp_path, answer_timeout=1.5), timeout=30
    )

    assert not result.answered
    assert result.final_status is None
    assert result.error and "no response" in result.error
    assert time.monotonic() - started < 10


async def test_phone_ringing_too_long_gets_cancelled(phones: Callable[..., AgentPhone], tmp_path: Path) -> None:
    phone = phones(ring_seconds=10)
    await phone.start()

    started = time.monotonic()
    result = await place_call("127.0.0.1", phone.local_port, caller_number="1007", workdir=tmp_path, answer_timeout=1)

    assert not result.answered
    assert result.final_status == 487
    assert result.error and "cancelled" in result.error
    assert time.monotonic() - started < 8
    assert phone.answered_calls() == []
    await wait_for(lambda: "HL CANCELLED" in phone.log_file.read_text(encoding="utf-8"))


async def test_dtmf_digits_arrive_as_sip_info_at_the_other_side(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones()
    await phone.start()

    result = await place_call(
        "127.0.0.1",
        phone.local_port,
        caller_number="1008",
        dtmf=[(0.2, "1"), (0.0, "2"), (0.1, "#")],
        hangup_after=0.2,
        workdir=tmp_path,
    )

    assert result.answered and result.dtmf_sent == 3, result
    trace = phone.message_trace.read_text(encoding="utf-8")
    infos = re.findall(r"^INFO sip:.*$", trace, flags=re.MULTILINE)
    assert len(infos) == 3
    assert "Content-Type: application/dtmf-relay" in trace
    assert "Signal=1\r\nDuration=160" in trace.replace("\r\n", "\n").replace("\n", "\r\n")
    for digit in ("1", "2", "#"):
        assert f"Signal={digit}" in trace
    assert trace.index("Signal=1") < trace.index("Signal=2") < trace.index("Signal=#")


async def test_remote_bye_during_dtmf_pause_ends_the_call_cleanly(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones(talk_seconds=0.3)
    await phone.start()

    result = await place_call("127.0.0.1", phone.local_port, caller_number="1009", dtmf=[(5.0, "1")], workdir=tmp_path)

    assert result.answered and result.remote_hung_up
    assert result.dtmf_sent == 0
    assert result.talk_duration < 3


async def test_two_phones_and_concurrent_callers_do_not_collide_on_ports(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    first, second = phones("doc-ar-paed-1"), phones("doc-ar-paed-2")
    await asyncio.gather(first.start(), second.start())
    targets = [first, second] * 4

    results = await asyncio.gather(
        *(
            place_call(
                "127.0.0.1",
                phone.local_port,
                caller_number=f"20{i:02d}",
                caller_name=f"{ARABIC_NAME} {i}",
                dtmf=[(0.1, str(i % 10))],
                hangup_after=0.3,
                workdir=tmp_path / "callers",
            )
            for i, phone in enumerate(targets)
        )
    )

    assert all(r.answered and r.error is None for r in results), [r.error for r in results]
    assert len({r.call_id for r in results}) == len(results)
    await wait_for(lambda: len(first.answered_calls()) == 4 and len(second.answered_calls()) == 4)
    numbers = {c.caller_number for c in first.answered_calls() + second.answered_calls()}
    assert numbers == {f"20{i:02d}" for i in range(8)}
    names = {c.caller_name for c in first.answered_calls()}
    assert names == {f"{ARABIC_NAME} {i}" for i in (0, 2, 4, 6)}


async def test_display_name_with_quotes_and_brackets_survives(
    phones: Callable[..., AgentPhone], tmp_path: Path
) -> None:
    phone = phones()
    await phone.start()
    tricky = 'د. "أحمد" [call_id] \\ & <x>'

    result = await place_call(
        "127.0.0.1", phone.local_port, caller_number="1010", caller_name=tricky, hangup_after=0.1, workdir=tmp_path
    )

    assert result.answered
    await wait_for(lambda: bool(phone.answered_calls()))
    assert phone.answered_calls()[0].caller_name == tricky


async def test_stop_terminates_and_reaps_the_sipp_process(phones: Callable[..., AgentPhone]) -> None:
    phone = phones()
    await phone.start()
    assert phone.running
    process = phone._run.process  # type: ignore[union-attr]

    await phone.stop()
    await phone.stop()

    assert not phone.running
    assert process is not None and process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)


async def test_starting_a_phone_on_a_taken_port_raises(phones: Callable[..., AgentPhone]) -> None:
    first = phones()
    await first.start()
    clash = phones("doc-ar-paed-9", local_port=first.local_port)
    with pytest.raises(Exception, match="bind"):
        await clash.start()


# --------------------------------------------------------------------------- REGISTER


class FakeRegistrar(asyncio.DatagramProtocol):
    """A UDP registrar: 401 with an MD5 digest challenge (qop=auth), then checks and 200."""

    realm = "hotline"

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.requests: list[str] = []
        self.bindings: dict[str, tuple[str, int]] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.nonce = hashlib.md5(str(time.time()).encode()).hexdigest()
        self.seen_while_registering: list[SippSnapshot] = []
        """SIPp command lines read while a REGISTER's sender waited for the answer."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8")
        self.requests.append(text)
        self.seen_while_registering.append(SippSnapshot.take())
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if not head[0].startswith("REGISTER "):
            return
        auth = headers.get("authorization")
        if auth is None:
            self.reply(
                addr,
                headers,
                "401 Unauthorized",
                [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}", algorithm=MD5, qop="auth"'],
            )
            return
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth.removeprefix("Digest ")))
        user = params.get("username", "")
        password = self.users.get(user)
        ha1 = hashlib.md5(f"{user}:{self.realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"REGISTER:{params.get('uri')}".encode()).hexdigest()
        if params.get("qop"):
            expected = hashlib.md5(
                f"{ha1}:{params.get('nonce')}:{params.get('nc')}:{params.get('cnonce')}:"
                f"{params.get('qop')}:{ha2}".encode()
            ).hexdigest()
        else:
            expected = hashlib.md5(f"{ha1}:{params.get('nonce')}:{ha2}".encode()).hexdigest()
        if password is None or params.get("response") != expected or params.get("nonce") != self.nonce:
            self.reply(
                addr,
                headers,
                "401 Unauthorized",
                [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}", algorithm=MD5, qop="auth"'],
            )
            return
        contact = headers["contact"]
        match = re.search(r"sip:[^@]+@([\d.]+):(\d+)", contact)
        assert match
        if headers.get("expires") == "0":
            self.bindings.pop(user, None)
        else:
            self.bindings[user] = (match.group(1), int(match.group(2)))
        self.reply(addr, headers, "200 OK", [f"Contact: {contact};expires={headers.get('expires')}"])

    def reply(self, addr: tuple[str, int], headers: dict[str, str], status: str, extra: list[str]) -> None:
        lines = [
            f"SIP/2.0 {status}",
            f"Via: {headers['via']};received={addr[0]}",
            f"From: {headers['from']}",
            f"To: {headers['to']};tag=reg1",
            f"Call-ID: {headers['call-id']}",
            f"CSeq: {headers['cseq']}",
            *extra,
            "Content-Length: 0",
            "",
            "",
        ]
        assert self.transport is not None
        self.transport.sendto("\r\n".join(lines).encode(), addr)


@pytest.fixture
async def registrar() -> AsyncIterator[tuple[FakeRegistrar, int]]:
    loop = asyncio.get_running_loop()
    port = free_udp_port()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: FakeRegistrar({"doc-ar-paed-1": "s3cret"}), local_addr=("127.0.0.1", port)
    )
    yield protocol, port
    transport.close()


async def test_register_answers_digest_challenge_and_contact_points_at_uas(
    phones: Callable[..., AgentPhone], registrar: tuple[FakeRegistrar, int]
) -> None:
    fake, port = registrar
    phone = phones(registrar=("127.0.0.1", port))
    await phone.start()

    contact = await phone.register(expires=120)

    assert fake.bindings["doc-ar-paed-1"] == ("127.0.0.1", phone.local_port)
    assert f"127.0.0.1:{phone.local_port}" in contact
    first, second = fake.requests[0], fake.requests[-1]
    assert "Authorization" not in first and 'Authorization: Digest username="doc-ar-paed-1"' in second
    assert "Expires: 120" in second
    # The REGISTER came from another process/port than the UAS.
    via_port = int(re.search(r"Via: SIP/2.0/UDP 127.0.0.1:(\d+)", second).group(1))  # type: ignore[union-attr]
    assert via_port != phone.local_port


async def test_unregister_sends_expires_zero(
    phones: Callable[..., AgentPhone], registrar: tuple[FakeRegistrar, int]
) -> None:
    fake, port = registrar
    phone = phones(registrar=("127.0.0.1", port))
    await phone.register()
    assert "doc-ar-paed-1" in fake.bindings

    await phone.unregister()

    assert "doc-ar-paed-1" not in fake.bindings
    assert "Expires: 0" in fake.requests[-1]


async def test_register_with_wrong_password_raises_registration_error(
    tmp_path: Path, registrar: tuple[FakeRegistrar, int]
) -> None:
    _, port = registrar
    phone = AgentPhone(
        "doc-ar-paed-1", "wrong", registrar=("127.0.0.1", port), local_port=free_udp_port(), workdir=tmp_path
    )

    with pytest.raises(RegistrationError, match="401") as caught:
        await phone.register()
    assert caught.value.status == 401


async def test_register_without_registrar_raises_promptly(tmp_path: Path) -> None:
    phone = AgentPhone(
        "doc-ar-paed-1", "pw", registrar=("127.0.0.1", free_udp_port()), local_port=free_udp_port(), workdir=tmp_path
    )

    started = time.monotonic()
    with pytest.raises(RegistrationError, match="no answer"):
        await phone.register(timeout=1)
    assert time.monotonic() - started < 10


async def test_phone_registered_through_registrar_receives_the_call(
    phones: Callable[..., AgentPhone], registrar: tuple[FakeRegistrar, int], tmp_path: Path
) -> None:
    fake, port = registrar
    phone = phones(registrar=("127.0.0.1", port))
    await phone.start()
    await phone.register()

    host, contact_port = fake.bindings["doc-ar-paed-1"]
    result = await place_call(
        host, contact_port, number="doc-ar-paed-1", caller_number="1011", hangup_after=0.1, workdir=tmp_path
    )

    assert result.answered
    await wait_for(lambda: len(phone.answered_calls()) == 1)


async def test_register_passes_the_digest_with_the_password_on_no_sipp_command_line(tmp_path: Path) -> None:
    password = "pw-7Xq2 سرّ&<'\"]"  # spaces, UTF-8, XML and SIPp specials: all reach the digest
    loop = asyncio.get_running_loop()
    port = free_udp_port()
    transport, fake = await loop.create_datagram_endpoint(
        lambda: FakeRegistrar({"doc-ar-paed-1": password}), local_addr=("127.0.0.1", port)
    )
    phone = AgentPhone(
        "doc-ar-paed-1",
        password,
        registrar=("127.0.0.1", port),
        local_port=free_udp_port(),
        ring_seconds=0.1,
        workdir=tmp_path,
    )
    try:
        await phone.start()
        await phone.register()
    finally:
        await phone.stop()
        transport.close()

    assert fake.bindings["doc-ar-paed-1"] == ("127.0.0.1", phone.local_port)
    assert len(fake.seen_while_registering) == 2  # challenged, then answered with the digest
    assert_password_hidden(fake.seen_while_registering, password)
    for path in tmp_path.rglob("*"):  # nor in the scenario, logs, traces or screens
        assert path.is_dir() or password.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("password", ["a;b", "line\nbreak", "nul\x00"])
def test_a_password_sipp_could_not_read_back_is_refused_when_the_phone_is_made(tmp_path: Path, password: str) -> None:
    with pytest.raises(ValueError, match="password"):
        AgentPhone("doc-ar-paed-1", password, local_port=free_udp_port(), workdir=tmp_path)


# --------------------------------------------------------------------------- pure helpers


def test_rendered_scenarios_are_well_formed_xml() -> None:
    call = render_call_scenario(
        target_host="127.0.0.1",
        target_port=5060,
        number="151",
        caller_number="1001",
        dtmf=[(1.0, "1"), (0.5, "*")],
        hangup_after=None,
        max_duration=30,
        answer_timeout=5,
    )
    ET.fromstring(call.encode())
    assert "{{" not in call
    assert call.count("CSeq: 2 INFO") == 1 and call.count("CSeq: 3 INFO") == 1
    assert "CSeq: 4 BYE" in call
    for talk in (None, 2.0):
        agent = render_agent_scenario(user="doc-ar-paed-1", ring_seconds=0.5, talk_seconds=talk)
        ET.fromstring(agent.encode())


def test_values_that_could_break_the_scenario_are_refused() -> None:
    common = {
        "target_host": "127.0.0.1",
        "target_port": 5060,
        "number": "151",
        "dtmf": [],
        "hangup_after": None,
        "max_duration": 30,
        "answer_timeout": 5,
    }
    with pytest.raises(ValueError):
        render_call_scenario(caller_number="10]]><x", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        render_call_scenario(caller_number="1001", **{**common, "dtmf": [(0, "x")]})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sip_display_name("a\r\nVia: evil")


def test_from_header_parsing_unquotes_display_names() -> None:
    assert parse_from_header('"محمد" <sip:1001@127.0.0.1>;tag=a') == ("محمد", "1001")
    assert parse_from_header('"a \\"b\\" \\\\" <sip:9@h>') == ('a "b" \\', "9")
    assert parse_from_header("<sip:1001@127.0.0.1>;tag=x") == (None, "1001")
    assert parse_from_header("Bob <sip:bob@h>") == ("Bob", "bob")
    assert parse_from_header("sip:1002@127.0.0.1;tag=x") == (None, "1002")


def test_allocated_port_blocks_are_free_and_in_range() -> None:
    base = allocate_ports(4)
    assert base >= 20000 and base + 3 < 32768


async def test_sipp_version_is_reported() -> None:
    assert (await sipp_version()).startswith("SIPp v3.")


# --------------------------------------------------------------------------- feature codes (dial)


class FakeFeatureServer(asyncio.DatagramProtocol):
    """A UDP stand-in for Asterisk answering feature codes dialled by an agent phone.

    ``challenge`` (401 WWW-Authenticate or 407 Proxy-Authenticate, MD5, qop="auth") or None;
    a correct digest gets 200 OK with SDP, a wrong one 403; after ``bye_after`` seconds from
    the ACK the fake hangs up with BYE (as Asterisk does after the confirmation prompt).
    """

    realm = "hotline"

    def __init__(
        self,
        users: dict[str, str],
        *,
        challenge: int | None = 401,
        bye_after: float = 1.0,
        wrong_digest_status: int = 403,
    ) -> None:
        self.users = users
        self.challenge = challenge
        self.wrong_digest_status = wrong_digest_status
        self.bye_after = bye_after
        self.requests: list[str] = []
        self.responses: list[str] = []
        self.invites: list[str] = []
        self.digest_ok: list[bool] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.nonce = hashlib.md5(f"{time.time()}-{id(self)}".encode()).hexdigest()
        self.bye_answered = asyncio.Event()
        self._dialog: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.seen_while_dialling: list[SippSnapshot] = []
        """SIPp command lines read while an INVITE's sender waited for the answer."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    @staticmethod
    def parse(text: str) -> tuple[str, dict[str, str]]:
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return head[0], headers

    def expected_response(self, method: str, params: dict[str, str]) -> str:
        password = self.users.get(params.get("username", ""), "\x00no such user")
        ha1 = hashlib.md5(f"{params.get('username')}:{self.realm}:{password}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{method}:{params.get('uri')}".encode()).hexdigest()
        return hashlib.md5(
            f"{ha1}:{self.nonce}:{params.get('nc')}:{params.get('cnonce')}:{params.get('qop')}:{ha2}".encode()
        ).hexdigest()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("utf-8")
        start, headers = self.parse(text)
        if start.startswith("SIP/2.0 "):
            self.responses.append(text)
            if start.startswith("SIP/2.0 200") and "BYE" in headers.get("cseq", ""):
                self.bye_answered.set()
            return
        self.requests.append(text)
        method, ruri = start.split(" ")[:2]
        if method == "ACK":
            if self._dialog.get("answered") == headers["call-id"] and "BYE" not in self._dialog:
                self._dialog["BYE"] = "scheduled"
                task = asyncio.get_running_loop().create_task(self.send_bye(addr))
                self._tasks.add(task)
            return
        if method != "INVITE":
            return
        self.invites.append(text)
        self.seen_while_dialling.append(SippSnapshot.take())
        self.reply(addr, headers, "100 Trying", [], tag=False)
        auth_header = "authorization" if self.challenge != 407 else "proxy-authorization"
        auth = headers.get(auth_header)
        if self.challenge is not None:
            if auth is None:
                name = "WWW-Authenticate" if self.challenge == 401 else "Proxy-Authenticate"
                reason = "Unauthorized" if self.challenge == 401 else "Proxy Authentication Required"
                self.reply(
                    addr,
                    headers,
                    f"{self.challenge} {reason}",
                    [f'{name}: Digest realm="{self.realm}", nonce="{self.nonce}", algorithm=MD5, qop="auth"'],
                )
                return
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', auth.removeprefix("Digest ")))
            ok = (
                params.get("response") == self.expected_response("INVITE", params)
                and params.get("uri") == ruri
                and params.get("nonce") == self.nonce
                and params.get("realm") == self.realm
            )
            self.digest_ok.append(ok)
            if not ok and self.wrong_digest_status == 403:
                self.reply(addr, headers, "403 Forbidden", [])
                return
            if not ok:  # challenge again, as Asterisk's PJSIP does for a wrong password
                self.reply(
                    addr,
                    headers,
                    "401 Unauthorized",
                    [f'WWW-Authenticate: Digest realm="{self.realm}", nonce="{self.nonce}", algorithm=MD5, qop="auth"'],
                )
                return
        self._dialog.update(answered=headers["call-id"], invite=text)
        sdp = (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fake\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        assert self.transport is not None
        port = self.transport.get_extra_info("sockname")[1]
        self.reply(
            addr,
            headers,
            "200 OK",
            [f"Contact: <sip:fake@127.0.0.1:{port}>", "Content-Type: application/sdp"],
            body=sdp,
        )

    async def send_bye(self, addr: tuple[str, int]) -> None:
        await asyncio.sleep(self.bye_after)
        _, headers = self.parse(self._dialog["invite"])
        contact = re.search(r"<([^>]+)>", headers["contact"]).group(1)  # type: ignore[union-attr]
        assert self.transport is not None
        port = self.transport.get_extra_info("sockname")[1]
        lines = [
            f"BYE {contact} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-fake-bye",
            f"From: {headers['to']};tag=fake1",
            f"To: {headers['from']}",
            f"Call-ID: {headers['call-id']}",
            "CSeq: 1 BYE",
            "Max-Forwards: 70",
            "Content-Length: 0",
            "",
            "",
        ]
        self.transport.sendto("\r\n".join(lines).encode(), addr)

    def reply(
        self,
        addr: tuple[str, int],
        headers: dict[str, str],
        status: str,
        extra: list[str],
        *,
        tag: bool = True,
        body: str = "",
    ) -> None:
        to = headers["to"] + (";tag=fake1" if tag else "")
        lines = [
            f"SIP/2.0 {status}",
            f"Via: {headers['via']};received={addr[0]}",
            f"From: {headers['from']}",
            f"To: {to}",
            f"Call-ID: {headers['call-id']}",
            f"CSeq: {headers['cseq']}",
            *extra,
            f"Content-Length: {len(body.encode())}",
            "",
            body,
        ]
        assert self.transport is not None
        self.transport.sendto("\r\n".join(lines).encode(), addr)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


@pytest.fixture
async def feature_server() -> AsyncIterator[Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]]:
    """Factory: start a FakeFeatureServer on a free 127.0.0.1 port; closed at teardown."""
    started: list[tuple[asyncio.DatagramTransport, FakeFeatureServer]] = []

    async def start(**kwargs: object) -> tuple[FakeFeatureServer, int]:
        loop = asyncio.get_running_loop()
        port = free_udp_port()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: FakeFeatureServer({"agent-ar-1": "s3cret"}, **kwargs),  # type: ignore[arg-type]
            local_addr=("127.0.0.1", port),
        )
        started.append((transport, protocol))
        return protocol, port

    yield start
    for transport, protocol in started:
        protocol.close()
        transport.close()


async def test_dial_feature_code_answers_digest_challenge_and_sees_remote_hangup(
    phones: Callable[..., AgentPhone], feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=401, bye_after=1.0)
    phone = phones("agent-ar-1", registrar=("127.0.0.1", port))
    await phone.start()  # the UAS keeps running while the phone dials

    started = time.monotonic()
    result = await phone.dial("*41")

    assert result.answered and result.final_status == 200, result
    assert result.remote_hung_up and result.error is None, result
    assert result.challenged == 401
    assert 0.8 <= result.talk_duration < 5
    assert time.monotonic() - started < 10
    assert fake.bye_answered.is_set()
    assert len(fake.invites) == 2
    first, second = fake.invites
    for invite in (first, second):
        assert invite.startswith(f"INVITE sip:*41@127.0.0.1:{port} SIP/2.0\r\n")
        assert re.search(r"^From: <sip:agent-ar-1@127\.0\.0\.1>;tag=", invite, re.MULTILINE)
    assert "Authorization:" not in first
    assert re.search(r'^Authorization: Digest username="agent-ar-1"', second, re.MULTILINE)
    assert fake.digest_ok == [True]
    _, h1 = FakeFeatureServer.parse(first)
    _, h2 = FakeFeatureServer.parse(second)
    assert h1["call-id"] == h2["call-id"] and h1["from"] == h2["from"]
    assert (h1["cseq"], h2["cseq"]) == ("1 INVITE", "2 INVITE")
    acks = [r for r in fake.requests if r.startswith("ACK ")]
    assert [FakeFeatureServer.parse(a)[1]["cseq"] for a in acks] == ["1 ACK", "2 ACK"]
    # Placed from another local port than the phone's UAS, which is still up.
    via_port = int(re.search(r"Via: SIP/2.0/UDP 127.0.0.1:(\d+)", second).group(1))  # type: ignore[union-attr]
    assert via_port != phone.local_port
    assert phone.running
    assert b"s3cret" not in Path(f"{result.message_trace}".removesuffix(".messages") + ".xml").read_bytes()


async def test_dial_answers_the_challenge_with_the_password_on_no_sipp_command_line(
    phones: Callable[..., AgentPhone], feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=407, bye_after=0.2)
    phone = phones("agent-ar-1", registrar=("127.0.0.1", port))
    await phone.start()

    result = await phone.dial("*41")

    assert result.answered and result.challenged == 407 and fake.digest_ok == [True], result
    assert len(fake.seen_while_dialling) == 2
    assert_password_hidden(fake.seen_while_dialling, "s3cret")
    for path in phone.workdir.rglob("*"):
        assert path.is_dir() or b"s3cret" not in path.read_bytes(), path


async def test_dial_with_wrong_password_gets_403_promptly(
    tmp_path: Path, feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=401)
    phone = AgentPhone(
        "agent-ar-1", "wrong", registrar=("127.0.0.1", port), local_port=free_udp_port(), workdir=tmp_path
    )

    started = time.monotonic()
    result = await phone.dial("*42")

    assert (result.answered, result.final_status) == (False, 403), result
    assert not result.remote_hung_up
    assert result.error and "403" in result.error
    assert time.monotonic() - started < 5
    assert len(fake.invites) == 2 and fake.digest_ok == [False]
    await wait_for(lambda: sum(r.startswith("ACK ") for r in fake.requests) == 2)


async def test_dial_challenged_again_after_credentials_gives_up_with_401(
    tmp_path: Path, feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=401, wrong_digest_status=401)
    phone = AgentPhone(
        "agent-ar-1", "wrong", registrar=("127.0.0.1", port), local_port=free_udp_port(), workdir=tmp_path
    )

    started = time.monotonic()
    result = await phone.dial("*41")

    assert (result.answered, result.final_status, result.challenged) == (False, 401, 401), result
    assert result.error and "credentials" in result.error
    assert len(fake.invites) == 2  # no endless re-try loop
    assert time.monotonic() - started < 5


async def test_dial_to_dead_port_gives_up_within_answer_timeout(tmp_path: Path) -> None:
    phone = AgentPhone(
        "agent-ar-1", "s3cret", registrar=("127.0.0.1", free_udp_port()), local_port=free_udp_port(), workdir=tmp_path
    )

    started = time.monotonic()
    result = await asyncio.wait_for(phone.dial("*41", answer_timeout=1.0), timeout=30)

    assert not result.answered and result.final_status is None
    assert result.error and "no response" in result.error
    assert time.monotonic() - started < 8


async def test_dial_answers_a_407_proxy_challenge_with_proxy_authorization(
    tmp_path: Path, feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=407, bye_after=0.2)
    phone = AgentPhone(
        "agent-ar-1", "s3cret", registrar=("127.0.0.1", port), local_port=free_udp_port(), workdir=tmp_path
    )

    result = await phone.dial("*43")

    assert result.answered and result.remote_hung_up and result.challenged == 407, result
    assert fake.digest_ok == [True]
    assert re.search(r"^Proxy-Authorization: Digest ", fake.invites[1], re.MULTILINE)


async def test_dial_without_challenge_is_answered_by_the_first_invite(
    tmp_path: Path, feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]]
) -> None:
    fake, port = await feature_server(challenge=None, bye_after=0.3)
    phone = AgentPhone(
        "agent-ar-1", "s3cret", registrar=("127.0.0.1", port), local_port=free_udp_port(), workdir=tmp_path
    )

    result = await phone.dial("*44")

    assert result.answered and result.remote_hung_up and result.error is None, result
    assert result.challenged is None
    assert len(fake.invites) == 1 and "Authorization" not in fake.invites[0]
    assert FakeFeatureServer.parse(next(r for r in fake.requests if r.startswith("ACK ")))[1]["cseq"] == "1 ACK"


async def test_dial_to_a_sipp_uas_without_challenge_hangs_up_locally_or_sees_its_bye(
    phones: Callable[..., AgentPhone],
) -> None:
    asterisk = phones("fake-asterisk", talk_seconds=0.5)
    await asterisk.start()
    agent = phones("agent-ar-1", registrar=("127.0.0.1", asterisk.local_port))
    await agent.start()

    heard_prompt = await agent.dial("*41")
    early = await agent.dial("*45#", hangup_after=0.1)

    assert heard_prompt.answered and heard_prompt.remote_hung_up, heard_prompt
    assert heard_prompt.error is None and heard_prompt.challenged is None
    assert early.answered and not early.remote_hung_up and early.error is None, early
    await wait_for(lambda: len(asterisk.answered_calls()) == 2)
    calls = asterisk.answered_calls()
    assert all(c.caller_number == "agent-ar-1" and c.caller_name is None for c in calls)
    assert "sip:*41@127.0.0.1" in calls[0].to_header
    assert "sip:*45%23@127.0.0.1" in calls[1].to_header
    assert agent.answered_calls() == []  # the dials did not go through the agent's own UAS


async def test_phone_keeps_answering_calls_while_it_dials(
    phones: Callable[..., AgentPhone],
    tmp_path: Path,
    feature_server: Callable[..., Awaitable[tuple[FakeFeatureServer, int]]],
) -> None:
    _, port = await feature_server(challenge=401, bye_after=1.0)
    phone = phones("agent-ar-1", registrar=("127.0.0.1", port))
    await phone.start()

    dialled, incoming = await asyncio.gather(
        phone.dial("*41"),
        place_call("127.0.0.1", phone.local_port, caller_number="1012", hangup_after=0.3, workdir=tmp_path / "callers"),
    )

    assert dialled.answered and dialled.remote_hung_up, dialled
    assert incoming.answered and incoming.error is None, incoming
    await wait_for(lambda: len(phone.answered_calls()) == 1)


@pytest.mark.parametrize("extension", ["", "*41;x", "*41@evil", "4 1", "*41]]>", "ك", "*41\n", "a" * 65])
async def test_dial_refuses_invalid_extensions_before_running_sipp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extension: str
) -> None:
    async def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("SIPp must not be started")

    monkeypatch.setattr(telephony.sipp.driver, "_run_with_port_retries", must_not_run)
    phone = AgentPhone(
        "agent-ar-1", "s3cret", registrar=("127.0.0.1", 5060), local_port=free_udp_port(), workdir=tmp_path / "phone"
    )

    with pytest.raises(ValueError, match="extension"):
        await phone.dial(extension)
    with pytest.raises(ValueError, match="extension"):
        await place_authenticated_call(
            "127.0.0.1", 5060, extension=extension, user="agent-ar-1", password="x", workdir=tmp_path / "direct"
        )
    assert not (tmp_path / "phone").exists() and not (tmp_path / "direct").exists()


def test_rendered_dial_scenario_is_well_formed_and_keeps_the_password_out() -> None:
    text = render_dial_scenario(
        target_host="127.0.0.1",
        target_port=5060,
        extension="*41#",
        user="agent-ar-1",
        hangup_after=None,
        max_duration=30,
        answer_timeout=5,
    )
    ET.fromstring(text.encode())
    assert "{{" not in text
    assert "INVITE sip:*41%23@127.0.0.1:5060 SIP/2.0" in text
    assert re.findall(r"^\s*\[authentication.*$", text, re.MULTILINE) == [
        '      [authentication username="[field0]" password="[field1]"]'
    ]
    assert "CSeq: 1 INVITE" in text and "CSeq: 2 INVITE" in text and "CSeq: 3 BYE" in text
    assert 'auth="true"' in text
    for extension in ("*41", "#", "1234", "queue_ar-1", "A*B#c"):
        assert checked_extension(extension) == extension
    assert extension_uri_user("*45#") == "*45%23"
