"""ORM rows of the IVR: special days added from the console (the schema is owned by the migrations in
storage/migrations). The profile's own holidays are in the profile; these are added, and removed, live."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, Unicode, UnicodeText
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class SpecialDayRow(Base):
    """A holiday or special day (profiles.model.SpecialDay): ``hours`` and ``topics`` as JSON lists."""

    __tablename__ = "special_days"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    first_day: Mapped[date] = mapped_column(Date, nullable=False, index=True)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    name: Mapped[str | None] = mapped_column(Unicode(200))
    hours: Mapped[str] = mapped_column(UnicodeText, nullable=False)  # [["10:00", "14:00"], ...]; []: closed
    topics: Mapped[str] = mapped_column(UnicodeText, nullable=False)  # ["medical", ...]; []: every topic
    created_by: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by: Mapped[str | None] = mapped_column(Unicode(64))
