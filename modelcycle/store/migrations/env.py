"""Alembic environment: always driven programmatically with a connection (see store/migrate.py)."""

from alembic import context

from modelcycle.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    transaction_per_migration=False,
)
context.run_migrations()
