"""Pure merge rules for one real message / meeting seen in several mailboxes."""

from datetime import UTC, date, datetime, timedelta

from assets.dedupe import (
    SENT_AT_TOLERANCE,
    email_key,
    group_by,
    group_email_copies,
    meeting_key,
    merge_email_copies,
    merge_emails,
    merge_meeting_copies,
)

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _copy(conn: str, mid: str, imid: str | None, received: datetime, **extra) -> dict:
    row = {
        "connection_id": conn,
        "provider_message_id": mid,
        "internet_message_id": imid,
        "received_at": received,
        "partition_day": received.date(),
        "thread_id": f"t-{conn}",
        "subject": "Renewal",
        "from_address": "ana@acme.com",
        "from_name": "Ana",
        "to_addresses": ["bo@customer.com"],
        "cc_addresses": [],
        "bcc_addresses": [],
        "sent_at": received,
    }
    row.update(extra)
    return row


def test_same_message_id_in_two_mailboxes_is_one_email_with_both_mailboxes():
    late = datetime(2026, 11, 21, 0, 0, 5, tzinfo=UTC)
    early = datetime(2026, 11, 20, 23, 59, 58, tzinfo=UTC)
    copies = [
        _copy("conn-b", "m2", "<x@acme.com>", late),
        _copy("conn-a", "m1", "<x@acme.com>", early, bcc_addresses=["boss@acme.com"]),
        _copy("conn-a", "m3", None, late),
    ]
    groups = group_by(copies, email_key)
    assert set(groups) == {"<x@acme.com>", "conn-a/m3"}
    owners = {"conn-a": "ana@acme.com", "conn-b": "bo@acme.com"}
    merged = merge_email_copies("acme", "<x@acme.com>", groups["<x@acme.com>"], owners, NOW)
    assert merged["copies"] == 2
    assert merged["seen_in_connections"] == ["conn-a", "conn-b"]
    assert merged["seen_in_mailboxes"] == ["ana@acme.com", "bo@acme.com"]
    # the copies straddle midnight: the row lands on the first copy's day, whichever comes first
    assert merged["partition_day"] == date(2026, 11, 20)
    assert merged["received_at"] == early
    assert merged["bcc_addresses"] == ["boss@acme.com"]
    assert merged == merge_email_copies(
        "acme", "<x@acme.com>", list(reversed(groups["<x@acme.com>"])), owners, NOW
    )


def test_copies_that_legitimately_differ_stay_one_message():
    """Sender and recipients see one message with other received times, folders, threads and
    Bcc; a gateway tags one copy's subject; one provider has no Date to show."""
    sent = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    copies = [
        _copy("conn-a", "m1", "<x@acme.com>", sent, bcc_addresses=["boss@acme.com"]),
        _copy(
            "conn-b",
            "m2",
            "<x@acme.com>",
            sent + timedelta(hours=2),
            subject="[EXTERNAL]  renewal",
            sent_at=sent + SENT_AT_TOLERANCE,
            from_name="Ana Lopez",
        ),
        _copy("conn-c", "m3", "<x@acme.com>", sent + timedelta(hours=3), sent_at=None),
    ]
    rows = merge_emails("acme", copies, {}, NOW)
    assert [(r["email_key"], r["copies"], r["message_id_conflict"]) for r in rows] == [
        ("<x@acme.com>", 3, False)
    ]
    assert rows[0]["bcc_addresses"] == ["boss@acme.com"]


def test_one_message_id_on_two_messages_gives_two_flagged_rows_with_stable_keys():
    """A reused or forged Message-ID with another sender, subject or date does not hide the
    other message: each keeps its own fields, both are flagged, and the group holding the
    earliest copy keeps the plain key whatever order the copies come in."""
    t = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    real = [
        _copy("conn-a", "m1", "<x@acme.com>", t),
        _copy("conn-b", "m2", "<x@acme.com>", t + timedelta(minutes=1)),
    ]
    forged = _copy(
        "conn-b", "m3", "<x@acme.com>", t + timedelta(minutes=30), from_address="eve@evil.example"
    )
    other_subject = _copy("conn-c", "m4", "<x@acme.com>", t + timedelta(hours=1), subject="Invoice")
    late_date = _copy(
        "conn-c",
        "m5",
        "<x@acme.com>",
        t + timedelta(hours=2),
        sent_at=t + SENT_AT_TOLERANCE + timedelta(seconds=1),
    )
    copies = [*real, forged, other_subject, late_date]
    rows = {r["email_key"]: r for r in merge_emails("acme", copies, {}, NOW)}
    assert len(rows) == 4
    plain = rows.pop("<x@acme.com>")
    assert (plain["copies"], plain["from_address"], plain["message_id_conflict"]) == (
        2,
        "ana@acme.com",
        True,
    )
    assert all(k.startswith("<x@acme.com>#") and r["message_id_conflict"] for k, r in rows.items())
    assert sorted((r["from_address"], r["subject"], r["sent_at"]) for r in rows.values()) == sorted(
        [
            ("ana@acme.com", "Invoice", other_subject["sent_at"]),
            ("ana@acme.com", "Renewal", late_date["sent_at"]),
            ("eve@evil.example", "Renewal", forged["sent_at"]),
        ]
    )
    # Re-runs (any order, or a day rebuilt with only some neighbours) find the same keys.
    assert set(group_email_copies(reversed(copies))) == set(group_email_copies(copies))
    assert set(group_email_copies([*real, forged])) == {
        "<x@acme.com>",
        *(k for k, r in rows.items() if r["from_address"] == "eve@evil.example"),
    }
    # Copies without a Message-ID never meet: each is its own row, unflagged.
    lone = merge_emails("acme", [_copy("conn-a", "m9", None, t)], {}, NOW)
    assert [(r["email_key"], r["message_id_conflict"]) for r in lone] == [("conn-a/m9", False)]


def _occurrence(conn: str, eid: str, uid: str | None, start: datetime, **extra) -> dict:
    row = {
        "connection_id": conn,
        "provider_event_id": eid,
        "ical_uid": uid,
        "start_at": start,
        "end_at": start,
        "partition_day": start.date(),
        "all_day": False,
        "subject": "QBR",
        "status": "confirmed",
        "organizer_email": "ana@acme.com",
        "organized_by_owner": False,
        "attendees": [{"email": "bo@customer.com", "response": "none"}],
        "updated_at": datetime(2026, 11, 1, tzinfo=UTC),
    }
    row.update(extra)
    return row


def test_meeting_copies_merge_on_uid_and_start_with_the_organiser_as_authority():
    start = datetime(2026, 11, 20, 15, tzinfo=UTC)
    later = datetime(2026, 11, 27, 15, tzinfo=UTC)
    organiser = _occurrence(
        "conn-a",
        "e1",
        "uid-1",
        start,
        organized_by_owner=True,
        attendees=[{"email": "bo@customer.com", "response": "accepted"}],
    )
    guest = _occurrence(
        "conn-b", "AAMk-e1", "uid-1", start, updated_at=datetime(2026, 11, 10, tzinfo=UTC)
    )
    next_week = _occurrence("conn-a", "e1_2", "uid-1", later)
    groups = group_by([guest, organiser, next_week], meeting_key)
    assert len(groups) == 2  # each occurrence of the series is its own meeting
    key = meeting_key(organiser)
    merged = merge_meeting_copies("acme", key, groups[key], {"conn-a": "ana@acme.com"}, NOW)
    assert merged["copies"] == 2
    assert merged["seen_in_calendars"] == ["ana@acme.com", "conn-b"]
    assert merged["attendees"] == [{"email": "bo@customer.com", "response": "accepted"}]


def test_cancellation_by_the_organiser_cancels_the_meeting():
    start = datetime(2026, 11, 20, 15, tzinfo=UTC)
    copies = [
        _occurrence("conn-a", "e1", "uid-1", start, organized_by_owner=True, status="cancelled"),
        _occurrence("conn-b", "e2", "uid-1", start, updated_at=datetime(2026, 11, 30, tzinfo=UTC)),
    ]
    merged = merge_meeting_copies("acme", "k", copies, {}, NOW)
    assert merged["status"] == "cancelled"
