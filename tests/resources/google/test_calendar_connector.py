"""GoogleCalendarConnector against the real sandbox over HTTP on 127.0.0.1 (no mocks of ours)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from checks import assert_leaks_nothing, placed_event_ids, truth_event_ids

from resources.google.calendar_connector import GoogleCalendarConnector
from resources.google.event_parsing import parse_google_event
from resources.google.kit import GOOGLE
from resources.google.resource import GoogleWorkspaceResource
from resources.google.settings import GoogleSettings
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, Mailbox, Workload
from vocabulary.connectors import MailboxCredentials
from vocabulary.records import DeletedEvent, MeetingRecord, QuarantinedRecord
from vocabulary.status import ConnectionFailure, ConnectionStatus
from vocabulary.windows import SyncWindow

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("clean_sandbox")]

NOW = datetime(2026, 11, 24, tzinfo=UTC)
"""Fixed, so the weekly New York series (five weeks before the first day) crosses Nov 1's DST
change."""


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=5,
        now=NOW,
        tenants=1,
        mailboxes_per_tenant=2,
        days=3,
        messages_per_mailbox_per_day=5,
        include_today=False,
        providers=("google",),
    )


@pytest.fixture
def span(workload: Workload) -> SyncWindow:
    """The workload's three days."""
    first = datetime.combine(workload.days[0], datetime.min.time(), UTC)
    return SyncWindow(first, first + timedelta(days=3))


def connector_for(
    server: SandboxServer, mailbox: Mailbox, **options: Any
) -> GoogleCalendarConnector:
    if "page_size" in options:
        options["calendar_page_size"] = options.pop("page_size")
    settings = GoogleSettings(
        base_url=server.base_url,
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        **options,
    )
    return GoogleCalendarConnector(mailbox.address, mailbox.refresh_token, settings=settings)


def days_between(start: datetime, end: datetime) -> Iterator[SyncWindow]:
    day = start
    while day < end:
        yield SyncWindow(day, day + timedelta(days=1))
        day += timedelta(days=1)


def test_calendar_equals_truth_day_by_day_across_dst(
    workload: Workload, server: SandboxServer
) -> None:
    """Every day from six weeks before the workload to a week after: the organiser is not an
    attendee, all-day events keep their date, 09:00 New York moves from 13:00 to 14:00 UTC,
    cancelled occurrences come back as cancelled, each occurrence in exactly one window."""
    start = datetime.combine(workload.days[0], datetime.min.time(), UTC) - timedelta(weeks=6)
    end = datetime.combine(workload.days[-1], datetime.min.time(), UTC) + timedelta(days=8)
    kinds: set[str] = set()
    statuses: set[tuple[str, str]] = set()
    deleted_seen: set[str] = set()
    for mailbox in workload.mailboxes:
        connector = connector_for(server, mailbox)
        seen: list[str] = []
        weekly_hours: set[int] = set()
        for window in days_between(start, end):
            events = connector.list_events(window)
            truth = {
                r["event_id"]: r
                for r in server.state.truth_events(mailbox.address, window.start, window.end)
            }
            owners = (mailbox.address, *mailbox.aliases)
            records = {e.provider_event_id: parse_google_event(e, owners) for e in events}
            # Deleted events carry no time: listed in every window they met, filed in none.
            gone = {i for i, r in records.items() if isinstance(r, DeletedEvent)}
            assert gone.isdisjoint(truth)
            deleted_seen |= gone
            events = [e for e in events if e.provider_event_id not in gone]
            assert sorted(e.provider_event_id for e in events) == sorted(truth)
            for raw in events:
                record = records[raw.provider_event_id]
                assert isinstance(record, MeetingRecord)
                row = truth[raw.provider_event_id]
                assert record.start_at == datetime.fromisoformat(row["start"])
                assert record.end_at == datetime.fromisoformat(row["end"])
                assert record.all_day is row["all_day"]
                assert record.status == row["status"]
                assert record.ical_uid == row["ical_uid"]
                assert record.subject == row["subject"]
                assert record.organizer_email == row["organizer"]
                assert record.organized_by_owner is row["organized_by_owner"]
                assert [(a.email, a.response) for a in record.attendees] == [
                    (a["email"], a["response"]) for a in row["attendees"]
                ]
                if not row["all_day"]:
                    assert record.start_time_zone == row["start_time_zone"]
                assert (record.series_id is not None) is row["recurring"]
                if row["original_start"] is not None:
                    original = datetime.fromisoformat(row["original_start"])
                    assert record.original_start_at == original
                kinds.add(row["kind"])
                statuses.add((row["kind"], record.status))
                if row["kind"] == "weekly" and not row["is_exception"]:
                    weekly_hours.add(record.start_at.hour)
            seen.extend(e.provider_event_id for e in events)
        assert len(seen) == len(set(seen)), "an occurrence was listed in two windows"
        assert weekly_hours == {13, 14}, "09:00 New York is 13:00 UTC, then 14:00 UTC"
        assert connector.stats.retries == 0
        # cancelled exceptions took their series' iCalUID from one events.get per series
        assert connector.stats.calls_by_method["calendar.events.get"] >= 1
    assert {"all_day", "multi_day", "weekly", "standup", "midnight", "utc_midnight"} <= kinds
    assert {("weekly", "cancelled"), ("standup", "cancelled")} <= statuses
    assert deleted_seen, "the workload's cancelled meetings come as deleted events"


def test_one_request_per_window_and_every_page_followed(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow
) -> None:
    whole = connector_for(server, mailbox)
    assert placed_event_ids(whole.list_events(span)) == truth_event_ids(server, mailbox, span)
    # the primary calendar is proven the owner's once per connector, then one page per window
    assert whole.stats.calls_by_method == {
        "calendar.calendars.get": 1,
        "calendar.events.list": 1,
    }
    assert whole.stats.http_requests == 3  # token refresh, ownership, one page
    whole.list_events(span)
    assert whole.stats.calls_by_method["calendar.calendars.get"] == 1
    paged = connector_for(server, mailbox, page_size=3)
    events = paged.list_events(span)
    assert placed_event_ids(events) == truth_event_ids(server, mailbox, span)
    assert paged.stats.calls_by_method["calendar.events.list"] >= 3


def test_shared_meetings_get_one_identity_on_both_calendars(
    workload: Workload, server: SandboxServer, span: SyncWindow
) -> None:
    """The tenant's stand-up sits on both calendars: same iCalUID and start on each."""
    occurrences: dict[str, set[tuple[str | None, datetime]]] = {}
    for mailbox in workload.mailboxes:
        records = [
            parse_google_event(raw, (mailbox.address,))
            for raw in connector_for(server, mailbox).list_events(span)
        ]
        occurrences[mailbox.address] = {
            (r.ical_uid, r.start_at)
            for r in records
            if isinstance(r, MeetingRecord) and r.subject == "Daily stand-up"
        }
    first, second = occurrences.values()
    assert first and first == second


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("invalid_grant", ConnectionStatus.INVALID_CREDENTIALS),
        ("insufficient_permissions", ConnectionStatus.INSUFFICIENT_PERMISSIONS),
    ],
)
def test_owner_side_failures_are_classified(
    server: SandboxServer,
    mailbox: Mailbox,
    span: SyncWindow,
    kind: str,
    status: ConnectionStatus,
) -> None:
    server.state.set_fault(mailbox.address, kind)
    connector = connector_for(server, mailbox)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_events(span)
    assert caught.value.status is status
    assert_leaks_nothing(caught.value, mailbox.refresh_token, GOOGLE_CLIENT_SECRET)
    assert mailbox.refresh_token not in repr(connector)
    assert connector.stats.retries == 0


def test_expired_access_token_is_refreshed(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow
) -> None:
    connector = connector_for(server, mailbox)
    expected = truth_event_ids(server, mailbox, span)
    assert placed_event_ids(connector.list_events(span)) == expected
    server.state.expire_access_tokens(mailbox.address)
    assert placed_event_ids(connector.list_events(span)) == expected
    assert server.state.mailbox_stats(mailbox.address)["token_refreshes"] == 2


def test_throttling_and_outages_are_ridden_out(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow
) -> None:
    expected = truth_event_ids(server, mailbox, span)
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=2)
    throttled = connector_for(server, mailbox, page_size=5)
    started = time.monotonic()
    assert placed_event_ids(throttled.list_events(span)) == expected
    assert throttled.stats.retries == 2
    assert time.monotonic() - started >= 2.0  # Retry-After honoured
    server.state.set_fault(mailbox.address, "server_error", status=503, duration=0.6)
    flaky = connector_for(server, mailbox)
    assert placed_event_ids(flaky.list_events(span)) == expected
    assert flaky.stats.retries >= 1


def test_persistent_outage_becomes_no_service_connection(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "server_error", status=503)
    with pytest.raises(ConnectionFailure) as caught:
        connector_for(server, mailbox, max_attempts=2).list_events(span)
    assert caught.value.status is ConnectionStatus.NO_SERVICE_CONNECTION
    server.state.clear_faults()
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=120)
    with pytest.raises(ConnectionFailure) as caught:
        connector_for(server, mailbox, max_retry_wait_seconds=5).list_events(span)
    assert caught.value.status is ConnectionStatus.THROTTLED


def test_within_the_calendar_quota(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow
) -> None:
    server.state.set_quota(True)
    connector = connector_for(server, mailbox, page_size=2)
    assert placed_event_ids(connector.list_events(span)) == truth_event_ids(server, mailbox, span)
    assert server.state.mailbox_stats(mailbox.address)["rejected_for_quota"] == 0


@pytest.mark.parametrize(
    ("variant", "error", "reason"),
    [
        ("invalid_json", "invalid_json", "invalid_json"),
        ("not_object", "not_object", "not_object"),
        ("missing_payload", None, "missing_start"),
        ("bad_headers", None, "invalid_start"),
    ],
)
def test_malformed_items_are_kept_for_quarantine_under_their_ids(
    server: SandboxServer,
    mailbox: Mailbox,
    span: SyncWindow,
    variant: str,
    error: str | None,
    reason: str,
) -> None:
    expected = truth_event_ids(server, mailbox, span)
    target = expected[0]
    server.state.set_fault(mailbox.address, "malformed", ids=[target], variant=variant)
    listed = connector_for(server, mailbox).list_events(span)
    events = {e.provider_event_id: e for e in listed}
    assert placed_event_ids(listed) == expected
    assert events[target].error == error
    record = parse_google_event(events[target], (mailbox.address,))
    assert isinstance(record, QuarantinedRecord)
    assert record.reason == reason
    others = [parse_google_event(e, (mailbox.address,)) for i, e in events.items() if i != target]
    assert all(isinstance(r, MeetingRecord | DeletedEvent) for r in others)


def test_resource_hands_out_a_working_calendar_connector(
    server: SandboxServer, mailbox: Mailbox, span: SyncWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_GOOGLE_CLIENT_SECRET", GOOGLE_CLIENT_SECRET)
    resource = GoogleWorkspaceResource(
        base_url=server.base_url,
        client_id=GOOGLE_CLIENT_ID,
        client_secret=dg.EnvVar("TEST_GOOGLE_CLIENT_SECRET"),
    ).process_config_and_initialize()
    connector = GOOGLE.calendar_connector(
        resource.settings(), MailboxCredentials(mailbox.address, mailbox.refresh_token)
    )
    assert connector.provider == "google"
    events = connector.list_events(span)
    assert placed_event_ids(events) == truth_event_ids(server, mailbox, span)
