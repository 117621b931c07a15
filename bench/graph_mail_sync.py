"""Benchmark: one tenant-day of Microsoft 365 mail through Graph into PostgreSQL, Touchpoint's
path beside a naive baseline.

    .venv/bin/python -m bench.graph_mail_sync [--mailboxes 5] [--messages-per-mailbox 1100]

Starts a throwaway PostgreSQL and the provider sandbox (its own process), then syncs the same
tenant-day of Microsoft mailboxes three times:
1. Touchpoint: msal sign-in from the stored refresh token, `/messages` filtered on the day with
   `$select` of the needed fields and `$top=1000` (the listing carries the payloads), COPY upserts;
2. Touchpoint again on the same partition: re-lists, fetches no message, writes nothing new;
3. naive baseline: `$top=10`, no `$select` (whole message resources, bodies included), one
   INSERT per row.
It prints messages/s, HTTP requests and API calls per message, and the ratios.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import requests

from assets.email_sync import email_row
from bench.common import Benchmark, main
from resources.microsoft.auth import GRAPH_MAIL_SCOPES, MicrosoftTokens
from resources.microsoft.client import graph_time, query_string
from resources.microsoft.mail_connector import LABELLED_FOLDERS, SKIPPED_FOLDERS
from resources.microsoft.mail_parsing import FOLDER_KEY, parse_graph_message
from resources.registry import Registry
from resources.warehouse import Warehouse
from sandbox.client import SandboxClient
from vocabulary.connectors import ApiStats
from vocabulary.records import EmailRecord, RawMessage, is_syncable
from vocabulary.windows import SyncWindow

NAIVE_PAGE = 10


def naive_graph(
    client: SandboxClient,
    base_url: str,
    workload: dict,
    warehouse: Warehouse,
    registry: Registry,
    tenant: str,
    window: SyncWindow,
) -> int:
    """What a first implementation does: default-sized pages of whole messages, one INSERT per
    row. It signs in the same way (msal) and leaves out the same folders."""
    synced = 0
    session = requests.Session()
    for conn in registry.connections.list_connections(tenant):
        tokens = MicrosoftTokens(
            conn.owner_email,
            registry.connections.refresh_token(conn.connection_id),
            scopes=GRAPH_MAIL_SCOPES,
            login_base_url=base_url,
            stats=ApiStats(),
            **workload["microsoft_client"],
        )
        headers = {"Authorization": f"Bearer {tokens.access_token()}"}
        user = f"{base_url}/v1.0/users/{conn.owner_email}"
        folders = {}
        for name in LABELLED_FOLDERS:
            answer = session.get(f"{user}/mailFolders/{name}", headers=headers, timeout=30)
            answer.raise_for_status()
            folders[answer.json()["id"]] = name
        params = {
            "$filter": (
                f"receivedDateTime ge {graph_time(window.start)} "
                f"and receivedDateTime lt {graph_time(window.end)}"
            ),
            "$top": NAIVE_PAGE,
        }
        url: str | None = f"{user}/messages?{query_string(params)}"
        while url:
            answer = session.get(url, headers=headers, timeout=30)
            answer.raise_for_status()
            page = answer.json()
            for item in page["value"]:
                folder = folders.get(item.get("parentFolderId"))
                if item.get("isDraft") or folder in SKIPPED_FOLDERS:
                    continue
                if folder:
                    item[FOLDER_KEY] = folder
                record = parse_graph_message(RawMessage(item["id"], item))
                if isinstance(record, EmailRecord) and is_syncable(record.labels):
                    row = email_row(tenant, conn.connection_id, record, datetime.now(UTC))
                    warehouse.insert_rows_one_by_one("raw_emails", [row])
                    synced += 1
            url = page.get("@odata.nextLink")
        tokens.close()
    return synced


GRAPH = Benchmark(
    provider="microsoft",
    fetch_methods=("graph.messages.get",),
    naive=naive_graph,
    naive_label=f"$top={NAIVE_PAGE}, no $select, row-by-row INSERTs",
)

if __name__ == "__main__":
    sys.exit(main(GRAPH, __doc__.splitlines()[0], None))
