"""The resolved note's counts (resources/alerts/facts.py) after a real outage and recovery: only
what the recovery brought, never rows the warehouse held before the incident. Real Dagster runs
against the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from resources.alerts.facts import gather_facts
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


def test_recovered_counts_leave_out_what_was_held_before_the_incident(warehouse_url) -> None:
    with running_stack(warehouse_url, tenants=1, mailboxes_per_tenant=2) as stack:
        tenant = stack.workload.tenants[0].slug
        broken = next(c for c in stack.connections(tenant) if c.provider == "google")
        both = [raw_emails, raw_meetings]
        assert stack.materialize(tenant, DAY, assets=both).success
        held_meetings = [
            r
            for r in stack.rows("raw_meetings", tenant, DAY)
            if r["connection_id"] == broken.connection_id
        ]
        assert held_meetings  # the day's calendar was synced before the break

        # The grant is revoked and the day is synced again: missed, incident open.
        stack.sandbox.state.revoke_refresh_tokens(broken.owner_email)
        assert stack.materialize(tenant, DAY, assets=both).success
        incident = stack.registry.incidents.open_incident(tenant, broken.connection_id)
        assert incident is not None
        # One message arrives while the connection is down.
        noon = datetime.fromisoformat(DAY).replace(hour=12, tzinfo=UTC)
        stack.sandbox.state.inject_raw(
            broken.owner_email,
            (
                f"From: Ann <ann@contoso.example>\r\nTo: {broken.owner_email}\r\n"
                "Subject: during the outage\r\nMessage-ID: <outage-1@contoso.example>\r\n"
                f"Date: {noon:%a, %d %b %Y %H:%M:%S +0000}\r\n\r\nhello\r\n"
            ).encode(),
        )

        # Reconnected (a new grant), then the recovery's run of the day.
        token = stack.sandbox.state.issue_refresh_token(broken.owner_email)
        stack.registry.connections.replace_refresh_token(broken.connection_id, token)
        stack.registry.health.set_status(
            broken.connection_id, ConnectionStatus.ACTIVE, "reconnected", "owner reconnected"
        )
        assert stack.materialize(tenant, DAY, assets=both, tags={"dagster/backfill": "x"}).success
        closed = stack.registry.incidents.get(incident.incident_id)
        assert closed.closed_reason == "recovered"

        facts = gather_facts(stack.warehouse, incident.incident_id)
        # The message that came during the outage; the meetings were all held already.
        assert facts.recovered == {"mail": 1, "calendar": 0}
