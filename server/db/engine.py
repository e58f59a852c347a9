"""The database engine and programmatic migrations (the server migrates itself on start)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import sqlite_driver

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys, WAL and a busy timeout so two processes can share it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process, on a thread of its own; with a pool of them, concurrent requests
        # fought over the GIL and SQLite's write lock, and fifty at once got through less than half as many
        # statements a second as one connection taking them in turn. Requests wait for it in the pool, in
        # order. A plain file or memory database gets one trip to that thread per statement
        # (server/db/sqlite_driver.py); a URL with driver options goes to aiosqlite as given.
        options: dict[str, Any] = {}
        if not url.query:
            options["async_creator"] = partial(sqlite_driver.connect, url.database or ":memory:", timeout=30)
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_size=1, max_overflow=0, pool_timeout=60, **options
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


# Connections that only read, beside the one that writes, on a SQLite file.
READERS = 4


def create_read_engine(database_url: str) -> AsyncEngine | None:
    """An engine for reads that need not wait for the writer, or None to read on the main engine.

    On a SQLite file, READERS connections that can only read (`query_only`): WAL lets them read while the
    one writer writes, so a crowd's reads (who holds each token, the welcome's queue and questions) are not
    in line behind its writes (their presence rows). Each transaction on them begins explicitly, so a read of
    several statements is one snapshot, and sees everything committed before it began. PostgreSQL's pool
    already reads and writes side by side; a memory database exists only on its own connection."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query:
        return None
    assert url.database is not None
    engine = create_async_engine(
        url,
        pool_size=READERS,
        max_overflow=0,
        pool_timeout=60,
        # Autocommit at the sqlite3 level: the transaction's BEGIN is sent below, at SQLAlchemy's begin.
        async_creator=partial(sqlite_driver.connect, url.database, timeout=30, isolation_level=None),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _snapshot(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision, on the engine's own connection."""

    def _upgrade(connection: Any) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


def migrate_blocking(database_url: str) -> None:
    """Migrate from synchronous code (the CLI)."""

    async def _run() -> None:
        engine = create_engine(database_url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
