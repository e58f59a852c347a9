"""Changes to one session, serialised per process and committed in batches, floor staff first.

The database serialises changes to a session across processes (a row lock on PostgreSQL, the write lock on
SQLite), and each change bumps the session's version. Taken one transaction at a time, a burst of hands in a
large session is slow: each change holds that lock for several round trips to the database, and each round
trip waits its turn in an event loop that is also busy broadcasting. So each process gathers the changes
waiting for a session and applies them together, in one transaction and one version bump, floor staff's
ahead of attendees': a moderator's grant never waits behind a backlog of hands.

A change is a coroutine function run against the open transaction's context. A change that refuses (raises
one of the `refusals`) must do so before it writes anything: it is answered with its refusal and the others
in the batch go on. When every change of a batch refuses, the transaction is rolled back, version bump
included. Any other exception rolls the whole batch back and is raised to each of its changes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

STAFF = 0
ATTENDEE = 1
MAX_BATCH = 64

Context = TypeVar("Context")
T = TypeVar("T")


class NothingChanged(Exception):
    """Raised inside a batch's transaction to roll it back: every change in it was refused."""


@dataclass(order=True)
class _Waiting:
    priority: int
    arrival: int
    change: Callable[[Any], Awaitable[Any]] = field(compare=False)
    answer: asyncio.Future[Any] = field(compare=False)


class Batches(Generic[Context]):
    """Per key (a session id), one batch at a time; changes queue up in (priority, arrival) order."""

    def __init__(
        self,
        open_batch: Callable[[int], AbstractAsyncContextManager[Context]],
        refusals: tuple[type[BaseException], ...],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._open = open_batch
        self._refusals = refusals
        self._max = max_batch
        self._waiting: dict[int, list[_Waiting]] = {}
        self._draining: dict[int, asyncio.Task[None]] = {}
        self._arrivals = itertools.count()

    async def submit(self, key: int, priority: int, change: Callable[[Context], Awaitable[T]]) -> T:
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._waiting.setdefault(key, []), _Waiting(priority, next(self._arrivals), change, answer)
        )
        if key not in self._draining:
            self._draining[key] = asyncio.create_task(self._drain(key), name=f"hemicycle-batches-{key}")
        return await answer

    async def _drain(self, key: int) -> None:
        try:
            while waiting := self._waiting.get(key):
                batch = [heapq.heappop(waiting) for _ in range(min(self._max, len(waiting)))]
                if not waiting:
                    del self._waiting[key]
                await self._apply(key, [w for w in batch if not w.answer.done()])
        finally:
            # No await between the loop's last check and here: a change submitted after starts a new drain.
            self._draining.pop(key, None)

    async def _apply(self, key: int, batch: list[_Waiting]) -> None:
        if not batch:
            return
        outcomes: list[tuple[_Waiting, Any, bool]] = []
        try:
            async with self._open(key) as context:
                for waiting in batch:
                    try:
                        outcomes.append((waiting, await waiting.change(context), True))
                    except self._refusals as refusal:
                        outcomes.append((waiting, refusal, False))
                if not any(ok for _, _, ok in outcomes):
                    raise NothingChanged
        except NothingChanged:
            pass
        except Exception as exc:
            log.warning("a batch of %d changes to %s failed: %r", len(batch), key, exc)
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(exc)
            return
        for waiting, value, ok in outcomes:
            if waiting.answer.done():
                continue  # the caller went away
            if ok:
                waiting.answer.set_result(value)
            else:
                waiting.answer.set_exception(value)
