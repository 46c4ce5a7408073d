"""ORM rows of the call recordings (the schema itself is owned by the migrations in storage/migrations: 0010).

One row per recorded (or, the disk being full, unrecorded) call, unique by its linkedid: the topic, the file's
name, when it started and ended, the talk it holds, until when it is kept, and when it was purged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class RecordingRow(Base):
    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_retain_until_purged_at", "retain_until", "purged_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(150), unique=True, nullable=False)  # the call's record
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    file: Mapped[str | None] = mapped_column(String(160))  # in the instance's recordings folder
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    retain_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
