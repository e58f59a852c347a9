"""Which process owns each session's media relay: one row per session, claimed and taken over here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import models as m
from .store import Store


@dataclass(frozen=True)
class RelayOwner:
    """The process that runs a session's media relay, and where other processes reach it."""

    session_id: int
    instance_id: str
    base_url: str


class MediaStore:
    """Which process owns each session's media relay: claimed when the first media arrives, taken over
    when the owner stops beating, released when it stops."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(
        self, session_id: int, instance_id: str, base_url: str, live_within: timedelta
    ) -> RelayOwner:
        """The session's relay owner: the current one if its process still beats, else this process."""
        for _attempt in range(3):
            try:
                return await self._claim(session_id, instance_id, base_url, live_within)
            except IntegrityError:
                # Another process claimed it between our read and our write: read again.
                continue
        raise RuntimeError(f"could not settle the media relay owner of session {session_id}")

    async def _claim(
        self, session_id: int, instance_id: str, base_url: str, live_within: timedelta
    ) -> RelayOwner:
        now = self.store.clock()
        async with self.store._tx() as tx, tx.begin():
            row = await tx.get(m.MediaRelay, session_id, with_for_update=True)
            if row is not None and row.instance_id != instance_id:
                beat = await tx.scalar(
                    select(m.Instance.heartbeat_at).where(m.Instance.id == row.instance_id)
                )
                if beat is not None and beat >= now - live_within:
                    return RelayOwner(session_id, row.instance_id, row.base_url)
            if row is None:
                tx.add(
                    m.MediaRelay(
                        session_id=session_id, instance_id=instance_id, base_url=base_url, claimed_at=now
                    )
                )
            else:
                row.instance_id, row.base_url, row.claimed_at = instance_id, base_url, now
            return RelayOwner(session_id, instance_id, base_url)

    async def owner(self, session_id: int) -> RelayOwner | None:
        """Who runs the session's relay, without claiming it."""
        async with self.store._tx() as tx:
            row = await tx.get(m.MediaRelay, session_id)
            return RelayOwner(session_id, row.instance_id, row.base_url) if row else None

    async def live_owner(self, session_id: int, live_within: timedelta) -> RelayOwner | None:
        """Who runs the session's relay, if that process still beats."""
        cutoff = self.store.clock() - live_within
        async with self.store._tx() as tx:
            row = (
                await tx.execute(
                    select(m.MediaRelay.instance_id, m.MediaRelay.base_url)
                    .join(m.Instance, m.Instance.id == m.MediaRelay.instance_id)
                    .where(m.MediaRelay.session_id == session_id, m.Instance.heartbeat_at >= cutoff)
                )
            ).first()
            return RelayOwner(session_id, row[0], row[1]) if row else None

    async def live_instances(self, live_within: timedelta) -> set[str]:
        """The processes that still beat."""
        cutoff = self.store.clock() - live_within
        async with self.store._tx() as tx:
            rows = await tx.scalars(select(m.Instance.id).where(m.Instance.heartbeat_at >= cutoff))
            return set(rows)

    async def release(self, session_id: int, instance_id: str) -> None:
        async with self.store._tx() as tx, tx.begin():
            await tx.execute(
                delete(m.MediaRelay).where(
                    m.MediaRelay.session_id == session_id, m.MediaRelay.instance_id == instance_id
                )
            )

    async def release_all(self, instance_id: str) -> None:
        async with self.store._tx() as tx, tx.begin():
            await tx.execute(delete(m.MediaRelay).where(m.MediaRelay.instance_id == instance_id))
