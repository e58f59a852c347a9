"""Who is here: presence counts to everyone and the roster to staff, gathered into paced broadcasts.

Counts are read from the database (every process's connections); a burst of joins or leaves becomes one
broadcast, and a crowd's broadcasts are spaced by its size. A change is signalled to every process
(signaling/fanout.py), and each counts and sends to its own connections: with several processes an attendee
still gets one process's worth of counts, not one per process where people join.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

from server.service import Hemicycle

from .rooms import session_room, staff_room

log = logging.getLogger(__name__)

# How long changes are gathered before one broadcast: a burst of joins or hands becomes one message.
PRESENCE_COALESCE_SECONDS = 0.2
LARGE_ROSTER = 300
LARGE_ROSTER_COALESCE_SECONDS = 1.0
PRESENCE_MAX_SECONDS = 5.0
# A large session's counts take at most this share of the process's time: each broadcast is a write to every
# connection, so the next one waits at least this many times as long as the last one's writes took (at 5,000
# attendees on a busy 2-core machine, about 0.4 s of writes: one count every 8 s while a crowd arrives).
PRESENCE_TIME_SHARE = 0.05
PRESENCE_SPACING_CAP_SECONDS = 30.0
# The staff roster of a large session is rebuilt at most every second per 500 people present: filling a
# session of thousands should not spend its time listing everyone again and again. Counts go out each flush.
ROSTER_SECONDS_PER_PERSON = 1 / 500
# In a large session, a joining attendee's welcome reuses counts broadcast this recently.
SUMMARY_FRESH_SECONDS = 2.0
# The signal of a change of presence, to every process (signaling/fanout.py): one per session for the
# changes of this long, not one per person joining a crowd.
SIGNAL = "presence"
SIGNAL_GATHER_SECONDS = 0.05


def spacing(total: int, cost: float) -> float:
    """How long the next broadcast's changes are gathered, after one to `total` people that took `cost`
    seconds. A crowd arriving: a second of joins per broadcast rather than a fifth, a second more per thousand
    people (every one of them receives each count), and at least 1/PRESENCE_TIME_SHARE times its cost."""
    if total <= LARGE_ROSTER:
        return PRESENCE_COALESCE_SECONDS
    by_size = min(PRESENCE_MAX_SECONDS, max(LARGE_ROSTER_COALESCE_SECONDS, total / 1000))
    return min(PRESENCE_SPACING_CAP_SECONDS, max(by_size, cost / PRESENCE_TIME_SHARE))


class Presence:
    """Owned by the Hub: the presence broadcasts of this process (the Notifier's presence_changed).

    ``changed`` signals every process (``signal``); each one with connections in the session
    (``local(session_id)``) gathers, counts and sends to those connections."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        core: Hemicycle,
        local: Callable[[int], int],
        signal: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
    ) -> None:
        self.sio = sio
        self.core = core
        self._local = local
        self._signal = signal
        self._signalling: set[asyncio.Task[None]] = set()
        self._to_signal: set[int] = set()  # sessions whose signal is being gathered
        self._dirty: set[int] = set()
        self._roster_due: dict[int, float] = {}
        self._summaries: dict[int, tuple[float, dict[str, Any]]] = {}
        self._roster_owed: dict[int, asyncio.TimerHandle] = {}
        # Per session: how long its next changes are gathered, and the task gathering them.
        self._delays: dict[int, float] = {}
        self._flushing: dict[int, asyncio.Task[None]] = {}

    def audience(self, session_id: int) -> int:
        """The people present in the session on every process, as this process last counted them (0 before
        its first count)."""
        counted = self._summaries.get(session_id)
        return int(counted[1]["total"]) if counted is not None else 0

    def changed(self, session_id: int) -> None:
        """Someone came or went: every process with connections in the session counts again."""
        if session_id in self._to_signal:
            return  # the signal on its way covers this change: it is sent after, and counted later still
        self._to_signal.add(session_id)
        told = asyncio.create_task(self._tell(session_id), name=f"hemicycle-presence-signal-{session_id}")
        self._signalling.add(told)
        told.add_done_callback(self._signalling.discard)

    async def _tell(self, session_id: int) -> None:
        try:
            await asyncio.sleep(SIGNAL_GATHER_SECONDS)
        finally:
            self._to_signal.discard(session_id)
        await self._signal(SIGNAL, {"session_id": session_id})

    async def signalled(self, data: dict[str, Any]) -> None:
        """A change on some process (this one included): a count for this process's connections is due."""
        session_id = data.get("session_id")
        if not isinstance(session_id, int) or isinstance(session_id, bool):
            log.warning("ignored a malformed presence signal: %r", data)
            return
        if self._local(session_id):
            self._due(session_id)

    def _due(self, session_id: int) -> None:
        """A broadcast of the session's counts is due here, once its changes have gathered."""
        self._dirty.add(session_id)
        task = self._flushing.get(session_id)
        if task is None or task.done():
            self._flushing[session_id] = asyncio.create_task(
                self._flush_later(session_id), name=f"hemicycle-presence-{session_id}"
            )

    def changed_all(self, sessions: set[int]) -> None:
        """Sessions every process counts again (at stop: those this process's leaving touched)."""
        for session_id in sessions:
            self.changed(session_id)

    async def _flush_later(self, session_id: int) -> None:
        """Broadcast the session's counts once its changes have gathered, and again as long as changes come
        in: changes made while a broadcast is being written wait for the next, a whole spacing later."""
        while session_id in self._dirty:
            await asyncio.sleep(self._delays.get(session_id, PRESENCE_COALESCE_SECONDS))
            if session_id in self._dirty:
                await self._flush(session_id)
        self._flushing.pop(session_id, None)

    async def flush_now(self) -> None:
        """The signals on their way, then every session with changes here, at once (at stop)."""
        await asyncio.gather(*self._signalling, return_exceptions=True)
        for session_id in list(self._dirty):
            await self._flush(session_id)

    async def _flush(self, session_id: int) -> None:
        self._dirty.discard(session_id)
        try:
            summary = await self.core.presence_summary(session_id)
            self._summaries[session_id] = (time.monotonic(), summary)
            started = time.perf_counter()
            await self.sio.emit("presence", summary, room=session_room(session_id), ignore_queue=True)
            self._delays[session_id] = spacing(summary["total"], time.perf_counter() - started)
            await self._send_roster(session_id)
        except Exception:
            log.exception("presence broadcast for session %s failed", session_id)

    async def stop(self) -> None:
        tasks = list(self._flushing.values())
        self._flushing.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for handle in self._roster_owed.values():
            handle.cancel()
        self._roster_owed.clear()

    async def _send_roster(self, session_id: int) -> None:
        """The roster to staff, now or, in a large session, once its spacing has passed."""
        now = time.monotonic()
        due = self._roster_due.get(session_id, 0.0)
        if now < due:
            if session_id not in self._roster_owed:
                self._roster_owed[session_id] = asyncio.get_running_loop().call_later(
                    due - now, self._roster_later, session_id
                )
            return
        snapshot = await self.core.presence(session_id)
        self._roster_due[session_id] = now + len(snapshot.people) * ROSTER_SECONDS_PER_PERSON
        await self.sio.emit(
            "presence:people",
            {"session_id": session_id, "people": snapshot.roster()},
            room=staff_room(session_id),
            ignore_queue=True,
        )

    def _roster_later(self, session_id: int) -> None:
        """The roster owed to this process's staff: this process's own business, not signalled."""
        self._roster_owed.pop(session_id, None)
        self._due(session_id)

    async def summary(self, session_id: int) -> dict[str, Any]:
        """Presence counts for a joining attendee. In a large session, the last ones broadcast if recent (the
        join itself triggers the next broadcast, which counts the newcomer): within the broadcasts' own
        spacing, which grows with the audience, so that a crowd arriving does not count everyone present
        again per batch of joiners; otherwise a fresh aggregate."""
        at, summary = self._summaries.get(session_id, (float("-inf"), None))
        if (
            summary is not None
            and summary["total"] > LARGE_ROSTER
            and time.monotonic() - at
            < max(SUMMARY_FRESH_SECONDS, self._delays.get(session_id, 0.0) + PRESENCE_COALESCE_SECONDS)
        ):
            return summary
        return await self.core.presence_summary(session_id)
