"""The write path's check that a connected person still stands: one transaction for every write waiting.

Every write an attendee sends, and anything staff send, is checked against the database as it is now: a
withdrawn link, or an attendee removed or sent back to the waiting room, is refused at once, even on a
connection opened before. Checked one by one, that is two reads per write on the one connection a process
has to SQLite (or a pool connection on PostgreSQL), each waiting its turn in an event loop busy
broadcasting; under a burst of hands, the checks queue up behind each other and hold up the moderator's
grant. So the checks waiting at a moment are answered together: while one transaction runs, the next
gather, and each write still waits for a check made after it arrived.

A connection that writes nothing is closed by the process that decides (through the Socket.IO manager, so
Redis when there are several processes); StandingWatch makes the database the second way there, which holds
when Redis is down or a decision was taken with no server of its own (the command line).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from .db.store import Standing, Store
from .domain.errors import HemicycleError
from .domain.model import Principal

log = logging.getLogger(__name__)


class StandingChecks:
    """Whether a link still stands (not withdrawn or reissued) at the moment it is used: the pending checks
    of this process, batched, and the task answering them. Built once by the composition root; called by the
    Socket.IO hub (on writes and staff events) and the media events."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[Standing, list[asyncio.Future[HemicycleError | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def check(self, principal: Principal, session_id: int) -> None:
        """Raise the refusal this person's write gets: their grant is gone, or (attendees) they are no
        longer admitted to the session."""
        ask = _ask(principal, session_id)
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


# How often each process reads the standing versions of the events its connections belong to.
WATCH_SECONDS = 1.0
# While the fan-out (Redis) works, the process that took a decision closes the connections it concerns on
# every process within about a second; this watch closes what is still open after this long.
FANOUT_GRACE_SECONDS = 2.0
WATCH_BATCH = 1000


@dataclass(frozen=True)
class Held:
    """One admitted connection of this process, as the watch sees it."""

    key: str
    principal: Principal
    session_id: int


class StandingWatch:
    """Owned by the Socket.IO hub: closes this process's connections whose standing was taken away, read from
    the database rather than carried by Redis.

    Every WATCH_SECONDS it reads one integer per event it holds connections to (bumped in the transaction
    of every ban, removal, withdrawn link or waiting-room decision). When one moved, the connections of that
    event are checked again, all in one transaction (Store.standings, the write path's check), as is every
    connection not checked since it joined. A connection refused is handed to `refused` at once when the
    fan-out is down; while it works, the deciding process closes it through Redis, and the watch acts only
    on what is still open FANOUT_GRACE_SECONDS later (a safety net, not a second notice).
    """

    def __init__(
        self,
        store: Store,
        held: Callable[[], Iterable[Held]],
        refused: Callable[[Held, HemicycleError], Awaitable[None]],
        fanout_up: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._held = held
        self._refused = refused
        self._fanout_up = fanout_up
        self._clock = clock
        self._versions: dict[int, int] = {}
        self._checked: set[str] = set()
        self._suspects: dict[str, float] = {}
        self._handed: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hemicycle-standing-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.poll()
            except Exception:
                if not failing:  # once per outage, not every second of it
                    log.warning("standing watch cannot read the database; retrying", exc_info=True)
                failing = True
            else:
                failing = False

    async def poll(self) -> None:
        """One look: read the versions, re-check what may have changed, hand over what is refused."""
        everyone = list(self._held())
        # Forget connections that closed meanwhile.
        self._handed &= {h.key for h in everyone}
        held = {h.key: h for h in everyone if h.key not in self._handed}
        self._checked &= held.keys()
        for key in list(self._suspects):
            if key not in held:
                del self._suspects[key]
        events = {h.principal.event_id for h in held.values()}
        versions = await self._store.standing_versions(events) if events else {}
        moved = {e for e in events if self._versions.get(e) != versions.get(e)}
        due = [
            h
            for h in held.values()
            if h.principal.event_id in moved or h.key not in self._checked or h.key in self._suspects
        ]
        if not due:
            self._versions = versions
            return
        asks = {h.key: _ask(h.principal, h.session_id) for h in due}
        distinct = list(set(asks.values()))
        answers: dict[Standing, HemicycleError | None] = {}
        # A crowd joining within one poll stays under the databases' limits on bound parameters.
        for start in range(0, len(distinct), WATCH_BATCH):
            answers.update(await self._store.standings(distinct[start : start + WATCH_BATCH]))
        # Only now: had the checks failed, the next look would still see the versions as moved.
        self._versions = versions
        self._checked |= asks.keys()
        now = self._clock()
        fanout_up = self._fanout_up()
        for h in due:
            refusal = answers[asks[h.key]]
            if refusal is None:
                self._suspects.pop(h.key, None)
                continue
            first = self._suspects.setdefault(h.key, now)
            if fanout_up and now - first < FANOUT_GRACE_SECONDS:
                continue
            self._suspects.pop(h.key, None)
            self._handed.add(h.key)
            try:
                await self._refused(h, refusal)
            except Exception:
                log.exception("could not close connection %s after its standing changed", h.key)


def _ask(principal: Principal, session_id: int) -> Standing:
    session = None if principal.role.is_staff else session_id
    return Standing(principal.grant_id, principal.participant.id, session)
