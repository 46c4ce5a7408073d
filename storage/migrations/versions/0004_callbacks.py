"""callback_requests and callback_attempts: callers waiting to be called back, and each try

* ``callback_requests``: one row per request; at most ONE open request (status ``open`` or
  ``dialing``) per number, guaranteed by the partial unique index
  ``ux_callback_requests_open_number`` (PostgreSQL and SQLite both support ``WHERE`` on an index).
  ``original_linkedid`` links to the call record the request came from.
* ``callback_attempts``: one row per claim of a request by a service instance (``claimed_by``);
  ``dialed_at`` is written BEFORE the Originate is sent, ``outcome`` when the call has ended, and
  ``linkedid`` is the call record of the callback call (``call_records.callback_of`` points back
  to the request's ``original_linkedid``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from storage.base: a migration must not change when the models do.
_OPEN = "status IN ('open', 'dialing')"


def upgrade() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("specialty", sa.String(length=64), nullable=True),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("origin", sa.String(length=24), nullable=False),
        sa.Column("original_linkedid", sa.String(length=150), nullable=True),
        sa.Column("place_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_callback_requests"),
    )
    op.create_index(
        "ux_callback_requests_open_number",
        "callback_requests",
        ["number"],
        unique=True,
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_index(
        "ix_callback_requests_status_next_attempt_at", "callback_requests", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_callback_requests_number_created_at", "callback_requests", ["number", "created_at"], unique=False
    )
    op.create_index("ix_callback_requests_original_linkedid", "callback_requests", ["original_linkedid"], unique=False)

    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("dialed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("linkedid", sa.String(length=150), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["callback_requests.id"],
            name="fk_callback_attempts_request_id_callback_requests",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_callback_attempts"),
    )
    op.create_index("ix_callback_attempts_request_id", "callback_attempts", ["request_id"], unique=False)
    op.create_index("ix_callback_attempts_linkedid", "callback_attempts", ["linkedid"], unique=False)
    op.create_table(
        "callback_refusals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.Unicode(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("original_linkedid", sa.String(length=150), nullable=True),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_callback_refusals"),
    )


def downgrade() -> None:
    op.drop_table("callback_refusals")
    op.drop_index("ix_callback_attempts_linkedid", table_name="callback_attempts")
    op.drop_index("ix_callback_attempts_request_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_callback_requests_original_linkedid", table_name="callback_requests")
    op.drop_index("ix_callback_requests_number_created_at", table_name="callback_requests")
    op.drop_index("ix_callback_requests_status_next_attempt_at", table_name="callback_requests")
    op.drop_index("ux_callback_requests_open_number", table_name="callback_requests")
    op.drop_table("callback_requests")
