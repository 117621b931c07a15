"""Alerts end to end on SQLite and PostgreSQL: real incidents, the real sensor evaluated against a
real Dagster instance, the real alert job, a real SMTP server (aiosmtpd) and a real HTTP server
for the operators' webhook, both on 127.0.0.1.

Reconnect links are signed by the reconnect flow (not in this branch); a test signer of the same
shape stands in for it here.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from aiosmtpd.controller import Controller

from orchestration.alerts import build_connection_alert_job
from resources.alerts.links import ReconnectLinkResource
from resources.alerts.settings import AlertSettings
from resources.alerts.smtp import SmtpResource
from resources.alerts.webhook import WebhookResource
from resources.dagster_resources import WarehouseResource
from resources.reconnect_links import read_reconnect_token
from resources.registry import NotificationKind, Registry
from sensors.credential_failure import alert_run_requests, credential_failure_sensor
from vocabulary.status import ConnectionStatus as S

K = NotificationKind
FAKE_TOKEN = "ya29.a0FAKEaccessTOKEN-0123456789abcdef"
REFRESH = "1//0gFAKE-refresh-token-never-shown"
LINK_KEY = "k" * 40
WEBHOOK_SECRET = "whsec-never-shown-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict, dict]]

    def do_POST(self) -> None:  # noqa: N802 (http.server hook)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((json.loads(body), dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as found:
        yield found


def resources_for(registry: Registry, smtp_port: int, hook: ThreadingHTTPServer) -> dict:
    return {
        "warehouse": WarehouseResource(url=registry.warehouse.url.render_as_string(False)),
        "smtp": SmtpResource(
            host="127.0.0.1",
            port=smtp_port,
            security="none",
            from_address="alerts@tp.example",
            timeout_seconds=5,
        ),
        "webhook": WebhookResource(
            url=f"http://127.0.0.1:{hook.server_address[1]}/hook", secret=WEBHOOK_SECRET
        ),
        "reconnect_links": ReconnectLinkResource(
            public_url="https://touchpoint.example", link_key=LINK_KEY
        ),
    }


JOB = build_connection_alert_job()


def run(request: dg.RunRequest, instance: dg.DagsterInstance, resources: dict):
    return JOB.execute_in_process(
        run_config=request.run_config,
        instance=instance,
        resources=resources,
        tags={**request.tags, "dagster/run_key": request.run_key or ""},
        raise_on_error=False,
    )


def add(registry: Registry, owner: str, tenant: str = "acme", provider: str = "google") -> str:
    if tenant not in {t.tenant_id for t in registry.tenants.list_tenants()}:
        registry.tenants.add_tenant(tenant, tenant.title())
    return registry.connections.add_connection(tenant, owner, provider, REFRESH).connection_id


def no_secret_in(text: str) -> None:
    for secret in (FAKE_TOKEN, "ya29", REFRESH, LINK_KEY, WEBHOOK_SECRET):
        assert secret not in text


def test_invalid_credentials_sends_exactly_one_email(
    registry: Registry,
    smtp_server,
    hook_server,
    instance: dg.DagsterInstance,
) -> None:
    controller, inbox = smtp_server
    cid = add(registry, "bob@acme.com")
    add(registry, "amy@acme.com")
    opened = datetime.now(UTC) - timedelta(minutes=3)
    registry.health.set_status(
        cid, S.INVALID_CREDENTIALS, "invalid_grant", f"token {FAKE_TOKEN} refused", at=opened
    )
    day = opened.replace(hour=0, minute=0, second=0, microsecond=0)
    registry.health.record_missed_window(
        cid, day, day + timedelta(days=1), S.INVALID_CREDENTIALS, "invalid_grant", stream="mail"
    )
    resources = resources_for(registry, controller.port, hook_server)
    context = dg.build_sensor_context(
        instance=instance, resources={"warehouse": resources["warehouse"]}
    )
    result = credential_failure_sensor(context)
    (request,) = result.run_requests
    incident = registry.incidents.open_incident("acme", cid)
    assert request.run_key == f"alert:{incident.incident_id}:first"

    outcome = run(request, instance, resources)
    assert outcome.success
    ((recipients, message),) = inbox.received
    assert recipients == ["bob@acme.com"]
    assert message["Subject"] == "Your Mailbox and Calendar integration needs attention"
    text = message.get_body(("plain",)).get_content()
    html_body = message.get_body(("html",)).get_content()
    assert "bob@acme.com" in text and "Google" in text
    assert "password was probably changed" in text.replace("\n", " ")
    assert "1 day of mail" in text
    # one link, in both parts, signed for this very connection under the link key
    (token,) = set(re.findall(r"https://touchpoint\.example/reconnect/([A-Za-z0-9_\-.]+)", text))
    assert f'href="https://touchpoint.example/reconnect/{token}"' in html_body
    assert text.count("/reconnect/") == 1
    link = read_reconnect_token(token, LINK_KEY, datetime.now(UTC), timedelta(days=7))
    assert link.connection_id == cid
    no_secret_in(message.as_string())
    (note,) = registry.incidents.notifications(incident.incident_id)
    assert (note.kind, note.channel, note.recipient, note.result) == (
        "first",
        "email",
        "bob@acme.com",
        "sent",
    )
    # nothing of the token in the run's logs or metadata either
    for event in instance.all_logs(outcome.run_id):
        no_secret_in(str(event))

    # the next tick, a fresh cursor, and the same cursor again: nothing more to send
    assert (
        credential_failure_sensor(
            dg.build_sensor_context(
                instance=instance,
                cursor=result.cursor,
                resources={"warehouse": resources["warehouse"]},
            )
        ).run_requests
        == []
    )
    assert (
        credential_failure_sensor(
            dg.build_sensor_context(
                instance=instance, resources={"warehouse": resources["warehouse"]}
            )
        ).run_requests
        == []
    )
    # the run carries its run key in the instance: the daemon skips a request with the same one
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/run_key": request.run_key}))
    assert len(runs) == 1


def test_evaluating_twice_before_the_run_asks_with_the_same_run_key(
    registry: Registry, instance: dg.DagsterInstance
) -> None:
    cid = add(registry, "bob@acme.com")
    registry.health.set_status(cid, S.ACCOUNT_SUSPENDED, "suspended", "x")
    resources = {"warehouse": WarehouseResource(url=registry.warehouse.url.render_as_string(False))}
    first = credential_failure_sensor(
        dg.build_sensor_context(instance=instance, resources=resources)
    )
    again = credential_failure_sensor(
        dg.build_sensor_context(instance=instance, cursor=first.cursor, resources=resources)
    )
    fresh = credential_failure_sensor(
        dg.build_sensor_context(instance=instance, resources=resources)
    )
    keys = [[r.run_key for r in result.run_requests] for result in (first, again, fresh)]
    assert keys[0] == keys[1] == keys[2] and len(keys[0]) == 1


def test_reminders_escalation_and_transient_notice_with_time_controlled(
    registry: Registry,
    smtp_server,
    hook_server,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller, inbox = smtp_server
    monkeypatch.setenv("TOUCHPOINT_TENANT_ADMINS", "acme=it@acme.com,cfo@acme.com")
    settings = AlertSettings.from_env()
    t0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    bob = add(registry, "bob@acme.com")
    amy = add(registry, "amy@acme.com")
    registry.health.set_status(bob, S.INVALID_CREDENTIALS, "invalid_grant", FAKE_TOKEN, at=t0)
    registry.health.set_status(amy, S.THROTTLED, "rate_limited", FAKE_TOKEN, at=t0)
    for day in range(3):
        start = datetime(2026, 11, 20 + day, tzinfo=UTC)
        for stream in ("mail", "calendar"):
            registry.health.record_missed_window(
                bob,
                start,
                start + timedelta(days=1),
                S.INVALID_CREDENTIALS,
                "invalid_grant",
                stream=stream,
                at=t0,
            )
    resources = resources_for(registry, controller.port, hook_server)
    wh = registry.warehouse

    def tick(hours: float) -> list[str]:
        requests, _ = alert_run_requests(wh, None, t0 + timedelta(hours=hours), settings)
        for request in requests:
            assert run(request, instance, resources).success
        return [r.run_key.split(":", 2)[2] for r in requests]

    assert tick(0) == ["first"]
    assert tick(5) == []
    assert tick(6) == ["transient_persisting"]
    assert tick(23) == []
    assert tick(24) == ["reminder_24h", "reminder_24h"]
    assert tick(72) == ["escalation", "escalation"]
    assert tick(100) == []
    subjects = [m["Subject"] for _, m in inbox.received]
    assert subjects.count("Your Mailbox and Calendar integration needs attention") == 2
    escalations = [(r, m) for r, m in inbox.received if m["Subject"].startswith("Still")]
    recipients, message = next(e for e in escalations if e[1]["To"] == "bob@acme.com")
    assert sorted(recipients) == ["bob@acme.com", "cfo@acme.com", "it@acme.com"]
    assert message["Cc"] == "it@acme.com, cfo@acme.com"
    text = message.get_body(("plain",)).get_content()
    assert "3 days of mail and 3 days of meetings" in text
    throttled = next(m for r, m in inbox.received if r == ["amy@acme.com"])
    assert "fewer connected apps" in throttled.get_body(("plain",)).get_content().replace("\n", " ")
    for _, m in inbox.received:
        no_secret_in(m.as_string())


def test_sync_error_goes_to_the_webhook_only(
    registry: Registry, smtp_server, hook_server, instance: dg.DagsterInstance
) -> None:
    controller, inbox = smtp_server
    cid = add(registry, "bob@acme.com")
    registry.health.set_status(cid, S.SYNC_ERROR, "token_undecryptable", FAKE_TOKEN)
    resources = resources_for(registry, controller.port, hook_server)
    requests, _ = alert_run_requests(registry.warehouse, None, datetime.now(UTC), AlertSettings())
    (request,) = requests
    assert run(request, instance, resources).success
    assert inbox.received == []
    ((payload, headers, body),) = hook_server.received
    assert (payload["kind"], payload["status"], payload["cause_code"], payload["mailbox"]) == (
        "operators",
        "sync_error",
        "token_undecryptable",
        "bob@acme.com",
    )
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Touchpoint-Signature"] == f"sha256={expected}"
    no_secret_in(body.decode())
    (note,) = registry.incidents.notifications(payload["incident_id"])
    assert (note.channel, note.recipient, note.result) == ("webhook", "operators", "sent")


def test_an_invalid_client_secret_is_one_operators_alert_and_no_owner_email(
    registry: Registry, smtp_server, hook_server, instance: dg.DagsterInstance
) -> None:
    controller, inbox = smtp_server
    now = datetime.now(UTC)
    google = [add(registry, f"user{n}@acme.com") for n in range(6)]
    add(registry, "ms@acme.com", provider="microsoft")
    for n, cid in enumerate(google):
        registry.health.set_status(
            cid,
            S.INVALID_CREDENTIALS,
            "invalid_client",
            FAKE_TOKEN,
            at=now - timedelta(minutes=30 - n),
        )
    resources = resources_for(registry, controller.port, hook_server)
    for _ in range(2):  # the next tick asks for the same hour's notice, already recorded
        requests, _ = alert_run_requests(registry.warehouse, None, now, AlertSettings())
        for request in requests:
            assert request.run_key.startswith("mass:google:invalid_client:")
            assert run(request, instance, resources).success
    assert inbox.received == []
    ((payload, _, body),) = hook_server.received
    assert (payload["event"], payload["provider"], payload["connections"]) == (
        "touchpoint.mass_failure",
        "Google Workspace",
        6,
    )
    no_secret_in(body.decode())
    # hours later the incidents are still open and owners still wait
    later, _ = alert_run_requests(
        registry.warehouse, None, now + timedelta(hours=5), AlertSettings()
    )
    assert later == []


def test_a_refusing_smtp_server_is_retried_and_the_failure_recorded(
    registry: Registry, hook_server, instance: dg.DagsterInstance
) -> None:
    cid = add(registry, "bob@acme.com")
    registry.health.set_status(cid, S.INVALID_CREDENTIALS, "invalid_grant", FAKE_TOKEN)
    inbox = Inbox()
    port = free_port()
    stopped = Controller(inbox, hostname="127.0.0.1", port=port)
    stopped.start()
    stopped.stop()  # a server that was there and is gone: connections are refused
    resources = resources_for(registry, port, hook_server)
    (request,) = alert_run_requests(registry.warehouse, None, datetime.now(UTC), AlertSettings())[0]
    outcome = run(request, instance, resources)
    assert not outcome.success
    retries = [e for e in outcome.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2
    incident = registry.incidents.open_incident("acme", cid)
    (note,) = registry.incidents.notifications(incident.incident_id)
    assert (note.kind, note.result, note.error_code) == ("first", "failed", "smtp_unreachable")
    assert not registry.incidents.notification_sent(incident.incident_id, K.FIRST)
    # the sensor asks again, in a new run (a new run key)
    (again,) = alert_run_requests(registry.warehouse, None, datetime.now(UTC), AlertSettings())[0]
    assert again.run_key == f"alert:{incident.incident_id}:first:1"
    for event in instance.all_logs(outcome.run_id):
        no_secret_in(str(event))
