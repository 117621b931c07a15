"""The one Definitions object of the Touchpoint code location."""

import os

import dagster as dg

from assets.crm import crm_accounts, crm_contacts
from assets.emails import archive_emails, archive_raw_emails, emails, raw_emails
from assets.engagement_checks import ENGAGEMENT_CHECKS
from assets.engagement_rollups import account_engagement_daily, contact_engagement
from assets.engagements import engagements
from assets.meetings import archive_meetings, archive_raw_meetings, meetings, raw_meetings
from assets.missed_window_checks import (
    raw_emails_missed_windows,
    raw_meetings_missed_windows,
)
from orchestration.alerts import connection_alert_job
from orchestration.jobs import tenant_sync_job
from orchestration.probe import connection_probe_job, connection_probe_schedule
from orchestration.schedules import hourly_sync_schedule
from resources.alerts.links import ReconnectLinkResource
from resources.alerts.smtp import smtp_from_env
from resources.alerts.webhook import webhook_from_env
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.providers import PROVIDERS
from resources.settings import WAREHOUSE_URL_ENV, default_warehouse_url
from sensors.credential_failure import credential_failure_sensor
from sensors.crm_change import crm_change_sensor
from sensors.engagement_automation import engagement_automation_sensor
from sensors.recovery import reconnect_recovery_sensor
from sensors.tenant_partitions import tenant_partitions_sensor


def _warehouse_url() -> str | dg.EnvVar:
    """A configured URL may carry a password, so it stays an EnvVar and never shows in config."""
    if os.environ.get(WAREHOUSE_URL_ENV):
        return dg.EnvVar(WAREHOUSE_URL_ENV)
    return default_warehouse_url()


defs = dg.Definitions(
    assets=[
        raw_emails,
        emails,
        raw_meetings,
        meetings,
        archive_raw_emails,
        archive_emails,
        archive_raw_meetings,
        archive_meetings,
        crm_accounts,
        crm_contacts,
        account_engagement_daily,
        contact_engagement,
        engagements,
    ],
    asset_checks=[raw_emails_missed_windows, raw_meetings_missed_windows, *ENGAGEMENT_CHECKS],
    jobs=[tenant_sync_job, connection_alert_job, connection_probe_job],
    schedules=[hourly_sync_schedule, connection_probe_schedule],
    sensors=[
        tenant_partitions_sensor,
        credential_failure_sensor,
        reconnect_recovery_sensor,
        crm_change_sensor,
        engagement_automation_sensor,
    ],
    # One process per run, not per step: a sync run's steps share the resources and its
    # Dagster overhead stays small. Definitions-wide, so the asset page's backfills use it too.
    executor=dg.in_process_executor,
    resources={
        "warehouse": WarehouseResource(url=_warehouse_url()),
        "vault": CredentialVaultResource(secret_key=dg.EnvVar("TOUCHPOINT_SECRET_KEY")),
        **{name: kit.resource() for name, kit in PROVIDERS.items()},
        "smtp": smtp_from_env(),
        "webhook": webhook_from_env(),
        "reconnect_links": ReconnectLinkResource.from_env(),
    },
)
