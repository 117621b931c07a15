"""Gmail payloads and odd RFC 5322 headers into EmailRecords (pure: no server, no Dagster).

Real-world-looking messages go through the same path as synced mail: raw RFC 5322 bytes are
turned into a Gmail `format=metadata` resource the way Gmail serves it (header values unfolded,
encoded words left encoded) and handed to `parse_gmail_message`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import pytest

from resources.google.mail_connector import METADATA_HEADERS
from resources.google.mail_parsing import parse_gmail_message
from sandbox.google.gmail_payload import PayloadCache, message_resource
from sandbox.workload.generate import generate_workload
from vocabulary.records import EmailRecord, QuarantinedRecord, RawMessage, is_syncable
from vocabulary.text import EXCERPT_LIMIT, normalize_address

INTERNAL_MS = 1_763_719_200_123  # 2025-11-21T10:00:00.123Z


def gmail_resource(
    raw: bytes,
    message_id: str = "18c3f1a2b4d5e6f7",
    labels: list[str] | None = None,
    internal_ms: int = INTERNAL_MS,
) -> dict[str, Any]:
    """What Gmail's messages.get(format=metadata) answers for `raw`."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(raw)
    wanted = {h.lower() for h in METADATA_HEADERS}
    headers = [
        {"name": name, "value": re.sub(r"\r?\n(?=[ \t])", "", str(value)).strip()}
        for name, value in parsed._headers  # compat32 keeps raw values, as Gmail serves them
        if name.lower() in wanted
    ]
    return {
        "id": message_id,
        "threadId": "18c3f1a2b4d5e6f0",
        "labelIds": labels if labels is not None else ["INBOX", "UNREAD"],
        "snippet": "",
        "payload": {"partId": "", "mimeType": "text/plain", "filename": "", "headers": headers},
        "sizeEstimate": len(raw),
        "historyId": "4242",
        "internalDate": str(internal_ms),
    }


def parse_raw(raw: bytes, **kwargs: Any) -> EmailRecord:
    resource = gmail_resource(raw, **kwargs)
    record = parse_gmail_message(RawMessage(resource["id"], resource))
    assert isinstance(record, EmailRecord)
    return record


def payload_with(headers: list[tuple[str, str]], **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "id": "abc123",
        "threadId": "t1",
        "labelIds": ["INBOX"],
        "sizeEstimate": 2048,
        "internalDate": str(INTERNAL_MS),
        "payload": {"headers": [{"name": n, "value": v} for n, v in headers]},
    }
    resource.update(fields)
    return resource


def parse_headers_only(headers: list[tuple[str, str]]) -> EmailRecord:
    record = parse_gmail_message(RawMessage("abc123", payload_with(headers)))
    assert isinstance(record, EmailRecord)
    return record


# ---- whole messages --------------------------------------------------------------------------

THUNDERBIRD_REPLY = (
    b"Return-Path: <j.mueller@example.de>\r\n"
    b"Received: from mail.example.de (mail.example.de [192.0.2.10])\r\n"
    b"\tby mx.google.com with ESMTPS id x7si123;\r\n"
    b"\tFri, 21 Nov 2025 11:00:01 +0100 (CET)\r\n"
    b"Message-ID: <5f1e2d3c-aaaa-bbbb-cccc-0123456789ab@example.de>\r\n"
    b"Date: Fri, 21 Nov 2025 11:00:00 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b"User-Agent: Mozilla Thunderbird\r\n"
    b"Subject: =?UTF-8?Q?Re=3A_Angebot_f=C3=BCr_die_M=C3=BCnchner_Niederlassung?=\r\n"
    b"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <J.Mueller@Example.DE>\r\n"
    b"To: Alice Smith <Alice.Smith@Acme.example>,\r\n"
    b' "Ng, Wei-Ling" <weiling.ng@acme.example>,\r\n'
    b"\tbob@acme.example\r\n"
    b"Cc: =?ISO-8859-1?Q?Fran=E7ois_Lef=E8vre?= <francois@example.fr>\r\n"
    b"In-Reply-To: <CAxyz123@mail.gmail.com>\r\n"
    b"References: <CAabc000@mail.gmail.com>\r\n"
    b" <CAxyz123@mail.gmail.com>\r\n"
    b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hallo Alice,\r\n"
)


def test_thunderbird_reply_decodes_words_unfolds_and_lowercases() -> None:
    record = parse_raw(THUNDERBIRD_REPLY)
    assert record.subject == "Re: Angebot für die Münchner Niederlassung"
    assert record.from_address == "j.mueller@example.de"
    assert record.from_name == "Jürgen Müller"
    assert record.to_addresses == [
        "alice.smith@acme.example",
        "weiling.ng@acme.example",
        "bob@acme.example",
    ]
    assert record.cc_addresses == ["francois@example.fr"]
    assert record.bcc_addresses == []
    assert record.internet_message_id == "<5f1e2d3c-aaaa-bbbb-cccc-0123456789ab@example.de>"
    assert record.in_reply_to == "<CAxyz123@mail.gmail.com>"
    assert record.sent_at == datetime(2025, 11, 21, 10, 0, tzinfo=UTC)
    assert record.received_at == datetime(2025, 11, 21, 10, 0, 0, 123000, tzinfo=UTC)
    assert record.thread_id == "18c3f1a2b4d5e6f0"
    assert record.labels == ["INBOX", "UNREAD"]
    assert record.size_bytes == len(THUNDERBIRD_REPLY)
    assert record.header_defects == []


OUTLOOK_FORWARD = (
    b"Received: from EUR01-VE1-obe.outbound.protection.outlook.com\r\n"
    b'From: "Lefevre, Francois" <Francois.Lefevre@Contoso.onmicrosoft.example>\r\n'
    b"To: Alice Smith <alice@acme.example>; bob@acme.example;\r\n"
    b' "Ng, Wei-Ling" <WEILING.NG@ACME.EXAMPLE>\r\n'
    b"Subject: =?iso-8859-1?Q?TR=A0:_Proc=E8s-verbal_de_la_r=E9union?=\r\n"
    b"Thread-Topic: =?iso-8859-1?Q?Proc=E8s-verbal_de_la_r=E9union?=\r\n"
    b"Date: Fri, 21 Nov 2025 09:58:12 +0000\r\n"
    b"Message-ID:\r\n"
    b" <AM0PR01MB1234ABCD5678EF90A1B2C3D4E5F6A7B8@AM0PR01MB1234.eurprd01.prod.example>\r\n"
    b"Accept-Language: fr-FR, en-US\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"\r\n"
    b"Bonjour\r\n"
)


def test_outlook_forward_with_semicolon_separated_recipients() -> None:
    record = parse_raw(OUTLOOK_FORWARD)
    assert record.subject == "TR\xa0: Procès-verbal de la réunion"
    assert record.from_name == "Lefevre, Francois"
    assert record.from_address == "francois.lefevre@contoso.onmicrosoft.example"
    assert record.to_addresses == [
        "alice@acme.example",
        "bob@acme.example",
        "weiling.ng@acme.example",
    ]
    assert record.internet_message_id == (
        "<AM0PR01MB1234ABCD5678EF90A1B2C3D4E5F6A7B8@AM0PR01MB1234.eurprd01.prod.example>"
    )
    assert record.sent_at == datetime(2025, 11, 21, 9, 58, 12, tzinfo=UTC)
    assert record.header_defects == ["to: ';' used as address separator"]


MAILING_LIST_DIGEST = (
    b"From: announce-bounces@lists.example.org\r\n"
    b'Sender: "announce" <announce-bounces@lists.example.org>\r\n'
    b"To: undisclosed-recipients:;\r\n"
    b"Bcc: alice@acme.example\r\n"
    b"Cc: Team: Carol <carol@acme.example>, dave@acme.example;, erin@partner.example\r\n"
    b"Cc: frank@partner.example, carol@acme.example\r\n"
    b"Subject: [Announce] =?utf-8?B?8J+OiSBSZWxlYXNl?=\r\n"
    b" =?utf-8?B?IDIuMCDigJQgd2hhdOKAmXMgbmV3?=\r\n"
    b"Date: 21 Nov 2025 10:00 GMT\r\n"
    b"Date: Thu, 20 Nov 2025 10:00:00 +0000\r\n"
    b"\r\n"
)


def test_mailing_list_groups_duplicate_headers_and_missing_message_id() -> None:
    record = parse_raw(MAILING_LIST_DIGEST)
    assert record.subject == "[Announce] 🎉 Release 2.0 — what’s new"
    assert record.from_address == "announce-bounces@lists.example.org"
    assert record.from_name is None
    assert record.to_addresses == []
    assert record.bcc_addresses == ["alice@acme.example"]
    assert record.cc_addresses == [
        "carol@acme.example",
        "dave@acme.example",
        "erin@partner.example",
        "frank@partner.example",
    ]
    assert record.sent_at == datetime(2025, 11, 21, 10, 0, tzinfo=UTC)
    assert record.internet_message_id is None
    assert "message-id: missing" in record.header_defects
    assert "date: 2 headers, first used" in record.header_defects
    assert "cc: 2 headers, merged" in record.header_defects


SPAMMY_GARBAGE = (
    b"From: <<>>@@\r\n"
    b'To: foo, "Bob" <bob@acme.example>, @nowhere, someone@\r\n'
    b"Subject: =?UTF-8?B?////?= =?x-unknown-charset?Q?caf=E9?=\r\n"
    b"Date: not a date\r\n"
    b"\r\n"
)


def test_garbage_headers_are_dropped_or_kept_raw_with_defects() -> None:
    record = parse_raw(SPAMMY_GARBAGE)
    assert record.from_address is None
    assert record.to_addresses == ["bob@acme.example"]
    assert record.subject == "=?UTF-8?B?////?= =?x-unknown-charset?Q?caf=E9?="
    assert record.sent_at is None
    defects = record.header_defects
    assert any(d.startswith("from: dropped unparseable address") for d in defects)
    assert "to: dropped unparseable address 'foo'" in defects
    assert any(d.startswith("subject: unknown charset") and "kept raw" in d for d in defects)
    assert "date: unparseable 'not a date'" in defects
    assert "message-id: missing" in defects


def test_every_generated_sandbox_message_parses_to_its_truth() -> None:
    """3,000+ generated messages (encoded words, folding, mixed case, aliases, replies)."""
    workload = generate_workload(seed=11, tenants=2, mailboxes_per_tenant=2, days=3)
    cache = PayloadCache()
    messages = workload.all_messages()
    assert len(messages) > 200
    for msg in messages:
        resource = message_resource(msg, 1, "metadata", cache, list(METADATA_HEADERS))
        record = parse_gmail_message(RawMessage(msg.id, resource))
        assert isinstance(record, EmailRecord), msg.kind
        assert (
            record.subject,
            record.from_address,
            record.to_addresses,
            record.cc_addresses,
            record.internet_message_id,
            record.labels,
            int(record.received_at.timestamp() * 1000),
        ) == (
            msg.subject,
            msg.from_address,
            msg.to_addresses,
            msg.cc_addresses,
            msg.internet_message_id,
            msg.label_ids,
            msg.internal_date_ms,
        ), msg.kind
        assert record.header_defects == [], msg.kind


def test_header_injection_attempt_is_flattened_not_obeyed() -> None:
    record = parse_headers_only([("Subject", "hi\r\nBcc: evil@x.example"), ("From", "a@b.example")])
    assert record.bcc_addresses == []
    assert record.subject == "hi Bcc: evil@x.example"
    assert "subject: bare line break in value" in record.header_defects


def test_header_names_are_case_insensitive() -> None:
    record = parse_headers_only(
        [("FROM", "A <A@B.example>"), ("message-id", "<m@b>"), ("sUbJeCt", "x")]
    )
    assert (record.from_address, record.from_name) == ("a@b.example", "A")
    assert record.internet_message_id == "<m@b>"
    assert record.subject == "x"


def test_unreadable_header_entries_are_skipped() -> None:
    resource = payload_with([("From", "a@b.example")])
    resource["payload"]["headers"] += [{"name": "To"}, "To: x@y.example", {"name": 1, "value": "v"}]
    record = parse_gmail_message(RawMessage("abc123", resource))
    assert isinstance(record, EmailRecord)
    assert record.from_address == "a@b.example"
    assert record.to_addresses == []
    assert len([d for d in record.header_defects if d.startswith("headers: unreadable")]) == 3


def test_odd_envelope_fields_become_defects_not_failures() -> None:
    resource = payload_with([("From", "a@b.example")], labelIds="INBOX", sizeEstimate="big")
    record = parse_gmail_message(RawMessage("abc123", resource))
    assert isinstance(record, EmailRecord)
    assert record.labels == []
    assert record.size_bytes is None
    assert "labelIds: not a list" in record.header_defects


def test_message_without_headers_is_still_a_record() -> None:
    record = parse_gmail_message(RawMessage("abc123", payload_with([])))
    assert isinstance(record, EmailRecord)
    assert record.from_address is None and record.subject is None
    assert record.header_defects == ["message-id: missing"]


# ---- quarantine ---------------------------------------------------------------------------------


def test_no_payload_is_quarantined_with_the_connectors_reason_and_a_short_excerpt() -> None:
    long_text = '{"id": "abc123", "snippet": "' + "x" * 2000
    record = parse_gmail_message(RawMessage("abc123", None, "invalid_json", long_text))
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == "invalid_json"
    assert record.excerpt is not None and len(record.excerpt) == EXCERPT_LIMIT
    assert record.received_at is None


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        (["abc123", "thread"], "not_object"),
        ({"threadId": "t", "internalDate": "1"}, "missing_id"),
        (payload_with([], id="other"), "id_mismatch"),
        (payload_with([], internalDate=None), "missing_internal_date"),
        (payload_with([], internalDate="yesterday"), "invalid_internal_date"),
        (payload_with([], internalDate=True), "invalid_internal_date"),
        (payload_with([], internalDate="9" * 30), "invalid_internal_date"),
        (payload_with([], payload=None), "missing_payload"),
        (payload_with([], payload={"headers": "From: a@b"}), "bad_headers"),
    ],
)
def test_unusable_resources_are_quarantined(resource: Any, reason: str) -> None:
    record = parse_gmail_message(RawMessage("abc123", resource))
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == reason
    assert record.provider_message_id == "abc123"
    assert record.excerpt is not None and len(record.excerpt) <= EXCERPT_LIMIT
    assert json.dumps(resource, default=str)[:20] == record.excerpt[:20]


def test_quarantine_without_payload_keeps_received_time() -> None:
    resource = payload_with([])
    del resource["payload"]
    record = parse_gmail_message(RawMessage("abc123", resource))
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == "missing_payload"
    assert record.received_at == datetime(2025, 11, 21, 10, 0, 0, 123000, tzinfo=UTC)


def test_excerpt_has_no_control_characters() -> None:
    record = parse_gmail_message(RawMessage("abc123", None, "invalid_json", "a\x00b\x1bc\nd"))
    assert isinstance(record, QuarantinedRecord)
    assert record.excerpt == "a?b?c\nd"


@pytest.mark.parametrize(
    ("labels", "syncable"),
    [
        (["INBOX", "UNREAD"], True),
        (["SENT"], True),
        ([], True),
        (["DRAFT"], False),
        (["SPAM", "INBOX"], False),
        (["TRASH", "SENT"], False),
    ],
)
def test_is_syncable(labels: list[str], syncable: bool) -> None:
    assert is_syncable(labels) is syncable


def test_random_header_garbage_never_raises() -> None:
    """Deterministic fuzz: whatever the header text, parsing yields a record with sane fields."""
    rng = random.Random(5322)
    alphabet = [
        '"',
        "<",
        ">",
        "@",
        ",",
        ";",
        ":",
        "(",
        ")",
        "\\",
        "=?",
        "?=",
        "?B?",
        "?Q?",
        " ",
        "\t",
        "\r\n",
        "a",
        "Z",
        "é",
        "💥",
        ".",
        "[",
        "]",
        "utf-8",
        "x",
        "=FF",
        "_",
    ]
    for _ in range(1500):
        headers = [
            (name, "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))))
            for name in ("From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To")
        ]
        record = parse_headers_only(headers)
        for address in [record.from_address, *record.to_addresses, *record.cc_addresses]:
            if address is not None:
                assert normalize_address(address) == address
        assert record.sent_at is None or record.sent_at.tzinfo is not None
