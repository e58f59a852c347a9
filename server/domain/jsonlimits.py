"""How deep JSON from outside may nest, checked on the text before it is parsed.

Python's parser recurses once per level: a body or a Socket.IO frame of 30,000 opening brackets (60 KB, under
the size limit) raises RecursionError instead of a decoding error. No Hemicycle message nests more than a few
levels, so a small bound refuses such text before any parser sees it.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 32

# A whole string (skipped as one match, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON `text` nests arrays and objects more than `limit` levels deep."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the usual case, answered without a scan
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False
