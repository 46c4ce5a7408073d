"""Storage of call records: alembic migrations and an asyncio ``RecordStore``.

Users give one URL, ``sqlite:///path/to/cdr.db`` or ``postgresql://user@host/db``
(``postgresql+psycopg://`` also accepted). Migrations run synchronously (``pysqlite`` / psycopg 3),
the store runs on SQLAlchemy's asyncio extension (``aiosqlite`` / psycopg 3 async).

Call ``upgrade(url)`` once at service start before opening a ``RecordStore``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Self

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from cdr.builder import CallRecord, Outcome
from cdr.models import CallRecordRow

__all__ = [
    "MIGRATIONS_DIR",
    "RecordStore",
    "async_url",
    "downgrade",
    "sync_url",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
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
_INSERTS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
)

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
        # A new installation has no folder for its database yet (var/ in a fresh clone).
        if engine.url.database:
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    return engine


def _alembic(url: str, action: Callable[[Config], None]) -> None:
    engine = _sync_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
            config.attributes["connection"] = connection
            action(config)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the latest). Synchronous, idempotent."""
    _alembic(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Migrate the database at ``url`` down to ``revision`` (default: drop everything we created)."""
    _alembic(url, lambda config: command.downgrade(config, revision))


# -- store --------------------------------------------------------------------------------------


def _row_values(record: CallRecord) -> dict[str, Any]:
    return {
        "linkedid": record.linkedid,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "language": record.language,
        "topic": record.topic,
        "specialty": record.specialty,
        "queue": record.queue,
        "wait_seconds": record.wait_seconds,
        "outcome": Outcome(record.outcome).value,
        "agent": record.agent,
        "talk_seconds": record.talk_seconds,
        "hangup_cause": record.hangup_cause,
        "hangup_cause_text": record.hangup_cause_text,
        "kind": record.kind,
        "callback_of": record.callback_of,
        "transferred_to": record.transferred_to,
        "wrapup_seconds": record.wrapup_seconds,
    }


def _record(row: CallRecordRow) -> CallRecord:
    return CallRecord(
        linkedid=row.linkedid,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        started_at=row.started_at,
        language=row.language,
        topic=row.topic,
        specialty=row.specialty,
        queue=row.queue,
        wait_seconds=row.wait_seconds,
        outcome=Outcome(row.outcome),
        agent=row.agent,
        talk_seconds=row.talk_seconds,
        hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text,
        ended_at=row.ended_at,
        kind=row.kind,
        callback_of=row.callback_of,
        transferred_to=row.transferred_to,
        wrapup_seconds=row.wrapup_seconds,
    )


def async_engine(url: str) -> AsyncEngine:
    """The asyncio engine every store uses: the async driver, pre-ping, and on SQLite WAL + busy timeout."""
    engine = create_async_engine(async_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class RecordStore:
    """Call records in SQLite or PostgreSQL, through SQLAlchemy's asyncio extension.

    The schema must exist (``upgrade(url)``). Each method is one session and one transaction.
    Use ``await store.close()`` (or ``async with RecordStore(url) as store``) when done.
    """

    def __init__(self, url: str) -> None:
        self._engine: AsyncEngine = async_engine(url)
        dialect = self._engine.dialect.name
        self._insert = _INSERTS[dialect]
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _insert_ignoring_duplicate(self, record: CallRecord) -> Any:
        # INSERT .. ON CONFLICT (linkedid) DO NOTHING RETURNING id: a row comes back only when the
        # record was new. (rowcount is not reliable here through psycopg's async cursor; RETURNING
        # needs SQLite >= 3.35.)
        return (
            self._insert(CallRecordRow)
            .values(**_row_values(record))
            .on_conflict_do_nothing(index_elements=[CallRecordRow.linkedid])
            .returning(CallRecordRow.id)
        )

    async def add(self, record: CallRecord) -> bool:
        """Store one record; False (and nothing written) if its linkedid is already stored."""
        async with self._sessions.begin() as session:
            new_id = await session.scalar(self._insert_ignoring_duplicate(record))
        return new_id is not None

    async def add_many(self, records: Iterable[CallRecord]) -> int:
        """Store records in one transaction, skipping linkedids already stored; returns how many were new."""
        added = 0
        async with self._sessions.begin() as session:
            for record in records:
                if await session.scalar(self._insert_ignoring_duplicate(record)) is not None:
                    added += 1
        return added

    async def list_records(self, limit: int | None = None) -> list[CallRecord]:
        """Records ordered by ``started_at`` (oldest first), at most ``limit`` of them."""
        query = select(CallRecordRow).order_by(CallRecordRow.started_at, CallRecordRow.id).limit(limit)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [_record(row) for row in rows]

    async def get(self, linkedid: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(select(CallRecordRow).where(CallRecordRow.linkedid == linkedid))
        return None if row is None else _record(row)

    async def close(self) -> None:
        await self._engine.dispose()
