"""The code location's shape, as a data engineer sees it in the UI, pinned by a snapshot.

Asset keys, groups, kinds, partitions, lineage, checks, jobs, schedules, sensors and resource
keys. A change here is a change users see: update the snapshot on purpose
(`pytest tests/orchestration/test_definitions_snapshot.py --snapshot-update`) and say why in the
commit.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.definitions import defs


def partitions_shape(partitions_def: dg.PartitionsDefinition | None) -> Any:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return {d.name: partitions_shape(d.partitions_def) for d in partitions_def.partitions_defs}
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic:{partitions_def.name}"
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return (
            f"time:{partitions_def.cron_schedule} {partitions_def.timezone} "
            f"end_offset={partitions_def.end_offset}"
        )
    return type(partitions_def).__name__


def definitions_shape() -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": partitions_shape(node.partitions_def),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
        }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset job
        jobs[job.name] = sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys)
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": {
            s.name: {
                "cron": s.cron_schedule,
                "timezone": s.execution_timezone,
                "job": s.job_name,
                "default_status": s.default_status.value,
            }
            for s in defs.schedules or []
        },
        "sensors": {
            s.name: {
                "type": type(s).__name__,
                "default_status": s.default_status.value,
                "interval_seconds": s.minimum_interval_seconds,
                "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            }
            for s in defs.sensors or []
        },
        "resources": sorted(defs.resources or {}),
        "executor": defs.resolve_job_def("tenant_sync_job").executor_def.name,
    }


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_definitions_match_the_snapshot(snapshot: Any) -> None:
    assert definitions_shape() == snapshot
