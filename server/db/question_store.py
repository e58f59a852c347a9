"""Questions' durable state: each change is one versioned transaction on questions_version
(server/db/versioned.py) that loads the questions a command reads, lets server.domain.questions decide, and
writes what it decided.

As for the queue, the bump serialises changes to one session's questions across processes and tells clients
which update is the newest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal, SessionInfo
from ..domain.questions import (
    Asker,
    Board,
    Decided,
    Edit,
    Post,
    Question,
    QuestionCommand,
    QuestionState,
    Stage,
    Withdraw,
    counts_publicly,
    decide,
)
from . import models as m
from .engine import sessions
from .gathered import GatheredReads
from .store import AnyRow, Store, _session
from .versioned import Versioned, versioned

# What a Question holds that is not a column of its row (read from the votes, edits and merges).
DERIVED = frozenset({"id", "voters", "late_voters", "edits", "merged_from"})


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


def _columns(question: Question) -> dict[str, Any]:
    """The row of a new question."""
    return _stored({f.name: getattr(question, f.name) for f in fields(Question) if f.name not in DERIVED})


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
class QuestionsBatch:
    """Inside a questions transaction: the versioned transaction and what its changes touched."""

    v: Versioned
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
    """Questions' persistence for one database; the rules come from server.domain.questions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)
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
            return await self.state_in(tx, row)

    async def state_in(self, tx: AsyncSession, row: m.Session | AnyRow) -> QuestionsState:
        """The questions at the session row `tx` has just read: the last state read is reused while the
        row's questions version holds (server/db/snapshot_store.py reads it with the rest of a welcome)."""
        session = _session(row)
        known = self._known.get(session.id)
        if known is not None and known.version == row.questions_version:
            return known if known.session == session else replace(known, session=session)
        questions = await self._load(tx, session.id)
        state = QuestionsState(session, row.questions_version, row.questions_premoderated, tuple(questions))
        if known is None or known.version < state.version:
            self._known[session.id] = state
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
    async def locked(self, session_id: int) -> AsyncIterator[QuestionsBatch]:
        """One serialised transaction on a session's questions; an exception inside rolls it back."""
        async with versioned(self.store, self._sessions, session_id, "questions_version") as v:
            batch = QuestionsBatch(v)
            yield batch
        # Committed (a refused or failed change rolls back and never gets here): the broadcaster sends
        # what it touched to everyone as a delta rather than the whole list.
        self._changes.setdefault(session_id, []).append((v.session.questions_version, batch.changes))

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

    async def apply(
        self,
        actor: Principal,
        session_id: int,
        command: QuestionCommand | Callable[[AsyncSession], Awaitable[QuestionCommand]],
    ) -> Decided:
        """Apply one command under the session's lock (server.domain.questions decides what it does);
        returns what it decided, with the id of any question it added. `command` may be built inside the
        transaction, from what it reads."""
        async with self.locked(session_id) as batch:
            tx, now = batch.v.tx, batch.v.now
            if not isinstance(command, QuestionCommand):
                command = await command(tx)
            board = Board(session_id, batch.v.session.questions_premoderated)
            for question_id in command.reads:
                if question_id not in board.questions:
                    loaded = await self._load(tx, session_id, only=question_id)
                    if loaded:
                        board.questions[question_id] = loaded[0]
            decided = decide(board, command, now)
            if decided.added is not None:
                row = m.Question(**_columns(decided.added))
                tx.add(row)
                await tx.flush()
                decided = replace(
                    decided,
                    added=replace(decided.added, id=row.id),
                    content=frozenset({row.id}),
                    result=row.id,
                )
            for write in decided.writes:
                await tx.execute(
                    update(m.Question)
                    .where(m.Question.id == write.question_id)
                    .values(_stored(write.values))
                    .execution_options(synchronize_session=False)
                )
            if decided.edit is not None:
                question_id, edit = decided.edit
                tx.add(
                    m.QuestionEdit(
                        question_id=question_id,
                        by_id=edit.by_id,
                        by_role=edit.by_role,
                        before=edit.before,
                        after=edit.after,
                        at=edit.at,
                    )
                )
            for question_id, participant_id in decided.votes_removed:
                await tx.execute(
                    delete(m.QuestionVote).where(
                        m.QuestionVote.question_id == question_id,
                        m.QuestionVote.participant_id == participant_id,
                    )
                )
            for question_id, participant_id in decided.votes_added:
                tx.add(m.QuestionVote(question_id=question_id, participant_id=participant_id, created_at=now))
            if decided.votes_added:
                try:
                    await tx.flush()
                except IntegrityError:
                    raise Conflict("you have already voted for this question", code="already_voted") from None
            if decided.premoderated is not None:
                batch.v.session.questions_premoderated = decided.premoderated
                batch.changes.settings = True
            for note in decided.audit:
                target = (
                    f"session:{session_id}" if note.question_id is None else f"question:{note.question_id}"
                )
                tx.add(
                    self.store._audit(
                        actor,
                        note.action,
                        target,
                        note.details,
                        session_id,
                        event_id=batch.v.session.event_id,
                    )
                )
            batch.changes.content |= decided.content
            batch.changes.votes |= decided.votes
        return decided

    async def _answer(self, actor: Principal, session_id: int, command: QuestionCommand) -> Question:
        """Apply a command and read the question it answers with as now stored."""
        decided = await self.apply(actor, session_id, command)
        assert decided.result is not None
        return await self.question(session_id, decided.result)

    # -- attendees ----------------------------------------------------------------------------

    async def post(
        self, actor: Principal, session_id: int, text: str, addressed_to: str, anonymous: bool
    ) -> Question:
        """Store a new question by the caller, as registered now."""
        person = actor.participant
        asker = Asker(
            person.id, person.display_name, person.affiliation, person.stakeholder_group, person.country
        )
        decided = await self.apply(actor, session_id, Post(asker, text, addressed_to, anonymous))
        assert decided.added is not None
        return decided.added

    async def withdraw(self, actor: Principal, session_id: int, question_id: int) -> Question:
        """The caller takes back their own question."""
        return await self._answer(actor, session_id, Withdraw(actor.participant.id, question_id))

    async def question(self, session_id: int, question_id: int) -> Question:
        """One question as committed now, with its votes, edits and merges."""
        async with self._sessions() as tx:
            return (await self._load(tx, session_id, only=question_id))[0]
