"""The SIP guard: fail2ban on Asterisk's security log bans a source that keeps failing to authenticate.

A public number is a target: a phone account's password is guessed with REGISTERs (or INVITEs) from the
internet. Asterisk writes every failed authentication to its security log (``res_security_log``, the
``security`` file in the instance's log folder: ``ChallengeResponseFailed`` for a wrong password,
``InvalidAccountID`` for a user that does not exist, ``FailedACL``, ``InvalidPassword``). Root's ``hotline
run`` starts one fail2ban server per instance (``fail2ban-server -f`` with a configuration of its own under
the instance's folder: nothing of the system's fail2ban is used or changed) whose one jail reads that log
and, after ``ban_after`` failures from one address within ``find_seconds``, drops everything that address
sends to the instance's SIP port for ``ban_seconds`` (an nftables table of the instance's own,
``hotline-<instance>``, removed when the guard stops). The trunk's addresses are never banned: a carrier
that sends a bad request must not take the hotline off the air.

Pure rendering (:func:`render`) and the process (:class:`SipGuard`); IPv4 only (the set's type).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from telephony.asterisk import term_when_parent_dies

log = logging.getLogger(__name__)

__all__ = ["FAILURE_EVENTS", "GuardSettings", "SipGuard", "available", "render"]

#: Security events of a failed authentication (Asterisk's include/asterisk/security_events_defs.h).
FAILURE_EVENTS = ("ChallengeResponseFailed", "InvalidAccountID", "InvalidPassword", "FailedACL")
_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")


@dataclass(frozen=True)
class GuardSettings:
    instance: str
    sip_port: int
    security_log: Path  # Asterisk's security log file, as seen from the host
    ignore: tuple[str, ...] = ()  # addresses never banned (the trunk's)
    ban_after: int = 5  # failures from one address ...
    find_seconds: int = 600  # ... within this long
    ban_seconds: int = 3600  # ... and it is banned for this long

    @property
    def table(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_]", "_", self.instance)[:40]
        assert _NAME.fullmatch(name), self.instance
        return f"hotline_{name}"


def available() -> bool:
    """fail2ban and nftables are installed (``make deps`` installs both)."""
    return shutil.which("fail2ban-server") is not None and shutil.which("nft") is not None


def render(settings: GuardSettings, folder: Path, run_dir: Path | None = None) -> dict[str, str]:
    """The fail2ban configuration of one instance, by file name relative to ``folder``; its control socket and
    pid file in ``run_dir`` (a short path: a socket's path is at most 107 bytes; private: whoever reaches the
    socket commands a root process)."""
    run_dir = run_dir or folder
    events = "|".join(FAILURE_EVENTS)
    ignore = " ".join(settings.ignore)
    return {
        "fail2ban.conf": f"""[Definition]
loglevel = INFO
logtarget = {folder / "fail2ban.log"}
socket = {run_dir / "fail2ban.sock"}
pidfile = {run_dir / "fail2ban.pid"}
dbfile = :memory:
dbpurgeage = 1d
syslogsocket = auto
allowipv6 = auto
""",
        "jail.conf": f"""[DEFAULT]
backend = polling
usedns = no
ignoreself = false
ignoreip = {ignore}

[hotline-sip]
enabled = true
filter = hotline-sip
action = hotline-nft[table="{settings.table}", port="{settings.sip_port}"]
logpath = {settings.security_log}
maxretry = {settings.ban_after}
findtime = {settings.find_seconds}
bantime = {settings.ban_seconds}
""",
        "filter.d/hotline-sip.conf": f"""# Asterisk's security log: a failed authentication from <HOST>.
[Definition]
failregex = SecurityEvent="(?:{events})".*RemoteAddress="IPV4/(?:UDP|TCP|TLS|WS|WSS)/<HOST>/\\d+"
ignoreregex =
datepattern = ^\\[%%Y-%%m-%%d %%H:%%M:%%S(?:\\.%%f)?\\]
""",
        "action.d/hotline-nft.conf": """# Drop what a banned address sends to the SIP port (a table of its own).
[Definition]
actionstart_on_demand = false
actionstart = nft add table inet <table>
              nft add set inet <table> banned '{ type ipv4_addr; }'
              nft add chain inet <table> input '{ type filter hook input priority -10; policy accept; }'
              nft add rule inet <table> input ip saddr @banned udp dport <port> drop
              nft add rule inet <table> input ip saddr @banned tcp dport <port> drop
actionstop = nft delete table inet <table>
actioncheck = nft list table inet <table>
actionban = nft add element inet <table> banned '{ <ip> }'
actionunban = nft delete element inet <table> banned '{ <ip> }'

[Init]
table = hotline
port = 5060
""",
    }


class SipGuard:
    """One fail2ban server for one instance, run by root's ``hotline run`` beside Asterisk."""

    def __init__(self, settings: GuardSettings, folder: Path) -> None:
        self.settings = settings
        self.folder = folder
        self._process: asyncio.subprocess.Process | None = None
        self._run_dir: Path | None = None

    async def start(self, timeout: float = 30.0) -> None:
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self._run_dir = Path(tempfile.mkdtemp(prefix="hotline-f2b-"))  # 0700, root's: the control socket
        for name, text in render(self.settings, self.folder, self._run_dir).items():
            path = self.folder / name
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        self.settings.security_log.touch(exist_ok=True)  # fail2ban reads it from the start
        await _run("nft", "delete", "table", "inet", self.settings.table, check=False)  # a killed run's leftover
        self._process = await asyncio.create_subprocess_exec(
            "fail2ban-server", "-f", "-x", "-c", str(self.folder), "-s", str(self._run_dir / "fail2ban.sock"),
            "-p", str(self._run_dir / "fail2ban.pid"), "--logtarget", str(self.folder / "fail2ban.log"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=term_when_parent_dies,  # a killed run leaves no fail2ban behind (its table goes with it)
        )  # fmt: skip
        deadline = asyncio.get_running_loop().time() + timeout
        while not await self.ready():
            if self._process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                why = "exited" if self._process.returncode is not None else "did not start its jail"
                await self.stop()
                raise RuntimeError(f"fail2ban {why}: {self._log_tail()}")
            await asyncio.sleep(0.2)
        log.info("SIP guard: a source is banned from port %d after %d failed authentications in %d s (fail2ban)",
                 self.settings.sip_port, self.settings.ban_after, self.settings.find_seconds)  # fmt: skip

    def _log_tail(self) -> str:
        try:
            lines = (self.folder / "fail2ban.log").read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"no log ({exc})"
        return " | ".join(line for line in lines[-8:] if "WARNING 'sys" not in line)

    async def ready(self) -> bool:
        """The jail is up: its nftables table exists."""
        return await _run("nft", "list", "table", "inet", self.settings.table, check=False) == 0

    async def banned(self) -> list[str]:
        """The addresses banned now (from the nftables set)."""
        process = await asyncio.create_subprocess_exec(
            "nft", "list", "set", "inet", self.settings.table, "banned",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        out, _ = await process.communicate()
        match = re.search(r"elements = \{([^}]*)\}", out.decode())
        return [part.strip() for part in match.group(1).split(",")] if match else []

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)  # fail2ban runs each action's actionstop: the table goes
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await _run("nft", "delete", "table", "inet", self.settings.table, check=False)
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None


async def _run(*command: str, check: bool = True) -> int:
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    code = await process.wait()
    if check and code != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({code})")
    return code
