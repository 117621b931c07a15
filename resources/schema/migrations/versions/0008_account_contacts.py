"""Schema version 8: a contact may belong to several CRM accounts.

`account_contacts` holds one row per (tenant, account, contact) membership; each existing
`contacts.account_id` becomes its membership row, then the column goes. No foreign keys: SQLite
does not enforce them by default, so the loader (resources/registry/crm.py) checks references
on both backends alike.

Frozen history once released. Never edit it after that.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def add_tables(md: sa.MetaData) -> None:
    """The tables version 8 adds."""
    sa.Table(
        "account_contacts",
        md,
        sa.Column("tenant_id", sa.String(63), primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("contact_id", sa.String(128), primary_key=True),
        sa.Index("ix_account_contacts_tenant_contact", "tenant_id", "contact_id"),
    )


def upgrade() -> None:
    conn = op.get_bind()
    md = sa.MetaData()
    contacts = sa.Table("contacts", md, autoload_with=conn)
    add_tables(md)
    memberships = md.tables["account_contacts"]
    memberships.create(conn)
    conn.execute(
        sa.insert(memberships).from_select(
            ["tenant_id", "account_id", "contact_id"],
            sa.select(contacts.c.tenant_id, contacts.c.account_id, contacts.c.contact_id).where(
                contacts.c.account_id.is_not(None)
            ),
        )
    )
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("account_id")


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
