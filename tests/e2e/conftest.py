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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from cdr.builder import CallRecord
from cdr.db import RecordStore
from hotline.asterisk import Credentials
from hotline.settings import PROJECT_ROOT
from hotline.sipp import AgentPhone, free_udp_port

SKIP_REASON = (
    "end-to-end tests run Asterisk 22 in a chroot of a Debian sid root and drive SIPp: they need root "
    "and the sip-tester package (CI runs them as root through `make test`)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0 and shutil.which("sipp") and shutil.which("mmdebstrap"):
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(skip)


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
    service: subprocess.Popen | None = None
    logs: list[Path] = field(default_factory=list)

    def _spawn(self, *args: str, log_name: str) -> subprocess.Popen:
        log = self.workdir / log_name
        self.logs.append(log)
        handle = open(log, "ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "hotline", *args],
                env=self.env,
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

    def start_service(self, timeout: float = 30.0) -> None:
        assert self.service is None
        self.service = self._spawn("serve", log_name="service.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health and health["ami_connected"]:
                return
            if self.service.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the hotline service did not come up:\n" + (self.workdir / "service.log").read_text())

    def stop_service(self) -> None:
        service, self.service = self.service, None
        if service is not None and service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()

    def phone(self, person_id: str, *, talk_seconds: float | None = 2.0, ring_seconds: float = 0.3) -> AgentPhone:
        return AgentPhone(
            person_id,
            self.credentials.phones[person_id],
            registrar=("127.0.0.1", self.sip_port),
            local_port=free_udp_port(),
            ring_seconds=ring_seconds,
            talk_seconds=talk_seconds,
            workdir=self.workdir / "phones",
        )

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


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    workdir = tmp_path_factory.mktemp("hotline-e2e")
    instance = f"e2e-{os.getpid()}"
    sip_port = free_udp_port()
    http_port = _free_tcp_port()
    db_url = f"sqlite:///{workdir / 'records.db'}"
    env = {
        **os.environ,
        "HOTLINE_PROFILE": str(_short_profile(workdir / "profile.yaml")),
        "HOTLINE_DB_URL": db_url,
        "HOTLINE_INSTANCE": instance,
        "HOTLINE_SIP_PORT": str(sip_port),
        "HOTLINE_AMI_PORT": str(_free_tcp_port()),
        "HOTLINE_AGI_PORT": str(_free_tcp_port()),
        "HOTLINE_HTTP_PORT": str(http_port),
    }
    rig = Rig(workdir, env, sip_port, http_port, db_url, Credentials("", "", {}))
    asterisk = rig._spawn("asterisk", "start", log_name="asterisk.log")
    instance_dir: Path | None = None
    try:
        deadline = time.monotonic() + 180  # includes building the sid root if make did not
        while "Asterisk is up" not in (workdir / "asterisk.log").read_text(errors="replace"):
            if asterisk.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Asterisk did not start:\n" + (workdir / "asterisk.log").read_text())
            time.sleep(0.2)
        from hotline.asterisk import AsteriskInstance
        from hotline.provision import current_root
        from hotline.settings import Settings

        settings = Settings.from_env(env)
        root = current_root(settings.cache_dir)
        assert root is not None
        instance_dir = AsteriskInstance(root, settings).host_dir
        rig.credentials = AsteriskInstance(root, settings).credentials()
        rig.start_service()
        yield rig
    finally:
        rig.stop_service()
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


@pytest_asyncio.fixture
async def phones(rig: Rig) -> AsyncIterator[callable]:
    """Start and register agent phones; unregister and stop them after the test."""
    started: list[AgentPhone] = []

    async def make(person_id: str, **kwargs) -> AgentPhone:
        phone = rig.phone(person_id, **kwargs)
        await phone.start()
        started.append(phone)
        await phone.register()
        return phone

    yield make
    for phone in started:
        try:
            await phone.unregister()
        finally:
            await phone.stop()
