"""The demo event: modelled on the WSIS+20 Forum High-Level Event (Geneva, 27-31 May 2024).

Dates are moved to today so the live session is live now; seeding twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .db.store import SessionDraft, Store
from .domain.model import EventInfo
from .domain.sessions import SessionState

DEMO_SLUG = "wsis20-hle"
ALL_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")

_SESSIONS = (
    # ref, title, room, offset from now in minutes, length in minutes, languages, state
    (
        "opening",
        "Opening ceremony and high-level policy statements",
        "CICG, Room 1",
        -30,
        120,
        ALL_LANGUAGES,
        SessionState.LIVE,
    ),
    (
        "hlps-1",
        "High-level policy session 1: Bridging digital divides",
        "CICG, Room 2",
        120,
        90,
        ("en", "fr", "es"),
        SessionState.SCHEDULED,
    ),
    (
        "dialogue-ai",
        "Interactive dialogue: AI for sustainable development",
        "CICG, Room 3",
        240,
        90,
        ("en", "fr"),
        SessionState.SCHEDULED,
    ),
    (
        "youth",
        "Youth track: the next twenty years of the information society",
        "CICG, Room 4",
        -240,
        60,
        ("en",),
        SessionState.ENDED,
    ),
)


async def seed_demo(store: Store, now: datetime | None = None) -> EventInfo:
    """Create the demo event and its sessions unless they exist."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    event, created = await store.ensure_event(
        DEMO_SLUG,
        "WSIS+20 Forum High-Level Event (demo)",
        venue="Geneva, Switzerland — hosted by ITU, co-organised with UNESCO, UNDP and UNCTAD",
        timezone="Europe/Zurich",
    )
    if created:
        drafts = [
            SessionDraft(
                ref=ref,
                title=title,
                room=room,
                starts_at=now + timedelta(minutes=offset),
                ends_at=now + timedelta(minutes=offset + length),
                languages=languages,
                state=state,
            )
            for ref, title, room, offset, length, languages, state in _SESSIONS
        ]
        await store.upsert_sessions(event.id, drafts)
    return event
