"""The versioned transaction every change to a part of a session goes through: its queue, its questions, the
admission of its participants.

Each change opens a transaction and first bumps the session's counter for that part. That UPDATE takes the
session row's lock on PostgreSQL and SQLite's write lock, so changes to one part of one session are
serialised across processes, and the new value tells clients which update is the newest. An exception
inside rolls everything back, the bump included: no one is told about a change that did not happen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import models as m
from .store import Store

Counter = Literal["queue_version", "questions_version", "moderation_version", "polls_version"]


@dataclass
class Versioned:
    """Inside a versioned transaction: the open transaction, the locked session row (its counter already
    bumped) and the moment the change is made at."""

    tx: AsyncSession
    session: m.Session
    now: datetime


@asynccontextmanager
async def versioned(
    store: Store,
    sessions: async_sessionmaker[AsyncSession],
    session_id: int,
    counter: Counter,
    *,
    also: Callable[[AsyncSession, m.Session], Awaitable[None]] | None = None,
) -> AsyncIterator[Versioned]:
    """One serialised transaction on a part of a session: lock by bumping `counter`, run `also` (another
    bump that must move with it), do the work inside the block, commit when it leaves without an error."""
    async with sessions() as tx, tx.begin():
        session = await store.bump_and_lock(tx, session_id, counter)
        if also is not None:
            await also(tx, session)
        yield Versioned(tx, session, store.clock())
