"""What the harness process hands the code location (a separate gRPC process) via environment.

The code location runs in Dagster's own code server, exactly as the daemon and the webserver
load Touchpoint, so the only channel is the environment it inherits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

PREFIX = "TP_SCALE_"


@dataclass(frozen=True)
class Settings:
    """Scale knobs shared by the harness and the code location."""

    tenants: int = 1000
    days: int = 730
    work_s: float = 1.0
    """Simulated provider seconds per tenant-day in each raw asset (mail, meetings)."""
    in_run_concurrency: int = 10
    """Tenant-days a multi-tenant run syncs at once (provider limits are per mailbox)."""
    shard_size: int = 100
    """Tenants per run in the sharded designs."""
    window_days: int = 90
    cohorts: int = 20
    registry_url: str = ""

    @property
    def today(self) -> date:
        return datetime.now(UTC).date()

    @property
    def start(self) -> date:
        """First day of history: `days` daily partitions end with today (end_offset=1)."""
        return self.today - timedelta(days=self.days - 1)

    @property
    def window_start(self) -> date:
        """Rolling window start: first of the month holding today - window_days.

        Month-aligned so the daily definition changes once a month, not every day, and the
        monthly archive ends exactly where the window begins.
        """
        d = self.today - timedelta(days=self.window_days)
        return d.replace(day=1)

    def to_env(self) -> dict[str, str]:
        return {
            f"{PREFIX}{k.upper()}": str(v)
            for k, v in self.__dict__.items()
        }

    @classmethod
    def from_env(cls) -> Settings:
        kwargs: dict[str, object] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = os.environ.get(f"{PREFIX}{name.upper()}")
            if raw is not None:
                kwargs[name] = type(field.default)(raw)
        return cls(**kwargs)  # type: ignore[arg-type]


def tenant_key(i: int) -> str:
    """Zero-padded so registration order, string order and shard ranges agree."""
    return f"t{i:05d}"


def cohort_key(i: int) -> str:
    return f"c{i:03d}"


def cohort_of(tenant_index: int, s: Settings) -> int:
    """Contiguous cohorts: tenants 0..n/c-1 in cohort 0, and so on."""
    per = -(-s.tenants // s.cohorts)
    return tenant_index // per
