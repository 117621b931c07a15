"""One tenant's warehouse state for the `touchpoint explain` tests, written directly (registry,
Warehouse.upsert, TenantStore.replace_crm), and one scenario per engagement rule.

Tenant acme: internal acme.com, blocked rival.com. Mailboxes ann@acme.com (google, connected
2026-11-10 09:00) and bo@acme.com (microsoft, connected 2026-11-20 09:00). CRM: jo@globex.com in
globex; kim@initech.com and spy@rival.com (a contact on a blocked domain) in initech.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from resources.registry import Connection, Registry
from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot
from resources.registry.engagement_context import record_back_synced_day
from resources.warehouse import Warehouse

TENANT = "acme"
TOKEN = "1//refresh-token-never-shown-anywhere"
ANN_AUTHORIZED = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
BO_AUTHORIZED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 30, 14, 2, tzinfo=UTC)
PAST_MEETING = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
FUTURE_MEETING = datetime(2099, 1, 5, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CRM = CrmSnapshot(
    accounts=(
        CrmAccount("globex", "Globex", ("globex.com",)),
        CrmAccount("initech", "Initech", ("initech.com",)),
    ),
    contacts=(
        CrmContact("c-jo", "Jo", "jo@globex.com", ("globex",)),
        CrmContact("c-kim", "Kim", "kim@initech.com", ("initech",)),
        CrmContact("c-spy", "Spy", "spy@rival.com", ("initech",)),
    ),
)


@dataclass
class World:
    registry: Registry
    ann: Connection
    bo: Connection

    @property
    def warehouse(self) -> Warehouse:
        return self.registry.warehouse


def build_world(registry: Registry) -> World:
    registry.tenants.add_tenant(
        TENANT, "Acme", internal_domains=["acme.com"], blocked_domains=["rival.com"]
    )
    ann = registry.connections.add_connection(
        TENANT, "ann@acme.com", "google", TOKEN, authorized_at=ANN_AUTHORIZED
    )
    bo = registry.connections.add_connection(
        TENANT, "bo@acme.com", "microsoft", TOKEN, authorized_at=BO_AUTHORIZED
    )
    registry.tenants.replace_crm(TENANT, CRM)
    return World(registry, ann, bo)


def mid(name: str) -> str:
    return f"<{name}@mail.example>"


def raw_email(
    connection: Connection, message_id: str, received_at: datetime, sender: str, to: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    row = {
        "tenant_id": TENANT,
        "connection_id": connection.connection_id,
        "provider_message_id": f"{connection.owner_email}/{message_id}",
        "partition_day": received_at.date(),
        "received_at": received_at,
        "sent_at": received_at - timedelta(minutes=1),
        "internet_message_id": message_id,
        "thread_id": "t-1",
        "subject": "Renewal",
        "from_address": sender,
        "from_name": None,
        "to_addresses": list(to),
        "cc_addresses": [],
        "bcc_addresses": [],
        "in_reply_to": None,
        "labels": ["INBOX"],
        "size_bytes": 100,
        "header_defects": [],
        "removed_at": None,
        "removed_reason": None,
        "synced_at": received_at + timedelta(minutes=5),
    }
    row.update(extra)
    return row


def put_email(
    world: World,
    copies: Sequence[dict[str, Any]],
    deduplicate: bool = True,
    engaged: Sequence[str] = (),
) -> None:
    """The mailbox copies; the emails row merged from the live ones (as the dedupe does); an
    email_engagements row per account in `engaged`."""
    wh = world.warehouse
    wh.upsert("raw_emails", list(copies), ("tenant_id", "connection_id", "provider_message_id"))
    live = [c for c in copies if c["removed_at"] is None]
    first = min(copies, key=lambda c: c["received_at"])
    key = first["internet_message_id"]
    if deduplicate and live:
        owners = {world.ann.connection_id: "ann@acme.com", world.bo.connection_id: "bo@acme.com"}
        connections = sorted({c["connection_id"] for c in live})
        wh.upsert(
            "emails",
            [
                {
                    "tenant_id": TENANT,
                    "email_key": key,
                    "partition_day": first["partition_day"],
                    **{k: first[k] for k in ("internet_message_id", "thread_id", "subject")},
                    **{k: first[k] for k in ("from_address", "from_name", "to_addresses")},
                    "cc_addresses": first["cc_addresses"],
                    "bcc_addresses": first["bcc_addresses"],
                    "sent_at": first["sent_at"],
                    "received_at": first["received_at"],
                    "message_id_conflict": False,
                    "seen_in_connections": connections,
                    "seen_in_mailboxes": sorted(owners[c] for c in connections),
                    "copies": len(live),
                    "updated_at": NOW,
                }
            ],
            ("tenant_id", "email_key"),
        )
    if engaged:
        day = first["partition_day"]
        wh.upsert(
            "email_engagements",
            [
                {
                    "tenant_id": TENANT,
                    "email_key": key,
                    "account_id": account_id,
                    "partition_day": day,
                    "local_day": day,
                    "local_week": day - timedelta(days=day.weekday()),
                    "internet_message_id": key,
                    "thread_id": None,
                    "subject": None,
                    "sent_at": first["sent_at"],
                    "direction": "inbound",
                    "from_address": first["from_address"],
                    "contact_ids": [],
                    "contact_emails": [],
                    "internal_participants": [],
                    "seen_in_mailboxes": [],
                }
                for account_id in engaged
            ],
            ("tenant_id", "email_key", "account_id"),
        )


def quarantine_email(world: World, connection: Connection, item: str, excerpt: str) -> None:
    world.warehouse.upsert(
        "quarantined_messages",
        [
            {
                "tenant_id": TENANT,
                "connection_id": connection.connection_id,
                "provider_message_id": item,
                "partition_day": DAY.date(),
                "reason": "invalid_json",
                "excerpt": excerpt,
                "received_at": DAY,
                "quarantined_at": DAY + timedelta(minutes=5),
                "attempts": 1,
            }
        ],
        ("tenant_id", "connection_id", "provider_message_id"),
    )


def log_sync(world: World, connection: Connection, day: date) -> None:
    world.warehouse.upsert(
        "sync_log",
        [
            {
                "tenant_id": TENANT,
                "connection_id": connection.connection_id,
                "partition_day": day,
                "run_id": f"run-{day.isoformat()}",
                "status": "active",
                "started_at": NOW,
                "finished_at": NOW,
            }
        ],
        ("tenant_id", "connection_id", "partition_day", "run_id"),
    )


def attendee(email: str, response: str) -> dict[str, Any]:
    return {"email": email, "name": None, "response": response}


def put_meeting(
    world: World,
    uid: str,
    start: datetime,
    attendees: Sequence[dict[str, Any]],
    organized_by_owner: bool = True,
    status: str = "confirmed",
    engaged: Sequence[str] = (),
    organizer: str = "ann@acme.com",
) -> str:
    """One occurrence on ann's calendar, its meetings row and engagement rows; its key."""
    wh = world.warehouse
    key = f"{uid}|{start.isoformat()}"
    times = {"ical_uid": uid, "start_at": start, "end_at": start + timedelta(hours=1)}
    wh.upsert(
        "raw_meetings",
        [
            {
                "tenant_id": TENANT,
                "connection_id": world.ann.connection_id,
                "provider_event_id": f"ev-{uid}-{start.isoformat()}",
                "partition_day": start.date(),
                **times,
                "all_day": False,
                "start_time_zone": "UTC",
                "subject": "Quarterly review",
                "status": status,
                "organizer_email": organizer,
                "organizer_name": None,
                "organized_by_owner": organized_by_owner,
                "attendees": list(attendees),
                "series_id": None,
                "original_start_at": None,
                "location": None,
                "updated_at": NOW,
                "synced_at": NOW,
            }
        ],
        ("tenant_id", "connection_id", "provider_event_id"),
    )
    wh.upsert(
        "meetings",
        [
            {
                "tenant_id": TENANT,
                "meeting_key": key,
                "partition_day": start.date(),
                **times,
                "all_day": False,
                "subject": "Quarterly review",
                "status": status,
                "organizer_email": organizer,
                "attendees": list(attendees),
                "series_id": None,
                "seen_in_connections": [world.ann.connection_id],
                "seen_in_calendars": ["ann@acme.com"],
                "copies": 1,
                "updated_at": NOW,
            }
        ],
        ("tenant_id", "meeting_key"),
    )
    if engaged:
        wh.upsert(
            "meeting_engagements",
            [
                {
                    "tenant_id": TENANT,
                    "meeting_key": key,
                    "account_id": account_id,
                    "partition_day": start.date(),
                    "local_day": start.date(),
                    "local_week": start.date(),
                    "ical_uid": uid,
                    "subject": None,
                    "start_at": start,
                    "end_at": start + timedelta(hours=1),
                    "duration_minutes": 60,
                    "all_day": False,
                    "organizer_email": organizer,
                    "accepted_contact_ids": [],
                    "declined_contact_ids": [],
                    "tentative_contact_ids": [],
                    "internal_attendees": [],
                    "recurring": False,
                    "seen_in_calendars": [],
                }
                for account_id in engaged
            ],
            ("tenant_id", "meeting_key", "account_id"),
        )
    return key


# ---- one scenario per rule: (what to ask, the expected exclusion value per account) ------------

Expected = dict[str, str | None]
Scenario = Callable[[World], tuple[str, str, Expected]]
"""Builds its state; returns ("message" or "meeting", the id to explain, account -> exclusion)."""


def logged_email(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("logged"), DAY, "jo@globex.com", ["ann@acme.com"])],
              engaged=["globex"])  # fmt: skip
    return "message", mid("logged"), {"globex": None, "initech": "no_contact_of_account"}


def no_contact(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("stranger"), DAY, "x@other.com", ["ann@acme.com"])])
    return "message", mid("stranger"), {
        "globex": "no_contact_of_account", "initech": "no_contact_of_account",
    }  # fmt: skip


def blocked_contact(world: World) -> tuple[str, str, Expected]:
    to = ["ann@acme.com", "x@other.com"]
    put_email(world, [raw_email(world.ann, mid("spy"), DAY, "spy@rival.com", to)])
    return "message", mid("spy"), {
        "globex": "no_contact_of_account", "initech": "contact_on_blocked_domain",
    }  # fmt: skip


def internal_only(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("internal"), DAY, "bo@acme.com", ["ann@acme.com"])])
    return "message", mid("internal"), dict.fromkeys(("globex", "initech"), "internal_only")


def blocked_only(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("rival"), DAY, "x@rival.com", ["ann@acme.com"])])
    return "message", mid("rival"), dict.fromkeys(("globex", "initech"), "blocked_only")


EARLY = datetime(2026, 11, 5, 10, 0, tzinfo=UTC)


def before_authorization(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("early"), EARLY, "jo@globex.com", ["ann@acme.com"])])
    return "message", mid("early"), dict.fromkeys(("globex", "initech"), "before_authorization")


def back_synced_day(world: World) -> tuple[str, str, Expected]:
    put_email(world, [raw_email(world.ann, mid("early"), EARLY, "jo@globex.com", ["ann@acme.com"])],
              engaged=["globex"])  # fmt: skip
    record_back_synced_day(world.warehouse, world.ann, EARLY.date(), "run-backfill")
    return "message", mid("early"), {"globex": None, "initech": "no_contact_of_account"}


def trashed(world: World) -> tuple[str, str, Expected]:
    copy = raw_email(world.ann, mid("trashed"), DAY, "jo@globex.com", ["ann@acme.com"],
                     removed_at=DAY + timedelta(hours=1), removed_reason="trashed")  # fmt: skip
    put_email(world, [copy])
    return "message", mid("trashed"), dict.fromkeys(("globex", "initech"), "draft_spam_or_trash")


def organised_by_someone_else(world: World) -> tuple[str, str, Expected]:
    put_meeting(world, "uid-invited", PAST_MEETING, [attendee("jo@globex.com", "accepted")],
                organized_by_owner=False, organizer="jo@globex.com")  # fmt: skip
    return "meeting", "uid-invited", dict.fromkeys(("globex", "initech"), "not_organised_by_owner")


def no_contact_accepted(world: World) -> tuple[str, str, Expected]:
    put_meeting(world, "uid-declined", PAST_MEETING, [attendee("jo@globex.com", "declined")])
    return "meeting", "uid-declined", {
        "globex": "no_contact_accepted", "initech": "no_contact_of_account",
    }  # fmt: skip


def cancelled(world: World) -> tuple[str, str, Expected]:
    put_meeting(world, "uid-cancelled", PAST_MEETING, [attendee("jo@globex.com", "accepted")],
                status="cancelled")  # fmt: skip
    return "meeting", "uid-cancelled", dict.fromkeys(("globex", "initech"), "cancelled")


def not_started(world: World) -> tuple[str, str, Expected]:
    put_meeting(world, "uid-future", FUTURE_MEETING, [attendee("jo@globex.com", "accepted")])
    return "meeting", "uid-future", dict.fromkeys(("globex", "initech"), "not_started")


def logged_meeting(world: World) -> tuple[str, str, Expected]:
    put_meeting(world, "uid-held", PAST_MEETING, [attendee("jo@globex.com", "accepted")],
                engaged=["globex"])  # fmt: skip
    return "meeting", "uid-held", {"globex": None, "initech": "no_contact_of_account"}


SCENARIOS: dict[str, Scenario] = {
    f.__name__: f
    for f in (
        logged_email,
        no_contact,
        blocked_contact,
        internal_only,
        blocked_only,
        before_authorization,
        back_synced_day,
        trashed,
        organised_by_someone_else,
        no_contact_accepted,
        cancelled,
        not_started,
        logged_meeting,
    )
}
