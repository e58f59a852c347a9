"""Interpretation booths: the interpreters of one language channel, which of them is on air, handovers.

A booth is a language channel. Every interpreter of it keeps publishing to the relay while in the booth;
exactly one is on air (the relay forwards that one's sound on the channel). Handover is two steps, as in a
real booth: the one on air offers, a partner takes; the switch happens in the relay between two packets. The
rules here know no transport and no media: the caller (server.media.booths) applies the outcome to the relay
and the record.
Time comes from the caller (a monotonic clock for rate limits, the store's clock for the record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import Conflict, Forbidden, NotFound
from .model import iso
from .queue import QueueState

# The six UN languages: each has a booth (the floor channel is the room's own sound, not a booth).
BOOTH_LANGUAGES = ("ar", "zh", "en", "fr", "ru", "es")
# What an interpreter's link may name besides the booths: the sign-language video channel (not a booth: one
# interpreter at a time, no handover).
SIGN = "sign"
LINK_GRANTS = (*BOOTH_LANGUAGES, SIGN)
# One "slow down" notice per booth in this many seconds: a reminder, not a stream.
SLOW_DOWN_SECONDS = 20.0


def check_booth(language: object) -> str:
    """A booth's language code, or a clear error."""
    if not isinstance(language, str) or language not in BOOTH_LANGUAGES:
        raise NotFound(
            f"there is no booth {language!r}: booths are {', '.join(BOOTH_LANGUAGES)}", code="unknown_booth"
        )
    return language


def check_link_grant(name: object) -> str:
    """One thing an interpreter's link may name: a booth, or the sign-language channel."""
    if name == SIGN:
        return SIGN
    return check_booth(name)


def check_signer(booths: frozenset[str] | None) -> None:
    """Refuse the sign-language channel to an interpreter whose link names booths but not "sign" (``None``:
    the session's own interpreter link, which names none and may publish everything)."""
    if booths is not None and SIGN not in booths:
        raise Forbidden(
            f"your link is for the {', '.join(sorted(booths - {SIGN}))} booth(s), "
            "not the sign-language channel",
            code="not_in_booth",
        )


def check_member(language: str, booths: frozenset[str] | None) -> None:
    """Refuse an interpreter whose link names other booths (``None``: a link for every booth)."""
    if booths is not None and language not in booths:
        raise Forbidden(
            f"your link is for the {', '.join(sorted(booths - {SIGN})) or 'no'} booth(s), not {language}",
            code="not_in_booth",
        )


@dataclass(frozen=True)
class Turn:
    """One interpreter on air in one booth, as recorded (``ended_at`` None: still on air)."""

    language: str
    participant_id: int | None
    name: str
    started_at: datetime
    ended_at: datetime | None
    began: str  # "on_air" (into a silent booth) or "handover"


@dataclass(frozen=True)
class Notice:
    """A booth's "slow down" notice, with the intervention it was about."""

    language: str
    participant_id: int | None
    entry_id: int | None
    at: datetime


def intervention_booths(
    interventions: list[tuple[int, datetime, datetime | None]],
    turns: list[Turn],
    notices: list[Notice],
    now: datetime,
) -> dict[int, dict[str, Any]]:
    """Per intervention (id, granted, ended): which booth was on air, who and from when to when within it,
    the handovers made during it, and its "slow down" notices by booth. Times only."""
    found: dict[int, dict[str, Any]] = {}
    for entry_id, start, end in interventions:
        stop = end or now
        booths: dict[str, dict[str, Any]] = {}
        for turn in turns:
            turn_end = turn.ended_at or now
            if turn.started_at >= stop or turn_end <= start:
                continue
            booth = booths.setdefault(turn.language, {"on_air": [], "handovers": 0, "slow_down": 0})
            booth["on_air"].append(
                {
                    "participant_id": turn.participant_id,
                    "name": turn.name,
                    "from": iso(max(turn.started_at, start)),
                    "to": iso(min(turn_end, stop)) if turn.ended_at or end else None,
                }
            )
            if turn.began == "handover" and start <= turn.started_at < stop:
                booth["handovers"] += 1
        slow_downs = 0
        for notice in notices:
            if notice.entry_id == entry_id:
                slow_downs += 1
                booth = booths.setdefault(notice.language, {"on_air": [], "handovers": 0, "slow_down": 0})
                booth["slow_down"] += 1
        found[entry_id] = {"booths": booths, "slow_down": slow_downs}
    return found


@dataclass
class Handover:
    """One change of who is on air in a booth (``previous`` None: the booth came on air)."""

    language: str
    previous: int | None
    current: int | None
    at: datetime


@dataclass
class Booth:
    """One booth's live state: who publishes, who is on air since when, a pending offer, cough keys."""

    language: str
    members: dict[int, str] = field(default_factory=dict)  # participant id -> display name, publishing now
    on_air: int | None = None
    since: datetime | None = None
    offered: bool = False
    # Who took the last offer: a second taker is told the handover went to someone else.
    taken_by: int | None = None
    coughing: set[int] = field(default_factory=set)
    last_slow_down: float | None = None

    @property
    def silenced(self) -> bool:
        """The one on air holds the cough key: the channel carries silence, and stays on air."""
        return self.on_air is not None and self.on_air in self.coughing

    def join(self, participant_id: int, name: str, now: datetime) -> Handover | None:
        """An interpreter started publishing: on air if the booth was silent, else standing by."""
        self.members[participant_id] = name
        if self.on_air is None:
            return self._switch(participant_id, now)
        return None

    def leave(self, participant_id: int, now: datetime) -> Handover | None:
        """An interpreter stopped publishing. The one on air leaving takes the booth off air: a partner takes
        it explicitly (their microphone may be open for something else)."""
        self.members.pop(participant_id, None)
        self.coughing.discard(participant_id)
        if self.on_air == participant_id:
            return self._switch(None, now)
        return None

    def offer(self, participant_id: int) -> None:
        if self.on_air != participant_id:
            raise Conflict("only the interpreter on air offers the handover", code="not_on_air")
        if len(self.members) < 2:
            raise Conflict("no partner is in the booth to take over", code="no_partner")
        self.offered = True
        self.taken_by = None

    def take(self, participant_id: int, now: datetime) -> Handover:
        """A partner takes the channel: offered by the one on air, or nobody is on air."""
        if participant_id not in self.members:
            raise Conflict("start your microphone in the booth before taking over", code="not_publishing")
        if self.on_air == participant_id:
            raise Conflict("you are on air already", code="already_on_air")
        if self.on_air is not None and not self.offered:
            if self.taken_by is not None:
                raise Conflict(
                    f"{self.members.get(self.taken_by, 'a partner')} took the handover first",
                    code="handover_taken",
                )
            raise Conflict("the interpreter on air has not offered the handover", code="no_offer")
        handover = self._switch(participant_id, now)
        self.taken_by = participant_id
        return handover

    def cough(self, participant_id: int, on: bool) -> None:
        if participant_id not in self.members:
            raise Conflict("your microphone is not in the booth", code="not_publishing")
        if on:
            self.coughing.add(participant_id)
        else:
            self.coughing.discard(participant_id)

    def slow_down(self, participant_id: int, now: float) -> None:
        """Check and note a "slow down" notice from a member, at most one per booth per SLOW_DOWN_SECONDS."""
        if participant_id not in self.members:
            raise Conflict("your microphone is not in the booth", code="not_publishing")
        if self.last_slow_down is not None and now - self.last_slow_down < SLOW_DOWN_SECONDS:
            wait = SLOW_DOWN_SECONDS - (now - self.last_slow_down)
            raise Conflict(
                f"the chair was told {SLOW_DOWN_SECONDS - wait:.0f} s ago: wait {wait:.0f} s",
                code="rate_limited",
                details={"retry_after": round(wait, 1)},
            )
        self.last_slow_down = now

    def _switch(self, participant_id: int | None, now: datetime) -> Handover:
        handover = Handover(self.language, self.on_air, participant_id, now)
        self.on_air = participant_id
        self.since = now if participant_id is not None else None
        self.offered = False
        return handover

    def public(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "on_air": self.on_air,
            "on_air_name": self.members.get(self.on_air) if self.on_air is not None else None,
            "since": iso(self.since) if self.since else None,
            "offered": self.offered,
            "silenced": self.silenced,
            "members": [{"participant_id": p, "name": n} for p, n in sorted(self.members.items())],
        }


def floor_view(
    speaking: tuple[str, str | None] | None, upcoming: list[tuple[str, str | None]]
) -> dict[str, Any]:
    """What booths are told when the floor changes: the floor's language, the next two speakers with theirs,
    and which booth stays off air (the one whose language is the floor's: its listeners hear the floor)."""
    language = speaking[1] if speaking else None
    return {
        "speaker": {"name": speaking[0], "language": language} if speaking else None,
        "language": language,
        "next": [{"name": name, "language": lang} for name, lang in upcoming[:2]],
        "stay_off_air": language if language in BOOTH_LANGUAGES else None,
    }


def floor_of(state: QueueState) -> dict[str, Any]:
    """The booths' view of a session's queue: who speaks now, and the next two in line, with languages."""
    speaking = state.speaking
    view = floor_view(
        (speaking.display_name, speaking.language) if speaking else None,
        [(entry.display_name, entry.language) for entry in state.queued[:2]],
    )
    return {"session_id": state.session.id, **view}
