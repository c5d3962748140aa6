"""Alembic environment for the gateway's state: run on the connection the caller hands over.

:func:`model_layer.state.database.migrate` opens the connection (and takes the migration lock),
so this script never builds an engine of its own; ``alembic`` on the command line is not needed.
"""

from __future__ import annotations

from alembic import context

from model_layer.state.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
