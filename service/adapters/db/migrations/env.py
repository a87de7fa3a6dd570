"""Alembic environment: runs on the connection handed in by ``service.adapters.db.engine.migrate``."""

from alembic import context

from service.adapters.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `stayaway` (service.adapters.db.engine.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
