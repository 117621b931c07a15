"""A fresh PostgreSQL database for one benchmark run, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import sqlalchemy as sa

from sandbox.postgres import create_database, throwaway_postgres

POSTGRES_URL_ENV = "TOUCHPOINT_BENCH_POSTGRES_URL"


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new database on TOUCHPOINT_BENCH_POSTGRES_URL's server, else on a throwaway cluster
    (a smoke test passes the session's server instead of starting a second one)."""
    with ExitStack() as stack:
        server = os.environ.get(POSTGRES_URL_ENV) or stack.enter_context(throwaway_postgres())
        url = create_database(server, prefix)
        try:
            yield url
        finally:
            admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
            with admin.connect() as conn:
                name = sa.make_url(url).database
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
