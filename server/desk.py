"""Use cases of questions: post, vote, moderate, relay to the chair; check, store, then notify."""

from __future__ import annotations

from typing import Any

from .db.question_store import Changes, QuestionsState, QuestionStore
from .domain.errors import Conflict, InvalidInput
from .domain.model import Principal, SessionInfo, iso
from .domain.participants import clean_text
from .domain.questions import (
    REASON_MAX,
    Moderation,
    Question,
    QuestionState,
    Stage,
    clean_addressee,
    clean_question,
    counts,
)
from .domain.roles import Permission, can
from .domain.sessions import SessionState
from .service import Hemicycle


class QuestionDesk:
    """The questions of every session: post, edit, withdraw, vote, moderate, merge, relay to the chair and
    the pre-moderation setting; and the views and deltas each audience is sent. Each change goes through
    server/db/question_store.py, then ``core.notifier`` (questions_changed).

    Built once by the composition root (server/wiring.py); called by the Socket.IO question events
    (signaling/question_events.py), the HTTP export (server/api.py) and the metrics."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.store = QuestionStore(core.store)

    async def _session(self, principal: Principal, session_id: int, permission: Permission) -> SessionInfo:
        session = await self.core.session_for(principal, session_id, permission)
        if session.state is SessionState.ENDED and permission is Permission.QUESTION_ASK:
            raise Conflict("the session has ended", code="session_ended")
        return session

    def _changed(self, session_id: int, *participants: int) -> None:
        self.core.notifier.questions_changed(session_id, set(participants))

    async def post(
        self, principal: Principal, session_id: int, text: object, to: object, anonymous: bool
    ) -> Question:
        session = await self._session(principal, session_id, Permission.QUESTION_ASK)
        question = await self.store.post(
            principal,
            session.id,
            clean_question(text, self.core.settings.question_max_chars),
            clean_addressee(to),
            anonymous,
        )
        self._changed(session.id, principal.participant.id)
        return question

    async def edit(self, principal: Principal, session_id: int, question_id: int, text: object) -> Question:
        as_staff = can(principal.role, Permission.QUESTION_MODERATE)
        session = await self._session(
            principal, session_id, Permission.QUESTION_MODERATE if as_staff else Permission.QUESTION_ASK
        )
        question = await self.store.edit(
            principal,
            session.id,
            question_id,
            clean_question(text, self.core.settings.question_max_chars),
            as_staff=as_staff,
        )
        self._changed(session.id, question.participant_id)
        return question

    async def withdraw(self, principal: Principal, session_id: int, question_id: int) -> Question:
        session = await self._session(principal, session_id, Permission.QUESTION_ASK)
        question = await self.store.withdraw(principal, session.id, question_id)
        self._changed(session.id, principal.participant.id)
        return question

    async def vote(self, principal: Principal, session_id: int, question_id: int, voting: bool) -> Question:
        session = await self._session(principal, session_id, Permission.QUESTION_ASK)
        question = await self.store.vote(principal, session.id, question_id, voting)
        self._changed(session.id, principal.participant.id)
        return question

    async def moderate(
        self, principal: Principal, session_id: int, question_id: int, action: object, reason: object
    ) -> Question:
        session = await self._session(principal, session_id, Permission.QUESTION_MODERATE)
        try:
            chosen = Moderation(action if isinstance(action, str) else "")
        except ValueError:
            raise InvalidInput(
                "action must be approve, dismiss, star or unstar", details={"field": "action"}
            ) from None
        why = clean_text(reason, "reason", max_length=REASON_MAX, required=chosen is Moderation.DISMISS)
        question = await self.store.moderate(principal, session.id, question_id, chosen, why)
        self._changed(session.id, question.participant_id)
        return question

    async def merge(self, principal: Principal, session_id: int, question_id: int, into_id: int) -> Question:
        session = await self._session(principal, session_id, Permission.QUESTION_MODERATE)
        target, duplicate = await self.store.merge(principal, session.id, question_id, into_id)
        # The duplicate's asker and voters now find their interest in the target: all of them are told.
        self._changed(session.id, target.participant_id, *target.voters, duplicate.participant_id)
        return target

    async def relay(self, principal: Principal, session_id: int, question_id: int, stage: object) -> Question:
        try:
            target = Stage(stage if isinstance(stage, str) else "")
        except ValueError:
            target = Stage.NONE
        if target is Stage.NONE:
            raise InvalidInput("stage must be forwarded, read or answered", details={"field": "stage"})
        # Forwarding is the moderator's choice; reading aloud and answering happen in the room.
        permission = Permission.QUESTION_MODERATE if target is Stage.FORWARDED else Permission.QUESTION_RELAY
        session = await self._session(principal, session_id, permission)
        question = await self.store.relay(principal, session.id, question_id, target)
        self._changed(session.id, question.participant_id)
        return question

    async def settings(self, principal: Principal, session_id: int, premoderated: bool) -> bool:
        session = await self._session(principal, session_id, Permission.QUESTION_MODERATE)
        value = await self.store.settings(principal, session.id, premoderated)
        self._changed(session.id)
        return value

    # -- views ---------------------------------------------------------------------------------

    async def state(self, session_id: int) -> QuestionsState:
        return await self.store.state(session_id)

    def staff_view(self, state: QuestionsState) -> dict[str, Any]:
        return {
            "session_id": state.session.id,
            "version": state.version,
            "premoderated": state.premoderated,
            "max_chars": self.core.settings.question_max_chars,
            "questions": [q.staff() for q in state.questions],
            "counts": counts(list(state.questions)),
        }

    def take_changes(self, state: QuestionsState) -> Changes:
        """What this process's writes changed in the session's questions, up to the state's version, since
        they were last taken."""
        return self.store.take_changes(state.session.id, state.version)

    def keep_changes(self, state: QuestionsState, changes: Changes) -> None:
        """Give back changes that could not be sent, for the next broadcast."""
        self.store.keep_changes(state.session.id, state.version, changes)

    @staticmethod
    def _reading(state: QuestionsState) -> Question | None:
        return max(
            (q for q in state.questions if q.state is QuestionState.APPROVED and q.stage is Stage.READ),
            key=lambda q: q.read_at or q.created_at,
            default=None,
        )

    def public_delta(self, state: QuestionsState, changes: Changes) -> dict[str, Any] | None:
        """What everyone needs of these changes, read at `state.version`; None when nothing public changed.

        A question whose only change is its votes goes as `{"id", "votes"}`, one that became or stayed
        approved and changed otherwise in full, one that was approved and no longer is in `removed`. Questions
        never approved stay out of it: attendees do not learn that a pending one exists."""
        questions: list[dict[str, Any]] = []
        removed: list[int] = []
        for question_id in sorted(changes.content | changes.votes):
            q = state.by_id(question_id)
            if q is None:
                continue
            if q.state is not QuestionState.APPROVED:
                if q.approved_at is not None and question_id in changes.content:
                    removed.append(q.id)
            elif question_id in changes.content:
                questions.append(q.public())
            else:
                questions.append({"id": q.id, "votes": q.votes})
        if not (questions or removed or changes.settings):
            return None
        reading = self._reading(state)
        return {
            "session_id": state.session.id,
            "version": state.version,
            "premoderated": state.premoderated,
            "questions": questions,
            "removed": removed,
            "reading_id": reading.id if reading else None,
        }

    def staff_delta(self, state: QuestionsState, changes: Changes) -> dict[str, Any] | None:
        """What staff need of these changes, read at `state.version` (every state, and the counts); None
        when nothing changed. A question whose only change is its votes goes as `{"id", "votes",
        "late_votes"}`."""
        questions: list[dict[str, Any]] = []
        for question_id in sorted(changes.content | changes.votes):
            q = state.by_id(question_id)
            if q is not None:
                questions.append(
                    q.staff()
                    if question_id in changes.content
                    else {"id": q.id, "votes": q.votes, "late_votes": q.late_votes}
                )
        if not (questions or changes.settings):
            return None
        return {
            "session_id": state.session.id,
            "version": state.version,
            "premoderated": state.premoderated,
            "questions": questions,
            "counts": counts(list(state.questions)),
        }

    def public_view(self, state: QuestionsState) -> dict[str, Any]:
        approved = [q for q in state.questions if q.state is QuestionState.APPROVED]
        reading = self._reading(state)
        return {
            "session_id": state.session.id,
            "version": state.version,
            "premoderated": state.premoderated,
            "max_chars": self.core.settings.question_max_chars,
            "questions": [q.public() for q in approved],
            "reading": reading.public() if reading else None,
        }

    def mine_view(self, state: QuestionsState, participant_id: int) -> dict[str, Any]:
        return {
            "session_id": state.session.id,
            "version": state.version,
            "questions": [
                q.own(participant_id) for q in state.questions if q.participant_id == participant_id
            ],
            "voted": [q.id for q in state.questions if participant_id in q.voters],
        }

    def export_rows(self, state: QuestionsState) -> list[dict[str, Any]]:
        """One flat row per question for CSV and JSON exports."""
        rows = []
        for q in state.questions:
            rows.append(
                {
                    "id": q.id,
                    "text": q.text,
                    "to": q.addressed_to,
                    "asker": "Anonymous" if q.anonymous else q.display_name,
                    "affiliation": "" if q.anonymous else q.affiliation,
                    "stakeholder_group": q.stakeholder_group or "",
                    "anonymous": q.anonymous,
                    "state": q.state.value,
                    "stage": q.stage.value,
                    "starred": q.starred,
                    "votes": q.votes,
                    "late_votes": q.late_votes,
                    "merged_into": q.merged_into or "",
                    "merged_from": " ".join(str(i) for i in q.merged_from),
                    "edits": len(q.edits),
                    "asked_at": iso(q.created_at),
                    "approved_at": iso(q.approved_at) or "",
                    "dismissed_at": iso(q.dismissed_at) or "",
                    "dismiss_reason": q.dismiss_reason or "",
                    "forwarded_at": iso(q.forwarded_at) or "",
                    "read_at": iso(q.read_at) or "",
                    "answered_at": iso(q.answered_at) or "",
                }
            )
        return rows
