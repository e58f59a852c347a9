"""Reads of one row asked for at the same moment, answered by one query.

Under a burst of hands every write reads the session and the queue's version again: fifty at once are fifty
transactions in line for the one connection a process has to SQLite (or for a pool connection on
PostgreSQL), and the moderator's grant waits behind them all. A read asked for while another read of the
same key runs waits for the next one, shared with every caller that arrived meanwhile. Each caller still
gets a read that started after it asked, so it sees whatever was committed before it asked, its own writes
included: the same guarantee as a read of its own, for one query per round instead of one per caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GatheredReads(Generic[K, V]):
    """`get(key)` runs `read(key)`, or joins the next run of it when one is already under way."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._next: dict[K, list[asyncio.Future[V]]] = {}  # each key's newcomers, for its next read
        self._running: dict[K, asyncio.Task[None]] = {}

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        # Each caller waits on a future of its own: one that gives up (cancelled, timed out) cancels only
        # that one, and leaves the read to the others.
        answer: asyncio.Future[V] = loop.create_future()
        waiting = self._next.get(key)
        if waiting is None:
            waiting = self._next[key] = []
        waiting.append(answer)
        running = self._running.get(key)
        if running is None or running.done() or running.get_loop() is not loop:  # none, or a closed loop's
            self._running[key] = asyncio.create_task(self._run(key), name=f"hemicycle-read-{key}")
        return await answer

    async def _run(self, key: K) -> None:
        try:
            while (waiting := self._next.pop(key, None)) is not None:
                if not any(not answer.done() for answer in waiting):
                    continue  # every one of them gave up
                try:
                    value = await self._read(key)
                except Exception as exc:  # each caller gets the error its own read would have raised
                    for answer in waiting:
                        if not answer.done():
                            answer.set_exception(exc)
                            answer.exception()  # retrieved: no warning when the caller has gone
                else:
                    for answer in waiting:
                        if not answer.done():
                            answer.set_result(value)
        finally:
            # No await between the loop's last check and here: a caller arriving after starts a new run.
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]
            for answer in self._next.pop(key, ()):
                answer.cancel()  # only when this task itself is cancelled (the process stopping)


A = TypeVar("A")

# Calls answered together at most: a batch's query names each of them (an IN list, one row each).
MAX_GATHERED_CALLS = 256
# The spacing of the batches a crowd makes (connections arriving, joining, leaving). Measured with
# bench.fanout, 5,000 joining one process on SQLite: 7.1 s with none, 6.6 s with 5 ms, 5.7 s with 10 ms,
# 5.6 s with 20 ms (the bare server: 3.2 s). A joiner waits at most this much more.
CROWD_SPACING_SECONDS = 0.01


class GatheredCalls(Generic[A, V]):
    """`call(arg)` is answered by `run(args)` together with the calls of the same moment.

    The first caller's batch starts at once, alone; callers arriving while it runs go together in the next,
    and so on: no wait is added when calls are rare, and under a crowd (thousands joining at once) one
    transaction answers many, instead of each waiting its turn for the database. As with GatheredReads, each
    batch starts after its callers asked. `run` returns one answer per argument, in order: a value, or the
    exception that caller gets (a refusal for one does not fail the others). An exception raised by `run`
    itself goes to every caller of the batch.

    With `spacing`, a batch starts at least that long after the one before. A batch whose transaction never
    waits (SQLite's, server/db/inline_sqlite.py) is over before anyone else can call, so under a crowd each
    answered the few callers of one turn of the event loop, and the transactions' own cost (a commit, the
    statements' preparation) was paid again and again. A caller when no batch started within `spacing`
    still goes at once.
    """

    def __init__(
        self,
        run: Callable[[list[A]], Awaitable[list[V | BaseException]]],
        name: str,
        max_batch: int = MAX_GATHERED_CALLS,
        spacing: float = 0.0,
    ) -> None:
        self._run = run
        self._name = name
        self._max = max_batch
        self._spacing = spacing
        self._started = float("-inf")  # the loop's time when the last batch started
        self._waiting: list[tuple[A, asyncio.Future[V]]] = []
        self._running: asyncio.Task[None] | None = None

    async def call(self, arg: A, abandoned: Callable[[V], None] | None = None) -> V:
        """`run`'s answer for `arg`. A caller that gives up (cancelled) is skipped by a batch not yet
        started; with `abandoned`, its call goes on instead, and `abandoned(value)` is told what the batch
        did for it (a call that writes: the caller's cleanup then comes after the write, never before)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[V] = loop.create_future()
        self._waiting.append((arg, answer))
        running = self._running
        if running is None or running.done() or running.get_loop() is not loop:
            self._running = asyncio.create_task(self._drain(), name=f"hemicycle-{self._name}")
        if abandoned is None:
            # The caller's own future: one that gives up cancels it, and its batch skips it.
            return await answer
        try:
            return await asyncio.shield(answer)
        except asyncio.CancelledError:
            answer.add_done_callback(
                lambda done: None if done.cancelled() or done.exception() else abandoned(done.result())
            )
            raise

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[A, asyncio.Future[V]]] = []
        try:
            while self._waiting:
                early = self._started + self._spacing - loop.time()
                if early > 0:
                    await asyncio.sleep(early)
                batch = [(arg, answer) for arg, answer in self._waiting[: self._max] if not answer.done()]
                del self._waiting[: self._max]
                if batch:
                    self._started = loop.time()
                    await self._answer(batch)
        except asyncio.CancelledError:  # the process stopping: nobody is left waiting for this drain
            for _, answer in (*batch, *self._waiting):
                answer.cancel()
            self._waiting.clear()
            raise
        finally:
            # No await between the loop's last check and here: a caller arriving after starts a new drain.
            if self._running is asyncio.current_task():
                self._running = None

    async def _answer(self, batch: list[tuple[A, asyncio.Future[V]]]) -> None:
        try:
            answers = await self._run([arg for arg, _ in batch])
        except Exception as exc:  # every caller of the batch gets it
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
                    answer.exception()  # retrieved: no warning when the caller has gone
            return
        for (_, answer), value in zip(batch, answers, strict=True):
            if answer.done():
                continue
            if isinstance(value, BaseException):
                answer.set_exception(value)
                answer.exception()
            else:
                answer.set_result(value)
