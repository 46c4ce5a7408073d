"""Databases: one URL for SQLite or PostgreSQL, the asyncio engine every store uses, and migrations.

Users give one URL, ``sqlite:///path/to/hotline.db`` or ``postgresql://user@host/db``
(``postgresql+psycopg://`` also accepted). Migrations run synchronously (``pysqlite`` / psycopg 3),
the stores run on SQLAlchemy's asyncio extension (``aiosqlite`` / psycopg 3 async).

Call ``upgrade(url)`` once at service start before opening a store.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = [
    "INSERTS",
    "MIGRATIONS",
    "Database",
    "async_engine",
    "async_url",
    "downgrade",
    "sync_url",
    "upgrade",
]

#: Alembic finds the migrations as package data of ``storage`` (importlib.resources), not by a file path.
MIGRATIONS = "storage:migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000

# drivername accepted in a user URL -> (sync drivername, async drivername)
_DRIVERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "sqlite": ("sqlite", "sqlite+aiosqlite"),
        "sqlite+pysqlite": ("sqlite", "sqlite+aiosqlite"),
        "sqlite+aiosqlite": ("sqlite", "sqlite+aiosqlite"),
        "postgresql": ("postgresql+psycopg", "postgresql+psycopg"),
        "postgresql+psycopg": ("postgresql+psycopg", "postgresql+psycopg"),
    }
)

# dialect name -> insert() that supports ``on_conflict_do_nothing``
INSERTS: Mapping[str, Callable[..., Any]] = MappingProxyType({"sqlite": sqlite.insert, "postgresql": postgresql.insert})

_SQLITE_MEMORY = frozenset({"", ":memory:"})


# -- URLs ---------------------------------------------------------------------------------------


def _checked_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {url!r}") from exc
    if parsed.drivername not in _DRIVERS:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: "
            "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
        )
    if parsed.get_backend_name() == "sqlite" and (
        (parsed.database or "") in _SQLITE_MEMORY or "mode=memory" in (parsed.database or "")
    ):
        raise ValueError(f"in-memory SQLite cannot hold call records, give a file: {url!r}")
    return parsed


def _with_driver(url: str, index: int) -> str:
    parsed = _checked_url(url)
    return parsed.set(drivername=_DRIVERS[parsed.drivername][index]).render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The synchronous SQLAlchemy URL (used by alembic): ``sqlite://`` or ``postgresql+psycopg://``."""
    return _with_driver(url, 0)


def async_url(url: str) -> str:
    """The asyncio SQLAlchemy URL: ``sqlite+aiosqlite://`` or ``postgresql+psycopg://``.

    Raises ``ValueError`` for other schemes and for in-memory SQLite.
    """
    return _with_driver(url, 1)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    finally:
        cursor.close()


# -- migrations ---------------------------------------------------------------------------------


def _sync_engine(url: str) -> Engine:
    engine = create_engine(sync_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if engine.url.database:
            private_sqlite_file(Path(engine.url.database))
    return engine


def private_sqlite_file(path: Path) -> None:
    """Make a new SQLite database private before SQLite opens it: folder 0700, file 0600.

    The file holds caller numbers, specialties such as psychological support, and password
    hashes. SQLite gives its -wal and -shm files the mode of the database file, so they are 0600
    too. Existing folders and files are left as the administrator set them.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _alembic(url: str, action: Callable[[Config], None]) -> None:
    engine = _sync_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", MIGRATIONS)
            config.attributes["connection"] = connection
            action(config)
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest migration's revision (what ``upgrade`` brings a database to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the migrations have no head"
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the latest). Synchronous, idempotent."""
    _alembic(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (default: drop everything we created)."""
    _alembic(url, lambda config: command.downgrade(config, revision))


def async_engine(url: str) -> AsyncEngine:
    """The asyncio engine every store uses: the async driver, pre-ping, and on SQLite WAL + busy timeout."""
    engine = create_async_engine(async_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        if engine.url.database:
            private_sqlite_file(Path(engine.url.database))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


# -- one database for every store -----------------------------------------------------------------

_SQLITE_BEGIN_OPTION = "hotline_sqlite_begin"


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Stop the driver from issuing its own (deferred) BEGIN: _sqlite_begin issues ours.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    # Writers: BEGIN IMMEDIATE takes SQLite's single write lock before the transaction reads anything
    # (waiting up to the busy timeout), so read-then-write units of work such as a callback claim are
    # serialised across connections and processes. Readers: a plain deferred BEGIN (WAL: they never
    # block writers).
    mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The one asyncio engine and session factories that every store of a process shares.

    ``readers`` open plain transactions; ``writers`` open writing ones (``BEGIN IMMEDIATE`` on
    SQLite, so that read-then-write units of work never deadlock on the single write lock).
    Building it does no I/O: connections are made on first use. ``await db.close()`` when done.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = async_engine(url)
        self.dialect = self.engine.dialect.name
        writer_engine = self.engine
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_manual_transactions)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            writer_engine = self.engine.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        self.readers: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        self.writers: async_sessionmaker[AsyncSession] = async_sessionmaker(writer_engine, expire_on_commit=False)
        self.insert = INSERTS[self.dialect]

    @classmethod
    def of(cls, db: Database | str) -> tuple[Database, bool]:
        """``db`` itself, or a new one for a URL; the flag says whether the caller owns (closes) it."""
        return (db, False) if isinstance(db, Database) else (cls(db), True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.engine.dispose()
