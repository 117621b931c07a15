"""The automation condition sensor that keeps contact_engagement current.

Dagster creates a `default_automation_condition_sensor` for assets with an automation
condition, but in 1.13 it starts STOPPED (someone would have to switch it on in the UI): this
one is declared RUNNING, so the daemon evaluates contact_engagement's condition from the first
tick and its rows follow the tenant's engagements without a manual step.
"""

import dagster as dg

from assets.engagement_rollups import contact_engagement

ENGAGEMENT_AUTOMATION_INTERVAL_SECONDS = 60
"""How often the daemon evaluates the condition; a tick covers every tenant partition."""

engagement_automation_sensor = dg.AutomationConditionSensorDefinition(
    "engagement_automation_sensor",
    target=dg.AssetSelection.assets(contact_engagement),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=ENGAGEMENT_AUTOMATION_INTERVAL_SECONDS,
    description=(
        "Requests a tenant's contact_engagement once any of its engagement days or its CRM was "
        "materialized (the asset's automation condition)."
    ),
)
