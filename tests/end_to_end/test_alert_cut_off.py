"""An alert run killed mid-send by a daemon restart is sent after it, once, under the real
dagster-daemon (deploy/dagster.yaml as shipped: the default run launcher runs alert runs in the
daemon's code server, so stopping the daemon ends them). Dagster never launches a run key twice,
so the sensor must ask again under a new key."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import dagster as dg
import pytest
from end_to_end.test_broken_connection import ALERT_SUBJECT, broken_world
from end_to_end.test_recovery_backfill import DAYS, _start_daemon
from end_to_end.test_run_safety import _stop

from orchestration.demo_broken_connection import MailCatcher
from sensors.credential_failure import ALERT_MAX_RUNTIME_ENV, ENDED_UNRECORDED


class CutOffCatcher(MailCatcher):
    """Holds the first message until released, then refuses it (451): its sender died meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook)
        if not self.entered.is_set():
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 300)
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.timeout(1800)
def test_an_alert_cut_off_by_a_daemon_restart_goes_out_once_after_it(
    tmp_path: Path, warehouse_url: str
) -> None:
    inbox = CutOffCatcher()
    with broken_world(tmp_path, warehouse_url, inbox) as world:
        recovery = world.recovery
        # Production's 600 s would make the test wait ten minutes for run monitoring.
        recovery.daemon.env[ALERT_MAX_RUNTIME_ENV] = "20"
        tenant = recovery.tenant(0)
        broken = recovery.connection(tenant, "google")
        recovery.daemon.sandbox.state.revoke_refresh_tokens(broken.owner_email)
        assert recovery.run_days(tenant, DAYS[-1:]).success
        incident = recovery.registry.incidents.open_incident(tenant, broken.connection_id)
        assert incident is not None

        def alert_runs() -> list[dg.DagsterRun]:
            return recovery.instance.get_runs(
                filters=dg.RunsFilter(tags={"touchpoint/incident": str(incident.incident_id)})
            )

        proc = _start_daemon(recovery)
        try:
            recovery.daemon.wait_for("the alert at the SMTP server", inbox.entered.is_set, 420)
            _stop(proc)  # the daemon, its code server and the alert run's process
            inbox.release.set()
            (cut,) = alert_runs()
            assert inbox.messages() == []
            assert recovery.registry.incidents.notifications(incident.incident_id) == []

            # Started again, run monitoring ends the dead run (its max runtime), and the sensor
            # asks for the notification under a new key.
            proc = _start_daemon(recovery)
            recovery.daemon.wait_for(
                "run monitoring to end the cut-off run",
                lambda: recovery.instance.get_run_by_id(cut.run_id).status in ENDED_UNRECORDED,
                timeout=600,
            )
            ((recipients, alert),) = recovery.daemon.wait_for(
                "the alert email after the restart", inbox.messages, timeout=420
            )
            assert recipients == [broken.owner_email] and alert["Subject"] == ALERT_SUBJECT
            assert {r.tags["dagster/run_key"] for r in alert_runs()} == {
                f"alert:{incident.incident_id}:first",
                f"alert:{incident.incident_id}:first:lost1",
            }
            world.wait_ticks("credential_failure_sensor", 2)
            assert len(inbox.messages()) == 1
            sent = recovery.registry.incidents.notifications(incident.incident_id)
            assert [(n.kind, n.result) for n in sent] == [("first", "sent")]
        finally:
            inbox.release.set()
            _stop(proc)
