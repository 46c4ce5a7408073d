"""ORM rows of cdr (the schema itself is owned by the migrations in storage/migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Unicode, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, UTCDateTime


class CallRecordRow(Base):
    __tablename__ = "call_records"
    # a number's calls (the desk's earlier calls, nuisance detection)
    __table_args__ = (Index("ix_call_records_caller_number_started_at", "caller_number", "started_at"),)

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
    # Revision 0003: callbacks, transfers, wrap-up (see storage/migrations/versions/0003_*.py).
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="inbound")  # inbound|callback
    callback_of: Mapped[str | None] = mapped_column(String(150), index=True)  # original linkedid
    transferred_to: Mapped[str | None] = mapped_column(String(128))  # queue the answered call went on to
    wrapup_seconds: Mapped[float | None] = mapped_column(Float)
    wrapup_code: Mapped[str | None] = mapped_column(String(64))  # the disposition chosen after the call (a profile id)
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="live")  # live|reconciled|imported


class CallLegRow(Base):
    """One leg of a call (revision 0009): a person or a place the call was connected to, in order.

    Keyed by the call's ``linkedid`` (not the record's id) so that the importers' bulk paths, which
    insert records with ``ON CONFLICT DO NOTHING`` and never read ids back, can write legs beside them;
    ``(linkedid, position)`` is unique, so a leg is stored once however often a record is imported."""

    __tablename__ = "call_legs"
    __table_args__ = (
        UniqueConstraint("linkedid", "position", name="uq_call_legs_linkedid_position"),
        Index("ix_call_legs_target_answered_at", "target", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(
        String(150), ForeignKey("call_records.linkedid", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)  # 0: the first answer, where the call counts
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # person | destination | conference
    target: Mapped[str] = mapped_column(Unicode(255), nullable=False)  # the person's or destination's id
    queue: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    how: Mapped[str | None] = mapped_column(String(16))  # None (first answer) | blind | attended | refer | conference
