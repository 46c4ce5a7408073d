"""Console hardening: disabled users and failed sign-ins

* ``console_users.disabled``: a disabled user cannot sign in, and their sessions and tokens stop working.
* ``login_failures``: one row per failed sign-in (the name as typed, the address, when), counted per
  account and per address to throttle guessing; old rows are purged as new ones come.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("console_users", sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.Unicode(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_at", "login_failures", ["at"], unique=False)
    op.create_index("ix_login_failures_name", "login_failures", ["name"], unique=False)
    op.create_index("ix_login_failures_address", "login_failures", ["address"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failures_address", table_name="login_failures")
    op.drop_index("ix_login_failures_name", table_name="login_failures")
    op.drop_index("ix_login_failures_at", table_name="login_failures")
    op.drop_table("login_failures")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("disabled")
