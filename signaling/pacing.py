"""Broadcast pacing: a session's changes gathered for a short window, then sent at most once per spacing.

A burst of hands or votes becomes one broadcast; a large audience is not sent twenty fresh states a second.
The event modules (queue_events, question_events) say what a flush sends; this says when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class SessionPacer:
    """Per session: the participants whose own view changed since the last flush, and the task that flushes.

    ``flush(session_id, touched)`` must not raise (it logs its own failures): a failed broadcast is not
    retried here, the next change carries the state again.
    """

    def __init__(
        self,
        name: str,
        flush: Callable[[int, set[int]], Awaitable[None]],
        window: float,
        spacing: Callable[[int], float],
    ) -> None:
        self._name = name
        self._flush = flush
        self._window = window
        self._spacing = spacing
        self._dirty: dict[int, set[int]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._sent: dict[int, float] = {}

    def changed(self, session_id: int, participants: set[int]) -> None:
        self._dirty.setdefault(session_id, set()).update(participants)
        task = self._tasks.get(session_id)
        if task is None or task.done():
            self._tasks[session_id] = asyncio.create_task(
                self._later(session_id), name=f"hemicycle-{self._name}-{session_id}"
            )

    async def _later(self, session_id: int) -> None:
        """Flush a session's changes, no sooner than its spacing after its previous broadcast."""
        while session_id in self._dirty:
            since = time.monotonic() - self._sent.get(session_id, float("-inf"))
            await asyncio.sleep(max(self._window, self._spacing(session_id) - since))
            self._sent[session_id] = time.monotonic()
            await self._flush_one(session_id)

    async def _flush_one(self, session_id: int) -> None:
        await self._flush(session_id, self._dirty.pop(session_id, set()))

    async def flush_all(self) -> None:
        """Send what is pending now (at stop)."""
        while self._dirty:
            await self._flush_one(next(iter(self._dirty)))

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
