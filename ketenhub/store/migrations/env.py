"""Alembic environment: run by ketenhub.store.db.migrate() with an open connection."""
from alembic import context

from ketenhub.store.db import VERSION_TABLE  # its own, so the hub can share a database with Airflow
from ketenhub.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` on the command line, for writing new migrations
    from sqlalchemy import create_engine

    from ketenhub import settings
    connection = create_engine(settings.load().database_url).connect()

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
