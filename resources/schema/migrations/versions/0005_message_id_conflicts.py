"""Schema version 5: `emails.message_id_conflict`. Copies sharing a Message-ID merge only when
their content fingerprint agrees; the rows of a Message-ID that names several messages are kept
apart and flagged. Existing rows were merged on the id alone and start unflagged; the next
rebuild of their day splits and flags them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One column with a server default, so existing rows get `false` on both backends
    (SQLite adds a NOT NULL column in place only with a default)."""
    op.add_column(
        "emails",
        sa.Column("message_id_conflict", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
