"""The reconnect flow a mailbox owner follows from a link, without the web: what the page shows,
starting the provider's authorization, and finishing it.

Every refusal is a `ReconnectRefused` with an HTTP status and our own words (no token, code,
link or provider text), raised before anything changes. The provider specifics sit behind the
kit's `authorization`; this module only looks the kit up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from resources.connectors import is_owner
from resources.kit import Authorization, AuthorizationRefused
from resources.providers import provider_kit
from resources.reconnect_links import LinkError, ReconnectLink, read_reconnect_token
from resources.registry import Connection, Registry, UnknownConnectionError
from resources.registry.reconnects import LinkAlreadyUsedError, ReconnectStore
from vocabulary.status import ConnectionStatus

CALLBACK_PATH = "/oauth/callback"
FLOW_TTL = timedelta(minutes=30)
"""How long a started authorization may take before its callback is refused."""


class ReconnectRefused(Exception):
    """A request the flow refuses, changing nothing: `status` (HTTP), a title and a sentence."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(f"{title}: {message}")
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class ReconnectConfig:
    """The link key and lifetime, and where the service is reached (links, redirect URI)."""

    link_key: str
    link_ttl: timedelta
    public_url: str

    @property
    def redirect_uri(self) -> str:
        return self.public_url.rstrip("/") + CALLBACK_PATH


@dataclass(frozen=True)
class ReconnectPage:
    """What the link's page shows."""

    connection: Connection
    provider_label: str
    expires_at: datetime


@dataclass(frozen=True)
class Reconnected:
    """A completed reconnect and the days its recovery owes (open missed windows)."""

    connection: Connection
    provider_label: str
    missed_days: tuple[date, ...]


def _days(start: datetime, end: datetime) -> list[date]:
    """The UTC days `[start, end)` touches."""
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


class ReconnectService:
    """Link -> page -> provider consent -> callback, over the registry and the provider kits.

    `provider_settings` maps provider name to its plain settings; `clock` gives the current
    (aware) time, so tests control expiry.
    """

    def __init__(
        self,
        registry: Registry,
        provider_settings: Mapping[str, Any],
        config: ReconnectConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.registry = registry
        self.provider_settings = provider_settings
        self.config = config
        self.clock = clock
        self.store = ReconnectStore(registry.warehouse, registry.connections)

    def _link(self, token: str) -> tuple[ReconnectLink, Connection]:
        try:
            link = read_reconnect_token(
                token, self.config.link_key, self.clock(), self.config.link_ttl
            )
        except LinkError as exc:
            status = 410 if exc.reason == "expired" else 400
            title = "Link expired" if exc.reason == "expired" else "Link not valid"
            raise ReconnectRefused(status, title, str(exc)) from None
        try:
            connection = self.registry.connections.get_connection(link.connection_id)
        except UnknownConnectionError:
            # Signed by us, but the connection is gone (removed since the link was sent).
            raise ReconnectRefused(
                400, "Link not valid", "This link names no mailbox Touchpoint knows."
            ) from None
        if self.store.link_used(link.nonce):
            raise ReconnectRefused(
                410,
                "Link already used",
                "This link was already used to reconnect the mailbox. Ask for a new one if it "
                "needs reconnecting again.",
            )
        if connection.status == ConnectionStatus.STOPPED:
            raise ReconnectRefused(
                410,
                "Mailbox disconnected",
                "This mailbox was disconnected from Touchpoint; ask your administrator to connect "
                "it again.",
            )
        return link, connection

    def _authorization(self, connection: Connection) -> Authorization:
        kit = provider_kit(connection.provider)
        settings = self.provider_settings.get(kit.name)
        if settings is None:
            # The deployment has no app registered with this provider (its settings unset).
            raise ReconnectRefused(
                503,
                "Reconnecting is not available",
                f"Touchpoint is not set up to sign in with {kit.label} right now. Please try "
                "again later or contact your administrator.",
            )
        return kit.authorization(settings)

    def page(self, token: str) -> ReconnectPage:
        link, connection = self._link(token)
        return ReconnectPage(
            connection,
            provider_kit(connection.provider).label,
            link.expires_at(self.config.link_ttl),
        )

    def start(self, token: str) -> str:
        """The provider's consent URL for the link's mailbox (the flow stored by its state)."""
        link, connection = self._link(token)
        authorization = self._authorization(connection)
        started = authorization.start(connection.owner_email, self.config.redirect_uri)
        self.store.record_flow(connection, link.nonce, started.state, started.flow, self.clock())
        return started.url

    def finish(self, callback: Mapping[str, str]) -> Reconnected:
        """Redeem the callback's code, check the account is the owner's, store the token and
        bring the connection back."""
        params = {k: v for k, v in callback.items() if isinstance(v, str)}
        now = self.clock()
        state = params.get("state") or ""
        pending = self.store.take_flow(state, now) if state else None
        if pending is None:
            # Unknown, forged or replayed: whatever it is, it names no sign-in waiting here.
            raise ReconnectRefused(
                400,
                "Sign-in not recognised",
                "This sign-in answer does not belong to a reconnect in progress, or was already "
                "used. Open your reconnect link again.",
            )
        if now - pending.started_at > FLOW_TTL:
            self.store.set_outcome(pending.state, "flow_expired")
            raise ReconnectRefused(
                410, "Sign-in took too long", "Open your reconnect link again and sign in."
            )
        if self.store.link_used(pending.link_nonce):
            self.store.set_outcome(pending.state, "link_used")
            raise ReconnectRefused(
                410, "Link already used", "This link was already used to reconnect the mailbox."
            )
        connection = self.registry.connections.get_connection(pending.connection_id)
        kit = provider_kit(connection.provider)
        authorization = self._authorization(connection)
        try:
            grant = authorization.finish(pending.flow, params)
        except AuthorizationRefused as refused:
            self.store.set_outcome(pending.state, refused.code)
            if refused.code == "access_denied":
                raise ReconnectRefused(
                    403,
                    "Access not granted",
                    f"{kit.label} says access was not granted, so Touchpoint still cannot read "
                    f"{connection.owner_email}. Open your link again and allow access.",
                ) from None
            raise ReconnectRefused(
                400,
                "Sign-in could not be completed",
                f"{kit.label} did not confirm the sign-in. Open your reconnect link again.",
            ) from None
        if not is_owner(connection.owner_email, connection.aliases, grant.addresses):
            self.store.set_outcome(pending.state, "wrong_account")
            raise ReconnectRefused(
                403,
                "Wrong account",
                f"You signed in with another {kit.label} account than {connection.owner_email}. "
                f"Open your link again and sign in as {connection.owner_email}.",
            )
        try:
            self.store.complete(pending, grant.refresh_token, grant.token_cache, now)
        except LinkAlreadyUsedError:
            raise ReconnectRefused(
                410, "Link already used", "This link was already used to reconnect the mailbox."
            ) from None
        windows = self.registry.health.missed_windows(
            connection.tenant_id, connection.connection_id
        )
        days = sorted({d for w in windows for d in _days(w.window_start, w.window_end)})
        return Reconnected(
            self.registry.connections.get_connection(connection.connection_id),
            kit.label,
            tuple(days),
        )
