"""Where recordings are written: one directory, and nothing outside it.

``HEMICYCLE_RECORDINGS_DIR`` (default ``<data dir>/recordings``) holds one folder per session and, in it, one
per recording; each segment file is named after its track and segment id:
``<session id>/<recording id>/<track>-<segment id>.<ext>``. Paths stored in the database are relative to the
directory, so the directory can move. The recorder and the archive both resolve paths here.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from ..settings import Settings

EXTENSIONS = frozenset({"webm", "mkv", "mp4"})
_TRACK = re.compile(r"[a-z]{2,5}")


class UnsafePath(ValueError):
    """A path that would leave the recordings directory, or is not one the recorder writes."""


def recordings_dir(settings: Settings) -> Path:
    """The recordings directory, absolute (it need not exist yet)."""
    chosen = settings.recordings_dir or settings.data_dir / "recordings"
    return chosen.expanduser().resolve()


def segment_path(session_id: int, recording_id: int, track: str, segment_id: int, extension: str) -> str:
    """The relative path of a segment file, as stored in ``recording_segments.path``."""
    if not _TRACK.fullmatch(track):
        raise UnsafePath(f"{track!r} is not a track name")
    if extension not in EXTENSIONS:
        raise UnsafePath(f"{extension!r} is not a recording container")
    for number in (session_id, recording_id, segment_id):
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise UnsafePath(f"{number!r} is not an id")
    return f"{session_id}/{recording_id}/{track}-{segment_id}.{extension}"


def resolve(root: Path, relative: str) -> Path:
    """The absolute path of a stored relative path, refused unless it stays inside ``root``: no absolute
    path, no ``..``, no symbolic link leading out."""
    if not isinstance(relative, str) or not relative or "\x00" in relative or "\\" in relative:
        raise UnsafePath("a recording path must be a non-empty relative path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or any(part in ("..", ".", "") for part in relative.split("/")):
        raise UnsafePath(f"{relative!r} is not inside the recordings directory")
    base = root.resolve()
    found = (base / pure).resolve()
    if not found.is_relative_to(base):
        raise UnsafePath(f"{relative!r} is not inside the recordings directory")
    return found
