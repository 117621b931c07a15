"""Recovers missed days through Dagster backfills, so no gap waits for a human.

Two kinds of gap, each recovered by ONE asset backfill (it shows on the Backfills page and the
backfill daemon runs it) of a tenant's days over both streams, raw and deduplicated:
- **incident**: an open incident whose connection is active again (reconnected, or healthy after
  throttling or an outage) with open missed windows: the days of those windows. Tagged
  `touchpoint/incident`. The windows close as the backfill's runs sync them (TenantSync), and the
  last one closes the incident.
- **gap** (swept on the first tick of each UTC day): tenant-days in the daily window, since the
  earliest authorization of the tenant's active connections and before today, that Dagster never
  materialized for raw_emails or raw_meetings (the daemon was down): read from the instance's
  materialized partitions, not our bookkeeping, since nothing of ours ran on those days.

Exactly once: each launch has a recovery key (`touchpoint/recovery` tag): the incident and the
moment its connection last became active (a new reconnect is a new key), or the tenant and the
UTC day of the sweep (a gap still there tomorrow is tried again tomorrow). A key is launched only
if no backfill of the instance carries it, which survives daemon restarts and a reset cursor; the
cursor keeps the gap keys and the day of the last sweep. An incident whose windows are still open
RETRY_AFTER after its last backfill (which failed, or ran out of time) gets one more.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from assets.partition_sync import TENANT_TAG
from assets.partitions import WINDOW_START, days_of, tenant_day_key, tenant_partitions
from assets.recovery_targets import (
    MAX_DAYS_ENV,
    RECOVERY_KEYS,
    TenantDays,
    recovery_max_days,
    recovery_subset,
)
from resources.dagster_resources import WarehouseResource
from resources.registry import Registry
from vocabulary.status import ConnectionStatus
from vocabulary.windows import SyncWindow

INCIDENT_TAG = "touchpoint/incident"
RECOVERY_TAG = "touchpoint/recovery"
TRIGGER_TAG = "touchpoint/trigger"
CURSOR_KEYS = 500
"""Recovery keys the cursor remembers; older ones are still found on the instance's backfills."""
RETRY_AFTER = timedelta(hours=6)
"""An incident's windows still open after its backfill finished (the backfill failed, or a
mailbox ran out of its time budget again) get another backfill this long after the last one."""


@dataclass(frozen=True)
class Recovery:
    """One backfill to launch: its key, the tenant's days and the backfill's tags."""

    key: str
    target: TenantDays
    tags: dict[str, str]

    def run_request(self) -> dg.RunRequest:
        return dg.RunRequest.for_asset_graph_subset(recovery_subset([self.target]), tags=self.tags)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def incident_recoveries(registry: Registry, cap: int) -> list[Recovery]:
    """One recovery per open incident whose connection is active with open missed windows."""
    found = []
    open_now = registry.incidents.open_incidents()
    # A few queries for all of them (not two per incident): the tick grows with incidents only.
    connections = registry.connections.get_connections(i.connection_id for i in open_now)
    # Still failing: a backfill now would only record the same windows again.
    back = [i for i in open_now if connections[i.connection_id].status == ConnectionStatus.ACTIVE]
    open_windows = registry.health.open_windows_of((i.tenant_id, i.connection_id) for i in back)
    for incident in back:
        connection = connections[incident.connection_id]
        windows = open_windows[incident.connection_id]
        days = {
            d.start.date()
            for w in windows
            for d in days_of(SyncWindow(w.window_start, w.window_end))
        }
        if not days:
            continue
        key = f"incident-{incident.incident_id}@{_stamp(connection.status_changed_at)}"
        found.append(
            Recovery(
                key,
                TenantDays.capped(incident.tenant_id, days, cap),
                {
                    TRIGGER_TAG: "reconnect_recovery",
                    INCIDENT_TAG: str(incident.incident_id),
                    RECOVERY_TAG: key,
                    TENANT_TAG: incident.tenant_id,
                },
            )
        )
    return found


def gap_recoveries(
    registry: Registry,
    tenants: Iterable[str],
    materialized: set[str],
    today: date,
    cap: int,
    *,
    window_start: date = WINDOW_START,
    taken: dict[str, set[date]] | None = None,
) -> list[Recovery]:
    """One recovery per tenant with days no run materialized (`materialized`: the keys done for
    every raw asset) since its active connections' authorization, before today, in the window.

    `taken`: tenant-days another recovery or an unfinished backfill already covers.
    """
    found = []
    # One row per tenant, counted by the database (not every connection read here).
    authorized = registry.connections.first_authorized_by_tenant(ConnectionStatus.ACTIVE)
    for tenant_id in tenants:
        if tenant_id not in authorized:
            continue
        first = max(window_start, authorized[tenant_id].astimezone(UTC).date())
        skip = (taken or {}).get(tenant_id, set())
        days = (first + timedelta(days=n) for n in range((today - first).days))
        missing = [
            day
            for day in days
            if day not in skip
            and str(tenant_day_key(tenant_id, day.isoformat())) not in materialized
        ]
        if not missing:
            continue
        key = f"gap-{tenant_id}@{today.isoformat()}"
        found.append(
            Recovery(
                key,
                TenantDays.capped(tenant_id, missing, cap),
                {TRIGGER_TAG: "gap_recovery", RECOVERY_TAG: key, TENANT_TAG: tenant_id},
            )
        )
    return found


def _unfinished_backfill_days(instance: dg.DagsterInstance) -> dict[str, set[date]]:
    """Tenant-days the daily raw assets' unfinished backfills already target."""
    taken: dict[str, set[date]] = {}
    for backfill in instance.get_backfills(status=BulkActionStatus.REQUESTED):
        data = backfill.asset_backfill_data
        if data is None:
            continue
        for key in data.target_subset.asset_keys & {raw_emails.key, raw_meetings.key}:
            for partition in data.target_subset.get_partitions_subset(key).get_partition_keys():
                day, _, tenant = str(partition).partition("|")
                # Archive months are not the daily window's days: not a gap's concern.
                if len(day) == 10 and tenant:
                    taken.setdefault(tenant, set()).add(date.fromisoformat(day))
    return taken


def _launched(instance: dg.DagsterInstance, key: str) -> bool:
    found = instance.get_backfills(filters=BulkActionsFilter(tags={RECOVERY_TAG: key}), limit=1)
    # Storage without a backfill tags index filters through the runs' tags; check the tag here.
    return any(b.tags.get(RECOVERY_TAG) == key for b in found)


def _incident_key(instance: dg.DagsterInstance, recovery: Recovery, now: datetime) -> str | None:
    """The key to launch the incident's recovery under now, or None (launched and not due).

    The first launch of a reconnect uses its key; while one of the incident's backfills is
    unfinished nothing more is launched; windows still open RETRY_AFTER after the last one
    launched get a retry (`<key>#<n>`), so a failed backfill does not leave a gap for good.
    """
    incident = recovery.tags[INCIDENT_TAG]
    previous = [
        b
        for b in instance.get_backfills(filters=BulkActionsFilter(tags={INCIDENT_TAG: incident}))
        # Storage without a backfill tags index filters through the runs' tags; check it here.
        if b.tags.get(INCIDENT_TAG) == incident
    ]
    mine = [b for b in previous if b.tags.get(RECOVERY_TAG, "").startswith(recovery.key)]
    if not mine:
        return recovery.key
    if any(b.status == BulkActionStatus.REQUESTED for b in previous):
        return None
    if now.timestamp() - max(b.backfill_timestamp for b in mine) < RETRY_AFTER.total_seconds():
        return None
    return f"{recovery.key}#{len(mine)}"


def plan(
    registry: Registry,
    instance: dg.DagsterInstance,
    now: datetime,
    remembered: set[str],
    cap: int,
    *,
    sweep: bool = True,
) -> list[Recovery]:
    """The recoveries to launch now: incidents first, then (with `sweep`) gaps on days no
    incident covers; `remembered`: gap keys already launched."""
    incidents = incident_recoveries(registry, cap)
    due = []
    for recovery in incidents:
        key = _incident_key(instance, recovery, now)
        if key is not None:
            due.append(Recovery(key, recovery.target, {**recovery.tags, RECOVERY_TAG: key}))
    if not sweep:
        return due
    taken = _unfinished_backfill_days(instance)
    for recovery in incidents:
        taken.setdefault(recovery.target.tenant_id, set()).update(recovery.target.days)
    materialized = set(instance.get_materialized_partitions(raw_emails.key)) & set(
        instance.get_materialized_partitions(raw_meetings.key)
    )
    tenants = instance.get_dynamic_partitions(tenant_partitions.name)
    today = now.astimezone(UTC).date()
    gaps = gap_recoveries(registry, tenants, materialized, today, cap, taken=taken)
    return due + [r for r in gaps if r.key not in remembered and not _launched(instance, r.key)]


@dataclass(frozen=True)
class RecoveryCursor:
    """The recent recovery keys launched, and the UTC day of the last gap sweep."""

    launched: tuple[str, ...] = ()
    swept: str | None = None

    @classmethod
    def decode(cls, text: str | None) -> RecoveryCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(tuple(data.get("launched", ())), data.get("swept"))

    def encode(self) -> str:
        return json.dumps({"launched": list(self.launched[-CURSOR_KEYS:]), "swept": self.swept})


@dg.sensor(
    asset_selection=dg.AssetSelection.assets(*RECOVERY_KEYS),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Launches one backfill per reconnected (or healthy again) connection's missed days, and "
        "one per tenant for days no run synced (daemon down); capped at "
        f"{MAX_DAYS_ENV} days each."
    ),
)
def reconnect_recovery_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    registry = Registry(warehouse.get())
    cursor = RecoveryCursor.decode(context.cursor)
    now = datetime.now(UTC)
    today = now.date()
    # Days before today only change once a day: the gap sweep (it reads every materialized
    # partition of the raw assets) runs on the first tick of each UTC day; incidents every tick.
    sweep = cursor.swept != today.isoformat()
    recoveries = plan(
        registry, context.instance, now, set(cursor.launched), recovery_max_days(), sweep=sweep
    )
    for r in recoveries:
        days = r.target.days
        context.log.info(
            f"{r.key}: backfill of tenant {r.target.tenant_id}, {len(days)} day(s) "
            f"{days[0].isoformat()}..{days[-1].isoformat()}, both streams"
        )
        if r.target.dropped:
            context.log.warning(
                f"{r.key}: {len(r.target.dropped)} older day(s) left out ({MAX_DAYS_ENV}): "
                f"{r.target.dropped[0].isoformat()}..{r.target.dropped[-1].isoformat()}; "
                "launch them with `touchpoint backfill`"
            )
    cursor = RecoveryCursor(
        (*cursor.launched, *(r.key for r in recoveries if INCIDENT_TAG not in r.tags)),
        today.isoformat() if sweep else cursor.swept,
    )
    return dg.SensorResult(
        run_requests=[r.run_request() for r in recoveries], cursor=cursor.encode()
    )
