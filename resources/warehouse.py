"""The warehouse: one SQLAlchemy 2 Core engine over SQLite (embedded) or PostgreSQL (production).

What differs between the backends lives here and nowhere else: engine setup, the migration
lock, and the bulk upsert fast path (SQLite: executemany of INSERT ... ON CONFLICT; PostgreSQL:
COPY into a temporary staging table, then one INSERT ... SELECT ... ON CONFLICT, or for rows the
caller expects to be new, COPY straight into the table, staged only if a key is held).
Engines are created with `hide_parameters=True`, so a database error never prints the bound
values (an encrypted token, a subject line) in its text.
"""

from __future__ import annotations

import io
import json
import operator
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from resources.schema.column_types import UTCDateTime, to_utc
from resources.schema.migrate import (
    MigrationError,
    applied_revisions,
    is_current,
    upgrade_to_head,
)
from resources.schema.tables import schema_metadata
from resources.settings import create_private

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CHUNK_ROWS = 5_000
POSTGRES_POOL_SIZE = 5
POSTGRES_POOL_OVERFLOW = 25
POSTGRES_CHUNK_ROWS = 20_000
IN_LOOKUP_CHUNK = 500
MIGRATION_LOCK_KEY = 0x7470_6D69_6772  # "tpmigr": one advisory lock per database
_IMMEDIATE = "touchpoint_immediate"


ROW_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.DataError,
    sa.exc.IntegrityError,
    # COPY goes through the driver's cursor, so its errors arrive unwrapped.
    psycopg2.DataError,
    psycopg2.IntegrityError,
)
"""What the database raises for a value it will not store (PostgreSQL: NUL in text, a number out of
range, broken JSON escapes), as opposed to a connection or lock problem."""


def refusal_reason(error: Exception) -> str:
    """`warehouse_refused:<code>` from the driver's SQLSTATE (or error class): no row text."""
    driver_error = getattr(error, "orig", None) or error
    code = getattr(driver_error, "pgcode", None) or getattr(driver_error, "sqlstate", None)
    return f"warehouse_refused:{code or type(driver_error).__name__}"


class WarehouseError(Exception):
    """A warehouse URL or request that cannot work; the text is safe to show to a user."""


def normalise_url(url: str) -> sa.URL:
    """Parse `url`, map bare `postgresql://` to psycopg2 and refuse what the warehouse can't use.

    psycopg2 is required on PostgreSQL because the bulk path uses its `copy_expert`, and because
    SQLAlchemy 2.1 would otherwise pick psycopg 3 (see FIELD-NOTES).
    """
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise WarehouseError(
            "the warehouse URL is not a valid SQLAlchemy URL "
            "(expected sqlite:///path/to/file.db or postgresql://user@host:port/dbname)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg2"):
            raise WarehouseError(
                f"the warehouse needs the psycopg2 driver on PostgreSQL, not {driver!r} "
                "(use postgresql:// or postgresql+psycopg2://)"
            )
        return parsed.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise WarehouseError(f"unsupported SQLite driver {driver!r} (use sqlite:///path)")
        if parsed.database in (None, "", ":memory:") or parsed.database.startswith("file:"):
            raise WarehouseError(
                "the SQLite warehouse must be a file path (sqlite:///path/to/warehouse.db) so "
                "that several threads and processes can share it"
            )
        return parsed.set(drivername="sqlite")
    raise WarehouseError(f"unsupported warehouse backend {backend!r}; use sqlite or postgresql")


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (persistent, so usually a no-op read).

    The switch needs an exclusive lock and SQLite answers SQLITE_BUSY at once, without the busy
    handler, while another connection holds the file: retry, as processes starting together on
    a new file do exactly that.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Warehouse:
    """The engine, the schema's tables and the write paths everyone shares."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.dialect: str = self.url.get_backend_name()
        self.metadata = schema_metadata()
        self.tables: Mapping[str, sa.Table] = self.metadata.tables
        self.engine = self._sqlite_engine() if self.dialect == "sqlite" else self._postgres_engine()

    def _sqlite_engine(self) -> sa.Engine:
        if self.url.database and self.url.database != ":memory:":
            path = Path(self.url.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite gives its -wal and -shm files the database file's permissions.
            create_private(path)
        engine = sa.create_engine(
            self.url,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (the
            # SQLAlchemy-documented recipe), so DDL is transactional and BEGIN IMMEDIATE works.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get(_IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _postgres_engine(self) -> sa.Engine:
        return sa.create_engine(
            self.url,
            hide_parameters=True,
            pool_pre_ping=True,
            # A run's connection threads (TOUCHPOINT_PARALLEL_CONNECTIONS, 20 by default) may each
            # hold a connection while they write; connections past pool_size close when handed
            # back, so the higher cap costs nothing while the run is quiet.
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_POOL_OVERFLOW,
            connect_args={"options": "-c timezone=UTC", "application_name": "touchpoint"},
        )

    def __repr__(self) -> str:
        return f"Warehouse({self.url.render_as_string(hide_password=True)!r})"

    def dispose(self) -> None:
        """Close pooled connections (tests and short-lived commands)."""
        self.engine.dispose()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A transaction meant to write: on SQLite it takes the write lock up front.

        A deferred SQLite transaction that reads, then writes after another process committed,
        fails at once with SQLITE_BUSY whatever the busy timeout; BEGIN IMMEDIATE waits instead.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    def table(self, name: str) -> sa.Table:
        try:
            return self.tables[name]
        except KeyError:
            raise WarehouseError(f"unknown warehouse table {name!r}") from None

    def migrate(self) -> list[str]:
        """Apply the Alembic revisions this database lacks; returns them (empty when current).

        All pending steps run in one transaction under a lock (SQLite's write lock, a PostgreSQL
        advisory lock), so two processes migrating at once apply each step exactly once.
        """
        with self.engine.connect() as conn:
            # The common case, every run: already current, decided without taking the lock.
            if is_current(conn):
                return []
        try:
            with self.write() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
                return upgrade_to_head(conn)
        except MigrationError as exc:
            raise WarehouseError(str(exc)) from None

    def applied_migrations(self) -> list[str]:
        """The Alembic revisions the database has, oldest first."""
        with self.engine.connect() as conn:
            return applied_revisions(conn)

    def upsert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        key_columns: Sequence[str],
        update_columns: Sequence[str] | None = None,
        increment_columns: Sequence[str] = (),
        *,
        mostly_new: bool = False,
    ) -> int:
        """Insert `rows`, or update the ones whose key exists; returns rows inserted or updated.

        `update_columns=None` updates every non-key, non-increment column given; an empty list
        (and no increments) leaves existing rows untouched (DO NOTHING), and those rows are not
        counted. `increment_columns` add the new value to the stored one on conflict (a retry
        counter). All rows must carry the same columns. When `rows` repeats a key, the last
        occurrence wins on both backends. `mostly_new` (the caller expects few keys to exist, as
        a sync writing what it just fetched does) tries a plain COPY first on PostgreSQL and
        stages only when a key is held; the result is the same either way.
        """
        tbl = self.table(table)
        rows = list(rows)
        if not rows:
            return 0
        columns = list(rows[0].keys())
        keys = list(key_columns)
        increments = list(increment_columns)
        updates = (
            [c for c in columns if c not in keys and c not in increments]
            if update_columns is None
            else list(update_columns)
        )
        self._check_upsert_columns(tbl, rows, columns, keys, updates, increments)
        rows = _last_per_key(rows, keys, ordered=self.dialect == "postgresql")
        with self.write() as conn:
            if self.dialect == "postgresql":
                return self._upsert_postgres(
                    conn, tbl, rows, columns, keys, updates, increments, mostly_new
                )
            return self._upsert_sqlite(conn, tbl, rows, keys, updates, increments)

    def upsert_or_refuse(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        key_columns: Sequence[str],
        update_columns: Sequence[str] | None = None,
        *,
        mostly_new: bool = False,
    ) -> list[tuple[Mapping[str, Any], str]]:
        """Upserts `rows` (`update_columns`, `mostly_new` as in `upsert`), and when the database
        refuses the batch because of what a row holds, upserts each half again until every
        refused row stands alone: returns the rows it refuses, each with a reason built from the
        database's error code only (never the row's text), so one bad row never sinks its
        neighbours. Connection and lock problems are raised as they are."""
        rows = list(rows)
        try:
            self.upsert(table, rows, key_columns, update_columns, mostly_new=mostly_new)
            return []
        except ROW_ERRORS as error:
            if len(rows) == 1:
                return [(rows[0], refusal_reason(error))]
        # Halve the refused batch until each bad row stands alone: a few bad rows in a batch of
        # 20,000 cost a few dozen writes, not 20,000 one-row transactions.
        middle = len(rows) // 2
        return [
            refused
            for half in (rows[:middle], rows[middle:])
            for refused in self.upsert_or_refuse(
                table, half, key_columns, update_columns, mostly_new=mostly_new
            )
        ]

    @staticmethod
    def _check_upsert_columns(
        tbl: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        columns: list[str],
        keys: list[str],
        updates: list[str],
        increments: list[str],
    ) -> None:
        unknown = [c for c in columns if c not in tbl.c]
        if unknown:
            raise WarehouseError(f"{tbl.name} has no column(s) {', '.join(unknown)}")
        if not keys or any(k not in columns for k in keys):
            raise WarehouseError(f"every key column of {keys} must be present in the rows")
        if any(u not in columns or u in keys for u in updates):
            raise WarehouseError("update_columns must be non-key columns present in the rows")
        if any(i not in columns or i in keys or i in updates for i in increments):
            raise WarehouseError(
                "increment_columns must be non-key columns present in the rows and not updated"
            )
        expected = set(columns)
        for index, row in enumerate(rows):
            if row.keys() != expected:
                raise WarehouseError(
                    f"row {index} of the {tbl.name} upsert has different columns than row 0"
                )

    @staticmethod
    def _upsert_sqlite(
        conn: sa.Connection,
        tbl: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        keys: list[str],
        updates: list[str],
        increments: list[str],
    ) -> int:
        stmt = _on_conflict(sqlite_insert(tbl), tbl, keys, updates, increments)
        written = 0
        for chunk in _chunks(rows, SQLITE_CHUNK_ROWS):
            try:
                written += conn.execute(stmt, list(chunk)).rowcount
            except sa.exc.StatementError as exc:
                # A value our types refuse (a naive datetime): raise it as the PostgreSQL path
                # does, rather than wrapped in a statement error.
                if isinstance(exc.orig, ValueError | TypeError) and not isinstance(
                    exc, sa.exc.DBAPIError
                ):
                    raise exc.orig from None
                raise
        return written

    @staticmethod
    def _upsert_postgres(
        conn: sa.Connection,
        tbl: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        columns: list[str],
        keys: list[str],
        updates: list[str],
        increments: list[str],
        mostly_new: bool,
    ) -> int:
        copy = _CsvCopy(conn, tbl, columns)
        staging = f"tp_stage_{uuid.uuid4().hex[:16]}"
        # In the rows' (Python's) key order, which byte order ("C") matches for text: concurrent
        # writers of overlapping keys (a run and a backfill of the same connection-day) then
        # lock rows in one order, whether they COPY or stage, and cannot deadlock each other.
        order = [
            sa.column(k).collate("C") if isinstance(tbl.c[k].type, sa.String) else sa.column(k)
            for k in keys
        ]
        source = (
            sa.select(*(sa.column(c) for c in columns))
            .select_from(sa.table(staging))
            .order_by(*order)
        )
        stmt = _on_conflict(
            pg_insert(tbl).from_select(columns, source), tbl, keys, updates, increments
        )
        staged = False
        written = 0
        for chunk in _chunks(rows, POSTGRES_CHUNK_ROWS):
            text = copy.csv(chunk)
            if mostly_new and copy.into_table_unless_held(text):
                written += len(chunk)
                continue
            if not staged:
                conn.exec_driver_sql(
                    f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
                    f"SELECT {copy.column_list} FROM {copy.quote(tbl.name)} WITH NO DATA"
                )
                staged = True
            copy.into(staging, text)
            written += conn.execute(stmt).rowcount
            conn.exec_driver_sql(f"TRUNCATE {staging}")
        return written

    def copy_into(self, table: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """A plain COPY of `rows` into the table (PostgreSQL only), no staging and no conflict
        handling: the ceiling the write-path benchmark measures upsert against."""
        if self.dialect != "postgresql":
            raise WarehouseError("COPY needs PostgreSQL")
        tbl = self.table(table)
        with self.write() as conn:
            copy = _CsvCopy(conn, tbl, list(rows[0].keys()))
            for chunk in _chunks(rows, POSTGRES_CHUNK_ROWS):
                copy.into(tbl.name, copy.csv(chunk))
        return len(rows)

    def insert_rows_one_by_one(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """The naive baseline the benchmark compares upsert with: one INSERT and commit per row."""
        stmt = sa.insert(self.table(table))
        count = 0
        for row in rows:
            with self.engine.begin() as conn:
                conn.execute(stmt, dict(row))
            count += 1
        return count

    def existing_keys(
        self,
        table: str,
        tenant_id: str,
        connection_id: str,
        column: str,
        values: Iterable[str],
    ) -> set[str]:
        """Which of `values` the table already holds for this connection (e.g. message ids)."""
        tbl = self.table(table)
        col = tbl.c[column]
        wanted = list(dict.fromkeys(values))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted, IN_LOOKUP_CHUNK):
                query = sa.select(col).where(
                    tbl.c.tenant_id == tenant_id,
                    tbl.c.connection_id == connection_id,
                    col.in_(list(chunk)),
                )
                found.update(conn.scalars(query))
        return found

    def keys_of(self, table: str, tenant_id: str, connection_id: str, column: str) -> set[str]:
        """Every value of `column` the table holds for this connection (e.g. its quarantine)."""
        tbl = self.table(table)
        query = sa.select(tbl.c[column]).where(
            tbl.c.tenant_id == tenant_id, tbl.c.connection_id == connection_id
        )
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def delete_keys(
        self,
        table: str,
        tenant_id: str,
        connection_id: str,
        column: str,
        values: Iterable[str],
    ) -> int:
        """Delete this connection's rows whose `column` is in `values`; returns how many.

        E.g. quarantined messages that a later run managed to parse.
        """
        tbl = self.table(table)
        col = tbl.c[column]
        wanted = list(dict.fromkeys(values))
        if not wanted:
            return 0
        deleted = 0
        with self.write() as conn:
            for chunk in _chunks(wanted, IN_LOOKUP_CHUNK):
                result = conn.execute(
                    sa.delete(tbl).where(
                        tbl.c.tenant_id == tenant_id,
                        tbl.c.connection_id == connection_id,
                        col.in_(list(chunk)),
                    )
                )
                deleted += result.rowcount
        return deleted


class _CsvCopy:
    """COPY of rows as CSV into one table's columns (or a staging copy of them), through the
    transaction's psycopg2 connection."""

    def __init__(self, conn: sa.Connection, tbl: sa.Table, columns: list[str]) -> None:
        self.conn = conn
        self.tbl = tbl
        self.columns = columns
        self.quote = conn.dialect.identifier_preparer.quote
        self.column_list = ", ".join(self.quote(c) for c in columns)
        self.formatters = [_csv_formatter(tbl.c[c]) for c in columns]

    def csv(self, rows: Sequence[Mapping[str, Any]]) -> str:
        return _to_csv(rows, self.columns, self.formatters)

    def into(self, table: str, text: str) -> None:
        sql = f"COPY {self.quote(table)} ({self.column_list}) FROM STDIN WITH (FORMAT csv)"
        with self.conn.connection.driver_connection.cursor() as cursor:
            cursor.copy_expert(sql, io.StringIO(text))

    def into_table_unless_held(self, text: str) -> bool:
        """COPY straight into the table; False (and nothing written) when a key is held already.

        New rows then cost one COPY, no staging table and no second pass; a held key ends the
        COPY at that row and the savepoint undoes what it wrote."""
        try:
            with self.conn.begin_nested():
                self.into(self.tbl.name, text)
        except psycopg2.errors.UniqueViolation:
            return False
        return True


def _on_conflict(
    stmt: Any, tbl: sa.Table, keys: list[str], updates: list[str], increments: list[str]
) -> Any:
    """The ON CONFLICT clause; SQLite's and PostgreSQL's insert constructs share this API."""
    set_ = {c: stmt.excluded[c] for c in updates}
    set_.update({c: tbl.c[c] + stmt.excluded[c] for c in increments})
    if not set_:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    return stmt.on_conflict_do_update(index_elements=keys, set_=set_)


def _last_per_key(
    rows: Sequence[Mapping[str, Any]], keys: list[str], *, ordered: bool = False
) -> list[Mapping[str, Any]]:
    """Drop earlier rows that repeat a key (PostgreSQL refuses to update one row twice); with
    `ordered`, the rows come back in key order."""
    key_of = operator.itemgetter(*keys)
    by_key = {key_of(row): row for row in rows}
    if ordered:
        return [by_key[key] for key in sorted(by_key)]
    if len(by_key) == len(rows):
        return list(rows)
    return list(by_key.values())


_JSON_ENCODE: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False).encode
"""`json.dumps(v, ensure_ascii=False)` without building an encoder per value (json.dumps does
for any non-default argument)."""
_JSON_STRING: Callable[[str], str] = json.encoder.encode_basestring


def _json_text(value: Any) -> str:
    """JSON of a column value, exactly as `json.dumps(value, ensure_ascii=False)` writes it."""
    if type(value) is list:
        # The common case (addresses, labels): a list of strings, joined in C.
        try:
            return "[" + ", ".join(map(_JSON_STRING, value)) + "]"
        except TypeError:
            pass
    return _JSON_ENCODE(value)


def _csv_formatter(column: sa.Column) -> Callable[[Any], str]:
    """How one column's Python values are written as PostgreSQL CSV text."""
    col_type = column.type
    if isinstance(col_type, UTCDateTime):
        return _utc_text
    if isinstance(col_type, sa.JSON):
        return _json_text
    if isinstance(col_type, sa.Boolean):
        return lambda v: "t" if v else "f"
    if isinstance(col_type, sa.Integer):
        return lambda v: str(int(v))
    if isinstance(col_type, sa.Date):
        return _format_date
    return str


def _utc_text(value: datetime) -> str:
    # Most values are UTC already: skip the conversion (and its checks) for them.
    if type(value) is datetime and value.tzinfo is UTC:
        return value.isoformat()
    return to_utc(value).isoformat()


def _format_date(value: date) -> str:
    if isinstance(value, datetime):
        raise TypeError("a DATE column needs a date, not a datetime")
    return value.isoformat()


def _to_csv(
    rows: Sequence[Mapping[str, Any]], columns: list[str], formatters: list[Callable[[Any], str]]
) -> str:
    """CSV for COPY: every value quoted, NULL as an unquoted empty field (COPY's CSV default).

    The hot loop of every bulk write on PostgreSQL: list comprehensions, no per-value calls
    beyond the formatter."""
    pairs = list(zip(columns, formatters, strict=True))
    lines = [
        ",".join(
            [
                "" if (value := row[name]) is None else '"' + fmt(value).replace('"', '""') + '"'
                for name, fmt in pairs
            ]
        )
        for row in rows
    ]
    lines.append("")
    return "\n".join(lines)
