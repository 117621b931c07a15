"""Odd and hostile messages never fail their neighbours, on SQLite and PostgreSQL, through both
providers: text fields are made single-line for every backend (with a recorded defect), one
message gives the same row and defects whichever provider served it, a Message-ID naming two
messages keeps both, and a row the database still refuses is quarantined with its reason."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from checks import HEADER_COLUMNS

from assets.email_sync import email_row
from assets.emails import emails, raw_emails
from resources.warehouse import Warehouse
from stack import WORKLOAD_NOW, Stack, running_stack
from vocabulary.records import EmailRecord

pytestmark = pytest.mark.timeout(300)

DAY = (WORKLOAD_NOW - timedelta(days=1)).date()
INJECTED_AT = int(datetime(DAY.year, DAY.month, DAY.day, 9, 30, tzinfo=UTC).timestamp() * 1000)
DATE = "Date: " + DAY.strftime("%a, %d %b %Y")


def _encoded(text: str) -> str:
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _poison(address: str, index: int, message_id: str) -> bytes:
    """A message whose encoded Subject and From name decode to a NUL and a CR/LF header
    injection, as a hostile or broken mailer sends them."""
    return (
        f"From: {_encoded('Mallory' + chr(0) + ' M')} <mallory@outside.example>\r\n"
        f"To: {address}\r\n"
        f"Subject: {_encoded('hi' + chr(0) + chr(13) + chr(10) + 'Bcc: evil@x.example')}\r\n"
        f"{DATE} 09:30:{index:02d} +0000\r\n"
        f"Message-ID: {message_id}\r\n"
        "\r\nbody\r\n"
    ).encode()


def _message(head: str, body: bytes = b"body\r\n") -> bytes:
    return head.replace("\n", "\r\n").encode() + b"\r\n" + body


@dataclass
class Odd:
    """One odd message, injected into every mailbox of the tenant, and what its rows hold."""

    name: str
    raw: Callable[[str], bytes]
    """The message's bytes for a To header value (every mailbox of the tenant)."""
    check: Callable[[dict], None]
    """Assertions on one raw_emails row of it."""
    labels: tuple[str, ...] = ("INBOX", "UNREAD")


def _expect(**fields) -> Callable[[dict], None]:
    def check(row: dict) -> None:
        for name, value in fields.items():
            if name == "defects":
                assert set(value) <= set(row["header_defects"]), row["header_defects"]
            else:
                assert row[name] == value, (name, row[name])

    return check


RECIPIENTS = [f"r{i:04d}@customer.example" for i in range(2000)]
ODD = [
    Odd(
        "nul-byte-subject",
        lambda to: _message(
            f"From: Ann <ann@outside.example>\nTo: {to}\nSubject: hi\x00there\n"
            f"{DATE} 09:31:00 +0000\nMessage-ID: <nul-subject@outside.example>\n"
        ),
        _expect(subject="hi there", defects=["subject: control characters replaced"]),
    ),
    Odd(
        "five-megabytes",
        lambda to: _message(
            f"From: ann@outside.example\nTo: {to}\nSubject: big\n"
            f"{DATE} 09:32:00 +0000\nMessage-ID: <big@outside.example>\n",
            b"x" * (5 * 1024 * 1024) + b"\r\n",
        ),
        _expect(subject="big", header_defects=[]),
    ),
    Odd(
        "two-thousand-recipients",
        lambda to: _message(
            f"From: ann@outside.example\nTo: {to},\n " + ",\n ".join(RECIPIENTS) + "\n"
            f"Subject: everyone\n{DATE} 09:33:00 +0000\nMessage-ID: <many@outside.example>\n"
        ),
        lambda row: _expect(
            header_defects=[], to_addresses=[*row["to_addresses"][:2], *RECIPIENTS]
        )(row),
    ),
    Odd(
        "invalid-utf8",
        lambda to: (
            b"From: Ren\xe9 <rene@outside.example>\r\nTo: " + to.encode() + b"\r\n"
            b"Subject: caf\xe9 \xff\xfe au lait\r\n"
            + f"{DATE} 09:34:00 +0000\r\n".encode()
            + b"Message-ID: <latin1@outside.example>\r\n\r\nbody\r\n"
        ),
        _expect(subject="caf\ufffd \ufffd\ufffd au lait", from_address="rene@outside.example"),
    ),
    Odd(
        "missing-message-id",
        lambda to: _message(
            f"From: ann@outside.example\nTo: {to}\nSubject: no id\n{DATE} 09:35:00 +0000\n"
        ),
        _expect(internet_message_id=None, defects=["message-id: missing"]),
    ),
    Odd(
        "message-id-owner",
        lambda to: _message(
            f"From: ann@outside.example\nTo: {to}\nSubject: Renewal terms\n"
            f"{DATE} 09:36:00 +0000\nMessage-ID: <dup@outside.example>\n"
        ),
        _expect(from_address="ann@outside.example", header_defects=[]),
    ),
    Odd(
        "message-id-reused",
        lambda to: _message(
            f"From: eve@evil.example\nTo: {to}\nSubject: Updated bank details\n"
            f"{DATE} 11:00:00 +0000\nMessage-ID: <dup@outside.example>\n"
        ),
        _expect(from_address="eve@evil.example", subject="Updated bank details"),
    ),
    Odd(
        "encoded-crlf-injection",
        lambda to: _poison(to, 38, "<poison@outside.example>"),
        _expect(
            subject="hi Bcc: evil@x.example",
            from_name="Mallory  M",  # the NUL became a space
            bcc_addresses=[],
            defects=[
                "subject: control characters replaced",
                "from: control characters in display name replaced",
            ],
        ),
    ),
    Odd(
        # Gmail passes header bytes through: an id with a NUL in it is left out, not repaired.
        "nul-in-message-id",
        lambda to: _poison(to, 39, f"<nul{chr(0)}id@outside.example>"),
        _expect(internet_message_id=None, defects=["message-id: control characters, id left out"]),
    ),
    Odd(
        "address-less-from-and-to",
        lambda to: _message(
            "From: johndoe\nTo: undisclosed-recipients:;\nCc: janedoe\nSubject: who?\n"
            f"{DATE} 09:40:00 +0000\nMessage-ID: <nobody@outside.example>\n"
        ),
        _expect(
            from_address=None,
            to_addresses=[],
            cc_addresses=[],
            defects=[
                "from: dropped unparseable address 'johndoe'",
                "cc: dropped unparseable address 'janedoe'",
            ],
        ),
    ),
    Odd(
        # The sender's copy: Graph has no internet headers for it, only its own fields (decoded
        # subject, bccRecipients), read with the same rules.
        "sent-copy-with-bcc-and-injection",
        lambda to: _message(
            f"From: {to.split(', ')[0]}\nTo: bo@customer.example\nBcc: Boss <boss@acme.example>\n"
            f"Subject: {_encoded('hi' + chr(13) + chr(10) + 'Bcc: evil@x.example')}\n"
            f"{DATE} 09:42:00 +0000\nMessage-ID: <sent@acme.example>\n"
        ),
        _expect(
            subject="hi Bcc: evil@x.example",
            to_addresses=["bo@customer.example"],
            bcc_addresses=["boss@acme.example"],
            header_defects=["subject: control characters replaced"],
        ),
        labels=("SENT",),
    ),
    Odd(
        "two-to-headers",
        lambda to: _message(
            f"From: ann@outside.example\nTo: {to}\nTo: Bo <bo@customer.example>\n"
            f"Subject: twice\n{DATE} 09:41:00 +0000\nMessage-ID: <two-to@outside.example>\n"
        ),
        lambda row: _expect(
            to_addresses=[*row["to_addresses"][:2], "bo@customer.example"],
            defects=["to: 2 headers, merged"],
        )(row),
    ),
]


def _inject_odd(stack: Stack, tenant: str) -> dict[str, dict[str, str]]:
    """Every odd message, the same bytes, into every mailbox of the tenant (addressed to all of
    them): name -> {provider: message id}."""
    boxes = [m for m in stack.workload.mailboxes if m.tenant == tenant]
    assert {m.provider for m in boxes} == {"google", "microsoft"}
    to = ", ".join(box.address for box in boxes)
    ids: dict[str, dict[str, str]] = {}
    for n, odd in enumerate(ODD):
        for box in boxes:
            injected = stack.sandbox.state.inject_raw(
                box.address, odd.raw(to), odd.labels, internal_date_ms=INJECTED_AT + n * 60_000
            )
            ids.setdefault(odd.name, {})[box.provider] = injected["id"]
    return ids


def test_odd_messages_sync_through_both_providers_on_every_backend(warehouse_url: str) -> None:
    """The issue's tenant-day: NUL-byte subject, 5 MB, 2,000 recipients, invalid UTF-8, no
    Message-ID, one Message-ID on two messages, an encoded CR/LF injection, address-less
    From/To and two To headers, beside the workload's ordinary mail, through real Dagster runs,
    the real client libraries and the sandbox over HTTP."""
    with running_stack(
        warehouse_url, providers=("google", "microsoft"), tenants=1, mailboxes_per_tenant=2
    ) as stack:
        tenant = stack.workload.tenants[0].slug
        day = DAY.isoformat()
        ids = _inject_odd(stack, tenant)
        result = stack.materialize(tenant, day, assets=[raw_emails, emails])
        assert result.success
        assert stack.synced_ids(tenant, day) == stack.truth_ids(tenant, day)
        assert stack.rows("quarantined_messages", tenant, day) == []

        raw = {r["provider_message_id"]: r for r in stack.rows("raw_emails", tenant, day)}
        for odd in ODD:
            google, microsoft = (raw[ids[odd.name][p]] for p in ("google", "microsoft"))
            for row in (google, microsoft):
                odd.check(row)
            # One message, one row and one set of defects, whichever provider served it.
            assert {f: google[f] for f in HEADER_COLUMNS} == {
                f: microsoft[f] for f in HEADER_COLUMNS
            }, odd.name
        assert raw[ids["five-megabytes"]["google"]]["size_bytes"] > 5 * 1024 * 1024

        first_run = {r["email_key"]: r for r in stack.rows("emails", tenant, day)}
        # Both providers' copies of the owner merge; the reuse stays apart, and both are flagged.
        owner = first_run["<dup@outside.example>"]
        (reused_key,) = [k for k in first_run if k.startswith("<dup@outside.example>#")]
        reused = first_run[reused_key]
        assert (owner["from_address"], owner["copies"], owner["message_id_conflict"]) == (
            "ann@outside.example",
            2,
            True,
        )
        assert (reused["from_address"], reused["copies"], reused["message_id_conflict"]) == (
            "eve@evil.example",
            2,
            True,
        )
        assert sum(r["message_id_conflict"] for r in first_run.values()) == 2
        # Without a Message-ID the copies cannot be matched: one row per mailbox copy.
        lone = [r for r in first_run.values() if r["subject"] == "no id"]
        assert [r["copies"] for r in lone] == [1, 1]

        # A re-run finds the same keys: no duplicated rows, the same row per key.
        assert stack.materialize(tenant, day, assets=[raw_emails, emails]).success
        second_run = {r["email_key"]: r for r in stack.rows("emails", tenant, day)}
        assert set(second_run) == set(first_run)
        assert all(
            second_run[k]["copies"] == r["copies"]
            and second_run[k]["message_id_conflict"] == r["message_id_conflict"]
            for k, r in first_run.items()
        )


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
