"""Live captions: what a caption line is, which languages it may be in, and how its text is cleaned.

A captioner types (or pastes from a captioning tool) finished lines; each one is stored as part of the
session transcript with the server's time and a sequence number, then shown to everyone in the session.
In-progress ("partial") lines are not part of the protocol: a screen reader would announce every keystroke,
and captioning tools hand over finished lines anyway.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import InvalidInput
from .model import iso
from .queue import UN_LANGUAGES

# The floor (what is said in the room, in whatever language) and each interpretation channel: the same
# channels as the media relay's.
FLOOR = "floor"
CAPTION_LANGUAGES: tuple[str, ...] = (FLOOR, *UN_LANGUAGES)
LANGUAGE_NAMES: dict[str, str] = {
    FLOOR: "Floor",
    "ar": "Arabic",
    "zh": "Chinese",
    "en": "English",
    "fr": "French",
    "ru": "Russian",
    "es": "Spanish",
}
CAPTION_MAX_CHARS = 500
# What a late joiner or a reloaded page gets of each language's recent lines.
RECENT_LINES = 20
# A captioner's lines, per participant across their tabs: a pasted block of 30 lines goes through at once,
# then three lines a second, far above any human or steno rate.
CAPTION_WRITES_PER_SECOND = 3.0
CAPTION_WRITES_BURST = 30

# Bidirectional overrides and isolates could make a caption display as something else; they are dropped.
_SPOOFING = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def clean_caption(value: object, max_length: int = CAPTION_MAX_CHARS) -> str:
    """One line of plain text: NFC, control and spoofing characters dropped, white space (line breaks
    included) folded into single spaces; 1..max_length characters left, else InvalidInput.

    Control characters are dropped rather than refused: captioning tools paste stray ones (form feeds,
    escape sequences' remains) that nobody chose to type.
    """
    if not isinstance(value, str):
        raise InvalidInput("text must be text", details={"field": "text"})
    normalized = unicodedata.normalize("NFC", value)
    kept = "".join(
        " " if char.isspace() else char
        for char in normalized
        if char.isspace()
        or (unicodedata.category(char) not in ("Cc", "Cs", "Co", "Cn") and char not in _SPOOFING)
    )
    text = " ".join(kept.split())
    if not text:
        raise InvalidInput("text is empty", details={"field": "text"})
    if len(text) > max_length:
        raise InvalidInput(
            f"text is longer than {max_length} characters ({len(text)})", details={"field": "text"}
        )
    return text


def check_language(value: object, session_languages: tuple[str, ...]) -> str:
    """The floor, or one of the session's languages (any UN language when the session lists none)."""
    allowed = (FLOOR, *(session_languages or UN_LANGUAGES))
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"language must be one of: {', '.join(allowed)}", details={"field": "language"})
    return value


@dataclass(frozen=True)
class CaptionLine:
    """One stored line of the transcript. `seq` counts the session's lines, every language together."""

    id: int
    session_id: int
    seq: int
    language: str
    text: str
    at: datetime
    captioner_id: int | None
    captioner_name: str

    def public(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "seq": self.seq,
            "language": self.language,
            "text": self.text,
            "at": iso(self.at),
            "by": {"id": self.captioner_id, "name": self.captioner_name},
        }


def counts(lines: list[CaptionLine]) -> dict[str, int]:
    """Lines per language, in the channels' order, only languages that have any."""
    found = {language: 0 for language in CAPTION_LANGUAGES}
    for line in lines:
        found[line.language] = found.get(line.language, 0) + 1
    return {language: n for language, n in found.items() if n}


# -- the transcript as files -----------------------------------------------------------------------------

# How long a cue stays on screen in WebVTT when the next line of its language comes later, or never.
CUE_MIN_SECONDS = 1.0
CUE_MAX_SECONDS = 6.0


def to_text(lines: list[CaptionLine]) -> str:
    """Plain text, one line per caption: `[HH:MM:SS] (language) text`, times in UTC."""
    return "".join(f"[{line.at.strftime('%H:%M:%S')}] ({line.language}) {line.text}\n" for line in lines)


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _vtt_text(text: str) -> str:
    """Cue text is a small markup language: &, < and > are written as entities (which also rules out -->)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(lines: list[CaptionLine], start: datetime | None = None) -> str:
    """WebVTT for one language: times from `start` (the first line's time by default), each cue shown until
    the next line or for at most CUE_MAX_SECONDS. A NOTE gives the UTC time that 00:00:00.000 stands for."""
    if len({line.language for line in lines}) > 1:
        raise ValueError("a WebVTT file holds one language")
    origin = start or (lines[0].at if lines else None)
    out = ["WEBVTT", ""]
    if origin is not None:
        out += [f"NOTE 00:00:00.000 is {iso(origin)}", ""]
    for index, line in enumerate(lines):
        assert origin is not None
        begin = max(0.0, (line.at - origin).total_seconds())
        following = lines[index + 1].at if index + 1 < len(lines) else None
        shown = CUE_MAX_SECONDS
        if following is not None:
            shown = min(CUE_MAX_SECONDS, max(CUE_MIN_SECONDS, (following - line.at).total_seconds()))
        out += [str(line.seq), f"{_vtt_time(begin)} --> {_vtt_time(begin + shown)}", _vtt_text(line.text), ""]
    return "\n".join(out)
