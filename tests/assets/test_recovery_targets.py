"""What a back-sync targets: the newest days under the cap, daily partitions inside the window and
archive months before it, over both streams."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from assets.engagement_targets import DAILY_ENGAGEMENT_KEYS, TENANT_ENGAGEMENT_KEYS
from assets.recovery_targets import (
    ARCHIVE_ASSETS,
    DAILY_ASSETS,
    TenantDays,
    recovery_max_days,
    recovery_subset,
)

WINDOW_START = date(2026, 9, 1)


def test_the_cap_keeps_the_newest_days_and_names_the_rest() -> None:
    days = [date(2026, 11, 1) + timedelta(days=n) for n in range(10)]
    target = TenantDays.capped("acme", reversed(days), 4)
    assert target.days == tuple(days[-4:])
    assert target.dropped == tuple(days[:6])


ENGAGEMENT = {*DAILY_ENGAGEMENT_KEYS, *TENANT_ENGAGEMENT_KEYS}


def test_days_before_the_window_become_archive_months() -> None:
    target = TenantDays(
        "acme", (date(2026, 7, 30), date(2026, 8, 2), date(2026, 8, 31), date(2026, 9, 1))
    )
    assert target.daily_keys(WINDOW_START) == ["2026-09-01|acme"]
    assert target.month_keys(WINDOW_START) == ["2026-07-01|acme", "2026-08-01|acme"]

    subset = recovery_subset([target], WINDOW_START)
    assert subset.asset_keys == {a.key for a in (*DAILY_ASSETS, *ARCHIVE_ASSETS)} | ENGAGEMENT
    for asset in DAILY_ASSETS:
        keys = subset.get_partitions_subset(asset.key).get_partition_keys()
        assert set(keys) == {"2026-09-01|acme"}
    for asset in ARCHIVE_ASSETS:
        keys = subset.get_partitions_subset(asset.key).get_partition_keys()
        assert set(keys) == {"2026-07-01|acme", "2026-08-01|acme"}


def test_only_window_days_touch_only_the_daily_assets() -> None:
    subset = recovery_subset([TenantDays("acme", (date(2026, 11, 3),))], WINDOW_START)
    assert subset.asset_keys == {a.key for a in DAILY_ASSETS} | ENGAGEMENT
    # The recovered days' engagements are rebuilt, and the tenant's per-contact rollup.
    for key in DAILY_ENGAGEMENT_KEYS:
        assert set(subset.get_partitions_subset(key).get_partition_keys()) == {"2026-11-03|acme"}
    (contact,) = TENANT_ENGAGEMENT_KEYS
    assert set(subset.get_partitions_subset(contact).get_partition_keys()) == {"acme"}


def test_days_only_before_the_window_rebuild_no_engagements() -> None:
    subset = recovery_subset([TenantDays("acme", (date(2026, 7, 30),))], WINDOW_START)
    assert subset.asset_keys == {a.key for a in ARCHIVE_ASSETS}


@pytest.mark.parametrize("raw", ["0", "-3", "ten", ""])
def test_a_bad_cap_is_one_clear_error(raw: str) -> None:
    with pytest.raises(ValueError, match="TOUCHPOINT_RECOVERY_MAX_DAYS"):
        recovery_max_days(raw)


def test_the_cap_defaults_to_30(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHPOINT_RECOVERY_MAX_DAYS", raising=False)
    assert recovery_max_days() == 30
    monkeypatch.setenv("TOUCHPOINT_RECOVERY_MAX_DAYS", "5")
    assert recovery_max_days() == 5
