"""Column types shared by the live schema and the migrations that build it.

Revisions import these, so their behaviour is part of history: change how a value is stored
only together with a revision that converts the stored values.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


def to_utc(value: datetime) -> datetime:
    """`value` in UTC; naive datetimes are refused because their zone is a guess."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: Touchpoint stores timezone-aware UTC datetimes only")
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC going in and coming out, on every backend.

    PostgreSQL stores TIMESTAMPTZ and answers in the session zone; SQLite has no zone at all, so
    values are stored as naive UTC text and given their UTC zone back when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_list() -> sa.types.TypeEngine:
    """A JSON column (JSONB on PostgreSQL) where Python None is SQL NULL, not JSON 'null'."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def big_serial() -> sa.types.TypeEngine:
    """An auto-incrementing id type: SQLite only auto-increments a column declared exactly
    INTEGER PRIMARY KEY, PostgreSQL gets BIGINT."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def tenant_id_column(**kwargs: object) -> sa.Column:
    """The tenant key every warehouse table carries (a slug, see resources/registry)."""
    return sa.Column("tenant_id", sa.String(63), nullable=False, **kwargs)
