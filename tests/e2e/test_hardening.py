"""Asterisk's configuration and process, hardened (issue 10, items 2, 4 and 11), against a real Asterisk 22.

One ``hotline run`` of its own (root: Asterisk, and the service as the unprivileged ``hotline`` user, as an operator
starts it) on free
loopback ports. SIPp is driven directly with the scenarios in ``tests/e2e/hardening/``. The crash test runs
last: it kills that ``hotline run``, starts it again, and stops it for good.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, _free_tcp_port, _short_profile  # tests/e2e is on sys.path

from cdr.db import RecordStore
from telephony.sipp.driver import free_udp_port

SCENARIOS = Path(__file__).parent / "hardening"
NUMBER = "151"  # the default profile's number


@dataclass
class Hotline:
    """One ``hotline run`` process and what a test needs to reach it."""

    workdir: Path
    env: dict[str, str]
    instance: str
    sip_port: int
    ami_port: int
    http_port: int
    db_url: str
    process: subprocess.Popen | None = None
    runs: int = 0
    calls: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self, timeout: float = 180.0) -> None:
        assert self.process is None or self.process.poll() is not None
        self.runs += 1
        log = self.workdir / f"run-{self.runs}.log"
        self.logs.append(log)
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hotline", "run"],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health and health.get("ami_connected"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"hotline run #{self.runs} did not become healthy:\n" + log.read_text(errors="replace"))

    def stop(self, timeout: float = 60.0) -> int | None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/health", timeout=2) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    @property
    def credentials(self) -> dict:
        from hotline.settings import Settings
        from telephony.provision import current_root

        settings = Settings.from_env(self.env)
        found = current_root(settings.cache_dir)
        assert found is not None
        return json.loads((found / "hotline" / self.instance / "credentials.json").read_text())

    def asterisk_pids(self) -> list[int]:
        """Every Asterisk daemon of this instance, found in /proc (not through the code under test)."""
        config = f"/hotline/{self.instance}/etc/asterisk.conf"
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            except OSError:
                continue
            if args and args[0].endswith("asterisk") and config in args and not any(a.startswith("-r") for a in args):
                found.append(int(entry.name))
        return found

    def sipp_command(
        self,
        scenario: str,
        *,
        source: str,
        caller: str,
        hold_ms: int = 3000,
        timeout: float = 30.0,
        service: str = NUMBER,
    ) -> tuple[list[str], Path]:
        """SIPp placing one call of ``scenario`` from ``source`` (a loopback address), and its log file."""
        self.calls += 1
        prefix = self.workdir / f"sipp-{self.calls}-{scenario}"
        command = [
            "sipp",
            f"127.0.0.1:{self.sip_port}",
            "-sf",
            str(SCENARIOS / f"{scenario}.xml"),
            "-s",
            service,
            "-key",
            "caller",
            caller,
            "-i",
            source,
            "-p",
            str(free_udp_port(source)),
            "-mi",
            source,
            "-mp",
            str(free_udp_port(source)),
            "-m",
            "1",
            "-l",
            "1",
            "-d",
            str(hold_ms),
            "-recv_timeout",
            "15000",
            "-timeout",
            str(int(timeout)),
            "-timeout_error",
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(prefix.with_suffix(".log")),
            "-trace_err",
            "-error_file",
            str(prefix.with_suffix(".err")),
        ]
        return command, prefix

    @staticmethod
    def sipp_log(prefix: Path, output: str = "") -> str:
        text = "".join(
            p.read_text(errors="replace")
            for p in (prefix.with_suffix(".log"), prefix.with_suffix(".err"))
            if p.exists()
        )
        return text + output[-2000:]

    def sipp(
        self, scenario: str, *, source: str, caller: str, timeout: float = 30.0, service: str = NUMBER
    ) -> tuple[int, str]:
        """One call of ``scenario``, to its end: SIPp's exit code and its log."""
        command, prefix = self.sipp_command(scenario, source=source, caller=caller, timeout=timeout, service=service)
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout + 15)
        return done.returncode, self.sipp_log(prefix, done.stdout + done.stderr)

    def channels(self) -> int:
        """Asterisk's count of active calls, asked on its control socket."""
        from hotline.settings import Settings
        from telephony.provision import current_root

        root = current_root(Settings.from_env(self.env).cache_dir)
        assert root is not None
        out = subprocess.run(
            [
                "chroot",
                str(root),
                "/usr/sbin/asterisk",
                "-C",
                f"/hotline/{self.instance}/etc/asterisk.conf",
                "-rx",
                "core show channels count",
            ],
            capture_output=True,
            text=True,
            timeout=15,
        ).stdout
        return int(out.split(" active call")[0].split()[-1]) if " active call" in out else -1


@pytest.fixture(scope="module")
def hotline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hotline]:
    workdir = tmp_path_factory.mktemp("hotline-hardening")
    instance = f"hardening-{os.getpid()}"
    sip_port, http_port, ami_port = free_udp_port(), _free_tcp_port(), _free_tcp_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("HOTLINE_DB_URL", "HOTLINE_SERVICE_USER")},
        "HOTLINE_PROFILE": str(_short_profile(workdir / "profile.yaml")),
        "HOTLINE_INSTANCE": instance,
        "HOTLINE_SIP_PORT": str(sip_port),
        "HOTLINE_AMI_PORT": str(ami_port),
        "HOTLINE_AGI_PORT": str(_free_tcp_port()),
        "HOTLINE_HTTP_PORT": str(http_port),
        "HOTLINE_TRUNK_CONTACT": f"sip:127.0.0.1:{free_udp_port()}",
        "HOTLINE_TRUNK_MATCH": "127.0.0.1",
    }
    from hotline.settings import Settings

    settings = Settings.from_env(env)  # root's defaults: the service's folder and database under /var/lib/hotline
    rig = Hotline(workdir, env, instance, sip_port, ami_port, http_port, settings.db_url)
    try:
        rig.start()
        yield rig
    finally:
        rig.stop()
        for pid in rig.asterisk_pids():  # never leave an Asterisk behind, whatever the tests found
            os.kill(pid, signal.SIGKILL)
        from hotline.settings import Settings
        from telephony.provision import current_root

        root = current_root(Settings.from_env(env).cache_dir)
        instance_dir = None if root is None else root / "hotline" / instance
        if instance_dir is not None and instance_dir.is_dir():
            # Keep Asterisk's logs with the test's files; the run directory itself goes away.
            shutil.copytree(instance_dir / "log", workdir / "asterisk-log", dirs_exist_ok=True)
            shutil.rmtree(instance_dir, ignore_errors=True)
        shutil.rmtree(settings.service_dir, ignore_errors=True)


async def _caller_records(db_url: str, number: str, timeout: float = 20.0) -> list:
    store = RecordStore(db_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in await store.list_records() if r.caller_number == number]
            if found or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.25)
    finally:
        await store.close()


async def _ami(port: int, username: str, secret: str, action: dict[str, str]) -> dict[str, str]:
    """Log in over a raw AMI socket and send one action: Asterisk's response headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def exchange(message: dict[str, str]) -> dict[str, str]:
        writer.write("".join(f"{k}: {v}\r\n" for k, v in message.items()).encode() + b"\r\n")
        await writer.drain()
        while True:  # skip events until the response
            block = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
            headers = dict(line.split(": ", 1) for line in block.strip().splitlines() if ": " in line)
            if "Response" in headers:
                return headers

    try:
        await asyncio.wait_for(reader.readline(), 10)  # the banner
        login = await exchange({"Action": "Login", "Username": username, "Secret": secret, "Events": "off"})
        assert login["Response"] == "Success", login
        return await exchange(action)
    finally:
        writer.close()


def test_invite_claiming_to_be_the_trunk_from_another_address_is_refused(hotline: Hotline) -> None:
    code, log = hotline.sipp("invite_refused", source="127.0.0.2", caller="trunk")
    assert code == 0, f"the forged trunk INVITE was not refused with 401/403:\n{log}"
    assert "REFUSED" in log


def test_caller_from_the_trunk_address_reaches_the_ivr(hotline: Hotline) -> None:
    number = "96550151002"
    code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller=number)
    assert code == 0, f"a caller on the trunk address was not answered:\n{log}"
    records = asyncio.run(_caller_records(hotline.db_url, number))
    assert records, "the call from the trunk was answered but the service never recorded it"


@pytest.mark.parametrize("extension", ["*41", "*5", "201", "99", "71", "112", "h", "s", "i", "t", "7100", "1510"])
def test_an_invite_from_the_trunk_to_anything_but_the_hotline_number_is_not_found(
    hotline: Hotline, extension: str
) -> None:
    """The trunk's context holds the hotline number and nothing else: a feature code, a person's or a
    destination's short code, a queue's code or one of Asterisk's special extensions answer 404, so an
    INVITE from the carrier can never reach the phones', the features' or the transfers' contexts."""
    code, log = hotline.sipp("invite_not_found", source="127.0.0.1", caller="96550151030", service=extension)
    assert code == 0, f"INVITE {extension!r} from the trunk was not answered 404:\n{log}"


def _banned(hotline: Hotline) -> list[str]:
    """The addresses the SIP guard bans now (its nftables set)."""
    table = f"hotline_{hotline.instance.replace('-', '_')}"
    out = subprocess.run(["nft", "list", "set", "inet", table, "banned"], capture_output=True, text=True).stdout
    found = re.search(r"elements = \{([^}]*)\}", out)
    return [part.strip() for part in found.group(1).split(",")] if found else []


def test_password_guessing_against_a_phone_bans_the_source_and_nobody_else(hotline: Hotline) -> None:
    """A brute-force REGISTER against a phone account: after HOTLINE_SIP_BAN_AFTER (5) wrong passwords from one
    address, fail2ban (started by root's run, reading Asterisk's security log) drops what it sends to the SIP
    port; another source still gets its answers, and callers through the trunk are answered."""
    guesser, other = "127.0.0.55", "127.0.0.56"
    for attempt in range(5):
        code, log = hotline.sipp("register_guess", source=guesser, caller="agent-ar-1", timeout=15)
        assert code == 0, f"guess {attempt + 1} was not refused with 401/403:\n{log}"
    deadline = time.monotonic() + 30
    while guesser not in _banned(hotline):
        assert time.monotonic() < deadline, f"the guesser was not banned: {_banned(hotline)}"
        time.sleep(0.2)
    code, log = hotline.sipp("register_guess", source=guesser, caller="agent-ar-1", timeout=6)
    assert code != 0, f"a banned source was still answered:\n{log}"
    assert other not in _banned(hotline) and "127.0.0.1" not in _banned(hotline)
    code, log = hotline.sipp("register_guess", source=other, caller="agent-ar-1", timeout=15)
    assert code == 0, f"another source got no answer:\n{log}"
    code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller="96550151031")
    assert code == 0, f"with a guesser banned, a caller through the trunk was not answered:\n{log}"


def test_ami_user_may_not_load_modules_but_may_read_queues(hotline: Hotline) -> None:
    ami = hotline.credentials["ami"]
    refused = asyncio.run(
        _ami(
            hotline.ami_port,
            ami["username"],
            ami["secret"],
            {"Action": "ModuleLoad", "Module": "app_system.so", "LoadType": "load"},
        )
    )
    assert refused["Response"] == "Error"
    assert "permission denied" in refused.get("Message", "").lower(), refused
    allowed = asyncio.run(_ami(hotline.ami_port, ami["username"], ami["secret"], {"Action": "QueueStatus"}))
    assert allowed["Response"] == "Success", allowed


def test_asterisk_does_not_run_as_root(hotline: Hotline) -> None:
    pids = hotline.asterisk_pids()
    assert len(pids) == 1, pids
    status = Path(f"/proc/{pids[0]}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    assert "0" not in uids and "0" not in gids, status


def _status(pid: int) -> dict[str, list[str]]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: line.split(":", 1)[1].split() for line in lines if ":" in line}


def _service_pid(hotline: Hotline) -> int:
    """The service: the child of ``hotline run`` that runs hotline.supervisor (found in /proc)."""
    assert hotline.process is not None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    _status(int(entry.name)).get("PPid") == [str(hotline.process.pid)]
                    and b"hotline.supervisor" in (entry / "cmdline").read_bytes()
                ):
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError("no service process under 'hotline run'")


def test_the_service_runs_as_an_unprivileged_user_with_a_private_folder(hotline: Hotline) -> None:
    import pwd

    from hotline.settings import Settings

    account = pwd.getpwnam("hotline")  # made by `make` (deps)
    status = _status(_service_pid(hotline))
    assert set(status["Uid"]) == {str(account.pw_uid)} and set(status["Gid"]) == {str(account.pw_gid)}, status
    assert "0" not in status["Groups"], status
    assert status["CapEff"] == ["0000000000000000"], status
    # what it writes is its own and nobody else's: the folder 0700, the database, the token and records 0600
    service_dir = Settings.from_env(hotline.env).service_dir
    assert service_dir.stat().st_uid == account.pw_uid and service_dir.stat().st_mode & 0o777 == 0o700
    code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller="96550151020")
    assert code == 0, log
    assert asyncio.run(_caller_records(hotline.db_url, "96550151020")), "the service as its user recorded no call"
    journal = sorted((service_dir / "record-spool").glob("records-*.jsonl"))  # the records' journal (cdr/journal.py)
    assert journal, "the service keeps no records' journal"
    for path in [service_dir / "hotline.db", service_dir / "service-token", service_dir / "record-spool", *journal]:
        info = path.stat()
        assert info.st_uid == account.pw_uid, f"{path} belongs to uid {info.st_uid}"
        assert info.st_mode & 0o077 == 0, f"{path} is {oct(info.st_mode & 0o777)}"
    # and the local tools still reach it with the token it wrote
    agent = subprocess.run(
        [sys.executable, "-m", "hotline", "seats", "ar-general", "5"],
        env=hotline.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert agent.returncode == 0, agent.stdout + agent.stderr


def test_a_killed_service_is_started_again_and_asterisk_goes_on(hotline: Hotline) -> None:
    before, asterisk = _service_pid(hotline), hotline.asterisk_pids()
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        health = hotline.health()
        try:
            after = _service_pid(hotline)
        except AssertionError:
            after = None
        if after not in (None, before) and health and health.get("ami_connected"):
            break
        assert time.monotonic() < deadline, "root did not start the killed service again"
        time.sleep(0.2)
    assert hotline.asterisk_pids() == asterisk, "Asterisk was restarted with the service"
    code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller="96550151021")
    assert code == 0, f"after the service restart a caller was not answered:\n{log}"


def test_second_run_of_a_running_instance_is_refused_and_leaves_it_alone(hotline: Hotline) -> None:
    before = hotline.asterisk_pids()
    second = subprocess.run(
        [sys.executable, "-m", "hotline", "run"],
        env=hotline.env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode != 0
    assert "already running" in second.stderr, second.stdout + second.stderr
    assert hotline.asterisk_pids() == before
    assert (hotline.health() or {}).get("ami_connected"), "the running instance was disturbed"


def test_restart_after_a_crash_recovers_keeps_the_call_and_a_stop_leaves_no_asterisk(hotline: Hotline) -> None:
    assert hotline.process is not None
    before = hotline.asterisk_pids()
    # A caller is on the line (in the IVR, then the queue: nobody is logged in) when the service dies.
    command, prefix = hotline.sipp_command(
        "invite_answered", source="127.0.0.1", caller="96550151010", hold_ms=20000, timeout=60
    )
    caller = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while hotline.channels() < 1:
            assert caller.poll() is None, hotline.sipp_log(prefix, caller.stdout.read() if caller.stdout else "")
            assert time.monotonic() < deadline, "the caller never got through"
            time.sleep(0.2)
        hotline.process.send_signal(signal.SIGKILL)
        hotline.process.wait(30)
        assert hotline.asterisk_pids() == before, "Asterisk was expected to outlive the killed service (calls go on)"
        # While the service is down a whole call comes and goes (the dialplan puts it through without the IVR):
        # only Asterisk's own queue_log and Master.csv know it.
        code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller="96550151013")
        assert code == 0, f"with the service down a caller was not answered:\n{log}"

        hotline.start()  # healthy means: /health says AMI connected, with the credentials Asterisk really has
        assert hotline.asterisk_pids() == before, "the restarted run was expected to adopt the running Asterisk"
        output, _ = caller.communicate(timeout=90)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
    log = hotline.sipp_log(prefix, output)
    assert caller.returncode == 0, f"the call in progress did not survive the restart:\n{log}"

    number = "96550151011"
    code, log = hotline.sipp("invite_answered", source="127.0.0.1", caller=number)
    assert code == 0, f"after the restart a caller was not answered:\n{log}"
    assert asyncio.run(_caller_records(hotline.db_url, number)), "after the restart the call was not recorded"
    # the call made while the service was down has its record, from Asterisk's logs at the start, marked so
    down = asyncio.run(_caller_records(hotline.db_url, "96550151013"))
    assert [r.source for r in down] == ["reconciled"], down

    assert hotline.stop() == 0  # stopping a run that adopted its Asterisk stops that Asterisk too
    assert hotline.asterisk_pids() == [], "the adopted Asterisk outlived 'hotline run' stopping"

    # Killed again, and restarted with another configuration: the old Asterisk cannot be adopted, it is
    # stopped cleanly and a new one started (with new credentials, which the service then uses).
    hotline.start()
    adopted = hotline.asterisk_pids()
    assert hotline.process is not None
    hotline.process.send_signal(signal.SIGKILL)
    hotline.process.wait(30)
    hotline.env["HOTLINE_TRUNK_MATCH"] = "127.0.0.1,127.0.0.3"
    hotline.start()
    fresh = hotline.asterisk_pids()
    assert len(fresh) == 1 and fresh != adopted, (adopted, fresh)
    code, log = hotline.sipp("invite_answered", source="127.0.0.3", caller="96550151012")
    assert code == 0, f"a caller on the new trunk address was not answered:\n{log}"

    assert hotline.stop() == 0
    assert hotline.asterisk_pids() == [], "an Asterisk of the instance outlived 'hotline run' stopping"
