"""Use cases of the help desk: an attendee opens a thread and writes in it; AV technicians and moderators of
the session answer and close it. Check, limit, store, notify."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .db.help_store import UNKNOWN_THREAD, HelpStore
from .domain import helpdesk as rules
from .domain.errors import NotFound
from .domain.helpdesk import Figures, HelpThread
from .domain.model import Principal, SessionInfo
from .domain.roles import Permission
from .limits import Limiter, Limits, refusal
from .service import Hemicycle


class HelpNotifier(Protocol):
    """What the transport does once a thread changed: tell its attendee (every tab) and the staff."""

    async def help_changed(self, thread: HelpThread) -> None: ...


class _NoNotifier:
    async def help_changed(self, thread: HelpThread) -> None:
        return None


async def _anyone(principal: Principal, session: SessionInfo) -> None:
    return None


class HelpDesk:
    """The help threads of every session (server/db/help_store.py), told to the ``notifier``
    (signaling/help_events.py). Built once by the composition root (server/wiring.py), which also sets
    ``entry`` to the waiting room's check, so that someone removed or banned cannot ask."""

    def __init__(self, core: Hemicycle, limits: Limits) -> None:
        self.core = core
        self.store = HelpStore(core.store)
        self.notifier: HelpNotifier = _NoNotifier()
        self.entry: Callable[[Principal, SessionInfo], Awaitable[None]] = _anyone
        self.writes: Limiter = limits.limiter("help", rules.HELP_WRITES)

    async def open(
        self,
        principal: Principal,
        session_id: int,
        category: object,
        language: object,
        text: object,
        figures: object,
    ) -> HelpThread:
        """Open a thread: one at a time per attendee, within their allowance of writes."""
        session = await self._asker(principal, session_id)
        checked = (
            rules.check_category(category),
            rules.check_page_language(language),
            rules.clean_help_text(text, required=False),
            Figures.check(figures),
        )
        await self._count(principal)
        thread = await self.store.open(principal, session.id, *checked)
        await self.notifier.help_changed(thread)
        return thread

    async def message(
        self, principal: Principal, session_id: int, thread_id: int, text: object
    ) -> HelpThread:
        """The attendee writes again in their own thread (until staff close it)."""
        session = await self._asker(principal, session_id)
        words = rules.clean_help_text(text, required=True)
        await self._count(principal)

        def own(thread: HelpThread) -> None:
            # Another attendee's thread is, to this one, a thread that does not exist.
            if thread.participant_id != principal.participant.id:
                raise NotFound(f"there is no help request {thread_id} in this session", code=UNKNOWN_THREAD)

        thread = await self.store.write(principal, session.id, thread_id, words, None, own)
        await self.notifier.help_changed(thread)
        return thread

    async def reply(
        self, principal: Principal, session_id: int, thread_id: int, text: object, answer: object
    ) -> HelpThread:
        """Staff answer: their own words, or a prepared answer in the attendee's page language."""
        session = await self.core.session_for(principal, session_id, Permission.HELP_ANSWER)
        if answer is not None:
            rules.prepared_answer(
                answer, rules.PAGE_LANGUAGES[0]
            )  # an unknown key is refused before the lock
            key = str(answer)

            def words(thread: HelpThread) -> str:
                return rules.prepared_answer(key, thread.language)

            thread = await self.store.write(principal, session.id, thread_id, words, key, _any)
        else:
            free = rules.clean_help_text(text, required=True)
            thread = await self.store.write(principal, session.id, thread_id, free, None, _any)
        await self.notifier.help_changed(thread)
        return thread

    async def close(self, principal: Principal, session_id: int, thread_id: int) -> HelpThread:
        session = await self.core.session_for(principal, session_id, Permission.HELP_ANSWER)
        thread = await self.store.close(principal, session.id, thread_id)
        await self.notifier.help_changed(thread)
        return thread

    async def mine(self, principal: Principal, session_id: int) -> list[HelpThread]:
        """An attendee's threads in the session, closed ones included (they read the last answer)."""
        return await self.store.threads(session_id, participant_id=principal.participant.id)

    async def queue(self, principal: Principal, session_id: int) -> list[HelpThread]:
        """The requests not yet closed, oldest first: what the AV desk and moderators work through."""
        session = await self.core.session_for(principal, session_id, Permission.HELP_ANSWER)
        return await self.store.threads(session.id, include_closed=False)

    async def waiting(self, session_id: int) -> dict[str, int]:
        """The requests not yet closed, counted by state (for the metrics)."""
        counts = {rules.ThreadState.OPEN.value: 0, rules.ThreadState.ANSWERED.value: 0}
        for thread in await self.store.threads(session_id, include_closed=False):
            counts[thread.state.value] += 1
        return counts

    async def record(self, session_id: int) -> list[HelpThread]:
        """Every thread of the session, for the session record (which leaves the figures out)."""
        return await self.store.threads(session_id)

    async def _asker(self, principal: Principal, session_id: int) -> SessionInfo:
        session = await self.core.session_for(principal, session_id, Permission.HELP_ASK)
        await self.entry(principal, session)
        return session

    async def _count(self, principal: Principal) -> None:
        hit = await self.writes.take(str(principal.participant.id))
        if not hit.allowed:
            raise refusal("too many help messages", hit)


def _any(thread: HelpThread) -> None:
    return None
