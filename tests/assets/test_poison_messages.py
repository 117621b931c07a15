"""One poisonous message never fails its neighbours, on SQLite and PostgreSQL, through both
providers: text fields are made single-line for every backend (with a recorded defect), and a
row the database still refuses is quarantined with the database's reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from assets.email_sync import email_row
from assets.emails import emails, raw_emails
from resources.warehouse import Warehouse
from stack import WORKLOAD_NOW, running_stack
from vocabulary.records import EmailRecord

DAY = (WORKLOAD_NOW - timedelta(days=1)).date()
INJECTED_AT = int(datetime(DAY.year, DAY.month, DAY.day, 9, 30, tzinfo=UTC).timestamp() * 1000)


def _encoded(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _poison(address: str, index: int, message_id: str) -> bytes:
    """A message whose encoded Subject and From name decode to a NUL and a CR/LF header
    injection, as a hostile or broken mailer sends them."""
    return (
        f"From: {_encoded('Mallory' + chr(0) + ' M')} <mallory@outside.example>\r\n"
        f"To: {address}\r\n"
        f"Subject: {_encoded('hi' + chr(0) + chr(13) + chr(10) + 'Bcc: evil@x.example')}\r\n"
        "Date: " + DAY.strftime("%a, %d %b %Y") + f" 09:30:{index:02d} +0000\r\n"
        f"Message-ID: {message_id}\r\n"
        "\r\nbody\r\n"
    ).encode()


def test_nul_and_line_breaks_in_headers_sync_on_every_backend(warehouse_url: str) -> None:
    with running_stack(
        warehouse_url, providers=("google", "microsoft"), tenants=1, mailboxes_per_tenant=2
    ) as stack:
        tenant = stack.workload.tenants[0].slug
        boxes = [m for m in stack.workload.mailboxes if m.tenant == tenant]
        assert {m.provider for m in boxes} == {"google", "microsoft"}
        for i, box in enumerate(boxes):
            stack.sandbox.state.inject_raw(
                box.address,
                _poison(box.address, i, f"<poison-{i}@outside.example>"),
                internal_date_ms=INJECTED_AT,
            )
            # A Message-ID with a NUL in it (Gmail passes header bytes through).
            stack.sandbox.state.inject_raw(
                box.address,
                _poison(box.address, i + 10, f"<nul{chr(0)}id-{i}@outside.example>"),
                internal_date_ms=INJECTED_AT + 1000,
            )
        result = stack.materialize(tenant, DAY.isoformat(), assets=[raw_emails, emails])
        assert result.success
        assert stack.synced_ids(tenant, DAY.isoformat()) == stack.truth_ids(tenant, DAY.isoformat())
        poisoned = [
            r
            for r in stack.rows("raw_emails", tenant, DAY.isoformat())
            if r["from_address"] == "mallory@outside.example"
        ]
        assert len(poisoned) == 4
        for row in poisoned:
            assert row["subject"] == "hi Bcc: evil@x.example"
            assert row["from_name"] == "Mallory  M"  # the NUL became a space
            assert row["bcc_addresses"] == []
            assert "subject: control characters replaced" in row["header_defects"]
            assert "from: control characters in display name replaced" in row["header_defects"]
        ids = {r["internet_message_id"] for r in poisoned}
        assert ids >= {"<poison-0@outside.example>", "<poison-1@outside.example>"}
        assert not any(i and chr(0) in i for i in ids)


def test_a_row_the_database_refuses_is_returned_with_its_reason(warehouse: Warehouse) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    warehouse.upsert(
        "tenants",
        [
            {
                "tenant_id": "acme",
                "name": "Acme",
                "internal_domains": [],
                "blocked_domains": [],
                "time_zone": "UTC",
                "created_at": now,
            }
        ],
        ["tenant_id"],
    )

    def row(message_id: str, thread_id: str) -> dict:
        record = EmailRecord(message_id, now, thread_id=thread_id, subject="s")
        return email_row("acme", "c1", record, now)

    rows = [row("m1", "t1"), row("m2", "t" + chr(0) + "2"), row("m3", "t3")]
    refused = warehouse.upsert_or_refuse(
        "raw_emails", rows, ["tenant_id", "connection_id", "provider_message_id"]
    )
    held = warehouse.existing_keys(
        "raw_emails", "acme", "c1", "provider_message_id", ["m1", "m2", "m3"]
    )
    if warehouse.dialect == "postgresql":
        # PostgreSQL stores no NUL in text: that row alone is refused, with the SQLSTATE only.
        assert [(r["provider_message_id"], reason) for r, reason in refused] == [
            ("m2", "warehouse_refused:22021")
        ]
        assert held == {"m1", "m3"}
    else:
        assert refused == []
        assert held == {"m1", "m2", "m3"}
