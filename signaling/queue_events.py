"""Socket.IO events of the speakers' queue and the floor, and the paced broadcasts of their changes.

Registered into the Hub's handler table; every handler checks its payload with ``signaling.protocol`` and
calls the ``server.floor.Floor`` use case, which checks the caller and notifies ``changed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import socketio

from server.domain.booths import floor_of
from server.domain.queue import Entry
from server.floor import Floor

from . import protocol
from .pacing import SessionPacer
from .rooms import Connection, Handler, participant_room, session_room, staff_room

log = logging.getLogger(__name__)

# Queue changes: a short window gathers a burst (a lower-all, simultaneous hands); then broadcasts to a
# session are spaced by its audience, so thousands of attendees get a few fresh floors a second under load
# instead of twenty that pile up in their sockets. A quiet change goes out after the short window. A broadcast
# costs about 10 µs per websocket listener (signaling/wsdirect.py), so 50 µs leaves the event loop most of
# its time for the writes and acknowledgements under load.
QUEUE_COALESCE_SECONDS = 0.005
QUEUE_SPACING_PER_LISTENER = 50e-6
QUEUE_SPACING_MAX_SECONDS = 0.3
# The signal of a queue change, to every process (signaling/fanout.py).
SIGNAL = "queue"


class QueueEvents:
    """Owned by the Hub: the queue's and the floor's handlers, and their broadcasts to the session's rooms.

    A change is signalled to every process (``signal``, signaling/fanout.py), and each paces and sends the
    broadcasts to its own connections: an attendee gets one process's worth of fresh floors, however many
    processes take hands. ``audience(session_id)`` is the number of the session's listeners on every process,
    ``local(session_id)`` on this one: the first spaces the broadcasts (the same pace on every process), the
    second says whether this process has anyone to send them to."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        floor: Floor,
        audience: Callable[[int], int],
        local: Callable[[int], int],
        signal: Callable[[str, dict[str, Any]], Coroutine[Any, Any, None]],
    ) -> None:
        self.sio = sio
        self.floor = floor
        self._audience = audience
        self._local = local
        self._signal = signal
        self._signalling: set[asyncio.Task[None]] = set()
        self._pacer = SessionPacer("queue", self._flush, QUEUE_COALESCE_SECONDS, self._spacing)
        # Per session, what booths were last told by this process (`booth:floor`): sent again only when it
        # changes, not with every hand raised at the back of the line.
        self._booth_floor: dict[int, dict[str, Any]] = {}
        self.handlers: dict[str, Handler] = {
            "hand:raise": self._on_hand_raise,
            "hand:lower": self._on_hand_lower,
            "queue:get": self._on_queue_get,
            "queue:add_in_room": self._on_add_in_room,
            "queue:move": self._on_move,
            "queue:remove": self._on_remove,
            "queue:lower_all": self._on_lower_all,
            "queue:settings": self._on_settings,
            "floor:grant": self._on_grant,
            "floor:end": self._on_end,
            "floor:time": self._on_time,
        }

    # -- broadcasts -----------------------------------------------------------------------------

    def changed(self, session_id: int, participants: set[int]) -> None:
        """The Notifier's queue_changed: a broadcast is due on every process (``participants``: whose own
        request changed)."""
        told = asyncio.create_task(
            self._signal(SIGNAL, {"session_id": session_id, "participants": sorted(participants)}),
            name=f"hemicycle-queue-signal-{session_id}",
        )
        self._signalling.add(told)
        told.add_done_callback(self._signalling.discard)

    async def signalled(self, data: dict[str, Any]) -> None:
        """A change on some process (this one included): a broadcast to this process's connections is due."""
        session_id, participants = data.get("session_id"), data.get("participants")
        if not isinstance(session_id, int) or not isinstance(participants, list):
            log.warning("ignored a malformed queue signal: %r", data)
            return
        if self._local(session_id):
            self._pacer.changed(session_id, {p for p in participants if isinstance(p, int)})

    async def flush_all(self) -> None:
        await asyncio.gather(*self._signalling, return_exceptions=True)
        await self._pacer.flush_all()

    async def stop(self) -> None:
        await self._pacer.stop()

    def _spacing(self, session_id: int) -> float:
        return min(QUEUE_SPACING_MAX_SECONDS, self._audience(session_id) * QUEUE_SPACING_PER_LISTENER)

    async def _flush(self, session_id: int, touched: set[int]) -> None:
        """One read, then, to this process's connections (every process sends to its own): each participant
        whose own request changed, their view (first, so that the line that follows finds it); the floor to
        everyone; the line's order to those in it, who find their new place there; to staff, the booths' view
        (the floor's language and the next two) when it differs from the last this process sent, then the
        full queue (a client that sees the queue has seen it)."""
        try:
            state = await self.floor.state(session_id)
            staff, public = self.floor.views(state)
            line, waiting = self.floor.line(state)
            for participant_id, mine in (await self.floor.mine_of(state, touched)).items():
                await self.sio.emit(
                    "queue:mine", mine, room=participant_room(session_id, participant_id), ignore_queue=True
                )
            await self.sio.emit("floor", public, room=session_room(session_id), ignore_queue=True)
            if waiting:
                # One message for all their rooms on this process.
                rooms = [participant_room(session_id, participant_id) for participant_id in waiting]
                await self.sio.emit("queue:line", line, room=rooms, ignore_queue=True)
            booths = floor_of(state)
            if self._booth_floor.get(session_id) != booths:
                self._booth_floor[session_id] = booths
                await self.sio.emit("booth:floor", booths, room=staff_room(session_id), ignore_queue=True)
            await self.sio.emit("queue", staff, room=staff_room(session_id), ignore_queue=True)
        except Exception:
            log.exception("queue broadcast for session %s failed", session_id)

    # -- handlers -------------------------------------------------------------------------------

    async def _on_hand_raise(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HandRaise, payload)
        await self.floor.raise_hand(c.principal, c.session_id, request.type, request.language)
        return await self._mine(c)

    async def _on_hand_lower(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.HandLower, payload)
        lowered = await self.floor.lower_hand(c.principal, c.session_id)
        return await self._mine(c, lowered)

    async def _mine(self, c: Connection, latest: Entry | None = None) -> dict[str, Any]:
        # The state this process just wrote is held in memory: this read checks its version, no more.
        state = await self.floor.state(c.session_id)
        return await self.floor.mine(state, c.principal.participant.id, latest)

    async def _on_queue_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.QueueGet, payload)
        state = await self.floor.state(c.session_id)
        data: dict[str, Any] = {
            "floor": self.floor.public(state),
            "mine": await self.floor.mine(state, c.principal.participant.id),
        }
        if c.principal.role.is_staff:
            data["queue"] = self.floor.staff(state)
        return data

    async def _on_add_in_room(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueAddInRoom, payload)
        entry = await self.floor.add_in_room(c.principal, c.session_id, request.model_dump())
        return {"entry": entry.public()}

    async def _on_move(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueMove, payload)
        entry = await self.floor.move(c.principal, c.session_id, request.entry_id, request.to)
        return {"entry": entry.public(), "position": entry.position}

    async def _on_remove(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueRemove, payload)
        entry = await self.floor.remove(c.principal, c.session_id, request.entry_id, request.reason)
        return {"entry": entry.public()}

    async def _on_lower_all(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueLowerAll, payload)
        lowered = await self.floor.lower_all(c.principal, c.session_id, request.reason)
        return {"lowered": len(lowered)}

    async def _on_settings(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueSettings, payload)
        await self.floor.settings(
            c.principal,
            c.session_id,
            request.default_speaking_seconds,
            request.auto_end_grace_seconds,
            request.auto_end,
            request.targets,
        )
        state = await self.floor.state(c.session_id)
        return {"settings": self.floor.staff(state)["settings"]}

    async def _on_grant(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorGrant, payload)
        entry = await self.floor.grant(c.principal, c.session_id, request.entry_id, request.limit_seconds)
        return {"entry": entry.public()}

    async def _on_end(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorEnd, payload)
        entry = await self.floor.end(c.principal, c.session_id, request.entry_id, request.revoke)
        return {"entry": entry.public(), "end_reason": entry.end_reason}

    async def _on_time(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorTime, payload)
        entry = await self.floor.set_time(
            c.principal, c.session_id, request.entry_id, request.limit_seconds, request.add_seconds
        )
        return {
            "entry": entry.public(),
            "limit_seconds": entry.limit_seconds,
            "extra_seconds": entry.extra_seconds,
        }
