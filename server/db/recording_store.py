"""Recordings and their segment files, as stored (tables ``recordings`` and ``recording_segments``).

At most one recording runs per session: the unique partial index ``uq_recordings_one_running`` decides
between two processes starting one at once. Starting, stopping and a fault's stop are audited in the same
transaction as the change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import fields
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal
from ..domain.recording import Recording, RecordingFiles, RecordingState, Segment
from ..domain.sessions import SessionState
from . import models as m
from .gathered import GatheredReads
from .store import AnyRow, Store

# A session's last recording (`latest_in`), built once: it runs with every batch of a crowd's welcomes.
_recording = m.Recording.__table__.c
_LATEST = (
    select(m.Recording.__table__)
    .where(_recording.session_id == bindparam("session_id"))
    .order_by(_recording.started_at.desc(), _recording.id.desc())
    .limit(1)
)


def recording_of(row: m.Recording | AnyRow) -> Recording:
    """A ``recordings`` row as the domain sees it."""
    return Recording(
        id=row.id,
        session_id=row.session_id,
        state=RecordingState(row.state),
        started_at=row.started_at,
        started_by=row.started_by_name,
        stopped_at=row.stopped_at,
        stopped_by=row.stopped_by_name,
        error=row.error,
    )


def recording_files(row: m.Recording, segments: tuple[Segment, ...]) -> RecordingFiles:
    """A ``recordings`` row with its segment files, as the archive reads it."""
    recording = recording_of(row)
    return RecordingFiles(
        **{f.name: getattr(recording, f.name) for f in fields(recording)}, segments=segments
    )


def segment_of(row: m.RecordingSegment) -> Segment:
    """A ``recording_segments`` row as the recorder and the archive see it."""
    return Segment(
        id=row.id,
        recording_id=row.recording_id,
        track=row.track,
        path=row.path,
        container=row.container,
        codecs=tuple(row.codecs or ()),
        started_at=row.started_at,
        ended_at=row.ended_at,
        bytes=row.bytes,
        complete=row.complete,
        writer=row.writer,
        stored_at=row.stored_at,
    )


NOT_RECORDING = "the session is not being recorded"


class RecordingStore:
    """Owned by the recording use case (server/recording/service.py)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # A crowd joining at once reads the session's last recording once per round, not once each.
        self._latest_reads: GatheredReads[int, Recording | None] = GatheredReads(self._read_latest)

    async def start(self, actor: Principal, session_id: int) -> Recording:
        """A new running recording, or Conflict ``already_recording``."""
        already = Conflict("the session is already being recorded", code="already_recording")
        try:
            async with self.store._tx() as tx, tx.begin():
                running = await tx.scalar(
                    select(m.Recording.id).where(
                        m.Recording.session_id == session_id, m.Recording.state == RecordingState.RECORDING
                    )
                )
                if running is not None:
                    raise already
                row = m.Recording(
                    session_id=session_id,
                    state=RecordingState.RECORDING.value,
                    started_at=self.store.clock(),
                    started_by_id=actor.participant.id,
                    started_by_name=actor.participant.display_name[:120],
                )
                tx.add(row)
                await tx.flush()
                tx.add(
                    self.store._audit(
                        actor, "recording.start", f"recording:{row.id}", {"recording_id": row.id}, session_id
                    )
                )
                return recording_of(row)
        except IntegrityError:
            # Another process started one between the read and the insert: the unique index refused ours.
            raise already from None

    async def stop(self, actor: Principal, session_id: int) -> Recording:
        """Stop the running recording, or Conflict ``not_recording``."""
        async with self.store._tx() as tx, tx.begin():
            row = await tx.scalar(
                select(m.Recording)
                .where(m.Recording.session_id == session_id, m.Recording.state == RecordingState.RECORDING)
                .with_for_update()
            )
            if row is None:
                raise Conflict(NOT_RECORDING, code="not_recording")
            row.state = RecordingState.STOPPED.value
            row.stopped_at = self.store.clock()
            row.stopped_by_name = actor.participant.display_name[:120]
            tx.add(
                self.store._audit(
                    actor, "recording.stop", f"recording:{row.id}", {"recording_id": row.id}, session_id
                )
            )
            await tx.flush()
            return recording_of(row)

    async def fail(self, recording_id: int, error: str) -> Recording | None:
        """A fault stopped the recording (audited as the system's act); None if it had stopped already."""
        async with self.store._tx() as tx, tx.begin():
            row = await tx.get(m.Recording, recording_id, with_for_update=True)
            if row is None or row.state != RecordingState.RECORDING:
                return None
            session = await tx.get(m.Session, row.session_id)
            if session is None:
                raise NotFound(f"there is no session {row.session_id}", code="unknown_session")
            row.state = RecordingState.FAILED.value
            row.stopped_at = self.store.clock()
            row.error = error
            tx.add(
                self.store._audit(
                    None,
                    "recording.fail",
                    f"recording:{row.id}",
                    {"recording_id": row.id, "error": error},
                    row.session_id,
                    event_id=session.event_id,
                )
            )
            await tx.flush()
            return recording_of(row)

    async def stop_ended_sessions(self) -> list[Recording]:
        """Stop the recordings still running in sessions that have ended (audited as the system's act)."""
        async with self.store._tx() as tx, tx.begin():
            rows = (
                await tx.execute(
                    select(m.Recording, m.Session.event_id)
                    .join(m.Session, m.Session.id == m.Recording.session_id)
                    .where(
                        m.Recording.state == RecordingState.RECORDING,
                        m.Session.state == SessionState.ENDED.value,
                    )
                    .with_for_update(of=m.Recording)
                )
            ).all()
            stopped = []
            for row, event_id in rows:
                row.state = RecordingState.STOPPED.value
                row.stopped_at = self.store.clock()
                tx.add(
                    self.store._audit(
                        None,
                        "recording.stop",
                        f"recording:{row.id}",
                        {"recording_id": row.id, "reason": "session_ended"},
                        row.session_id,
                        event_id=event_id,
                    )
                )
                stopped.append(row)
            await tx.flush()
            return [recording_of(row) for row in stopped]

    async def latest(self, session_id: int) -> Recording | None:
        """The session's last recording (running, stopped or failed), if it was ever recorded."""
        return await self._latest_reads.get(session_id)

    async def _read_latest(self, session_id: int) -> Recording | None:
        async with self.store._tx() as tx:
            return await self.latest_in(tx, session_id)

    async def latest_in(self, tx: AsyncSession, session_id: int) -> Recording | None:
        """The session's last recording, read in `tx` (server/db/snapshot_store.py: with a welcome)."""
        row = (await tx.execute(_LATEST, {"session_id": session_id})).first()
        return recording_of(row) if row is not None else None

    async def get(self, recording_id: int) -> Recording | None:
        async with self.store._tx() as tx:
            row = await tx.get(m.Recording, recording_id)
            return recording_of(row) if row is not None else None

    async def running(self, session_ids: Collection[int]) -> dict[int, Recording]:
        """The running recording of each of these sessions that has one (one query)."""
        if not session_ids:
            return {}
        async with self.store._tx() as tx:
            rows = await tx.scalars(
                select(m.Recording).where(
                    m.Recording.session_id.in_(list(session_ids)),
                    m.Recording.state == RecordingState.RECORDING,
                )
            )
            return {row.session_id: recording_of(row) for row in rows}

    # -- segments ------------------------------------------------------------------------------

    async def add_segment(
        self,
        recording_id: int,
        track: str,
        container: str,
        codecs: list[str],
        writer: str,
        path_of: Callable[[int], str],
    ) -> Segment:
        """A new segment row; its path is ``path_of(its id)``."""
        async with self.store._tx() as tx, tx.begin():
            row = m.RecordingSegment(
                recording_id=recording_id,
                track=track,
                path="",
                container=container,
                codecs=codecs,
                started_at=self.store.clock(),
                bytes=0,
                complete=False,
                writer=writer,
            )
            tx.add(row)
            await tx.flush()
            row.path = path_of(row.id)
            await tx.flush()
            return segment_of(row)

    async def update_segment(
        self,
        segment_id: int,
        started_at: datetime,
        ended_at: datetime,
        size: int,
        complete: bool = False,
    ) -> None:
        async with self.store._tx() as tx, tx.begin():
            await tx.execute(
                update(m.RecordingSegment)
                .where(m.RecordingSegment.id == segment_id)
                .values(started_at=started_at, ended_at=ended_at, bytes=size, complete=complete)
            )

    async def drop_segment(self, segment_id: int) -> None:
        """A segment that never received a frame: no file, no row."""
        async with self.store._tx() as tx, tx.begin():
            await tx.execute(delete(m.RecordingSegment).where(m.RecordingSegment.id == segment_id))

    async def segments(self, recording_id: int) -> list[Segment]:
        async with self.store._tx() as tx:
            rows = await tx.scalars(
                select(m.RecordingSegment)
                .where(m.RecordingSegment.recording_id == recording_id)
                .order_by(m.RecordingSegment.track, m.RecordingSegment.started_at, m.RecordingSegment.id)
            )
            return [segment_of(row) for row in rows]
