"""deploy/ agrees with itself: the production instance file, the docker-compose file, the
Dockerfile, the workspace and the Helm values name the same services, variables, module, ports
and instance settings. Docker and Kubernetes are not on the CI machine, so the files are parsed;
the production instance file is also loaded into a real DagsterInstance on PostgreSQL, and
tests/deploy/test_production_processes.py runs the compose file's commands for real."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from orchestration.instance import (
    PRODUCTION_INSTANCE_CONFIG,
    SHIPPED_INSTANCE_CONFIG,
    local_settings,
    shipped_settings,
)
from paths import ROOT
from resources.google.settings import ENV_VARS as GOOGLE_ENV
from resources.microsoft.settings import ENV_VARS as MICROSOFT_ENV
from resources.settings import SECRET_KEY_ENV, WAREHOUSE_URL_ENV

DEPLOY = ROOT / "deploy"
DAGSTER_PROCESSES = ("code", "webserver", "daemon")
LOCATION = "touchpoint"
# Settings that have defaults pointing at the real Google and Microsoft: a deployment leaves
# them unset (the sandbox sets them).
PROVIDER_DEFAULTED = {"TOUCHPOINT_GOOGLE_BASE_URL", "TOUCHPOINT_MICROSOFT_GRAPH_BASE_URL"}
PROVIDER_DEFAULTED |= {"TOUCHPOINT_MICROSOFT_LOGIN_BASE_URL"}
CODE_NEEDS = {
    SECRET_KEY_ENV,
    WAREHOUSE_URL_ENV,
    "TOUCHPOINT_LINK_KEY",
    "TOUCHPOINT_PUBLIC_URL",
    "TOUCHPOINT_SMTP_HOST",
    "TOUCHPOINT_SMTP_FROM",
    *(set(GOOGLE_ENV.values()) | set(MICROSOFT_ENV.values())) - PROVIDER_DEFAULTED,
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _env_refs(node: Any) -> set[str]:
    """Every `{env: NAME}` in a Dagster config mapping."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_refs(v) for v in node))
    return set()


def _default(value: str) -> str | None:
    """The value compose gives `${VAR:-default}` when VAR is unset (None for `${VAR:?}`)."""
    match = re.fullmatch(r"\$\{\w+(:-(.*)|:\?.*)\}", str(value))
    if match is None:
        return str(value)
    return match.group(2)


def _option(command: list[str], *names: str) -> str:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    raise AssertionError(f"none of {names} in {command}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _yaml(DEPLOY / "docker-compose.yaml")


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return _yaml(PRODUCTION_INSTANCE_CONFIG)


def test_production_shares_every_setting_of_the_shipped_instance_but_storage_and_retries(
    production,
):
    assert local_settings(PRODUCTION_INSTANCE_CONFIG) == shipped_settings(SHIPPED_INSTANCE_CONFIG)
    assert set(production) - set(shipped_settings()) == {"storage", "run_retries"}


@pytest.fixture
def production_home(
    tmp_path: Path, postgres_database_factory: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    url = sa.make_url(postgres_database_factory())
    for name, value in {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database,
    }.items():
        monkeypatch.setenv(name, value or "")
    (tmp_path / "dagster.yaml").write_text(PRODUCTION_INSTANCE_CONFIG.read_text())
    yield tmp_path


def test_the_production_instance_loads_on_postgresql(production_home):
    with dg.DagsterInstance.from_config(str(production_home)) as instance:
        for storage in (instance.run_storage, instance.event_log_storage):
            assert type(storage).__module__.startswith("dagster_postgres")
        assert type(instance.schedule_storage).__module__.startswith("dagster_postgres")
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        keys = {
            limit["key"]
            for limit in instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        }
        assert {"touchpoint/tenant", "touchpoint/provider", "dagster/partition"} <= keys
        assert instance.run_monitoring_enabled
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure


def test_compose_has_every_process_of_a_deployment(compose):
    assert set(compose["services"]) == {
        "postgres",
        "migrate",
        "code",
        "webserver",
        "daemon",
        "reconnect",
        "mailpit",
    }
    for name, service in compose["services"].items():
        for needed in service.get("depends_on", {}):
            assert needed in compose["services"], (name, needed)
        assert "image" in service, name


def test_every_dagster_process_finds_the_production_storage(compose, production):
    needed = _env_refs(production)
    assert needed == {
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    }
    services = compose["services"]
    for name in (*DAGSTER_PROCESSES, "migrate"):
        env = services[name]["environment"]
        assert needed <= set(env), name
        assert env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "true", name
        # The storage is the compose file's PostgreSQL, in the database it creates.
        assert env["DAGSTER_PG_HOST"] in services
        assert "postgres" in services[env["DAGSTER_PG_HOST"]]["image"]
        assert env["DAGSTER_PG_DB"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert int(env["DAGSTER_PG_PORT"]) == 5432


def test_the_code_location_gets_every_setting_it_needs(compose):
    services = compose["services"]
    code_env = services["code"]["environment"]
    assert set(code_env) >= CODE_NEEDS
    # The warehouse: the compose PostgreSQL's second database (made by postgres/init.sql).
    warehouse = sa.make_url(code_env[WAREHOUSE_URL_ENV].replace("${POSTGRES_PASSWORD}", "x"))
    assert warehouse.drivername == "postgresql+psycopg2"
    assert warehouse.host in services
    init = (DEPLOY / "postgres" / "init.sql").read_text()
    assert f"CREATE DATABASE {warehouse.database};" in init
    assert any("postgres/init.sql" in v for v in services["postgres"]["volumes"])
    # Alerts go to the SMTP relay service unless a deployment names its own.
    assert _default(code_env["TOUCHPOINT_SMTP_HOST"]) in services
    # Secrets have no default: compose refuses to start without them.
    for secret in (SECRET_KEY_ENV, "TOUCHPOINT_LINK_KEY", "POSTGRES_PASSWORD"):
        value = code_env.get(secret) or services["postgres"]["environment"][secret]
        assert _default(value) is None, secret
    # The reconnect service reads the same registry and keys.
    assert CODE_NEEDS - set(services["reconnect"]["environment"]) == set()
    # env.example names every variable compose interpolates.
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    interpolated = set(re.findall(r"\$\{(\w+)", (DEPLOY / "docker-compose.yaml").read_text()))
    assert interpolated <= example


def test_the_workspace_points_at_the_code_server(compose):
    services = compose["services"]
    code = services["code"]["command"]
    assert code[:3] == ["dagster", "code-server", "start"]
    module = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["dagster"]
    assert _option(code, "-m", "--module-name") == module["module_name"]
    assert _option(code, "--location-name") == module["code_location_name"] == LOCATION
    (entry,) = _yaml(DEPLOY / "workspace.yaml")["load_from"]
    grpc = entry["grpc_server"]
    assert grpc == {
        "host": "code",
        "port": int(_option(code, "-p", "--port")),
        "location_name": LOCATION,
    }
    assert services["code"]["healthcheck"]["test"][-1] == str(grpc["port"])
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for name in ("webserver", "daemon"):
        workspace = _option(services[name]["command"], "-w", "--workspace")
        # The image holds it there, relative to its working directory.
        assert f"COPY deploy/workspace.yaml ./{workspace}" in dockerfile, name


def test_the_image_carries_the_production_instance_and_starts_the_code_server(compose):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/dagster.production.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in dockerfile
    (cmd,) = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    assert yaml.safe_load(cmd.removeprefix("CMD ")) == compose["services"]["code"]["command"]
    # The packages the image installs are the ones the code location imports.
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for include in packages["packages"]["find"]["include"]:
        assert f"COPY {include.rstrip('*')} " in dockerfile, include


# ---- Helm -----------------------------------------------------------------------------------
# The keys of Dagster's chart (helm/dagster/schema in dagster-io/dagster, pydantic models of
# values.yaml) for the sections the values set; the chart rejects unknown keys in most of them.
CHART_TOP = {
    "global",
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "runLauncher",
    "dagsterDaemon",
    "telemetry",
}
USER_DEPLOYMENT = {
    "name",
    "image",
    "dagsterApiGrpcArgs",
    "codeServerArgs",
    "includeConfigInLaunchedRuns",
    "port",
    "env",
    "envConfigMaps",
    "envSecrets",
    "resources",
    "annotations",
    "nodeSelector",
    "labels",
}
K8S_RUN_LAUNCHER = {
    "image",
    "imagePullPolicy",
    "jobNamespace",
    "loadInclusterConfig",
    "kubeconfigFile",
    "envConfigMaps",
    "envSecrets",
    "envVars",
    "volumeMounts",
    "volumes",
    "labels",
    "failPodOnRunFailure",
    "resources",
    "schedulerName",
    "securityContext",
    "runK8sConfig",
}
POSTGRESQL = {
    "image",
    "enabled",
    "postgresqlHost",
    "postgresqlUsername",
    "postgresqlPassword",
    "postgresqlDatabase",
    "postgresqlParams",
    "postgresqlScheme",
    "service",
}
QUEUED = {
    "maxConcurrentRuns",
    "tagConcurrencyLimits",
    "dequeueIntervalSeconds",
    "dequeueNumWorkers",
    "dequeueUseThreads",
}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _camel_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {_camel(k): _camel_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_camel_keys(v) for v in node]
    return node


@pytest.fixture(scope="module")
def helm() -> dict[str, Any]:
    return _yaml(DEPLOY / "helm" / "values.yaml")


def test_helm_values_use_the_charts_keys(helm):
    assert set(helm) <= CHART_TOP
    users = helm["dagster-user-deployments"]
    assert users["enabled"] and users["enableSubchart"]
    for deployment in users["deployments"]:
        assert set(deployment) <= USER_DEPLOYMENT
    launcher = helm["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert set(launcher["config"]) == {"k8sRunLauncher"}
    assert set(launcher["config"]["k8sRunLauncher"]) <= K8S_RUN_LAUNCHER
    assert set(helm["postgresql"]) <= POSTGRESQL
    coordinator = helm["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    assert set(coordinator["config"]["queuedRunCoordinator"]) <= QUEUED


def test_helm_values_carry_the_production_instance_settings(helm, production, compose):
    daemon = helm["dagsterDaemon"]
    queue = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    shipped = production["run_coordinator"]["config"]
    assert queue["maxConcurrentRuns"] == shipped["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == shipped["tag_concurrency_limits"]
    assert daemon["runMonitoring"] == _camel_keys(production["run_monitoring"])
    assert daemon["runRetries"] == _camel_keys(production["run_retries"])
    assert helm["telemetry"] == production["telemetry"]
    scheme = production["storage"]["postgres"]["postgres_db"]["scheme"]
    assert helm["postgresql"]["postgresqlScheme"] == scheme
    # The user-code deployment runs the compose file's code server, and run pods get its
    # settings (the K8sRunLauncher starts them from this deployment).
    (deployment,) = helm["dagster-user-deployments"]["deployments"]
    code = compose["services"]["code"]["command"]
    assert deployment["codeServerArgs"] == code[code.index("-m") :]
    assert deployment["port"] == int(_option(code, "-p"))
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    secret = {"name": "touchpoint-env"}
    assert secret in deployment["envSecrets"]
    assert secret in helm["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    for env in (deployment["env"], daemon["env"], helm["dagsterWebserver"]["env"]):
        assert env["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "true"
