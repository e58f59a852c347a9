"""The one rule for a record id that comes from outside: ASCII digits, from 1 to 2³¹ − 1.

Ids arrive in URL paths, query strings, headers and Socket.IO payloads. Checked once where they enter, a bad
one is an unknown thing or a bad field, never a database error: ``str.isdigit`` also accepts "²" and "①",
which ``int`` refuses, and PostgreSQL's integer columns stop at 2³¹ − 1 (SQLite's at 2⁶³ − 1).
"""

from __future__ import annotations

MAX_ID = 2**31 - 1
# "2147483647" has ten digits: a longer string is out of range before any conversion.
_MAX_DIGITS = len(str(MAX_ID))
_ASCII_DIGITS = frozenset("0123456789")


def parse_id(raw: str | None) -> int | None:
    """The id written in `raw`, or None when it is not one (empty, not ASCII digits, 0 or too large)."""
    if not raw or len(raw) > _MAX_DIGITS or not _ASCII_DIGITS.issuperset(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
