"""A session's recording as the rules see it: its state, who started and stopped it, and its segment files
(issue 22). The recorder and the archive both read the ``recordings`` and ``recording_segments`` tables
through these types (server/db/recording_store.py maps the rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import HemicycleError
from .model import iso

# The longest error text kept with a failed recording (the column's size).
MAX_ERROR_CHARS = 300


class RecordingState(StrEnum):
    """Where a recording is: running, stopped by staff, or stopped by a fault."""

    RECORDING = "recording"
    STOPPED = "stopped"
    # A fault stopped it (a full disk, a write error): ``error`` says which; the session goes on.
    FAILED = "failed"


class StorageError(HemicycleError):
    """The recordings directory cannot be written: nothing was started."""

    code = "recording_storage"
    status = 507


@dataclass(frozen=True)
class Recording:
    """One recording of a session, from its start to its stop (or its failure)."""

    id: int
    session_id: int
    state: RecordingState
    started_at: datetime
    started_by: str
    stopped_at: datetime | None = None
    stopped_by: str | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state is RecordingState.RECORDING

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session_id": self.session_id,
            "state": self.state.value,
            "started_at": iso(self.started_at),
            "started_by": self.started_by,
            "stopped_at": iso(self.stopped_at),
            "stopped_by": self.stopped_by,
            "error": self.error,
        }


@dataclass(frozen=True)
class Segment:
    """One segment file as stored: its track, path (relative to the recordings directory), progress, the
    process that wrote it, and where the archive stored it away (None while it is only in the recordings
    directory)."""

    id: int
    recording_id: int
    track: str
    path: str
    container: str
    codecs: tuple[str, ...]
    started_at: datetime
    ended_at: datetime | None
    bytes: int
    complete: bool
    writer: str
    stored_at: str | None = None


@dataclass(frozen=True)
class RecordingFiles(Recording):
    """A recording with its segment files in time order: what the archive reads."""

    segments: tuple[Segment, ...] = ()


def error_text(exc: BaseException) -> str:
    """A fault's message as stored and shown: one line, at most ``MAX_ERROR_CHARS`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:MAX_ERROR_CHARS]
