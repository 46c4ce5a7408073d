"""One Asterisk instance: its run directory inside the sid root, rendered configuration, process.

The run directory lives at ``<root>/hotline/<instance>`` so Asterisk (chrooted into the root) sees
it as ``/hotline/<instance>``. Secrets (AMI, SIP phones) are generated at every render and written
only there, with mode 0600; nothing secret is ever in the repository.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import jinja2

from profiles.model import Profile
from telephony import names as channelvars
from telephony.prompts import PromptPlan, install_prompts, offer_off

log = logging.getLogger(__name__)

TEMPLATES = resources.files("telephony") / "templates"
TEMPLATE_FOLDERS = ("asterisk", "dialplan")
AMI_USER = "hotline"


class AsteriskSettings(Protocol):
    """What an instance needs of the installation's settings (``hotline.settings.Settings`` has it)."""

    instance: str
    cache_dir: Path
    sip_host: str
    sip_port: int
    ami_port: int
    agi_host: str
    agi_port: int
    rtp_start: int
    rtp_end: int
    trunk_match: tuple[str, ...]
    trunk_contact: str


@dataclass(frozen=True)
class Plan:
    """What the features ask of Asterisk, handed in by the composition root: the queues (with their
    members), the queue a failed IVR falls back to, and every prompt the IVR can play."""

    queues: Sequence[Any]  # routing.queues.QueueSpec: name, members, ...
    default_queue: str
    prompts: PromptPlan


class AsteriskError(RuntimeError):
    """Asterisk could not be configured, started or reached."""


@dataclass(frozen=True)
class Credentials:
    """Generated at run time; read back by tools such as ``hotline simulate``.

    ``agi_secret`` is the FastAGI secret: the rendered dialplan puts it in every AGI URL and the
    service's AGIServer refuses any connection without it. A credentials file written before it
    existed still loads, with a fresh secret (which only a new render puts in the dialplan)."""

    ami_username: str
    ami_secret: str
    phones: dict[str, str]  # person id -> SIP password
    agi_secret: str = field(default_factory=lambda: secrets.token_hex(24))

    def to_json(self) -> str:
        return json.dumps(
            {
                "ami": {"username": self.ami_username, "secret": self.ami_secret},
                "agi": {"secret": self.agi_secret},
                "phones": self.phones,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Credentials:
        data = json.loads(text)
        agi = data.get("agi")
        if agi is None:  # written before the FastAGI secret existed
            return cls(data["ami"]["username"], data["ami"]["secret"], dict(data["phones"]))
        return cls(data["ami"]["username"], data["ami"]["secret"], dict(data["phones"]), str(agi["secret"]))

    @classmethod
    def generate(cls, profile: Profile) -> Credentials:
        return cls(
            AMI_USER,
            secrets.token_urlsafe(24),
            {p.id: secrets.token_urlsafe(16) for p in profile.people},
            secrets.token_hex(24),
        )


class AsteriskInstance:
    def __init__(self, root: Path, settings: AsteriskSettings):
        self.root = root
        self.settings = settings
        self.inside = PurePosixPath("/hotline") / settings.instance  # the path Asterisk sees
        self.host_dir = root / "hotline" / settings.instance  # the same path from the host
        self.process: asyncio.subprocess.Process | None = None

    # -- paths ---------------------------------------------------------------------------------------
    def dirs(self, inside: bool) -> dict[str, str]:
        base = str(self.inside) if inside else str(self.host_dir)
        return {name: f"{base}/{name}" for name in ("etc", "lib", "spool", "run", "log", "sounds")}

    @property
    def config_file(self) -> str:
        return f"{self.inside}/etc/asterisk.conf"

    @property
    def sounds_dir(self) -> Path:
        return self.host_dir / "sounds"

    @property
    def credentials_file(self) -> Path:
        return self.host_dir / "credentials.json"

    @property
    def cdr_csv(self) -> Path:
        return self.host_dir / "log" / "cdr-csv" / "Master.csv"

    @property
    def messages_log(self) -> Path:
        return self.host_dir / "log" / "messages.log"

    def credentials(self) -> Credentials:
        try:
            return Credentials.from_json(self.credentials_file.read_text())
        except FileNotFoundError as exc:
            raise AsteriskError(f"no credentials in {self.credentials_file}: is the hotline running?") from exc

    # -- configuration -------------------------------------------------------------------------------
    def prepare(self, profile: Profile, plan: Plan) -> Credentials:
        """Render the configuration from the profile, install the prompts, generate fresh secrets."""
        if self.host_dir.exists():
            for name in ("etc", "run", "sounds"):
                shutil.rmtree(self.host_dir / name, ignore_errors=True)
        for path in self.dirs(inside=False).values():
            Path(path).mkdir(parents=True, exist_ok=True)
        (self.host_dir / "log" / "cdr-csv").mkdir(exist_ok=True)
        credentials = Credentials.generate(profile)
        self.render(profile, plan, credentials)
        install_prompts(plan.prompts, self.settings.cache_dir / "prompts", self.sounds_dir)
        offer_off(self.sounds_dir, (q.name for q in plan.queues))
        self.credentials_file.write_text(credentials.to_json())
        self.credentials_file.chmod(0o600)
        return credentials

    def render(self, profile: Profile, plan: Plan, credentials: Credentials) -> None:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("telephony", "templates"),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        people = [
            {
                "id": p.id,
                "kind": p.kind,
                "password": credentials.phones[p.id],
                "language": max(p.languages, key=lambda code: p.languages[code]),
            }
            for p in profile.people
        ]
        context = {
            "profile": profile,
            "dirs": self.dirs(inside=True),
            "ports": {
                "sip": self.settings.sip_port,
                "ami": self.settings.ami_port,
                "rtp_start": self.settings.rtp_start,
                "rtp_end": self.settings.rtp_end,
            },
            "sip": {
                "bind": self.settings.sip_host,
                "trunk_match": self.settings.trunk_match,
                "trunk_contact": self.settings.trunk_contact,
            },
            "callbacks": profile.callbacks,
            "agi": {"host": self.settings.agi_host, "port": self.settings.agi_port, "secret": credentials.agi_secret},
            "ami": {"username": credentials.ami_username, "secret": credentials.ami_secret},
            "people": people,
            "queues": plan.queues,
            "default_queue": plan.default_queue,
            "settings": profile.queue_settings,
            "v": channelvars,
            "feature_codes": channelvars.FEATURE_CODES,
            "routing": {"exact_max_penalty": channelvars.EXACT_MAX_PENALTY, "widened_max_penalty": channelvars.WIDENED_MAX_PENALTY},
        }
        etc = self.host_dir / "etc"
        for folder in TEMPLATE_FOLDERS:
            for template in sorted((TEMPLATES / folder).iterdir(), key=lambda t: t.name):
                if not template.name.endswith(".j2"):
                    continue
                target = etc / template.name.removesuffix(".j2")
                target.write_text(env.get_template(f"{folder}/{template.name}").render(context), encoding="utf-8")
                target.chmod(0o600)

    # -- process -------------------------------------------------------------------------------------
    def _chroot(self, *args: str) -> list[str]:
        if os.geteuid() != 0:
            raise AsteriskError("Asterisk runs in a chroot of its Debian sid root: run as root (or with sudo)")
        return ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self.config_file, *args]

    async def start(self, boot_timeout: float = 60.0) -> None:
        """Start Asterisk in the foreground (as our child) and wait until it is fully booted."""
        (self.host_dir / "log").mkdir(parents=True, exist_ok=True)
        console = open(self.host_dir / "log" / "console.log", "ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self._chroot("-f", "-n"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
            )
        finally:
            console.close()
        try:
            await asyncio.wait_for(self._wait_booted(), boot_timeout)
        except (TimeoutError, AsteriskError):
            await self.stop()
            raise AsteriskError(f"Asterisk did not boot; see {self.messages_log} and {self.host_dir}/log/console.log")
        log.info("Asterisk is up (pid %s), configuration in %s/etc", self.process.pid, self.host_dir)

    async def _wait_booted(self) -> None:
        assert self.process is not None
        while True:
            if self.process.returncode is not None:
                raise AsteriskError(f"Asterisk exited with {self.process.returncode}")
            code, _ = await self.cli("core waitfullybooted", check=False)
            if code == 0:
                return
            await asyncio.sleep(0.2)

    async def cli(self, command: str, *, check: bool = True) -> tuple[int, str]:
        """Run one CLI command through the control socket (``asterisk -rx``)."""
        proc = await asyncio.create_subprocess_exec(
            *self._chroot("-rx", command),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode("utf-8", errors="replace")
        if check and proc.returncode != 0:
            raise AsteriskError(f"asterisk -rx {command!r} failed ({proc.returncode}): {text.strip()}")
        return proc.returncode or 0, text

    def console_command(self) -> list[str]:
        """The command that opens Asterisk's interactive console on the running instance."""
        return self._chroot("-r", "-vvv")

    async def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.warning("Asterisk did not stop within %.0f s; killing it", timeout)
            process.kill()
            await process.wait()
        except ProcessLookupError:
            pass

