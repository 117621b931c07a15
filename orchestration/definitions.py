"""The one Definitions object of the Touchpoint code location."""

import os

import dagster as dg

from assets.emails import emails, raw_emails
from assets.meetings import meetings, raw_meetings
from orchestration.jobs import tenant_sync_job
from orchestration.schedules import hourly_sync_schedule
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.google_resource import GoogleWorkspaceResource
from resources.microsoft_resource import MicrosoftGraphResource
from resources.settings import WAREHOUSE_URL_ENV, default_warehouse_url
from sensors.tenant_partitions import tenant_partitions_sensor


def _warehouse_url() -> str | dg.EnvVar:
    """A configured URL may carry a password, so it stays an EnvVar and never shows in config."""
    if os.environ.get(WAREHOUSE_URL_ENV):
        return dg.EnvVar(WAREHOUSE_URL_ENV)
    return default_warehouse_url()


defs = dg.Definitions(
    assets=[raw_emails, emails, raw_meetings, meetings],
    jobs=[tenant_sync_job],
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
        "microsoft": MicrosoftGraphResource(
            login_base_url=dg.EnvVar("TOUCHPOINT_MICROSOFT_LOGIN_BASE_URL"),
            graph_base_url=dg.EnvVar("TOUCHPOINT_MICROSOFT_GRAPH_BASE_URL"),
            client_id=dg.EnvVar("TOUCHPOINT_MICROSOFT_CLIENT_ID"),
            client_secret=dg.EnvVar("TOUCHPOINT_MICROSOFT_CLIENT_SECRET"),
        ),
    },
)
