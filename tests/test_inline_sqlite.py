"""The SQLite connection the server's engine uses (server/db/inline_sqlite.py): statements answered without
leaving the event loop, quick commits made there too and slow ones on a thread, another process's write lock
waited for without blocking."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from server.db import inline_sqlite
from server.db.engine import create_engine, sessions


async def _table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE votes (id INTEGER PRIMARY KEY, who TEXT NOT NULL UNIQUE)"))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    await _table(engine)
    yield engine  # type: ignore[misc]
    await engine.dispose()


async def test_a_read_runs_without_yielding_to_the_loop(engine: AsyncEngine) -> None:
    """Once the connection is open, a transaction of reads never waits for the loop: a callback scheduled
    before it has not run when it is done (with aiosqlite, every statement was several trips)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        ran = asyncio.Event()
        asyncio.get_running_loop().call_soon(ran.set)
        rows = (await conn.execute(text("SELECT count(*) FROM votes WHERE who IN ('a', 'b')"))).all()
        await conn.execute(text("SELECT who FROM votes ORDER BY id"))
        assert rows == [(0,)]
        assert not ran.is_set()
    await asyncio.sleep(0)
    assert ran.is_set()


async def test_writes_are_committed_and_a_failed_transaction_leaves_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO votes (who) VALUES ('a'), ('b')"))
    with pytest.raises(Exception, match="UNIQUE"):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO votes (who) VALUES ('c')"))
            await conn.execute(text("INSERT INTO votes (who) VALUES ('a')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT who FROM votes ORDER BY id"))).scalars().all() == ["a", "b"]
        pragmas = [
            (await conn.execute(text(f"PRAGMA {name}"))).scalar() for name in ("foreign_keys", "journal_mode")
        ]
        assert pragmas == [1, "wal"]
    # Committed for another connection too (another process sharing the file).
    other = sqlite3.connect(str(engine.url.database))
    try:
        assert other.execute("SELECT count(*) FROM votes").fetchone() == (2,)
    finally:
        other.close()


async def test_another_writer_is_waited_for_while_the_loop_goes_on(engine: AsyncEngine) -> None:
    """Another connection holds the write lock for a while: the write waits for it, and meanwhile the event
    loop keeps serving everyone else (SQLite's own busy handler would have blocked it)."""
    other = sqlite3.connect(str(engine.url.database), check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO votes (who) VALUES ('other')")
    released = threading.Event()

    def release_later() -> None:
        released.wait(5)
        other.commit()

    releaser = threading.Thread(target=release_later)
    releaser.start()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO votes (who) VALUES ('mine')"))

        writing = asyncio.create_task(write())
        await asyncio.sleep(0.2)
        assert not writing.done()  # still waiting for the lock
        assert ticks >= 5  # and the loop went on meanwhile
        released.set()
        await asyncio.wait_for(writing, 10)
    finally:
        released.set()
        ticker.cancel()
        releaser.join()
        other.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT who FROM votes ORDER BY id"))).scalars().all()
    assert rows == ["other", "mine"]


async def test_a_lock_held_too_long_is_an_error_that_changes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "held.db")
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        async_creator=inline_sqlite.connector(path, 0.2, ("PRAGMA journal_mode=WAL",)),
        pool_size=1,
        max_overflow=0,
    )
    try:
        await _table(engine)
        other = sqlite3.connect(path)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OperationalError, match="locked"):
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO votes (who) VALUES ('late')"))
        finally:
            other.rollback()
            other.close()
        # The connection is still good, and nothing of the refused write is there.
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO votes (who) VALUES ('next')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT who FROM votes"))).scalars().all() == ["next"]
    finally:
        await engine.dispose()


async def _commit_yields(conn: AsyncConnection, who: str) -> bool:
    """Write and commit on an open connection: whether the loop ran something else meanwhile."""
    await conn.execute(text("INSERT INTO votes (who) VALUES (:who)"), {"who": who})
    ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(ran.set)
    await conn.commit()
    return ran.is_set()


async def test_quick_commits_stay_on_the_loop_and_slow_ones_go_to_a_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every commit counts as quick here, then as slow, then quick again: once the recent ones are slow, the
    commits go to a thread but for one every PROBE_SECONDS, made on the loop to time the disk again."""
    monkeypatch.setattr(inline_sqlite, "PROBE_SECONDS", 0.3)
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        monkeypatch.setattr(inline_sqlite, "INLINE_COMMIT_SECONDS", 60.0)
        assert [await _commit_yields(conn, f"quick{n}") for n in range(3)] == [False, False, False]
        monkeypatch.setattr(inline_sqlite, "INLINE_COMMIT_SECONDS", 0.0)
        # The first is a probe (none was made yet): on the loop; the next ones on the thread.
        assert [await _commit_yields(conn, f"slow{n}") for n in range(3)] == [False, True, True]
        await asyncio.sleep(0.4)
        assert [await _commit_yields(conn, f"probed{n}") for n in range(2)] == [False, True]
        monkeypatch.setattr(inline_sqlite, "INLINE_COMMIT_SECONDS", 60.0)
        assert [await _commit_yields(conn, f"quick again{n}") for n in range(2)] == [False, False]
        rows = (await conn.execute(text("SELECT count(*) FROM votes"))).scalar()
    assert rows == 10


async def test_a_caller_cancelled_during_its_commit_leaves_the_connection_whole(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow disk's commit runs on a thread: a caller cancelled meanwhile gets its cancellation only once the
    commit has finished with the connection, which then serves the next transaction."""
    monkeypatch.setattr(inline_sqlite, "INLINE_COMMIT_SECONDS", 0.0)  # every commit slow: on the thread
    for attempt in range(20):

        async def write(who: str) -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO votes (who) VALUES (:who)"), {"who": who})

        task = asyncio.create_task(write(f"w{attempt}"))
        for _ in range(attempt % 4):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await write(f"after{attempt}")
    async with engine.connect() as conn:
        rows = set((await conn.execute(text("SELECT who FROM votes"))).scalars().all())
    assert {f"after{attempt}" for attempt in range(20)} <= rows
    assert rows <= {f"after{attempt}" for attempt in range(20)} | {f"w{attempt}" for attempt in range(20)}


async def test_a_stores_read_transaction_runs_in_one_go_close_included(engine: AsyncEngine) -> None:
    """A store's transaction (server/db/engine.py: sessions), its close included, never waits for the loop:
    SQLAlchemy's own AsyncSession closes in a task, one more trip round the loop for every transaction."""
    factory = sessions(engine)
    async with factory() as tx:
        await tx.execute(text("SELECT 1"))  # the connection is open from here on
    ran = asyncio.Event()
    asyncio.get_running_loop().call_soon(ran.set)
    async with factory() as tx:
        assert (await tx.execute(text("SELECT count(*) FROM votes"))).scalar() == 0
    async with factory() as tx, tx.begin():
        await tx.execute(text("INSERT INTO votes (who) VALUES ('in one go')"))
    assert not ran.is_set()
    async with factory() as tx:
        assert (await tx.execute(text("SELECT who FROM votes"))).scalars().all() == ["in one go"]
    # Elsewhere closes wait on the network: SQLAlchemy's shielded close is kept.
    assert sessions(create_async_engine("postgresql+asyncpg://nobody@127.0.0.1/none")).class_ is AsyncSession
