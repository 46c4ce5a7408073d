"""ORM rows of routing (the schema itself is owned by the migrations in storage/migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Unicode, UnicodeText
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


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


# The statuses of callbacks.model.OPEN_STATUSES, spelled out here so this module stays free of imports from
# callbacks (the test suite checks that the two agree).


class SkillOverrideRow(Base):
    """A supervisor's change of a person's topics/specialties (JSON lists), applied at their next login."""

    __tablename__ = "skill_overrides"

    person_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    topics: Mapped[str] = mapped_column(UnicodeText(), nullable=False)
    specialties: Mapped[str] = mapped_column(UnicodeText(), nullable=False)
    updated_by: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
