"""Statements sent in advance: one per request for the floor, written in one transaction that also checks the
request (its session, its asker, that it is still in line) under the request row's lock.

Who may attach or read is decided by the use case (server/statements.py); what a statement may be by
server/domain/statements.py. This module stores and reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import select

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal
from ..domain.queue import EntryState
from ..domain.statements import NO_STATEMENT, NOT_IN_LINE, UNKNOWN_REQUEST, Statement, StatementKind
from . import models as m
from .engine import sessions
from .store import Store

DESCRIPTION = (
    m.Statement.id,
    m.Statement.session_id,
    m.Statement.intervention_id,
    m.Statement.kind,
    m.Statement.name,
    m.Statement.size,
    m.Statement.sha256,
    m.Statement.uploaded_at,
    m.Statement.uploaded_by_name,
    m.Statement.uploaded_by_role,
    m.Intervention.display_name,
)


def _statement(r: Any) -> Statement:
    """A Statement from a Core row of DESCRIPTION."""
    return Statement(
        id=r.id,
        session_id=r.session_id,
        entry_id=r.intervention_id,
        kind=StatementKind(r.kind),
        name=r.name,
        size=r.size,
        sha256=r.sha256,
        uploaded_at=r.uploaded_at,
        uploaded_by_name=r.uploaded_by_name,
        uploaded_by_role=r.uploaded_by_role,
        speaker_name=r.display_name,
    )


def _check_request(
    row: m.Intervention | None, session_id: int, entry_id: int, allowed: Callable[[int | None], None]
) -> None:
    if row is None or row.session_id != session_id:
        raise NotFound(f"there is no request {entry_id} in this session", code=UNKNOWN_REQUEST)
    allowed(row.participant_id)
    if row.state not in (EntryState.QUEUED.value, EntryState.SPEAKING.value):
        raise Conflict(f"request {entry_id} is no longer in line ({row.state})", code=NOT_IN_LINE)


class StatementStore:
    """The statements of every session: written only through server/statements.py."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)

    async def attach(
        self,
        uploader: Principal,
        session_id: int,
        entry_id: int,
        kind: StatementKind,
        name: str,
        content: bytes,
        allowed: Callable[[int | None], None],
    ) -> Statement:
        """Store (or replace) the statement of a request still in line or speaking; ``allowed`` raises when
        the uploader may not attach to a request of this asker (participant id, None in the room)."""
        now = self.store.clock()
        async with self._sessions() as tx, tx.begin():
            row = await tx.get(m.Intervention, entry_id, with_for_update=True)
            _check_request(row, session_id, entry_id, allowed)
            assert row is not None
            existing = await tx.scalar(select(m.Statement).where(m.Statement.intervention_id == entry_id))
            statement = existing or m.Statement(session_id=session_id, intervention_id=entry_id)
            statement.kind = kind.value
            statement.name = name
            statement.size = len(content)
            statement.sha256 = hashlib.sha256(content).hexdigest()
            statement.content = content
            statement.uploaded_at = now
            statement.uploaded_by_id = uploader.participant.id
            statement.uploaded_by_name = uploader.participant.display_name
            statement.uploaded_by_role = uploader.role.value
            if existing is None:
                tx.add(statement)
            tx.add(
                self.store._audit(
                    uploader,
                    "statement.attach",
                    f"intervention:{entry_id}",
                    {"kind": kind.value, "size": len(content), "replaced": existing is not None},
                    session_id,
                    event_id=uploader.event_id,
                )
            )
            await tx.flush()
            return Statement(
                id=statement.id,
                session_id=session_id,
                entry_id=entry_id,
                kind=kind,
                name=name,
                size=len(content),
                sha256=statement.sha256,
                uploaded_at=now,
                uploaded_by_name=statement.uploaded_by_name,
                uploaded_by_role=statement.uploaded_by_role,
                speaker_name=row.display_name,
            )

    async def check_request(
        self, session_id: int, entry_id: int, allowed: Callable[[int | None], None]
    ) -> None:
        """The checks ``attach`` makes, made before a body is read (and made again, under the lock, by it)."""
        async with self._sessions() as tx:
            _check_request(await tx.get(m.Intervention, entry_id), session_id, entry_id, allowed)

    async def described(self, entry_ids: Collection[int]) -> dict[int, dict[str, str]]:
        """Request id -> the kind and name of its statement, for those of these requests that have one (what
        a speaker's own view says of theirs: never the content)."""
        if not entry_ids:
            return {}
        async with self._sessions() as tx:
            rows = await tx.execute(
                select(m.Statement.intervention_id, m.Statement.kind, m.Statement.name).where(
                    m.Statement.intervention_id.in_(list(entry_ids))
                )
            )
            return {r.intervention_id: {"kind": r.kind, "name": r.name} for r in rows}

    async def list(self, session_id: int) -> list[Statement]:
        """The session's statements, by request (without their bytes)."""
        async with self._sessions() as tx:
            rows = await tx.execute(
                select(*DESCRIPTION)
                .join(m.Intervention, m.Intervention.id == m.Statement.intervention_id)
                .where(m.Statement.session_id == session_id)
                .order_by(m.Statement.intervention_id)
            )
            return [_statement(r) for r in rows]

    async def content(self, session_id: int, entry_id: int) -> tuple[Statement, bytes]:
        """One request's statement and its bytes."""
        async with self._sessions() as tx:
            row = (
                await tx.execute(
                    select(*DESCRIPTION, m.Statement.content)
                    .join(m.Intervention, m.Intervention.id == m.Statement.intervention_id)
                    .where(m.Statement.session_id == session_id, m.Statement.intervention_id == entry_id)
                )
            ).first()
            if row is None:
                raise NotFound(f"request {entry_id} has no statement in this session", code=NO_STATEMENT)
            return _statement(row), bytes(row.content)
