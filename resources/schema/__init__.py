"""The warehouse schema: column types, the live table definitions and their Alembic migrations."""
