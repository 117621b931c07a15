"""`crm_accounts` and `crm_contacts`: each tenant's CRM, as `touchpoint crm load` left it in the
warehouse, partitioned by tenant.

The CLI is the one loader (it checks every row and replaces the tenant's CRM in one
transaction); these assets read what it loaded, so the engagement assets downstream have the
CRM in their lineage, and each materialization records the CRM's counts and a fingerprint as
its data version: equal fingerprints mean an unchanged CRM, which is how a later sensor can
tell which tenants' engagements to rebuild.
"""

import dagster as dg

from assets.partitions import tenant_partitions
from resources.dagster_resources import WarehouseResource
from resources.registry import TenantStore
from resources.registry.crm import CrmSnapshot

CRM_GROUP = "crm"
CRM_ASSET_ARGS = {
    "partitions_def": tenant_partitions,
    "group_name": CRM_GROUP,
    "kinds": {"sql", "csv"},
}
"""What both CRM assets share: one partition per tenant, the `crm` group."""


def read_partition_crm(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> CrmSnapshot:
    """The CRM of the run's tenant (the partition key is the tenant slug)."""
    return TenantStore(warehouse.get()).read_crm(context.partition_key)


@dg.asset(
    **CRM_ASSET_ARGS,
    description=(
        "The tenant's CRM accounts (account_id, name, domains), as `touchpoint crm load` loaded "
        "them into the `accounts` table."
    ),
)
def crm_accounts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    crm = read_partition_crm(context, warehouse)
    if not crm.accounts:
        context.log.warning(f"tenant {context.partition_key} has no CRM loaded")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(crm.accounts),
            "accounts_without_contacts": len(
                {a.account_id for a in crm.accounts} - {a for a, _ in crm.memberships}
            ),
            "crm_fingerprint": crm.fingerprint(),
        },
        data_version=dg.DataVersion(crm.fingerprint()),
    )


@dg.asset(
    **CRM_ASSET_ARGS,
    deps=[crm_accounts],
    description=(
        "The tenant's CRM contacts (contact_id, name, normalised email) and the accounts each "
        "belongs to (`contacts` and `account_contacts`; a contact may be in several accounts)."
    ),
)
def crm_contacts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    crm = read_partition_crm(context, warehouse)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(crm.contacts),
            "memberships": len(crm.memberships),
            "contacts_in_several_accounts": sum(len(c.account_ids) > 1 for c in crm.contacts),
            "crm_fingerprint": crm.fingerprint(),
        },
        data_version=dg.DataVersion(crm.fingerprint()),
    )
