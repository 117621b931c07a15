"""GoogleMailConnector against the real sandbox over HTTP on 127.0.0.1 (no mocks of ours).

Faults use short Retry-After / durations so the whole file stays well under a minute. The pacer
itself is tested in tests/resources/test_rate_limit.py.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from checks import assert_leaks_nothing, mailbox_stats, truth_message_ids

from resources.google.kit import GOOGLE
from resources.google.mail_connector import GoogleMailConnector
from resources.google.mail_parsing import parse_gmail_message
from resources.google.resource import GoogleWorkspaceResource
from resources.google.settings import GoogleSettings, sandbox_env
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, Mailbox, Workload
from vocabulary.connectors import MailboxCredentials
from vocabulary.records import EmailRecord, QuarantinedRecord
from vocabulary.status import ConnectionFailure, ConnectionStatus
from vocabulary.windows import SyncWindow

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("clean_sandbox")]


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=7,
        tenants=1,
        mailboxes_per_tenant=3,
        days=2,
        messages_per_mailbox_per_day=80,
        include_today=False,
    )


def make_connector(server: SandboxServer, mailbox: Mailbox, **options: Any) -> GoogleMailConnector:
    settings = GoogleSettings(
        base_url=server.base_url,
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        **options,
    )
    return GoogleMailConnector(mailbox.address, mailbox.refresh_token, settings=settings)


# ---- listing and fetching ----------------------------------------------------------------------


def test_window_ids_equal_truth_without_drafts_spam_trash(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    expected = truth_message_ids(server, mailbox, window)
    everything = server.state.truth(mailbox.address, window.start, window.end, include_skipped=True)
    skipped = {row["id"] for row in everything} - set(expected)
    assert skipped, "the workload should hold drafts, spam or trash in this window"
    assert sorted(ids) == sorted(expected)
    assert len(ids) == len(set(ids))
    assert connector.stats.calls_by_method == {"gmail.users.messages.list": 1}
    assert connector.stats.quota_units == 5


def test_list_follows_every_page(workload: Workload, server: SandboxServer) -> None:
    """More ids than one 500-id page holds: every page is followed, nothing repeated."""
    mailbox = workload.mailboxes[1]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    base_ms = int(start.timestamp() * 1000)
    for i in range(520):
        raw = (
            f"From: Sender {i} <sender{i}@example.org>\r\nTo: {mailbox.address}\r\n"
            f"Subject: bulk {i}\r\nMessage-ID: <bulk-{i}@example.org>\r\n\r\nhi\r\n"
        ).encode()
        server.state.inject_raw(mailbox.address, raw, internal_date_ms=base_ms + i * 1000)
    window = SyncWindow(start, start + timedelta(days=1))
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert len(ids) == 520
    assert connector.stats.calls_by_method == {"gmail.users.messages.list": 2}


def test_fetches_every_message_in_batches_of_at_most_50(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    fetched = list(connector.fetch_messages(ids))
    assert [m.provider_message_id for m in fetched] == ids
    truth = {
        row["id"]: row for row in server.state.truth(mailbox.address, window.start, window.end)
    }
    for raw in fetched:
        record = parse_gmail_message(raw)
        assert isinstance(record, EmailRecord)
        row = truth[raw.provider_message_id]
        assert (record.internet_message_id, record.subject, record.from_address) == (
            row["internet_message_id"],
            row["subject"],
            row["from"],
        )
        assert record.to_addresses == row["to"] and record.cc_addresses == row["cc"]
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["largest_batch"] <= 50
    assert sandbox["batch_requests"] == math.ceil(len(ids) / 50)
    assert sandbox["api_calls"] == connector.stats.api_calls == len(ids) + 1
    assert sandbox["quota_units"] == connector.stats.quota_units == 5 * (len(ids) + 1)
    assert sandbox["token_refreshes"] == 1
    # one token refresh, one list, the batches: all seen by our counter too
    assert connector.stats.http_requests == 2 + sandbox["batch_requests"]


@pytest.mark.parametrize("framing", ["touchpoint", "library"])
def test_batch_parts_carry_no_token_of_their_own(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, framing: str
) -> None:
    """Google applies the outer batch request's Authorization to every part, so the parts leave
    it out (less to serialise); each batch still goes out signed with the current token."""
    connector = make_connector(server, mailbox, batch_framing=framing)
    ids = connector.list_message_ids(window)
    http = connector._session.http
    sent: list[tuple[Any, Any]] = []
    send = http.request

    def watch(uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kw: Any):
        sent.append((body, headers))
        return send(uri, method, body=body, headers=headers, **kw)

    http.request = watch  # type: ignore[method-assign]
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids[:60])]
    assert fetched == ids[:60]
    batches = [
        (body.decode() if isinstance(body, bytes) else body, headers)
        for body, headers in sent
        if body and "multipart" in str(headers)
    ]
    assert len(batches) == 2
    token = connector._credentials.token
    # The first batch takes the room the listing left in the quota window, so sizes vary.
    assert sum(body.count("GET /gmail/v1/users/") for body, _ in batches) == 60
    for body, headers in batches:
        assert 0 < body.count("GET /gmail/v1/users/") <= 50
        assert "authorization" not in body.lower()
        assert headers["authorization"] == f"Bearer {token}"


def test_fetches_only_the_ids_asked_for(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    """A second sync passes only the ids it lacks; nothing else may be fetched."""
    ids = truth_message_ids(server, mailbox, window)
    missing = ids[3:10]
    connector = make_connector(server, mailbox)
    fetched = [m.provider_message_id for m in connector.fetch_messages(missing + missing[:2])]
    assert fetched == missing
    assert mailbox_stats(server, mailbox)["calls_by_method"] == {"gmail.users.messages.get": 7}
    server.state.reset_stats()
    assert list(connector.fetch_messages([])) == []
    assert mailbox_stats(server, mailbox)["http_requests"] == 0


def test_vanished_message_is_not_yielded(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    mailbox = workload.mailboxes[2]
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    gone = ids[5]
    server.state.delete_message(mailbox.address, gone)
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids[:20])]
    assert gone not in fetched
    assert fetched == [i for i in ids[:20] if i != gone]
    assert connector.vanished_message_ids == [gone]


def test_real_world_message_injected_round_trips(workload: Workload, server: SandboxServer) -> None:
    mailbox = workload.mailboxes[2]
    raw = (
        b"Message-ID: <5f1e2d3c@example.de>\r\n"
        b"Date: Fri, 21 Nov 2025 11:00:00 +0100\r\n"
        b"Subject: =?UTF-8?Q?Re=3A_Angebot_f=C3=BCr_M=C3=BCnchen?=\r\n"
        b"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <J.Mueller@Example.DE>\r\n"
        b"To: Alice <Alice@Acme.example>;\r\n bob@acme.example\r\n"
        b"\r\nHallo\r\n"
    )
    injected = server.state.inject_raw(mailbox.address, raw, labels=["INBOX"])
    connector = make_connector(server, mailbox)
    (message,) = connector.fetch_messages([injected["id"]])
    record = parse_gmail_message(message)
    assert isinstance(record, EmailRecord)
    assert record.subject == "Re: Angebot für München"
    assert (record.from_name, record.from_address) == ("Jürgen Müller", "j.mueller@example.de")
    assert record.to_addresses == ["alice@acme.example", "bob@acme.example"]
    assert record.sent_at == datetime(2025, 11, 21, 10, 0, tzinfo=UTC)


# ---- credentials and permissions ----------------------------------------------------------------


def test_invalid_grant_is_invalid_credentials_and_leaks_no_secret(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "invalid_grant")
    connector = make_connector(server, mailbox)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    failure = caught.value
    assert failure.status is ConnectionStatus.INVALID_CREDENTIALS
    assert failure.cause_code == "invalid_grant"
    assert "Reconnect the mailbox" in failure.explanation
    assert_leaks_nothing(failure, mailbox.refresh_token, GOOGLE_CLIENT_SECRET)
    assert mailbox.refresh_token not in repr(connector)
    assert connector.stats.retries == 0


def test_revoked_mid_run_is_invalid_credentials(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    """The access token dies during a sync: 401 in the batch, refresh refused."""
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    access_token = connector._credentials.token
    assert access_token
    server.state.set_fault(mailbox.address, "invalid_grant")
    with pytest.raises(ConnectionFailure) as caught:
        list(connector.fetch_messages(ids))
    assert caught.value.status is ConnectionStatus.INVALID_CREDENTIALS
    assert_leaks_nothing(caught.value, mailbox.refresh_token, access_token, GOOGLE_CLIENT_SECRET)


@pytest.mark.parametrize("framing", ["touchpoint", "library"])
def test_expired_access_token_is_refreshed_and_nothing_lost(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, framing: str
) -> None:
    """The sandbox answers each batch part 401, as Google does; both framings refresh once
    and send those parts again."""
    connector = make_connector(server, mailbox, batch_framing=framing)
    ids = connector.list_message_ids(window)
    server.state.expire_access_tokens(mailbox.address)
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids)]
    assert fetched == ids
    assert mailbox_stats(server, mailbox)["token_refreshes"] == 2


@pytest.mark.parametrize(
    ("kind", "status", "cause"),
    [
        (
            "insufficient_permissions",
            ConnectionStatus.INSUFFICIENT_PERMISSIONS,
            "insufficient_permissions",
        ),
        ("account_suspended", ConnectionStatus.ACCOUNT_SUSPENDED, "mail_service_not_enabled"),
    ],
)
def test_owner_side_failures_are_classified_on_list_and_fetch(
    server: SandboxServer,
    mailbox: Mailbox,
    window: SyncWindow,
    kind: str,
    status: ConnectionStatus,
    cause: str,
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:5]
    server.state.set_fault(mailbox.address, kind)
    connector = make_connector(server, mailbox)
    with pytest.raises(ConnectionFailure) as listed:
        connector.list_message_ids(window)
    with pytest.raises(ConnectionFailure) as fetched:
        list(connector.fetch_messages(ids))
    for failure in (listed.value, fetched.value):
        assert (failure.status, failure.cause_code) == (status, cause)
        assert_leaks_nothing(failure, mailbox.refresh_token, "Mail service not enabled")
    assert connector.stats.retries == 0


# ---- throttling and outages -------------------------------------------------------------------


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def test_our_batch_framing_answers_as_the_librarys(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    """Same ids, same faults (a vanished message, broken payloads, throttled parts): our
    framing (resources/google/batch.py) and googleapiclient's BatchHttpRequest yield the same
    messages, errors and vanished ids, with the same API calls."""
    mailbox = workload.mailboxes[1]
    ids = truth_message_ids(server, mailbox, window)[:120]
    server.state.delete_message(mailbox.address, ids[7])
    results = {}
    for framing in ("touchpoint", "library"):
        server.state.set_fault(mailbox.address, "malformed", ids=ids[10:14], variant="invalid_json")
        server.state.set_fault(mailbox.address, "rate_limit", retry_after=0, count=9)
        connector = make_connector(server, mailbox, batch_framing=framing, sleep=RecordingSleep())
        fetched = list(connector.fetch_messages(ids))
        server.state.clear_faults(mailbox.address)
        results[framing] = (
            [(m.provider_message_id, m.payload, m.error) for m in fetched],
            connector.vanished_message_ids,
            connector.stats.api_calls,
        )
    ours, library = results["touchpoint"], results["library"]
    assert ours == library
    messages, vanished, _ = ours
    assert vanished == [ids[7]]
    assert [error for _, _, error in messages].count("invalid_json") == 4
    assert len(messages) == len(ids) - 1


def test_429_storm_with_retry_after_loses_nothing(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)
    assert len(ids) > 50
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=70)
    sleep = RecordingSleep()
    connector = make_connector(server, mailbox, sleep=sleep)
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids)]
    assert sorted(fetched) == sorted(ids)
    assert len(fetched) == len(set(fetched))
    assert mailbox_stats(server, mailbox)["faults_injected"] == 70
    assert connector.stats.retries == 70
    assert len([s for s in sleep.calls if s >= 1.0]) >= 2  # Retry-After honoured each round
    assert connector.stats.throttled_seconds >= 2.0


def test_rate_limited_list_is_retried(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1, count=1)
    connector = make_connector(server, mailbox)
    assert sorted(connector.list_message_ids(window)) == sorted(
        truth_message_ids(server, mailbox, window)
    )
    assert connector.stats.retries == 1
    assert connector.stats.calls_by_method == {"gmail.users.messages.list": 2}


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_window_is_ridden_out(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, status: int
) -> None:
    server.state.set_fault(mailbox.address, "server_error", status=status, duration=0.8)
    connector = make_connector(server, mailbox)
    ids = connector.list_message_ids(window)
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids)]
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert fetched == ids
    assert connector.stats.retries >= 1


def test_persistent_outage_becomes_no_service_connection(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:10]
    server.state.set_fault(mailbox.address, "server_error", status=503)
    connector = make_connector(server, mailbox, max_attempts=3)
    with pytest.raises(ConnectionFailure) as caught:
        list(connector.fetch_messages(ids))
    assert caught.value.status is ConnectionStatus.NO_SERVICE_CONNECTION
    assert caught.value.cause_code == "server_error_503"
    assert mailbox_stats(server, mailbox)["calls_by_method"] == {"gmail.users.messages.get": 30}
    assert_leaks_nothing(caught.value, mailbox.refresh_token, "currently unavailable")


def test_persistent_throttling_becomes_throttled(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=1)
    connector = make_connector(server, mailbox, max_attempts=2)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.THROTTLED,
        "rate_limited",
    )
    assert connector.stats.calls_by_method == {"gmail.users.messages.list": 2}


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "userRateLimitExceeded"), (403, "rateLimitExceeded"), (429, "rateLimitExceeded")],
)
def test_rate_limits_without_retry_after_back_off_exponentially(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, status: int, reason: str
) -> None:
    """Gmail's 403 rate-limit reasons are throttling, not a permission problem: with no
    Retry-After to honour, each retry waits about twice as long as the one before."""
    ids = truth_message_ids(server, mailbox, window)[:20]
    fault = {"status": status, "reason": reason, "retry_after": None}
    server.state.set_fault(mailbox.address, "rate_limit", count=3, **fault)
    waits: list[float] = []
    connector = make_connector(server, mailbox, sleep=waits.append)
    assert sorted(connector.list_message_ids(window)) == sorted(
        truth_message_ids(server, mailbox, window)
    )
    assert connector.stats.retries == 3
    for attempt, waited in enumerate(waits, start=1):
        ceiling = 0.5 * 2 ** (attempt - 1)  # Backoff's base doubling, jittered to 50-100%
        assert ceiling / 2 <= waited <= ceiling
    assert len(waits) == 3

    server.state.set_fault(mailbox.address, "rate_limit", count=5, **fault)  # 5 batch parts
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids)]
    assert sorted(fetched) == sorted(ids) and connector.stats.retries == 3 + 5

    server.state.set_fault(mailbox.address, "rate_limit", **fault)
    with pytest.raises(ConnectionFailure) as caught:
        make_connector(server, mailbox, sleep=waits.append, max_attempts=3).list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.THROTTLED,
        "rate_limited",
    )
    server.state.clear_faults()
    server.state.set_fault(mailbox.address, "insufficient_permissions")
    with pytest.raises(ConnectionFailure) as denied:
        make_connector(server, mailbox, sleep=waits.append).list_message_ids(window)
    assert denied.value.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS


def test_retry_after_beyond_the_cap_gives_up_at_once(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:5]
    server.state.set_fault(mailbox.address, "rate_limit", retry_after=120)
    sleep = RecordingSleep()
    connector = make_connector(server, mailbox, max_retry_wait_seconds=5.0, sleep=sleep)
    started = time.monotonic()
    with pytest.raises(ConnectionFailure) as caught:
        list(connector.fetch_messages(ids))
    assert caught.value.status is ConnectionStatus.THROTTLED
    assert sleep.calls == []
    assert time.monotonic() - started < 2.0


def test_timeouts_become_no_service_connection(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    server.state.set_fault(mailbox.address, "slow", seconds=1.0)
    connector = make_connector(server, mailbox, timeout_seconds=0.3, max_attempts=2)
    with pytest.raises(ConnectionFailure) as caught:
        connector.list_message_ids(window)
    assert (caught.value.status, caught.value.cause_code) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "timeout",
    )


# ---- quota (pacing at Gmail's own limit: tests/resources/test_rate_limit.py) ------------------


def test_a_lower_quota_shrinks_batches(
    workload: Workload, server: SandboxServer, window: SyncWindow
) -> None:
    # Not the first mailbox: the timeout test before this one leaves the sandbox handling its
    # slow calls to that mailbox for up to a second, metered in this test's window.
    mailbox = workload.mailboxes[1]
    ids = truth_message_ids(server, mailbox, window)
    server.state.set_quota(True, 100)
    connector = make_connector(server, mailbox, quota_units_per_second=100)
    assert [m.provider_message_id for m in connector.fetch_messages(ids)] == ids
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["rejected_for_quota"] == 0
    assert sandbox["largest_batch"] == 20
    assert sandbox["max_units_in_any_1s_window"] <= 100


def test_unpaced_client_is_throttled_by_the_sandbox_but_loses_nothing(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow
) -> None:
    """The control for the test above: without pacing the quota does bite."""
    ids = truth_message_ids(server, mailbox, window)
    server.state.set_quota(True, 250)
    connector = make_connector(server, mailbox, quota_units_per_second=5000, batch_size=100)
    assert sorted(m.provider_message_id for m in connector.fetch_messages(ids)) == sorted(ids)
    assert mailbox_stats(server, mailbox)["rejected_for_quota"] > 0
    assert connector.stats.retries > 0


# ---- malformed answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "raw_error", "quarantine_reason"),
    [
        ("invalid_json", "invalid_json", "invalid_json"),
        ("not_object", "not_object", "not_object"),
        ("missing_payload", None, "missing_payload"),
        ("bad_headers", None, None),
    ],
)
def test_malformed_message_never_sinks_its_batch(
    server: SandboxServer,
    mailbox: Mailbox,
    window: SyncWindow,
    variant: str,
    raw_error: str | None,
    quarantine_reason: str | None,
) -> None:
    ids = truth_message_ids(server, mailbox, window)[:12]
    broken = ids[4]
    server.state.set_fault(mailbox.address, "malformed", ids=[broken], variant=variant)
    connector = make_connector(server, mailbox)
    fetched = {m.provider_message_id: m for m in connector.fetch_messages(ids)}
    assert list(fetched) == ids
    message = fetched[broken]
    assert message.error == raw_error
    assert (message.payload is None) == (raw_error is not None)
    if raw_error:
        assert message.excerpt and len(message.excerpt) <= 500
    record = parse_gmail_message(message)
    if quarantine_reason:
        assert isinstance(record, QuarantinedRecord)
        assert record.reason == quarantine_reason
    else:
        assert isinstance(record, EmailRecord)
        assert record.from_address is None and record.sent_at is None
        assert record.header_defects
    for other in ids:
        if other != broken:
            assert isinstance(parse_gmail_message(fetched[other]), EmailRecord)


@pytest.mark.parametrize("framing", ["touchpoint", "library"])
def test_broken_json_splitting_a_utf8_character_is_still_isolated(
    workload: Workload, server: SandboxServer, framing: str
) -> None:
    """A truncated part can leave the whole multipart answer invalid UTF-8. Our framing reads
    the answer as bytes, so only that part is bad; googleapiclient's cannot read the answer at
    all, and the batch's messages are then fetched one by one."""
    mailbox = workload.mailboxes[2]
    injected = []
    for prefix in range(4):
        raw = (
            f"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <utf8-{prefix}@x>\r\n"
            f"Subject: {'a' * prefix}{'é' * 300}\r\n\r\nbody\r\n"
        ).encode()
        injected.append(server.state.inject_raw(mailbox.address, raw)["id"])
    fine = [row["id"] for row in server.state.truth(mailbox.address)[:6]]
    server.state.set_fault(mailbox.address, "malformed", ids=injected, variant="invalid_json")
    connector = make_connector(server, mailbox, batch_framing=framing)
    fetched = {m.provider_message_id: m for m in connector.fetch_messages(injected + fine)}
    assert list(fetched) == injected + fine
    assert [fetched[i].error for i in injected] == ["invalid_json"] * 4
    assert all(fetched[i].payload is not None for i in fine)
    # A token, the batch, and with the library's framing 10 single gets: one of the four
    # shifted texts always cuts a character in two.
    assert connector.stats.http_requests == 1 + 1 + (10 if framing == "library" else 0)


# ---- the Dagster resource ---------------------------------------------------------------------


def test_resource_hands_out_working_connectors(
    server: SandboxServer,
    mailbox: Mailbox,
    window: SyncWindow,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_GOOGLE_CLIENT_SECRET", GOOGLE_CLIENT_SECRET)
    resource = GoogleWorkspaceResource(
        base_url=server.base_url,
        client_id=GOOGLE_CLIENT_ID,
        client_secret=dg.EnvVar("TEST_GOOGLE_CLIENT_SECRET"),
        batch_size=25,
    ).process_config_and_initialize()
    connector = GOOGLE.mail_connector(
        resource.settings(), MailboxCredentials(mailbox.address, mailbox.refresh_token)
    )
    ids = connector.list_message_ids(window)
    assert sorted(ids) == sorted(truth_message_ids(server, mailbox, window))
    assert len(list(connector.fetch_messages(ids))) == len(ids)
    assert mailbox_stats(server, mailbox)["largest_batch"] == 25


def test_deployment_switches_come_from_the_environment(
    server: SandboxServer, mailbox: Mailbox, window: SyncWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator can go back to googleapiclient's batch framing and to answer-time charging
    without a code change; a value the switch does not know stops the load with its name."""
    for name, value in sandbox_env(server.base_url, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TOUCHPOINT_GOOGLE_BATCH_FRAMING", "library")
    monkeypatch.setenv("TOUCHPOINT_GOOGLE_QUOTA_CHARGE_AT", "answer")
    settings = GoogleWorkspaceResource.from_env().process_config_and_initialize().settings()
    assert (settings.batch_framing, settings.quota_charge_at) == ("library", "answer")
    connector = GOOGLE.mail_connector(
        settings, MailboxCredentials(mailbox.address, mailbox.refresh_token)
    )
    ids = connector.list_message_ids(window)
    assert len(list(connector.fetch_messages(ids))) == len(ids)
    monkeypatch.delenv("TOUCHPOINT_GOOGLE_BATCH_FRAMING")
    monkeypatch.delenv("TOUCHPOINT_GOOGLE_QUOTA_CHARGE_AT")
    settings = GoogleWorkspaceResource.from_env().process_config_and_initialize().settings()
    assert (settings.batch_framing, settings.quota_charge_at) == ("touchpoint", "send")
    monkeypatch.setenv("TOUCHPOINT_GOOGLE_BATCH_FRAMING", "fast")
    with pytest.raises(ValueError, match="TOUCHPOINT_GOOGLE_BATCH_FRAMING='fast'"):
        GoogleWorkspaceResource.from_env()


def test_resource_has_no_default_provider_url() -> None:
    with pytest.raises(Exception, match="base_url"):
        GoogleWorkspaceResource(client_id="c", client_secret="s")  # type: ignore[call-arg]
