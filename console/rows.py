"""ORM rows of console (the schema itself is owned by the migrations in storage/migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Unicode, UnicodeText, false
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class ConsoleUserRow(Base):
    """A console user: ``supervisor`` changes things, ``viewer`` only looks. Only an argon2 hash is stored."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Unicode(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    person: Mapped[str | None] = mapped_column(String(40))  # an ``agent`` user's person id in the profile (their desk)


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


class LoginFailureRow(Base):
    """A failed sign-in: the name as typed (whether or not such a user exists), the address, when."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    name: Mapped[str] = mapped_column(Unicode(64), nullable=False, index=True)
    address: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
