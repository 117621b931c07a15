"""A throwaway PostgreSQL cluster on 127.0.0.1: the local stand-in for production's server.

The tests and the benchmarks start one from the server binaries Debian installs under
/usr/lib/postgresql/*/bin (scripts/ensure_postgres.sh puts them there), tuned for speed over
durability, and remove it afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

MISSING_POSTGRES = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found under "
    "/usr/lib/postgresql/*/bin or on PATH; run scripts/ensure_postgres.sh (scripts/test.sh does) "
    "or point TOUCHPOINT_TEST_POSTGRES_URL at a server you may create databases on."
)


class PostgresUnavailable(RuntimeError):
    pass


def postgres_bin_dir() -> Path | None:
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
        raise PostgresUnavailable(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Starts a cluster; yields the URL of its `postgres` database; stops and deletes it."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(MISSING_POSTGRES)
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
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    try:
        _run(_as_postgres([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"]))
        _run(
            _as_postgres(
                [pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
            )
        )
    except (PostgresUnavailable, subprocess.TimeoutExpired) as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(
            f"could not start a throwaway PostgreSQL: {exc}\n{tail}"
        ) from None
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


def create_database(server_url: str, prefix: str = "tp") -> str:
    """Creates an empty database on the server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
