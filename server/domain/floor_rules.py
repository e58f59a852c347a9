"""The queue's and the floor's rules as one transition: `apply(line, command, now) -> (line, outcome)`.

`Line` is what a change reads (the settings, the queued requests in order, the speaker); a command is one
thing someone asks of the queue; `Outcome` is what the store must write (the new request, the changed fields
of existing ones, the settings, the audit notes) and what follows (who to tell, whether the floor changed
hands). A refused command raises before anything is decided, so it changes nothing. The order of the line
is server.domain.queue's PRECEDENCE; everything else a change does is here: who may end a turn, a grant
replacing the speaker, the shortest turn, the settings, and which turns the sweep ends.

Nothing here reads a clock or a database: the store loads the line, calls `apply` inside its versioned
transaction and writes the outcome; server.floor checks the caller and notifies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar

from .balance import parse_targets
from .errors import Conflict, InvalidInput
from .participants import (
    AFFILIATION_MAX,
    NAME_MAX,
    AgeBand,
    Gender,
    StakeholderGroup,
    clean_country,
    clean_name,
    clean_text,
)
from .queue import (
    MAX_REASON,
    MIN_SPEAKING_SECONDS,
    EndReason,
    Entry,
    EntryState,
    InterventionType,
    check_add_seconds,
    check_grace_seconds,
    check_seconds,
    insertion_index,
    move_index,
)
from .roles import Permission, Role, require
from .sessions import SessionState

NEW_ENTRY = 0  # the id of a request `apply` adds, until the store has given it its own


@dataclass(frozen=True)
class FloorSettings:
    """A session's floor settings: the default turn, the automatic end (None: off) and the balance targets."""

    default_speaking_seconds: int
    auto_end_grace_seconds: int | None
    targets: dict[str, dict[str, float]] | None = None


@dataclass(frozen=True)
class Line:
    """What a change to one session's queue reads: its settings, the queued requests in order, the speaker."""

    session_id: int
    settings: FloorSettings
    queued: tuple[Entry, ...] = ()
    speaking: Entry | None = None

    @property
    def active(self) -> tuple[Entry, ...]:
        """The queued requests, then the speaker's."""
        return (*self.queued, *((self.speaking,) if self.speaking else ()))

    def queued_entry(self, entry_id: int) -> Entry | None:
        return next((e for e in self.queued if e.id == entry_id), None)

    def find(self, entry_id: int) -> Entry:
        """A queued or speaking entry, or the conflict a client with an old view gets."""
        for entry in self.active:
            if entry.id == entry_id:
                return entry
        raise Conflict(
            "that request is no longer in the queue (it was granted, removed or withdrawn)",
            code="stale_entry",
        )

    def with_id(self, placeholder: int, entry_id: int) -> Line:
        """The same line with the new request's placeholder id replaced by the id the store gave it."""
        return replace(
            self, queued=tuple(replace(e, id=entry_id) if e.id == placeholder else e for e in self.queued)
        )


@dataclass(frozen=True)
class Caller:
    """Who asks for a change (only what the rules look at): None in a command means the server itself."""

    participant_id: int
    role: Role


@dataclass(frozen=True)
class Requester:
    """Who a new request is for, as recorded with it: a registered participant, or someone in the room."""

    participant_id: int | None
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None
    gender: str | None = None
    age_band: str | None = None
    added_by: int | None = None  # the staff member who added an in-room request

    @property
    def in_room(self) -> bool:
        return self.participant_id is None

    @classmethod
    def registered(
        cls,
        participant_id: int,
        display_name: str,
        affiliation: str,
        stakeholder_group: str | None,
        country: str | None,
        gender: str | None,
        age_band: str | None,
        consent_demographics: bool,
    ) -> Requester:
        """A participant raising their hand: gender and age band are kept only with their consent."""
        return cls(
            participant_id,
            display_name,
            affiliation,
            stakeholder_group,
            country,
            gender if consent_demographics else None,
            age_band if consent_demographics else None,
        )

    @classmethod
    def in_the_room(cls, body: Mapping[str, Any], added_by: int) -> Requester:
        """Someone in the room, as floor staff describe them; refuses unknown values and demographics given
        without the person's consent."""
        display_name = clean_name(body.get("display_name"), "display_name", max_length=NAME_MAX)
        affiliation = clean_name(
            body.get("affiliation"), "affiliation", max_length=AFFILIATION_MAX, required=False
        )
        group = _choice(StakeholderGroup, body.get("stakeholder_group"), "stakeholder_group")
        country = None if body.get("country") in (None, "") else clean_country(body.get("country"))
        gender = _choice(Gender, body.get("gender"), "gender", optional=True)
        age_band = _choice(AgeBand, body.get("age_band"), "age_band", optional=True)
        if not body.get("consent_demographics") and (gender or age_band):
            raise InvalidInput(
                "gender and age band are kept only with the person's consent",
                details={"field": "consent_demographics"},
            )
        return cls(None, display_name, affiliation, group, country, gender, age_band, added_by)


def clean_reason(value: object, required: bool = False) -> str:
    """Why floor staff removed or lowered hands: plain text of at most MAX_REASON characters."""
    return clean_text(value, "reason", max_length=MAX_REASON, required=required)


def _choice(kind: Any, value: object, field: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    allowed = [member.value for member in kind]
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of: {', '.join(allowed)}", details={"field": field})
    return str(value)


# -- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One thing asked of a session's queue. `permission` is what the caller's role needs for it, and
    `check_session` what the session's state must allow; both are checked before the change is queued."""

    permission: ClassVar[Permission] = Permission.QUEUE_MANAGE

    @classmethod
    def check_session(cls, state: SessionState) -> None:
        """Nothing changes in the queue of a session that has ended."""
        if state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")


@dataclass(frozen=True)
class RaiseHand(Command):
    """A participant asks for the floor; raising again while in line or speaking changes nothing."""

    permission: ClassVar[Permission] = Permission.QUEUE_RAISE
    requester: Requester
    kind: InterventionType
    language: str


@dataclass(frozen=True)
class LowerHand(Command):
    """A participant takes their own request back."""

    permission: ClassVar[Permission] = Permission.QUEUE_RAISE
    participant_id: int


@dataclass(frozen=True)
class AddInRoom(Command):
    """Floor staff queue someone who asked in the room."""

    requester: Requester
    kind: InterventionType
    language: str


@dataclass(frozen=True)
class Move(Command):
    """Floor staff move a queued request up, down, to the top, to the bottom or to a place (0 = first)."""

    entry_id: int
    to: str | int


@dataclass(frozen=True)
class Remove(Command):
    """Floor staff take one request out of the line, with a reason."""

    entry_id: int
    reason: str


@dataclass(frozen=True)
class LowerAll(Command):
    """Floor staff empty the line, with a reason."""

    reason: str


@dataclass(frozen=True)
class Grant(Command):
    """Floor staff give the floor to a queued request, optionally with its own time limit."""

    entry_id: int
    limit_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.limit_seconds is not None:
            check_seconds(self.limit_seconds)

    @classmethod
    def check_session(cls, state: SessionState) -> None:
        """The floor is given only while the session is live."""
        super().check_session(state)
        if state is not SessionState.LIVE:
            raise Conflict("the floor can be given only while the session is live", code="session_not_live")


@dataclass(frozen=True)
class End(Command):
    """A turn ends: by floor staff (finished or revoked), by the speaker (always finished), or by the server
    (by=None: time up, or the speaker stayed away). Who may end it is decided against the speaker as they
    are when the change applies, so `permission` is only that of seeing the session."""

    permission: ClassVar[Permission] = Permission.SESSION_VIEW
    by: Caller | None
    entry_id: int
    reason: EndReason

    @classmethod
    def check_session(cls, state: SessionState) -> None:
        """A turn can end whatever the session's state."""


@dataclass(frozen=True)
class SetTime(Command):
    """Floor staff set a request's time limit, or add time to (or take it from) the turn being spoken."""

    entry_id: int
    limit_seconds: int | None = None
    add_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.limit_seconds is None and self.add_seconds is None:
            raise InvalidInput("send limit_seconds or add_seconds", details={"field": "limit_seconds"})
        if self.add_seconds is not None:
            check_add_seconds(self.add_seconds)
        if self.limit_seconds is not None:
            check_seconds(self.limit_seconds)


@dataclass(frozen=True)
class ChangeSettings(Command):
    """Floor staff change the default turn, the automatic end or the balance targets (None: unchanged)."""

    default_speaking_seconds: int | None = None
    auto_end_grace_seconds: int | None = None
    clear_auto_end: bool = False
    targets: dict[str, dict[str, float]] | None = None

    @classmethod
    def checked(
        cls,
        default_speaking_seconds: int | None,
        auto_end_grace_seconds: int | None,
        auto_end: bool | None,
        targets: object = None,
    ) -> ChangeSettings:
        """From what floor staff sent: auto_end true with no grace means no grace at all; false turns the
        automatic end off."""
        if default_speaking_seconds is not None:
            check_seconds(default_speaking_seconds, "default_speaking_seconds")
        if auto_end_grace_seconds is not None:
            check_grace_seconds(auto_end_grace_seconds)
        if auto_end is True and auto_end_grace_seconds is None:
            auto_end_grace_seconds = 0
        return cls(
            default_speaking_seconds,
            auto_end_grace_seconds,
            auto_end is False,
            parse_targets(targets).shares if targets is not None else None,
        )


# -- what a change does --------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """Fields of one stored request to change. `stored` holds values the rules keep apart from an Entry
    (the sweep's mark of a speaker's absence)."""

    entry_id: int
    values: Mapping[str, Any]
    stored: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditNote:
    """One line of the audit log a change leaves: its action, details, and the request it is about (None:
    the session's queue as a whole; NEW_ENTRY: the request the change adds)."""

    action: str
    details: dict[str, Any]
    entry_id: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What a command decided. `entries` are what it acted on, in its own order (a grant: the new speaker,
    then the one replaced, if any; lowering all hands: those lowered). `changes_nothing` is true for a
    command that stands as it is (raising a hand already raised): the store then writes nothing at all."""

    entries: tuple[Entry, ...] = ()
    added: Entry | None = None  # a new request, id NEW_ENTRY until stored
    added_by: int | None = None  # the staff member who added it, for an in-room request
    writes: tuple[Write, ...] = ()
    settings: FloorSettings | None = None
    audit: tuple[AuditNote, ...] = ()
    told: frozenset[int] = frozenset()  # participants whose own view of the queue changed
    floor_changed: bool = False
    speaker: int | None = None  # the participant holding the floor after the change, if it changed hands
    changes_nothing: bool = False

    @property
    def entry(self) -> Entry:
        """The entry the command was about (the first)."""
        return self.entries[0]

    def with_id(self, placeholder: int, entry_id: int) -> Outcome:
        """The same outcome with the new request's placeholder id replaced by the id the store gave it."""

        def real(entry: Entry) -> Entry:
            return replace(entry, id=entry_id) if entry.id == placeholder else entry

        return replace(
            self,
            entries=tuple(real(e) for e in self.entries),
            added=real(self.added) if self.added is not None else None,
            audit=tuple(
                replace(note, entry_id=entry_id) if note.entry_id == placeholder else note
                for note in self.audit
            ),
        )


def _told(*entries: Entry | None) -> frozenset[int]:
    return frozenset(e.participant_id for e in entries if e is not None and e.participant_id is not None)


def _set(entry: Entry, stored: Mapping[str, Any] | None = None, **values: Any) -> tuple[Entry, Write]:
    return replace(entry, **values), Write(entry.id, values, stored or {})


def _renumber(order: list[Entry]) -> tuple[tuple[Entry, ...], tuple[Write, ...]]:
    """Places 1..n in this order; a write for each entry whose place changes."""
    numbered: list[Entry] = []
    writes: list[Write] = []
    for place, entry in enumerate(order, start=1):
        if entry.position != place:
            entry, write = _set(entry, position=place)
            writes.append(write)
        numbered.append(entry)
    return tuple(numbered), tuple(writes)


def _add(
    line: Line, requester: Requester, kind: InterventionType, language: str, now: datetime
) -> tuple[Line, Entry, tuple[Write, ...]]:
    """A new request where the order puts it: at the end, after the last place (places may have gaps),
    or in the middle, and then the line is numbered again."""
    new = Entry(
        id=NEW_ENTRY,
        session_id=line.session_id,
        participant_id=requester.participant_id,
        in_room=requester.in_room,
        display_name=requester.display_name,
        affiliation=requester.affiliation,
        stakeholder_group=requester.stakeholder_group,
        country=requester.country,
        gender=requester.gender,
        age_band=requester.age_band,
        type=kind,
        language=language,
        state=EntryState.QUEUED,
        position=(line.queued[-1].position if line.queued else 0) + 1,
        requested_at=now,
    )
    index = insertion_index(line.queued, kind)
    if index == len(line.queued):
        return replace(line, queued=(*line.queued, new)), new, ()
    order = list(line.queued)
    order.insert(index, new)
    queued, writes = _renumber(order)
    # The new request is stored with its place: no write of its own.
    return replace(line, queued=queued), queued[index], tuple(w for w in writes if w.entry_id != NEW_ENTRY)


def _end_turn(entry: Entry, reason: EndReason, now: datetime) -> tuple[Entry, Write]:
    # An ended turn forgets any absence the sweep had marked.
    return _set(entry, {"absent_since": None}, state=EntryState.DONE, ended_at=now, end_reason=reason.value)


def apply(line: Line, command: Command, now: datetime) -> tuple[Line, Outcome]:
    """The line after the command, and what the store must write and who must be told.

    Raises a HemicycleError (and decides nothing) when the command is refused.
    """
    match command:
        case RaiseHand():
            return _raise_hand(line, command, now)
        case LowerHand():
            return _lower_hand(line, command, now)
        case AddInRoom():
            return _add_in_room(line, command, now)
        case Move():
            return _move(line, command)
        case Remove():
            return _remove(line, command, now)
        case LowerAll():
            return _lower_all(line, command, now)
        case Grant():
            return _grant(line, command, now)
        case End():
            return _end(line, command, now)
        case SetTime():
            return _set_time(line, command)
        case ChangeSettings():
            return _change_settings(line, command)
    raise TypeError(f"not a queue command: {command!r}")


def _raise_hand(line: Line, command: RaiseHand, now: datetime) -> tuple[Line, Outcome]:
    existing = next((e for e in line.active if e.participant_id == command.requester.participant_id), None)
    if existing is not None:
        return line, Outcome((existing,), told=_told(existing), changes_nothing=True)
    line, entry, writes = _add(line, command.requester, command.kind, command.language, now)
    return line, Outcome(
        (entry,), added=entry, writes=writes, told=_told(entry), added_by=command.requester.added_by
    )


def _lower_hand(line: Line, command: LowerHand, now: datetime) -> tuple[Line, Outcome]:
    entry = next((e for e in line.queued if e.participant_id == command.participant_id), None)
    if entry is None:
        if line.speaking is not None and line.speaking.participant_id == command.participant_id:
            raise Conflict("you have the floor: end your turn instead", code="has_floor")
        raise Conflict("your hand is not raised", code="not_queued")
    lowered, write = _set(entry, state=EntryState.WITHDRAWN, ended_at=now)
    line = replace(line, queued=tuple(e for e in line.queued if e.id != entry.id))
    return line, Outcome((lowered,), writes=(write,), told=_told(lowered))


def _add_in_room(line: Line, command: AddInRoom, now: datetime) -> tuple[Line, Outcome]:
    line, entry, writes = _add(line, command.requester, command.kind, command.language, now)
    note = AuditNote("queue.add_in_room", {"name": entry.display_name, "type": command.kind.value}, NEW_ENTRY)
    return line, Outcome(
        (entry,), added=entry, writes=writes, audit=(note,), added_by=command.requester.added_by
    )


def _move(line: Line, command: Move) -> tuple[Line, Outcome]:
    if line.queued_entry(command.entry_id) is None:
        line.find(command.entry_id)  # raises stale_entry, or finds the speaker
        raise Conflict("the person holding the floor is not in the queue", code="stale_entry")
    before = [e.id for e in line.queued].index(command.entry_id) + 1
    queued, writes = _renumber(move_index(line.queued, command.entry_id, command.to))
    moved = next(e for e in queued if e.id == command.entry_id)
    note = AuditNote("queue.move", {"from": before, "to": moved.position}, command.entry_id)
    return replace(line, queued=queued), Outcome((moved,), writes=writes, audit=(note,))


def _remove(line: Line, command: Remove, now: datetime) -> tuple[Line, Outcome]:
    entry = line.find(command.entry_id)
    if entry.state is not EntryState.QUEUED:
        raise Conflict("that person holds the floor: revoke it instead", code="has_floor")
    removed, write = _set(entry, state=EntryState.REMOVED, removed_reason=command.reason, ended_at=now)
    note = AuditNote("queue.remove", {"name": entry.display_name, "reason": command.reason}, command.entry_id)
    line = replace(line, queued=tuple(e for e in line.queued if e.id != command.entry_id))
    return line, Outcome((removed,), writes=(write,), audit=(note,), told=_told(removed))


def _lower_all(line: Line, command: LowerAll, now: datetime) -> tuple[Line, Outcome]:
    changed = [
        _set(e, state=EntryState.REMOVED, removed_reason=command.reason, ended_at=now) for e in line.queued
    ]
    lowered = tuple(entry for entry, _ in changed)
    note = AuditNote("queue.lower_all", {"count": len(lowered), "reason": command.reason})
    outcome = Outcome(lowered, writes=tuple(w for _, w in changed), audit=(note,), told=_told(*lowered))
    return replace(line, queued=()), outcome


def _grant(line: Line, command: Grant, now: datetime) -> tuple[Line, Outcome]:
    entry = line.queued_entry(command.entry_id)
    if entry is None:
        if line.speaking is not None and line.speaking.id == command.entry_id:
            raise Conflict("that person already holds the floor", code="no_change")
        raise Conflict(
            "that request is no longer in the queue (granted, removed or withdrawn)", code="stale_entry"
        )
    writes: list[Write] = []
    previous: Entry | None = None
    if line.speaking is not None:
        # Ended first: at most one speaker per session, also in the database's own index.
        previous, ending = _end_turn(line.speaking, EndReason.REPLACED, now)
        writes.append(ending)
    values: dict[str, Any] = {"state": EntryState.SPEAKING, "granted_at": now}
    if command.limit_seconds is not None:
        values["limit_seconds"] = command.limit_seconds
    granted, write = _set(entry, **values)
    writes.append(write)
    note = AuditNote(
        "floor.grant",
        {
            "name": granted.display_name,
            "limit_seconds": granted.limit_seconds or line.settings.default_speaking_seconds,
        },
        command.entry_id,
    )
    line = replace(line, queued=tuple(e for e in line.queued if e.id != command.entry_id), speaking=granted)
    return line, Outcome(
        (granted, *((previous,) if previous else ())),
        writes=tuple(writes),
        audit=(note,),
        told=_told(granted, previous),
        floor_changed=True,
        speaker=granted.participant_id,
    )


def _end(line: Line, command: End, now: datetime) -> tuple[Line, Outcome]:
    by, speaking = command.by, line.speaking
    own = (
        by is not None
        and speaking is not None
        and speaking.id == command.entry_id
        and speaking.participant_id == by.participant_id
    )
    if by is not None and not own:
        require(by.role, Permission.QUEUE_MANAGE)
    if speaking is None or speaking.id != command.entry_id:
        raise Conflict("that person does not hold the floor any more", code="stale_entry")
    why = EndReason.FINISHED if own else command.reason  # a speaker can only finish their own turn
    ended, write = _end_turn(speaking, why, now)
    audit: tuple[AuditNote, ...] = ()
    if by is None or by.role.is_staff:
        action = f"floor.{'revoke' if why is EndReason.REVOKED else 'end'}"
        audit = (AuditNote(action, {"name": ended.display_name, "reason": why.value}, command.entry_id),)
    outcome = Outcome((ended,), writes=(write,), audit=audit, told=_told(ended), floor_changed=True)
    return replace(line, speaking=None), outcome


def _set_time(line: Line, command: SetTime) -> tuple[Line, Outcome]:
    entry = line.find(command.entry_id)
    values: dict[str, Any] = {}
    if command.limit_seconds is not None:
        values["limit_seconds"] = command.limit_seconds
    if command.add_seconds is not None:
        if entry.state is not EntryState.SPEAKING:
            raise Conflict("time can be added only while someone speaks", code="not_speaking")
        # Never below the shortest turn the rules allow.
        limit = values.get("limit_seconds", entry.limit_seconds) or line.settings.default_speaking_seconds
        values["extra_seconds"] = max(MIN_SPEAKING_SECONDS - limit, entry.extra_seconds + command.add_seconds)
    changed, write = _set(entry, **values)
    if changed.state is EntryState.SPEAKING:
        line = replace(line, speaking=changed)
    else:
        line = replace(line, queued=tuple(changed if e.id == changed.id else e for e in line.queued))
    note = AuditNote(
        "floor.set_time",
        {"limit_seconds": changed.limit_seconds, "extra_seconds": changed.extra_seconds},
        command.entry_id,
    )
    return line, Outcome((changed,), writes=(write,), audit=(note,), told=_told(changed))


def _change_settings(line: Line, command: ChangeSettings) -> tuple[Line, Outcome]:
    old = line.settings
    grace = old.auto_end_grace_seconds
    if command.clear_auto_end:
        grace = None
    elif command.auto_end_grace_seconds is not None:
        grace = command.auto_end_grace_seconds
    settings = FloorSettings(
        command.default_speaking_seconds or old.default_speaking_seconds,
        grace,
        command.targets if command.targets is not None else old.targets,
    )
    note = AuditNote(
        "queue.settings",
        {
            "default_speaking_seconds": settings.default_speaking_seconds,
            "auto_end_grace_seconds": settings.auto_end_grace_seconds,
            "targets": settings.targets,
        },
    )
    return replace(line, settings=settings), Outcome(settings=settings, audit=(note,))


# -- the sweep -----------------------------------------------------------------------------------


class Presence(StrEnum):
    """What the sweep does about a remote speaker's connection."""

    SAME = "same"  # nothing to record
    GONE = "gone"  # mark the speaker absent from now
    BACK = "back"  # they came back: clear the mark
    END = "end"  # away longer than the grace period: the turn ends as disconnected


def past_auto_end(speaking: Entry, settings: FloorSettings, now: datetime) -> bool:
    """Whether a turn has run past its time plus the automatic end's grace (never, with no automatic end)."""
    deadline = speaking.deadline(settings.default_speaking_seconds)
    grace = settings.auto_end_grace_seconds
    return grace is not None and deadline is not None and now > deadline + timedelta(seconds=grace)


def watched_presence(speaking: Entry) -> bool:
    """Whether the sweep watches a speaker's connection: not for someone speaking in the room."""
    return not speaking.in_room and speaking.participant_id is not None


def presence(connected: bool, absent_since: datetime | None, now: datetime, grace: timedelta) -> Presence:
    """What follows from a speaker's connection now and since when they have been away (if they were)."""
    if connected:
        return Presence.BACK if absent_since is not None else Presence.SAME
    if absent_since is None:
        return Presence.GONE
    return Presence.END if now - absent_since > grace else Presence.SAME
