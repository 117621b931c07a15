"""The world model's records: tenants, their CRM, connected mailboxes, messages, the workload.

Plain dataclasses and the constants every part of the sandbox agrees on (the two OAuth apps and
their scopes, Gmail's user labels), kept apart from the generator so that the generator, the
calendars, the state and both providers can all import them without importing one another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sandbox.workload.calendar_model import MasterEvent

GOOGLE_CLIENT_ID = "touchpoint-sandbox.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "sandbox-google-client-secret"
GMAIL_READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
CALENDAR_READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
GOOGLE_SCOPES = (GMAIL_READONLY_SCOPE, CALENDAR_READONLY_SCOPE)

MICROSOFT_CLIENT_ID = "3f8a2c71-5b4e-4d9a-8e21-6c0f9b7d2a54"
MICROSOFT_CLIENT_SECRET = "sbx8Q~touchpoint-sandbox-microsoft-client-secret"
GRAPH_MAIL_SCOPE = "https://graph.microsoft.com/Mail.Read"
GRAPH_CALENDARS_SCOPE = "https://graph.microsoft.com/Calendars.Read"
MICROSOFT_SCOPES = ("offline_access", GRAPH_MAIL_SCOPE, GRAPH_CALENDARS_SCOPE)
PROVIDERS = ("google", "microsoft")
APP_CREDENTIALS = {
    "google": (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET),
    "microsoft": (MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
}
"""The (client id, client secret) the sandbox accepts from each provider's app."""

USER_LABELS: dict[str, str] = {
    "Label_1": "Customers",
    "Label_2": "Renewals/2027",
    "Label_3": "Ärger & Eskalation",
}
"""Gmail user labels every sandbox mailbox has (id -> name)."""

DAY_MS = 86_400_000


@dataclass
class Account:
    account_id: str
    name: str
    domains: list[str]


@dataclass
class Contact:
    contact_id: str
    account_id: str
    name: str
    email: str
    other_account_ids: list[str] = field(default_factory=list)
    """Further accounts the same person belongs to (an end user of two customers)."""

    @property
    def account_ids(self) -> list[str]:
        """Every account of the contact, its first (`account_id`) first."""
        return [self.account_id, *self.other_account_ids]


@dataclass
class Tenant:
    slug: str
    name: str
    internal_domains: list[str]
    blocked_domains: list[str]
    time_zone: str
    accounts: list[Account] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    entra_tenant_id: str = ""


@dataclass
class Mailbox:
    tenant: str
    address: str
    display_name: str
    aliases: list[str]
    provider: str
    refresh_token: str = field(repr=False)
    scopes: list[str] = field(default_factory=lambda: list(GOOGLE_SCOPES))
    entra_tenant_id: str | None = None
    user_id: str | None = None
    """Microsoft only: the Entra tenant and the user's object id (Graph `/users/{id}`)."""


@dataclass
class SandboxMessage:
    """One message in one mailbox, with what the truth knows about it.

    `subject`, `from_address`, `to_addresses` and `cc_addresses` are what a correct parser of
    `raw` must produce (decoded subject, bare lower-cased addresses). `kind` says why the
    generator made it (e.g. "reply", "shared", "blocked"); tests use it to find the nasty cases.
    """

    mailbox: str
    id: str
    thread_id: str
    label_ids: list[str]
    internal_date_ms: int
    raw: bytes = field(repr=False)
    internet_message_id: str | None
    subject: str | None
    from_address: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    kind: str = "injected"


@dataclass
class Workload:
    seed: int
    now: datetime
    tenants: list[Tenant]
    mailboxes: list[Mailbox]
    messages: dict[str, list[SandboxMessage]]
    days: list[date]
    events: dict[str, list[MasterEvent]] = field(default_factory=dict)
    providers: tuple[str, ...] = ("google",)

    @property
    def message_count(self) -> int:
        return sum(len(msgs) for msgs in self.messages.values())

    def mailbox(self, address: str) -> Mailbox:
        for mailbox in self.mailboxes:
            if mailbox.address == address.lower():
                return mailbox
        raise KeyError(address)

    def tenant(self, slug: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant
        raise KeyError(slug)

    def all_messages(self) -> list[SandboxMessage]:
        return [msg for msgs in self.messages.values() for msg in msgs]

    def to_dict(self) -> dict[str, Any]:
        """What /_sandbox/workload serves: everything a consent flow would have given us."""
        return {
            "seed": self.seed,
            "now": self.now.isoformat(),
            "days": [d.isoformat() for d in self.days],
            "providers": list(self.providers),
            "google_client": {"client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET},
            "microsoft_client": {
                "client_id": MICROSOFT_CLIENT_ID,
                "client_secret": MICROSOFT_CLIENT_SECRET,
            },
            "tenants": [asdict(t) for t in self.tenants],
            "mailboxes": [
                {
                    **asdict(m),
                    "message_count": len(self.messages.get(m.address, [])),
                    "event_count": len(self.events.get(m.address, [])),
                }
                for m in self.mailboxes
            ],
        }
