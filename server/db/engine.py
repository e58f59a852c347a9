"""The database engine and programmatic migrations (the server migrates itself on start)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import inline_sqlite

# How long a statement waits for another process's write lock on the SQLite file.
SQLITE_BUSY_SECONDS = 30.0

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def create_engine(database_url: str) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys, WAL and a wait for the write lock so two processes can share
    it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pragmas = ("PRAGMA foreign_keys=ON", "PRAGMA journal_mode=WAL")
        path = url.database or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process, its statements run on the event loop and its commits on a thread
        # (server/db/inline_sqlite.py). With a pool of them, concurrent requests fought over the GIL and
        # SQLite's write lock, and fifty at once got through less than half as many statements a second as
        # one connection taking them in turn. Requests wait for it in the pool, in order.
        return create_async_engine(
            url,
            async_creator=inline_sqlite.connector(path, SQLITE_BUSY_SECONDS, pragmas),
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
        )
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


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
