"""A new SQLite database is private from its first byte: folder 0700, database, -wal and -shm 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cdr.db import RecordStore
from storage.engine import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_folder_are_created_private_even_with_a_lax_umask(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "data"
    url = f"sqlite:///{folder / 'hotline.db'}"
    old = os.umask(0o022)  # a usual login umask: files would be 0644, folders 0755
    try:
        upgrade(url)
        async with RecordStore(url) as store:
            await store.list_records()  # a connection in WAL mode: -wal and -shm exist now
            files = sorted(p.name for p in folder.iterdir())
            modes = {name: mode(folder / name) for name in files}
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert files == ["hotline.db", "hotline.db-shm", "hotline.db-wal"]
    assert modes == {"hotline.db": 0o600, "hotline.db-shm": 0o600, "hotline.db-wal": 0o600}
