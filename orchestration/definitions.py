"""The one Definitions object of the Touchpoint code location."""

from __future__ import annotations

import os

import dagster as dg

from assets.emails import raw_emails
from orchestration.jobs import email_sync_job
from orchestration.schedules import hourly_sync_schedule
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.google_resource import GoogleWorkspaceResource
from resources.settings import WAREHOUSE_URL_ENV, default_warehouse_url
from sensors.tenant_partitions import tenant_partitions_sensor


def _warehouse_url() -> str | dg.EnvVar:
    """A configured URL may carry a password, so it stays an EnvVar and never shows in config."""
    if os.environ.get(WAREHOUSE_URL_ENV):
        return dg.EnvVar(WAREHOUSE_URL_ENV)
    return default_warehouse_url()


defs = dg.Definitions(
    assets=[raw_emails],
    jobs=[email_sync_job],
    schedules=[hourly_sync_schedule],
    sensors=[tenant_partitions_sensor],
    resources={
        "warehouse": WarehouseResource(url=_warehouse_url()),
        "vault": CredentialVaultResource(secret_key=dg.EnvVar("TOUCHPOINT_SECRET_KEY")),
        "google": GoogleWorkspaceResource(
            base_url=dg.EnvVar("TOUCHPOINT_GOOGLE_BASE_URL"),
            client_id=dg.EnvVar("TOUCHPOINT_GOOGLE_CLIENT_ID"),
            client_secret=dg.EnvVar("TOUCHPOINT_GOOGLE_CLIENT_SECRET"),
        ),
    },
)
