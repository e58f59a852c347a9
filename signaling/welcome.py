"""The parts of a welcome that are the same for everyone in a session, built once per version and shared.

When thousands join together (a session's opening, a process lost and its attendees back on another), every
joiner reads the same queue, questions and captions at the same versions: their public views are built once
and the same objects go into every welcome until a version moves. Only what is one person's own (who they
are, their permissions, their request, their questions) is built per joiner.

The floor's public view carries a countdown and the server's clock taken at one instant; a shared one is
given out for at most ``MAX_AGE_SECONDS``, so a page's clock offset is never further off than a network's
latency (the countdown and the clock stay consistent with each other, whatever their age).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.captions import recent_view
from server.db.caption_store import RecentCaptions
from server.db.question_store import QuestionsState
from server.desk import QuestionDesk
from server.domain.model import EventInfo, SessionInfo
from server.domain.queue import QueueState
from server.domain.roles import ROLE_PERMISSIONS, Role
from server.floor import Floor

# A shared floor view (its countdown and server clock) is given out for at most this long.
MAX_AGE_SECONDS = 0.25

# What a role may do, as every welcome lists it: the same list for everyone with that role.
PERMISSIONS: dict[Role, list[str]] = {
    role: sorted(p.value for p in permissions) for role, permissions in ROLE_PERMISSIONS.items()
}


@dataclass(frozen=True)
class Shared:
    """One build of the shared parts, and what it was built from."""

    session: SessionInfo
    event: EventInfo
    queue_version: int
    questions_version: int
    captions_seq: int
    built_at: float
    parts: dict[str, Any]

    def fits(
        self,
        session: SessionInfo,
        event: EventInfo,
        queue: QueueState,
        questions: QuestionsState,
        captions: RecentCaptions,
        now: float,
    ) -> bool:
        return (
            now - self.built_at <= MAX_AGE_SECONDS
            and self.queue_version == queue.version
            and self.questions_version == questions.version
            and self.captions_seq == captions.seq
            and self.session == session
            and self.event == event
        )


class WelcomeParts:
    """Owned by Connections: the last shared build per session. ``builds`` counts builds (for tests and
    metrics: a crowd joining at one version costs one)."""

    def __init__(self, floor: Floor, desk: QuestionDesk, clock: Callable[[], float] = time.monotonic) -> None:
        self.floor = floor
        self.desk = desk
        self.clock = clock
        self.builds = 0
        self._last: dict[int, Shared] = {}

    def shared(
        self,
        session: SessionInfo,
        event: EventInfo,
        queue: QueueState,
        questions: QuestionsState,
        captions: RecentCaptions,
    ) -> dict[str, Any]:
        """The session, event, floor, questions and captions parts of a welcome at these versions. The dict
        and everything in it are shared between welcomes: never modify them."""
        now = self.clock()
        last = self._last.get(session.id)
        if last is not None and last.fits(session, event, queue, questions, captions, now):
            return last.parts
        parts = {
            "session": session.public(),
            "event": event.public(),
            "floor": self.floor.public(queue),
            "questions": self.desk.public_view(questions),
            "captions": recent_view(captions),
        }
        self._last[session.id] = Shared(
            session, event, queue.version, questions.version, captions.seq, now, parts
        )
        self.builds += 1
        return parts

    def forget(self, session_id: int) -> None:
        """The session's last connection here left: its build is no longer worth keeping."""
        self._last.pop(session_id, None)
