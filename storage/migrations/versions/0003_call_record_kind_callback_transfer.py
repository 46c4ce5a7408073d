"""call_records: callback attempts, transfers and wrap-up

Adds to ``call_records`` (all optional or defaulted, so existing writers keep working):

* ``kind``: ``inbound`` (a call to the hotline number, the default) or ``callback`` (an attempt to
  call back a caller the hotline could not answer);
* ``callback_of``: for a callback attempt, the linkedid of the original inbound record;
* ``transferred_to``: the queue (or extension) an answered call was transferred to. The record
  stays one row per call: it counts as offered and answered once, in ``queue``, the queue that
  answered it first, and ``talk_seconds`` is the caller's whole talk time across the transfer;
* ``wrapup_seconds``: after-call work of the answering person, when known (AHT = talk + wrap-up).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="inbound", nullable=False))
        batch.add_column(sa.Column("callback_of", sa.String(length=150), nullable=True))
        batch.add_column(sa.Column("transferred_to", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("wrapup_seconds", sa.Float(), nullable=True))
    op.create_index("ix_call_records_callback_of", "call_records", ["callback_of"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_call_records_callback_of", table_name="call_records")
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("wrapup_seconds")
        batch.drop_column("transferred_to")
        batch.drop_column("callback_of")
        batch.drop_column("kind")
