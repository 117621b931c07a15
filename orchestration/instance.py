"""The Dagster instance settings the project ships (deploy/dagster.yaml), and the local
instance the demo and `touchpoint dev` derive from them.

One source: the run queue's limits and run monitoring are the same locally and in production;
only where Dagster keeps its records and how it launches runs are left to each deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SHIPPED_INSTANCE_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
PRODUCTION_INSTANCE_CONFIG = SHIPPED_INSTANCE_CONFIG.with_name("dagster.production.yaml")
"""Production's instance: the shipped settings plus the deployment-only sections below."""

DEPLOYMENT_ONLY = (
    "storage",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "compute_logs",
    "local_artifact_storage",
    "run_launcher",
    "run_retries",
)
"""Sections a local instance leaves out: the demo keeps Dagster's local storage under its
DAGSTER_HOME and the default run launcher, whatever production configures, and does not retry
failed runs (a developer wants to see the failure, not a second run)."""


def shipped_settings(path: Path = SHIPPED_INSTANCE_CONFIG) -> dict[str, Any]:
    """deploy/dagster.yaml as a mapping."""
    return yaml.safe_load(path.read_text()) or {}


def local_settings(path: Path = SHIPPED_INSTANCE_CONFIG) -> dict[str, Any]:
    """The shipped settings without the deployment-only sections."""
    return {k: v for k, v in shipped_settings(path).items() if k not in DEPLOYMENT_ONLY}


def write_local_instance_config(dagster_home: Path) -> Path:
    """Writes `dagster_home`/dagster.yaml from the shipped settings (every time, so a demo
    folder made by older code gets today's queue limits and run monitoring)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    header = f"# written by touchpoint from {SHIPPED_INSTANCE_CONFIG.name} in deploy/; edit that\n"
    target.write_text(header + yaml.safe_dump(local_settings(), sort_keys=False))
    return target
