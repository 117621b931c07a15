"""deploy/dagster.yaml is the one source of the instance settings: a real DagsterInstance loads
it, and the demo's (and `touchpoint dev`'s) DAGSTER_HOME gets the same queue and monitoring."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from orchestration.demo import demo_environment
from orchestration.instance import local_settings, shipped_settings, write_local_instance_config

PARTITION_TAGS = {
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
}
# Runs of one tenant, and runs calling one provider only, at most this many at once each.
FAIRNESS_LIMITS = {("touchpoint/tenant", 2), ("touchpoint/provider", 4)}


def test_the_shipped_settings_load_into_a_real_instance(tmp_path: Path) -> None:
    write_local_instance_config(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        # One run at a time per value of each partition tag; per tenant and provider, a few.
        assert {
            (limit["key"], limit["limit"], limit["value"]["applyLimitPerUniqueValue"])
            for limit in limits
        } == {(key, 1, True) for key in PARTITION_TAGS} | {
            (key, n, True) for key, n in FAIRNESS_LIMITS
        }
        assert instance.run_monitoring_enabled
        # The default run launcher cannot resume a run: resuming must stay off.
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_max_runtime_seconds > 0


def test_a_local_instance_leaves_out_what_only_a_deployment_sets(tmp_path: Path) -> None:
    shipped = tmp_path / "dagster.yaml"
    settings = {
        "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}},
        "run_launcher": {"module": "dagster_docker", "class": "DockerRunLauncher"},
        "run_monitoring": {"enabled": True},
    }
    shipped.write_text(yaml.safe_dump(settings))
    assert local_settings(shipped) == {"run_monitoring": {"enabled": True}}


def test_the_demo_instance_derives_from_the_shipped_settings(tmp_path: Path) -> None:
    env = demo_environment("http://127.0.0.1:9", datetime(2026, 11, 20, 15, tzinfo=UTC))
    written = yaml.safe_load((Path(env["DAGSTER_HOME"]) / "dagster.yaml").read_text())
    assert written == local_settings()
    for section in ("run_coordinator", "run_monitoring"):
        assert written[section] == shipped_settings()[section]
