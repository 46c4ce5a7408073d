"""ORM rows of the post-call survey (the schema itself is owned by the migrations in storage/migrations).

One row per surveyed call: the answers to the profile's one or two questions (None: not answered), so
that a caller who hangs up is "no answer", never a low score.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class SurveyResponseRow(Base):
    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_topic_asked_at", "topic", "asked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(150), unique=True, nullable=False)  # the call's record
    topic: Mapped[str | None] = mapped_column(String(64))
    agent: Mapped[str | None] = mapped_column(Unicode(255), index=True)  # who took the call
    language: Mapped[str | None] = mapped_column(String(16))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    first: Mapped[int | None] = mapped_column(Integer)  # the first question's answer (1..max), None: none
    second: Mapped[int | None] = mapped_column(Integer)  # the second question's, when the profile has one
