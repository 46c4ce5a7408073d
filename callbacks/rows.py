"""ORM rows of callbacks (the schema itself is owned by the migrations in storage/migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Unicode, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime

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
