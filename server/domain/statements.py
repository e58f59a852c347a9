"""Statements in advance (issue 21, item 5): the text a speaker sends with their request, for the booths and
the captioner. What a statement may be is decided here, from its bytes alone: the file's name and the type its
sender declares are never trusted (a PNG renamed .pdf is still a PNG).

A statement is a PDF (its header, an end-of-file marker, a cross-reference and at least one object) or plain
UTF-8 text (no NUL or other control bytes but tab, line and page breaks). It is the staff's reading: never
shown or served to attendees or the room display.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from .model import iso
from .ratelimit import WindowRule

# The default size limit (HEMICYCLE_STATEMENT_MAX_BYTES): a long statement as a PDF fits in a few MiB.
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
NAME_MAX_CHARS = 120
# Uploads one participant may send, every process together: a speaker fixing a typo sends a few; more is a
# loop or an attack on the database (each may be megabytes).
STATEMENT_UPLOADS = WindowRule(limit=10, seconds=60.0)

WRONG_TYPE = "statement_type"
MALFORMED = "statement_malformed"
TOO_LARGE = "statement_too_large"
UNKNOWN_REQUEST = "unknown_request"
NOT_YOURS = "not_yours"
NOT_IN_LINE = "not_in_line"
NO_STATEMENT = "no_statement"


class StatementKind(StrEnum):
    PDF = "pdf"
    TEXT = "text"

    @property
    def content_type(self) -> str:
        return "application/pdf" if self is StatementKind.PDF else "text/plain; charset=utf-8"

    @property
    def extension(self) -> str:
        return "pdf" if self is StatementKind.PDF else "txt"


_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
# Control characters plain text has no business holding (tab, LF, FF and CR are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\"<>:|?*]+')


def check_size(size: int | None, max_bytes: int) -> None:
    """Refuse a body announced (or read) over the limit, before more of it is read."""
    if size is not None and size > max_bytes:
        raise PayloadTooLarge(
            f"a statement may be at most {max_bytes} bytes; this one is {size}",
            code=TOO_LARGE,
            details={"max_bytes": max_bytes},
        )


def check_statement(data: bytes, max_bytes: int) -> StatementKind:
    """What the bytes are, PDF or text, or a refusal that says why (too large, wrong type, malformed)."""
    check_size(len(data), max_bytes)
    if not data.strip():
        raise InvalidInput("the statement is empty", code=MALFORMED)
    if data.startswith(b"%PDF-"):
        _check_pdf(data)
        return StatementKind.PDF
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedMediaType(
            "a statement is a PDF or plain text in UTF-8; this file is neither", code=WRONG_TYPE
        ) from None
    if _CONTROL.search(text):
        raise UnsupportedMediaType(
            "a statement is a PDF or plain text in UTF-8; this file holds binary data", code=WRONG_TYPE
        )
    return StatementKind.TEXT


def _check_pdf(data: bytes) -> None:
    """A PDF's structure, as far as a reader needs it to open: header, objects, xref, end marker."""
    if not _PDF_HEADER.match(data):
        raise InvalidInput("the PDF header is malformed (expected %PDF-1.x or %PDF-2.x)", code=MALFORMED)
    tail = data[-2048:]
    if b"%%EOF" not in tail:
        raise InvalidInput("the PDF is truncated: it has no %%EOF end marker", code=MALFORMED)
    if b"startxref" not in tail:
        raise InvalidInput("the PDF has no cross-reference (startxref)", code=MALFORMED)
    if not re.search(rb"\d+\s+\d+\s+obj\b", data):
        raise InvalidInput("the PDF holds no objects", code=MALFORMED)


def clean_name(name: object, kind: StatementKind) -> str:
    """A name to show and to offer when saving: the sender's, without path or unsafe characters, ending in
    the extension of what the file really is."""
    raw = name if isinstance(name, str) else ""
    base = _NAME_UNSAFE.sub(" ", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = " ".join(stem.split())[: NAME_MAX_CHARS - 4] or "statement"
    return f"{stem}.{kind.extension}"


@dataclass(frozen=True)
class Statement:
    """A stored statement's description (its bytes are read only when someone opens it)."""

    id: int
    session_id: int
    entry_id: int
    kind: StatementKind
    name: str
    size: int
    sha256: str
    uploaded_at: datetime
    uploaded_by_name: str
    uploaded_by_role: str
    speaker_name: str

    def public(self) -> dict[str, Any]:
        """What staff who may read statements see in a list or a notice."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "entry_id": self.entry_id,
            "kind": self.kind.value,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded_at": iso(self.uploaded_at),
            "uploaded_by": {"name": self.uploaded_by_name, "role": self.uploaded_by_role},
            "speaker": self.speaker_name,
        }
