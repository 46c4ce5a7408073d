"""Call recordings (issue 12, item 4)

* ``recordings``: one row per recorded call (a topic with ``record: true``), unique by its linkedid: the topic,
  the WAV's name in the instance's recordings folder (none when recording was off: a full disk), its status and
  why, when it started and ended, the talk it holds (seconds), until when it is kept, and when it was purged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("file", sa.String(length=160), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("linkedid", name=op.f("uq_recordings_linkedid")),
    )
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"], unique=False)
    op.create_index("ix_recordings_retain_until_purged_at", "recordings", ["retain_until", "purged_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_recordings_retain_until_purged_at", table_name="recordings")
    op.drop_index(op.f("ix_recordings_started_at"), table_name="recordings")
    op.drop_table("recordings")
