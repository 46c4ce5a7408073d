"""``hotline run`` as root: root sets up and supervises, the service runs as an unprivileged user.

Asterisk needs root to enter its chroot and then drops to the root's ``asterisk`` user. The service (IVR,
records, console) needs no privilege at all, so it runs as a system user of its own (``hotline`` unless
``HOTLINE_SERVICE_USER`` says otherwise; ``make`` creates it) in a child process:

- root prepares the service's folder (``/var/lib/hotline/<instance>``: the SQLite database, the records
  spool, the token for local tools), hands it to that user (0700), and lets the user switch the
  callback offer (the ``sounds/offer`` folder, group ``asterisk`` so Asterisk reads what it writes);
- Asterisk writes its files 0600 (umask 077): an ACL entry lets the service user, and only it, read
  Asterisk's queue_log and Master.csv (the gap import after a restart);
- the child is the service user with Asterisk's group as its only extra group (to enter the
  instance's folder), umask 077, and the parent-death signal set (it stops
  when ``hotline run`` dies; Asterisk keeps the calls and the next run adopts it);
- its configuration (settings, profile, credentials, paths) reaches it pickled on its stdin, from its
  own parent: no secret in argv or the environment;
- the interpreter is the system's Python (``make`` builds the venv from /usr/bin/python3). When the
  service user cannot read the checkout or its venv (a clone under /root, a private temporary folder),
  the code and the packages it imports are linked (hard links, or copies) into ``/var/lib/hotline/runtime``.

If the child dies, root starts it again (Asterisk and the calls in progress are not touched); a child
that keeps dying at once stops the whole run with its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import pickle
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.process import configure_logging, until_signalled
from telephony.asterisk import term_when_parent_dies
from telephony.names import LIVE_PROMPTS_DIR, RECORDINGS_DIR, VOICE_NOTES_DIR
from telephony.prompts import OFFER_DIR

if TYPE_CHECKING:
    from hotline.bootstrap import ServiceConfig

log = logging.getLogger(__name__)

#: Our top-level packages (pyproject's [tool.setuptools.packages.find] include; a test holds them equal).
PACKAGES = (
    "hotline",
    "console",
    "callbacks",
    "cases",
    "survey",
    "screening",
    "recording",
    "outbound",
    "ivr",
    "routing",
    "cdr",
    "storage",
    "telephony",
    "profiles",
    "restapi",
)
RUNTIME = "runtime"
#: A child that dies sooner than this after its start counts as failing to start.
QUICK_EXIT_SECONDS = 10.0
MAX_QUICK_EXITS = 5
RESTART_DELAY_SECONDS = 1.0


class SupervisorError(RuntimeError):
    """The service cannot be run as its user: the message says what to do."""


@dataclass(frozen=True)
class Account:
    """The unprivileged user the service runs as, and the extra group it may hold (Asterisk's)."""

    name: str
    uid: int
    gid: int
    extra_gids: tuple[int, ...] = ()

    @classmethod
    def lookup(cls, name: str, extra_gids: tuple[int, ...] = ()) -> Account:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise SupervisorError(
                f"the service user {name!r} does not exist: create it as root with "
                f"'useradd --system --user-group --home-dir /var/lib/hotline --shell /usr/sbin/nologin {name}' "
                "(make run does), or choose another with HOTLINE_SERVICE_USER"
            ) from None
        if entry.pw_uid == 0 or entry.pw_gid == 0:
            raise SupervisorError(f"the service user {name!r} is root (uid or gid 0): choose an unprivileged user")
        return cls(name, entry.pw_uid, entry.pw_gid, tuple(g for g in extra_gids if g != 0))


def hand_over(path: Path, account: Account, *, mode: int = 0o700) -> None:
    """Make ``path`` (a folder) the account's own, with everything already in it (created by root's tools,
    e.g. ``hotline console user add``); nothing in it is readable by anyone else."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chown(path, account.uid, account.gid)
    path.chmod(mode)
    for folder, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            entry = os.path.join(folder, name)
            os.chown(entry, account.uid, account.gid, follow_symlinks=False)
            if not os.path.islink(entry):
                os.chmod(entry, os.stat(entry).st_mode & 0o700)


def prepare_folders(account: Account, state_dir: Path, service_dir: Path, db_url: str) -> None:
    """The service's folder, handed to it, and its SQLite database's folder: handed over when it is under
    ``state_dir`` (root made it for the service), else it must already be writable by the service user."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o755)  # whatever the umask: the service user goes through it to its own folder
    hand_over(service_dir, account)
    if not db_url.startswith("sqlite:///") or db_url == "sqlite:///:memory:":
        return
    folder = Path(db_url.removeprefix("sqlite:///")).parent
    if folder.is_relative_to(state_dir):
        hand_over(folder, account)
    elif not writable_by(account, folder):  # never hand over a folder that root did not make for the service
        raise SupervisorError(
            f"the service user {account.name!r} cannot write the database's folder {folder}: leave "
            f"HOTLINE_DB_URL unset (the database is then in {service_dir}), or give that folder to the user"
        )


def share_with_asterisk(folder: Path, account: Account, asterisk_gid: int) -> None:
    """A folder the service writes and Asterisk reads (the callback offer): the service's, group Asterisk's."""
    os.chown(folder, account.uid, asterisk_gid)
    folder.chmod(0o2750)
    for entry in folder.iterdir():
        os.chown(entry, account.uid, asterisk_gid, follow_symlinks=False)
        if entry.is_file():
            entry.chmod(0o640)


#: Folders of the instance's prompts where the service writes what Asterisk plays: the callback offer it
#: switches, the sentences it speaks at call time ("follow a report").
LIVE_PROMPT_DIRS = (OFFER_DIR, LIVE_PROMPTS_DIR)


def prepare_instance(host_dir: Path, account: Account, asterisk_gid: int | None) -> None:
    """What the service needs of the Asterisk instance's folder, and no more: to write its live prompts
    (group Asterisk's), to read Asterisk's logs, to read and remove the self-service voice notes and the call
    recordings."""
    if asterisk_gid is not None:
        for name in LIVE_PROMPT_DIRS:
            folder = host_dir / "sounds" / name
            folder.mkdir(exist_ok=True)
            share_with_asterisk(folder, account, asterisk_gid)
    grant_read(host_dir / "log", account)
    for private in (VOICE_NOTES_DIR, RECORDINGS_DIR):  # the service serves them and removes them (purge)
        if (host_dir / private).is_dir():
            grant_read(host_dir / private, account, write=True)


def grant_read(folder: Path, account: Account, *, write: bool = False) -> None:
    """Let the service read what Asterisk writes in ``folder`` (queue_log and Master.csv, for the gap
    import; ``write``: and remove it, the voice notes), now and in the files it makes later, though Asterisk
    makes them 0600 (umask 077): a POSIX ACL entry for that one user, default on the folders, so no one
    else gains anything."""
    setfacl = shutil.which("setfacl")
    if setfacl is None:
        raise SupervisorError("setfacl is missing (Debian's acl package: make installs it)")
    # what is there now: the user may read it; what Asterisk makes later: its own, and that user's to read
    # (a default ACL replaces the umask, so it says Asterisk's 077 again for everyone else)
    mode = "rwX" if write else "rX"
    for entries in ([f"u:{account.uid}:{mode}"], ["-d", f"u::rwX,g::-,o::-,u:{account.uid}:{mode},m::{mode}"]):
        done = subprocess.run(
            [setfacl, "-R", *entries[:-1], "-m", entries[-1], str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SupervisorError(f"cannot let the service user read {folder}: {done.stderr.strip()}")


def readable_by(account: Account, paths: list[Path]) -> bool:
    """Whether ``account`` can reach and read each of ``paths`` (asked of the kernel, as that user)."""
    return _test_as(account, "-r", paths)


def writable_by(account: Account, folder: Path) -> bool:
    """Whether ``account`` can create files in ``folder``."""
    return _test_as(account, "-w", [folder]) and _test_as(account, "-x", [folder])


def _test_as(account: Account, test: str, paths: list[Path]) -> bool:
    probe = subprocess.run(
        ["/bin/sh", "-c", f'for p; do [ {test} "$p" ] || exit 1; done', "sh", *map(str, paths)],
        user=account.uid,
        group=account.gid,
        extra_groups=list(account.extra_gids),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return probe.returncode == 0


def code_root() -> Path:
    """The folder that holds our packages (the checkout, or site-packages when installed)."""
    return Path(__file__).resolve().parents[1]


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def interpreter() -> Path:
    """The real Python behind the venv's ``bin/python`` (the child runs it, as the service user)."""
    return Path(os.path.realpath(sys.executable))


def runtime_paths(account: Account, state_dir: Path) -> tuple[Path, Path]:
    """Where the child imports our code and its packages from: the checkout and the venv when the service
    user can read them, else a linked copy of both under ``state_dir/runtime`` (refreshed at every start)."""
    python = interpreter()
    if not readable_by(account, [python]):
        raise SupervisorError(
            f"the service user {account.name!r} cannot run {python}: build the venv from the system's "
            "Python (make does: PYTHON=/usr/bin/python3), not from one under a private home folder"
        )
    code, site = code_root(), site_packages()
    if readable_by(account, [code / "hotline" / "__init__.py", site]):
        return code, site
    state_dir.mkdir(parents=True, exist_ok=True)
    # Two starts at once (two instances, parallel test workers) take turns: the swap below is not atomic.
    with open(state_dir / f".{RUNTIME}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _link_runtime(code, site, state_dir)


def _link_runtime(code: Path, site: Path, state_dir: Path) -> tuple[Path, Path]:
    runtime = state_dir / RUNTIME
    fresh = state_dir / f".{RUNTIME}.{os.getpid()}"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True, mode=0o755)
    fresh.chmod(0o755)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "__editable__*")
    for package in PACKAGES:
        _link_tree(code / package, fresh / "src" / package, ignore)
    _link_tree(site, fresh / "site", ignore)
    old = state_dir / f".{RUNTIME}.old.{os.getpid()}"
    if runtime.exists():
        runtime.rename(old)
    fresh.rename(runtime)
    shutil.rmtree(old, ignore_errors=True)
    log.info("the service user cannot read %s: its code and packages are linked into %s", code, runtime)
    return runtime / "src", runtime / "site"


def _link_tree(source: Path, target: Path, ignore: Any) -> None:
    """Hard links of ``source``'s files (copies across file systems), readable by everyone: our code
    and public packages, no secret."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            shutil.copy2(src, dst)

    shutil.copytree(source, target, symlinks=True, ignore=ignore, copy_function=link)
    for folder, dirnames, _files in os.walk(target):
        for name in dirnames:
            os.chmod(os.path.join(folder, name), 0o755)
    target.chmod(0o755)


# -- the child -----------------------------------------------------------------------------------------

#: What the child's interpreter runs: our code first on the path, the packages as a site folder
#: (their .pth files apply), then the service (hotline.supervisor.child_main).
BOOT = (
    "import site, sys; sys.path.insert(0, sys.argv[1]); site.addsitedir(sys.argv[2]); "
    "from hotline.supervisor import child_main; child_main()"
)


class ServiceChild:
    """The service as a child process of ``hotline run`` or ``hotline serve``, running as ``account``."""

    def __init__(
        self, config: ServiceConfig, account: Account, workdir: Path, paths: tuple[Path, Path], *, verbose: bool = False
    ):
        self.config = config
        self.account = account
        self.workdir = workdir
        self.paths = paths
        self.verbose = verbose
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["HOME"] = str(self.workdir)
        self.process = await asyncio.create_subprocess_exec(
            str(interpreter()),
            "-I",
            "-c",
            BOOT,
            str(self.paths[0]),
            str(self.paths[1]),
            stdin=subprocess.PIPE,
            cwd=self.workdir,
            env=env,
            user=self.account.uid,
            group=self.account.gid,
            extra_groups=list(self.account.extra_gids),
            umask=0o077,
        )
        assert self.process.stdin is not None
        self.process.stdin.write(pickle.dumps((self.config, os.getpid(), self.verbose)))
        await self.process.stdin.drain()
        self.process.stdin.close()
        log.info("service started as user %s (pid %s)", self.account.name, self.process.pid)

    async def stop(self, timeout: float = 30.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.error("the service did not stop within %.0f s: killed", timeout)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def supervise(
    child: ServiceChild, stop: asyncio.Event, asterisk_died: asyncio.Future[Any], *, restart: bool = True
) -> int:
    """Run the child until ``stop`` is set or Asterisk dies (0). When it dies on its own, start it again
    (``restart``), or return its exit code. Raises SupervisorError when it keeps dying at once (its error
    is in the log above)."""
    quick_exits = 0
    try:
        while True:
            started = time.monotonic()
            await child.start()
            assert child.process is not None
            exited = asyncio.ensure_future(child.process.wait())
            asked = asyncio.ensure_future(stop.wait())
            await asyncio.wait({exited, asked, asterisk_died}, return_when=asyncio.FIRST_COMPLETED)
            asked.cancel()
            if not exited.done():
                exited.cancel()
                return 0
            code = child.process.returncode
            if not restart:
                log.error("the service exited (%s)", code)
                return code if code is not None else 1
            quick_exits = quick_exits + 1 if time.monotonic() - started < QUICK_EXIT_SECONDS else 0
            log.error("the service exited (%s); starting it again", code)
            if quick_exits >= MAX_QUICK_EXITS:
                raise SupervisorError(f"the service exited {quick_exits} times in a row at its start; giving up")
            await asyncio.sleep(RESTART_DELAY_SECONDS)
    finally:
        await child.stop()


def _die_with_parent(parent: int) -> None:
    """SIGTERM when ``hotline run`` dies (set after the change of user, which clears it)."""
    term_when_parent_dies()
    if os.getppid() != parent:  # it died before the signal was armed
        sys.exit(1)


def child_main() -> None:
    """The service, in the child: its configuration from stdin, then until SIGTERM."""
    from hotline.service import serve

    config, parent, verbose = pickle.load(sys.stdin.buffer)  # from our own parent, over a pipe: trusted
    _die_with_parent(parent)
    configure_logging(verbose)
    os.umask(0o077)
    asyncio.run(until_signalled(lambda stop: serve(config, stop)))
