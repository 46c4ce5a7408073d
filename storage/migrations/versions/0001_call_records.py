"""call_records: one row per call that reached the hotline number

Revision ID: 0001
Revises:
Create Date: 2025-11-23

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("caller_number", sa.String(length=128), nullable=True),
        sa.Column("caller_name", sa.Unicode(length=255), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("specialty", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.Unicode(length=255), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_call_records"),
        sa.UniqueConstraint("linkedid", name="uq_call_records_linkedid"),
    )
    op.create_index("ix_call_records_started_at", "call_records", ["started_at"], unique=False)
    op.create_index("ix_call_records_queue", "call_records", ["queue"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_call_records_queue", table_name="call_records")
    op.drop_index("ix_call_records_started_at", table_name="call_records")
    op.drop_table("call_records")
