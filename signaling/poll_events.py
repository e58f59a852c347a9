"""The Socket.IO side of live polls: `polls:get`, the moderator's `poll:*` and the attendees' `poll:answer`,
and the paced broadcasts of the polls' state.

Two paces (signaling/pacing.py): staff get every change within a quarter of a second, however many answer;
the room (attendees and the room display) at most once a second, and only for what it can see (a poll
opened, closed or shown; answers to a poll whose results are shown). Each broadcast is the whole list,
bounded by the number of polls and the word list's length, not by the number of answers, so an attendee's
bytes per second stay bounded while thousands answer.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from server.polls import Polls

from . import protocol
from .pacing import SessionPacer
from .rooms import Connection, Handler, session_room, staff_room

log = logging.getLogger(__name__)

POLLS_STAFF_COALESCE_SECONDS = 0.05
POLLS_STAFF_SPACING_SECONDS = 0.25
POLLS_ROOM_COALESCE_SECONDS = 0.1
POLLS_ROOM_SPACING_SECONDS = 1.0


class PollEvents:
    """Owned by the Hub: the polls' handlers, and their paced broadcasts to staff and to the room."""

    def __init__(self, sio: socketio.AsyncServer, polls: Polls) -> None:
        self.sio = sio
        self.polls = polls
        self._staff = SessionPacer(
            "polls-staff",
            self._flush_staff,
            POLLS_STAFF_COALESCE_SECONDS,
            lambda _s: POLLS_STAFF_SPACING_SECONDS,
        )
        self._room = SessionPacer(
            "polls-room", self._flush_room, POLLS_ROOM_COALESCE_SECONDS, lambda _s: POLLS_ROOM_SPACING_SECONDS
        )
        self.handlers: dict[str, Handler] = {
            "polls:get": self._on_get,
            "poll:create": self._on_create,
            "poll:edit": self._on_edit,
            "poll:delete": self._on_delete,
            "poll:open": self._on_open,
            "poll:close": self._on_close,
            "poll:results": self._on_results,
            "poll:answer": self._on_answer,
        }
        assert set(self.handlers) == set(protocol.POLL_EVENTS)

    # -- broadcasts (the use case's PollNotifier) -------------------------------------------------

    def polls_changed(self, session_id: int, public: bool) -> None:
        self._staff.changed(session_id, set())
        if public:
            self._room.changed(session_id, set())

    async def flush_all(self) -> None:
        await self._staff.flush_all()
        await self._room.flush_all()

    async def stop(self) -> None:
        await self._staff.stop()
        await self._room.stop()

    async def _flush_staff(self, session_id: int, _touched: set[int]) -> None:
        try:
            state = await self.polls.state(session_id)
            await self.sio.emit(
                "polls:staff_changed", self.polls.staff_view(state), room=staff_room(session_id)
            )
        except Exception:
            log.exception("polls broadcast to the staff of session %s failed", session_id)

    async def _flush_room(self, session_id: int, _touched: set[int]) -> None:
        try:
            state = await self.polls.state(session_id)
            await self.sio.emit("polls:changed", self.polls.public_view(state), room=session_room(session_id))
        except Exception:
            log.exception("polls broadcast to session %s failed", session_id)

    # -- handlers -------------------------------------------------------------------------------

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.PollsGet, payload)
        state = await self.polls.state(c.session_id)
        data: dict[str, Any] = {
            "polls": self.polls.public_view(state),
            "mine": self.polls.mine_view(state, c.principal.participant.id),
        }
        if c.principal.role.is_staff:
            data["staff"] = self.polls.staff_view(state)
        return data

    async def _on_create(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollCreate, payload)
        poll = await self.polls.create(c.principal, c.session_id, r.kind, r.question, r.options)
        return {"poll": poll.public()}

    async def _on_edit(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollEdit, payload)
        poll = await self.polls.edit(c.principal, c.session_id, r.poll_id, r.kind, r.question, r.options)
        return {"poll": poll.public()}

    async def _on_delete(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollRef, payload)
        return {"poll": (await self.polls.delete(c.principal, c.session_id, r.poll_id)).public()}

    async def _on_open(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollRef, payload)
        return {"poll": (await self.polls.open(c.principal, c.session_id, r.poll_id)).public()}

    async def _on_close(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollRef, payload)
        return {"poll": (await self.polls.close(c.principal, c.session_id, r.poll_id)).public()}

    async def _on_results(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollResults, payload)
        return {"poll": (await self.polls.show(c.principal, c.session_id, r.poll_id, r.shown)).public()}

    async def _on_answer(self, c: Connection, payload: Any) -> dict[str, Any]:
        r = protocol.parse(protocol.PollAnswer, payload)
        answer = await self.polls.answer(c.principal, c.session_id, r.poll_id, r.choices, r.rating, r.text)
        return {"answer": answer.own()}
