"""The caller's experience: survey answers, special days from the console, the block list

* ``survey_responses``: one row per surveyed call (its linkedid), the answers to the profile's one or two
  questions; None is "no answer" (the caller hung up), never a low score.
* ``special_days``: holidays and special days added from the console (the profile's own are in the
  profile), with their hours and topics as JSON lists; removed ones are kept with who removed them.
* ``blocked_numbers``: numbers that may not reach the hotline, by a supervisor or the automatic detection,
  with a reason and an expiry; ``nuisance_warnings``: numbers warned once before a block.
* ``call_records``: an index on (caller_number, started_at) for a number's calls.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blocked_numbers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Unicode(length=500), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Unicode(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Unicode(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_numbers")),
    )
    op.create_index("ix_blocked_numbers_number_expires_at", "blocked_numbers", ["number", "expires_at"], unique=False)
    op.create_table(
        "nuisance_warnings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=128), nullable=False),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nuisance_warnings")),
    )
    op.create_index("ix_nuisance_warnings_number_warned_at", "nuisance_warnings", ["number", "warned_at"], unique=False)
    op.create_table(
        "special_days",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("name", sa.Unicode(length=200), nullable=True),
        sa.Column("hours", sa.UnicodeText(), nullable=False),
        sa.Column("topics", sa.UnicodeText(), nullable=False),
        sa.Column("created_by", sa.Unicode(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Unicode(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_special_days")),
    )
    op.create_index(op.f("ix_special_days_first_day"), "special_days", ["first_day"], unique=False)
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.Unicode(length=255), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first", sa.Integer(), nullable=True),
        sa.Column("second", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_survey_responses_linkedid")),
    )
    op.create_index(op.f("ix_survey_responses_agent"), "survey_responses", ["agent"], unique=False)
    op.create_index("ix_survey_responses_topic_asked_at", "survey_responses", ["topic", "asked_at"], unique=False)
    op.create_index(
        "ix_call_records_caller_number_started_at", "call_records", ["caller_number", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_call_records_caller_number_started_at", table_name="call_records")
    op.drop_index("ix_survey_responses_topic_asked_at", table_name="survey_responses")
    op.drop_index(op.f("ix_survey_responses_agent"), table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_index(op.f("ix_special_days_first_day"), table_name="special_days")
    op.drop_table("special_days")
    op.drop_index("ix_nuisance_warnings_number_warned_at", table_name="nuisance_warnings")
    op.drop_table("nuisance_warnings")
    op.drop_index("ix_blocked_numbers_number_expires_at", table_name="blocked_numbers")
    op.drop_table("blocked_numbers")
