"""ORM rows of cases (the schema itself is owned by the migrations in storage/migrations).

A case is one report or complaint: its number (9 digits, the last a check digit), its category (a
topic of the profile), who reported it and where, the department that follows it, its status with the
reason for the last change, and a version for concurrent edits. Every change is a history row; the calls
about a case are linked by their records' linkedid; each lookup by phone leaves a row (the rate limit);
each webhook event waits in the outbox until delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Unicode, UnicodeText
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due_at", "status", "due_at"),
        Index("ix_cases_category_created_at", "category", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(9), unique=True, nullable=False)  # not in sequence; check digit last
    pin: Mapped[str] = mapped_column(String(4), nullable=False)  # read to the caller: lets another phone follow it
    category: Mapped[str] = mapped_column(String(64), nullable=False)  # a topic id of the profile
    caller_number: Mapped[str | None] = mapped_column(String(128), index=True)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    description: Mapped[str] = mapped_column(UnicodeText, nullable=False)
    district: Mapped[str | None] = mapped_column(String(64))  # a district id of the profile
    location: Mapped[str | None] = mapped_column(Unicode(200))  # free text
    department: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # profiles.model.CASE_STATUSES
    reason: Mapped[str | None] = mapped_column(Unicode(500))  # why the status is what it is
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # desk | phone | api
    created_by: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # created_at + the category's SLA
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # closed or rejected
    voice_note: Mapped[str | None] = mapped_column(String(255))  # a self-service recording, relative to its folder
    voice_note_seconds: Mapped[float | None] = mapped_column(Float)
    version: Mapped[int] = mapped_column(Integer, nullable=False)  # +1 on every change; a stale one gets 409


class CaseHistoryRow(Base):
    """Who changed what on a case, and when."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(Unicode(64), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)  # created | status | department | call | ...
    old: Mapped[str | None] = mapped_column(Unicode(500))
    new: Mapped[str | None] = mapped_column(Unicode(500))
    note: Mapped[str | None] = mapped_column(Unicode(1000))


class CaseCallRow(Base):
    """A call about a case, by its record's linkedid (cdr's call_records.linkedid)."""

    __tablename__ = "case_calls"
    __table_args__ = (Index("ux_case_calls_case_id_linkedid", "case_id", "linkedid", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(Integer, ForeignKey("cases.id"), nullable=False)
    linkedid: Mapped[str] = mapped_column(String(150), nullable=False, index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class CaseLookupRow(Base):
    """A "follow a report" lookup by phone, found or not: counted per caller number for the rate limit."""

    __tablename__ = "case_lookups"
    __table_args__ = (Index("ix_case_lookups_caller_number_at", "caller_number", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    caller_number: Mapped[str] = mapped_column(String(128), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    found: Mapped[bool] = mapped_column(nullable=False)


class CaseOutboxRow(Base):
    """A webhook event for one receiver, written in the transaction of the change it tells of, and kept
    until it is delivered. ``event_id`` is the idempotency key the receiver sees."""

    __tablename__ = "case_outbox"
    __table_args__ = (
        Index("ix_case_outbox_delivered_at_next_attempt_at", "delivered_at", "next_attempt_at"),
        Index("ux_case_outbox_event_id_url", "event_id", "url", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    url: Mapped[str] = mapped_column(String(2000), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # case.created | case.status_changed
    payload: Mapped[str] = mapped_column(UnicodeText, nullable=False)  # the JSON body, as signed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Unicode(500))
