"""call_records.source: where a record came from

* ``live``: built from Asterisk's events as the call happened (the default, and every record before this);
* ``reconciled``: made at a start of the service from Asterisk's own queue_log and Master.csv, for a call that
  ended while the service was down (``cdr.importer.import_gap``);
* ``imported``: ``hotline import-records`` (an existing deployment's history).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), server_default="live", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("source")
