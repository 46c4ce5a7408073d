"""Provision Asterisk 22: a Debian sid root built with mmdebstrap, cached outside the repository.

Debian bookworm has no Asterisk package and sid's asterisk needs sid's glibc, so Asterisk runs from
its own root (a chroot). The root is keyed by the package version that went into it, and reused.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

MMDEBSTRAP = [
    "mmdebstrap",
    "--variant=apt",
    # The archive snapshot's Release file has expired.
    '--aptopt=Acquire::Check-Valid-Until "false"',
    "--include=asterisk,asterisk-modules",
]
CURRENT = "current"  # a file in the roots folder naming the root in use


class ProvisionError(RuntimeError):
    """Asterisk could not be provisioned; the message says what to do."""


def roots_dir(cache_dir: Path) -> Path:
    return cache_dir / "roots"


def current_root(cache_dir: Path) -> Path | None:
    pointer = roots_dir(cache_dir) / CURRENT
    if not pointer.is_file():
        return None
    root = roots_dir(cache_dir) / pointer.read_text().strip()
    return root if (root / "usr/sbin/asterisk").is_file() else None


def asterisk_version(root: Path) -> str:
    status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    for block in status.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        if lines.get("Package") == "asterisk" and "installed" in lines.get("Status", ""):
            return lines["Version"]
    raise ProvisionError(f"{root} has no installed asterisk package")


def ensure_root(cache_dir: Path, *, refresh: bool = False, suite: str = "sid") -> Path:
    """Return a root with Asterisk, building it once (about 25 s) if there is none or refresh is asked."""
    existing = current_root(cache_dir)
    if existing is not None and not refresh:
        sync_hosts(existing)
        return existing
    if shutil.which("mmdebstrap") is None:
        raise ProvisionError("mmdebstrap is not installed: run 'make deps' (apt-get install mmdebstrap) as root")
    mode = "root" if os.geteuid() == 0 else "unshare"
    folder = roots_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    building = folder / f".building-{os.getpid()}"
    if building.exists():
        shutil.rmtree(building)
    command = [*MMDEBSTRAP, f"--mode={mode}", suite, str(building)]
    log.info("building the Asterisk root: %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ProvisionError(f"mmdebstrap failed (exit {result.returncode}):\n{tail}")
    version = asterisk_version(building)
    name = "asterisk-" + version.replace(":", "_").replace("~", "_").replace("+", "_")
    target = folder / name
    if target.exists():
        shutil.rmtree(target)
    building.rename(target)
    (folder / CURRENT).write_text(name + "\n")
    sync_hosts(target)
    log.info("Asterisk %s provisioned in %s", version, target)
    return target


def sync_hosts(root: Path) -> None:
    """Copy the host's /etc/hosts in: without it Asterisk resolves the host name over DNS on every call."""
    if root.resolve() == Path("/"):
        return  # the image's own system (docker/Dockerfile): its /etc/hosts is already the one
    try:
        shutil.copyfile("/etc/hosts", root / "etc/hosts")
    except OSError as exc:
        log.warning("could not copy /etc/hosts into %s: %s", root, exc)
