"""End-to-end rig: a real Asterisk 22 (from the cached sid root), the real hotline service, SIPp.

Asterisk and the service run as the user would run them, as separate processes started through
the ``hotline`` CLI (``hotline asterisk start`` and ``hotline serve``), on free loopback ports and
their own run directory. The profile is the default 151 profile with short prompt texts and short
timeouts, so a caller who presses nothing reaches the default queue in seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from support.eventually import eventually
from support.tcp_proxy import TcpProxy

from cdr.builder import CallRecord
from cdr.db import RecordStore
from telephony.ami.client import AMIClient
from telephony.asterisk import Credentials
from telephony.sipp.driver import AgentPhone, Dtmf, Refer, free_udp_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


SKIP_REASON = (
    "end-to-end tests run Asterisk 22 in a chroot of a Debian sid root and drive SIPp: they need root "
    "and the sip-tester package (CI runs them as root through `make test`)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _one_line_only(config, items)
    if os.geteuid() == 0 and shutil.which("sipp") and shutil.which("mmdebstrap"):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(skip)


def _one_line_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked ``one_line`` in a module whose rig is parametrized by the hotline line (``line``) runs on
    the first line only: it proves something of the code, not of the line's profile (the suite's time)."""
    dropped = [
        item
        for item in items
        if item.get_closest_marker("one_line") is not None
        and getattr(item, "callspec", None) is not None
        and item.callspec.indices.get("line", 0) != 0
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


WIDEN_AFTER = 5  # seconds (T1) in the test profile
WRAPUP = 5  # seconds of wrap-up after a queue call, app_queue's and the desk's


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _short_profile(target: Path) -> Path:
    """The default profile with short prompts: the menu logic and topics stay exactly as shipped."""
    data = yaml.safe_load((PROJECT_ROOT / "profiles" / "moh-151.yaml").read_text(encoding="utf-8"))
    data["ivr"]["retries"] = 1
    data["ivr"]["digit_timeout_seconds"] = 2
    data["prompts"]["welcome"] = {"ar": "عربي {key}", "en": "English {key}"}
    data["prompts"]["choose_topic"] = {"ar": "الخدمة", "en": "Service"}
    data["prompts"]["choose_specialty"] = {"ar": "التخصص", "en": "Specialty"}
    data["prompts"]["option"] = {"ar": "{key}", "en": "{key}"}
    data["prompts"]["invalid"] = {"ar": "عذراً", "en": "Sorry"}
    for name in (
        "agent_logged_in",
        "agent_logged_out",
        "agent_paused",
        "agent_unpaused",
        "agent_failed",
        "callback_confirm",
        "callback_enter",
        "callback_refused",
        "callback_booked",
        "callback_greeting",
    ):
        data["prompts"][name] = {"ar": "تم", "en": "Done"}
    data["prompts"]["callback_offer"] = {"ar": "واحد", "en": "One"}
    # The whisper on connect (the doctor hears the caller's language and topic first) is proven in
    # test_supervisor_ear.py; elsewhere a person is put through at once, as the tests' talk times expect.
    for topic in data["topics"]:
        topic.pop("whisper", None)
    # Routing: widening after 5 s so the tests can see it happen, not sooner; more people to choose from.
    data["routing"]["widen_after_seconds"] = WIDEN_AFTER
    data["queues"]["wrapup_seconds"] = WRAPUP
    data["routing"]["overflow_after_seconds"] = 90
    data["seats"]["queues"]["ar-complaints"] = {"morning": 1, "evening": 1, "night": 1}
    # Callbacks: quick to see in a test; the numbers are the default profile's Kuwaiti patterns.
    data["callbacks"].update(
        offer_after_wait_seconds=0,
        abandoned_after_seconds=3,
        retry_after_seconds=[5],
        max_attempts=2,
        capacity_share=1.0,
    )
    data["callbacks"].pop("quiet_hours", None)
    data["people"] += [
        {"id": "doc-ar-paed-2", "kind": "doctor", "languages": {"ar": 5}, "specialties": ["paediatrics"], "level": 5},
        {"id": "agent-ar-3", "kind": "agent", "languages": {"ar": 5}, "topics": ["general", "complaints"], "level": 4},
        {"id": "agent-ar-junior", "kind": "agent", "languages": {"ar": 5}, "topics": ["delivery"], "level": 2},
    ]
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


@dataclass
class Rig:
    """A running hotline: Asterisk, the service, and helpers to call it."""

    workdir: Path
    env: dict[str, str]
    sip_port: int
    http_port: int
    db_url: str
    credentials: Credentials
    ami_port: int = 0
    carrier_port: int = 0  # the trunk's far end: a SIPp UAS that answers the callbacks
    ami_proxy: TcpProxy | None = None  # the service reaches AMI through it, so tests can cut it
    service: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def service_env(self) -> dict[str, str]:
        assert self.ami_proxy is not None
        return {**self.env, "HOTLINE_AMI_PORT": str(self.ami_proxy.port)}

    def _spawn(self, *args: str, log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.workdir / log_name
        self.logs.append(log)
        handle = open(log, "ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "hotline", *args],
                env=env or self.env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
            )
        finally:
            handle.close()

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=2) as response:
                return json.load(response)
        except OSError:
            return None

    def start_service(self, timeout: float = 30.0, *, verbose: bool = False, **extra_env: str) -> None:
        """``hotline serve`` (``-v``: its debug log, every AGI command a call got) until it is healthy."""
        assert self.service is None
        args = ("-v", "serve") if verbose else ("serve",)
        self.service = self._spawn(*args, log_name="service.log", env={**self.service_env, **extra_env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health and health["ami_connected"]:
                return
            if self.service.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the hotline service did not come up:\n" + (self.workdir / "service.log").read_text())

    def spawn_second_service(self, db_url: str, timeout: float = 30.0) -> subprocess.Popen:
        """Another service instance on the same Asterisk and database (its own IVR and HTTP ports)."""
        http_port = _free_tcp_port()
        env = {**self.env, "HOTLINE_DB_URL": db_url, "HOTLINE_AGI_PORT": str(_free_tcp_port()),
               "HOTLINE_HTTP_PORT": str(http_port)}  # fmt: skip
        process = self._spawn("serve", log_name="service-2.log", env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=2) as response:
                    if json.load(response)["routing_synced"]:
                        return process
            except OSError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the second service did not come up:\n" + (self.workdir / "service-2.log").read_text())

    def stop_service(self) -> None:
        service, self.service = self.service, None
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()

    def phone(
        self,
        person_id: str,
        *,
        talk_seconds: float | None = 2.0,
        ring_seconds: float = 0.3,
        during_call: Sequence[Dtmf | Refer] = (),
    ) -> AgentPhone:
        """A person's phone; ``during_call``: DTMF / REFER it sends after each answer (see AgentPhone.behave)."""
        return AgentPhone(
            person_id,
            self.credentials.phones[person_id],
            registrar=("127.0.0.1", self.sip_port),
            local_port=free_udp_port(),
            ring_seconds=ring_seconds,
            talk_seconds=talk_seconds,
            during_call=during_call,
            workdir=self.workdir / "phones",
        )

    def ami(self) -> AMIClient:
        """A test's own AMI connection (straight to Asterisk, not through the proxy)."""
        return AMIClient("127.0.0.1", self.ami_port, self.credentials.ami_username, self.credentials.ami_secret)

    async def members(self, queue: str) -> dict[str, dict[str, str]]:
        """Asterisk's own view of a queue's members: MemberName -> QueueMember headers."""
        client = self.ami()
        await client.start()
        try:
            await client.wait_connected(10)
            events = await client.send_action_list({"Action": "QueueStatus", "Queue": queue})
        finally:
            await client.close()
        return {e["Name"]: dict(e.headers) for e in events if e.event == "QueueMember"}

    async def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        """Poll the async ``predicate`` until it is truthy (the shared ``eventually``, every 0.2 s)."""
        return await eventually(predicate, timeout=timeout, interval=0.2, what=what)

    async def records_of(self, caller_number: str, *, at_least: int = 1, timeout: float = 15.0) -> list[CallRecord]:
        """The records of one caller number, waiting until ``at_least`` are written."""
        store = RecordStore(self.db_url)
        try:
            deadline = time.monotonic() + timeout
            while True:
                found = [r for r in await store.list_records() if r.caller_number == caller_number]
                if len(found) >= at_least or time.monotonic() > deadline:
                    return found
                await asyncio.sleep(0.25)
        finally:
            await store.close()


@asynccontextmanager
async def ami_events(rig: Rig, names: list[str]) -> AsyncIterator[list[dict[str, str]]]:
    """Every event of ``names`` Asterisk sends while the block runs (the test's own AMI login), in order; each
    with ``_at``, when it reached the test (time.monotonic())."""
    seen: list[dict[str, str]] = []
    client = rig.ami()
    client.add_event_handler(lambda m: seen.append({**dict(m.headers), "_at": repr(time.monotonic())}), events=names)
    await client.start()
    try:
        await client.wait_connected(10)
        yield seen
    finally:
        await client.close()


def service_db_url(instance: str) -> str:
    """The service's SQLite database in its own folder (/var/lib/hotline/<instance>): root's ``hotline serve``
    runs the service as the unprivileged ``hotline`` user, which cannot reach a test's temporary folder."""
    from hotline.settings import Settings

    return Settings.from_env({"HOTLINE_INSTANCE": instance}).db_url


@contextmanager
def running_rig(workdir: Path, name: str, profile: Path, *, verbose: bool = False) -> Iterator[Rig]:
    """Asterisk (``hotline asterisk start``) and the service (``hotline serve``: as the unprivileged user) on
    free loopback ports for ``profile``, with a SIPp carrier port on the trunk; everything goes at the end
    (Asterisk's logs are kept in ``workdir``)."""
    instance = f"{name}-{os.getpid()}"
    sip_port, http_port, ami_port, carrier_port = free_udp_port(), _free_tcp_port(), _free_tcp_port(), free_udp_port()
    db_url = service_db_url(instance)
    env = {
        **os.environ,
        "HOTLINE_PROFILE": str(profile),
        "HOTLINE_DB_URL": db_url,
        "HOTLINE_INSTANCE": instance,
        "HOTLINE_SIP_PORT": str(sip_port),
        "HOTLINE_AMI_PORT": str(ami_port),
        "HOTLINE_AGI_PORT": str(_free_tcp_port()),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_TRUNK_CONTACT": f"sip:127.0.0.1:{carrier_port}",
        # the SIP guard (fail2ban) is proven in test_hardening's own run; a rig needs no banning of its phones
        "HOTLINE_SIP_BAN_AFTER": "0",
    }
    rig = Rig(
        workdir, env, sip_port, http_port, db_url, Credentials("", "", {}), ami_port=ami_port, carrier_port=carrier_port
    )
    rig.ami_proxy = TcpProxy(ami_port)
    asterisk = rig._spawn("asterisk", "start", log_name="asterisk.log")
    instance_dir: Path | None = None
    try:
        deadline = time.monotonic() + 180  # includes building the sid root if make did not
        while "Asterisk is up" not in (workdir / "asterisk.log").read_text(errors="replace"):
            if asterisk.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Asterisk did not start:\n" + (workdir / "asterisk.log").read_text())
            time.sleep(0.2)
        from hotline.settings import Settings
        from telephony.asterisk import AsteriskInstance
        from telephony.provision import current_root

        settings = Settings.from_env(env)
        root = current_root(settings.cache_dir)
        assert root is not None
        instance_dir = AsteriskInstance(root, settings).host_dir
        rig.credentials = AsteriskInstance(root, settings).credentials()
        if verbose:
            rig.start_service(verbose=True)
        else:
            rig.start_service()
        yield rig
    finally:
        rig.stop_service()
        rig.ami_proxy.close()
        asterisk.send_signal(signal.SIGTERM)
        try:
            asterisk.wait(30)
        except subprocess.TimeoutExpired:
            asterisk.kill()
            asterisk.wait()
        if instance_dir is not None and instance_dir.is_dir():
            # Keep Asterisk's logs with the test's files; the run directory itself goes away.
            shutil.copytree(instance_dir / "log", workdir / "asterisk-log", dirs_exist_ok=True)
            shutil.rmtree(instance_dir, ignore_errors=True)
        from hotline.settings import Settings as _Settings

        shutil.rmtree(_Settings.from_env(env).service_dir, ignore_errors=True)  # the service's token and spool


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-e2e")
    with running_rig(workdir, "e2e", _short_profile(workdir / "profile.yaml")) as started:
        yield started


@pytest_asyncio.fixture
async def carrier(rig: Rig) -> AsyncIterator[AgentPhone]:
    """The far end of the trunk: answers every call Asterisk sends out (the callbacks)."""
    phone = AgentPhone(
        "carrier",
        "-",
        registrar=("127.0.0.1", rig.sip_port),
        local_port=rig.carrier_port,
        ring_seconds=0.5,
        talk_seconds=None,
        workdir=rig.workdir / "carrier",
    )
    await phone.start()
    yield phone
    await phone.stop()


async def log_in(rig: Rig, phone: AgentPhone, code: str = "*41") -> None:
    """Dial a feature code from the phone, as an agent would, and check Asterisk heard it."""
    result = await phone.dial(code)
    assert result.answered, f"{phone.name} dialled {code}: {result.error}"


@pytest_asyncio.fixture
async def phones(rig: Rig) -> AsyncIterator[callable]:
    """Start, register and log in agent phones (with *41); log out, unregister and stop them after."""
    started: list[AgentPhone] = []

    async def make(person_id: str, *, login: bool = True, **kwargs) -> AgentPhone:
        phone = rig.phone(person_id, **kwargs)
        await phone.start()
        started.append(phone)
        await phone.register()
        if login:
            await log_in(rig, phone)
            await rig.wait_for(lambda: _active_somewhere(rig, person_id), what=f"{person_id} to take calls")
        return phone

    yield make
    for phone in started:
        try:
            if rig.service is not None:
                await phone.dial("*42")
            await phone.unregister()
        finally:
            await phone.stop()


async def _active_somewhere(rig: Rig, person_id: str) -> bool:
    health = rig.health() or {}
    return person_id in health.get("taking_calls", [])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server (127.0.0.1:5432), dropped afterwards."""
    import uuid

    import psycopg

    name = f"hotline_e2e_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {exc}")
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the supervisor console (tests/e2e/test_console.py) -------------------------------------------------------

CONSOLE_PASSWORD = "e2e console password 151"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def console_users(rig: Rig) -> dict[str, str]:
    """A supervisor (English) and a viewer (Arabic), made with the CLI as an operator would: role -> name."""
    users = {"supervisor": ("e2e-supervisor", "en"), "viewer": ("e2e-viewer", "ar")}
    for role, (name, language) in users.items():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "hotline",
                "user",
                "add",
                name,
                "--role",
                role,
                "--language",
                language,
                "--password-stdin",
            ],
            input=CONSOLE_PASSWORD + "\n",
            env=rig.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return {role: name for role, (name, _) in users.items()}


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[object]:
    """Debian's chromium driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
