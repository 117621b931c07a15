"""The warehouse's Alembic revisions, chained by `down_revision`."""
