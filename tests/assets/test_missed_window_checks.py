"""The `no_open_missed_windows` checks: WARN for the run's tenant-days with open windows of their
stream, listing connection and window; silent about other days; passing after recovery. Real
runs against the sandbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from assets.missed_window_checks import raw_emails_missed_windows, raw_meetings_missed_windows
from assets.partitions import tenant_day_key
from stack import WORKLOAD_NOW, Stack, fast_google, running_stack
from vocabulary.status import ConnectionStatus

DAYS = [(WORKLOAD_NOW - timedelta(days=n)).date().isoformat() for n in (2, 1)]
ASSETS = [raw_emails, raw_meetings, raw_emails_missed_windows, raw_meetings_missed_windows]


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def _run(stack: Stack, tenant: str, day: str) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        ASSETS,
        partition_key=tenant_day_key(tenant, day),
        resources=stack.resources,
        instance=stack.instance,
    )
    assert result.success
    return _evaluations(result)


def test_open_windows_warn_until_recovered(warehouse_url) -> None:
    with running_stack(warehouse_url, tenants=1, mailboxes_per_tenant=2) as stack:
        stack.google = fast_google(stack.sandbox.base_url, max_attempts=2)
        tenant = stack.workload.tenants[0].slug
        broken = next(c for c in stack.connections(tenant) if c.provider == "google")
        stack.sandbox.state.set_fault(broken.owner_email, "invalid_grant")

        for asset, stream in (("raw_emails", "mail"), ("raw_meetings", "calendar")):
            evaluation = _run(stack, tenant, DAYS[0])[asset]
            assert not evaluation.passed
            assert evaluation.severity == dg.AssetCheckSeverity.WARN
            (row,) = evaluation.metadata["windows_json"].value
            assert (row["connection"], row["stream"], row["owner"]) == (
                broken.connection_id,
                stream,
                broken.owner_email,
            )
            assert row["window_start"].startswith(DAYS[0])
            assert row["status"] == ConnectionStatus.INVALID_CREDENTIALS

        # A check run alone (no partition) covers every tenant-day: still warning.
        alone = dg.materialize(
            ASSETS,
            selection=dg.AssetSelection.checks(raw_emails_missed_windows),
            resources=stack.resources,
            instance=stack.instance,
        )
        assert not _evaluations(alone)["raw_emails"].passed

        stack.sandbox.state.clear_faults(broken.owner_email)
        stack.registry.health.set_status(broken.connection_id, ConnectionStatus.ACTIVE, "ok", None)
        # Another day of the tenant: the open windows of DAYS[0] are not this run's concern.
        assert all(e.passed for e in _run(stack, tenant, DAYS[1]).values())
        # The day itself, synced: its windows close and the checks pass.
        assert all(e.passed for e in _run(stack, tenant, DAYS[0]).values())
        assert stack.registry.health.missed_windows(tenant) == []
