"""ORM rows of caller screening: the block list and nuisance warnings (the schema is owned by the
migrations in storage/migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class BlockedNumberRow(Base):
    """A number that may not reach the hotline: set by a supervisor (with a reason) or by the automatic
    detection; it ends at ``expires_at`` (None: never) or when removed. Rows are kept: the history."""

    __tablename__ = "blocked_numbers"
    __table_args__ = (Index("ix_blocked_numbers_number_expires_at", "number", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(128), nullable=False)
    reason: Mapped[str] = mapped_column(Unicode(500), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # manual | automatic
    created_by: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by: Mapped[str | None] = mapped_column(Unicode(64))


class NuisanceWarningRow(Base):
    """A number warned by the automatic detection (the first time); the next time it is blocked."""

    __tablename__ = "nuisance_warnings"
    __table_args__ = (Index("ix_nuisance_warnings_number_warned_at", "number", "warned_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(128), nullable=False)
    warned_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
