"""The help desk's durable state: threads and their messages, each change one transaction.

The rules (who may write, which state follows, one open request per attendee) are in
server/domain/helpdesk.py; this module loads a thread, applies them under the thread row's lock, and writes.
The database's partial unique index keeps "one open request" true when two processes open one at once.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import helpdesk as rules
from ..domain.errors import NotFound
from ..domain.helpdesk import Figures, HelpCategory, HelpMessage, HelpThread, ThreadState
from ..domain.model import Principal
from . import models as m
from .engine import sessions
from .store import Store

UNKNOWN_THREAD = "unknown_thread"


def _message(row: m.HelpMessage) -> HelpMessage:
    return HelpMessage(
        at=row.at,
        author_id=row.author_id,
        author_name=row.author_name,
        author_role=row.author_role,
        text=row.text,
        answer=row.answer,
    )


def _thread(row: m.HelpThread, messages: list[m.HelpMessage]) -> HelpThread:
    staff = []
    for message in messages:
        if message.author_role != "attendee" and message.author_name not in staff:
            staff.append(message.author_name)
    return HelpThread(
        id=row.id,
        session_id=row.session_id,
        participant_id=row.participant_id,
        participant_name=row.participant_name,
        category=HelpCategory(row.category),
        language=row.language,
        state=ThreadState(row.state),
        opened_at=row.opened_at,
        figures=Figures(**row.figures),
        messages=tuple(_message(message) for message in messages),
        closed_at=row.closed_at,
        closed_by_name=row.closed_by_name,
        answered_by=tuple(staff),
    )


class HelpStore:
    """The help threads of every session and their messages: owned here, written only through the help desk's
    use case (server/helpdesk.py), one transaction per change."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)

    async def open(
        self,
        asker: Principal,
        session_id: int,
        category: HelpCategory,
        language: str,
        text: str,
        figures: Figures,
    ) -> HelpThread:
        """A new thread, with the attendee's words as its first message when they wrote any."""
        now = self.store.clock()
        try:
            async with self._sessions() as tx, tx.begin():
                already = await tx.scalar(
                    select(func.count())
                    .select_from(m.HelpThread)
                    .where(
                        m.HelpThread.session_id == session_id,
                        m.HelpThread.participant_id == asker.participant.id,
                        m.HelpThread.state != ThreadState.CLOSED.value,
                    )
                )
                rules.may_open(int(already or 0))
                row = m.HelpThread(
                    session_id=session_id,
                    participant_id=asker.participant.id,
                    participant_name=asker.participant.display_name,
                    category=category.value,
                    language=language,
                    state=ThreadState.OPEN.value,
                    figures=figures.public(),
                    opened_at=now,
                )
                tx.add(row)
                await tx.flush()
                messages = []
                if text:
                    messages.append(self._add_message(tx, row, asker, text, None, now))
                    await tx.flush()
                return _thread(row, messages)
        except IntegrityError:
            # Another process opened one for the same person between our count and our insert.
            rules.may_open(rules.MAX_OPEN_PER_PARTICIPANT)
            raise

    async def write(
        self,
        author: Principal,
        session_id: int,
        thread_id: int,
        text: str | Callable[[HelpThread], str],
        answer: str | None,
        check: Callable[[HelpThread], None],
    ) -> HelpThread:
        """Add a message under the thread's lock: `check` refuses a thread this author may not write in;
        `text` may depend on the thread (a prepared answer in its language)."""
        async with self._sessions() as tx, tx.begin():
            row, messages = await self._locked(tx, session_id, thread_id)
            thread = _thread(row, messages)
            check(thread)
            from_staff = author.role.value != "attendee"
            state = rules.after_message(thread, from_staff)
            words = text(thread) if callable(text) else text
            row.state = state.value
            messages.append(self._add_message(tx, row, author, words, answer, self.store.clock()))
            await tx.flush()
            return _thread(row, messages)

    async def close(self, actor: Principal, session_id: int, thread_id: int) -> HelpThread:
        async with self._sessions() as tx, tx.begin():
            row, messages = await self._locked(tx, session_id, thread_id)
            rules.may_close(_thread(row, messages))
            row.state = ThreadState.CLOSED.value
            row.closed_at = self.store.clock()
            row.closed_by_name = actor.participant.display_name
            await tx.flush()
            return _thread(row, messages)

    async def get(self, session_id: int, thread_id: int) -> HelpThread:
        async with self._sessions() as tx:
            row = await tx.get(m.HelpThread, thread_id)
            if row is None or row.session_id != session_id:
                raise NotFound(f"there is no help request {thread_id} in this session", code=UNKNOWN_THREAD)
            return _thread(row, await self._messages(tx, thread_id))

    async def threads(
        self, session_id: int, *, participant_id: int | None = None, include_closed: bool = True
    ) -> list[HelpThread]:
        """A session's threads (or one attendee's), oldest first."""
        query = select(m.HelpThread).where(m.HelpThread.session_id == session_id)
        if participant_id is not None:
            query = query.where(m.HelpThread.participant_id == participant_id)
        if not include_closed:
            query = query.where(m.HelpThread.state != ThreadState.CLOSED.value)
        async with self._sessions() as tx:
            rows = list(await tx.scalars(query.order_by(m.HelpThread.opened_at, m.HelpThread.id)))
            if not rows:
                return []
            found: dict[int, list[m.HelpMessage]] = {row.id: [] for row in rows}
            for message in await tx.scalars(
                select(m.HelpMessage).where(m.HelpMessage.thread_id.in_(found)).order_by(m.HelpMessage.id)
            ):
                found[message.thread_id].append(message)
            return [_thread(row, found[row.id]) for row in rows]

    async def _locked(
        self, tx: AsyncSession, session_id: int, thread_id: int
    ) -> tuple[m.HelpThread, list[m.HelpMessage]]:
        row = await tx.scalar(select(m.HelpThread).where(m.HelpThread.id == thread_id).with_for_update())
        if row is None or row.session_id != session_id:
            raise NotFound(f"there is no help request {thread_id} in this session", code=UNKNOWN_THREAD)
        return row, await self._messages(tx, thread_id)

    @staticmethod
    async def _messages(tx: AsyncSession, thread_id: int) -> list[m.HelpMessage]:
        return list(
            await tx.scalars(
                select(m.HelpMessage).where(m.HelpMessage.thread_id == thread_id).order_by(m.HelpMessage.id)
            )
        )

    @staticmethod
    def _add_message(
        tx: AsyncSession, thread: m.HelpThread, author: Principal, text: str, answer: str | None, now: object
    ) -> m.HelpMessage:
        row = m.HelpMessage(
            thread_id=thread.id,
            at=now,
            author_id=author.participant.id,
            author_name=author.participant.display_name,
            author_role=author.role.value,
            text=text,
            answer=answer,
        )
        tx.add(row)
        return row
