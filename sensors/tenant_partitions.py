"""Keeps the tenant partition dimension in step with the tenant registry."""

import dagster as dg

from assets.partitions import tenant_partitions
from resources.dagster_resources import WarehouseResource
from resources.registry import TenantStore


def tenant_partition_requests(
    registered: set[str], existing: set[str]
) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
    """The add/delete requests that make the partition set equal the registry's tenants."""
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added := sorted(registered - existing):
        requests.append(tenant_partitions.build_add_request(added))
    if removed := sorted(existing - registered):
        requests.append(tenant_partitions.build_delete_request(removed))
    return requests


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a tenant partition for every registered tenant and drops removed ones.",
)
def tenant_partitions_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    registered = {t.tenant_id for t in TenantStore(warehouse.get()).list_tenants()}
    existing = set(context.instance.get_dynamic_partitions(tenant_partitions.name))
    requests = tenant_partition_requests(registered, existing)
    if requests:
        context.log.info(f"tenant partitions: {requests}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
