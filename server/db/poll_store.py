"""The polls' durable state: each change (a poll prepared, edited, opened, closed, shown; an answer given)
is one versioned transaction that bumps the session's polls_version (server/db/versioned.py).

The checks that depend on the poll as it is now (is it still a draft, is it open) run inside that
transaction, on the row read under the session's lock: an answer racing a close is either counted before the
close or refused after it, whichever process took either.

Answers come in crowds (thousands within seconds): each process gathers the answers waiting for a session and
stores them together, in one transaction and one version bump (server/db/batches.py). An answer that is
refused (a closed poll, an option that does not exist) is refused before it writes anything, and the others
in its batch go on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import Conflict, HemicycleError, NotFound
from ..domain.model import Principal
from ..domain.polls import MAX_POLLS_PER_SESSION, Answer, Poll, PollKind, PollState, check_answer
from . import models as m
from .batches import ATTENDEE, Batches
from .engine import sessions
from .gathered import GatheredReads
from .store import Store
from .versioned import Versioned, versioned


@dataclass(frozen=True)
class PollsState:
    """Every poll of a session with every answer, as one consistent read at `version`."""

    session_id: int
    version: int
    polls: tuple[Poll, ...]
    answers: dict[int, tuple[Answer, ...]]
    # Each participant's answers, so that a crowd's `polls:get` does not scan every answer each.
    by_participant: dict[int, tuple[Answer, ...]] = field(default_factory=dict)

    def poll(self, poll_id: int) -> Poll | None:
        return next((p for p in self.polls if p.id == poll_id), None)


def _poll(row: m.Poll) -> Poll:
    return Poll(
        id=row.id,
        session_id=row.session_id,
        position=row.position,
        kind=PollKind(row.kind),
        question=row.question,
        options=tuple(row.options),
        state=PollState(row.state),
        results_shown=row.results_shown,
        created_at=row.created_at,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
    )


def _answer(row: m.PollAnswer) -> Answer:
    return Answer(
        poll_id=row.poll_id,
        participant_id=row.participant_id,
        choices=tuple(row.choices),
        text=row.text,
        stakeholder_group=row.stakeholder_group,
        country=row.country,
        answered_at=row.answered_at,
    )


class PollStore:
    """The polls of every session and their answers: owned here, written only through the polls' use case
    (server/polls.py), each change in the session's versioned transaction and a crowd's answers in batches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)
        self._known: dict[int, PollsState] = {}
        self._reads: GatheredReads[int, PollsState] = GatheredReads(self._read)
        self._answers: Batches[Versioned] = Batches(self._locked, (HemicycleError,))

    @asynccontextmanager
    async def _locked(self, session_id: int) -> AsyncIterator[Versioned]:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            yield v

    @staticmethod
    async def _row(tx: AsyncSession, session_id: int, poll_id: int) -> m.Poll:
        """The poll, if it is this session's: another session's poll id is as unknown as a made-up one."""
        row = await tx.get(m.Poll, poll_id, populate_existing=True)
        if row is None or row.session_id != session_id:
            raise NotFound(f"there is no poll {poll_id} in this session", code="unknown_poll")
        return row

    async def create(self, session_id: int, kind: PollKind, question: str, options: tuple[str, ...]) -> Poll:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            count = await v.tx.scalar(select(func.count(m.Poll.id)).where(m.Poll.session_id == session_id))
            if (count or 0) >= MAX_POLLS_PER_SESSION:
                raise Conflict(f"a session has at most {MAX_POLLS_PER_SESSION} polls", code="too_many_polls")
            last = await v.tx.scalar(select(func.max(m.Poll.position)).where(m.Poll.session_id == session_id))
            row = m.Poll(
                session_id=session_id,
                position=(last or 0) + 1,
                kind=kind.value,
                question=question,
                options=list(options),
                state=PollState.DRAFT.value,
                results_shown=False,
                created_at=v.now,
            )
            v.tx.add(row)
            await v.tx.flush()
            return _poll(row)

    async def edit(
        self, session_id: int, poll_id: int, kind: PollKind, question: str, options: tuple[str, ...]
    ) -> Poll:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            row = await self._row(v.tx, session_id, poll_id)
            _poll(row).require_draft()
            row.kind, row.question, row.options = kind.value, question, list(options)
            await v.tx.flush()
            return _poll(row)

    async def delete(self, session_id: int, poll_id: int) -> Poll:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            row = await self._row(v.tx, session_id, poll_id)
            poll = _poll(row)
            poll.require_draft()
            await v.tx.delete(row)
            return poll

    async def set_state(self, session_id: int, poll_id: int, target: PollState) -> Poll:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            row = await self._row(v.tx, session_id, poll_id)
            poll = _poll(row)
            if target is PollState.OPEN:
                poll.opened()
                row.opened_at = v.now
            else:
                poll.closed()
                row.closed_at = v.now
            row.state = target.value
            await v.tx.flush()
            return _poll(row)

    async def show(self, session_id: int, poll_id: int, shown: bool) -> Poll:
        async with versioned(self.store, self._sessions, session_id, "polls_version") as v:
            row = await self._row(v.tx, session_id, poll_id)
            _poll(row).require_results()
            row.results_shown = shown
            await v.tx.flush()
            return _poll(row)

    async def answer(
        self,
        principal: Principal,
        session_id: int,
        poll_id: int,
        choices: object,
        rating: object,
        text: object,
    ) -> tuple[Poll, Answer]:
        """Store an attendee's answer, replacing their previous one to the same poll (the caller checked
        role and session; the poll's state is checked here, under the lock), in this process's next batch
        of answers to the session."""
        me = principal.participant

        async def change(v: Versioned) -> tuple[Poll, Answer]:
            row = await self._row(v.tx, session_id, poll_id)
            poll = _poll(row)
            picked, cleaned = check_answer(poll, choices, rating, text)
            mine = await v.tx.scalar(
                select(m.PollAnswer).where(
                    m.PollAnswer.poll_id == poll_id, m.PollAnswer.participant_id == me.id
                )
            )
            if mine is None:
                mine = m.PollAnswer(poll_id=poll_id, participant_id=me.id)
                v.tx.add(mine)
            mine.choices, mine.text, mine.answered_at = list(picked), cleaned, v.now
            mine.stakeholder_group, mine.country = me.stakeholder_group, me.country
            await v.tx.flush()
            return poll, _answer(mine)

        return await self._answers.submit(session_id, ATTENDEE, change)

    async def state(self, session_id: int) -> PollsState:
        """Every poll and answer of the session. Read again only when polls_version has moved; concurrent
        readers share one read (server/db/gathered.py)."""
        return await self._reads.get(session_id)

    async def _read(self, session_id: int) -> PollsState:
        async with self._sessions() as tx:
            version = await tx.scalar(select(m.Session.polls_version).where(m.Session.id == session_id))
            if version is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            known = self._known.get(session_id)
            if known is not None and known.version == version:
                return known
            polls = [
                _poll(r)
                for r in await tx.scalars(
                    select(m.Poll).where(m.Poll.session_id == session_id).order_by(m.Poll.position)
                )
            ]
            answers: dict[int, list[Answer]] = {p.id: [] for p in polls}
            if polls:
                rows = await tx.scalars(
                    select(m.PollAnswer)
                    .where(m.PollAnswer.poll_id.in_(list(answers)))
                    .order_by(m.PollAnswer.id)
                )
                for r in rows:
                    answers[r.poll_id].append(_answer(r))
        mine: dict[int, list[Answer]] = defaultdict(list)
        for poll in polls:
            for answer in answers[poll.id]:
                mine[answer.participant_id].append(answer)
        state = PollsState(
            session_id,
            version,
            tuple(polls),
            {k: tuple(v) for k, v in answers.items()},
            {k: tuple(v) for k, v in mine.items()},
        )
        known = self._known.get(session_id)
        if known is None or known.version < state.version:
            self._known[session_id] = state
        return state
