"""The service's own user (issue 10, item 4): what root checks and prepares before it runs the service as it.

Needs root and the ``hotline`` system user that ``make`` creates (tests/e2e is skipped without root). The whole
``hotline run`` with the service as that user is proven in test_hardening.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hotline import supervisor
from hotline.supervisor import Account, SupervisorError


@pytest.fixture
def account() -> Account:
    return Account.lookup("hotline")


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A folder the service user can reach (pytest's own tmp_path is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="hotline-state-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _import_as(account: Account, paths: tuple[Path, Path], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(supervisor.interpreter()),
            "-I",
            "-c",
            f"{supervisor.BOOT.split('from hotline')[0]}{code}",
            *map(str, paths),
        ],
        user=account.uid,
        group=account.gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_checkout_the_service_user_cannot_read_is_linked_into_the_state_folder(
    account: Account, tmp_path: Path, reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkout and a venv under root's private temporary folder (0700): out of the service user's reach.
    code = tmp_path / "checkout"
    for package in supervisor.PACKAGES:
        shutil.copytree(supervisor.code_root() / package, code / package)
    site = tmp_path / "site-packages"
    (site / "fakepkg").mkdir(parents=True)
    (site / "fakepkg" / "__init__.py").write_text("X = 42\n")
    (site / "fakepkg" / "x.py").write_text("")
    (site / "extra").mkdir()
    (site / "extra" / "more.py").write_text("MORE = 'from a .pth'\n")
    (site / "extra.pth").write_text("extra\n")  # a .pth of the packages still applies
    (site / "__editable__.hotline-0.1.0.pth").write_text(f"{code}\n")  # the checkout's editable finder does not
    monkeypatch.setattr(supervisor, "code_root", lambda: code)
    monkeypatch.setattr(supervisor, "site_packages", lambda: site)
    assert not supervisor.readable_by(account, [code / "hotline" / "__init__.py"])

    paths = supervisor.runtime_paths(account, reachable_dir)

    assert paths == (reachable_dir / "runtime" / "src", reachable_dir / "runtime" / "site")
    assert not (paths[1] / "__editable__.hotline-0.1.0.pth").exists()
    assert supervisor.readable_by(
        account, [paths[0] / "hotline" / "bootstrap.py", paths[1] / "fakepkg" / "__init__.py"]
    )
    done = _import_as(account, paths, "import hotline, fakepkg, more; print(hotline.__file__, fakepkg.X, more.MORE)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(paths[0] / "hotline" / "__init__.py"), "42", "from", "a", ".pth"]
    # a second start refreshes it in place (what changed in the checkout is what runs)
    (code / "hotline" / "__init__.py").write_text("CHANGED = True\n")
    assert supervisor.runtime_paths(account, reachable_dir) == paths
    assert (paths[0] / "hotline" / "__init__.py").read_text() == "CHANGED = True\n"
    # only the runtime and the lock two starts at once take turns on (parallel workers, two instances)
    left = sorted(p.name for p in reachable_dir.iterdir())
    assert left == [".runtime.lock", "runtime"], "a half-built runtime was left behind"


def test_two_starts_at_once_link_the_runtime_in_turn(
    account: Account, tmp_path: Path, reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances (or two parallel test workers) starting at the same moment each get a whole runtime: the swap of
    the folder is not atomic, so they take turns (without it, one start fails renaming onto the other's folder)."""
    code = tmp_path / "checkout"
    for package in supervisor.PACKAGES:
        shutil.copytree(supervisor.code_root() / package, code / package)
    site = tmp_path / "site-packages"
    for index in range(300):  # enough files that the two links overlap in time
        (site / f"pkg{index}").mkdir(parents=True)
        (site / f"pkg{index}" / "__init__.py").write_text(f"X = {index}\n")
    monkeypatch.setattr(supervisor, "code_root", lambda: code)
    monkeypatch.setattr(supervisor, "site_packages", lambda: site)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: supervisor.runtime_paths(account, reachable_dir), range(4)))

    assert set(results) == {(reachable_dir / "runtime" / "src", reachable_dir / "runtime" / "site")}
    assert (reachable_dir / "runtime" / "site" / "pkg299" / "__init__.py").read_text() == "X = 299\n"
    assert sorted(p.name for p in reachable_dir.iterdir()) == [".runtime.lock", "runtime"]


def test_a_checkout_the_service_user_can_read_is_used_as_it_is(
    account: Account, reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = reachable_dir / "opt-hotline"
    (code / "hotline").mkdir(parents=True)
    (code / "hotline" / "__init__.py").write_text("")
    site = reachable_dir / "site"
    site.mkdir()
    for path in (code, code / "hotline", site):
        path.chmod(0o755)
    (code / "hotline" / "__init__.py").chmod(0o644)
    monkeypatch.setattr(supervisor, "code_root", lambda: code)
    monkeypatch.setattr(supervisor, "site_packages", lambda: site)
    assert supervisor.runtime_paths(account, reachable_dir / "state") == (code, site)
    assert not (reachable_dir / "state").exists(), "nothing is copied for an installation the user can read"


def test_an_interpreter_out_of_the_users_reach_is_refused_with_what_to_do(
    account: Account, tmp_path: Path, reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "pyenv" / "python3"  # like pyenv's under /root
    private.parent.mkdir()
    shutil.copy2(supervisor.interpreter(), private)
    monkeypatch.setattr(supervisor, "interpreter", lambda: private)
    with pytest.raises(SupervisorError, match=r"cannot run .*pyenv/python3: build the venv from the system's Python"):
        supervisor.runtime_paths(account, reachable_dir)


def test_the_service_user_must_exist_and_must_not_be_root() -> None:
    with pytest.raises(SupervisorError, match=r"'no-such-user' does not exist: create it as root with 'useradd"):
        Account.lookup("no-such-user")
    with pytest.raises(SupervisorError, match="is root"):
        Account.lookup("root")
    entry = pwd.getpwnam("hotline")
    assert Account.lookup("hotline", (0, 4242)) == Account("hotline", entry.pw_uid, entry.pw_gid, (4242,))


def test_root_hands_the_service_its_folder_with_what_roots_tools_made_in_it(account: Account, tmp_path: Path) -> None:
    folder = tmp_path / "state" / "default"
    folder.mkdir(parents=True)
    (folder / "hotline.db").write_text("made by 'hotline console user add' as root")
    (folder / "record-spool").mkdir()
    (folder / "record-spool" / "1.json").write_text("{}")
    supervisor.hand_over(folder, account)
    for path in (folder, folder / "hotline.db", folder / "record-spool", folder / "record-spool" / "1.json"):
        assert (path.stat().st_uid, path.stat().st_gid) == (account.uid, account.gid), path
    assert folder.stat().st_mode & 0o777 == 0o700
    assert os.stat(folder / "hotline.db").st_mode & 0o077 == 0


def test_a_database_folder_outside_the_state_folder_is_never_handed_over(
    account: Account, tmp_path: Path, reachable_dir: Path
) -> None:
    state = reachable_dir / "state"
    private = tmp_path / "private"  # e.g. HOTLINE_DB_URL=sqlite:////root/hotline.db
    private.mkdir()
    with pytest.raises(SupervisorError, match=r"cannot write the database's folder .*private: leave HOTLINE_DB_URL"):
        supervisor.prepare_folders(account, state, state / "default", f"sqlite:///{private / 'hotline.db'}")
    assert private.stat().st_uid == 0, "root's folder was handed to the service user"
    # under the state folder it is the service's; a PostgreSQL database has no folder
    supervisor.prepare_folders(account, state, state / "default", f"sqlite:///{state / 'shared' / 'hotline.db'}")
    assert (state / "shared").stat().st_uid == account.uid and state.stat().st_mode & 0o777 == 0o755
    supervisor.prepare_folders(account, state, state / "default", "postgresql+psycopg://127.0.0.1/test")
    assert (state / "default").stat().st_uid == account.uid


def test_the_service_user_and_nobody_else_reads_what_asterisk_writes_0600_in_its_log_folder(
    account: Account, reachable_dir: Path
) -> None:
    log = reachable_dir / "log"
    (log / "cdr-csv").mkdir(parents=True)
    old = log / "queue_log"
    old.write_text("1700000000|NONE|NONE|NONE|QUEUESTART|\n")
    old.chmod(0o600)
    supervisor.grant_read(log, account)
    # what Asterisk writes afterwards, with its umask 077 (Master.csv of the next call)
    previous = os.umask(0o077)
    try:
        (log / "cdr-csv" / "Master.csv").write_text('"","96550000000"\n')
    finally:
        os.umask(previous)
    assert supervisor.readable_by(account, [old, log / "cdr-csv" / "Master.csv"])
    nobody = Account("nobody", pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    assert not supervisor.readable_by(nobody, [old])
    assert not supervisor.readable_by(nobody, [log / "cdr-csv" / "Master.csv"])


def test_the_service_gets_its_live_prompts_asterisks_logs_and_the_voice_notes_and_nothing_else(
    account: Account, reachable_dir: Path
) -> None:
    host = reachable_dir / "instance"
    for folder in ("sounds/offer", "log", "voice-notes", "etc"):
        (host / folder).mkdir(parents=True)
    note = host / "voice-notes" / "note.wav"
    note.write_bytes(b"RIFF")
    note.chmod(0o600)
    (host / "etc" / "manager.conf").write_text("secret = s3cret\n")
    (host / "etc" / "manager.conf").chmod(0o600)
    asterisk_gid = 4242
    supervisor.prepare_instance(host, account, asterisk_gid)
    for name in ("offer", "follow"):  # follow: made for the case status the service speaks at call time
        info = (host / "sounds" / name).stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o7777) == (account.uid, asterisk_gid, 0o2750), name
    assert supervisor.readable_by(account, [note])
    removed = subprocess.run(["rm", str(note)], user=account.uid, group=account.gid, capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr  # an empty voice note is removed by the service
    assert not supervisor.readable_by(account, [host / "etc" / "manager.conf"])
