"""Short pauses from Python's cycle collector in a process that holds thousands of connections.

CPython's cycle collector stops the event loop for the whole of a collection, and a full collection walks
every object the process tracks. A server process with 5,000 attendees tracks about 900,000 objects (their
websockets, engine.io sockets, queues, tasks), so each full collection held the loop for 600–850 ms, about
every ten seconds, measured with `python -m bench.fanout`: every update and every forwarded media packet
waited that long. Those collections found next to nothing to free (none at all while attendees were still
joining, about a hundred objects a time afterwards): almost every object they walked is a live connection.

So every `freeze_seconds` (2 s by default), while it holds connections, the process collects what is not
yet frozen, then freezes what survived (`gc.freeze()`: moved where collections no longer look).
Collections then walk only what was made since: at 5,000 attendees they took 20–40 ms with a 2 s period,
60–170 ms with 10 s. The collector itself keeps running as usual.

What freezing costs: an object frozen while alive and later left in a reference cycle is not freed until the
process unfreezes. Measured: a closed connection leaves about 6 such objects (asyncio's transport and its
socket; signaling/wsdirect.py keeps engine.io's close from leaving some 65 more), and a minute of the
benchmark's load about 70. So every `reclaim_seconds` (6 hours by default), and whenever the process has
no connection left, it unfreezes, collects everything (the one long pause, 0.7 s at 5,000 attendees, at a
known time, logged with what it freed) and freezes again. Collections that hold the loop for 100 ms or more
are logged as warnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

SLOW_PAUSE_SECONDS = 0.1


class CollectorPacing:
    """Collect and freeze survivors every `freeze_seconds`; unfreeze and collect everything every
    `reclaim_seconds`, or as soon as `idle()` says the process holds no connection."""

    def __init__(
        self,
        freeze_seconds: float,
        reclaim_seconds: float,
        idle: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freeze_seconds = freeze_seconds
        self.reclaim_seconds = reclaim_seconds
        self.idle = idle
        self.clock = clock
        self.reclaimed_at = clock()
        self.freezes_since_reclaim = 0
        self.longest_pause = 0.0  # seconds: the longest collection seen, for the logs and tests
        self._task: asyncio.Task[None] | None = None
        self._started: float | None = None

    # -- the collector's own pauses --------------------------------------------------------------

    def _watch(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return
        pause, self._started = time.perf_counter() - self._started, None
        self.longest_pause = max(self.longest_pause, pause)
        if pause >= SLOW_PAUSE_SECONDS:
            log.warning(
                "the cycle collector held the event loop %.0f ms (generation %d, %d objects freed)",
                pause * 1000,
                info.get("generation", -1),
                info.get("collected", 0),
            )

    # -- steps -----------------------------------------------------------------------------------

    def freeze(self) -> None:
        """Collect what is not frozen, then freeze the survivors. (Not `gc.get_freeze_count()`: it walks
        every frozen object, which at 5,000 attendees cost more than the collection.)"""
        gc.collect()
        gc.freeze()
        self.freezes_since_reclaim += 1

    def reclaim(self) -> int:
        """Unfreeze, collect everything, freeze again; returns how many objects the collection freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.reclaimed_at = self.clock()
        self.freezes_since_reclaim = 0
        log.info(
            "cycle collector: full collection freed %d objects in %.0f ms; %d objects frozen",
            freed,
            (time.perf_counter() - started) * 1000,
            gc.get_freeze_count(),
        )
        return freed

    def tick(self) -> None:
        """One period: reclaim if due, or once on becoming idle; else, with connections, freeze the
        survivors. An idle process freezes nothing: nobody waits on its collections."""
        idle = self.idle()
        if self.clock() - self.reclaimed_at >= self.reclaim_seconds or (idle and self.freezes_since_reclaim):
            self.reclaim()
        elif not idle:
            self.freeze()

    # -- running ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.freeze_seconds)
            try:
                self.tick()
            except Exception:  # never let the pacing end the process's work
                log.exception("cycle collector pacing failed; retrying")

    def start(self) -> None:
        gc.callbacks.append(self._watch)
        self.reclaim()  # what the start-up made (modules, mappers, settings) is frozen at once
        self._task = asyncio.create_task(self._run(), name="hemicycle-collector")
        log.info(
            "cycle collector: survivors frozen every %g s, a full collection every %g min or when idle",
            self.freeze_seconds,
            self.reclaim_seconds / 60,
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._watch)
        gc.unfreeze()

    def attach(self, app: web.Application) -> None:
        """Run with the application: started after its own start-up, stopped before its clean-up."""

        async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
            self.start()
            yield
            await self.stop()

        app.cleanup_ctx.append(lifecycle)
