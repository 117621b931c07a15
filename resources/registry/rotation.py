"""Re-encrypting every stored token under the newest key, so that older keys can be retired.

One transaction per connection, holding its row (PostgreSQL row lock, SQLite write lock) so a
run saving a token cache at the same moment waits instead of being overwritten. A token already
under the newest key is left untouched: a rotation stopped half-way resumes where it stopped, and
a second run rewrites nothing. A connection with a token no key decrypts is left as it is and
reported; the others are rotated all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from resources.registry.connections import ConnectionStore
from resources.secrets import UndecryptableTokenError

TOKEN_COLUMNS = ("refresh_token_encrypted", "token_cache_encrypted")


@dataclass(frozen=True)
class StrandedConnection:
    """A connection with a stored token that decrypts under none of the keys (no token here)."""

    connection_id: str
    tenant_id: str
    owner_email: str


@dataclass
class KeyRotation:
    """What a rotation did, in connections: re-encrypted, already current, left as they were."""

    reencrypted: int = 0
    current: int = 0
    stranded: list[StrandedConnection] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.reencrypted + self.current + len(self.stranded)


def rotate_tokens(store: ConnectionStore, *, dry_run: bool = False) -> KeyRotation:
    """Re-encrypts each connection's refresh token and token cache under `store`'s newest key
    (`dry_run`: only counts what would be)."""
    warehouse, cipher = store.warehouse, store.cipher
    connections = warehouse.table("connections")
    with warehouse.engine.connect() as conn:
        ids = conn.execute(
            sa.select(connections.c.connection_id).order_by(
                connections.c.tenant_id, connections.c.connection_id
            )
        ).scalars()
        connection_ids = list(ids)
    report = KeyRotation()
    for connection_id in connection_ids:
        transaction = warehouse.engine.begin() if dry_run else warehouse.write()
        query = sa.select(
            connections.c.tenant_id,
            connections.c.owner_email,
            *(connections.c[column] for column in TOKEN_COLUMNS),
        ).where(connections.c.connection_id == connection_id)
        with transaction as conn:
            row = conn.execute(query if dry_run else query.with_for_update()).first()
            if row is None:
                continue  # removed since the listing: nothing left to rotate
            try:
                rotated = {
                    column: cipher.rotate(row._mapping[column])
                    for column in TOKEN_COLUMNS
                    # None: no cache; "": wiped by a disconnect. Nothing to re-encrypt.
                    if row._mapping[column]
                }
            except UndecryptableTokenError:
                # All or nothing per connection: a half-rotated row would help nobody.
                report.stranded.append(
                    StrandedConnection(connection_id, row.tenant_id, row.owner_email)
                )
                continue
            values = {column: new for column, new in rotated.items() if new is not None}
            if not values:
                report.current += 1
                continue
            if not dry_run:
                conn.execute(
                    sa.update(connections)
                    .where(connections.c.connection_id == connection_id)
                    .values(**values)
                )
            report.reencrypted += 1
    return report
