"""The embedded database's connections (server/db/sqlite_driver.py, server/db/engine.py): what SQLAlchemy asks
of them works as on aiosqlite, each statement is one trip to the connection's thread, and the connections
for reads only read, each transaction one snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import sqlite_driver
from server.db.engine import create_engine, create_read_engine


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"
    engine = create_engine(url)
    reads = create_read_engine(url)
    assert reads is not None
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, size INTEGER)"
        )
    try:
        yield engine, reads
    finally:
        await reads.dispose()
        await engine.dispose()


async def test_what_sqlalchemy_asks_works(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine, _ = engines
    async with engine.begin() as connection:
        first = await connection.execute(text("INSERT INTO item (name, size) VALUES ('a', 1)"))
        assert first.lastrowid == 1 and first.rowcount == 1
        # Many rows at once, and RETURNING.
        await connection.execute(
            text("INSERT INTO item (name, size) VALUES (:name, :size)"),
            [{"name": name, "size": size} for name, size in (("b", 2), ("c", 3), ("d", 4))],
        )
        returned = await connection.execute(
            text("INSERT INTO item (name, size) VALUES ('e', 5) RETURNING id")
        )
        assert returned.scalar_one() == 5
        updated = await connection.execute(text("UPDATE item SET size = size * 10 WHERE size > 2"))
        assert updated.rowcount == 3
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT name, size FROM item ORDER BY id"))).all()
        assert [tuple(row) for row in rows] == [("a", 1), ("b", 2), ("c", 30), ("d", 40), ("e", 50)]
        # A server-side cursor (stream_results) is served from the rows fetched with the statement.
        streamed = await connection.stream(text("SELECT name FROM item ORDER BY id"))
        assert [row[0] async for row in streamed] == ["a", "b", "c", "d", "e"]
        # SQLAlchemy registers REGEXP on connect (create_function).
        assert (
            await connection.execute(text("SELECT count(*) FROM item WHERE name REGEXP '^[a-c]$'"))
        ).scalar() == 3

    # A rolled-back transaction leaves nothing; sqlite3's own errors reach SQLAlchemy as its DBAPI errors.
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name) VALUES ('f')"))
            await connection.execute(text("INSERT INTO item (name) VALUES ('a')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM item WHERE name = 'f'"))).scalar() == 0


async def test_one_trip_per_statement(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosqlite under SQLAlchemy takes four trips per statement (cursor, execute, fetch, close); each trip
    back waits for the event loop to come round, which on a busy process is most of a query's time."""
    engine, _ = engines
    trips: list[str] = []
    run = sqlite_driver.Connection.run

    async def counted(self: sqlite_driver.Connection, call: object) -> object:
        trips.append(getattr(call, "__qualname__", repr(call)))
        return await run(self, call)  # type: ignore[arg-type]

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # connected and ready
        monkeypatch.setattr(sqlite_driver.Connection, "run", counted)
        for size in range(3):
            await connection.execute(text("SELECT name FROM item WHERE size > :size"), {"size": size})
        assert len(trips) == 3, trips


async def test_reads_only_read_and_see_one_snapshot(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine, reads = engines
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, size) VALUES ('a', 1)"))
    async with reads.connect() as reader:
        with pytest.raises(OperationalError, match="readonly"):
            await reader.execute(text("INSERT INTO item (name) VALUES ('b')"))
    async with reads.begin() as reader:
        assert (await reader.execute(text("SELECT count(*) FROM item"))).scalar() == 1
        # A write committed meanwhile is not in this read's snapshot...
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO item (name, size) VALUES ('c', 3)"))
        assert (await reader.execute(text("SELECT count(*) FROM item"))).scalar() == 1
    # ...and is in the next one's.
    async with reads.connect() as reader:
        assert (await reader.execute(text("SELECT count(*) FROM item"))).scalar() == 2


def test_reads_beside_the_writer_only_for_a_sqlite_file() -> None:
    assert create_read_engine("sqlite+aiosqlite:///:memory:") is None
    assert create_read_engine("sqlite+aiosqlite://") is None
    assert create_read_engine("postgresql+asyncpg://user@localhost/db") is None
    assert create_read_engine("sqlite+aiosqlite:///file.db?mode=ro&uri=true") is None


async def test_a_closed_connection_refuses_and_closes_once(tmp_path: Path) -> None:
    connection = await sqlite_driver.connect(str(tmp_path / "closed.db"))
    cursor = await connection.cursor().__aenter__()
    await cursor.execute("SELECT 1")
    assert await cursor.fetchall() == [(1,)]
    await connection.close()
    await connection.close()
    assert not connection._connection
    with pytest.raises(sqlite3.ProgrammingError):
        await connection.cursor().execute("SELECT 1")
    stopped = await sqlite_driver.connect(":memory:")
    stopped.stop()
    with pytest.raises(sqlite3.ProgrammingError):
        await stopped.commit()
