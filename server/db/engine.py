"""The database engine and programmatic migrations (the server migrates itself on start)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from . import inline_sqlite

# How long a statement waits for another process's write lock on the SQLite file.
SQLITE_BUSY_SECONDS = 30.0

# A pooled PostgreSQL connection idle this long is pinged before it is used again (see `_ping_after_idle`).
PING_AFTER_IDLE_SECONDS = 2.0

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
    engine = create_async_engine(url, pool_size=10, max_overflow=20)
    _ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection before use when it has been idle `idle_seconds` or more: one that died
    meanwhile (a database restarted, a firewall's idle timeout) is replaced, and every other connection
    pooled before it with it, instead of failing a request.

    SQLAlchemy's `pool_pre_ping` checks on every checkout, and on asyncpg its check is three round trips
    (BEGIN, an empty query, ROLLBACK). During a crowd's arrival, when connections go back and forth
    between the pool and a transaction many times a second, that was three of the eight round trips of a
    gathered read, each waiting its turn on a busy event loop. A connection in constant use has just shown
    it works; one whose database went away while in use fails, with or without a ping."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just opened, or in use a moment ago
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise InvalidatePoolError(f"a pooled connection idle {idle_seconds:g} s or more is gone") from exc


class InlineSession(AsyncSession):
    """A session on the inline SQLite connection (server/db/inline_sqlite.py), closed where its block ends.

    SQLAlchemy closes a session left by ``async with`` in a task of its own, shielded, so that a caller
    cancelled meanwhile cannot cut short a close that waits on the network. Over this connection nothing in
    a close waits (its rollback runs on the loop, and the pool takes the connection back at once), and the
    task cost each transaction one more trip round the loop: during a crowd's arrival, a gathered read held
    its callers 7 ms for 2 ms of work. So it is closed in place."""

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        await self.close()


def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory every store uses: sessions on SQLite closed in place, as above."""
    inline = engine.url.get_backend_name() == "sqlite"
    return async_sessionmaker(
        engine, expire_on_commit=False, class_=InlineSession if inline else AsyncSession
    )


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
