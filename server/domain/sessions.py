"""Session life cycle: scheduled -> live -> ended, with a reopen for a session ended by mistake."""

from __future__ import annotations

from enum import StrEnum

from .errors import Conflict


class SessionState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.SCHEDULED: frozenset({SessionState.LIVE, SessionState.ENDED}),
    SessionState.LIVE: frozenset({SessionState.ENDED}),
    SessionState.ENDED: frozenset({SessionState.LIVE}),
}


def check_transition(current: SessionState, target: SessionState) -> None:
    """Raise Conflict unless a session in `current` may move to `target`."""
    if target is current:
        raise Conflict(f"the session is already {current.value}", code="no_change")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        raise Conflict(
            f"a {current.value} session cannot become {target.value} (allowed: {allowed})",
            code="invalid_transition",
        )
