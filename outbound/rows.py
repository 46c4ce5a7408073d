"""ORM rows of outbound work (the schema itself is owned by the migrations in storage/migrations)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, Unicode, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class ContactListRow(Base):
    """A named list of people to call (a campaign names it). Its content is the last file imported."""

    __tablename__ = "contact_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ContactImportRow(Base):
    """One import of a file into a list: the file's SHA-256 makes a re-import of the same file a no-op."""

    __tablename__ = "contact_imports"
    __table_args__ = (UniqueConstraint("list_id", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(Integer, ForeignKey("contact_lists.id"), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    filename: Mapped[str] = mapped_column(Unicode(255), nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    imported_by: Mapped[str] = mapped_column(Unicode(128), nullable=False)  # a console user, or "cli"
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    added: Mapped[int] = mapped_column(Integer, nullable=False)
    updated: Mapped[int] = mapped_column(Integer, nullable=False)
    removed: Mapped[int] = mapped_column(Integer, nullable=False)


class ContactRow(Base):
    """A person of a list (outbound.model.Contact). One per number in a list; a person no longer in the list's
    file is kept (their attempts refer to them) with ``removed_at`` set, and is not called."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("list_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(Integer, ForeignKey("contact_lists.id"), nullable=False, index=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(Unicode(255), nullable=False)
    language: Mapped[str] = mapped_column(String(16), nullable=False)
    district: Mapped[str | None] = mapped_column(Unicode(128))
    fields: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object of the file's other columns
    line: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DoNotCallRow(Base):
    """A number never dialled out (besides the profile's ``outbound.do_not_call``): added from the console or CLI."""

    __tablename__ = "do_not_call"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    reason: Mapped[str] = mapped_column(Unicode(255), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    added_by: Mapped[str] = mapped_column(Unicode(128), nullable=False)


class CampaignAttemptRow(Base):
    """One call to one person in one campaign's day (outbound.model.Attempt). The unique (campaign, contact,
    day, number) makes a claim exactly-once across restarts and service instances."""

    __tablename__ = "campaign_attempts"
    __table_args__ = (
        UniqueConstraint("campaign", "contact_id", "day", "number"),
        Index("ix_campaign_attempts_campaign_day", "campaign", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(64), nullable=False)
    contact_id: Mapped[int] = mapped_column(Integer, ForeignKey("contacts.id"), nullable=False, index=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    dialled_number: Mapped[str] = mapped_column(String(32), nullable=False)  # the number as dialled
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_by: Mapped[str] = mapped_column(String(128), nullable=False)
    dialed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # set BEFORE the Originate is sent
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))
    key: Mapped[str | None] = mapped_column(String(8))
    action: Mapped[str | None] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(150), index=True)


class CampaignAlertRow(Base):
    """An emergency key pressed in a campaign call (outbound.model.Alert)."""

    __tablename__ = "campaign_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign: Mapped[str] = mapped_column(String(64), nullable=False)
    attempt_id: Mapped[int] = mapped_column(Integer, ForeignKey("campaign_attempts.id"), nullable=False, unique=True)
    contact_id: Mapped[int] = mapped_column(Integer, ForeignKey("contacts.id"), nullable=False)
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(Unicode(255), nullable=False)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    linkedid: Mapped[str | None] = mapped_column(String(150))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(Unicode(128))


class ManualCallRow(Base):
    """A number an agent clicked to call from the desk: their phone rings first, then the number."""

    __tablename__ = "manual_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # the agent's profile id
    requested_by: Mapped[str] = mapped_column(Unicode(128), nullable=False)  # the console user
    number: Mapped[str] = mapped_column(String(32), nullable=False)
    contact_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("contacts.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    outcome: Mapped[str | None] = mapped_column(String(16))  # as Outcome; None while in flight
    linkedid: Mapped[str | None] = mapped_column(String(150), index=True)
