"""The drain's arithmetic: where a run's wall time goes, and runs in flight at once."""

from __future__ import annotations

import pytest

from bench.daemon_drain.figures import RunTimeline, drain_figures, max_concurrent


def run(starting: float, steps: tuple[tuple[float, float], ...], ended: float,
        succeeded: bool = True) -> RunTimeline:
    """A run enqueued at 0 whose worker is up 2 s after the launcher got it."""
    return RunTimeline(enqueued=0.0, starting=starting, started=starting + 2, steps=steps,
                       ended=ended, succeeded=succeeded)


def test_a_runs_time_splits_into_launch_dagster_and_ops() -> None:
    r = run(10.0, ((12.5, 14.0), (14.5, 17.0)), 18.0)
    assert r.wall == 8.0
    assert r.launch == 2.0
    assert r.before_first_step == 0.5
    assert r.in_ops == 4.0
    assert r.dagster_share == pytest.approx(0.5)


def test_a_run_that_never_reached_a_step_is_all_dagster() -> None:
    r = run(10.0, (), 15.0, succeeded=False)
    assert r.in_ops == 0
    assert r.before_first_step == 3.0
    assert r.dagster_share == 1.0


def test_runs_touching_end_to_start_do_not_overlap() -> None:
    assert max_concurrent([(0, 5), (5, 10), (10, 15)]) == 1
    assert max_concurrent([(0, 5), (4, 10), (4.5, 6), (9, 12)]) == 3
    assert max_concurrent(iter([(0, 2), (1, 3)])) == 2


def test_drain_counts_from_the_tick_and_weighs_long_runs_more() -> None:
    runs = [
        run(10.0, ((12.0, 20.0),), 20.0),  # wall 10, ops 8
        run(10.0, ((12.0, 12.0),), 12.0, succeeded=False),  # wall 2, ops 0
        run(20.0, ((22.0, 28.0),), 30.0),  # wall 10, ops 6
    ]
    f = drain_figures(tick_started=0.0, timelines=runs)
    assert f.runs == 3 and f.failed == 1
    assert f.tick_to_done_s == 30.0
    assert f.runs_per_minute == pytest.approx(6.0)
    assert f.dagster_share == pytest.approx(1 - 14 / 22)
    assert f.max_concurrent_runs == 2
    assert f.median_wall_s == 10.0
    assert f.median_launch_gap_s == 5.0  # launches at 10, 10, 20
