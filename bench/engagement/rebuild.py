"""The other half of the benchmark: rebuild the engagement rows of one tenant-day of 5,000
messages with `assets.engagement_tables.rebuild_engagements(warehouse, tenant_id, day, now)`.

That function is written elsewhere (issue 9); until it is merged this part prints why it is
skipped. The tenant, its connections and CRM go through the registry's own APIs, the 5,000
`emails` rows through the warehouse's upsert, as the sync writes them.
"""

from __future__ import annotations

import random
import statistics
import time as clock
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa

from bench.engagement.generate import CONTACTS_PER_ACCOUNT, Scale, TenantYear
from resources.registry import Registry
from resources.warehouse import Warehouse

TENANT = "rebuild-bench"
ZONE = "America/New_York"
MAILBOXES = 10
ACCOUNTS = 200


def _emails(year: TenantYear, day: date, owners: list[tuple[str, str]], count: int) -> list[dict]:
    """`count` messages on `day`: 70% between a mailbox owner and a CRM contact."""
    rng = random.Random(7)
    start = datetime.combine(day, time(), UTC)
    rows = []
    for n in range(count):
        connection_id, owner = owners[n % len(owners)]
        if rng.random() < 0.7:
            a, k = rng.randrange(ACCOUNTS), rng.randrange(CONTACTS_PER_ACCOUNT)
            other = year.contact_email(a, k)
        else:
            other = f"someone{n % 311}@elsewhere.example"
        sender, to = (other, owner) if rng.random() < 0.55 else (owner, other)
        at = start + timedelta(seconds=rng.randrange(86_400))
        rows.append(
            {
                "tenant_id": TENANT,
                "email_key": f"r{n:06d}",
                "partition_day": day,
                "internet_message_id": f"<r{n:06d}@bench.example>",
                "thread_id": f"rt{n // 3:06d}",
                "subject": f"thread {n // 3}",
                "from_address": sender,
                "from_name": None,
                "to_addresses": [to],
                "cc_addresses": [],
                "bcc_addresses": [],
                "sent_at": at,
                "received_at": at + timedelta(seconds=4),
                "message_id_conflict": False,
                "seen_in_connections": [connection_id],
                "seen_in_mailboxes": [owner],
                "copies": 1,
                "updated_at": at,
            }
        )
    return rows


def rebuild_one_day(warehouse: Warehouse, registry: Registry, messages: int, runs: int) -> None:
    """Print the seconds one tenant-day's rebuild takes (first build, then rebuilding it)."""
    label = f"rebuild one tenant-day of {messages:,} messages"
    try:
        from assets.engagement_tables import rebuild_engagements
    except ImportError as exc:
        print(
            f"{label}: skipped, assets.engagement_tables.rebuild_engagements is not in this tree "
            f"yet ({exc}); this part runs as soon as it is merged"
        )
        return
    day = datetime.now(UTC).date() - timedelta(days=2)
    year = TenantYear(TENANT, ZONE, day, Scale(emails=0, accounts=ACCOUNTS, csms=MAILBOXES))
    registry.tenants.add_tenant(TENANT, "Rebuild bench", [f"{TENANT}.test"], [], ZONE)
    authorized = datetime.combine(day - timedelta(days=30), time(), UTC)
    owners = []
    for i in range(MAILBOXES):
        owner = f"csm{i:03d}@{TENANT}.test"
        conn = registry.connections.add_connection(
            TENANT, owner, "google", f"refresh-{i}", authorized_at=authorized
        )
        owners.append((conn.connection_id, owner))
    registry.tenants.replace_crm(TENANT, year.crm())
    warehouse.upsert("emails", _emails(year, day, owners, messages), ["tenant_id", "email_key"])
    now = datetime.combine(day + timedelta(days=1), time(12), UTC)
    seconds = []
    for _ in range(1 + runs):
        started = clock.perf_counter()
        rebuild_engagements(warehouse, TENANT, day, now)
        seconds.append(clock.perf_counter() - started)
    table = warehouse.table("email_engagements")
    with warehouse.engine.connect() as conn:
        written = conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.tenant_id == TENANT, table.c.partition_day == day)
        ).scalar_one()
    again = statistics.median(seconds[1:])
    print(
        f"{label}: first build {seconds[0]:.2f} s, rebuild median {again:.2f} s over {runs} "
        f"runs; {written:,} email_engagements rows for the day"
    )
