"""Outbound work (issue 14): contact lists, campaigns' attempts and alerts, the do-not-call list, manual calls

* ``contact_lists``: a named list a campaign calls (its content is the last file imported);
* ``contact_imports``: each import of a file into a list, by its SHA-256 (a re-import of the same file changes nothing);
* ``contacts``: a person of a list, one per number (a person no longer in the file is kept, ``removed_at`` set);
* ``do_not_call``: numbers never dialled out, added from the console or the CLI (besides the profile's);
* ``campaign_attempts``: one call to one person in one campaign's day, unique by (campaign, contact, day, number):
  claimed, dialled (written before the Originate), answered, ended, the outcome, the key and what it did, the
  person who took a "doctor", the call's linkedid;
* ``campaign_alerts``: an emergency key pressed, until a supervisor acknowledges it;
* ``manual_calls``: a number an agent clicked to call from the desk.

The call records of outbound calls are ``call_records`` rows with kind ``campaign`` or ``manual``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_contact_lists_name")),
    )
    op.create_table(
        "contact_imports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.Unicode(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Unicode(length=128), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["contact_lists.id"], name=op.f("fk_contact_imports_list_id_contact_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_imports")),
        sa.UniqueConstraint("list_id", "sha256", name=op.f("uq_contact_imports_list_id")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Unicode(length=255), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("district", sa.Unicode(length=128), nullable=True),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["contact_lists.id"], name=op.f("fk_contacts_list_id_contact_lists")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("list_id", "number", name=op.f("uq_contacts_list_id")),
    )
    op.create_index(op.f("ix_contacts_list_id"), "contacts", ["list_id"], unique=False)
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Unicode(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.Unicode(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_do_not_call")),
        sa.UniqueConstraint("number", name=op.f("uq_do_not_call_number")),
    )
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("dialled_number", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("dialed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("key", sa.String(length=8), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("linkedid", sa.String(length=150), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_campaign_attempts_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_attempts")),
        sa.UniqueConstraint("campaign", "contact_id", "day", "number", name=op.f("uq_campaign_attempts_campaign")),
    )
    op.create_index("ix_campaign_attempts_campaign_day", "campaign_attempts", ["campaign", "day"], unique=False)
    op.create_index(op.f("ix_campaign_attempts_contact_id"), "campaign_attempts", ["contact_id"], unique=False)
    op.create_index(op.f("ix_campaign_attempts_linkedid"), "campaign_attempts", ["linkedid"], unique=False)
    op.create_table(
        "campaign_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Unicode(length=255), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linkedid", sa.String(length=150), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Unicode(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["campaign_attempts.id"], name=op.f("fk_campaign_alerts_attempt_id_campaign_attempts")
        ),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_campaign_alerts_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_alerts")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_campaign_alerts_attempt_id")),
    )
    op.create_index(op.f("ix_campaign_alerts_raised_at"), "campaign_alerts", ["raised_at"], unique=False)
    op.create_table(
        "manual_calls",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.Unicode(length=128), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("linkedid", sa.String(length=150), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_manual_calls_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_calls")),
    )
    op.create_index(op.f("ix_manual_calls_person"), "manual_calls", ["person"], unique=False)
    op.create_index(op.f("ix_manual_calls_linkedid"), "manual_calls", ["linkedid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_manual_calls_linkedid"), table_name="manual_calls")
    op.drop_index(op.f("ix_manual_calls_person"), table_name="manual_calls")
    op.drop_table("manual_calls")
    op.drop_index(op.f("ix_campaign_alerts_raised_at"), table_name="campaign_alerts")
    op.drop_table("campaign_alerts")
    op.drop_index(op.f("ix_campaign_attempts_linkedid"), table_name="campaign_attempts")
    op.drop_index(op.f("ix_campaign_attempts_contact_id"), table_name="campaign_attempts")
    op.drop_index("ix_campaign_attempts_campaign_day", table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
    op.drop_table("do_not_call")
    op.drop_index(op.f("ix_contacts_list_id"), table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("contact_imports")
    op.drop_table("contact_lists")
