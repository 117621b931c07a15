"""`ProviderKit`: everything Touchpoint needs to know about one mail and calendar provider.

Each provider folder (resources/google/, resources/microsoft/) builds one kit from its own
modules; resources/providers.py lists the kits. The sync, the connector factory, the registry,
the assets and the Definitions look a provider up in that table and never branch on its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from vocabulary.connectors import CalendarConnector, MailboxCredentials, MailConnector
from vocabulary.records import (
    DeletedEvent,
    EmailRecord,
    MeetingRecord,
    QuarantinedRecord,
    RawEvent,
    RawMessage,
)


class ProviderResource(Protocol):
    """The Dagster resource of a provider: configuration in, plain settings out."""

    def settings(self) -> Any:
        """The provider's plain settings (no Dagster) its connectors are built from."""
        ...


@dataclass(frozen=True)
class ProviderKit:
    """One provider, as the rest of Touchpoint sees it.

    `name` is what `connections.provider` stores and the Dagster resource key of the provider's
    resource. Connector builders take the plain settings the resource hands out (a frozen
    dataclass whose `sleep` field every wait of the connectors goes through, so the connector
    factory can bound it by the connection's time budget) and one mailbox's decrypted
    credentials; parsers are pure functions from raw payloads to records.
    """

    name: str
    label: str
    resource: Callable[[], ProviderResource]
    """Builds the deployment's resource, secrets bound to environment variables."""
    mail_connector: Callable[[Any, MailboxCredentials], MailConnector]
    calendar_connector: Callable[[Any, MailboxCredentials], CalendarConnector]
    token_addresses: Callable[[Any, MailboxCredentials], tuple[str, ...]]
    """The addresses of the account a refresh token was granted by, asked of the provider with
    its cheapest authenticated call; raises ConnectionFailure when the provider refuses it."""
    probe: Callable[[Any, MailboxCredentials], None]
    """Whether a connection still works, at the least cost: a token refresh and the provider's
    cheapest call on the owner's mailbox as the sync addresses it; raises the ConnectionFailure
    the sync would (the same classifiers)."""
    parse_message: Callable[[RawMessage], EmailRecord | QuarantinedRecord]
    parse_event: Callable[
        [RawEvent, Iterable[str]], MeetingRecord | QuarantinedRecord | DeletedEvent
    ]
    mail_kind: str
    """Dagster `kinds` tag of the provider's mail service (shown on the asset graph)."""
    calendar_kind: str
    sandbox_env: Callable[[str, str, str], dict[str, str]]
    """(stand-in root URL, client id, client secret) -> the environment that points a
    deployment's resource at a stand-in serving the provider's paths (the demo's sandbox)."""
