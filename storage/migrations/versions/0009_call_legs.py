"""call_legs: every person and place an answered call was connected to (issue 12: transfers, conference)

One row per leg of a call, in order (``position`` 0 is the first answer: the call is counted there, once,
in ``call_records.queue``; later legs are transfers, outside destinations and conferences). A separate
table rather than a JSON column on ``call_records``: the per-person talk figures are a ``GROUP BY target``
that both databases compute the same way, and a leg has typed, indexable columns.

Legs are keyed by the call's ``linkedid`` (a foreign key to ``call_records.linkedid``, deleted with the
record), not by the record's id: the importers' bulk inserts (``INSERT OR IGNORE`` / ``COPY`` then
``ON CONFLICT DO NOTHING``) never read ids back, and ``(linkedid, position)`` being unique keeps a
re-import from adding a leg twice.

* ``kind``: ``person`` (a person of the profile), ``destination`` (a named place outside), ``conference``;
* ``target``: the person's or destination's id; ``queue``: the queue the leg was answered from, if any;
* ``answered_at`` / ``ended_at`` / ``talk_seconds``: the leg's own talk, so a transferred call's talk
  is split between the people who had it;
* ``how``: how the call got there (None for the first answer; ``blind``, ``attended``, ``refer``,
  ``conference``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_legs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Unicode(length=255), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("how", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["linkedid"],
            ["call_records.linkedid"],
            name=op.f("fk_call_legs_linkedid_call_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_legs")),
        sa.UniqueConstraint("linkedid", "position", name="uq_call_legs_linkedid_position"),
    )
    op.create_index("ix_call_legs_target_answered_at", "call_legs", ["target", "answered_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_call_legs_target_answered_at", table_name="call_legs")
    op.drop_table("call_legs")
