"""Where a run's wall time goes, and how many runs were in flight at once, from event times.

Pure over timestamps (seconds), so the arithmetic is tested without a daemon. A run's wall time
is RUN_STARTING (the queue hands it to the launcher) to RUN_SUCCESS/RUN_FAILURE; the time inside
our ops is the sum of its steps (STEP_START to the step's end: under the in-process executor the
steps run one after another); everything else is Dagster's: starting the worker process and
loading the code location, planning and resources before the first step, and the gaps between
and after steps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class RunTimeline:
    """One run's event times (epoch seconds)."""

    enqueued: float
    starting: float
    started: float
    """RUN_START: the worker process is up and has loaded the code location."""
    steps: tuple[tuple[float, float], ...]
    ended: float
    succeeded: bool

    @property
    def wall(self) -> float:
        return self.ended - self.starting

    @property
    def launch(self) -> float:
        """Launcher to running worker: process start, imports, loading the definitions."""
        return self.started - self.starting

    @property
    def before_first_step(self) -> float:
        # A run that failed before any step spent everything after its start in Dagster.
        first = min((s for s, _ in self.steps), default=self.ended)
        return first - self.started

    @property
    def in_ops(self) -> float:
        return sum(end - start for start, end in self.steps)

    @property
    def dagster_share(self) -> float:
        return 1 - self.in_ops / self.wall if self.wall > 0 else 0.0


def max_concurrent(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at one instant; one ending exactly when another starts does not
    overlap it (the queue frees a slot on the end, then fills it)."""
    spans = list(intervals)
    # Ends (-1) sort before starts (+1) at the same instant.
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


@dataclass(frozen=True)
class DrainFigures:
    """A whole drain: from the tick's start to the last run's end."""

    runs: int
    failed: int
    tick_to_done_s: float
    runs_per_minute: float
    median_wall_s: float
    median_launch_s: float
    median_before_first_step_s: float
    median_in_ops_s: float
    dagster_share: float
    """Dagster's time over all runs' wall time (not a mean of ratios: long runs weigh more)."""
    max_concurrent_runs: int
    median_launch_gap_s: float
    """Between one run handed to the launcher and the next: the daemon's launch pace."""


def drain_figures(tick_started: float, timelines: Sequence[RunTimeline]) -> DrainFigures:
    """The drain's figures; runs/minute counts from the tick's start, queue wait included."""
    done = max(t.ended for t in timelines)
    starts = sorted(t.starting for t in timelines)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    span = done - tick_started
    walls = sum(t.wall for t in timelines)
    return DrainFigures(
        runs=len(timelines),
        failed=sum(not t.succeeded for t in timelines),
        tick_to_done_s=span,
        runs_per_minute=len(timelines) / span * 60 if span > 0 else 0.0,
        median_wall_s=median(t.wall for t in timelines),
        median_launch_s=median(t.launch for t in timelines),
        median_before_first_step_s=median(t.before_first_step for t in timelines),
        median_in_ops_s=median(t.in_ops for t in timelines),
        dagster_share=1 - sum(t.in_ops for t in timelines) / walls if walls > 0 else 0.0,
        max_concurrent_runs=max_concurrent((t.starting, t.ended) for t in timelines),
        median_launch_gap_s=median(gaps) if gaps else 0.0,
    )
