"""parse_google_event / parse_graph_event and window filing: provider payloads -> MeetingRecord
(pure). Payloads are shaped like the providers' documented answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from resources.google.event_parsing import google_event_start, parse_google_event
from resources.microsoft.calendar_connector import EVENT_FIELDS
from resources.microsoft.event_parsing import graph_event_start, parse_graph_event
from vocabulary.events import events_in_window, normalize_ical_uid
from vocabulary.records import (
    RESPONSES,
    Attendee,
    DeletedEvent,
    MeetingRecord,
    QuarantinedRecord,
    RawEvent,
)
from vocabulary.windows import SyncWindow

OWNER = ("owner@tenant.example", "o.alias@tenant.example")
GOID_CLASS = bytes.fromhex("040000008200E00074C5B7101A82E008")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def goid(data: bytes, instance: date | None = None, creation: bytes = b"\x00" * 8) -> str:
    """An Outlook global object id (MS-OXOCAL 2.2.1.27) as Graph shows it: upper-case hex."""
    stamp = (
        b"\x00" * 4
        if instance is None
        else instance.year.to_bytes(2, "big") + bytes([instance.month, instance.day])
    )
    raw = GOID_CLASS + stamp + creation + b"\x00" * 8 + len(data).to_bytes(4, "little") + data
    return raw.hex().upper()


def vcal(uid: str, instance: date | None = None) -> str:
    return goid(b"vCal-Uid\x01\x00\x00\x00" + uid.encode() + b"\x00", instance)


def google(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "calendar#event",
        "id": "evt1",
        "status": "confirmed",
        "summary": "Quarterly business review",
        "location": "Room 4",
        "start": {"dateTime": "2026-11-20T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-20T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        "iCalUID": "evt1@google.com",
        "updated": "2026-11-18T12:00:00.000Z",
        "organizer": {"email": "Owner@Tenant.example", "displayName": "Owner", "self": True},
        "attendees": [
            {"email": "owner@tenant.example", "organizer": True, "self": True,
             "responseStatus": "accepted"},
            {"email": "Ann@Customer.example", "displayName": "Ann", "responseStatus": "accepted"},
            {"email": "bo@customer.example", "responseStatus": "needsAction", "optional": True},
            {"email": "cy@customer.example", "responseStatus": "tentative"},
            {"email": "di@customer.example", "responseStatus": "declined"},
            {"email": "room-4@resource.calendar.google.com", "resource": True,
             "responseStatus": "accepted"},
        ],
    }  # fmt: skip
    payload.update(fields)
    return payload


def graph(**fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "AAMkE1",
        "iCalUId": vcal("evt1@google.com"),  # v1.0 has no `uid` (beta only)
        "subject": "Quarterly business review",
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": True,
        "start": {"dateTime": "2026-11-20T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-20T10:00:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "originalEndTimeZone": "W. Europe Standard Time",
        "organizer": {"emailAddress": {"name": "Owner", "address": "Owner@Tenant.example"}},
        "attendees": [
            {"type": "required", "status": {"response": "accepted", "time": "2026-11-18T12:00:00Z"},
             "emailAddress": {"name": "Ann", "address": "Ann@Customer.example"}},
            {"type": "optional", "status": {"response": "notResponded"},
             "emailAddress": {"name": "bo@customer.example", "address": "bo@customer.example"}},
            {"type": "required", "status": {"response": "tentativelyAccepted"},
             "emailAddress": {"name": "cy@customer.example", "address": "cy@customer.example"}},
            {"type": "required", "status": {"response": "declined"},
             "emailAddress": {"name": "di@customer.example", "address": "di@customer.example"}},
            {"type": "resource", "status": {"response": "accepted"},
             "emailAddress": {"name": "Room 4", "address": "room4@tenant.example"}},
        ],
        "seriesMasterId": None,
        "type": "singleInstance",
        "originalStart": None,
        "location": {"displayName": "Room 4"},
        "lastModifiedDateTime": "2026-11-18T12:00:00.1234567Z",
    }  # fmt: skip
    payload.update(fields)
    return payload


def parse_g(
    payload: Any, event_id: str = "evt1"
) -> MeetingRecord | QuarantinedRecord | DeletedEvent:
    return parse_google_event(RawEvent(event_id, payload), OWNER)


def parse_m(payload: Any, event_id: str = "AAMkE1") -> MeetingRecord | QuarantinedRecord:
    return parse_graph_event(RawEvent(event_id, payload), OWNER)


CUSTOMER_ATTENDEES = [
    Attendee("ann@customer.example", "Ann", "accepted", False),
    Attendee("bo@customer.example", None, "none", True),
    Attendee("cy@customer.example", None, "tentative", False),
    Attendee("di@customer.example", None, "declined", False),
]


# ---- the same meeting from both providers -----------------------------------------------------


def test_google_timed_event() -> None:
    record = parse_g(google())
    assert isinstance(record, MeetingRecord)
    assert (record.start_at, record.end_at) == (utc(2026, 11, 20, 9), utc(2026, 11, 20, 10))
    assert record.all_day is False
    assert record.start_time_zone == "Europe/Berlin"
    assert record.status == "confirmed"
    assert record.subject == "Quarterly business review" and record.location == "Room 4"
    assert (record.organizer_email, record.organizer_name) == ("owner@tenant.example", "Owner")
    assert record.organized_by_owner is True
    assert record.attendees == CUSTOMER_ATTENDEES  # the organiser and the room left out
    assert all(a.response in RESPONSES for a in record.attendees)
    assert record.ical_uid == "evt1@google.com"
    assert record.series_id is None and record.original_start_at is None
    assert record.updated_at == utc(2026, 11, 18, 12)


def test_graph_timed_event() -> None:
    record = parse_m(graph())
    assert isinstance(record, MeetingRecord)
    assert (record.start_at, record.end_at) == (utc(2026, 11, 20, 9), utc(2026, 11, 20, 10))
    assert record.start_time_zone == "Europe/Berlin"  # Outlook's Windows id, as IANA
    assert record.organized_by_owner is True
    assert record.attendees == CUSTOMER_ATTENDEES
    assert record.location == "Room 4"
    assert record.updated_at == utc(2026, 11, 18, 12, 0, 0, 123456)


def test_one_meeting_on_both_providers_has_one_identity() -> None:
    """iCalUID + start identify the real occurrence across calendars and providers."""
    on_google, on_graph = parse_g(google()), parse_m(graph())
    assert isinstance(on_google, MeetingRecord) and isinstance(on_graph, MeetingRecord)
    assert (on_google.ical_uid, on_google.start_at) == (on_graph.ical_uid, on_graph.start_at)


def test_select_covers_every_field_the_graph_parser_reads() -> None:
    assert set(graph()) - {"id"} == set(EVENT_FIELDS)


# ---- ical uids ----------------------------------------------------------------------------------


def test_outlook_uids_lose_their_occurrence_date() -> None:
    outlook = goid(bytes(range(16)), creation=b"\x01" * 8)
    one_day = goid(bytes(range(16)), date(2026, 11, 20), creation=b"\x01" * 8)
    other_day = goid(bytes(range(16)), date(2026, 11, 27), creation=b"\x01" * 8)
    assert normalize_ical_uid(one_day) == normalize_ical_uid(other_day) == outlook
    assert normalize_ical_uid(outlook.lower()) == outlook
    assert normalize_ical_uid(vcal("x@google.com", date(2026, 1, 2))) == "x@google.com"
    assert normalize_ical_uid("plain-uid@example") == "plain-uid@example"
    assert normalize_ical_uid("040000008200E00074C5B7101A82E008ZZ") == (
        "040000008200E00074C5B7101A82E008ZZ"
    )
    assert normalize_ical_uid("") is None and normalize_ical_uid(None) is None


def test_graph_select_has_no_beta_property() -> None:
    assert "uid" not in EVENT_FIELDS and "iCalUId" in EVENT_FIELDS


def _graph_occurrence(ical_uid: str, original: datetime, start: datetime, kind: str) -> Any:
    """One calendarView item of a series as v1.0 shows it: `iCalUId` stamped with the
    occurrence's original date, no `uid`."""
    return graph(
        id=f"AAMkOcc{original:%m%d}=",
        type=kind,
        seriesMasterId="AAMkMaster=",
        iCalUId=ical_uid,
        originalStart=f"{original:%Y-%m-%dT%H:%M:%S}Z",
        start={"dateTime": f"{start:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": "UTC"},
        end={
            "dateTime": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%S}.0000000",
            "timeZone": "UTC",
        },
    )


def _google_instance(ical_uid: str, original: datetime, start: datetime) -> Any:
    """The same occurrence on a Google calendar: one iCalUID for the whole series."""
    return google(
        id=f"base_{original:%Y%m%dT%H%M%SZ}",
        recurringEventId="base",
        iCalUID=ical_uid,
        originalStartTime={"dateTime": original.isoformat(), "timeZone": "UTC"},
        start={"dateTime": start.isoformat(), "timeZone": "UTC"},
        end={"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
    )


OUTLOOK_DATA = bytes(range(16))
OUTLOOK_CREATED = b"\x03" * 8


@pytest.mark.parametrize(
    ("google_uid", "graph_uid"),
    [
        # organised in Outlook: Google shows the clean global object id as the iCalUID
        (
            goid(OUTLOOK_DATA, creation=OUTLOOK_CREATED),
            lambda day: goid(OUTLOOK_DATA, day, creation=OUTLOOK_CREATED),
        ),
        # organised in Google: Outlook wraps Google's UID as vCal-Uid data
        ("base@google.com", lambda day: vcal("base@google.com", day)),
    ],
    ids=["outlook_organised", "google_organised"],
)
def test_series_occurrences_match_across_providers_by_ical_uid_alone(
    google_uid: str, graph_uid: Any
) -> None:
    """Every occurrence and exception (moved to another day) of a series has one ical_uid on
    both providers, though v1.0's iCalUId differs per occurrence."""
    occurrences = [
        (utc(2026, 11, 2, 14), utc(2026, 11, 2, 14), "occurrence"),
        (utc(2026, 11, 9, 14), utc(2026, 11, 10, 16), "exception"),  # moved a day later
        (utc(2026, 11, 16, 14), utc(2026, 11, 16, 14), "occurrence"),
    ]
    graph_ids = {graph_uid(original.date()) for original, _, _ in occurrences}
    assert len(graph_ids) == len(occurrences)  # the raw iCalUIds all differ
    expected = normalize_ical_uid(google_uid)
    for original, start, kind in occurrences:
        graph_item = _graph_occurrence(graph_uid(original.date()), original, start, kind)
        google_item = _google_instance(google_uid, original, start)
        on_graph = parse_m(graph_item, graph_item["id"])
        on_google = parse_g(google_item, google_item["id"])
        assert isinstance(on_graph, MeetingRecord) and isinstance(on_google, MeetingRecord)
        assert on_graph.ical_uid == on_google.ical_uid == expected
        assert on_graph.start_at == on_google.start_at == start
        assert on_graph.original_start_at == on_google.original_start_at == original


# ---- time zones and daylight saving -------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "offset", "expected"),
    [
        ("2026-10-26T09:00:00", "-04:00", utc(2026, 10, 26, 13)),  # EDT
        ("2026-11-02T09:00:00", "-05:00", utc(2026, 11, 2, 14)),  # EST, after Nov 1
    ],
)
def test_google_weekly_series_across_dst(local: str, offset: str, expected: datetime) -> None:
    instance = f"base_{expected:%Y%m%dT%H%M%SZ}"
    payload = google(
        id=instance,
        start={"dateTime": local + offset, "timeZone": "America/New_York"},
        end={"dateTime": local[:11] + "09:30:00" + offset, "timeZone": "America/New_York"},
        recurringEventId="base",
        originalStartTime={"dateTime": local + offset, "timeZone": "America/New_York"},
        iCalUID="base@google.com",
    )
    record = parse_g(payload, instance)
    assert isinstance(record, MeetingRecord)
    assert record.start_at == expected
    assert record.end_at == expected + timedelta(minutes=30)
    assert record.series_id == "base"
    assert record.original_start_at == expected
    assert record.ical_uid == "base@google.com"
    assert record.start_time_zone == "America/New_York"


def test_google_offsetless_time_is_read_in_its_zone() -> None:
    payload = google(
        start={"dateTime": "2026-03-29T03:30:00", "timeZone": "Europe/Berlin"},  # after DST
        end={"dateTime": "2026-03-29T04:30:00", "timeZone": "Europe/Berlin"},
    )
    record = parse_g(payload)
    assert isinstance(record, MeetingRecord)
    assert record.start_at == utc(2026, 3, 29, 1, 30)


def test_graph_series_occurrences_across_dst() -> None:
    master = "AAMkMaster="
    uid = goid(bytes(range(16)), creation=b"\x02" * 8)
    for day, hour in ((date(2026, 10, 26), 13), (date(2026, 11, 2), 14)):
        start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        payload = graph(
            id=f"AAMkOcc{day:%d}=",
            type="occurrence",
            seriesMasterId=master,
            iCalUId=goid(bytes(range(16)), day, creation=b"\x02" * 8),
            originalStart=f"{start:%Y-%m-%dT%H:%M:%S}Z",
            originalStartTimeZone="Eastern Standard Time",
            start={"dateTime": f"{start:%Y-%m-%dT%H:%M:%S}.0000000", "timeZone": "UTC"},
            end={
                "dateTime": f"{start + timedelta(minutes=30):%Y-%m-%dT%H:%M:%S}.0000000",
                "timeZone": "UTC",
            },
        )
        record = parse_m(payload, payload["id"])
        assert isinstance(record, MeetingRecord)
        assert record.start_at == start
        assert record.series_id == master
        assert record.original_start_at == start
        assert record.ical_uid == uid


def test_graph_time_in_a_named_zone_when_utc_was_not_honoured() -> None:
    payload = graph(
        start={"dateTime": "2026-10-25T01:30:00.0000000", "timeZone": "Europe/London"},  # BST
        end={"dateTime": "2026-10-25T01:30:00.0000000", "timeZone": "America/New_York"},
    )
    record = parse_m(payload)
    assert isinstance(record, MeetingRecord)
    assert record.start_at == utc(2026, 10, 25, 0, 30)
    assert record.end_at == utc(2026, 10, 25, 5, 30)


# ---- all-day events ------------------------------------------------------------------------------


def test_google_all_day_single_and_multi_day() -> None:
    single = parse_g(google(start={"date": "2026-11-20"}, end={"date": "2026-11-21"}))
    multi = parse_g(google(start={"date": "2026-11-20"}, end={"date": "2026-11-23"}))
    assert isinstance(single, MeetingRecord) and isinstance(multi, MeetingRecord)
    assert single.all_day and multi.all_day
    assert (single.start_at, single.end_at) == (utc(2026, 11, 20), utc(2026, 11, 21))
    assert (multi.start_at, multi.end_at) == (utc(2026, 11, 20), utc(2026, 11, 23))
    assert single.start_time_zone is None


def test_graph_all_day_at_utc_midnights() -> None:
    payload = graph(
        isAllDay=True,
        start={"dateTime": "2026-11-20T00:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-11-23T00:00:00.0000000", "timeZone": "UTC"},
    )
    record = parse_m(payload)
    assert isinstance(record, MeetingRecord)
    assert record.all_day
    assert (record.start_at, record.end_at) == (utc(2026, 11, 20), utc(2026, 11, 23))


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        ("Europe/Berlin", "2026-11-19T23:00:00", "2026-11-20T23:00:00"),
        ("America/Los_Angeles", "2026-11-20T08:00:00", "2026-11-21T08:00:00"),
        ("W. Europe Standard Time", "2026-11-19T23:00:00", "2026-11-20T23:00:00"),
        ("Pacific Standard Time", "2026-11-20T08:00:00", "2026-11-21T08:00:00"),
    ],
)
def test_graph_all_day_shifted_into_utc_keeps_its_date(zone: str, start: str, end: str) -> None:
    payload = graph(
        isAllDay=True,
        originalStartTimeZone=zone,
        originalEndTimeZone=zone,
        start={"dateTime": start + ".0000000", "timeZone": "UTC"},
        end={"dateTime": end + ".0000000", "timeZone": "UTC"},
    )
    record = parse_m(payload)
    assert isinstance(record, MeetingRecord)
    assert (record.start_at, record.end_at) == (utc(2026, 11, 20), utc(2026, 11, 21))


# ---- cancellation, organiser, responses ---------------------------------------------------------


def test_google_deleted_event_with_no_time_is_a_deletion_not_garbage() -> None:
    """Google's deleted events carry only `id` and `status`: no day to file them under."""
    record = parse_g({"kind": "calendar#event", "id": "evt1", "status": "cancelled"}, "evt1")
    assert record == DeletedEvent("evt1")
    assert parse_g(google(status="cancelled", start=None, originalStartTime=None)) == DeletedEvent(
        "evt1"
    )


def test_google_cancelled_occurrence_stub_lands_on_its_original_start() -> None:
    stub = {
        "kind": "calendar#event",
        "id": "base_20261102T140000Z",
        "status": "cancelled",
        "recurringEventId": "base",
        "originalStartTime": {
            "dateTime": "2026-11-02T09:00:00-05:00",
            "timeZone": "America/New_York",
        },
    }
    record = parse_g(stub, stub["id"])
    assert isinstance(record, MeetingRecord)
    assert record.status == "cancelled"
    assert record.start_at == record.end_at == utc(2026, 11, 2, 14)
    assert record.series_id == "base"
    all_day_stub = {**stub, "id": "b_20261102", "originalStartTime": {"date": "2026-11-02"}}
    record = parse_g(all_day_stub, "b_20261102")
    assert isinstance(record, MeetingRecord)
    assert (record.start_at, record.end_at, record.all_day) == (
        utc(2026, 11, 2),
        utc(2026, 11, 3),
        True,
    )


def test_cancelled_events() -> None:
    google_record = parse_g(google(status="cancelled"))
    graph_record = parse_m(graph(isCancelled=True))
    assert isinstance(google_record, MeetingRecord) and isinstance(graph_record, MeetingRecord)
    assert google_record.status == graph_record.status == "cancelled"
    tentative = parse_g(google(status="tentative"))
    assert isinstance(tentative, MeetingRecord) and tentative.status == "tentative"


def test_organized_by_owner_from_aliases_or_provider_flag() -> None:
    by_alias = google(organizer={"email": "O.Alias@tenant.example"})
    other = google(organizer={"email": "ann@customer.example", "displayName": "Ann"})
    assert parse_g(by_alias).organized_by_owner is True  # type: ignore[union-attr]
    assert parse_g(other).organized_by_owner is False  # type: ignore[union-attr]
    graph_other = graph(
        isOrganizer=False,
        organizer={"emailAddress": {"name": "Ann", "address": "ann@customer.example"}},
    )
    graph_alias = graph(
        isOrganizer=False,
        organizer={"emailAddress": {"name": "O", "address": "o.alias@TENANT.example"}},
    )
    assert parse_m(graph_other).organized_by_owner is False  # type: ignore[union-attr]
    assert parse_m(graph_alias).organized_by_owner is True  # type: ignore[union-attr]


def test_graph_organizer_response_and_odd_attendees() -> None:
    payload = graph(
        attendees=[
            {"type": "required", "status": {"response": "organizer"},
             "emailAddress": {"name": "Owner", "address": "owner@tenant.example"}},
            {"type": "required", "status": {"response": "organizer"},
             "emailAddress": {"name": "Delegate", "address": "delegate@tenant.example"}},
            {"type": "required", "status": {"response": "somethingNew"},
             "emailAddress": {"address": "EVE@customer.example"}},
            {"type": "required", "emailAddress": {"address": "eve@customer.example"}},
            {"type": "required", "status": None, "emailAddress": {"address": "not-an-address"}},
            "garbage",
        ]
    )  # fmt: skip
    record = parse_m(payload)
    assert isinstance(record, MeetingRecord)
    assert record.attendees == [
        Attendee("delegate@tenant.example", "Delegate", "organizer", False),
        Attendee("eve@customer.example", None, "none", False),
    ]


def test_windows_zone_ids_become_iana_names() -> None:
    for windows, iana in (
        ("Eastern Standard Time", "America/New_York"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("UTC", "UTC"),
        ("America/Chicago", "America/Chicago"),
        ("Some Future Standard Time", "Some Future Standard Time"),
    ):
        record = parse_m(graph(originalStartTimeZone=windows))
        assert isinstance(record, MeetingRecord)
        assert record.start_time_zone == iana


# ---- garbage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (["x"], "not_object"),
        (google(id=None), "missing_id"),
        (google(id="other"), "id_mismatch"),
        (google(start=None), "missing_start"),
        (google(start={"dateTime": "tomorrow"}), "invalid_start"),
        (google(start={"date": "2026-02-30"}), "invalid_start"),
        (google(end={}), "missing_end"),
        (google(start={"dateTime": "2026-11-20T10:00:00", "timeZone": "Mars/Base"}),
         "invalid_start"),
        (google(end={"date": "2026-11-21"}), "mixed_all_day"),
        (google(end={"dateTime": "2026-11-20T08:00:00+01:00"}), "end_before_start"),
        (google(status="tentative", start=None, originalStartTime=None), "missing_start"),
    ],
)  # fmt: skip
def test_google_garbage_is_quarantined(payload: Any, reason: str) -> None:
    record = parse_g(payload)
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("text", "not_object"),
        (graph(id=""), "missing_id"),
        (graph(start=None), "missing_start"),
        (graph(end={"timeZone": "UTC"}), "missing_end"),
        (graph(start={"dateTime": "2026-13-01T00:00:00", "timeZone": "UTC"}), "invalid_start"),
        (graph(start={"dateTime": "2026-11-20T09:00:00", "timeZone": "Nowhere Time"}),
         "unknown_time_zone"),
        (graph(end={"dateTime": "2026-11-20T08:00:00", "timeZone": "UTC"}), "end_before_start"),
    ],
)  # fmt: skip
def test_graph_garbage_is_quarantined(payload: Any, reason: str) -> None:
    record = parse_m(payload)
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == reason


def test_connector_side_failures_are_quarantined() -> None:
    for parser in (parse_google_event, parse_graph_event):
        record = parser(RawEvent("e1", None, "invalid_json", "{\x00"), OWNER)
        assert isinstance(record, QuarantinedRecord)
        assert (record.reason, record.excerpt) == ("invalid_json", "{?")


def test_garbage_fields_never_raise() -> None:
    values: list[Any] = [None, 0, "", [], {}, "x", [None], {"dateTime": 5}, True]
    for base, parser, event_id in ((google(), parse_g, "evt1"), (graph(), parse_m, "AAMkE1")):
        for key in list(base):
            for value in values:
                record = parser({**base, key: value}, event_id)
                assert isinstance(record, (MeetingRecord, QuarantinedRecord))


# ---- filing occurrences into windows ------------------------------------------------------------


def window_of(day: date) -> SyncWindow:
    return SyncWindow.for_day(datetime(day.year, day.month, day.day, tzinfo=UTC))


def test_each_occurrence_is_filed_in_exactly_one_window() -> None:
    """Providers list by overlap: an all-day event in a UTC-8 calendar overlaps two UTC days, a
    meeting across midnight too; each must land in the window of its start only."""
    items = [
        google(id="allday", start={"date": "2026-11-20"}, end={"date": "2026-11-21"}),
        google(
            id="midnight",
            start={"dateTime": "2026-11-20T23:30:00Z"},
            end={"dateTime": "2026-11-21T00:30:00Z"},
        ),
        google(
            id="multi",
            start={"date": "2026-11-19"},
            end={"date": "2026-11-22"},
        ),
    ]
    days = (date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21))
    filed = {
        day: [
            e.provider_event_id for e in events_in_window(items, window_of(day), google_event_start)
        ]
        for day in days
    }
    assert filed == {
        date(2026, 11, 19): ["multi"],
        date(2026, 11, 20): ["allday", "midnight"],
        date(2026, 11, 21): [],
    }


def test_graph_filing_uses_the_parsers_start() -> None:
    shifted_all_day = graph(
        id="a",
        isAllDay=True,
        originalStartTimeZone="Europe/Berlin",
        start={"dateTime": "2026-11-19T23:00:00.0000000", "timeZone": "UTC"},
        end={"dateTime": "2026-11-20T23:00:00.0000000", "timeZone": "UTC"},
    )
    assert graph_event_start(shifted_all_day) == utc(2026, 11, 20)
    day = events_in_window([shifted_all_day], window_of(date(2026, 11, 20)), graph_event_start)
    before = events_in_window([shifted_all_day], window_of(date(2026, 11, 19)), graph_event_start)
    assert [e.provider_event_id for e in day] == ["a"] and before == []


def test_unreadable_items_are_kept_once_under_stable_ids() -> None:
    window = window_of(date(2026, 11, 20))
    broken = google(id="broken", start={"dateTime": "never"})
    items = ["junk", "junk", [5], {"summary": "no id"}, broken, broken, google(id="evt1")]
    first = events_in_window(items, window, google_event_start)
    again = events_in_window(list(reversed(items)), window, google_event_start)
    assert sorted(e.provider_event_id for e in first) == sorted(e.provider_event_id for e in again)
    ids = [e.provider_event_id for e in first]
    assert len(ids) == len(set(ids)) == 5
    junk = sorted((e.error or "") for e in first if e.payload is None)
    assert junk == ["invalid_json", "not_object"]
    assert "broken" in ids and "evt1" in ids
    assert isinstance(parse_g(broken, "broken"), QuarantinedRecord)


def test_broken_items_are_named_by_the_id_they_carry() -> None:
    window = window_of(date(2026, 11, 20))
    truncated = '{"kind": "calendar#event", "id": "abc_20261120T090000Z", "status": "conf'
    items = [truncated, ["AAMkE2="], {"kind": "calendar#event"}]
    filed = {e.provider_event_id: e for e in events_in_window(items, window, google_event_start)}
    assert filed["abc_20261120T090000Z"].error == "invalid_json"
    assert filed["AAMkE2="].error == "not_object"
    assert filed["AAMkE2="].excerpt == '["AAMkE2="]'
    (stand_in,) = [k for k in filed if k.startswith("unidentified-")]
    assert filed[stand_in].payload == {"kind": "calendar#event"}
    record = parse_google_event(filed[stand_in], OWNER)
    assert isinstance(record, QuarantinedRecord) and record.reason == "missing_id"
