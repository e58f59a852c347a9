"""Use cases of statements sent in advance (issue 21, item 5): a speaker (or floor staff for them) attaches
the text of their statement to their request; the booths, the captioner and moderators read it. Check, store,
notify. Attendees and the room display never read one, their own included: a statement is the staff's copy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from .db.statement_store import StatementStore
from .domain.errors import Conflict, Forbidden
from .domain.model import Principal, SessionInfo
from .domain.roles import Permission, Role, can
from .domain.sessions import SessionState
from .domain.statements import NOT_YOURS, STATEMENT_UPLOADS, Statement, check_statement, clean_name
from .limits import Limiter, Limits, refusal
from .service import Hemicycle


class StatementNotifier(Protocol):
    """What the transport does once a statement is stored: tell those who may read it."""

    async def statement_attached(self, statement: Statement) -> None: ...


class _NoNotifier:
    async def statement_attached(self, statement: Statement) -> None:
        return None


async def _anyone(principal: Principal, session: SessionInfo) -> None:
    return None


def _owner_check(principal: Principal) -> Callable[[int | None], None]:
    """Floor staff attach to anyone's request; an attendee to their own only."""
    manager = can(principal.role, Permission.QUEUE_MANAGE)

    def allowed(asker: int | None) -> None:
        if not manager and asker != principal.participant.id:
            raise Forbidden("you may attach a statement to your own request only", code=NOT_YOURS)

    return allowed


class Statements:
    """The statements of every session (server/db/statement_store.py), told to the ``notifier``
    (signaling/statement_events.py). Built once by the composition root, which sets ``entry`` to the standing
    check (someone removed, banned or whose link was withdrawn attaches nothing); called by the HTTP views
    (server/statement_http.py) and the Socket.IO `statements:get`."""

    def __init__(self, core: Hemicycle, limits: Limits) -> None:
        self.core = core
        self.uploads: Limiter = limits.limiter("statements", STATEMENT_UPLOADS)
        self.store = StatementStore(core.store)
        self.notifier: StatementNotifier = _NoNotifier()
        self.entry: Callable[[Principal, SessionInfo], Awaitable[None]] = _anyone

    @property
    def max_bytes(self) -> int:
        return self.core.settings.statement_max_bytes

    async def attaching(self, principal: Principal, session_id: int, entry_id: int) -> SessionInfo:
        """The session, if the caller may attach a statement to this request: an attendee to their own,
        floor staff to anyone's, while it is in line or being spoken. Checked before the body is read."""
        permission = Permission.QUEUE_RAISE if principal.role is Role.ATTENDEE else Permission.QUEUE_MANAGE
        session = await self.core.session_for(principal, session_id, permission)
        if session.state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")
        await self.entry(principal, session)
        await self.store.check_request(session.id, entry_id, _owner_check(principal))
        hit = await self.uploads.take(str(principal.participant.id))
        if not hit.allowed:
            raise refusal("too many statements sent", hit)
        return session

    async def attach(
        self, principal: Principal, session: SessionInfo, entry_id: int, content: bytes, name: object
    ) -> Statement:
        """Check what the bytes are, store them with the request (replacing an earlier statement), then tell
        the booths and the captioner."""
        kind = check_statement(content, self.max_bytes)
        statement = await self.store.attach(
            principal, session.id, entry_id, kind, clean_name(name, kind), content, _owner_check(principal)
        )
        await self.notifier.statement_attached(statement)
        return statement

    async def list(self, principal: Principal, session_id: int) -> list[Statement]:
        """The session's statements (without their text), for those who may read them."""
        session = await self.core.session_for(principal, session_id, Permission.STATEMENT_READ)
        return await self.store.list(session.id)

    async def read(self, principal: Principal, session_id: int, entry_id: int) -> tuple[Statement, bytes]:
        """One statement and its bytes, for those who may read them."""
        session = await self.core.session_for(principal, session_id, Permission.STATEMENT_READ)
        return await self.store.content(session.id, entry_id)

    async def entries_with_statements(self, session_id: int) -> dict[int, str]:
        """Request id -> kind of statement, for the session record."""
        return {s.entry_id: s.kind.value for s in await self.store.list(session_id)}
