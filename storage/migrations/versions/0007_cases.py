"""Cases: reports and complaints with a number the caller can follow; wrap-up codes on call records

* ``cases``: one row per case. ``number`` is 9 digits, not in sequence, the last a check digit;
  ``version`` grows by one on every change, so a stale update is refused (409), never silently applied.
* ``case_history``: who changed what on a case, and when.
* ``case_calls``: the calls about a case, by their records' linkedid.
* ``case_lookups``: each "follow a report" lookup by phone, counted per caller number (the rate limit).
* ``case_outbox``: webhook events, one per receiver, written with the change they tell of and kept until
  delivered; ``event_id`` is the idempotency key.
* ``call_records.wrapup_code``: the disposition the agent chose after the call.
* ``console_users.person``: the person id (in the profile) of a console user with the ``agent`` role,
  whose desk page shows their calls.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_lookups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("caller_number", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_lookups")),
    )
    op.create_index("ix_case_lookups_caller_number_at", "case_lookups", ["caller_number", "at"], unique=False)
    op.create_table(
        "case_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.UnicodeText(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Unicode(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_outbox")),
    )
    op.create_index(
        "ix_case_outbox_delivered_at_next_attempt_at", "case_outbox", ["delivered_at", "next_attempt_at"], unique=False
    )
    op.create_index("ux_case_outbox_event_id_url", "case_outbox", ["event_id", "url"], unique=True)
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=9), nullable=False),
        sa.Column("pin", sa.String(length=4), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("caller_number", sa.String(length=128), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("description", sa.UnicodeText(), nullable=False),
        sa.Column("district", sa.String(length=64), nullable=True),
        sa.Column("location", sa.Unicode(length=200), nullable=True),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Unicode(length=500), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Unicode(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voice_note", sa.String(length=255), nullable=True),
        sa.Column("voice_note_seconds", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("number", name=op.f("uq_cases_number")),
    )
    op.create_index(op.f("ix_cases_caller_number"), "cases", ["caller_number"], unique=False)
    op.create_index("ix_cases_category_created_at", "cases", ["category", "created_at"], unique=False)
    op.create_index(op.f("ix_cases_department"), "cases", ["department"], unique=False)
    op.create_index("ix_cases_status_due_at", "cases", ["status", "due_at"], unique=False)
    op.create_table(
        "case_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_calls_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_calls")),
    )
    op.create_index(op.f("ix_case_calls_linkedid"), "case_calls", ["linkedid"], unique=False)
    op.create_index("ux_case_calls_case_id_linkedid", "case_calls", ["case_id", "linkedid"], unique=True)
    op.create_table(
        "case_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Unicode(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("old", sa.Unicode(length=500), nullable=True),
        sa.Column("new", sa.Unicode(length=500), nullable=True),
        sa.Column("note", sa.Unicode(length=1000), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_history_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_history")),
    )
    op.create_index(op.f("ix_case_history_case_id"), "case_history", ["case_id"], unique=False)
    op.add_column("call_records", sa.Column("wrapup_code", sa.String(length=64), nullable=True))
    op.add_column("console_users", sa.Column("person", sa.String(length=40), nullable=True))


def downgrade() -> None:
    op.drop_column("console_users", "person")
    op.drop_column("call_records", "wrapup_code")
    op.drop_index(op.f("ix_case_history_case_id"), table_name="case_history")
    op.drop_table("case_history")
    op.drop_index("ux_case_calls_case_id_linkedid", table_name="case_calls")
    op.drop_index(op.f("ix_case_calls_linkedid"), table_name="case_calls")
    op.drop_table("case_calls")
    op.drop_index("ix_cases_status_due_at", table_name="cases")
    op.drop_index(op.f("ix_cases_department"), table_name="cases")
    op.drop_index("ix_cases_category_created_at", table_name="cases")
    op.drop_index(op.f("ix_cases_caller_number"), table_name="cases")
    op.drop_table("cases")
    op.drop_index("ux_case_outbox_event_id_url", table_name="case_outbox")
    op.drop_index("ix_case_outbox_delivered_at_next_attempt_at", table_name="case_outbox")
    op.drop_table("case_outbox")
    op.drop_index("ix_case_lookups_caller_number_at", table_name="case_lookups")
    op.drop_table("case_lookups")
