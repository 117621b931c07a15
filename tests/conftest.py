"""Shared fixtures: a real PostgreSQL for the session, and a fresh warehouse on each backend.

PostgreSQL is never mocked and never skipped. Unless TOUCHPOINT_TEST_POSTGRES_URL names a server
(whose user may create databases), the session starts a throwaway cluster on 127.0.0.1 with the
server binaries under /usr/lib/postgresql/*/bin, and stops it at the end. Each test that asks
for `warehouse_url` runs twice, on SQLite and on PostgreSQL, against an empty database of its own.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from resources import settings
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse

POSTGRES_URL_ENV = "TOUCHPOINT_TEST_POSTGRES_URL"
_MISSING_POSTGRES = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found under "
    "/usr/lib/postgresql/*/bin or on PATH. Run the tests with scripts/test.sh, which installs "
    f"them, or set {POSTGRES_URL_ENV} to a server the tests may create databases on."
)


def _postgres_bin_dir() -> Path | None:
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if candidates:
        return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a PostgreSQL server (maintenance database `postgres`) for the whole session."""
    configured = os.environ.get(POSTGRES_URL_ENV)
    if configured:
        yield configured
        return
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.fail(_MISSING_POSTGRES, pytrace=False)
    base = Path(tempfile.mkdtemp(prefix="touchpoint-pg-"))
    data, log = base / "data", base / "server.log"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-c port={port}",
            f"-c unix_socket_directories={base}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=300",
        ]
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        _run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        )
        _run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
            )
        )
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start a throwaway PostgreSQL: {exc}\n{tail}", pytrace=False)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_database_factory(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases (URL of each); all are dropped at session end."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    created: list[str] = []

    def make() -> str:
        name = f"tp_test_{uuid.uuid4().hex[:16]}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    yield make
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
