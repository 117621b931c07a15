"""`credential_failure_sensor`: asks `connection_alert_job` for each notification that is due.

Each tick reads incidents changed since its cursor (with an overlap for late commits), every
open incident (reminders and escalations fall due with time alone), those incidents' connections
and a count of connections per provider (never every connection: the tick grows with incidents),
asks the pure policy (alert_policy.py) what is due, and requests one run per incident and
notification kind. The run key (`alert:{incident}:{kind}`) makes Dagster launch each notification
once even when the sensor or the daemon restarts; the job records the result, after which the
policy no longer asks.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from resources.alerts.settings import AlertSettings
from resources.dagster_resources import WarehouseResource
from resources.registry.connections import ConnectionStore
from resources.registry.incident_rules import NotificationKind
from resources.registry.incidents import IncidentStore
from resources.registry.records import IncidentCursor
from resources.warehouse import Warehouse
from sensors.alert_policy import (
    Due,
    History,
    MassFailure,
    cause_of,
    due_notifications,
    mass_failures,
)
from vocabulary.status import ConnectionStatus

ALERT_JOB_NAME = "connection_alert_job"
ALERT_CONFIG_OP = "gather_alert_facts"
"""The job's first op, whose config names what to send (built here, read there)."""
ALERT_MAX_RUNTIME_ENV = "TOUCHPOINT_ALERT_MAX_RUNTIME_SECONDS"
"""An alert run takes seconds; run monitoring ends one still going after this long (default 600:
its process died with its code server), so a lost notification is asked again (`_unlost`)."""
MAX_RUNTIME_TAG = "dagster/max_runtime"
RUN_KEY_TAG = "dagster/run_key"
ENDED_UNRECORDED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
CURSOR_OVERLAP = timedelta(minutes=5)
"""Re-read incidents changed this long before the cursor: a writer's transaction can commit
after a later one, with an older `changed_at`."""


def alert_run_config(
    incident_ids: list[int], kind: str, audience: str, **mass: Any
) -> dict[str, Any]:
    config = {"incident_ids": incident_ids, "kind": kind, "audience": audience, **mass}
    return {"ops": {ALERT_CONFIG_OP: {"config": config}}}


def _request(due: Due) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=due.run_key,
        run_config=alert_run_config([due.incident_id], due.kind.value, due.audience.value),
        tags={
            "touchpoint/incident": str(due.incident_id),
            "touchpoint/notification": due.kind.value,
            MAX_RUNTIME_TAG: _alert_max_runtime(),
        },
    )


def _mass_request(burst: MassFailure) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=burst.run_key,
        run_config=alert_run_config(
            list(burst.incident_ids),
            NotificationKind.OPERATORS.value,
            "operators",
            provider=burst.provider,
            cause=burst.cause,
            share=burst.share,
            hour=f"{burst.bucket:%Y-%m-%dT%H}",
        ),
        tags={
            "touchpoint/notification": "mass_failure",
            MAX_RUNTIME_TAG: _alert_max_runtime(),
        },
    )


def alert_run_requests(
    warehouse: Warehouse,
    cursor: IncidentCursor | None,
    now: datetime,
    settings: AlertSettings,
) -> tuple[list[dg.RunRequest], IncidentCursor | None]:
    """The runs due at `now`, and the cursor for next time."""
    incidents = IncidentStore(warehouse)
    changed, next_cursor = incidents.changed_since(cursor, overlap=CURSOR_OVERLAP)
    open_now = incidents.open_incidents()
    # Open incidents as they are now win over the changed ones read a moment earlier.
    candidates = {i.incident_id: i for i in changed} | {i.incident_id: i for i in open_now}
    # Read what the incidents need, not every connection: the tick grows with incidents.
    store = ConnectionStore(warehouse)
    connections = store.get_connections(i.connection_id for i in candidates.values())
    provider_of = {i: connections[c.connection_id].provider for i, c in candidates.items()}
    can_fail = store.count_by_provider(excluding=[ConnectionStatus.STOPPED])
    picture = mass_failures(
        [(i, provider_of[i.incident_id]) for i in open_now], can_fail, now, settings
    )
    histories = {
        incident_id: History.of(found)
        for incident_id, found in incidents.notifications_of(candidates).items()
    }
    requests: list[dg.RunRequest] = []
    for burst in picture.bursts:
        # Operators heard of every incident in it already (an earlier hour's notice): quiet.
        if all(NotificationKind.OPERATORS in histories[i].sent for i in burst.incident_ids):
            continue
        requests.append(_mass_request(burst))
    for incident_id, incident in sorted(candidates.items()):
        held = (provider_of[incident_id], cause_of(incident)) in picture.held
        for due in due_notifications(
            incident,
            histories[incident_id],
            now,
            settings,
            has_admins=bool(settings.admins(incident.tenant_id)),
            held=held,
        ):
            requests.append(_request(due))
    return requests, next_cursor


@dg.sensor(
    job_name=ALERT_JOB_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests one connection_alert_job run per incident and notification due: owners at "
        "once for credential failures, after 6 h for transient ones, reminders, admins after "
        "72 h, operators for errors and mass failures, and the resolved note."
    ),
)
def credential_failure_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    cursor = IncidentCursor.decode(context.cursor) if context.cursor else None
    requests, next_cursor = alert_run_requests(
        warehouse.get(), cursor, datetime.now(UTC), AlertSettings.from_env()
    )
    requests = [_unlost(context.instance, r) for r in requests]
    if requests:
        context.log.info(f"alerts due: {', '.join(r.run_key or '' for r in requests)}")
    return dg.SensorResult(
        run_requests=requests,
        cursor=next_cursor.encode() if next_cursor else context.cursor,
    )


def _alert_max_runtime() -> str:
    return str(int(os.environ.get(ALERT_MAX_RUNTIME_ENV) or 600))


def _unlost(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.RunRequest:
    """The request under a key Dagster will still launch. A run that ended failed under the
    current key recorded nothing (a recorded failure moves the policy to the next attempt's key):
    its process was killed mid-send, as a daemon restart does to the default run launcher's runs.
    Dagster never launches a run key twice, so the notification is asked again as
    `<key>:lost<n>`; a send cut off after the server took it may then arrive twice, which beats
    never."""
    key, lost = request.run_key, 0
    while key and _ended_unrecorded(instance, key):
        lost += 1
        key = f"{request.run_key}:lost{lost}"
    return request if not lost else request.with_replaced_attrs(run_key=key)


def _ended_unrecorded(instance: dg.DagsterInstance, run_key: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: run_key}), limit=1)
    return bool(runs) and runs[0].status in ENDED_UNRECORDED
