"""The session archive (issue 22): a recording's timeline, its chapters, who may open it, and how much of a
file a Range request asks for.

Plain rules with no transport and no storage: the archive use case (server/archive.py) feeds them the stored
recordings, interventions, questions and captions.

Times on an archive's timeline are seconds from the recording's start (its `started_at`): a segment, a
chapter and a caption cue all sit at their wall-clock time minus that origin, so segments written by several
processes, or after a restart, line up with each other and with the intervention record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .captions import _vtt_text, _vtt_time
from .errors import HemicycleError, InvalidInput
from .model import iso

ACCESS_LEVELS = ("staff", "public")
# The floor (the room feed or the speaker holding the floor) and the interpretation channels' codes.
FLOOR_TRACK = "floor"
MAX_RETENTION_DAYS = 36_500


class RangeNotSatisfiable(HemicycleError):
    """A Range that starts at or past the end of the file (HTTP 416)."""

    status = 416
    code = "range_not_satisfiable"


def check_access(value: object) -> str:
    """Who may open a session's archive: "staff" or "public"."""
    if not isinstance(value, str) or value not in ACCESS_LEVELS:
        raise InvalidInput("access must be staff or public", details={"field": "access"})
    return value


def check_retention_days(value: object, name: str = "retention_days") -> int:
    """Days a recording is kept after it stopped: a whole number from 0 (keep forever) to 36,500."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            raise InvalidInput(f"{name} must be a whole number of days", details={"field": name})
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"{name} must be between 0 (keep forever) and {MAX_RETENTION_DAYS}, not {value}",
            details={"field": name},
        )
    return value


def expired(stopped_at: datetime | None, retention_days: int, now: datetime) -> bool:
    """A stopped recording older than the retention period; 0 days keeps everything, a running one is kept."""
    return (
        retention_days > 0 and stopped_at is not None and now - stopped_at >= timedelta(days=retention_days)
    )


# -- timeline ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSpan:
    """Where one segment file sits on its recording's timeline."""

    id: int
    track: str
    offset: float  # seconds from the recording's start to the segment's media time 0
    duration: float | None  # None while it is being written and has no end yet
    complete: bool

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "track": self.track,
            "offset": round(self.offset, 3),
            "duration": None if self.duration is None else round(self.duration, 3),
            "complete": self.complete,
        }


def span(
    segment_id: int,
    track: str,
    origin: datetime,
    started_at: datetime,
    ended_at: datetime | None,
    complete: bool,
) -> SegmentSpan:
    offset = max(0.0, (started_at - origin).total_seconds())
    duration = None if ended_at is None else max(0.0, (ended_at - started_at).total_seconds())
    return SegmentSpan(segment_id, track, offset, duration, complete)


def timeline_length(spans: list[SegmentSpan], stopped_offset: float | None) -> float:
    """How long the recording plays: to its last segment's end, or to when it stopped if that is later."""
    ends = [s.offset + (s.duration or 0.0) for s in spans]
    if stopped_offset is not None:
        ends.append(stopped_offset)
    return round(max(ends, default=0.0), 3)


# -- chapters ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chapter:
    """One intervention, or one question read aloud, on the recording's timeline."""

    kind: str  # "intervention" or "question"
    start: float
    end: float
    title: str
    details: dict[str, Any]

    def public(self, index: int) -> dict[str, Any]:
        return {
            "id": f"c{index + 1}",
            "kind": self.kind,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration_seconds": round(self.end - self.start, 1),
            "title": self.title,
            **self.details,
        }


def _within(
    start: datetime, end: datetime | None, origin: datetime, until: datetime
) -> tuple[float, float] | None:
    """The part of [start, end] inside [origin, until], in seconds from origin; None when outside."""
    finish = min(end or until, until)
    if finish < origin or start > until:
        return None
    return max(0.0, (start - origin).total_seconds()), max(0.0, (finish - origin).total_seconds())


def chapters(
    interventions: list[dict[str, Any]],
    questions_read: list[dict[str, Any]],
    origin: datetime,
    until: datetime,
) -> list[Chapter]:
    """One chapter per intervention (from the intervention record, server/domain/report.py) and per question
    read aloud, that falls within the recording [origin, until], in time order.

    A question's chapter runs from when the chair marked it read to when it was answered, or to the next
    chapter's start when it has no answer time (it is at least a second long).
    """
    found: list[Chapter] = []
    for row in interventions:
        if not row.get("granted_at"):
            continue
        start = _parse(row["granted_at"])
        end = _parse(row["ended_at"]) if row.get("ended_at") else None
        placed = _within(start, end, origin, until)
        if placed is None:
            continue
        found.append(
            Chapter(
                kind="intervention",
                start=placed[0],
                end=placed[1],
                title=row["speaker"] + (f" ({row['affiliation']})" if row.get("affiliation") else ""),
                details={
                    "speaker": row["speaker"],
                    "affiliation": row.get("affiliation"),
                    "stakeholder_group": row.get("stakeholder_group"),
                    "type": row.get("type"),
                    "language": row.get("language"),
                    "in_room": row.get("in_room"),
                    "intervention_id": row.get("id"),
                },
            )
        )
    for q in questions_read:
        start = _parse(q["read_at"])
        # Not answered: a moment for now, stretched to the next chapter below.
        end = _parse(q["answered_at"]) if q.get("answered_at") else start
        placed = _within(start, end, origin, until)
        if placed is None:
            continue
        found.append(
            Chapter(
                kind="question",
                start=placed[0],
                end=placed[1],
                title=q["text"],
                details={
                    "question_id": q["id"],
                    "text": q["text"],
                    "asker": q.get("asker"),
                    "stakeholder_group": q.get("stakeholder_group"),
                    "to": q.get("to"),
                    "answered": q.get("answered_at") is not None,
                },
            )
        )
    found.sort(key=lambda c: (c.start, c.kind))
    # A question without an answer time lasts until the next chapter starts (at least a second).
    settled = []
    for index, chapter in enumerate(found):
        if chapter.kind == "question" and chapter.end <= chapter.start:
            following = found[index + 1].start if index + 1 < len(found) else chapter.start + 60.0
            stretched = max(chapter.start + 1.0, following)
            chapter = Chapter(chapter.kind, chapter.start, stretched, chapter.title, chapter.details)
        settled.append(chapter)
    return settled


def chapters_vtt(items: list[Chapter], origin: datetime) -> str:
    """WebVTT chapters (kind="chapters"): one cue per chapter, its id the chapter's ("c1"...)."""
    out = ["WEBVTT", "", f"NOTE 00:00:00.000 is {iso(origin)}", ""]
    for index, chapter in enumerate(items):
        end = max(chapter.end, chapter.start + 0.001)
        out += [
            f"c{index + 1}",
            f"{_vtt_time(chapter.start)} --> {_vtt_time(end)}",
            _vtt_text(chapter.title),
            "",
        ]
    return "\n".join(out)


def chapters_json(items: list[Chapter], origin: datetime) -> str:
    return json.dumps(
        {"origin": iso(origin), "chapters": [c.public(i) for i, c in enumerate(items)]}, indent=2
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- Range requests ----------------------------------------------------------------------------------------

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last, both inclusive) a `Range` header asks for, None for the whole file.

    Several ranges, or a unit other than bytes, are served as the whole file (RFC 9110 lets a server ignore
    Range); a range that starts at or past the end is RangeNotSatisfiable.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"the file is {size} bytes long", details={"size": size})
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # not a valid range: ignored
    if first >= size:
        raise RangeNotSatisfiable(
            f"the range starts at byte {first}, the file is {size} bytes long", details={"size": size}
        )
    return first, min(last, size - 1)
