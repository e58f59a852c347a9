"""SQLite for the event loop: statements run where they are asked for, slow commits on a thread.

SQLAlchemy's asyncio support drives aiosqlite, which runs every call on a thread of its own: opening a cursor,
executing, fetching and closing each wait for a round trip to that thread and back through the event loop.
SQLite's own work for one of our statements is a few dozen microseconds, but under a crowd (thousands joining
at once) every round trip waits for the loop to come round: a three-query transaction held the process's one
connection for 11-15 ms, almost all of it waiting, while the joiners behind it queued for the connection.

This is the connection SQLAlchemy's aiosqlite dialect is given instead (``async_creator``): the same
aiosqlite-shaped coroutines, completed without suspending, on one ``sqlite3`` connection. A transaction's
statements therefore run in one go. What may wait goes elsewhere:

- a commit that writes waits for the disk (its fsync). On a solid-state disk that is a fraction of a
  millisecond, less than a trip to a thread and back through a busy loop: during a crowd's arrival
  (bench.fanout, 5,000 joining) such trips held the connection 5 ms a commit, for commits of 0.2 ms, and
  every transaction behind them waited. So commits are made on the loop while they are quick. When the
  median of the last RECENT_COMMITS made there is over INLINE_COMMIT_SECONDS (a slow or busy disk; a rare
  checkpoint does not count), commits go to a thread, while the pool keeps the connection reserved to
  their transaction; one every PROBE_SECONDS is made on the loop again, timed, to see whether the disk is
  quick again (a commit's time on the thread would include its wait for the interpreter lock);
- a statement that finds another process holding the write lock does not block the loop in SQLite's busy
  handler: the busy timeout is zero, and the statement is retried after an asynchronous pause, until the
  configured timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

# The first pause after "database is locked", doubled up to the last (seconds).
FIRST_PAUSE = 0.001
LONGEST_PAUSE = 0.05
# Commits go to a thread while the median of the last RECENT_COMMITS made on the loop is over
# INLINE_COMMIT_SECONDS; from there, one every PROBE_SECONDS is made on the loop to time the disk again.
INLINE_COMMIT_SECONDS = 0.003
RECENT_COMMITS = 9
PROBE_SECONDS = 2.0


def _locked(error: sqlite3.OperationalError, fresh: bool) -> bool:
    """Another connection holds the lock: worth another try. A statement that opened its transaction may
    also find that another committed meanwhile (SQLITE_BUSY_SNAPSHOT), and starts again from the newest
    data, as SQLite's own busy handler would have. Within a transaction that read before that commit, it is
    an error: the transaction must start again, which no retry of one statement does."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return False
    return code == sqlite3.SQLITE_BUSY or (fresh and code & 0xFF == sqlite3.SQLITE_BUSY)


async def _patiently(attempt: Callable[[], Awaitable[T]], timeout: float, fresh: bool = True) -> T:
    """``await attempt()``, again after a pause while another connection holds the lock, for up to
    ``timeout`` s (``fresh``: no transaction was open before the first try)."""
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        try:
            return await attempt()
        except sqlite3.OperationalError as error:
            if not _locked(error, fresh) or time.monotonic() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)


async def _now(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` as an attempt of `_patiently` that completes without suspending."""
    return call(*args)


class CommitPace:
    """Where a connection's next commit is made: on the loop while the commits made there are quick, else on
    a thread but for one every PROBE_SECONDS. Told how long each commit made on the loop took."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.recent: deque[float] = deque(maxlen=RECENT_COMMITS)
        self.probed_at = float("-inf")

    def slow(self) -> bool:
        return bool(self.recent) and statistics.median(self.recent) > INLINE_COMMIT_SECONDS

    def inline(self) -> bool:
        if not self.slow():
            return True
        now = self.clock()
        if now - self.probed_at >= PROBE_SECONDS:
            self.probed_at = now
            return True
        return False

    def took(self, seconds: float) -> None:
        self.recent.append(seconds)


class InlineCursor:
    """aiosqlite's Cursor, answered at once."""

    def __init__(self, owner: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = owner
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        fresh = not self._owner.in_transaction
        await _patiently(partial(_now, self._cursor.execute, sql, parameters), self._owner.timeout, fresh)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)  # a retry must see every row again
        fresh = not self._owner.in_transaction
        await _patiently(partial(_now, self._cursor.executemany, sql, rows), self._owner.timeout, fresh)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Immediately:
    """The one use SQLAlchemy makes of aiosqlite's request queue (setting the isolation level): done now."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineConnection:
    """aiosqlite's Connection over one ``sqlite3`` connection, for SQLAlchemy's aiosqlite dialect."""

    def __init__(
        self, connection: sqlite3.Connection, timeout: float, pace: CommitPace | None = None
    ) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # None once closed, as in aiosqlite
        self._tx = _Immediately()
        self._thread: ThreadPoolExecutor | None = None
        self.timeout = timeout
        self.pace = pace or CommitPace()

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def commit(self) -> None:
        if not self._conn.in_transaction:
            return  # nothing written: nothing to wait for
        if self.pace.inline():
            await _patiently(partial(_now, self._commit_timed), self.timeout, fresh=False)
        else:
            await _patiently(lambda: self._on_thread(self._conn.commit), self.timeout, fresh=False)

    def _commit_timed(self) -> None:
        started = time.perf_counter()
        self._conn.commit()
        self.pace.took(time.perf_counter() - started)

    async def _on_thread(self, call: Callable[[], None]) -> None:
        """``call()`` on this connection's thread. Its caller may be cancelled meanwhile, but the connection
        goes back to the pool only once the call has finished with it."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="hemicycle-sqlite")
        done = asyncio.get_running_loop().run_in_executor(self._thread, call)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            while not done.done():
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    continue
            raise

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.rollback()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


def connector(path: str, timeout: float, pragmas: Sequence[str]) -> Callable[[], Any]:
    """The ``async_creator`` of an engine on the SQLite file at ``path``: each connection with ``pragmas``
    run, and SQLite's own busy timeout zero (waiting for a lock is done here, without blocking). The
    connections it opens share what their commits showed of the disk."""
    pace = CommitPace()

    async def connect() -> InlineConnection:
        # check_same_thread off: commits run on a thread while the pool holds the connection for them.
        raw = sqlite3.connect(path, timeout=0, check_same_thread=False)
        try:
            for pragma in pragmas:
                await _patiently(partial(_now, raw.execute, pragma), timeout)
        except BaseException:
            raw.close()
            raise
        return InlineConnection(raw, timeout, pace)

    return connect
