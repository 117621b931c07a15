"""`connection_alert_job`: gather an incident's facts, then compose, deliver and record the
notification the sensor asked for (sensors/credential_failure.py).

Two ops: the facts (plain ids, counts and times) are what passes between them; the message with
its signed Reconnect link exists only inside the delivering op, so no link or token is ever
stored as an op output. A failed delivery is retried by Dagster's RetryPolicy; the last attempt
records the failure (our own error code) before failing the run.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from resources.alerts.facts import AlertFacts, gather_facts
from resources.alerts.links import ReconnectLinkResource
from resources.alerts.messages import compose_email, incident_payload, mass_failure_payload
from resources.alerts.settings import AlertSettings
from resources.alerts.smtp import DeliveryError, SmtpResource
from resources.alerts.webhook import WebhookResource
from resources.dagster_resources import WarehouseResource
from resources.providers import provider_kit
from resources.registry.incident_rules import (
    NotificationChannel,
    NotificationKind,
    NotificationResult,
)
from resources.registry.incidents import IncidentStore
from sensors.credential_failure import ALERT_CONFIG_OP, ALERT_JOB_NAME

ALERT_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=1, backoff=dg.Backoff.EXPONENTIAL)
"""Bridges a brief SMTP or webhook hiccup; a longer outage fails the run, and the sensor asks
again in a new run (at most three runs per notification)."""


class AlertConfig(dg.Config):
    """What to send: built by the sensor (`alert_run_config`)."""

    incident_ids: list[int]
    kind: str
    audience: str
    provider: str = ""
    """Set for a mass failure: the provider whose connections fail alike."""
    cause: str = ""
    share: float = 0.0
    hour: str = ""


@dataclass(frozen=True)
class AlertPlan:
    kind: NotificationKind
    audience: str
    facts: tuple[AlertFacts, ...]
    mass: dict | None
    """The mass failure's webhook payload, when this run is one."""


@dg.op(name=ALERT_CONFIG_OP, description="Reads the incident's facts (no secret among them).")
def gather_alert_facts(
    context: dg.OpExecutionContext, config: AlertConfig, warehouse: WarehouseResource
) -> AlertPlan:
    kind = NotificationKind(config.kind)
    wh = warehouse.get()
    if config.provider:
        payload = mass_failure_payload(
            provider_label=provider_kit(config.provider).label,
            cause=config.cause,
            incident_ids=config.incident_ids,
            share=config.share,
            hour=config.hour,
        )
        return AlertPlan(kind, config.audience, (), payload)
    facts = tuple(gather_facts(wh, i) for i in config.incident_ids)
    context.add_output_metadata({"incidents": len(facts), "kind": kind.value})
    return AlertPlan(kind, config.audience, facts, None)


def _deliver(
    plan: AlertPlan,
    smtp: SmtpResource,
    webhook: WebhookResource,
    links: ReconnectLinkResource,
    now: datetime,
) -> list[tuple[int, NotificationChannel, str]]:
    """Send the notification; returns (incident, channel, recipient) of what went out."""
    if plan.mass is not None:
        webhook.post(plan.mass)
        return [(i, NotificationChannel.WEBHOOK, webhook.name) for i in plan.mass["incident_ids"]]
    delivered = []
    for facts in plan.facts:
        if plan.audience == "operators":
            webhook.post(incident_payload(facts, plan.kind))
            delivered.append((facts.incident_id, NotificationChannel.WEBHOOK, webhook.name))
            continue
        link = None
        if plan.kind is not NotificationKind.RESOLVED:
            link = links.link(facts.connection_id, now)
        cc = ()
        if plan.kind is NotificationKind.ESCALATION:
            cc = AlertSettings.from_env().admins(facts.tenant_id)
        message = compose_email(
            facts, plan.kind, sender=smtp.from_address, to=facts.mailbox, cc=cc, link=link
        )
        smtp.send(message)
        for recipient in (facts.mailbox, *cc):
            delivered.append((facts.incident_id, NotificationChannel.EMAIL, recipient))
    return delivered


def _recipients(plan: AlertPlan, webhook: WebhookResource) -> list[tuple[int, str, str]]:
    """Who the notification was for (to record a failure against)."""
    if plan.mass is not None:
        return [(i, NotificationChannel.WEBHOOK, webhook.name) for i in plan.mass["incident_ids"]]
    if plan.audience == "operators":
        return [(f.incident_id, NotificationChannel.WEBHOOK, webhook.name) for f in plan.facts]
    return [(f.incident_id, NotificationChannel.EMAIL, f.mailbox) for f in plan.facts]


def build_connection_alert_job() -> dg.JobDefinition:
    """The alert job (ops built here so tests can build a fresh job definition)."""

    @dg.op(retry_policy=ALERT_RETRY_POLICY, description="Composes, sends and records.")
    def deliver_alert(
        context: dg.OpExecutionContext,
        plan: AlertPlan,
        warehouse: WarehouseResource,
        smtp: SmtpResource,
        webhook: WebhookResource,
        reconnect_links: ReconnectLinkResource,
    ) -> None:
        incidents = IncidentStore(warehouse.get())
        now = datetime.now(UTC)
        try:
            delivered = _deliver(plan, smtp, webhook, reconnect_links, now)
        except DeliveryError as exc:
            context.log.warning(f"{plan.kind.value} not delivered: {exc.code}")
            if context.retry_number < ALERT_RETRY_POLICY.max_retries:
                raise
            # The last attempt: record the failure (one time per run, so the policy counts
            # failed runs), then fail the run so the UI shows it.
            for incident_id, channel, recipient in _recipients(plan, webhook):
                incidents.record_notification(
                    incident_id,
                    plan.kind,
                    channel,
                    recipient,
                    NotificationResult.FAILED,
                    error_code=exc.code,
                    at=now,
                )
            raise dg.Failure(
                description=f"{plan.kind.value} not delivered ({exc.code})",
                metadata={"error_code": exc.code},
                allow_retries=False,
            ) from None
        for incident_id, channel, recipient in delivered:
            incidents.record_notification(
                incident_id, plan.kind, channel, recipient, NotificationResult.SENT, at=now
            )
        context.add_output_metadata(
            {"kind": plan.kind.value, "delivered": len(delivered), "audience": plan.audience}
        )

    @dg.job(
        name=ALERT_JOB_NAME,
        description="Sends one incident notification (email or operators' webhook) and records it.",
        # Never retried as a whole by the instance's run retries (deploy/dagster.production.yaml):
        # a run lost mid-send is asked for again by the sensor (`<key>:lost<n>`), and a retry
        # besides would send the notice twice.
        tags={"touchpoint/alerts": "true", "dagster/max_retries": "0"},
    )
    def connection_alert_job() -> None:
        deliver_alert(gather_alert_facts())

    return connection_alert_job


connection_alert_job = build_connection_alert_job()
"""The deployment's alert job; its Reconnect links are signed by resources/reconnect_links.py."""
