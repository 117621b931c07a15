"""Benchmark: one tenant-day of Gmail into PostgreSQL, Touchpoint's path beside a naive baseline.

    .venv/bin/python -m bench.gmail_sync [--mailboxes 5] [--messages-per-mailbox 1100]

Starts a throwaway PostgreSQL and the provider sandbox (its own process, so server work does not
share this interpreter), then syncs the same tenant-day four times:
1. Touchpoint: list the window, messages.get(format=metadata) in batches of 50, COPY upserts;
2. Touchpoint again on the same partition: must make zero messages.get calls;
3. Touchpoint with googleapiclient's BatchHttpRequest framing its batches instead of
   resources/google/batch.py (same wire format, same calls), into a fresh database;
4. naive baseline: one messages.get(format=full) HTTP request per message, one INSERT per row.
It prints messages/s, HTTP requests, API calls and Gmail quota units per message, and ratios.
Client-side quota pacing is off in all runs (it would make both paths wait on the same quota
ceiling); the quota-bound time at Gmail's 250 units/s per user is printed beside.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from assets.email_sync import email_row
from bench.common import Benchmark, Column, main
from resources.google.mail_parsing import parse_gmail_message
from resources.registry import Registry
from resources.warehouse import Warehouse
from sandbox.client import SandboxClient
from vocabulary.records import RawMessage, is_syncable
from vocabulary.windows import SyncWindow

GMAIL_USER_QUOTA = 250  # units per second per user


def naive_gmail(
    client: SandboxClient,
    base_url: str,
    workload: dict,
    warehouse: Warehouse,
    registry: Registry,
    tenant: str,
    window: SyncWindow,
) -> int:
    """What a first implementation does: one HTTP request per message, one INSERT per row."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    synced = 0
    for conn in registry.connections.list_connections(tenant):
        creds = Credentials(
            None,
            refresh_token=registry.connections.refresh_token(conn.connection_id),
            token_uri=base_url + "/token",
            **workload["google_client"],
        )
        service = build(
            "gmail",
            "v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": base_url + "/"},
        )
        ids, page = [], None
        query = (
            f"after:{int(window.start.timestamp())} before:{int(window.end.timestamp())} -in:drafts"
        )
        while True:
            resp = (
                service.users()
                .messages()
                .list(userId="me", q=query, pageToken=page, maxResults=500)
                .execute()
            )
            ids += [m["id"] for m in resp.get("messages", [])]
            if not (page := resp.get("nextPageToken")):
                break
        for mid in ids:
            payload = service.users().messages().get(userId="me", id=mid).execute()
            record = parse_gmail_message(RawMessage(mid, payload))
            if hasattr(record, "labels") and is_syncable(record.labels):
                warehouse.insert_rows_one_by_one(
                    "raw_emails", [email_row(tenant, conn.connection_id, record, datetime.now(UTC))]
                )
                synced += 1
    return synced


GMAIL = Benchmark(
    provider="google",
    fetch_methods=("gmail.users.messages.get",),
    naive=naive_gmail,
    naive_label="one messages.get per message, row-by-row INSERTs",
    columns=(
        Column("quota units/msg", lambda r: f"{r.per_message(r.quota_units):.2f}"),
        Column("quota-bound s", lambda r: f"{r.quota_units / GMAIL_USER_QUOTA:.1f}"),
    ),
    variants=(("googleapiclient batches", {"batch_framing": "library"}),),
)

if __name__ == "__main__":
    sys.exit(main(GMAIL, __doc__.splitlines()[0], None))
