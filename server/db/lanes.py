"""One lane per session for changes made in this process, with floor staff ahead of attendees.

The database serialises changes to a session across processes (a row lock on PostgreSQL, the write lock on
SQLite). Within one process, waiting at the database is the wrong queue: SQLite's busy handler polls with
growing sleeps and wakes writers in no particular order, and a moderator's grant would wait behind every
hand already waiting. So each process lines its own writers up here first, in order, and lets floor staff
through before attendees: a grant never waits for a backlog of raised hands.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

STAFF = 0
ATTENDEE = 1


class Lane:
    """A mutual-exclusion lock whose waiters go in (priority, arrival) order."""

    def __init__(self) -> None:
        self._held = False
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return sum(1 for *_, f in self._waiters if not f.done())

    @asynccontextmanager
    async def hold(self, priority: int = ATTENDEE) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if not self._held and not self._waiters:
            self._held = True
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrivals), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # Handed the lane just as we were cancelled: pass it on rather than keep it.
                self._release()
            raise

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)  # the lane passes straight to the next waiter
                return
        self._held = False


class Lanes:
    """The lanes of this process, one per key (a session id), created on first use."""

    def __init__(self) -> None:
        self._lanes: dict[int, Lane] = {}

    def __getitem__(self, key: int) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane()
        return lane
