"""`ProviderKit`: everything Touchpoint needs to know about one mail and calendar provider.

Each provider folder (resources/google/, resources/microsoft/) builds one kit from its own
modules; resources/providers.py lists the kits. The sync, the connector factory, the registry,
the assets and the Definitions look a provider up in that table and never branch on its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
from vocabulary.status import ConnectionFailure


class AuthorizationRefused(Exception):
    """The provider's authorization did not yield a usable grant.

    `code` is ours (`access_denied`, `state_mismatch`, `exchange_failed`, `no_refresh_token`,
    `identity_unreadable`), never the provider's text: it reaches pages and logs.
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class AuthorizationStart:
    """Where to send the browser, and what the callback needs: `state` keys the server-side
    `flow` (it holds the PKCE verifier: store it encrypted, never in the browser)."""

    url: str
    state: str
    flow: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Grant:
    """What a completed authorization gives: a refresh token (and the library's token cache,
    for providers whose library keeps one) and the addresses of the account that signed in."""

    refresh_token: str = field(repr=False)
    token_cache: str | None = field(repr=False)
    addresses: tuple[str, ...]


def grant_from_exchange(
    refresh_token: str | None,
    token_cache: str | None,
    token_addresses: Callable[[MailboxCredentials], Iterable[str]],
) -> Grant:
    """The Grant of a code exchange's answer, once the provider says whose token it is: no
    refresh token, or an identity the provider will not tell, refuses the reconnect (with our
    own reason, never the provider's text)."""
    if not refresh_token:
        raise AuthorizationRefused("no_refresh_token")
    try:
        addresses = token_addresses(MailboxCredentials("", refresh_token))
    except ConnectionFailure:
        raise AuthorizationRefused("identity_unreadable") from None
    return Grant(refresh_token, token_cache, tuple(addresses))


class Authorization(Protocol):
    """A provider's OAuth 2.0 authorization-code flow with PKCE, for a reconnect."""

    def start(self, login_hint: str, redirect_uri: str) -> AuthorizationStart:
        """The provider's consent URL (offline access, consent prompt, `login_hint`)."""
        ...

    def finish(self, flow: dict[str, Any], callback: dict[str, str]) -> Grant:
        """Exchange the callback's code (checking its state against the flow's); raises
        AuthorizationRefused."""
        ...


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
    authorization: Callable[[Any], Authorization]
    """The provider's plain settings -> its authorization-code flow (reconnect)."""
    sandbox_env: Callable[[str, str, str], dict[str, str]]
    """(stand-in root URL, client id, client secret) -> the environment that points a
    deployment's resource at a stand-in serving the provider's paths (the demo's sandbox)."""
