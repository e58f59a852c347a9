"""What a welcome shows of a session (its queue, questions, recent captions and last recording), read in one
transaction.

Each of those had a read of its own, shared by the joiners of the moment (server/db/gathered.py): four
transactions per round, one after another on SQLite's one connection, each a few trips between the event
loop and the database's thread. When thousands join at once those transactions were what a join waited for.
Here one transaction reads the session's row once and hands it to each store, which reuses what it read last
while the row's versions hold. A connection joining (`join`) is recorded as present in that same transaction:
a round of joiners costs one transaction, of two inserts and usually three short queries (the connections
its people already hold, the session's row, its last recording), each built once (server/db/store.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import NotFound, TooManyConnections
from ..domain.model import Principal
from ..domain.queue import QueueState
from ..domain.recording import Recording
from . import models as m
from .caption_store import CaptionStore, RecentCaptions
from .gathered import CROWD_SPACING_SECONDS, GatheredCalls, GatheredReads
from .question_store import QuestionsState, QuestionStore
from .queue_store import QueueStore
from .recording_store import RecordingStore
from .store import Joining, Store, already_joined

# The session's row, built once (a Core read: each store takes what it needs from the row, no ORM object).
_SESSION = select(m.Session.__table__).where(m.Session.__table__.c.id == bindparam("session_id"))


@dataclass(frozen=True)
class SessionSnapshot:
    """A session's queue, questions, recent captions and last recording, as committed at one moment."""

    queue: QueueState
    questions: QuestionsState
    captions: RecentCaptions
    recording: Recording | None


class SnapshotStore:
    """`snapshot(session_id)`: read after it was asked for, shared by the callers of the moment; `join`: the
    same, with the connection recorded as present first."""

    def __init__(
        self,
        store: Store,
        queue: QueueStore,
        questions: QuestionStore,
        captions: CaptionStore,
        recordings: RecordingStore,
        caption_lines: int,
        per_participant: int,
        live_within: timedelta,
    ) -> None:
        self.store = store
        self.queue = queue
        self.questions = questions
        self.captions = captions
        self.recordings = recordings
        self.caption_lines = caption_lines
        self.per_participant = per_participant
        self.live_within = live_within
        self._reads: GatheredReads[int, SessionSnapshot] = GatheredReads(self._read)
        self._joins: GatheredCalls[Joining, SessionSnapshot] = GatheredCalls(
            self._join_all, "joins", spacing=CROWD_SPACING_SECONDS
        )

    async def snapshot(self, session_id: int) -> SessionSnapshot:
        return await self._reads.get(session_id)

    async def join(
        self,
        instance_id: str,
        sid: str,
        principal: Principal,
        session_id: int,
        abandoned: Callable[[], None] | None = None,
    ) -> SessionSnapshot:
        """Record a joined connection (presence and attendance), then read its session's snapshot: in one
        transaction with the other connections joining at the moment. Conflict `already_joined` if the
        connection was recorded already; TooManyConnections if its participant already holds
        `per_participant` connections on the live processes together (each process also bounds its own
        before asking: this is the bound across them). A caller cancelled meanwhile (its client gone) does
        not stop the batch: `abandoned()` is called once its connection has been recorded after all."""
        return await self._joins.call(
            Joining(instance_id, sid, principal, session_id),
            None if abandoned is None else lambda _snapshot: abandoned(),
        )

    async def _read(self, session_id: int) -> SessionSnapshot:
        async with self.store._tx() as tx:
            return await self._read_in(tx, session_id)

    async def _read_in(self, tx: AsyncSession, session_id: int) -> SessionSnapshot:
        row = (await tx.execute(_SESSION, {"session_id": session_id})).first()
        if row is None:
            raise NotFound(f"there is no session {session_id}", code="unknown_session")
        queue = await self.queue.state_in(tx, row)
        questions = await self.questions.state_in(tx, row)
        captions = await self.captions.recent_in(tx, session_id, row.captions_seq, self.caption_lines)
        recording = await self.recordings.latest_in(tx, session_id)
        return SessionSnapshot(queue, questions, captions, recording)

    async def _join_all(self, joining: list[Joining]) -> list[SessionSnapshot | BaseException]:
        refused: dict[int, BaseException] = {}
        try:
            async with self.store._tx() as tx, tx.begin():
                held = await self.store.live_connections_in(
                    tx, {one.principal.participant.id for one in joining}, self.live_within
                )
                for index, one in enumerate(joining):
                    participant_id = one.principal.participant.id
                    if held.get(participant_id, 0) >= self.per_participant:
                        refused[index] = TooManyConnections(
                            f"this participant already has {self.per_participant} connections open: close "
                            "a tab or device first",
                            details={"limit": self.per_participant},
                        )
                    else:
                        held[participant_id] = held.get(participant_id, 0) + 1
                admitted = [one for index, one in enumerate(joining) if index not in refused]
                if admitted:
                    await self.store.record_presences(tx, admitted)
                # Read after the writes, in their transaction: what is committed now, and these rows. (A
                # session that is not there failed the writes already: a presence row names its session.)
                snapshots = {
                    session_id: await self._read_in(tx, session_id)
                    for session_id in dict.fromkeys(one.session_id for one in admitted)
                }
        except IntegrityError:
            if len(joining) == 1:
                return [already_joined()]
            # One of them was already recorded: each on its own, so that only that one is refused.
            return [await self._join_alone(one) for one in joining]
        return [refused.get(index) or snapshots[one.session_id] for index, one in enumerate(joining)]

    async def _join_alone(self, one: Joining) -> SessionSnapshot | BaseException:
        try:
            return (await self._join_all([one]))[0]
        except Exception as exc:
            return exc
