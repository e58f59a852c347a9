"""The use cases of one process, built once by the composition root (server/wiring.py) and handed to the
adapters: the Socket.IO hub, the HTTP views (through server/keys.py) and WHIP/WHEP."""

from __future__ import annotations

from dataclasses import dataclass

from .archive import Archive
from .captions import Captions
from .db.snapshot_store import SnapshotStore
from .desk import QuestionDesk
from .floor import Floor
from .helpdesk import HelpDesk
from .limits import Limits
from .media.service import MediaService
from .moderation import ParticipantModeration
from .polls import Polls
from .recording.service import Recordings
from .reports import Reports
from .service import Hemicycle
from .standing import StandingChecks
from .statements import Statements


@dataclass(frozen=True)
class UseCases:
    """Each use case of the process, built once (server/wiring.py.build_use_cases)."""

    core: Hemicycle
    floor: Floor
    desk: QuestionDesk
    standing: StandingChecks
    moderation: ParticipantModeration
    captions: Captions
    media: MediaService
    reports: Reports
    limits: Limits
    # The help desk (issue 24).
    help: HelpDesk
    polls: Polls
    # Recording (issue 22).
    recordings: Recordings
    # The session archive (issue 22).
    archive: Archive
    # Statements sent in advance with a request for the floor (issue 21).
    statements: Statements
    # What a welcome shows of a session (queue, questions, captions, recording), in one read per round.
    snapshots: SnapshotStore
