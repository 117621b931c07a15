"""Graph mail and calendar connectors against the real sandbox: real msal, real HTTP on
127.0.0.1, no mocks of ours. Faults use short Retry-After / durations so the file stays well
under a minute."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from checks import assert_leaks_nothing, mailbox_stats, truth_message_ids

from resources.microsoft.calendar_connector import (
    EVENT_FIELDS,
    LIST_METHOD,
    PREFER_UTC,
    GraphCalendarConnector,
)
from resources.microsoft.client import graph_time, select, user_path
from resources.microsoft.event_parsing import parse_graph_event
from resources.microsoft.kit import MICROSOFT
from resources.microsoft.mail_connector import GraphMailConnector
from resources.microsoft.mail_parsing import parse_graph_message
from resources.microsoft.resource import MicrosoftGraphResource
from resources.microsoft.settings import GraphSettings
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET, Mailbox, Workload
from vocabulary.connectors import MailboxCredentials
from vocabulary.records import EmailRecord, MeetingRecord, QuarantinedRecord
from vocabulary.status import ConnectionFailure, ConnectionStatus
from vocabulary.windows import SyncWindow

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("clean_sandbox")]

NOW = datetime(2026, 11, 24, tzinfo=UTC)
"""Fixed, so the weekly New York series (five weeks before the first day) crosses Nov 1's DST
change."""


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=11,
        now=NOW,
        tenants=1,
        mailboxes_per_tenant=2,
        days=3,
        messages_per_mailbox_per_day=80,
        include_today=False,
        providers=("microsoft",),
    )


def settings(server: SandboxServer) -> dict[str, Any]:
    return {
        "graph_base_url": server.base_url + "/v1.0",
        "login_base_url": server.base_url,
        "client_id": MICROSOFT_CLIENT_ID,
        "client_secret": MICROSOFT_CLIENT_SECRET,
    }


def mail(server: SandboxServer, mailbox: Mailbox, **options: Any) -> GraphMailConnector:
    cache = options.pop("token_cache", None)
    save = options.pop("save_token_cache", None)
    return GraphMailConnector(
        mailbox.address,
        mailbox.refresh_token,
        cache,
        save,
        settings=GraphSettings(**{**settings(server), **options}),
    )


def calendar(server: SandboxServer, mailbox: Mailbox, **options: Any) -> GraphCalendarConnector:
    return GraphCalendarConnector(
        mailbox.address,
        mailbox.refresh_token,
        settings=GraphSettings(**{**settings(server), **options}),
    )


def access_tokens(cache: str) -> list[str]:
    return [item["secret"] for item in json.loads(cache).get("AccessToken", {}).values()]


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


# ---- mail: listing and fetching -------------------------------------------------------------


def test_listing_equals_truth_without_drafts_junk_and_deleted_items(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = mail(server, mailbox)
    ids = connector.list_message_ids(window)
    expected = truth_message_ids(server, mailbox, window)
    everything = server.state.truth(mailbox.address, window.start, window.end, include_skipped=True)
    skipped = {row["id"] for row in everything} - set(expected)
    assert skipped, "the workload should hold drafts, junk or deleted items in this window"
    assert sorted(ids) == sorted(expected)
    assert len(ids) == len(set(ids))
    # one $batch resolving the well-known folders, one page of messages
    assert connector.stats.calls_by_method == {
        "graph.mailFolders.get": 6,
        "graph.messages.list": 1,
    }
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["http_requests"] == 2 and sandbox["batch_requests"] == 1
    assert sandbox["token_refreshes"] == 1


def test_subfolders_of_junk_deleted_items_and_drafts_stay_out_user_folders_come_in(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    """Graph folders nest: the connector walks the skipped folders' childFolders (two levels
    here), while messages in user folders under Inbox and Sent Items are synced."""
    placed = {
        "inbox/Projects/2026": (["INBOX", "FOLDER:Projects/2026"], True),
        "sentitems/Customers": (["SENT", "FOLDER:Customers"], True),
        "junkemail/Suspicious": (["SPAM", "FOLDER:Suspicious"], False),
        "deleteditems/Old/2025": (["TRASH", "FOLDER:Old/2025"], False),
        "drafts/Templates": (["DRAFT", "FOLDER:Templates"], False),
    }
    when = int(window.start.timestamp() * 1000) + 3_600_000
    ids: dict[str, tuple[str, bool]] = {}
    for path, (labels, synced) in placed.items():
        raw = (
            f"From: Ann <ann@contoso.example>\r\nTo: {mailbox.address}\r\n"
            f"Subject: {path}\r\nMessage-ID: <{path.replace('/', '.')}@contoso.example>\r\n"
            "Date: Thu, 19 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
        ).encode()
        created = server.state.inject_raw(mailbox.address, raw, labels, internal_date_ms=when)
        ids[path] = (created["id"], synced)
    try:
        connector = mail(server, mailbox)
        listed = set(connector.list_message_ids(window))
        assert {path for path, (i, _) in ids.items() if i in listed} == {
            path for path, (_, synced) in ids.items() if synced
        }
        assert sorted(listed) == sorted(truth_message_ids(server, mailbox, window))
        # drafts, junk and deleted items have children, and Old has one more: four listings
        assert connector.stats.calls_by_method["graph.mailFolders.childFolders.list"] == 4
    finally:
        for message_id, _ in ids.values():
            server.state.delete_message(mailbox.address, message_id)


def test_listed_payloads_are_fetched_without_more_requests_and_parse_to_truth(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = mail(server, mailbox)
    ids = connector.list_message_ids(window)
    server.state.reset_stats()
    fetched = list(connector.fetch_messages(ids))
    assert mailbox_stats(server, mailbox)["http_requests"] == 0
    assert [m.provider_message_id for m in fetched] == ids
    truth = {r["id"]: r for r in server.state.truth(mailbox.address, window.start, window.end)}
    for raw in fetched:
        record = parse_graph_message(raw)
        assert isinstance(record, EmailRecord)
        row = truth[raw.provider_message_id]
        # Graph writes receivedDateTime in whole seconds: floored, so the day never changes
        received = datetime.fromisoformat(row["internal_date"]).replace(microsecond=0)
        assert record.received_at == received
        assert window.start <= record.received_at < window.end
        assert (record.internet_message_id, record.subject, record.from_address) == (
            row["internet_message_id"],
            row["subject"],
            row["from"],
        )
        assert record.to_addresses == row["to"] and record.cc_addresses == row["cc"]
        assert record.thread_id == row["threadId"]
        assert record.labels[0] in ("INBOX", "SENT")


def test_every_page_is_followed(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = mail(server, mailbox, page_size=25)
    ids = connector.list_message_ids(window)
    everything = server.state.truth(mailbox.address, window.start, window.end, include_skipped=True)
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert connector.stats.calls_by_method["graph.messages.list"] == math.ceil(len(everything) / 25)


def test_unlisted_ids_are_fetched_through_batches_of_at_most_20(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    mailbox = workload.mailboxes[1]
    ids = truth_message_ids(server, mailbox, window)[:45]
    gone = ids[7]
    server.state.delete_message(mailbox.address, gone)
    connector = mail(server, mailbox)
    fetched = list(connector.fetch_messages(ids + ids[:3]))
    assert [m.provider_message_id for m in fetched] == [i for i in ids if i != gone]
    assert connector.vanished_message_ids == [gone]
    assert all(isinstance(parse_graph_message(m), EmailRecord) for m in fetched)
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["largest_batch"] <= 20
    assert sandbox["batch_requests"] == 1 + math.ceil(45 / 20)  # folders, then messages
    assert sandbox["calls_by_method"]["graph.messages.get"] == 45
    server.state.reset_stats()
    assert list(connector.fetch_messages([])) == []
    assert mailbox_stats(server, mailbox)["http_requests"] == 0


def test_messages_in_skipped_folders_fetched_by_id_are_labelled_so(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    everything = server.state.truth(mailbox.address, window.start, window.end, include_skipped=True)
    skipped = [r for r in everything if {"DRAFT", "SPAM", "TRASH"} & set(r["labels"])]
    connector = mail(server, mailbox)
    records = [parse_graph_message(m) for m in connector.fetch_messages([r["id"] for r in skipped])]
    for row, record in zip(skipped, records, strict=True):
        assert isinstance(record, EmailRecord)
        expected = {"DRAFT": "DRAFT", "SPAM": "SPAM", "TRASH": "TRASH"}
        assert {expected[label] for label in expected if label in row["labels"]} <= set(
            record.labels
        )


def test_malformed_items_are_quarantined_under_their_ids(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)
    variants = {
        ids[0]: ("invalid_json", "invalid_json"),
        ids[1]: ("not_object", "not_object"),
        ids[2]: ("missing_payload", "missing_received_time"),
    }
    for message_id, (variant, _) in variants.items():
        server.state.set_fault(mailbox.address, "malformed", ids=[message_id], variant=variant)
        connector = mail(server, mailbox)
        listed = connector.list_message_ids(window)
        assert sorted(listed) == sorted(ids)
        (raw,) = connector.fetch_messages([message_id])
        record = parse_graph_message(raw)
        assert isinstance(record, QuarantinedRecord)
        assert record.reason == variants[message_id][1]
        server.state.clear_faults()
    server.state.set_fault(mailbox.address, "malformed", ids=[ids[3]], variant="bad_headers")
    (raw,) = mail(server, mailbox).fetch_messages([ids[3]])  # through $batch
    record = parse_graph_message(raw)
    assert isinstance(record, EmailRecord)
    assert record.from_address is None and "message-id: missing" in record.header_defects
    server.state.set_fault(mailbox.address, "malformed", ids=[ids[4]], variant="invalid_json")
    (raw,) = mail(server, mailbox).fetch_messages([ids[4]])
    assert (raw.payload, raw.error) == (None, "invalid_json")
    assert raw.excerpt and raw.excerpt.startswith("{")


# ---- tokens ---------------------------------------------------------------------------------


def test_token_cache_round_trips_through_the_save_callback(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    saved: list[str] = []
    first = mail(server, mailbox, save_token_cache=saved.append)
    first.list_message_ids(window)
    assert len(saved) == 1
    assert mailbox.refresh_token not in saved[0]  # rotated: the cache holds Entra's new one
    assert MICROSOFT_CLIENT_SECRET not in saved[0]
    assert mailbox_stats(server, mailbox)["token_refreshes"] == 1

    again: list[str] = []
    second = mail(server, mailbox, token_cache=saved[-1], save_token_cache=again.append)
    assert sorted(second.list_message_ids(window)) == sorted(
        truth_message_ids(server, mailbox, window)
    )
    assert mailbox_stats(server, mailbox)["token_refreshes"] == 1  # no refresh_token grant
    assert again == []  # nothing changed, nothing saved

    server.state.expire_access_tokens(mailbox.address)
    third = mail(server, mailbox, token_cache=saved[-1], save_token_cache=again.append)
    third.list_message_ids(window)  # 401, then msal redeems the cached refresh token
    assert mailbox_stats(server, mailbox)["token_refreshes"] == 2
    assert len(again) == 1 and again[0] != saved[-1]

    garbage = mail(server, mailbox, token_cache="{not json", save_token_cache=again.append)
    assert sorted(garbage.list_message_ids(window)) == sorted(
        truth_message_ids(server, mailbox, window)
    )


@pytest.mark.parametrize(
    ("kind", "status", "cause"),
    [
        ("invalid_grant", ConnectionStatus.INVALID_CREDENTIALS, "grant_revoked"),
        ("token_expired", ConnectionStatus.INVALID_CREDENTIALS, "refresh_token_expired"),
        ("consent_required", ConnectionStatus.INSUFFICIENT_PERMISSIONS, "consent_required"),
        ("mfa_required", ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
        ("account_disabled", ConnectionStatus.ACCOUNT_SUSPENDED, "account_disabled"),
    ],
)
def test_entra_refusals_are_classified_and_leak_nothing(
    server: SandboxServer,
    mailbox: Mailbox,
    window: SyncWindow,
    kind: str,
    status: ConnectionStatus,
    cause: str,
) -> None:
    server.state.set_fault(mailbox.address, kind)
    connector = mail(server, mailbox)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (status, cause)
    assert_leaks_nothing(caught.value, mailbox.refresh_token, MICROSOFT_CLIENT_SECRET)
    assert mailbox.refresh_token not in repr(connector) + repr(connector.tokens)
    assert connector.stats.retries == 0
    assert mailbox_stats(server, mailbox)["http_requests"] == 0  # never reached Graph


def test_revoked_mid_run_is_invalid_credentials(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    """The grant is revoked during a sync: Graph answers 401, msal's refresh meets 50173."""
    mailbox = workload.mailboxes[1]
    saved: list[str] = []
    connector = mail(server, mailbox, save_token_cache=saved.append)
    ids = connector.list_message_ids(window)
    tokens = access_tokens(saved[-1])
    assert tokens
    server.state.set_fault(mailbox.address, "invalid_grant")
    fresh = mail(server, mailbox, token_cache=saved[-1])
    with pytest.raises(ConnectionFailure) as caught:
        list(fresh.fetch_messages(ids[:5]))
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        "grant_revoked",
    )
    assert_leaks_nothing(caught.value, mailbox.refresh_token, *tokens, MICROSOFT_CLIENT_SECRET)


def test_wrong_client_secret_is_request_invalid(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = mail(server, mailbox, client_secret="wrong-secret-value")
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.REQUEST_INVALID,
        "invalid_client",
    )
    assert "wrong-secret-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "status", "cause"),
    [
        ("insufficient_permissions", ConnectionStatus.INSUFFICIENT_PERMISSIONS, "access_denied"),
        ("account_suspended", ConnectionStatus.ACCOUNT_SUSPENDED, "mailbox_not_enabled"),
    ],
)
def test_graph_refusals_are_classified_on_list_and_fetch(
    server: SandboxServer,
    mailbox: Mailbox,
    window: SyncWindow,
    kind: str,
    status: ConnectionStatus,
    cause: str,
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:5]
    server.state.set_fault(mailbox.address, kind)
    with pytest.raises(ConnectionFailure) as listed:
        mail(server, mailbox).list_message_ids(window)
    with pytest.raises(ConnectionFailure) as fetched:
        list(mail(server, mailbox).fetch_messages(ids))
    for failure in (listed.value, fetched.value):
        assert (failure.status, failure.cause_code) == (status, cause)
        assert_leaks_nothing(failure, mailbox.refresh_token, "inactive, soft-deleted")


# ---- throttling and outages -----------------------------------------------------------------


def test_429_storm_is_ridden_out_with_no_loss(
    workload: Workload, server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=2)
    sleep = RecordingSleep()
    connector = mail(server, mailbox, sleep=sleep)
    assert sorted(connector.list_message_ids(window)) == sorted(ids)
    assert connector.stats.retries == 2

    later = SyncWindow(window.end, window.end + timedelta(days=1))
    unlisted = truth_message_ids(server, mailbox, later)[:40]
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=30)
    fetched = list(connector.fetch_messages(unlisted))
    assert [m.provider_message_id for m in fetched] == unlisted
    assert all(isinstance(parse_graph_message(m), EmailRecord) for m in fetched)
    assert mailbox_stats(server, mailbox)["faults_injected"] == 32
    assert connector.stats.retries == 32
    # one wait per throttled round (folders' $batch, then two rounds of message parts), each
    # at least the Retry-After
    assert len(sleep.calls) == 3 and min(sleep.calls) >= 1.0
    assert connector.stats.throttled_seconds >= 3.0


@pytest.mark.parametrize("status", [500, 503, 504])
def test_5xx_window_is_ridden_out(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, status: int
) -> None:
    server.state.set_fault(mailbox.address, "server_error", status=status, duration=0.6)
    connector = mail(server, mailbox)
    ids = connector.list_message_ids(window)
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert connector.stats.retries >= 1


def test_persistent_outage_becomes_no_service_connection(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:10]
    server.state.set_fault(mailbox.address, "server_error", status=503)
    connector = mail(server, mailbox, max_attempts=2)
    with pytest.raises(ConnectionFailure) as caught:
        list(connector.fetch_messages(ids))
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "server_error_503",
    )
    assert_leaks_nothing(caught.value, mailbox.refresh_token, "temporarily unavailable")


def test_persistent_throttling_becomes_throttled(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1)
    connector = mail(server, mailbox, max_attempts=2)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.THROTTLED,
        "rate_limited",
    )


def test_retry_after_beyond_the_cap_gives_up_at_once(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=120)
    sleep = RecordingSleep()
    connector = mail(server, mailbox, max_retry_wait_seconds=5.0, sleep=sleep)
    started = time.monotonic()
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert caught.value.status is ConnectionStatus.THROTTLED
    assert sleep.calls == []
    assert time.monotonic() - started < 2.0


def test_timeouts_become_no_service_connection(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "slow", seconds=1.0)
    connector = mail(server, mailbox, timeout_seconds=0.3, max_attempts=2)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "timeout",
    )


def test_paced_under_graphs_limits_without_a_single_429(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    """Graph's per-mailbox limits, shrunk to a 2 s window: the pacer waits, Graph never says
    429, and four parts of a $batch at a time never exceed the concurrency limit."""
    mailbox = workload.mailboxes[1]
    server.state.set_graph_limits(True, max_concurrent=4, requests_per_window=40, window_seconds=2)
    pacing = {"requests_per_ten_minutes": 40, "throttle_window_seconds": 2.0}
    lister = mail(server, mailbox, page_size=10, **pacing)
    ids = lister.list_message_ids(window)
    fetcher = mail(server, mailbox, **pacing)
    fetched = [m.provider_message_id for m in fetcher.fetch_messages(ids[:60])]
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert fetched == ids[:60]
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["rejected_for_quota"] == 0
    assert sandbox["rejected_for_concurrency"] == 0
    assert sandbox["max_concurrent_seen"] <= 4
    assert lister.stats.retries == fetcher.stats.retries == 0
    assert lister.stats.throttled_seconds + fetcher.stats.throttled_seconds > 0


# ---- calendar -------------------------------------------------------------------------------


def days_between(start: datetime, end: datetime) -> Iterator[SyncWindow]:
    day = start
    while day < end:
        yield SyncWindow(day, day + timedelta(days=1))
        day += timedelta(days=1)


def assert_matches_truth(record: MeetingRecord, row: dict[str, Any]) -> None:
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
    assert record.start_time_zone == row["start_time_zone"]
    if row["recurring"]:
        assert record.series_id
        assert record.original_start_at is not None
    else:
        assert record.series_id is None


def test_calendar_equals_truth_day_by_day_across_dst(
    workload: Workload, server: SandboxServer
) -> None:
    """Every day from six weeks before the workload to a week after: all-day and multi-day events,
    a weekly New York series across the DST change, the daily stand-up with a moved and a
    cancelled occurrence, cancelled meetings, meetings across and at UTC midnight."""
    start = datetime.combine(workload.days[0], datetime.min.time(), UTC) - timedelta(weeks=6)
    end = datetime.combine(workload.days[-1], datetime.min.time(), UTC) + timedelta(days=8)
    kinds: set[str] = set()
    statuses: set[tuple[str, str]] = set()
    for mailbox in workload.mailboxes:
        connector = calendar(server, mailbox)
        seen: list[str] = []
        utc_hours_of_weekly: set[int] = set()
        for window in days_between(start, end):
            events = connector.list_events(window)
            truth = {
                r["event_id"]: r
                for r in server.state.truth_events(mailbox.address, window.start, window.end)
            }
            assert sorted(e.provider_event_id for e in events) == sorted(truth)
            for raw in events:
                record = parse_graph_event(raw, (mailbox.address, *mailbox.aliases))
                assert isinstance(record, MeetingRecord)
                row = truth[raw.provider_event_id]
                assert_matches_truth(record, row)
                assert window.start <= record.start_at < window.end
                kinds.add(row["kind"])
                statuses.add((row["kind"], record.status))
                if row["kind"] == "weekly" and not row["is_exception"]:
                    utc_hours_of_weekly.add(record.start_at.hour)
            seen.extend(e.provider_event_id for e in events)
        assert len(seen) == len(set(seen)), "an occurrence was listed in two windows"
        assert utc_hours_of_weekly == {13, 14}, "09:00 New York is 13:00 UTC, then 14:00 UTC"
        assert connector.stats.retries == 0
    assert {"all_day", "multi_day", "weekly", "standup", "midnight", "utc_midnight"} <= kinds
    # Graph leaves deleted occurrences out of calendarView, and an organiser's cancelled
    # meeting is gone from their calendar (attendees' copies: tests/assets/test_microsoft_assets)
    assert not {("weekly", "cancelled"), ("standup", "cancelled")} & statuses


def test_calendar_paging_and_faults(
    workload: Workload, server: SandboxServer, mailbox: Mailbox
) -> None:
    first = datetime.combine(workload.days[0], datetime.min.time(), UTC)
    window = SyncWindow(first, first + timedelta(days=3))
    expected = sorted(
        r["event_id"] for r in server.state.truth_events(mailbox.address, window.start, window.end)
    )
    paged = calendar(server, mailbox, page_size=2)
    assert sorted(e.provider_event_id for e in paged.list_events(window)) == expected
    assert paged.stats.calls_by_method["graph.calendarView.list"] > 2

    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=2)
    throttled = calendar(server, mailbox)
    assert sorted(e.provider_event_id for e in throttled.list_events(window)) == expected
    assert throttled.stats.retries == 2
    server.state.clear_faults()

    target = expected[0]
    server.state.set_fault(mailbox.address, "malformed", ids=[target], variant="bad_headers")
    events = {e.provider_event_id: e for e in calendar(server, mailbox).list_events(window)}
    record = parse_graph_event(events[target], (mailbox.address,))
    assert isinstance(record, QuarantinedRecord) and record.reason == "invalid_start"
    server.state.set_fault(mailbox.address, "malformed", ids=[target], variant="invalid_json")
    events = {e.provider_event_id: e for e in calendar(server, mailbox).list_events(window)}
    assert events[target].payload is None and events[target].error == "invalid_json"
    server.state.clear_faults()

    server.state.set_fault(mailbox.address, "consent_required")
    with pytest.raises(ConnectionFailure) as caught:
        calendar(server, mailbox).list_events(window)
    assert caught.value.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS
    assert_leaks_nothing(caught.value, mailbox.refresh_token, MICROSOFT_CLIENT_SECRET)


def test_calendar_select_is_v1_only_and_what_comes_back(
    workload: Workload, server: SandboxServer, mailbox: Mailbox
) -> None:
    """The sandbox refuses non-v1.0 properties as Graph does, so listing at all proves the
    connector's `$select` is v1.0; the same request with beta's `uid` added is what production
    refused (a 400, classified `request_invalid`)."""
    first = datetime.combine(workload.days[0], datetime.min.time(), UTC)
    window = SyncWindow(first, first + timedelta(days=3))
    connector = calendar(server, mailbox)
    events = connector.list_events(window)
    assert events
    assert all(set(e.payload) == {"@odata.etag", "id", *EVENT_FIELDS} for e in events)
    assert all(e.payload["iCalUId"] and "uid" not in e.payload for e in events)

    params = {
        "startDateTime": graph_time(window.start),
        "endDateTime": graph_time(window.end),
        "$select": select((*EVENT_FIELDS, "uid")),
    }
    url = connector.client.url(f"{user_path(mailbox.address)}/calendarView", params)
    with pytest.raises(ConnectionFailure) as caught:
        list(connector.client.pages(url, LIST_METHOD, PREFER_UTC))
    assert caught.value.status is ConnectionStatus.REQUEST_INVALID
    connector.close()


# ---- the Dagster resource -------------------------------------------------------------------


def test_resource_hands_out_working_connectors(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_MS_SECRET", MICROSOFT_CLIENT_SECRET)
    resource = MicrosoftGraphResource(
        graph_base_url=server.base_url + "/v1.0",
        login_base_url=server.base_url,
        client_id=MICROSOFT_CLIENT_ID,
        client_secret=dg.EnvVar("TEST_MS_SECRET"),
    )
    live = resource.process_config_and_initialize()
    saved: list[str] = []
    settings = live.settings()
    mail_connector = MICROSOFT.mail_connector(
        settings, MailboxCredentials(mailbox.address, mailbox.refresh_token, None, saved.append)
    )
    assert sorted(mail_connector.list_message_ids(window)) == sorted(
        truth_message_ids(server, mailbox, window)
    )
    calendar_connector = MICROSOFT.calendar_connector(
        settings,
        MailboxCredentials(mailbox.address, mailbox.refresh_token, saved[-1], saved.append),
    )
    events = calendar_connector.list_events(window)
    truth = server.state.truth_events(mailbox.address, window.start, window.end)
    assert sorted(e.provider_event_id for e in events) == sorted(r["event_id"] for r in truth)
    assert mail_connector.provider == calendar_connector.provider == "microsoft"


def test_resource_has_no_default_graph_url() -> None:
    with pytest.raises(Exception, match="graph_base_url"):
        MicrosoftGraphResource(client_id="c", client_secret="s")  # type: ignore[call-arg]
