"""The archive's reads and writes: a session's recordings and their segments (written by the recorder), who
may open the archive, where each segment was stored away, and the removal of expired recordings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from ..domain.errors import NotFound
from ..domain.model import Principal
from ..domain.recording import RecordingFiles, RecordingState, Segment
from . import models as m
from .recording_store import recording_files, segment_of
from .store import Store


class ArchiveStore:
    """Recordings as the archive sees them; the recorder (issue 22, item 1) writes the rows, and both read
    them as the same types (server/domain/recording.py, mapped in server/db/recording_store.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def access(self, session_id: int) -> str:
        async with self.store._tx() as tx:
            value = await tx.scalar(select(m.Session.archive_access).where(m.Session.id == session_id))
        if value is None:
            raise NotFound(f"there is no session {session_id}", code="unknown_session")
        return value

    async def set_access(self, actor: Principal, session_id: int, access: str) -> str:
        """Change who may open the archive, audited; the previous value is returned."""
        async with self.store._tx() as tx, tx.begin():
            row = await tx.get(m.Session, session_id, with_for_update=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            previous = row.archive_access
            if previous != access:
                row.archive_access = access
                tx.add(
                    self.store._audit(
                        actor,
                        "archive.set_access",
                        f"session:{session_id}",
                        {"from": previous, "to": access},
                        session_id,
                    )
                )
            return previous

    async def recordings(self, session_id: int) -> list[RecordingFiles]:
        """The session's recordings in the order they started, each with its segments in time order."""
        async with self.store._tx() as tx:
            recs = (
                await tx.scalars(
                    select(m.Recording)
                    .where(m.Recording.session_id == session_id)
                    .order_by(m.Recording.started_at, m.Recording.id)
                )
            ).all()
            ids = [r.id for r in recs]
            segs = (
                (
                    await tx.scalars(
                        select(m.RecordingSegment)
                        .where(m.RecordingSegment.recording_id.in_(ids))
                        .order_by(m.RecordingSegment.started_at, m.RecordingSegment.id)
                    )
                ).all()
                if ids
                else []
            )
        by_recording: dict[int, list[Segment]] = {i: [] for i in ids}
        for seg in segs:
            by_recording[seg.recording_id].append(segment_of(seg))
        return [recording_files(r, tuple(by_recording[r.id])) for r in recs]

    async def unstored(self, limit: int = 100) -> list[Segment]:
        """Complete segments still only in the local recordings directory."""
        async with self.store._tx() as tx:
            rows = (
                await tx.scalars(
                    select(m.RecordingSegment)
                    .where(m.RecordingSegment.complete.is_(True), m.RecordingSegment.stored_at.is_(None))
                    .order_by(m.RecordingSegment.id)
                    .limit(limit)
                )
            ).all()
        return [segment_of(r) for r in rows]

    async def mark_stored(self, segment_id: int, location: str) -> bool:
        """Record where a segment was stored; False if another process did it first (or it is gone)."""
        async with self.store._tx() as tx, tx.begin():
            result = await tx.execute(
                update(m.RecordingSegment)
                .where(m.RecordingSegment.id == segment_id, m.RecordingSegment.stored_at.is_(None))
                .values(stored_at=location)
                .execution_options(synchronize_session=False)
            )
            return getattr(result, "rowcount", 0) == 1

    async def stopped_before(self, cutoff: datetime) -> list[RecordingFiles]:
        """Recordings that stopped (or failed) at or before `cutoff`, with their segments."""
        async with self.store._tx() as tx:
            session_ids = (
                await tx.scalars(
                    select(m.Recording.session_id)
                    .where(m.Recording.state != RecordingState.RECORDING, m.Recording.stopped_at <= cutoff)
                    .distinct()
                )
            ).all()
        found = []
        for session_id in session_ids:
            for rec in await self.recordings(session_id):
                if not rec.running and rec.stopped_at is not None and rec.stopped_at <= cutoff:
                    found.append(rec)
        return found

    async def remove(self, recording: RecordingFiles, retention_days: int) -> bool:
        """Delete an expired recording's rows (its segments with it); audit the removal as the system."""
        async with self.store._tx() as tx, tx.begin():
            row = await tx.get(m.Recording, recording.id)
            if row is None:
                return False
            session = await tx.get(m.Session, row.session_id)
            assert session is not None
            await tx.execute(delete(m.RecordingSegment).where(m.RecordingSegment.recording_id == row.id))
            await tx.delete(row)
            tx.add(
                self.store._audit(
                    None,
                    "recording.expired",
                    f"recording:{recording.id}",
                    {
                        "retention_days": retention_days,
                        "stopped_at": recording.stopped_at.isoformat() if recording.stopped_at else None,
                        "segments": len(recording.segments),
                        "bytes": sum(s.bytes for s in recording.segments),
                    },
                    row.session_id,
                    event_id=session.event_id,
                )
            )
        return True
