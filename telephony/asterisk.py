"""One Asterisk instance: its run directory inside the sid root, rendered configuration, process.

The run directory lives at ``<root>/hotline/<instance>`` so Asterisk (chrooted into the root) sees
it as ``/hotline/<instance>``. Secrets (AMI, SIP phones) are generated at every fresh start and
written only there, created with mode 0600 (never visible with wider permissions); nothing secret is
ever in the repository.

Asterisk drops root to the ``asterisk`` user of the root (``runuser``); the folders it writes and the
configuration it reads are handed to that user. Its pid is kept in ``<instance>/asterisk.pid``. If
an earlier ``hotline run`` died without stopping it (SIGKILL, power cut of the service only), the
next start finds it: it is adopted with the saved credentials when the configuration is unchanged
(calls in progress go on), and stopped cleanly first otherwise. It never stays behind unnoticed.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import logging
import os
import re
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import jinja2

from profiles.model import Profile
from telephony import names as channelvars
from telephony.prompts import FORMAT as PROMPT_FORMAT
from telephony.prompts import PromptPlan, install_prompts, offer_off

log = logging.getLogger(__name__)

TEMPLATES = resources.files("telephony") / "templates"
TEMPLATE_FOLDERS = ("asterisk", "dialplan")
AMI_USER = "hotline"
RUN_USER = "asterisk"  # the Debian package's user, looked up in the root's /etc/passwd
PID_FILE = "asterisk.pid"
# What Asterisk creates (voice notes, logs, its database) is its user's alone: 0600 files, 0700 folders.
ASTERISK_UMASK = 0o077
FINGERPRINT_FILE = "prepared.sha256"  # what the running Asterisk was started with: config and prompts


class AsteriskSettings(Protocol):
    """What an instance needs of the installation's settings (``hotline.settings.Settings`` has it)."""

    # Read-only: the settings are a frozen value.
    @property
    def instance(self) -> str: ...
    @property
    def cache_dir(self) -> Path: ...
    @property
    def sip_host(self) -> str: ...
    @property
    def sip_port(self) -> int: ...
    @property
    def ami_port(self) -> int: ...
    @property
    def agi_host(self) -> str: ...
    @property
    def agi_port(self) -> int: ...
    @property
    def rtp_start(self) -> int: ...
    @property
    def rtp_end(self) -> int: ...
    @property
    def trunk_match(self) -> tuple[str, ...]: ...
    @property
    def trunk_contact(self) -> str: ...


@dataclass(frozen=True)
class Plan:
    """What the features ask of Asterisk, handed in by the composition root: the queues (with their
    members), the queue a failed IVR falls back to, and every prompt the IVR can play."""

    queues: Sequence[Any]  # routing.queues.QueueSpec: name, members, ...
    default_queue: str
    prompts: PromptPlan


class AsteriskError(RuntimeError):
    """Asterisk could not be configured, started or reached."""


# What may reach the dialplan from the directory (the profile refuses anything else at load; this checks again where
# it becomes dialplan, so a profile built in code cannot slip a pattern, a variable or a second dial string through).
_CODE = re.compile(r"[0-9]{2,6}")
_ID = re.compile(r"[a-z][a-z0-9-]{0,39}")
_SIP_URI = re.compile(r"sips?:[A-Za-z0-9._~+-]{1,64}@[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
_NUMBER = re.compile(r"\+?[0-9]{3,15}")
_CAMPAIGN_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")  # a profile's id: a literal extension (no leading _)
_SPECIAL_EXTENSIONS = frozenset({"a", "e", "h", "i", "o", "s", "t", "T"})


def transfer_plan(profile: Profile, queues: Sequence[str]) -> dict[str, Any]:
    """What the transfer and destinations contexts are rendered from: one entry per short code of
    ``profile.directory()`` (a queue by its app_queue name, a person by their phone, a destination by its id)
    and one per destination (its dial string). Raises AsteriskError for anything that is not plainly a code,
    an id, a queue of ``queues``, a SIP URI or a number."""
    known = set(queues)
    directory: list[dict[str, str]] = []
    for entry in profile.directory():
        if not _CODE.fullmatch(entry.code):
            raise AsteriskError(f"directory code {entry.code!r} is not 2 to 6 digits")
        item = {"code": entry.code, "kind": entry.kind, "id": entry.id}
        if entry.kind == "queue":
            if entry.language is None or entry.topic is None:
                raise AsteriskError(f"directory code {entry.code}: a queue needs a language and a topic")
            item["queue"] = channelvars.queue_name(entry.language, entry.topic, entry.specialty)
            if item["queue"] not in known:
                raise AsteriskError(f"directory code {entry.code}: no queue {item['queue']!r}")
            item.update(language=entry.language, topic=entry.topic, specialty=entry.specialty or "")
        elif entry.kind in ("person", "destination"):
            if not _ID.fullmatch(entry.id) or entry.id in _SPECIAL_EXTENSIONS:
                raise AsteriskError(f"directory code {entry.code}: {entry.id!r} cannot name a phone or destination")
            if entry.kind == "person":
                item["dial"] = channelvars.interface(entry.id)
        else:
            raise AsteriskError(f"directory code {entry.code}: unknown kind {entry.kind!r}")
        directory.append(item)
    if len({item["code"] for item in directory}) != len(directory):
        raise AsteriskError("the directory names one code twice")
    destinations = []
    for destination in profile.destinations:
        if not _ID.fullmatch(destination.id) or destination.id in _SPECIAL_EXTENSIONS:
            raise AsteriskError(f"destination id {destination.id!r} cannot be a dialplan extension")
        if destination.sip is not None and not _SIP_URI.fullmatch(destination.sip):
            raise AsteriskError(f"destination {destination.id}: {destination.sip!r} is not a plain SIP URI")
        if destination.number is not None and not _NUMBER.fullmatch(destination.number):
            raise AsteriskError(f"destination {destination.id}: {destination.number!r} is not a plain number")
        destinations.append(
            {"id": destination.id, "dial": channelvars.destination_dial(destination.sip, destination.number)}
        )
    hold = [lang.code for lang in profile.languages if profile.prompt("transfer_hold", lang.code) is not None]
    return {"directory": directory, "destinations": destinations, "rules": profile.transfers,
            "sip_destinations": any(d.sip for d in profile.destinations), "hold_languages": hold}  # fmt: skip


def campaign_plan(profile: Profile) -> list[dict[str, Any]]:
    """What the campaign context (``hotline-campaign-out``) is rendered from: one extension per campaign (its id),
    its keys, tries, timeout, the doctor's queue priority and its emergency destination's id. Raises AsteriskError
    for an id that cannot be an extension, a key that is not one digit, or an emergency that is no destination."""
    if profile.outbound is None:
        return []
    destinations = {d.id for d in profile.destinations}
    plan = []
    for campaign in profile.outbound.campaigns:
        if not _CAMPAIGN_ID.fullmatch(campaign.id) or campaign.id in _SPECIAL_EXTENSIONS:
            raise AsteriskError(f"campaign id {campaign.id!r} cannot be a dialplan extension")
        script = campaign.script
        for key in (script.well, script.doctor, script.emergency):
            if not re.fullmatch(r"[0-9*#]", key):
                raise AsteriskError(f"campaign {campaign.id}: key {key!r} is not one key")
        if campaign.emergency not in destinations:
            raise AsteriskError(f"campaign {campaign.id}: {campaign.emergency!r} is not a destination of the profile")
        plan.append(
            {
                "id": campaign.id,
                "well": script.well,
                "doctor": script.doctor,
                "emergency": script.emergency,
                "retries": script.retries,
                "timeout": script.timeout_seconds,
                "priority": campaign.priority,
                "destination": campaign.emergency,
            }
        )
    return plan


@dataclass(frozen=True)
class Credentials:
    """Generated at run time; read back by tools such as ``hotline simulate``.

    ``agi_secret`` is the FastAGI secret: the rendered dialplan puts it in every AGI URL and the
    service's AGIServer refuses any connection without it. A credentials file written before it
    existed still loads, with a fresh secret (which only a new render puts in the dialplan)."""

    ami_username: str
    ami_secret: str
    phones: dict[str, str]  # person id (or a supervisor's phone id) -> SIP password
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
            {phone: secrets.token_urlsafe(16) for phone in phone_ids(profile)},
            secrets.token_hex(24),
        )


def phone_ids(profile: Profile) -> tuple[str, ...]:
    """Every PJSIP phone of the profile: each person's, then each supervisor's own (their ids never clash: the
    profile check refuses a supervisor id that is a person's)."""
    return (*(p.id for p in profile.people), *(s.id for s in profile.supervisors))


class AsteriskInstance:
    def __init__(self, root: Path, settings: AsteriskSettings):
        self.root = root
        self.settings = settings
        self.inside = PurePosixPath("/hotline") / settings.instance  # the path Asterisk sees
        self.host_dir = root / "hotline" / settings.instance  # the same path from the host
        self.process: asyncio.subprocess.Process | AdoptedProcess | None = None
        self._adopt: int | None = None  # the pid of a running Asterisk of this instance that start() takes over
        self._fingerprint: str | None = None

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
    def voice_notes_dir(self) -> Path:
        """Self-service voice notes (health data): 0700, Asterisk's user; Asterisk runs with umask 077,
        so what it records there is 0600."""
        return self.host_dir / channelvars.VOICE_NOTES_DIR

    @property
    def recordings_dir(self) -> Path:
        """Call recordings (health data), like the voice notes: 0700, Asterisk's user, its files 0600."""
        return self.host_dir / channelvars.RECORDINGS_DIR

    @property
    def credentials_file(self) -> Path:
        return self.host_dir / "credentials.json"

    @property
    def pid_file(self) -> Path:
        return self.host_dir / PID_FILE

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
        """Render the configuration from the profile, install the prompts, generate fresh secrets.

        If an Asterisk of this instance is still running (an earlier run died without stopping it),
        it is kept for :meth:`start` to adopt when the saved credentials still fit the profile and
        the configuration is unchanged; otherwise it is stopped cleanly first.
        """
        self._adopt = None
        running = self.running_pids()
        for pid in running:
            parent = _live_owner(pid)
            if parent is not None:
                raise AsteriskError(
                    f"instance {self.settings.instance!r} is already running (Asterisk pid {pid}, started by "
                    f"pid {parent}): stop it first, or choose another HOTLINE_INSTANCE"
                )
        if running:
            saved = self._saved_credentials(profile)
            if len(running) == 1 and saved is not None:
                fingerprint = self._fingerprint_of(self.render(profile, plan, saved, write=False), plan)
                if fingerprint == self._read(self.host_dir / FINGERPRINT_FILE):
                    log.warning(
                        "Asterisk of instance %r is still running (pid %s) from an earlier run: adopting "
                        "it with its saved credentials; calls in progress go on",
                        self.settings.instance,
                        running[0],
                    )
                    self._adopt, self._fingerprint = running[0], fingerprint
                    return saved
            for pid in running:
                log.warning(
                    "stopping the Asterisk (pid %s) an earlier run of instance %r left running: "
                    "its configuration or credentials differ",
                    pid,
                    self.settings.instance,
                )
                _terminate(pid)
        if self.host_dir.exists():
            for name in ("etc", "run", "sounds"):
                shutil.rmtree(self.host_dir / name, ignore_errors=True)
        (self.host_dir / FINGERPRINT_FILE).unlink(missing_ok=True)
        self.pid_file.unlink(missing_ok=True)
        owner = self.run_as()
        if owner is None and os.geteuid() == 0 and self.root.resolve() != Path("/"):
            log.warning("the root %s has no %r user: Asterisk will run as root", self.root, RUN_USER)
        self.host_dir.mkdir(parents=True, exist_ok=True)
        self.host_dir.parent.chmod(0o755)
        # Asterisk may enter its folder, not read the credentials or the service's token.
        if owner is not None:
            os.chown(self.host_dir, 0, owner.gid)
            self.host_dir.chmod(0o750)
        else:
            self.host_dir.chmod(0o700)
        for path in self.dirs(inside=False).values():
            Path(path).mkdir(parents=True, exist_ok=True)
        (self.host_dir / "log" / "cdr-csv").mkdir(exist_ok=True)
        if profile.cases is not None or any(t.when_closed == "message" for t in profile.topics):
            self._voice_notes_folder(owner)
        # before a voice note, and what an agent hears on a transfer key (Asterisk's own beep is not installed)
        make_beep(self.sounds_dir / "beep.wav")
        if profile.records_calls:
            self._private_folder(self.recordings_dir, owner)  # kept across starts: purged by their retention
        credentials = Credentials.generate(profile)
        rendered = self.render(profile, plan, credentials)
        install_prompts(plan.prompts, self.settings.cache_dir / "prompts", self.sounds_dir)
        offer_off(self.sounds_dir, (q.name for q in plan.queues))
        write_private(self.credentials_file, credentials.to_json())
        if owner is not None:
            for name in ("etc", "lib", "spool", "run", "log", "sounds"):
                _chown_tree(self.host_dir / name, owner)
        self._fingerprint = self._fingerprint_of(rendered, plan)
        write_private(self.host_dir / FINGERPRINT_FILE, self._fingerprint + "\n")
        return credentials

    def _voice_notes_folder(self, owner: RunAs | None) -> None:
        """Made 0700 (kept across starts: the notes belong to their cases), owned by Asterisk's user."""
        self._private_folder(self.voice_notes_dir, owner)

    @staticmethod
    def _private_folder(folder: Path, owner: RunAs | None) -> None:
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # a folder left wider by hand is narrowed; its files are Asterisk's (0600)
        if owner is not None:
            os.chown(folder, owner.uid, owner.gid)

    def run_as(self) -> RunAs | None:
        """The user Asterisk drops root to: ``asterisk`` of the root's /etc/passwd, when we are root."""
        if os.geteuid() != 0:
            return None
        return RunAs.lookup(self.root, RUN_USER)

    def _saved_credentials(self, profile: Profile) -> Credentials | None:
        try:
            saved = Credentials.from_json(self.credentials_file.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return saved if set(saved.phones) == set(phone_ids(profile)) else None

    @staticmethod
    def _fingerprint_of(rendered: dict[str, str], plan: Plan) -> str:
        digest = hashlib.sha256()
        for name in sorted(rendered):
            digest.update(f"{name}\0{rendered[name]}\0".encode())
        digest.update(repr(sorted(plan.prompts.items())).encode())
        digest.update(repr(sorted(q.name for q in plan.queues)).encode())
        return digest.hexdigest()

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def render(self, profile: Profile, plan: Plan, credentials: Credentials, *, write: bool = True) -> dict[str, str]:
        """Render every template; write them into ``etc`` (created 0600, owned by Asterisk's user) unless
        ``write`` is false. Returns file name -> text."""
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
        supervisors = [
            {
                "id": s.id,
                "name": s.name,
                "password": credentials.phones[s.id],
                "language": s.language or profile.default_language,
            }
            for s in profile.supervisors
        ]
        context = {
            "profile": profile,
            "dirs": self.dirs(inside=True),
            "voice_notes": f"{self.inside}/{channelvars.VOICE_NOTES_DIR}",
            "recordings": f"{self.inside}/{channelvars.RECORDINGS_DIR}",
            "cases": profile.cases,
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
            "supervisors": supervisors,
            "queues": plan.queues,
            "default_queue": plan.default_queue,
            "settings": profile.queue_settings,
            "v": channelvars,
            "feature_codes": channelvars.FEATURE_CODES,
            "transfer": transfer_plan(profile, [q.name for q in plan.queues]),
            "campaigns": campaign_plan(profile),
            "routing": {
                "exact_max_penalty": channelvars.EXACT_MAX_PENALTY,
                "widened_max_penalty": channelvars.WIDENED_MAX_PENALTY,
            },
        }
        owner = self.run_as()
        context["run_as"] = None if owner is None else {"user": owner.user, "group": owner.group}
        rendered: dict[str, str] = {}
        for folder in TEMPLATE_FOLDERS:
            for template in sorted((TEMPLATES / folder).iterdir(), key=lambda t: t.name):
                if template.name.endswith(".j2"):
                    text = env.get_template(f"{folder}/{template.name}").render(context)
                    rendered[template.name.removesuffix(".j2")] = text
        if write:
            etc = self.host_dir / "etc"
            etc.mkdir(parents=True, exist_ok=True)
            for name, text in rendered.items():
                write_private(etc / name, text, owner=owner)
        return rendered

    # -- process -------------------------------------------------------------------------------------
    def _chroot(self, *args: str) -> list[str]:
        asterisk = ["/usr/sbin/asterisk", "-C", self.config_file, *args]
        if self.root.resolve() == Path("/"):
            return asterisk  # the image's own Asterisk (docker/Dockerfile): no chroot, no root needed
        if os.geteuid() != 0:
            raise AsteriskError("Asterisk runs in a chroot of its Debian sid root: run as root (or with sudo)")
        return ["chroot", str(self.root), *asterisk]

    async def start(self, boot_timeout: float = 60.0) -> None:
        """Start Asterisk in the foreground (as our child), or adopt the one :meth:`prepare` found
        still running, and wait until it is fully booted. Its pid goes to :attr:`pid_file`."""
        if self._adopt is not None:
            pid, self._adopt = self._adopt, None
            try:
                self.process = AdoptedProcess(pid)
            except ProcessLookupError:
                raise AsteriskError(f"the Asterisk (pid {pid}) to adopt exited meanwhile: start again") from None
            try:
                await asyncio.wait_for(self._wait_booted(), boot_timeout)
            except (TimeoutError, AsteriskError):
                await self.stop()
                raise AsteriskError(
                    f"the running Asterisk (pid {pid}) does not answer; it was stopped: start again"
                ) from None
            write_private(self.pid_file, f"{pid}\n")
            log.info(
                "Asterisk is up (pid %s, adopted: it outlived an earlier run), configuration in %s/etc",
                pid,
                self.host_dir,
            )
            return
        if self.running_pids():
            raise AsteriskError(
                f"an Asterisk of instance {self.settings.instance!r} is already running: prepare() adopts or stops it"
            )
        (self.host_dir / "log").mkdir(parents=True, exist_ok=True)
        with open(self.host_dir / "log" / "console.log", "ab") as console:  # noqa: ASYNC230 (opened once, at start)
            self.process = await asyncio.create_subprocess_exec(
                *self._chroot("-f", "-n"),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
                umask=ASTERISK_UMASK,
            )
        write_private(self.pid_file, f"{self.process.pid}\n")
        try:
            await asyncio.wait_for(self._wait_booted(), boot_timeout)
        except (TimeoutError, AsteriskError) as exc:
            await self.stop()
            raise AsteriskError(
                f"Asterisk did not boot; see {self.messages_log} and {self.host_dir}/log/console.log"
            ) from exc
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
        if process is None:
            return
        try:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.warning("Asterisk did not stop within %.0f s; killing it", timeout)
            process.kill()
            await process.wait()
        except ProcessLookupError:
            pass
        finally:
            if isinstance(process, AdoptedProcess):
                process.close()
        if self._read(self.pid_file) == str(process.pid):
            self.pid_file.unlink(missing_ok=True)

    def running_pids(self) -> list[int]:
        """The Asterisk daemons of this instance that are running (in this root), ours or left behind."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                root = os.readlink(entry / "root")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv if a]
            if (
                len(args) >= 4
                and args[0].endswith("asterisk")
                and args[1:3] == ["-C", self.config_file]
                and "-f" in args[3:]
                and Path(root) == self.root.resolve()
            ):
                found.append(int(entry.name))
        return sorted(found)


@dataclass(frozen=True)
class RunAs:
    """The unprivileged user Asterisk runs as, with its numeric ids inside the root."""

    user: str
    group: str
    uid: int
    gid: int

    @classmethod
    def lookup(cls, root: Path, user: str) -> RunAs | None:
        try:
            passwd = (root / "etc" / "passwd").read_text(encoding="utf-8", errors="replace")
            groups = (root / "etc" / "group").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        for line in passwd.splitlines():
            fields = line.split(":")
            if len(fields) >= 4 and fields[0] == user and fields[2].isdigit() and fields[3].isdigit():
                uid, gid = int(fields[2]), int(fields[3])
                group = next(
                    (
                        g.split(":")[0]
                        for g in groups.splitlines()
                        if len(g.split(":")) >= 3 and g.split(":")[2] == str(gid)
                    ),
                    user,
                )
                return cls(user, group, uid, gid)
        return None


PR_SET_PDEATHSIG = 1


def term_when_parent_dies() -> None:
    """In a child process (a ``preexec_fn``, or its first step): SIGTERM when the parent dies (Linux's
    PR_SET_PDEATHSIG), so nothing root's run started outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def write_private(path: Path, text: str, *, owner: RunAs | None = None) -> None:
    """Write a secret: a temporary file created 0600 (whatever the umask) in the same folder, then
    renamed over ``path``. The content is never visible with wider permissions, not even briefly."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # O_CREAT|O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            if owner is not None:
                os.fchown(handle.fileno(), owner.uid, owner.gid)
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def make_beep(target: Path) -> None:
    """The tone before a voice note: 0.3 s of 1 kHz, in the prompts' format."""
    target.parent.mkdir(parents=True, exist_ok=True)
    command = ["sox", "-n", *PROMPT_FORMAT, str(target), "synth", "0.3", "sine", "1000", "vol", "0.5"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise AsteriskError(f"sox could not make the beep: {done.stderr.strip()[-300:]}")


def _chown_tree(top: Path, owner: RunAs) -> None:
    if not top.exists():
        return
    os.chown(top, owner.uid, owner.gid)
    for folder, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(folder, name), owner.uid, owner.gid, follow_symlinks=False)


def _live_owner(pid: int) -> int | None:
    """The pid of the ``hotline`` process whose child Asterisk ``pid`` is, while it lives; None for an
    orphan (its parent died: it now belongs to init or a subreaper such as systemd)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat_line.rsplit(")", 1)[1].split()[1])
        argv = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    if parent in (1, os.getpid()) or not any(b"hotline" in arg for arg in argv):
        return None
    return parent


def _terminate(pid: int, timeout: float = 15.0) -> None:
    """Stop a process that is not our child: SIGTERM, wait for it through a pidfd, SIGKILL if it lingers."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            log.warning("Asterisk (pid %s) did not stop within %.0f s; killing it", pid, timeout)
            signal.pidfd_send_signal(fd, signal.SIGKILL)
            select.select([fd], [], [], timeout)
    except ProcessLookupError:
        pass
    finally:
        os.close(fd)


class AdoptedProcess:
    """A running Asterisk that is not our child (it outlived an earlier run): the part of
    ``asyncio.subprocess.Process`` we use, through a pidfd, so a reused pid is never signalled."""

    UNKNOWN_EXIT = -1  # the exit status of a process that is not our child cannot be known

    def __init__(self, pid: int):
        self.pid = pid
        self._returncode: int | None = None
        self._fd: int | None = os.pidfd_open(pid)
        self._exited: asyncio.Future[int] | None = None

    @property
    def returncode(self) -> int | None:
        """None while it runs (a pidfd becomes readable when the process exits)."""
        if self._returncode is None and self._fd is not None and select.select([self._fd], [], [], 0)[0]:
            self._returncode = self.UNKNOWN_EXIT
        return self._returncode

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.UNKNOWN_EXIT
        loop = asyncio.get_running_loop()
        if self._exited is None:
            self._exited = loop.create_future()
            assert self._fd is not None
            loop.add_reader(self._fd, self._on_exit)
        return await asyncio.shield(self._exited)

    def _on_exit(self) -> None:
        assert self._fd is not None
        asyncio.get_running_loop().remove_reader(self._fd)
        self._returncode = self.UNKNOWN_EXIT
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(self.UNKNOWN_EXIT)

    def send_signal(self, sig: int) -> None:
        if self._fd is None or self.returncode is not None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._fd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        if self._fd is not None:
            if self._exited is not None and not self._exited.done():
                asyncio.get_running_loop().remove_reader(self._fd)
                self._exited.cancel()
            os.close(self._fd)
            self._fd = None
