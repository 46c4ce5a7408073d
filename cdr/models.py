"""SQLAlchemy model of the ``call_records`` table (schema owned by the alembic migrations in cdr/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Unicode, func, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "CALLBACK_OPEN_STATUSES_SQL",
    "NAMING_CONVENTION",
    "AgentSessionRow",
    "Base",
    "CallRecordRow",
    "CallbackAttemptRow",
    "CallbackRequestRow",
    "QueueSeatRow",
    "UTCDateTime",
]

# Explicit constraint names, so migrations name things identically on SQLite and PostgreSQL.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC and given back its UTC tzinfo when read. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: call record times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CallRecordRow(Base):
    __tablename__ = "call_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(150), unique=True, nullable=False)
    caller_number: Mapped[str | None] = mapped_column(String(128))
    caller_name: Mapped[str | None] = mapped_column(Unicode(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    language: Mapped[str | None] = mapped_column(String(16))
    topic: Mapped[str | None] = mapped_column(String(64))
    specialty: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128), index=True)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    agent: Mapped[str | None] = mapped_column(Unicode(255))
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, server_default=func.now())
    # Revision 0003: callbacks, transfers, wrap-up (see cdr/migrations/versions/0003_*.py).
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="inbound")  # inbound|callback
    callback_of: Mapped[str | None] = mapped_column(String(150), index=True)  # original linkedid
    transferred_to: Mapped[str | None] = mapped_column(String(128))  # queue the answered call went on to
    wrapup_seconds: Mapped[float | None] = mapped_column(Float)


class AgentSessionRow(Base):
    """Who is logged in and who is paused, so a restart of the service restores it."""

    __tablename__ = "agent_sessions"

    person_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    logged_in: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    logged_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class QueueSeatRow(Base):
    """A supervisor's live seat count for a queue, overriding the profile's for one shift."""

    __tablename__ = "queue_seats"

    queue: Mapped[str] = mapped_column(String(128), primary_key=True)
    shift: Mapped[str] = mapped_column(String(32), primary_key=True)
    seats: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(Unicode(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# -- callbacks (revision 0004, see cdr/migrations/versions/0004_callbacks.py and callbacks/db.py) ----------

# The statuses of callbacks.model.OPEN_STATUSES, spelled out here so this module stays free of imports from
# callbacks (the test suite checks that the two agree).
CALLBACK_OPEN_STATUSES_SQL = "status IN ('open', 'dialing')"


class CallbackRequestRow(Base):
    """A caller waiting to be called back (callbacks.model.CallbackRequest). At most one open per number."""

    __tablename__ = "callback_requests"
    __table_args__ = (
        # One open request per number: a partial unique index (PostgreSQL and SQLite >= 3.8 both have them).
        Index(
            "ux_callback_requests_open_number",
            "number",
            unique=True,
            postgresql_where=text(CALLBACK_OPEN_STATUSES_SQL),
            sqlite_where=text(CALLBACK_OPEN_STATUSES_SQL),
        ),
        Index("ix_callback_requests_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_callback_requests_number_created_at", "number", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    specialty: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(128), nullable=False)
    origin: Mapped[str] = mapped_column(String(24), nullable=False)
    original_linkedid: Mapped[str | None] = mapped_column(String(150), index=True)
    place_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class CallbackAttemptRow(Base):
    """One claim of a request by a service instance, and what came of it (callbacks.model.CallbackAttempt)."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(Integer, ForeignKey("callback_requests.id"), nullable=False, index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_by: Mapped[str] = mapped_column(String(128), nullable=False)
    dialed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set BEFORE the Originate is sent
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))
    linkedid: Mapped[str | None] = mapped_column(String(150), index=True)  # the callback call's record


class CallbackRefusalRow(Base):
    """A callback number that was refused (not allowed, rate limited…): the record of a refusal."""

    __tablename__ = "callback_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(Unicode(64), nullable=False)  # as keyed in or presented, cut to 64
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    original_linkedid: Mapped[str | None] = mapped_column(String(150))
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# -- the supervisor console (revision 0005, see cdr/migrations/versions/0005_console.py and supervisor/store.py) --

from sqlalchemy import UnicodeText  # noqa: E402  (this section is appended; the imports above stay as they were)


class ConsoleUserRow(Base):
    """A console user: ``supervisor`` changes things, ``viewer`` only looks. Only an argon2 hash is stored."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Unicode(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ConsoleSessionRow(Base):
    """A server-side login session; the cookie holds a random id, the table only its SHA-256."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("console_users.id"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class ApiTokenRow(Base):
    """A bearer token for automation, acting as one user (with that user's role); stored as SHA-256."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("console_users.id"), nullable=False, index=True)
    label: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)  # shown in listings, never enough to use
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class AuditLogRow(Base):
    """Every change made through the console, its API or its CLI: who, what, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    via: Mapped[str] = mapped_column(String(16), nullable=False)  # session | token | cli
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(Unicode(128), nullable=False)
    details: Mapped[str] = mapped_column(UnicodeText(), nullable=False)  # JSON object


class SkillOverrideRow(Base):
    """A supervisor's change of a person's topics/specialties (JSON lists), applied at their next login."""

    __tablename__ = "skill_overrides"

    person_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topics: Mapped[str] = mapped_column(UnicodeText(), nullable=False)
    specialties: Mapped[str] = mapped_column(UnicodeText(), nullable=False)
    updated_by: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
