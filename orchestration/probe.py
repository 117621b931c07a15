"""The connection probe as Dagster runs it: `connection_probe_job` (one op, retried) launched by
`connection_probe_schedule` every `TOUCHPOINT_PROBE_INTERVAL_MINUTES` (15), so a broken mailbox
is found within that interval even between hourly syncs. The round itself is resources/probe.py.
"""

import os
from datetime import timedelta

import dagster as dg

from assets.partition_sync import SYNC_RESOURCE_KEYS, sync_resources
from orchestration.schedules import UNFINISHED
from resources.probe import ConnectionProbe, ProbeReport

PROBE_INTERVAL_ENV = "TOUCHPOINT_PROBE_INTERVAL_MINUTES"
DEFAULT_PROBE_INTERVAL_MINUTES = 15
PROBE_CONCURRENCY_ENV = "TOUCHPOINT_PROBE_CONCURRENCY"
DEFAULT_PROBE_CONCURRENCY = 32
"""Probes in flight at once. A probe mostly waits on the network (two round trips), so 32
threads keep ~10,000 connections well inside 15 minutes (docs/benchmarks.md)."""
PROBE_BUDGET_SECONDS = 60.0
"""One connection's retries and waits in a round: a throttled mailbox gives up and is asked
again next round, leaving its status as it was."""
PROBE_MAX_RUNTIME = timedelta(hours=1)
"""Run monitoring fails a probe run still going after this (a dead worker would otherwise keep
the schedule skipping: it launches no round while one is unfinished)."""


def _positive_int(env: str, default: int) -> int:
    raw = os.environ.get(env, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{env}={raw!r} is not a positive whole number")
    return int(raw)


def probe_interval_minutes() -> int:
    """The probe's interval; it must divide an hour so the cron `*/N` ticks evenly."""
    minutes = _positive_int(PROBE_INTERVAL_ENV, DEFAULT_PROBE_INTERVAL_MINUTES)
    if 60 % minutes:
        raise ValueError(f"{PROBE_INTERVAL_ENV}={minutes} does not divide 60 minutes")
    return minutes


def probe_concurrency() -> int:
    return _positive_int(PROBE_CONCURRENCY_ENV, DEFAULT_PROBE_CONCURRENCY)


def report_metadata(report: ProbeReport) -> dict[str, dg.MetadataValue]:
    """The round's counts as run metadata (no addresses, tokens or provider text)."""
    return {
        "connections": dg.MetadataValue.int(report.connections),
        "probed": dg.MetadataValue.int(report.probed),
        "skipped_recently_synced": dg.MetadataValue.int(report.skipped_recently_synced),
        "skipped_needs_reconnect": dg.MetadataValue.int(report.skipped_needs_reconnect),
        "skipped_stopped": dg.MetadataValue.int(report.skipped_stopped),
        "healthy": dg.MetadataValue.int(report.healthy),
        "out_of_time": dg.MetadataValue.int(report.out_of_time),
        "status_changes": dg.MetadataValue.int(report.status_changes),
        "back_to_active": dg.MetadataValue.int(report.back_to_active),
        "failures_by_status": dg.MetadataValue.json(
            dict(sorted(report.failures_by_status.items()))
        ),
        "probes_per_second": dg.MetadataValue.float(round(report.probes_per_second, 1)),
        "seconds": dg.MetadataValue.float(round(report.seconds, 1)),
    }


@dg.op(
    required_resource_keys=SYNC_RESOURCE_KEYS,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "Ask every connection not synced within the interval the cheapest authenticated question "
        "its provider has; record failures as statuses (history, incidents)."
    ),
)
def probe_connections(context: dg.OpExecutionContext) -> dg.Output[None]:
    _, registry, factory = sync_resources(context.resources)
    probe = ConnectionProbe(
        registry,
        factory,
        interval=timedelta(minutes=probe_interval_minutes()),
        concurrency=probe_concurrency(),
        budget_seconds=PROBE_BUDGET_SECONDS,
        log=context.log,
    )

    def progress(report: ProbeReport, remaining: int) -> None:
        # Long rounds (thousands of connections) say how far they are.
        context.log.info(
            f"probed {report.probed}, {remaining} to go, {report.probes_per_second:.0f}/s, "
            f"failures so far {dict(report.failures_by_status)}"
        )

    report = probe.run(progress=progress)
    context.log.info(
        f"probe round: {report.probed} probed in {report.seconds:.1f}s, "
        f"{report.status_changes} status change(s), failures {dict(report.failures_by_status)}"
    )
    return dg.Output(None, metadata=report_metadata(report))


connection_probe_job = dg.GraphDefinition(
    name="connection_probe_job",
    node_defs=[probe_connections],
    description="One probe round over every connection (see connection_probe_schedule).",
).to_job(tags={"dagster/max_runtime": str(int(PROBE_MAX_RUNTIME.total_seconds()))})


@dg.schedule(
    job=connection_probe_job,
    cron_schedule=f"*/{probe_interval_minutes()} * * * *",
    execution_timezone="UTC",
    description="A probe round every TOUCHPOINT_PROBE_INTERVAL_MINUTES (15), one at a time.",
)
def connection_probe_schedule(context: dg.ScheduleEvaluationContext):
    """A run per tick, unless the previous round is still going (rounds never pile up)."""
    unfinished = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=connection_probe_job.name, statuses=UNFINISHED), limit=1
    )
    if unfinished:
        return dg.SkipReason("the previous probe round is still running")
    return dg.RunRequest(run_key=None)
