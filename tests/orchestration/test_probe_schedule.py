"""connection_probe_schedule ticks every 15 minutes and its run completes against a real instance:
the revoked mailbox gets its status, the run's metadata counts the round; a tick while a round
is unfinished launches nothing."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.probe import connection_probe_job, connection_probe_schedule
from stack import running_stack
from vocabulary.status import ConnectionStatus


@pytest.fixture
def stack(warehouse_url):
    with running_stack(
        warehouse_url,
        mailboxes_per_tenant=2,
        days=1,
        messages_per_mailbox_per_day=1,
        providers=("google", "microsoft"),
    ) as s:
        yield s


def test_the_schedule_launches_a_probe_run_that_records_a_revoked_mailbox(stack):
    assert connection_probe_schedule.cron_schedule == "*/15 * * * *"
    tenant = stack.workload.tenants[0].slug
    revoked = next(c for c in stack.connections(tenant) if c.provider == "microsoft")
    stack.sandbox.state.set_fault(revoked.owner_email, "invalid_grant")

    context = dg.build_schedule_context(instance=stack.instance)
    request = connection_probe_schedule(context)
    assert isinstance(request, dg.RunRequest)
    result = connection_probe_job.execute_in_process(
        resources=stack.resources, instance=stack.instance, tags=request.tags
    )
    assert result.success

    got = stack.registry.connections.get_connection(revoked.connection_id)
    assert got.status is ConnectionStatus.INVALID_CREDENTIALS
    assert stack.registry.incidents.open_incident(tenant, revoked.connection_id) is not None
    (output,) = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = {k: v.value for k, v in output.event_specific_data.metadata.items()}
    assert metadata["probed"] == len(stack.workload.mailboxes)
    assert metadata["failures_by_status"] == {"invalid_credentials": 1}
    assert metadata["status_changes"] == 1
    # nothing of the token or the provider's text in the run's logs
    token = stack.registry.connections.refresh_token(revoked.connection_id)
    logs = [r.user_message for r in stack.instance.all_logs(result.run_id)]
    assert not [m for m in logs if token in m or "AADSTS" in m]


def test_no_tick_while_a_round_is_unfinished(stack):
    stack.instance.create_run_for_job(
        job_def=connection_probe_job, status=dg.DagsterRunStatus.STARTED
    )
    skipped = connection_probe_schedule(dg.build_schedule_context(instance=stack.instance))
    assert isinstance(skipped, dg.SkipReason)
