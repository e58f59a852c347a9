"""The write path's check that a connected person still stands: one transaction for every write waiting.

Every write an attendee sends, and anything staff send, is checked against the database as it is now: a
withdrawn link, or an attendee removed or sent back to the waiting room, is refused at once, even on a
connection opened before. Checked one by one, that is two reads per write on the one connection a process
has to SQLite (or a pool connection on PostgreSQL), each waiting its turn in an event loop busy
broadcasting; under a burst of hands, the checks queue up behind each other and hold up the moderator's
grant. So the checks waiting at a moment are answered together: while one transaction runs, the next
gather, and each write still waits for a check made after it arrived.
"""

from __future__ import annotations

import asyncio

from .db.store import Standing, Store
from .domain.errors import HemicycleError
from .domain.model import Principal


class StandingChecks:
    """Owned by the Socket.IO hub: the pending checks of this process and the task answering them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[Standing, list[asyncio.Future[HemicycleError | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def check(self, principal: Principal, session_id: int) -> None:
        """Raise the refusal this person's write gets: their grant is gone, or (attendees) they are no
        longer admitted to the session."""
        ask = Standing(
            principal.grant_id, principal.participant.id, None if principal.role.is_staff else session_id
        )
        answer: asyncio.Future[HemicycleError | None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(ask, []).append(answer)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._answer(), name="hemicycle-standing")
        refusal = await answer
        if refusal is not None:
            raise refusal

    async def _answer(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                answers = await self._store.standings(batch.keys())
            except Exception as exc:  # the database failed: every write waiting fails with it
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for ask, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(answers[ask])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
