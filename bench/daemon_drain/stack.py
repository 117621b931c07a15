"""Production's Dagster processes for one drain: instance config, code server, daemon, samplers.

The instance is deploy/dagster.production.yaml as shipped (queue limits, run monitoring, run
retries) with its PostgreSQL settings filled in and, for the sizing comparison only,
`max_concurrent_runs` replaced. The code server runs with the compose file's `code` command and
the daemon with `dagster-daemon run` on a workspace that points at it, so run workers are
started by the code server through the default run launcher, as in production.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import yaml

from orchestration.instance import PRODUCTION_INSTANCE_CONFIG
from sandbox.postgres import _free_port

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "touchpoint"
RUN_WORKER = "multiprocessing.spawn"
"""On a run worker's command line: the code server starts each run the default run launcher
hands it as a `spawn` child (Dagster's gRPC server, StartRun); its other processes are not."""


def write_instance(home: Path, dagster_db: str, max_concurrent_runs: int,
                   dequeue_workers: int = 0) -> None:
    """DAGSTER_HOME/dagster.yaml: production's file with its storage pointed at `dagster_db`;
    `dequeue_workers` > 0 lets the daemon launch that many runs at once (Dagster's
    `dequeue_use_threads`; by default it launches one after another)."""
    url = sa.make_url(dagster_db)
    config = yaml.safe_load(PRODUCTION_INSTANCE_CONFIG.read_text())
    config["storage"]["postgres"]["postgres_db"] = {
        "username": url.username,
        "password": url.password or "",
        "hostname": url.host,
        "port": url.port,
        "db_name": url.database,
        "scheme": "postgresql+psycopg2",
    }
    queue = config["run_coordinator"]["config"]
    queue["max_concurrent_runs"] = max_concurrent_runs
    if dequeue_workers:
        queue.update(dequeue_use_threads=True, dequeue_num_workers=dequeue_workers)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def write_workspace(home: Path, port: int) -> Path:
    """deploy/workspace.yaml's shape: the daemon loads nothing itself, it asks the code server."""
    path = home / "workspace.yaml"
    server = {"host": "127.0.0.1", "port": port, "location_name": LOCATION}
    path.write_text(yaml.safe_dump({"load_from": [{"grpc_server": server}]}))
    return path


def start_code_server(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The compose file's `code` service on a free local port, in its own session (its run
    workers are its children, so stopping the session stops them too)."""
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "code-server", "start", "-h", "127.0.0.1", "-p", str(port),
               "-m", "orchestration.definitions", "--location-name", LOCATION]
    log = open(home / "code.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port


def wait_for_code_server(port: int, timeout_s: float = 180) -> None:
    check = [str(Path(sys.executable).with_name("dagster")), "api", "grpc-health-check",
             "-p", str(port)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(1)
    raise SystemExit(f"the code server on port {port} did not answer in {timeout_s:.0f} s")


@dataclass
class Peaks:
    """The highest values seen while sampling."""

    workers: int = 0
    worker_rss_mb: list[float] = field(default_factory=list)
    """Each sample's RSS of every run worker (MB)."""
    connections: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """Peak PostgreSQL connections per database."""


def _worker_rss_mb(session_ids: set[int]) -> list[float]:
    """RSS of the run workers in the given sessions (ps; psutil is not installed)."""
    out = subprocess.run(["ps", "-eo", "sess=,rss=,args="], capture_output=True, text=True,
                         check=False).stdout
    found = []
    for line in out.splitlines():
        sess, rss, args = line.split(None, 2)
        if int(sess) in session_ids and RUN_WORKER in args:
            found.append(int(rss) / 1024)
    return found


@contextlib.contextmanager
def sampling(session_ids: set[int], postgres_url: str, databases: list[str],
             every_s: float = 0.5) -> Iterator[Peaks]:
    """Samples run workers' memory and PostgreSQL connections per database until closed."""
    peaks = Peaks()
    stop = threading.Event()
    engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    query = sa.text("SELECT datname, count(*) FROM pg_stat_activity "
                    "WHERE datname = ANY(:names) GROUP BY datname")

    def loop() -> None:
        with engine.connect() as conn:
            while not stop.wait(every_s):
                rss = _worker_rss_mb(session_ids)
                peaks.workers = max(peaks.workers, len(rss))
                peaks.worker_rss_mb.extend(rss)
                for name, count in conn.execute(query, {"names": databases}):
                    peaks.connections[name] = max(peaks.connections[name], count)
                conn.rollback()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join(timeout=10)
        engine.dispose()
