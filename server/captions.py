"""Use cases of live captions: a captioner posts a line, the transcript is read back; check, store, notify."""

from __future__ import annotations

from typing import Protocol

from .db.caption_store import CaptionStore, RecentCaptions
from .domain.captions import RECENT_LINES, CaptionLine, check_language, clean_caption
from .domain.errors import Conflict
from .domain.model import Principal, SessionInfo
from .domain.roles import Permission
from .domain.sessions import SessionState
from .service import Hemicycle


class CaptionNotifier(Protocol):
    """What the transport does once a line is stored: show it to everyone in the session."""

    async def caption_posted(self, line: CaptionLine) -> None: ...


class _NoNotifier:
    async def caption_posted(self, line: CaptionLine) -> None:
        return None


class Captions:
    """Live captions of every session: a captioner's line is checked and stored (server/db/caption_store.py),
    then told to its ``notifier`` (signaling/caption_events.py); the recent lines and the transcript are read
    back. Built once by the composition root (server/wiring.py); called by the Socket.IO caption events and
    the HTTP transcript (server/api.py)."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.store = CaptionStore(core.store)
        self.notifier: CaptionNotifier = _NoNotifier()

    async def post(
        self, principal: Principal, session_id: int, language: object, text: object
    ) -> CaptionLine:
        """Store a finished line, then broadcast it. A session that has ended takes no more captions."""
        session = await self.core.session_for(principal, session_id, Permission.CAPTION_POST)
        if session.state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")
        line = await self.store.post(
            principal, session.id, check_language(language, session.languages), clean_caption(text)
        )
        await self.notifier.caption_posted(line)
        return line

    async def recent(self, session_id: int, per_language: int = RECENT_LINES) -> RecentCaptions:
        return await self.store.recent(session_id, per_language)

    async def transcript_for(
        self, principal: Principal, session_id: int, language: object | None
    ) -> tuple[SessionInfo, list[CaptionLine]]:
        """The stored transcript, for those who may read it (admin, moderator, captioner)."""
        session = await self.core.session_for(principal, session_id, Permission.TRANSCRIPT_VIEW)
        chosen = None if language is None else check_language(language, session.languages)
        return session, await self.store.transcript(session.id, chosen)


def recent_view(recent: RecentCaptions) -> dict[str, object]:
    """What a welcome or `captions:get` carries: the last lines of each language, oldest first."""
    return {
        "session_id": recent.session_id,
        "seq": recent.seq,
        "lines": [line.public() for line in recent.lines],
    }
