"""parse_graph_message: Graph message resources -> EmailRecord / QuarantinedRecord (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from checks import HEADER_COLUMNS

from resources.google.mail_parsing import parse_gmail_message
from resources.microsoft.mail_connector import MESSAGE_FIELDS
from resources.microsoft.mail_parsing import FOLDER_KEY, parse_graph_message
from vocabulary.records import EmailRecord, QuarantinedRecord, RawMessage, is_syncable
from vocabulary.times import parse_iso_datetime

MESSAGE_ID = "AAMkAGI2TG93AAA="


def recipient(address: str, name: str | None = None) -> dict[str, Any]:
    return {"emailAddress": {"name": name or address, "address": address}}


def graph_message(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": MESSAGE_ID,
        "receivedDateTime": "2026-11-20T09:15:02Z",
        "sentDateTime": "2026-11-20T09:14:58Z",
        "internetMessageId": "<CAF=abc.123@mail.example.com>",
        "conversationId": "AAQkAGI2conv=",
        "subject": "Re: Angebot für München",
        "from": recipient("J.Mueller@Example.DE", "Jürgen Müller"),
        "sender": recipient("assistant@example.de", "Assistant"),
        "toRecipients": [recipient("Alice@Acme.example", "Alice"), recipient("bob@acme.example")],
        "ccRecipients": [recipient("carol@acme.example")],
        "bccRecipients": [],
        "parentFolderId": "AAMkAGI2inbox=",
        "categories": ["Customers", "Red category"],
        "isDraft": False,
        "internetMessageHeaders": None,  # composed in the mailbox: no internet headers
        FOLDER_KEY: "inbox",
    }
    payload.update(overrides)
    return payload


def parse(payload: Any, message_id: str = MESSAGE_ID) -> EmailRecord | QuarantinedRecord:
    return parse_graph_message(RawMessage(message_id, payload))


def test_full_message() -> None:
    record = parse(graph_message())
    assert isinstance(record, EmailRecord)
    assert record.provider_message_id == MESSAGE_ID
    assert record.received_at == datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)
    assert record.sent_at == datetime(2026, 11, 20, 9, 14, 58, tzinfo=UTC)
    assert record.internet_message_id == "<CAF=abc.123@mail.example.com>"
    assert record.thread_id == "AAQkAGI2conv="
    assert record.subject == "Re: Angebot für München"
    assert (record.from_name, record.from_address) == ("Jürgen Müller", "j.mueller@example.de")
    assert record.to_addresses == ["alice@acme.example", "bob@acme.example"]
    assert record.cc_addresses == ["carol@acme.example"]
    assert record.bcc_addresses == []
    assert record.labels == ["INBOX", "Customers", "Red category"]
    assert record.size_bytes is None
    assert record.header_defects == []


def test_select_covers_every_field_the_parser_reads() -> None:
    payload = graph_message()
    assert set(payload) - {FOLDER_KEY, "id"} == set(MESSAGE_FIELDS)


def test_same_message_id_as_the_gmail_parser() -> None:
    """One message seen through Gmail and through Graph must get one Internet-Message-ID."""
    for header_value, graph_value in [
        ("<CAF=abc.123@mail.example.com>", "<CAF=abc.123@mail.example.com>"),
        ("  <x@y>  ", "<x@y>"),
        ("bare-id@example.com", "bare-id@example.com"),
    ]:
        gmail = parse_gmail_message(
            RawMessage(
                "g1",
                {
                    "id": "g1",
                    "internalDate": "1763630102000",
                    "payload": {"headers": [{"name": "Message-ID", "value": header_value}]},
                },
            )
        )
        graph = parse(graph_message(internetMessageId=graph_value))
        assert isinstance(gmail, EmailRecord) and isinstance(graph, EmailRecord)
        assert graph.internet_message_id == gmail.internet_message_id
    bare = parse(graph_message(internetMessageId="bare-id@example.com"))
    assert isinstance(bare, EmailRecord)
    assert bare.internet_message_id == "<bare-id@example.com>"
    assert "message-id: id without angle brackets" in bare.header_defects


@pytest.mark.parametrize(
    ("folder", "is_draft", "labels", "syncable"),
    [
        ("inbox", False, ["INBOX"], True),
        ("sentitems", False, ["SENT"], True),
        ("archive", False, ["ARCHIVE"], True),
        ("drafts", True, ["DRAFT"], False),
        ("junkemail", False, ["SPAM"], False),
        ("deleteditems", False, ["TRASH"], False),
        (None, False, ["INBOX"], True),
        (None, True, ["INBOX", "DRAFT"], False),
        ("somethingelse", False, ["INBOX"], True),
    ],
)
def test_folders_become_gmail_style_labels(
    folder: str | None, is_draft: bool, labels: list[str], syncable: bool
) -> None:
    payload = graph_message(categories=[], isDraft=is_draft)
    del payload[FOLDER_KEY]
    if folder is not None:
        payload[FOLDER_KEY] = folder
    record = parse(payload)
    assert isinstance(record, EmailRecord)
    assert record.labels == labels
    assert is_syncable(record.labels) is syncable


def test_odd_addresses_are_dropped_and_named() -> None:
    payload = graph_message(
        toRecipients=[
            recipient("Alice@Acme.example"),
            recipient("ALICE@acme.example"),
            recipient("/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=BOB"),
            {"emailAddress": {"name": "No address"}},
            "garbage",
        ],
        ccRecipients="not a list",
    )
    record = parse(payload)
    assert isinstance(record, EmailRecord)
    assert record.to_addresses == ["alice@acme.example"]
    assert record.cc_addresses == []
    defects = " | ".join(record.header_defects)
    assert "to: dropped unparseable address" in defects
    assert "to: unreadable recipient" in defects
    assert "cc: not a list" in defects


def test_sender_stands_in_for_a_missing_from() -> None:
    payload = graph_message()
    del payload["from"]
    record = parse(payload)
    assert isinstance(record, EmailRecord)
    assert record.from_address == "assistant@example.de"
    nobody = graph_message(**{"from": None, "sender": None})
    record = parse(nobody)
    assert isinstance(record, EmailRecord) and record.from_address is None


def test_missing_or_bad_optional_fields_are_defects_not_failures() -> None:
    payload = graph_message(sentDateTime="yesterday", internetMessageId=None, subject=42)
    record = parse(payload)
    assert isinstance(record, EmailRecord)
    assert record.sent_at is None and record.subject is None
    assert record.internet_message_id is None
    assert "message-id: missing" in record.header_defects
    assert any(d.startswith("sentDateTime: unparseable") for d in record.header_defects)


def test_received_message_reads_its_internet_headers_as_gmail_does() -> None:
    """With internetMessageHeaders, the header fields and defects are Gmail's for the same
    headers, whatever Graph's own (decoded, merged, resolved) fields say."""
    headers = [
        {"name": "From", "value": "=?UTF-8?B?TWFsbG9yeQ0KWC1Y?= <Mallory@Outside.example>"},
        {"name": "To", "value": "undisclosed-recipients:;"},
        {"name": "To", "value": "johndoe, Bo <bo@acme.example>"},
        {"name": "Subject", "value": "=?UTF-8?B?aGkNCkJjYzogZXZpbEB4LmV4YW1wbGU=?="},
        {"name": "Date", "value": "Fri, 20 Nov 2026 09:14:58 +0000"},
        {"name": "Message-ID", "value": "<CAF=abc.123@mail.example.com>"},
        {"name": "In-Reply-To", "value": "<parent@example.com>"},
    ]
    graph = parse(graph_message(internetMessageHeaders=headers))
    gmail = parse_gmail_message(
        RawMessage(
            "g1",
            {"id": "g1", "internalDate": "1763630102000", "payload": {"headers": headers}},
        )
    )
    assert isinstance(graph, EmailRecord) and isinstance(gmail, EmailRecord)
    for name in HEADER_COLUMNS:
        assert getattr(graph, name) == getattr(gmail, name), name
    assert graph.subject == "hi Bcc: evil@x.example"
    assert graph.from_name == "Mallory X-X"
    assert graph.to_addresses == ["bo@acme.example"]
    assert graph.in_reply_to == "<parent@example.com>"
    assert "to: 2 headers, merged" in graph.header_defects
    assert "to: dropped unparseable address 'johndoe'" in graph.header_defects


def test_without_internet_headers_graph_fields_follow_the_same_rules() -> None:
    """An item composed in the mailbox has only Graph's fields: the same single-line and address
    rules apply, with the same defect texts."""
    record = parse(
        graph_message(
            subject="hi\r\nBcc: evil@x.example",
            toRecipients=[recipient("johndoe"), recipient("bo@acme.example", "Bo")],
            **{"from": recipient("Ann@Acme.example")},
        )
    )
    assert isinstance(record, EmailRecord)
    assert record.subject == "hi Bcc: evil@x.example"
    # Graph names a mailbox written without a display name by its address: no name, as in Gmail.
    assert (record.from_name, record.from_address) == (None, "ann@acme.example")
    assert record.to_addresses == ["bo@acme.example"]
    assert record.header_defects == [
        "subject: control characters replaced",
        "to: dropped unparseable address 'johndoe'",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:15:02Z", datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)),
        ("2026-11-20T09:15:02.1234567Z", datetime(2026, 11, 20, 9, 15, 2, 123456, tzinfo=UTC)),
        ("2026-11-20T10:15:02+01:00", datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)),
        ("2026-11-20T09:15:02.0000000", datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)),
        ("20 Nov 2026", None),
        ("", None),
        (None, None),
        (1763630102, None),
    ],
)
def test_graph_datetimes(text: Any, expected: datetime | None) -> None:
    assert parse_iso_datetime(text) == expected


def test_offsetless_time_in_another_zone_is_not_guessed() -> None:
    assert parse_iso_datetime("2026-11-20T09:15:02", "Pacific Standard Time") is None


@pytest.mark.parametrize(
    ("payload", "message_id", "reason"),
    [
        (["not", "an", "object"], MESSAGE_ID, "not_object"),
        (graph_message(id=None), MESSAGE_ID, "missing_id"),
        (graph_message(), "AAMkOTHER=", "id_mismatch"),
        (graph_message(receivedDateTime=None), MESSAGE_ID, "missing_received_time"),
        (graph_message(receivedDateTime="soon"), MESSAGE_ID, "invalid_received_time"),
    ],
)
def test_unusable_payloads_are_quarantined(payload: Any, message_id: str, reason: str) -> None:
    record = parse(payload, message_id)
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == reason
    assert record.excerpt


def test_connector_side_failure_is_quarantined_with_its_reason() -> None:
    raw = RawMessage(MESSAGE_ID, None, "invalid_json", '{"id": "AAMk\x00')
    record = parse_graph_message(raw)
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == "invalid_json"
    assert "\x00" not in (record.excerpt or "")
    assert parse_graph_message(RawMessage(MESSAGE_ID, None)).reason == "no_payload"


def test_garbage_everywhere_never_raises() -> None:
    garbage: list[Any] = [None, 0, "", [], {}, "x", {"emailAddress": 5}, [None]]
    keys = [*MESSAGE_FIELDS, FOLDER_KEY, "internetMessageHeaders"]
    for key in keys:
        for value in garbage:
            payload = graph_message(**{key: value})
            message_id = payload["id"] if isinstance(payload.get("id"), str) else "x"
            record = parse(payload, message_id or "x")
            assert isinstance(record, (EmailRecord, QuarantinedRecord))
