"""The caption transcript's durable state: each line is one transaction that bumps the session's captions_seq.

The bump takes the session row's lock, so lines stored by several processes at once get distinct, ordered
sequence numbers; the recent lines a newcomer's welcome carries are read again only when that number moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.captions import CAPTION_LANGUAGES, CaptionLine
from ..domain.errors import NotFound
from ..domain.model import Principal
from . import models as m
from .engine import sessions
from .gathered import GatheredReads
from .store import Store


@dataclass(frozen=True)
class RecentCaptions:
    """The last lines of each language of a session, as one consistent read."""

    session_id: int
    seq: int
    lines: tuple[CaptionLine, ...]


def _line(row: m.Caption) -> CaptionLine:
    return CaptionLine(
        id=row.id,
        session_id=row.session_id,
        seq=row.seq,
        language=row.language,
        text=row.text,
        at=row.at,
        captioner_id=row.captioner_id,
        captioner_name=row.captioner_name,
    )


class CaptionStore:
    """Caption lines, durably: each stored with the session's next sequence number, the recent lines of each
    language (read once for many callers) and the transcript."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)
        self._recent: dict[tuple[int, int], RecentCaptions] = {}
        self._recent_reads: GatheredReads[tuple[int, int], RecentCaptions] = GatheredReads(self._read_recent)

    async def post(self, actor: Principal, session_id: int, language: str, text: str) -> CaptionLine:
        """Store one line (the caller checked role, session and text) and return it with its number."""
        async with self._sessions() as tx, tx.begin():
            session = await self.store.bump_and_lock(tx, session_id, "captions_seq")
            row = m.Caption(
                session_id=session.id,
                seq=session.captions_seq,
                language=language,
                text=text,
                at=self.store.clock(),
                captioner_id=actor.participant.id,
                captioner_name=actor.participant.display_name,
            )
            tx.add(row)
            await tx.flush()
            return _line(row)

    async def recent(self, session_id: int, per_language: int) -> RecentCaptions:
        """The last `per_language` lines of each language, oldest first. Reused, for the cost of one query,
        until another line is stored: a crowd joining at once reads the lines once, and shares that query
        (server/db/gathered.py)."""
        return await self._recent_reads.get((session_id, per_language))

    async def _read_recent(self, key: tuple[int, int]) -> RecentCaptions:
        session_id, per_language = key
        async with self._sessions() as tx:
            seq = await tx.scalar(select(m.Session.captions_seq).where(m.Session.id == session_id))
            if seq is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            return await self.recent_in(tx, session_id, seq, per_language)

    async def recent_in(
        self, tx: AsyncSession, session_id: int, seq: int, per_language: int
    ) -> RecentCaptions:
        """The recent lines at the session's caption number `seq`, just read in `tx`: the last lines read are
        reused while it holds (server/db/snapshot_store.py reads them with the rest of a welcome)."""
        known = self._recent.get((session_id, per_language))
        if known is not None and known.seq == seq:
            return known
        lines: list[CaptionLine] = []
        if seq:
            for language in CAPTION_LANGUAGES:
                rows = await tx.scalars(
                    select(m.Caption)
                    .where(m.Caption.session_id == session_id, m.Caption.language == language)
                    .order_by(m.Caption.seq.desc())
                    .limit(per_language)
                )
                lines += (_line(r) for r in rows)
        recent = RecentCaptions(session_id, seq, tuple(sorted(lines, key=lambda line: line.seq)))
        if known is None or known.seq < recent.seq:
            self._recent[(session_id, per_language)] = recent
        return recent

    async def transcript(self, session_id: int, language: str | None = None) -> list[CaptionLine]:
        """Every line of the session (or of one language), in the order they were stored."""
        query = select(m.Caption).where(m.Caption.session_id == session_id).order_by(m.Caption.seq)
        if language is not None:
            query = query.where(m.Caption.language == language)
        async with self._sessions() as tx:
            return [_line(r) for r in await tx.scalars(query)]
