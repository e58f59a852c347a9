"""SQLite for the async engine, with one trip to the database's thread per statement.

sqlite3 blocks, so an async process runs it on a thread of its own. SQLAlchemy's aiosqlite adapter makes four
trips between the event loop and aiosqlite's thread for every statement (make a cursor, execute, fetch the
rows, close the cursor), and each trip back waits for the event loop to come round. On a busy process that
wait, not SQLite, is most of a query's time: while 5,000 attendees joined one process, the welcome's reads
finished 2 ms apart on the database and waited 40-60 ms in line for it. This connection makes the same
sqlite3 calls, in the same order, on its one thread, in one trip per statement (and one per commit,
rollback or close).

It is plugged in through ``create_async_engine``'s documented ``async_creator`` hook (server/db/engine.py),
under SQLAlchemy's own aiosqlite dialect and adapter, and offers what that adapter uses of an aiosqlite
connection; checked against SQLAlchemy 2.1.9 (pinned) by tests/test_sqlite_driver.py and by every test that
uses the embedded database:

- ``cursor()`` returns a cursor entered with ``await cursor.__aenter__()``; the cursor's ``execute`` and
  ``executemany`` are awaited, then ``description``, ``rowcount`` and ``lastrowid`` read and, when there is a
  description, ``await fetchall()``; ``await close()`` at the end. A server-side cursor (``stream_results``)
  also uses ``fetchone``, ``fetchmany`` and ``async for``: served from the rows already fetched.
- the connection: ``commit``, ``rollback``, ``close`` and ``create_function`` are awaited; ``isolation_level``
  is read; ``_connection`` is truthy while it is open (the adapter skips a commit or rollback on a closed
  one); ``stop()`` closes it without waiting (the pool's terminate).

Errors are sqlite3's own exceptions, which the aiosqlite dialect expects (aiosqlite re-exports them).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

Description = tuple[tuple[Any, ...], ...] | None


class Cursor:
    """One statement's results, fetched in the same trip as its execution."""

    arraysize = 1

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque[Any] = deque()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        def run(db: sqlite3.Connection) -> tuple[Description, int, int | None, list[Any]]:
            cursor = db.cursor()
            try:
                if parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        self.description, self.rowcount, self.lastrowid, rows = await self._connection.run(run)
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        def run(db: sqlite3.Connection) -> tuple[Description, int, int | None, list[Any]]:
            cursor = db.cursor()
            try:
                cursor.executemany(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        self.description, self.rowcount, self.lastrowid, rows = await self._connection.run(run)
        self._rows = deque(rows)
        return self

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    async def close(self) -> None:
        self._rows.clear()


class Connection:
    """A sqlite3 connection used only on its own thread, one trip there per call."""

    def __init__(self, db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._db: sqlite3.Connection | None = db
        self._thread = thread

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """The open sqlite3 connection, None once closed (what SQLAlchemy's adapter checks)."""
        return self._db

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self._db

    async def run(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """`call(connection)` on the connection's thread."""
        db = self._open()
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, db)

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def commit(self) -> None:
        await self.run(sqlite3.Connection.commit)

    async def rollback(self) -> None:
        await self.run(sqlite3.Connection.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self.run(lambda db: db.create_function(*args, **kwargs))

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        finally:
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting: the statement under way, if any, finishes first on the thread."""
        db, self._db = self._db, None
        if db is not None:
            self._thread.submit(db.close)
        self._thread.shutdown(wait=False)


async def connect(database: str, **kwargs: Any) -> Connection:
    """Open `database` (a path, or ":memory:") on a thread of its own; `kwargs` go to sqlite3.connect."""
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hemicycle-sqlite")
    # Made and used on that one thread only, but closed from it by `stop` too: no same-thread check.
    opener = partial(sqlite3.connect, database, check_same_thread=False, **kwargs)
    try:
        db = await asyncio.get_running_loop().run_in_executor(thread, opener)
    except BaseException:
        thread.shutdown(wait=False)
        raise
    return Connection(db, thread)
