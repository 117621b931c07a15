"""Reconnects: the server-side state of each authorization started from a reconnect link, and
the completion that stores the new token and brings the connection back, once per link.

The flow (the provider library's state, holding the PKCE verifier) is stored encrypted under the
token key and keyed by the OAuth `state`; a callback takes it exactly once (a replayed callback
finds it taken). Completing a reconnect records the link's nonce in `reconnect_link_uses`,
whose primary key makes a link single-use even when two callbacks race.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from resources.registry.connections import ConnectionStore
from resources.registry.errors import RegistryError
from resources.registry.health import ConnectionHealth
from resources.registry.records import Connection
from resources.schema.column_types import to_utc
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

RECONNECTED = "reconnected"
"""Cause code of the status change a completed reconnect records."""


class LinkAlreadyUsedError(RegistryError):
    def __init__(self) -> None:
        super().__init__("this reconnect link was already used")


@dataclass(frozen=True)
class PendingFlow:
    """A started authorization, as its callback finds it."""

    state: str
    tenant_id: str
    connection_id: str
    link_nonce: str
    started_at: datetime
    flow: dict[str, Any] = field(repr=False)


class ReconnectStore:
    """Stores started flows, hands each to one callback, and completes reconnects."""

    def __init__(self, warehouse: Warehouse, connections: ConnectionStore) -> None:
        self.warehouse = warehouse
        self.connections = connections
        self.health = ConnectionHealth(warehouse)
        self._flows = warehouse.table("reconnect_flows")
        self._uses = warehouse.table("reconnect_link_uses")

    def link_used(self, link_nonce: str) -> bool:
        """Whether a reconnect was already completed through the link with this nonce."""
        with self.warehouse.engine.connect() as conn:
            found = conn.execute(
                sa.select(self._uses.c.link_nonce).where(self._uses.c.link_nonce == link_nonce)
            ).first()
        return found is not None

    def record_flow(
        self,
        connection: Connection,
        link_nonce: str,
        state: str,
        flow: dict[str, Any],
        at: datetime,
    ) -> None:
        encrypted = self.connections.cipher.encrypt(json.dumps(flow))
        with self.warehouse.write() as conn:
            conn.execute(
                sa.insert(self._flows).values(
                    state=state,
                    tenant_id=connection.tenant_id,
                    connection_id=connection.connection_id,
                    link_nonce=link_nonce,
                    flow_encrypted=encrypted,
                    started_at=to_utc(at),
                )
            )

    def take_flow(self, state: str, at: datetime) -> PendingFlow | None:
        """The flow started with `state`, marked taken so no second callback gets it; None
        for a state never issued or already taken (a replayed callback)."""
        flows = self._flows
        with self.warehouse.write() as conn:
            taken = conn.execute(
                sa.update(flows)
                .where(flows.c.state == state, flows.c.finished_at.is_(None))
                .values(finished_at=to_utc(at), outcome="taken")
            )
            if taken.rowcount != 1:
                return None
            row = conn.execute(sa.select(flows).where(flows.c.state == state)).one()
        return PendingFlow(
            state=row.state,
            tenant_id=row.tenant_id,
            connection_id=row.connection_id,
            link_nonce=row.link_nonce,
            started_at=row.started_at,
            flow=json.loads(self.connections.cipher.decrypt(row.flow_encrypted)),
        )

    def set_outcome(self, state: str, outcome: str) -> None:
        """Why a taken flow ended (our own code: reconnected, access_denied, wrong_account...)."""
        flows = self._flows
        with self.warehouse.write() as conn:
            conn.execute(sa.update(flows).where(flows.c.state == state).values(outcome=outcome))

    def complete(
        self,
        pending: PendingFlow,
        refresh_token: str,
        token_cache: str | None,
        at: datetime,
    ) -> None:
        """Store the new tokens (encrypted; `authorized_at` stays the first grant's, so the
        hourly runs keep the days since then), record the link's use and set the connection
        active with a history row, all in one transaction; LinkAlreadyUsedError (and nothing
        changed) when another callback of the same link completed first."""
        cipher = self.connections.cipher
        connections = self.warehouse.table("connections")
        values = {
            "refresh_token_encrypted": cipher.encrypt(refresh_token),
            "token_cache_encrypted": cipher.encrypt(token_cache) if token_cache else None,
        }
        try:
            with self.warehouse.write() as conn:
                conn.execute(
                    sa.insert(self._uses).values(
                        link_nonce=pending.link_nonce,
                        tenant_id=pending.tenant_id,
                        connection_id=pending.connection_id,
                        used_at=to_utc(at),
                    )
                )
                conn.execute(
                    sa.update(connections)
                    .where(connections.c.connection_id == pending.connection_id)
                    .values(**values)
                )
                self.health.change_status_in(
                    conn,
                    pending.connection_id,
                    ConnectionStatus.ACTIVE,
                    RECONNECTED,
                    "The owner reconnected the mailbox.",
                    at,
                )
                conn.execute(
                    sa.update(self._flows)
                    .where(self._flows.c.state == pending.state)
                    .values(outcome=RECONNECTED)
                )
        except sa.exc.IntegrityError:
            raise LinkAlreadyUsedError() from None
