"""Alembic environment: runs on the connection handed over by server.db.engine.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from server.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    # Used only when generating a new revision by hand against a scratch SQLite file.
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///scratch.db"
    with create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")).connect() as conn:
        _run(conn)
