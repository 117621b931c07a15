"""Builds each connection's connectors: its provider's kit, the deployment's plain settings for
that provider, and the connection's decrypted credentials."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from resources.providers import PROVIDERS, provider_kit
from resources.registry import Connection, ConnectionStore
from resources.secrets import UndecryptableTokenError
from vocabulary.budget import budgeted_sleep
from vocabulary.connectors import CalendarConnector, MailboxCredentials, MailConnector
from vocabulary.status import (
    TOKEN_OWNER_MISMATCH,
    TOKEN_UNDECRYPTABLE,
    ConnectionFailure,
    ConnectionStatus,
)

UNDECRYPTABLE_EXPLANATION = (
    "a stored token of this connection decrypts under none of the keys in TOUCHPOINT_SECRET_KEY; "
    "put the key it was encrypted with back in the list, or reconnect the mailbox"
)


def provider_settings(resources: Any) -> dict[str, Any]:
    """Each provider's plain settings, from a Dagster resources object keyed by provider name."""
    return {name: getattr(resources, name).settings() for name in PROVIDERS}


class ConnectorFactory:
    """Decrypts a connection's credentials and hands them to its provider's connector.

    The msal token cache (for providers whose library keeps one) travels beside the refresh
    token, encrypted, and is saved back whenever the library changes it. Every wait of the
    connectors (retry backoff, quota pacing) goes through their settings' `sleep`, which the
    factory bounds by the connection's time budget (vocabulary/budget.py).
    """

    def __init__(self, connections: ConnectionStore, settings: Mapping[str, Any]) -> None:
        self.connections = connections
        self.settings = settings

    def credentials(self, conn: Connection) -> MailboxCredentials:
        def save(cache: str) -> None:
            self.connections.save_token_cache(conn.connection_id, cache)

        try:
            refresh_token = self.connections.refresh_token(conn.connection_id)
            token_cache = self.connections.token_cache(conn.connection_id)
        except UndecryptableTokenError:
            # The key, not the mailbox, is wrong: this connection's failure (status and missed
            # window), not the step's, so its tenant's other mailboxes sync and nothing retries.
            raise ConnectionFailure(
                ConnectionStatus.SYNC_ERROR, TOKEN_UNDECRYPTABLE, UNDECRYPTABLE_EXPLANATION
            ) from None
        return MailboxCredentials(
            owner_email=conn.owner_email,
            refresh_token=refresh_token,
            token_cache=token_cache,
            save_token_cache=save,
        )

    def budgeted_settings(self, provider: str) -> Any:
        """The provider's settings with a `sleep` that stops at the time budget's deadline."""
        settings = self.settings[provider]
        return dataclasses.replace(settings, sleep=budgeted_sleep(settings.sleep))

    def mail(self, conn: Connection) -> MailConnector:
        kit = provider_kit(conn.provider)
        return kit.mail_connector(self.budgeted_settings(kit.name), self.credentials(conn))

    def calendar(self, conn: Connection) -> CalendarConnector:
        kit = provider_kit(conn.provider)
        return kit.calendar_connector(self.budgeted_settings(kit.name), self.credentials(conn))


def is_owner(owner_email: str, aliases: Iterable[str], found: Iterable[str]) -> bool:
    """Whether any of the addresses a provider named for a token is the owner or an alias."""
    mine = {a.strip().lower() for a in (owner_email, *aliases)}
    return bool(mine & {a.strip().lower() for a in found})


def verify_token_owner(
    provider: str, settings: Any, owner_email: str, aliases: Iterable[str], refresh_token: str
) -> None:
    """Refuse a refresh token that was not granted by the owner or one of its aliases.

    Asks the provider whose token it is (its kit's cheapest identity call); raises
    ConnectionFailure when the provider refuses the token, and one with cause
    `token_owner_mismatch` when it belongs to someone else. The other account's address is not
    named: the text goes to terminals and logs.
    """
    kit = provider_kit(provider)
    owner = owner_email.strip().lower()
    found = kit.token_addresses(settings, MailboxCredentials(owner, refresh_token))
    if not is_owner(owner, aliases, found):
        raise ConnectionFailure(
            ConnectionStatus.INVALID_CREDENTIALS,
            TOKEN_OWNER_MISMATCH,
            f"the refresh token was granted by another {kit.label} account than {owner} "
            "(or its aliases)",
        )
