"""Shared fixtures: a real PostgreSQL for the session, and a fresh warehouse on each backend.

PostgreSQL is never mocked and never skipped. Unless TOUCHPOINT_TEST_POSTGRES_URL names a server
(whose user may create databases), the session starts a throwaway cluster on 127.0.0.1 with the
server binaries under /usr/lib/postgresql/*/bin (sandbox/postgres.py), and stops it at the end;
without those binaries every PostgreSQL test fails, telling to run scripts/test.sh. Each test
that asks for `warehouse_url` runs twice, on SQLite and on PostgreSQL, against an empty database
of its own.
"""

from __future__ import annotations

import os

# Every day since the start date is a partition in the tests (the rolling window is off), so
# the fixed dates the tests use never fall out of the window as the calendar moves on. Set
# before any test module builds the partitions; subprocesses (dagster dev, the demo) inherit it.
os.environ.setdefault("TOUCHPOINT_PARTITION_WINDOW_DAYS", "0")
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from resources import settings
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sandbox.postgres import PostgresUnavailable, throwaway_postgres
from sandbox.server import SandboxServer
from sandbox.workload.model import Workload

POSTGRES_URL_ENV = "TOUCHPOINT_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server (maintenance database `postgres`) for the whole session."""
    configured = os.environ.get(POSTGRES_URL_ENV)
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        problem = None
        try:
            url = stack.enter_context(throwaway_postgres())
        except PostgresUnavailable as exc:
            problem = str(exc)
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        yield url


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases (URL of each); all are dropped at session end.

    CREATE DATABASE takes about 0.3 s here, so the next databases are created in the background
    while a test runs.
    """
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    created: list[str] = []
    lock = threading.Lock()

    def create() -> str:
        name = f"tp_test_{uuid.uuid4().hex[:16]}"
        with lock:
            created.append(name)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pg-createdb")
    ready: deque[Future[str]] = deque(pool.submit(create) for _ in range(2))

    def make() -> str:
        ready.append(pool.submit(create))
        return ready.popleft().result()

    yield make
    pool.shutdown(wait=True)
    with admin.connect() as conn:
        for name in created:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty (unmigrated) warehouse database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("postgres_database_factory")()


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    """A migrated Warehouse on the test's backend; its connections are closed afterwards."""
    wh = Warehouse(warehouse_url)
    wh.migrate()
    yield wh
    wh.dispose()


@pytest.fixture(autouse=True)
def _isolated_touchpoint_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never read the developer's key or warehouse, nor write into their state folder."""
    monkeypatch.setenv(settings.HOME_ENV, str(tmp_path / "touchpoint-home"))
    monkeypatch.delenv(settings.WAREHOUSE_URL_ENV, raising=False)
    monkeypatch.delenv(settings.SECRET_KEY_ENV, raising=False)


@pytest.fixture(autouse=True)
def _no_leftover_dagster_state_storage() -> Iterator[None]:
    """A Dagster instance entered twice (instance_for_test, then a context built on it) leaves
    its state storage as the current one after it is gone; the next test that loads
    Definitions then fails on the dead instance. Each test starts without one."""
    yield
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh key, also set as TOUCHPOINT_SECRET_KEY for code that reads the environment."""
    key = generate_key()
    monkeypatch.setenv(settings.SECRET_KEY_ENV, key)
    return key


@pytest.fixture
def registry(warehouse: Warehouse, secret_key: str) -> Registry:
    """A Registry over the test's migrated warehouse, encrypting with `secret_key`."""
    return Registry(warehouse, TokenCipher(secret_key))


# ---- the sandbox ---------------------------------------------------------------------------
# A test module that talks to the sandbox defines `workload` (its own seed, providers and size)
# and marks itself `pytest.mark.usefixtures("clean_sandbox")`.


@pytest.fixture(scope="module")
def server(workload: Workload) -> Iterator[SandboxServer]:
    with SandboxServer(workload) as sandbox:
        yield sandbox


def _documented_limits(server: SandboxServer) -> None:
    """No faults; Google's and Graph's documented limits, switched off until a test wants them."""
    server.state.clear_faults()
    server.state.set_quota(False, units_per_second=250, calendar_requests_per_minute=600)
    server.state.set_graph_limits(False, 4, 10_000, 600)


@pytest.fixture
def clean_sandbox(server: SandboxServer) -> Iterator[None]:
    _documented_limits(server)
    server.state.reset_stats()
    yield
    _documented_limits(server)
    server.state.reset_stats()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain HTTP session that ignores the machine's proxy and CA settings."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
