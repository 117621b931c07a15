"""The hourly sync schedule."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.jobs import tenant_sync_job
from resources.dagster_resources import WarehouseResource
from resources.registry import ConnectionStore
from vocabulary.status import ConnectionStatus


def days_to_sync(scheduled_at: datetime) -> list[str]:
    """Today's UTC day, and yesterday's too in the first hour of a day so no late mail is missed."""
    now = scheduled_at.astimezone(UTC)
    days = [now.date()]
    if now.hour == 0:
        days.insert(0, now.date() - timedelta(days=1))
    return [d.isoformat() for d in days]


def active_tenants(connections: ConnectionStore) -> list[str]:
    """Tenants with at least one connection that is not stopped on purpose."""
    return sorted(
        {
            c.tenant_id
            for c in connections.list_connections()
            if c.status != ConnectionStatus.STOPPED.value
        }
    )


@dg.schedule(
    job=tenant_sync_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: today's partition of every active tenant (and yesterday's at 00:05).",
)
def hourly_sync_schedule(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> list[dg.RunRequest] | dg.SkipReason:
    scheduled_at = context.scheduled_execution_time or datetime.now(UTC)
    known = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
    tenants = active_tenants(ConnectionStore(warehouse.get()))
    ready = [t for t in tenants if t in known]
    if waiting := [t for t in tenants if t not in known]:
        context.log.warning(
            f"no partition yet for tenants {waiting}; tenant_partitions_sensor will add them"
        )
    if not ready:
        return dg.SkipReason("no tenant with an active connection has a partition yet")
    return _requests(ready, scheduled_at)


def _requests(tenants: list[str], scheduled_at: datetime) -> list[dg.RunRequest]:
    stamp = scheduled_at.strftime("%Y-%m-%dT%H:%M")
    return [
        dg.RunRequest(
            run_key=f"{tenant}|{day}|{stamp}",
            partition_key=tenant_day_key(tenant, day),
            tags={"touchpoint/trigger": "hourly"},
        )
        for tenant in tenants
        for day in days_to_sync(scheduled_at)
    ]
