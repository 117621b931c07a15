"""Runs the warehouse's Alembic revisions, configured in code (no alembic.ini).

The caller (`Warehouse.migrate`) opens the transaction and takes the lock; everything here runs
on that one connection, so two processes migrating at once apply each step exactly once.

Databases built by the hand-written runner that came before Alembic have its bookkeeping table
`schema_migrations` (versions 1, 2, 3) and no `alembic_version`. They are adopted in place: the
revision matching their highest version is stamped, the old table is dropped in the same
transaction (so there is one record of the schema's version, and code from before Alembic fails
on such a database instead of running its migrations again), then the missing revisions run.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util.exc import CommandError

from resources.schema.column_types import UTCDateTime

SCRIPT_LOCATION = Path(__file__).resolve().with_name("migrations")

LEGACY_VERSION_TABLE = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
"""The pre-Alembic runner's bookkeeping table, as it created it (frozen)."""

LEGACY_REVISIONS = {1: "0001", 2: "0002", 3: "0003"}
"""The runner's schema versions and the Alembic revisions that build the same schema."""


class MigrationError(RuntimeError):
    """A database whose recorded schema version this code does not know."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, pointing at the revisions shipped inside this package."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    if head is None:
        raise MigrationError(f"no Alembic revisions found under {SCRIPT_LOCATION}")
    return head


def revisions_up_to(revision: str | None) -> list[str]:
    """The revisions from the first one to `revision` included, oldest first."""
    if revision is None:
        return []
    chain = script_directory().iterate_revisions(revision, "base")
    return [script.revision for script in reversed(list(chain))]


def current_revision(conn: sa.Connection) -> str | None:
    """The revision recorded in alembic_version (None before the first Alembic migration)."""
    return MigrationContext.configure(conn).get_current_revision()


def _legacy_revision(conn: sa.Connection) -> str | None:
    """The revision a runner-era database is at, or None when it has no runner table."""
    if not sa.inspect(conn).has_table(LEGACY_VERSION_TABLE.name):
        return None
    versions = sorted(conn.scalars(sa.select(LEGACY_VERSION_TABLE.c.version)))
    if not versions:
        return None
    # The runner applied versions in order inside one transaction, so 1..n without gaps.
    if versions != list(range(1, versions[-1] + 1)) or versions[-1] not in LEGACY_REVISIONS:
        raise MigrationError(
            f"schema_migrations records versions {versions}, which this Touchpoint does not know"
        )
    return LEGACY_REVISIONS[versions[-1]]


def applied_revisions(conn: sa.Connection) -> list[str]:
    """The revisions the database has, oldest first (a runner-era database's too)."""
    return revisions_up_to(current_revision(conn) or _legacy_revision(conn))


def _known(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def is_current(conn: sa.Connection) -> bool:
    return current_revision(conn) == head_revision()


def upgrade_to_head(conn: sa.Connection) -> list[str]:
    """Apply the missing revisions on `conn` (in the caller's locked transaction); returns them.

    A runner-era database is stamped with its matching revision first and its
    schema_migrations table dropped.
    """
    before = current_revision(conn)
    if before is not None and not _known(before):
        # A newer Touchpoint migrated this warehouse: old code must not write to it.
        raise MigrationError(
            f"the warehouse's schema is at revision {before}, which this Touchpoint does not "
            f"know (its newest is {head_revision()}): run a newer Touchpoint against it"
        )
    if before is None:
        before = _legacy_revision(conn)
        if before is not None:
            command.stamp(alembic_config(conn), before)
        # Gone in the same transaction as the stamp: one record of the version, not two.
        LEGACY_VERSION_TABLE.drop(conn, checkfirst=True)
    if before == head_revision():
        return []
    command.upgrade(alembic_config(conn), "head")
    done = set(revisions_up_to(before))
    return [r for r in revisions_up_to(head_revision()) if r not in done]
