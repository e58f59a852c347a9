"""Interpretation booths' durable state: which booths an interpreter's link works in, and the record of who
was on air in each booth and of the booths' "slow down" notices (times only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from ..domain.booths import Notice, Turn
from ..domain.errors import NotFound
from ..domain.model import ParticipantInfo, Principal
from ..domain.roles import Role
from . import models as m
from .engine import sessions
from .store import Store


class BoothStore:
    """Booth links, turns and notices: written by server.media.booths (BoothDesk), read by the reports."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)

    async def booths_of(self, grant_id: int) -> frozenset[str] | None:
        """The booths a link works in; None for a link that names none (every booth)."""
        async with self._sessions() as tx:
            rows = (
                await tx.scalars(select(m.BoothMember.language).where(m.BoothMember.grant_id == grant_id))
            ).all()
        return frozenset(rows) if rows else None

    async def issue(
        self, actor: Principal, event_id: int, session_id: int, languages: list[str], name: str
    ) -> tuple[ParticipantInfo, int]:
        """A new interpreter (a person of their own, so the booth tells partners apart) with a link for these
        booths of one session."""
        booths = sorted(set(languages))
        async with self._sessions() as tx, tx.begin():
            session = await tx.get(m.Session, session_id)
            if session is None or session.event_id != event_id:
                raise NotFound(f"there is no session {session_id} in this event", code="unknown_session")
            info, grant_id = await self.store.add_holder(
                tx, event_id, session_id, Role.INTERPRETER, name, actor, {"booths": booths}
            )
            for language in booths:
                tx.add(m.BoothMember(grant_id=grant_id, language=language))
            return info, grant_id

    async def turn_started(
        self, session_id: int, language: str, participant_id: int | None, name: str, at: datetime, began: str
    ) -> None:
        """Close the booth's open turn at ``at`` and, for someone on air, open theirs."""
        async with self._sessions() as tx, tx.begin():
            await tx.execute(
                update(m.BoothTurn)
                .where(
                    m.BoothTurn.session_id == session_id,
                    m.BoothTurn.language == language,
                    m.BoothTurn.ended_at.is_(None),
                )
                .values(ended_at=at)
            )
            if participant_id is not None:
                tx.add(
                    m.BoothTurn(
                        session_id=session_id,
                        language=language,
                        participant_id=participant_id,
                        name=name,
                        started_at=at,
                        began=began,
                    )
                )

    async def noticed(
        self, session_id: int, language: str, participant_id: int, entry_id: int | None, at: datetime
    ) -> None:
        async with self._sessions() as tx, tx.begin():
            tx.add(
                m.BoothNotice(
                    session_id=session_id,
                    language=language,
                    participant_id=participant_id,
                    entry_id=entry_id,
                    at=at,
                )
            )

    async def record(self, session_id: int) -> tuple[list[Turn], list[Notice]]:
        async with self._sessions() as tx:
            turns = (
                await tx.scalars(
                    select(m.BoothTurn)
                    .where(m.BoothTurn.session_id == session_id)
                    .order_by(m.BoothTurn.started_at, m.BoothTurn.id)
                )
            ).all()
            notices = (
                await tx.scalars(
                    select(m.BoothNotice)
                    .where(m.BoothNotice.session_id == session_id)
                    .order_by(m.BoothNotice.at)
                )
            ).all()
        return (
            [Turn(t.language, t.participant_id, t.name, t.started_at, t.ended_at, t.began) for t in turns],
            [Notice(n.language, n.participant_id, n.entry_id, n.at) for n in notices],
        )
