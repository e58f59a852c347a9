"""Socket.IO events of the questions, and the paced broadcasts of their changes (deltas).

Registered into the Hub's handler table; every handler checks its payload with ``signaling.protocol`` and
calls the ``server.desk.QuestionDesk`` use case, which checks the caller and notifies ``changed``.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from server.desk import QuestionDesk

from . import protocol
from .pacing import SessionPacer
from .rooms import Connection, Handler, participant_room, session_room, staff_room

log = logging.getLogger(__name__)

# Question changes: the first after a quiet spell goes out after a short window; then a session's broadcasts
# are at least QUESTIONS_SPACING_SECONDS apart, however many vote. With only what changed in each (a vote is
# `{"id", "votes"}`), a passive attendee's bytes per second are bounded by the number of questions, not by
# the number of voters.
QUESTIONS_COALESCE_SECONDS = 0.1
QUESTIONS_SPACING_SECONDS = 0.25


class QuestionEvents:
    """Owned by the Hub: the questions' handlers, and their deltas to the session's rooms. ``instance_id``
    names this process in each delta."""

    def __init__(self, sio: socketio.AsyncServer, desk: QuestionDesk, instance_id: str) -> None:
        self.sio = sio
        self.desk = desk
        self.instance_id = instance_id
        self._pacer = SessionPacer(
            "questions", self._flush, QUESTIONS_COALESCE_SECONDS, lambda _session: QUESTIONS_SPACING_SECONDS
        )
        # The version of the last delta this process broadcast per session, to everyone and to staff.
        self._label: dict[int, int] = {}
        self._staff_label: dict[int, int] = {}
        self.handlers: dict[str, Handler] = {
            "questions:get": self._on_questions_get,
            "questions:settings": self._on_questions_settings,
            "question:post": self._on_question_post,
            "question:edit": self._on_question_edit,
            "question:withdraw": self._on_question_withdraw,
            "question:vote": self._on_question_vote,
            "question:unvote": self._on_question_unvote,
            "question:moderate": self._on_question_moderate,
            "question:merge": self._on_question_merge,
            "question:relay": self._on_question_relay,
        }

    # -- broadcasts -----------------------------------------------------------------------------

    def changed(self, session_id: int, participants: set[int]) -> None:
        """The Notifier's questions_changed (``participants``: askers and voters concerned)."""
        self._pacer.changed(session_id, participants)

    async def flush_all(self) -> None:
        await self._pacer.flush_all()

    async def stop(self) -> None:
        await self._pacer.stop()

    async def _flush(self, session_id: int, touched: set[int]) -> None:
        """What changed to staff (every state) and, of the approved questions, to everyone; each asker or
        voter concerned, their own questions whole. The changes sent are this process's writes up to the
        version read; a later one (committed after the read) stays for the next broadcast, so none is left
        out."""
        try:
            state = await self.desk.state(session_id)
        except Exception:
            log.exception("questions broadcast for session %s failed", session_id)
            return
        changes = self.desk.take_changes(state)
        try:
            staff = self.desk.staff_delta(state, changes)
            if staff is not None:
                await self._send_delta(
                    "questions:staff_changed", staff, staff_room(session_id), self._staff_label
                )
            public = self.desk.public_delta(state, changes)
            if public is not None:
                await self._send_delta("questions:changed", public, session_room(session_id), self._label)
            for participant_id in touched:
                await self.sio.emit(
                    "questions:mine",
                    self.desk.mine_view(state, participant_id),
                    room=participant_room(session_id, participant_id),
                )
        except Exception:
            # Kept for the next broadcast of the session, which then carries them.
            self.desk.keep_changes(state, changes)
            log.exception("questions broadcast for session %s failed", session_id)

    async def _send_delta(self, event: str, delta: dict[str, Any], room: str, labels: dict[int, int]) -> None:
        """A delta names this process and the version of its previous one to the same room, so that a
        client that missed one (a fan-out hiccup) sees the gap and reads the whole list again."""
        session_id = delta["session_id"]
        delta["origin"] = self.instance_id
        delta["previous"] = labels.get(session_id)
        labels[session_id] = delta["version"]
        await self.sio.emit(event, delta, room=room)

    # -- handlers -------------------------------------------------------------------------------

    async def _on_questions_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.QuestionsGet, payload)
        state = await self.desk.state(c.session_id)
        data: dict[str, Any] = {
            "questions": self.desk.public_view(state),
            "mine": self.desk.mine_view(state, c.principal.participant.id),
        }
        if c.principal.role.is_staff:
            data["moderation"] = self.desk.staff_view(state)
        return data

    async def _on_questions_settings(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionsSettings, payload)
        return {"premoderated": await self.desk.settings(c.principal, c.session_id, request.premoderated)}

    async def _on_question_post(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionPost, payload)
        question = await self.desk.post(
            c.principal, c.session_id, request.text, request.to, request.anonymous
        )
        return {"question": question.own(c.principal.participant.id)}

    async def _on_question_edit(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionEdit, payload)
        question = await self.desk.edit(c.principal, c.session_id, request.question_id, request.text)
        return {
            "question": question.staff()
            if c.principal.role.is_staff
            else question.own(c.principal.participant.id)
        }

    async def _on_question_withdraw(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.withdraw(c.principal, c.session_id, request.question_id)
        return {"question": question.own(c.principal.participant.id)}

    async def _on_question_vote(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.vote(c.principal, c.session_id, request.question_id, True)
        return {"question_id": question.id, "votes": question.votes, "voted": True}

    async def _on_question_unvote(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.vote(c.principal, c.session_id, request.question_id, False)
        return {"question_id": question.id, "votes": question.votes, "voted": False}

    async def _on_question_moderate(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionModerate, payload)
        question = await self.desk.moderate(
            c.principal, c.session_id, request.question_id, request.action, request.reason
        )
        return {"question": question.staff()}

    async def _on_question_merge(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionMerge, payload)
        question = await self.desk.merge(c.principal, c.session_id, request.question_id, request.into_id)
        return {"question": question.staff()}

    async def _on_question_relay(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRelay, payload)
        question = await self.desk.advance(c.principal, c.session_id, request.question_id, request.stage)
        return {"question": question.staff()}
