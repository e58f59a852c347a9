"""Use cases of questions: post, vote, moderators' decisions, the question relay to the chair; check the
caller, apply a command (its rules are in server.domain.questions), then notify."""

from __future__ import annotations

from typing import Any

from .db.question_store import Changes, QuestionsState, QuestionStore
from .domain.model import Principal, SessionInfo, iso
from .domain.questions import (
    AdvanceStage,
    Author,
    CastVote,
    Decide,
    EditText,
    Merge,
    Post,
    Question,
    QuestionCommand,
    QuestionState,
    SetReviewMode,
    Stage,
    Withdraw,
    clean_addressee,
    clean_question,
    counts,
)
from .domain.roles import Permission
from .service import Hemicycle


class QuestionDesk:
    """The questions of every session: post, edit, withdraw, vote, moderate, merge, advance along the relay
    to the chair and the pre-moderation setting; and the views and deltas each audience is sent. It checks the
    caller and the session, has the store (server/db/question_store.py) apply one command of
    server.domain.questions, then tells ``core.notifier`` (questions_changed) who must hear of it. Nothing
    here decides: the rules are in the domain.

    Built once by the composition root (server/wiring.py); called by the Socket.IO question events
    (signaling/question_events.py), the HTTP export (server/api.py) and the metrics."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.store = QuestionStore(core.store)

    async def _session(
        self, principal: Principal, session_id: int, permission: Permission, command: type[QuestionCommand]
    ) -> SessionInfo:
        """The session, if the caller's role has the permission and the session's state allows the command."""
        session = await self.core.session_for(principal, session_id, permission)
        command.check_session(session.state, permission)
        return session

    def _changed(self, session_id: int, *participants: int) -> None:
        self.core.notifier.questions_changed(session_id, set(participants))

    async def _answer(self, principal: Principal, session_id: int, command: QuestionCommand) -> Question:
        decided = await self.store.apply(principal, session_id, command)
        assert decided.result is not None
        return await self.store.question(session_id, decided.result)

    async def post(
        self, principal: Principal, session_id: int, text: object, to: object, anonymous: bool
    ) -> Question:
        """The caller asks a question."""
        session = await self._session(principal, session_id, Post.permission, Post)
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
        """Its asker (while pending) or staff (a typo) change a question's text."""
        by = Author(principal.participant.id, principal.role)
        permission = EditText.permission_of(by)
        session = await self._session(principal, session_id, permission, EditText)
        command = EditText(by, question_id, clean_question(text, self.core.settings.question_max_chars))
        question = await self._answer(principal, session.id, command)
        self._changed(session.id, question.participant_id)
        return question

    async def withdraw(self, principal: Principal, session_id: int, question_id: int) -> Question:
        """Its asker takes a pending question back."""
        session = await self._session(principal, session_id, Withdraw.permission, Withdraw)
        question = await self.store.withdraw(principal, session.id, question_id)
        self._changed(session.id, principal.participant.id)
        return question

    async def vote(self, principal: Principal, session_id: int, question_id: int, voting: bool) -> Question:
        """The caller votes for a question, or takes their vote back."""
        session = await self._session(principal, session_id, CastVote.permission, CastVote)
        command = CastVote(principal.participant.id, question_id, voting)
        question = await self._answer(principal, session.id, command)
        self._changed(session.id, principal.participant.id)
        return question

    async def moderate(
        self, principal: Principal, session_id: int, question_id: int, action: object, reason: object
    ) -> Question:
        """A moderator's decision on a question: approve, dismiss, star, unstar."""
        session = await self._session(principal, session_id, Decide.permission, Decide)
        decision = Decide.parse(action)
        command = Decide(question_id, decision, Decide.clean_reason(decision, reason))
        question = await self._answer(principal, session.id, command)
        self._changed(session.id, question.participant_id)
        return question

    async def merge(self, principal: Principal, session_id: int, question_id: int, into_id: int) -> Question:
        """Fold a duplicate into another question; returns the target as it now is."""
        session = await self._session(principal, session_id, Merge.permission, Merge)
        decided = await self.store.apply(principal, session.id, Merge(question_id, into_id))
        assert decided.merged is not None
        target, duplicate = await self.store.question(session.id, into_id), decided.merged
        # The duplicate's asker and voters now find their interest in the target: all of them are told.
        self._changed(session.id, target.participant_id, *target.voters, duplicate.participant_id)
        return target

    async def advance(
        self, principal: Principal, session_id: int, question_id: int, stage: object
    ) -> Question:
        """Move a question one stage on its way to the room (the question relay, not the media relay)."""
        target = AdvanceStage.parse(stage)
        permission = AdvanceStage.permission_of(target)
        session = await self._session(principal, session_id, permission, AdvanceStage)
        question = await self._answer(principal, session.id, AdvanceStage(question_id, target))
        self._changed(session.id, question.participant_id)
        return question

    async def settings(self, principal: Principal, session_id: int, premoderated: bool) -> bool:
        """Turn pre-moderation (the questions' review mode) on or off."""
        session = await self._session(principal, session_id, SetReviewMode.permission, SetReviewMode)
        await self.store.apply(principal, session.id, SetReviewMode(premoderated))
        self._changed(session.id)
        return premoderated

    # -- views ---------------------------------------------------------------------------------

    async def state(self, session_id: int) -> QuestionsState:
        """The session's questions as committed now."""
        return await self.store.state(session_id)

    def staff_view(self, state: QuestionsState) -> dict[str, Any]:
        """The staff questions view (moderators, the chair): every question in every state, and the counts."""
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
        """What everyone sees: the approved questions and the one being read aloud."""
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
        """A participant's own questions, in any state, and the questions they voted for."""
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
