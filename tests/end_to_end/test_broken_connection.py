"""Issue 8's "done when", end to end under the real dagster-daemon, on SQLite and PostgreSQL.

One instance (deploy/dagster.yaml as shipped), a real SMTP server (aiosmtpd) and the reconnect
pages on uvicorn, all on 127.0.0.1, the sandbox for both providers:
revoke one mailbox's grant -> a ranged sync of its tenant's days sets invalid_credentials ->
the daemon's `credential_failure_sensor` runs `connection_alert_job`: exactly one email, with
subject, cause and Reconnect link and no secret -> the daemon is killed and started again ->
the link's consent flow over HTTP through the sandbox -> active -> `reconnect_recovery_sensor`
launches one backfill of exactly the missed days, which the daemon runs -> the warehouse equals
the sandbox's truth on those days -> the incident closes -> exactly one resolved email with the
recovered counts. No email twice, no step lost across the restart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from end_to_end.test_recovery_backfill import (
    DAYS,
    Recovery,
    _partitions,
    _start_daemon,
    recovery_stack,
)
from end_to_end.test_run_safety import _stop

from assets.partitions import tenant_day_key
from orchestration.demo_broken_connection import (
    MailCatcher,
    body_text,
    follow_reconnect_link,
    local_smtp,
    reconnect_link,
    smtp_environment,
)
from resources.reconnect_links import LINK_KEY_ENV, PUBLIC_URL_ENV, generate_link_key
from sandbox.workload.model import GOOGLE_CLIENT_SECRET, MICROSOFT_CLIENT_SECRET
from stack import Served, serve_reconnect
from vocabulary.status import ConnectionStatus

ALERT_SUBJECT = "Your Mailbox and Calendar integration needs attention"
RESOLVED_SUBJECT = "Your Mailbox and Calendar integration is working again"


@dataclass
class World:
    recovery: Recovery
    inbox: MailCatcher
    served: Served
    secrets: list[str]

    def emails(self) -> list[tuple[list[str], object]]:
        return self.inbox.messages()

    def ticks(self, sensor: str) -> int:
        instance = self.recovery.instance
        states = [s for s in instance.all_instigator_state() if s.instigator_name == sensor]
        return sum(len(instance.get_ticks(s.instigator_origin_id, s.selector_id)) for s in states)

    def wait_ticks(self, sensor: str, count: int) -> None:
        start = self.ticks(sensor)
        self.recovery.daemon.wait_for(
            f"{count} more ticks of {sensor}", lambda: self.ticks(sensor) >= start + count, 420
        )


@contextmanager
def broken_world(
    tmp_path: Path, warehouse_url: str, inbox: MailCatcher | None = None
) -> Iterator[World]:
    """One tenant (a Google and a Microsoft mailbox), the SMTP server, the reconnect pages and
    the shipped instance; the daemon not started yet."""
    link_key = generate_link_key()
    with (
        recovery_stack(tmp_path, warehouse_url, tenants=1, seed=8) as recovery,
        local_smtp(inbox) as (smtp_port, catcher),
    ):
        settings = {name: recovery.resources[name].settings() for name in ("google", "microsoft")}
        with serve_reconnect(recovery.registry, settings, link_key=link_key) as served:
            recovery.daemon.env.update(smtp_environment(smtp_port))
            recovery.daemon.env.update({LINK_KEY_ENV: link_key, PUBLIC_URL_ENV: served.base_url})
            secrets = [
                recovery.daemon.env["TOUCHPOINT_SECRET_KEY"],
                link_key,
                GOOGLE_CLIENT_SECRET,
                MICROSOFT_CLIENT_SECRET,
                *(m.refresh_token for m in recovery.workload.mailboxes),
            ]
            yield World(recovery, catcher, served, secrets)


@pytest.fixture
def world(tmp_path: Path, warehouse_url: str) -> Iterator[World]:
    with broken_world(tmp_path, warehouse_url) as found:
        yield found


def _meeting_ids(world: World, connection_id: str, day: str) -> set[str]:
    store = world.recovery.daemon.warehouse
    t = store.table("raw_meetings")
    with store.engine.connect() as conn:
        rows = conn.execute(
            t.select().where(
                t.c.connection_id == connection_id,
                t.c.partition_day == datetime.fromisoformat(day).date(),
            )
        ).all()
    return {r.provider_event_id for r in rows}


def _truth_meeting_ids(world: World, address: str, day: str) -> set[str]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    rows = world.recovery.daemon.sandbox.state.truth_events(
        address, start, start + timedelta(days=1)
    )
    return {r["event_id"] for r in rows}


@pytest.mark.timeout(2400)
def test_a_revoked_mailbox_is_reported_reconnected_and_recovered(world: World) -> None:
    recovery = world.recovery
    tenant = recovery.tenant(0)
    broken = recovery.connection(tenant, "google")
    sandbox = recovery.daemon.sandbox

    # The owner revokes the grant (at Google a password change does the same); the tenant's
    # ranged run over the three days finds out and goes on with the other mailbox.
    assert sandbox.state.revoke_refresh_tokens(broken.owner_email) >= 1
    assert recovery.run_days(tenant, DAYS).success
    found = recovery.registry.connections.get_connection(broken.connection_id)
    assert found.status is ConnectionStatus.INVALID_CREDENTIALS
    incident = recovery.registry.incidents.open_incident(tenant, broken.connection_id)
    assert incident is not None
    assert recovery.synced(tenant, DAYS[0]) != recovery.truth(tenant, DAYS[0])

    proc = _start_daemon(recovery)
    try:
        (recipients, alert) = recovery.daemon.wait_for(
            "the alert email", lambda: world.emails()[:1], timeout=420
        )[0]
        assert recipients == [broken.owner_email]
        assert alert["Subject"] == ALERT_SUBJECT
        text = body_text(alert)
        assert broken.owner_email in text and "Google" in text
        words = " ".join(text.split())
        assert "password was probably changed" in words
        # The three days of the run (and today, if the hourly schedule ticked meanwhile).
        missing = re.search(r"Missing so far: (\d+) days of mail and (\d+) days of meetings", words)
        assert missing and int(missing[1]) == int(missing[2]) >= len(DAYS)
        link = reconnect_link(alert)
        assert link.startswith(world.served.base_url + "/reconnect/")
        raw = alert.as_string()
        for secret in world.secrets:
            assert secret not in raw
        recovery.daemon.wait_for(
            "the first notification recorded",
            lambda: [
                n
                for n in recovery.registry.incidents.notifications(incident.incident_id)
                if n.kind == "first" and n.result == "sent"
            ],
        )

        # The daemon dies after the email and starts again: its sensors go on from the stored
        # cursor and run keys, so nothing is sent again.
        _stop(proc)
        proc = _start_daemon(recovery)
        world.wait_ticks("credential_failure_sensor", 2)
        assert len(world.emails()) == 1

        # The owner follows the link: page, Reconnect, the sandbox's consent, the callback.
        missed = {
            w.window_start.date().isoformat()
            for w in recovery.registry.health.missed_windows(tenant, broken.connection_id)
        }
        assert set(DAYS) <= missed
        walk = follow_reconnect_link(link)
        assert walk.consent_url.startswith(sandbox.base_url + "/o/oauth2/v2/auth?")
        assert walk.callback_url.startswith(world.served.base_url + "/oauth/callback?")
        assert walk.status == 200 and "Mailbox reconnected" in walk.page
        back = recovery.registry.connections.get_connection(broken.connection_id)
        assert back.status is ConnectionStatus.ACTIVE
        # The link works once: a second walk is refused and changes nothing.
        with requests.Session() as http:
            http.trust_env = False
            again = http.post(link, allow_redirects=False, timeout=60)
        assert again.status_code != 303 and "location" not in again.headers

        def incident_backfills():
            return [
                b
                for b in recovery.backfills()
                if b.tags.get("touchpoint/incident") == str(incident.incident_id)
            ]

        (backfill,) = recovery.daemon.wait_for("the recovery backfill", incident_backfills)
        expected = {str(tenant_day_key(tenant, d)) for d in missed}
        for name in ("raw_emails", "emails", "raw_meetings", "meetings"):
            assert _partitions(backfill)[name] == expected
        recovery.wait_done({backfill.backfill_id})

        for day in sorted(missed):
            assert recovery.truth(tenant, day)
            assert recovery.synced(tenant, day) == recovery.truth(tenant, day)
            assert _meeting_ids(world, broken.connection_id, day) == _truth_meeting_ids(
                world, broken.owner_email, day
            )
        closed = recovery.registry.incidents.get(incident.incident_id)
        assert closed.closed_reason == "recovered"

        (recipients, resolved) = recovery.daemon.wait_for(
            "the resolved email", lambda: world.emails()[1:2], timeout=420
        )[0]
        assert recipients == [broken.owner_email]
        assert resolved["Subject"] == RESOLVED_SUBJECT
        messages = sum(
            1
            for day in missed
            for (owner, _) in recovery.truth(tenant, day)
            if owner == broken.owner_email
        )
        meetings = sum(len(_truth_meeting_ids(world, broken.owner_email, day)) for day in missed)
        assert messages > 0 and meetings > 0
        words = " ".join(body_text(resolved).split())
        assert f"Recovered: {messages} messages and {meetings} meetings" in words
        for secret in world.secrets:
            assert secret not in resolved.as_string()

        # Later ticks send nothing more, and launch no other backfill for the incident.
        world.wait_ticks("credential_failure_sensor", 2)
        assert len(world.emails()) == 2
        assert len(incident_backfills()) == 1
        sent = [
            (n.kind, n.result)
            for n in recovery.registry.incidents.notifications(incident.incident_id)
        ]
        assert sorted(sent) == [("first", "sent"), ("resolved", "sent")]
    finally:
        _stop(proc)
