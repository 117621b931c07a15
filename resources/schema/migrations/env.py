"""Alembic's environment: runs the revisions on the connection `resources.schema.migrate` passes.

That connection is already inside the transaction that holds the migration lock, so Alembic's
own transaction is a no-op here and every step commits (or rolls back) together.
"""

from alembic import context

from resources.schema.tables import schema_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    # Alembic's command line would migrate without the lock: refuse rather than race.
    raise RuntimeError(
        "run migrations with `touchpoint migrate` (Warehouse.migrate), which holds the lock"
    )
context.configure(connection=connection, target_metadata=schema_metadata())
with context.begin_transaction():
    context.run_migrations()
