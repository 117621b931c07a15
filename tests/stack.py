"""A whole Touchpoint stack for end-to-end tests: sandbox, warehouse, registry, Dagster instance."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from assets.emails import raw_emails
from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.demo import provider_environment
from orchestration.instance import SHIPPED_INSTANCE_CONFIG
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from orchestration.web import build_app, serving
from paths import ROOT
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.google.resource import GoogleWorkspaceResource
from resources.microsoft.resource import MicrosoftGraphResource
from resources.reconnect import ReconnectConfig, ReconnectService
from resources.reconnect_links import generate_link_key
from resources.registry import Connection, Registry
from resources.registry.crm import check_crm
from resources.registry.crm_csv import ACCOUNT_COLUMNS, CONTACT_COLUMNS, read_crm_csv
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sandbox.server import SandboxServer
from sandbox.workload.crm import export_workload_crm
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    Workload,
)

WORKLOAD_NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@dataclass
class Stack:
    sandbox: SandboxServer
    workload: Workload
    warehouse: Warehouse
    warehouse_url: str
    registry: Registry
    instance: dg.DagsterInstance
    secret_key: str
    google: GoogleWorkspaceResource
    microsoft: MicrosoftGraphResource

    @property
    def resources(self) -> dict:
        return {
            "warehouse": WarehouseResource(url=self.warehouse_url),
            "vault": CredentialVaultResource(secret_key=self.secret_key),
            "google": self.google,
            "microsoft": self.microsoft,
        }

    def connections(self, tenant_id: str) -> list[Connection]:
        return self.registry.connections.list_connections(tenant_id)

    def materialize(self, tenant_id: str, day: str, tags: dict | None = None, assets=None):
        return dg.materialize(
            assets or [raw_emails],
            partition_key=tenant_day_key(tenant_id, day),
            resources=self.resources,
            instance=self.instance,
            tags=tags,
            raise_on_error=False,
        )

    def materialize_days(
        self, assets: list, first: date, last: date, tags: dict[str, str]
    ) -> dg.ExecuteInProcessResult:
        """One run of `assets` over every tenant and the days first..last, ranged as a backfill
        or the hourly job launches it; fails the test unless it succeeds."""
        slugs = [t.slug for t in self.workload.tenants]
        result = dg.materialize(
            assets,
            resources=self.resources,
            instance=self.instance,
            tags={
                RANGE_START_TAG: str(tenant_day_key(slugs[0], first.isoformat())),
                RANGE_END_TAG: str(tenant_day_key(slugs[-1], last.isoformat())),
                **tags,
            },
        )
        assert result.success
        return result

    def load_crm(self, folder: Path) -> None:
        """The workload's CRM export (written under `folder`), loaded as `touchpoint crm load`
        loads it: the same files, checks and replacement."""
        for tenant, (accounts, contacts) in export_workload_crm(self.workload, folder).items():
            checked = check_crm(
                read_crm_csv(accounts, ACCOUNT_COLUMNS), read_crm_csv(contacts, CONTACT_COLUMNS)
            )
            assert checked.refused == ()
            self.registry.tenants.replace_crm(tenant, checked.crm)

    def truth_ids(self, tenant_id: str, day: str) -> set[tuple[str, str]]:
        """(mailbox, message id) of everything the sandbox says belongs in the tenant-day."""
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        end = start + timedelta(days=1)
        return {
            (m.address, t["id"])
            for m in self.workload.mailboxes
            if m.tenant == tenant_id
            for t in self.sandbox.state.truth(m.address, start, end)
        }

    def synced_ids(self, tenant_id: str, day: str) -> set[tuple[str, str]]:
        owners = {c.connection_id: c.owner_email for c in self.connections(tenant_id)}
        return {
            (owners[r["connection_id"]], r["provider_message_id"])
            for r in self.rows("raw_emails", tenant_id, day)
        }

    def rows(self, table: str, tenant_id: str, day: str | None = None) -> list[dict]:
        t = self.warehouse.table(table)
        query = t.select().where(t.c.tenant_id == tenant_id)
        if day is not None:
            query = query.where(t.c.partition_day == datetime.fromisoformat(day).date())
        with self.warehouse.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def fast_microsoft(base_url: str, **overrides) -> MicrosoftGraphResource:
    """The Microsoft resource pointed at the sandbox, with retry waits short enough for tests."""
    settings = {
        "login_base_url": base_url,
        "graph_base_url": base_url + "/v1.0",
        "client_id": MICROSOFT_CLIENT_ID,
        "client_secret": MICROSOFT_CLIENT_SECRET,
        "max_retry_wait_seconds": 2.0,
        "max_attempts": 8,
    }
    settings.update(overrides)
    return MicrosoftGraphResource(**settings)


def fast_google(base_url: str, **overrides) -> GoogleWorkspaceResource:
    """The Google resource pointed at the sandbox, with retry waits short enough for tests."""
    settings = {
        "base_url": base_url,
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
        "max_retry_wait_seconds": 2.0,
        "max_attempts": 8,
    }
    settings.update(overrides)
    return GoogleWorkspaceResource(**settings)


def registered(
    warehouse_url: str,
    workload: Workload,
    authorized_at: datetime = WORKLOAD_NOW - timedelta(days=1),
) -> tuple[Warehouse, Registry, str]:
    """A migrated warehouse holding the workload's tenants and connections, its registry and the
    key their tokens are encrypted with."""
    key = generate_key()
    warehouse = Warehouse(warehouse_url)
    warehouse.migrate()
    registry = Registry(warehouse, TokenCipher(key))
    for t in workload.tenants:
        registry.tenants.add_tenant(
            t.slug, t.name, t.internal_domains, t.blocked_domains, t.time_zone
        )
    for m in workload.mailboxes:
        registry.connections.add_connection(
            m.tenant,
            m.address,
            m.provider,
            m.refresh_token,
            aliases=m.aliases,
            scopes=m.scopes,
            authorized_at=authorized_at,
        )
    return warehouse, registry, key


def shipped_instance(
    tmp: Path, warehouse_url: str, secret_key: str, sandbox_url: str
) -> tuple[Path, Path, dict[str, str]]:
    """(DAGSTER_HOME holding deploy/dagster.yaml as shipped, a workspace loading the code
    location, the environment a dagster-daemon or the CLI runs with against them)."""
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(SHIPPED_INSTANCE_CONFIG, home / "dagster.yaml")
    workspace = tmp / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: orchestration.definitions\n"
        f"      working_directory: {ROOT}\n      location_name: touchpoint\n"
    )
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        TOUCHPOINT_HOME=str(tmp / "state"),
        TOUCHPOINT_WAREHOUSE_URL=warehouse_url,
        TOUCHPOINT_SECRET_KEY=secret_key,
        **provider_environment(sandbox_url),
    )
    return home, workspace, env


@contextmanager
def running_stack(
    warehouse_url: str, authorized_at: datetime | None = None, **workload_args
) -> Iterator[Stack]:
    args = {
        "seed": 11,
        "now": WORKLOAD_NOW,
        "tenants": 2,
        "mailboxes_per_tenant": 3,
        "days": 3,
        "messages_per_mailbox_per_day": 12,
    }
    args.update(workload_args)
    workload = generate_workload(**args)
    if authorized_at is None:
        warehouse, registry, key = registered(warehouse_url, workload)
    else:
        warehouse, registry, key = registered(warehouse_url, workload, authorized_at)
    with SandboxServer(workload) as sandbox, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, [t.slug for t in workload.tenants])
        yield Stack(
            sandbox,
            workload,
            warehouse,
            warehouse_url,
            registry,
            instance,
            key,
            fast_google(sandbox.base_url),
            fast_microsoft(sandbox.base_url),
        )
    warehouse.dispose()


class Clock:
    """The reconnect service's notion of now: real time plus whatever a test moved it by."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Served:
    """A running reconnect service: where it listens, its config and its clock."""

    base_url: str
    config: ReconnectConfig
    clock: Clock


@contextmanager
def serve_reconnect(
    registry: Registry,
    provider_settings: dict[str, Any],
    ttl: timedelta = timedelta(days=7),
    link_key: str | None = None,
) -> Iterator[Served]:
    """The reconnect app (`touchpoint serve`'s) on a real uvicorn server on 127.0.0.1;
    `link_key`: the one the alert job signs with, when the test sends real alerts."""
    clock = Clock()
    made: list[ReconnectConfig] = []

    def build(base_url: str):
        made.append(ReconnectConfig(link_key or generate_link_key(), ttl, base_url))
        return build_app(ReconnectService(registry, provider_settings, made[0], clock))

    with serving(build) as base_url:
        yield Served(base_url, made[0], clock)
