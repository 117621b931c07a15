"""`touchpoint backfill`: stores one asset backfill on the DAGSTER_HOME instance and prints its
id and URL; refuses what cannot be launched with one line. The daemon running such a backfill
is tests/end_to_end/test_recovery_backfill.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.partition_sync import CONNECTION_TAG
from assets.partitions import WINDOW_START, tenant_partitions
from orchestration.cli import main
from resources.registry import Registry


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").touch()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("TOUCHPOINT_DAGSTER_URL", raising=False)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


@pytest.fixture
def acme(registry: Registry, instance: dg.DagsterInstance) -> dict[str, str]:
    registry.tenants.add_tenant("acme", "Acme")
    registry.tenants.add_tenant("globex", "Globex")
    ana = registry.connections.add_connection(
        "acme", "ana@acme.example", "google", "token-a", authorized_at=datetime.now(UTC)
    )
    other = registry.connections.add_connection(
        "globex", "bo@globex.example", "google", "token-b", authorized_at=datetime.now(UTC)
    )
    instance.add_dynamic_partitions(tenant_partitions.name, ["acme", "globex"])
    return {"ana": ana.connection_id, "other": other.connection_id}


def _run(warehouse_url: str, *args: str) -> int:
    return main(["--warehouse-url", warehouse_url, "backfill", *args])


def test_it_launches_one_backfill_and_prints_its_id_and_url(
    warehouse_url, acme, instance, capsys
) -> None:
    next_day = date.fromordinal(WINDOW_START.toordinal() + 1)
    code = _run(
        warehouse_url,
        "--tenant",
        "acme",
        "--connection",
        acme["ana"],
        "--from",
        WINDOW_START.isoformat(),
        "--to",
        next_day.isoformat(),
    )
    assert code == 0
    first, url = capsys.readouterr().out.strip().splitlines()
    backfill_id = first.removeprefix("backfill ")
    assert url == f"http://127.0.0.1:3000/backfills/{backfill_id}"
    (backfill,) = instance.get_backfills()
    assert backfill.backfill_id == backfill_id
    assert backfill.tags[CONNECTION_TAG] == acme["ana"]
    # The run queue's per-tenant and per-provider limits count its runs.
    assert backfill.tags["touchpoint/tenant"] == "acme"
    assert backfill.tags["touchpoint/provider"] == "google"
    subset = backfill.asset_backfill_data.target_subset
    keys = {
        k.to_user_string(): set(subset.get_partitions_subset(k).get_partition_keys())
        for k in subset.asset_keys
    }
    # Both days in the window: daily partitions of both streams (archive months are
    # tests/assets/test_recovery_targets.py's).
    days = {f"{d.isoformat()}|acme" for d in (WINDOW_START, next_day)}
    assert keys == {
        "raw_emails": days,
        "emails": days,
        "raw_meetings": days,
        "meetings": days,
        # the recovered days' engagements follow in the same backfill
        "email_engagements": days,
        "meeting_engagements": days,
        "account_engagement_daily": days,
        "contact_engagement": {"acme"},
    }


def test_the_url_base_comes_from_the_environment(warehouse_url, acme, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TOUCHPOINT_DAGSTER_URL", "https://dagster.example/")
    day = date.today().isoformat()
    assert _run(warehouse_url, "--tenant", "acme", "--from", day, "--to", day) == 0
    _, url = capsys.readouterr().out.strip().splitlines()
    assert url.startswith("https://dagster.example/backfills/")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "acme", "--from", "2026-11-05", "--to", "2026-11-01"], "before --from"),
        (["--tenant", "nobody", "--from", "2026-11-01", "--to", "2026-11-01"], "unknown tenant"),
        (["--tenant", "acme", "--from", "2020-01-01", "--to", "2020-01-02"], "first partition"),
        (["--tenant", "acme", "--from", "2026-11-01", "--to", "2999-01-01"], "in the future"),
    ],
)
def test_what_cannot_be_launched_is_one_line(
    warehouse_url, acme, instance, capsys, args, message
) -> None:
    assert _run(warehouse_url, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert instance.get_backfills() == []


def test_a_connection_of_another_tenant_is_refused(warehouse_url, acme, instance, capsys) -> None:
    day = date.today().isoformat()
    args = ["--tenant", "acme", "--connection", acme["other"], "--from", day, "--to", day]
    assert _run(warehouse_url, *args) == 2
    assert "not one of tenant acme's" in capsys.readouterr().err
    assert instance.get_backfills() == []


def test_without_dagster_home_it_says_so(warehouse_url, acme, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME")
    day = date.today().isoformat()
    assert _run(warehouse_url, "--tenant", "acme", "--from", day, "--to", day) == 2
    assert "DAGSTER_HOME" in capsys.readouterr().err
