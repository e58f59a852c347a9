"""What a welcome shows of a session (its queue, questions, recent captions and last recording), read in one
transaction.

Each of those had a read of its own, shared by the joiners of the moment (server/db/gathered.py): four
transactions per round, one after another on SQLite's one connection, each a few trips between the event
loop and the database's thread. When thousands join at once those transactions were what a join waited for.
Here one transaction reads the session's row once and hands it to each store, which reuses what it read last
while the row's versions hold: a round of joiners costs one transaction, usually of two short queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.errors import NotFound
from ..domain.queue import QueueState
from ..domain.recording import Recording
from . import models as m
from .caption_store import CaptionStore, RecentCaptions
from .gathered import GatheredReads
from .question_store import QuestionsState, QuestionStore
from .queue_store import QueueStore
from .recording_store import RecordingStore
from .store import Store


@dataclass(frozen=True)
class SessionSnapshot:
    """A session's queue, questions, recent captions and last recording, as committed at one moment."""

    queue: QueueState
    questions: QuestionsState
    captions: RecentCaptions
    recording: Recording | None


class SnapshotStore:
    """`snapshot(session_id)`: read after it was asked for, shared by the callers of the moment."""

    def __init__(
        self,
        store: Store,
        queue: QueueStore,
        questions: QuestionStore,
        captions: CaptionStore,
        recordings: RecordingStore,
        caption_lines: int,
    ) -> None:
        self.store = store
        self.queue = queue
        self.questions = questions
        self.captions = captions
        self.recordings = recordings
        self.caption_lines = caption_lines
        self._reads: GatheredReads[int, SessionSnapshot] = GatheredReads(self._read)

    async def snapshot(self, session_id: int) -> SessionSnapshot:
        return await self._reads.get(session_id)

    async def _read(self, session_id: int) -> SessionSnapshot:
        async with self.store._tx() as tx:
            row = await tx.get(m.Session, session_id, populate_existing=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            queue = await self.queue.state_in(tx, row)
            questions = await self.questions.state_in(tx, row)
            captions = await self.captions.recent_in(tx, session_id, row.captions_seq, self.caption_lines)
            recording = await self.recordings.latest_in(tx, session_id)
        return SessionSnapshot(queue, questions, captions, recording)
