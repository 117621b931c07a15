"""The one Definitions object of the Touchpoint code location."""

from __future__ import annotations

import dagster as dg
from resources.google_resource import GoogleWorkspaceResource

from assets.emails import raw_emails
from orchestration.jobs import email_sync_job
from orchestration.schedules import hourly_sync_schedule
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.settings import default_warehouse_url
from sensors.tenant_partitions import tenant_partitions_sensor

defs = dg.Definitions(
    assets=[raw_emails],
    jobs=[email_sync_job],
    schedules=[hourly_sync_schedule],
    sensors=[tenant_partitions_sensor],
    resources={
        "warehouse": WarehouseResource(url=default_warehouse_url()),
        "vault": CredentialVaultResource(secret_key=dg.EnvVar("TOUCHPOINT_SECRET_KEY")),
        "google": GoogleWorkspaceResource(
            base_url=dg.EnvVar("TOUCHPOINT_GOOGLE_BASE_URL"),
            client_id=dg.EnvVar("TOUCHPOINT_GOOGLE_CLIENT_ID"),
            client_secret=dg.EnvVar("TOUCHPOINT_GOOGLE_CLIENT_SECRET"),
        ),
    },
)
