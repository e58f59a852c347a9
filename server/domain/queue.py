"""The speakers' queue and the floor: one queue for remote hands and in-room requests.

What a request is, the order of the line (PRECEDENCE below), the limits on speaking time, the countdown
and the views. What each change does to the line (grant, end, the sweep...) is server.domain.floor_rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from .errors import Conflict, InvalidInput
from .model import SessionInfo, iso

MIN_SPEAKING_SECONDS = 15  # also the shortest a turn can be cut to by taking time away
MAX_SPEAKING_SECONDS = 3600
MAX_ADD_SECONDS = 600  # time added to (or taken from) a turn at once, either way
MAX_AUTO_END_GRACE_SECONDS = 600  # how long past its time a turn may run before it ends by itself
MAX_REASON = 300
UN_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")


class InterventionType(StrEnum):
    STATEMENT = "statement"
    QUESTION = "question"
    RIGHT_OF_REPLY = "right_of_reply"
    POINT_OF_ORDER = "point_of_order"

    @property
    def priority(self) -> int:
        """Lower goes first (PRECEDENCE); first come, first served within one priority."""
        return PRECEDENCE.get(self, ORDINARY)

    @property
    def outside_balance(self) -> bool:
        """Whether this request is taken on its urgency alone: the balance suggestion never weighs it."""
        return self in OUTSIDE_BALANCE


# The order of the line, in one place: points of order to the head, rights of reply right after them,
# everything else (ORDINARY) at the end. To put rights of reply before points of order, swap 0 and 1.
PRECEDENCE = {InterventionType.POINT_OF_ORDER: 0, InterventionType.RIGHT_OF_REPLY: 1}
ORDINARY = max(PRECEDENCE.values()) + 1
# Requests the balance suggestion does not weigh: one waiting at the head of the line is the suggestion.
OUTSIDE_BALANCE = frozenset({InterventionType.POINT_OF_ORDER})


class EntryState(StrEnum):
    QUEUED = "queued"
    SPEAKING = "speaking"
    DONE = "done"  # had the floor; end_reason says how it ended
    REMOVED = "removed"  # taken out of the queue by floor staff, with a reason
    WITHDRAWN = "withdrawn"  # the participant lowered their hand

    @property
    def active(self) -> bool:
        return self in (EntryState.QUEUED, EntryState.SPEAKING)


class EndReason(StrEnum):
    FINISHED = "finished"  # the speaker or floor staff ended the turn
    REVOKED = "revoked"  # floor staff took the floor back
    TIME_UP = "time_up"  # automatic end at limit + grace
    DISCONNECTED = "disconnected"  # the speaker stayed away longer than the reconnection grace
    REPLACED = "replaced"  # the floor was granted to someone else


@dataclass(frozen=True)
class Entry:
    """One request for the floor and, once granted, its intervention record."""

    id: int
    session_id: int
    participant_id: int | None  # None for an in-room request added by floor staff
    in_room: bool
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None
    gender: str | None  # only with consent
    age_band: str | None  # only with consent
    type: InterventionType
    language: str
    state: EntryState
    position: int
    requested_at: datetime
    granted_at: datetime | None = None
    ended_at: datetime | None = None
    limit_seconds: int | None = None  # override of the session default, set at grant time or before
    extra_seconds: int = 0  # time added while speaking
    end_reason: str | None = None
    removed_reason: str | None = None

    def deadline(self, default_seconds: int) -> datetime | None:
        if self.granted_at is None:
            return None
        return self.granted_at + timedelta(seconds=self.allowed_seconds(default_seconds))

    def allowed_seconds(self, default_seconds: int) -> int:
        """The turn's length: its limit (or the session's default) with the time added or taken away, never
        below MIN_SPEAKING_SECONDS, whatever was changed after time was taken away (a new limit, a new
        default)."""
        return max(MIN_SPEAKING_SECONDS, (self.limit_seconds or default_seconds) + self.extra_seconds)

    def spoken_seconds(self, now: datetime) -> float:
        if self.granted_at is None:
            return 0.0
        return max(0.0, ((self.ended_at or now) - self.granted_at).total_seconds())

    def overrun_seconds(self, default_seconds: int, now: datetime) -> float:
        deadline = self.deadline(default_seconds)
        if deadline is None:
            return 0.0
        return max(0.0, ((self.ended_at or now) - deadline).total_seconds())

    def public(self) -> dict[str, Any]:
        """What every participant may see of a queued or speaking person: never gender or age band."""
        return {
            "id": self.id,
            "participant_id": self.participant_id,
            "in_room": self.in_room,
            "display_name": self.display_name,
            "affiliation": self.affiliation,
            "stakeholder_group": self.stakeholder_group,
            "country": self.country,
            "type": self.type.value,
            "language": self.language,
            "state": self.state.value,
        }

    def staff(self, default_seconds: int, now: datetime) -> dict[str, Any]:
        """The moderator's view: timings and the record, still without personal demographics."""
        return {
            **self.public(),
            "position": self.position,
            "requested_at": iso(self.requested_at),
            "granted_at": iso(self.granted_at),
            "ended_at": iso(self.ended_at),
            "limit_seconds": self.limit_seconds,
            "allowed_seconds": self.allowed_seconds(default_seconds),
            "deadline": iso(self.deadline(default_seconds)),
            "spoken_seconds": round(self.spoken_seconds(now), 1),
            "overrun_seconds": round(self.overrun_seconds(default_seconds, now), 1),
            "end_reason": self.end_reason,
            "removed_reason": self.removed_reason,
        }


def check_type(value: object) -> InterventionType:
    """The kind of request, from what a client sent."""
    try:
        return InterventionType(value if isinstance(value, str) else "")
    except ValueError:
        allowed = ", ".join(t.value for t in InterventionType)
        raise InvalidInput(f"type must be one of: {allowed}", details={"field": "type"}) from None


def check_language(value: object, session_languages: tuple[str, ...]) -> str:
    """The language a request will be spoken in: one of the session's (the six UN languages by default)."""
    allowed = session_languages or UN_LANGUAGES
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(
            f"language must be one of this session's languages: {', '.join(allowed)}",
            details={"field": "language"},
        )
    return value


def check_seconds(value: object, field: str = "limit_seconds") -> int:
    """A speaking time: whole seconds from MIN_SPEAKING_SECONDS to MAX_SPEAKING_SECONDS."""
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not (MIN_SPEAKING_SECONDS <= value <= MAX_SPEAKING_SECONDS)
    ):
        raise InvalidInput(
            f"{field} must be a whole number of seconds "
            f"from {MIN_SPEAKING_SECONDS} to {MAX_SPEAKING_SECONDS}",
            details={"field": field},
        )
    return value


def check_add_seconds(value: int) -> int:
    """Time added to a turn (negative: taken away): at most MAX_ADD_SECONDS either way, never nothing."""
    if not (-MAX_ADD_SECONDS <= value <= MAX_ADD_SECONDS and value != 0):
        raise InvalidInput(
            f"add_seconds must be between -{MAX_ADD_SECONDS} and {MAX_ADD_SECONDS}, not 0",
            details={"field": "add_seconds"},
        )
    return value


def check_grace_seconds(value: int) -> int:
    """How long past its time a turn may run before it ends by itself: 0..MAX_AUTO_END_GRACE_SECONDS."""
    if not 0 <= value <= MAX_AUTO_END_GRACE_SECONDS:
        raise InvalidInput(
            f"auto_end_grace_seconds must be from 0 to {MAX_AUTO_END_GRACE_SECONDS}",
            details={"field": "auto_end_grace_seconds"},
        )
    return value


def insertion_index(queued: Sequence[Entry], kind: InterventionType) -> int:
    """Where a new request goes in the queued entries (ordered): FIFO within its priority (PRECEDENCE).

    With the default precedence, a point of order goes after earlier points of order and before everything
    else; a right of reply after points of order and earlier replies; anything else at the end.
    """
    if kind.priority >= ORDINARY:
        return len(queued)
    for index, entry in enumerate(queued):
        if entry.type.priority > kind.priority:
            return index
    return len(queued)


def move_index(queued: Sequence[Entry], entry_id: int, to: str | int) -> list[Entry]:
    """A new order with one entry moved up, down, to the top, to the bottom, or to an index."""
    ids = [e.id for e in queued]
    if entry_id not in ids:
        raise Conflict("that request is no longer in the queue", code="stale_entry")
    current = ids.index(entry_id)
    targets = {"up": current - 1, "down": current + 1, "top": 0, "bottom": len(ids) - 1}
    if isinstance(to, str):
        if to not in targets:
            raise InvalidInput("to must be up, down, top, bottom or a position", details={"field": "to"})
        target = targets[to]
    elif isinstance(to, int) and not isinstance(to, bool):
        target = to
    else:
        raise InvalidInput("to must be up, down, top, bottom or a position", details={"field": "to"})
    target = max(0, min(len(ids) - 1, target))
    order = list(queued)
    order.insert(target, order.pop(current))
    return order


def countdown(speaking: Entry | None, default_seconds: int, now: datetime) -> dict[str, Any] | None:
    """The timer every page shows: the deadline and the server's clock, so clients count by themselves."""
    if speaking is None or speaking.granted_at is None:
        return None
    deadline = speaking.deadline(default_seconds)
    assert deadline is not None
    remaining = (deadline - now).total_seconds()
    return {
        "granted_at": iso(speaking.granted_at),
        "deadline": iso(deadline),
        "allowed_seconds": speaking.allowed_seconds(default_seconds),
        "server_time": iso(now),
        "remaining_seconds": round(remaining, 1),
        # Amber in the last fifth of the time (at most 30 s), red once over.
        "phase": "over"
        if remaining < 0
        else "ending"
        if remaining <= min(30.0, 0.2 * speaking.allowed_seconds(default_seconds))
        else "speaking",
    }


@dataclass(frozen=True)
class QueueState:
    """A session's queue as one consistent read: version, settings, the active requests and the record of
    every granted turn (requests withdrawn or removed before a turn are not part of it)."""

    session: SessionInfo
    version: int
    auto_end_grace_seconds: int | None
    entries: tuple[Entry, ...]
    targets: dict[str, dict[str, float]] | None = None

    @property
    def queued(self) -> list[Entry]:
        return sorted(
            (e for e in self.entries if e.state is EntryState.QUEUED), key=lambda e: (e.position, e.id)
        )

    @property
    def speaking(self) -> Entry | None:
        return next((e for e in self.entries if e.state is EntryState.SPEAKING), None)

    def place_of(self, participant_id: int) -> tuple[Entry | None, int | None]:
        """A participant's active entry and, when queued, their place in line (1 = next)."""
        for index, entry in enumerate(self.queued, start=1):
            if entry.participant_id == participant_id:
                return entry, index
        speaking = self.speaking
        if speaking is not None and speaking.participant_id == participant_id:
            return speaking, None
        return None, None


def staff_view(
    state: QueueState,
    now: datetime,
    suggestion: dict[str, Any] | None,
    balance: dict[str, Any],
    targets: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """What floor staff see: the whole queue with timings, the floor, the record, balance and a suggestion."""
    default = state.session.default_speaking_seconds
    speaking = state.speaking
    record = [e for e in state.entries if e.granted_at is not None and e.state is EntryState.DONE]
    return {
        "session_id": state.session.id,
        "version": state.version,
        "queue": [e.staff(default, now) for e in state.queued],
        "speaking": speaking.staff(default, now) if speaking else None,
        "timer": countdown(speaking, default, now),
        "record": [e.staff(default, now) for e in sorted(record, key=lambda e: e.granted_at or now)][-50:],
        "balance": balance,
        "suggestion": suggestion,
        "settings": {
            "default_speaking_seconds": default,
            "auto_end": state.auto_end_grace_seconds is not None,
            "auto_end_grace_seconds": state.auto_end_grace_seconds,
            "targets": targets,
        },
        "server_time": iso(now),
    }


def public_view(state: QueueState, now: datetime) -> dict[str, Any]:
    """What everyone sees (attendees, room display): the speaker, the countdown, the next two, the length."""
    speaking = state.speaking
    queued = state.queued
    return {
        "session_id": state.session.id,
        "version": state.version,
        "speaking": speaking.public() if speaking else None,
        "timer": countdown(speaking, state.session.default_speaking_seconds, now),
        "next": [e.public() for e in queued[:2]],
        "length": len(queued),
        "server_time": iso(now),
    }


def line_view(state: QueueState) -> dict[str, Any]:
    """The line's order as entry ids, for those in it: each finds their own place there, so one message to
    everyone in line replaces one per queued person on every change. Everyone else has what they need (the
    length, the next two) in the public view, which stays small however long the line."""
    queued = state.queued
    return {
        "session_id": state.session.id,
        "version": state.version,
        "order": [e.id for e in queued],
        "length": len(queued),
    }


def in_line(state: QueueState) -> list[int]:
    """The participants waiting in line (in-room requests have none), in order."""
    return [e.participant_id for e in state.queued if e.participant_id is not None]


def mine_view(
    state: QueueState,
    participant_id: int,
    now: datetime,
    latest: Entry | None = None,
    statements: Mapping[int, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """One participant's own request: their place in line, or their turn at the floor.

    `latest` is their most recent request when the state does not hold it (withdrawn and removed requests
    are not part of a queue state); otherwise the newest of theirs in the state says how it ended.
    `statements` (request id -> the kind and name of its statement) says whether their active request came
    with a statement in advance; never its content.
    """
    entry, place = state.place_of(participant_id)
    last = None
    if entry is None:
        # Why the hand went down: withdrawn from another tab, removed with a reason, or the turn ended.
        ended = [e for e in state.entries if e.participant_id == participant_id]
        if latest is not None and latest.participant_id == participant_id:
            ended.append(latest)
        if ended:
            latest = max(ended, key=lambda e: e.id)
            last = {
                "id": latest.id,
                "state": latest.state.value,
                "removed_reason": latest.removed_reason,
                "end_reason": latest.end_reason,
            }
    return {
        "session_id": state.session.id,
        "version": state.version,
        "entry": entry.public() if entry else None,
        "place": place,
        "last": last,
        "length": len(state.queued),
        "timer": countdown(entry, state.session.default_speaking_seconds, now)
        if entry is not None and entry.state is EntryState.SPEAKING
        else None,
        "statement": (statements or {}).get(entry.id) if entry is not None else None,
    }
