"""Questions' durable state: each change is one transaction that bumps and locks questions_version first.

As for the queue, the bump serialises changes to one session's questions across processes and tells clients
which update is the newest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal, SessionInfo
from ..domain.questions import (
    Edit,
    Moderation,
    Question,
    QuestionState,
    Stage,
    check_edit_by_asker,
    check_merge,
    check_moderation,
    check_stage,
    check_vote,
    counts_publicly,
)
from . import models as m
from .gathered import GatheredReads
from .store import Store, _session


@dataclass(frozen=True)
class QuestionsState:
    """A session's questions as one consistent read."""

    session: SessionInfo
    version: int
    premoderated: bool
    questions: tuple[Question, ...]

    def by_id(self, question_id: int) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


@dataclass
class Changes:
    """What committed writes on this process changed in one session's questions: the ids whose content
    changed (text, state, stage, star, merged_from...), those whose votes changed, and whether the session's
    settings changed. The broadcaster sends only these, not the whole list."""

    content: set[int] = field(default_factory=set)
    votes: set[int] = field(default_factory=set)
    settings: bool = False

    def add(self, other: Changes) -> None:
        self.content |= other.content
        self.votes |= other.votes
        self.settings = self.settings or other.settings


@dataclass
class Locked:
    tx: AsyncSession
    session: m.Session
    now: datetime
    changes: Changes = field(default_factory=Changes)


def _question(
    row: m.Question,
    voters: dict[int, datetime],
    edits: tuple[Edit, ...],
    merged_from: tuple[int, ...],
) -> Question:
    """`voters`: each voter's registration time, which decides whether their vote counts publicly."""
    return Question(
        id=row.id,
        session_id=row.session_id,
        participant_id=row.participant_id,
        display_name=row.display_name,
        affiliation=row.affiliation,
        stakeholder_group=row.stakeholder_group,
        country=row.country,
        anonymous=row.anonymous,
        addressed_to=row.addressed_to,
        text=row.text,
        state=QuestionState(row.state),
        stage=Stage(row.stage),
        starred=row.starred,
        created_at=row.created_at,
        approved_at=row.approved_at,
        dismissed_at=row.dismissed_at,
        dismiss_reason=row.dismiss_reason,
        merged_into=row.merged_into,
        forwarded_at=row.forwarded_at,
        read_at=row.read_at,
        answered_at=row.answered_at,
        voters=frozenset(voters),
        late_voters=frozenset(p for p, at in voters.items() if not counts_publicly(at, row.created_at)),
        edits=edits,
        merged_from=merged_from,
    )


class QuestionStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = async_sessionmaker(store.engine, expire_on_commit=False)
        self._known: dict[int, QuestionsState] = {}
        self._state_reads: GatheredReads[int, QuestionsState] = GatheredReads(self._read_state)
        # Per session, each committed write of this process: its version and what it changed.
        self._changes: dict[int, list[tuple[int, Changes]]] = {}

    async def state(self, session_id: int) -> QuestionsState:
        """The session's questions now. Every change bumps the session's questions version, so the last
        state read here is reused, for the cost of one query, until the version moves; concurrent calls
        share that query (server/db/gathered.py)."""
        return await self._state_reads.get(session_id)

    async def _read_state(self, session_id: int) -> QuestionsState:
        async with self._sessions() as tx:
            row = await tx.get(m.Session, session_id, populate_existing=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            session = _session(row)
            known = self._known.get(session_id)
            if known is not None and known.version == row.questions_version:
                return known if known.session == session else replace(known, session=session)
            questions = await self._load(tx, session_id)
            state = QuestionsState(
                session, row.questions_version, row.questions_premoderated, tuple(questions)
            )
        if known is None or known.version < state.version:
            self._known[session_id] = state
        return state

    async def _load(self, tx: AsyncSession, session_id: int, only: int | None = None) -> list[Question]:
        query = select(m.Question).where(m.Question.session_id == session_id).order_by(m.Question.id)
        if only is not None:
            query = query.where(m.Question.id == only)
        rows = list(await tx.scalars(query))
        ids = [r.id for r in rows]
        voters: dict[int, dict[int, datetime]] = defaultdict(dict)
        edits: dict[int, list[Edit]] = defaultdict(list)
        merged: dict[int, list[int]] = defaultdict(list)
        if ids:
            for question_id, participant_id, registered_at in await tx.execute(
                select(m.QuestionVote.question_id, m.QuestionVote.participant_id, m.Participant.created_at)
                .join(m.Participant, m.Participant.id == m.QuestionVote.participant_id)
                .where(m.QuestionVote.question_id.in_(ids))
            ):
                voters[question_id][participant_id] = registered_at
            for edit in await tx.scalars(
                select(m.QuestionEdit).where(m.QuestionEdit.question_id.in_(ids)).order_by(m.QuestionEdit.id)
            ):
                edits[edit.question_id].append(
                    Edit(edit.at, edit.by_id, edit.by_role, edit.before, edit.after)
                )
            for merged_id, into in await tx.execute(
                select(m.Question.id, m.Question.merged_into).where(m.Question.merged_into.in_(ids))
            ):
                if into is not None:
                    merged[into].append(merged_id)
        return [_question(r, voters[r.id], tuple(edits[r.id]), tuple(merged[r.id])) for r in rows]

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[Locked]:
        async with self._sessions() as tx:
            async with tx.begin():
                session = await self.store.bump_and_lock(tx, session_id, "questions_version")
                q = Locked(tx, session, self.store.clock())
                yield q
            # Committed (a refused or failed change rolls back and never gets here): the broadcaster sends
            # what it touched to everyone as a delta rather than the whole list.
            self._changes.setdefault(session_id, []).append((session.questions_version, q.changes))

    def take_changes(self, session_id: int, up_to: int) -> Changes:
        """What this process's writes up to that version changed in the session's questions, not taken
        before (for the broadcaster, which has just read the questions at that version). Later ones stay."""
        taken = Changes()
        kept = []
        for version, changes in self._changes.pop(session_id, []):
            if version <= up_to:
                taken.add(changes)
            else:
                kept.append((version, changes))
        if kept:
            self._changes[session_id] = kept
        return taken

    def keep_changes(self, session_id: int, version: int, changes: Changes) -> None:
        """Put back changes that could not be sent."""
        self._changes.setdefault(session_id, []).append((version, changes))

    async def _get(
        self, q: Locked, question_id: int, *, votes_only: bool = False
    ) -> tuple[m.Question, Question]:
        """A question of the locked session, marked as changed by the write (only its votes, or more)."""
        row = await q.tx.get(m.Question, question_id)
        if row is None or row.session_id != q.session.id:
            raise NotFound(f"there is no question {question_id} in this session", code="unknown_question")
        loaded = await self._load(q.tx, q.session.id, only=question_id)
        (q.changes.votes if votes_only else q.changes.content).add(question_id)
        return row, loaded[0]

    def _audit(
        self, q: Locked, actor: Principal, action: str, question_id: int, details: dict[str, Any]
    ) -> None:
        q.tx.add(
            self.store._audit(
                actor, action, f"question:{question_id}", details, q.session.id, event_id=q.session.event_id
            )
        )

    # -- attendees ----------------------------------------------------------------------------

    async def post(
        self, actor: Principal, session_id: int, text: str, addressed_to: str, anonymous: bool
    ) -> Question:
        async with self.locked(session_id) as q:
            person = await q.tx.get(m.Participant, actor.participant.id)
            assert person is not None
            row = m.Question(
                session_id=session_id,
                participant_id=person.id,
                display_name=person.display_name,
                affiliation=person.affiliation,
                stakeholder_group=person.stakeholder_group,
                country=person.country,
                anonymous=anonymous,
                addressed_to=addressed_to,
                text=text,
                state=(
                    QuestionState.PENDING if q.session.questions_premoderated else QuestionState.APPROVED
                ).value,
                stage=Stage.NONE.value,
                starred=False,
                created_at=q.now,
                approved_at=None if q.session.questions_premoderated else q.now,
            )
            q.tx.add(row)
            await q.tx.flush()
            q.changes.content.add(row.id)
            return _question(row, {}, (), ())

    async def edit(
        self, actor: Principal, session_id: int, question_id: int, text: str, *, as_staff: bool
    ) -> Question:
        async with self.locked(session_id) as q:
            row, question = await self._get(q, question_id)
            if not as_staff:
                check_edit_by_asker(question, actor.participant.id)
            elif question.state in (QuestionState.MERGED, QuestionState.WITHDRAWN):
                raise Conflict(f"this question is {question.state.value}", code="stale_question")
            if text == row.text:
                raise Conflict("the text is unchanged", code="no_change")
            q.tx.add(
                m.QuestionEdit(
                    question_id=row.id,
                    by_id=actor.participant.id,
                    by_role=actor.role.value,
                    before=row.text,
                    after=text,
                    at=q.now,
                )
            )
            row.text = text
            if as_staff:
                self._audit(q, actor, "question.edit", row.id, {"before": question.text, "after": text})
            await q.tx.flush()
        return await self._reload(session_id, question_id)

    async def withdraw(self, actor: Principal, session_id: int, question_id: int) -> Question:
        async with self.locked(session_id) as q:
            row, question = await self._get(q, question_id)
            check_edit_by_asker(question, actor.participant.id)
            row.state = QuestionState.WITHDRAWN.value
        return await self._reload(session_id, question_id)

    async def vote(self, actor: Principal, session_id: int, question_id: int, voting: bool) -> Question:
        async with self.locked(session_id) as q:
            _row, question = await self._get(q, question_id, votes_only=True)
            check_vote(question, actor.participant.id, voting)
            if voting:
                q.tx.add(
                    m.QuestionVote(
                        question_id=question_id, participant_id=actor.participant.id, created_at=q.now
                    )
                )
                try:
                    await q.tx.flush()
                except IntegrityError:
                    raise Conflict("you have already voted for this question", code="already_voted") from None
            else:
                await q.tx.execute(
                    delete(m.QuestionVote).where(
                        m.QuestionVote.question_id == question_id,
                        m.QuestionVote.participant_id == actor.participant.id,
                    )
                )
        return await self._reload(session_id, question_id)

    # -- moderators and the chair --------------------------------------------------------------

    async def moderate(
        self, actor: Principal, session_id: int, question_id: int, action: Moderation, reason: str
    ) -> Question:
        async with self.locked(session_id) as q:
            row, question = await self._get(q, question_id)
            check_moderation(question, action)
            if action is Moderation.APPROVE:
                row.state, row.approved_at = QuestionState.APPROVED.value, q.now
            elif action is Moderation.DISMISS:
                row.state, row.dismissed_at, row.dismiss_reason = QuestionState.DISMISSED.value, q.now, reason
            elif action in (Moderation.STAR, Moderation.UNSTAR):
                wanted = action is Moderation.STAR
                if row.starred == wanted:
                    raise Conflict(
                        f"the question is already {'starred' if wanted else 'not starred'}", code="no_change"
                    )
                row.starred = wanted
            self._audit(q, actor, f"question.{action.value}", row.id, {"reason": reason} if reason else {})
        return await self._reload(session_id, question_id)

    async def merge(
        self, actor: Principal, session_id: int, question_id: int, into_id: int
    ) -> tuple[Question, Question]:
        """Fold a duplicate into another question: its votes, and its asker's interest, go to the target.

        Returns (the target as it now is, the duplicate as it was before the merge)."""
        async with self.locked(session_id) as q:
            row, duplicate = await self._get(q, question_id)
            _target_row, target = await self._get(q, into_id)
            check_merge(duplicate, target)
            moving = (
                (set(duplicate.voters) | {duplicate.participant_id}) - target.voters - {target.participant_id}
            )
            for participant_id in sorted(moving):
                q.tx.add(m.QuestionVote(question_id=into_id, participant_id=participant_id, created_at=q.now))
            row.state = QuestionState.MERGED.value
            row.merged_into = into_id
            self._audit(
                q, actor, "question.merge", question_id, {"into": into_id, "votes_moved": len(moving)}
            )
        return await self._reload(session_id, into_id), duplicate

    async def relay(self, actor: Principal, session_id: int, question_id: int, stage: Stage) -> Question:
        async with self.locked(session_id) as q:
            row, question = await self._get(q, question_id)
            check_stage(question, stage)
            row.stage = stage.value
            if stage is Stage.FORWARDED:
                row.forwarded_at = q.now
            elif stage is Stage.READ:
                row.read_at = q.now
            elif stage is Stage.ANSWERED:
                row.answered_at = q.now
            self._audit(q, actor, f"question.{stage.value}", row.id, {})
        return await self._reload(session_id, question_id)

    async def settings(self, actor: Principal, session_id: int, premoderated: bool) -> bool:
        async with self.locked(session_id) as q:
            if q.session.questions_premoderated == premoderated:
                raise Conflict("that is already the setting", code="no_change")
            q.session.questions_premoderated = premoderated
            q.changes.settings = True
            q.tx.add(
                self.store._audit(
                    actor,
                    "questions.settings",
                    f"session:{session_id}",
                    {"premoderated": premoderated},
                    session_id,
                    event_id=q.session.event_id,
                )
            )
            return premoderated

    async def _reload(self, session_id: int, question_id: int) -> Question:
        async with self._sessions() as tx:
            return (await self._load(tx, session_id, only=question_id))[0]
