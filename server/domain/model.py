"""Snapshots of durable state handed between the store, the domain and the adapters.

They are plain frozen dataclasses: nothing here talks to the database or the network.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import Forbidden
from .roles import Permission, Role, require
from .sessions import SessionState


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@dataclass(frozen=True)
class EventInfo:
    id: int
    slug: str
    title: str
    venue: str
    timezone: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "venue": self.venue,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class SessionInfo:
    id: int
    event_id: int
    ref: str
    title: str
    room: str
    starts_at: datetime
    ends_at: datetime
    languages: tuple[str, ...]
    state: SessionState
    state_changed_at: datetime | None
    default_speaking_seconds: int
    is_public: bool

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "ref": self.ref,
            "title": self.title,
            "room": self.room,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "languages": list(self.languages),
            "state": self.state.value,
            "state_changed_at": iso(self.state_changed_at),
            "default_speaking_seconds": self.default_speaking_seconds,
            "is_public": self.is_public,
        }


@dataclass(frozen=True)
class ParticipantInfo:
    id: int
    event_id: int
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None
    role: Role

    def public(self) -> dict[str, Any]:
        """What other participants may see: never gender or age band."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "affiliation": self.affiliation,
            "stakeholder_group": self.stakeholder_group,
            "country": self.country,
            "role": self.role.value,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: a participant acting under one role grant, checked on every action."""

    participant: ParticipantInfo
    grant_id: int
    role: Role
    event_id: int
    session_id: int | None  # None: the grant covers every session of the event

    def enter(self, session: SessionInfo) -> None:
        """Raise Forbidden unless this grant covers the session."""
        if session.event_id != self.event_id or (
            self.session_id is not None and self.session_id != session.id
        ):
            raise Forbidden("this link is for another session", code="wrong_session")

    def require(self, permission: Permission, session: SessionInfo | None = None) -> None:
        if session is not None:
            self.enter(session)
        require(self.role, permission)

    def public(self) -> dict[str, Any]:
        me = self.participant.public()
        me["role"] = self.role.value
        me["session_id"] = self.session_id
        me["grant_id"] = self.grant_id
        return me


def summarize(session_id: int, rows: list[tuple[str, str | None, int]]) -> dict[str, Any]:
    """The presence summary from (role, stakeholder group, people) counts, however they were computed."""
    by_role: Counter[str] = Counter()
    by_group: Counter[str] = Counter()
    for role, group, count in rows:
        by_role[role] += count
        if role == Role.ATTENDEE.value:
            by_group[group or "unspecified"] += count
    return {
        "session_id": session_id,
        "total": sum(by_role.values()),
        "by_role": dict(sorted(by_role.items())),
        "by_group": dict(sorted(by_group.items())),
    }


@dataclass(frozen=True)
class PresentPerson:
    participant: ParticipantInfo
    role: Role
    connections: int
    since: datetime


@dataclass(frozen=True)
class PresenceSnapshot:
    """Who is connected to a session, across every server process."""

    session_id: int
    people: tuple[PresentPerson, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, Any]:
        """Counts for everyone: total, by role and by stakeholder group (attendees only)."""
        counts = Counter((p.role.value, p.participant.stakeholder_group) for p in self.people)
        return summarize(self.session_id, [(role, group, n) for (role, group), n in counts.items()])

    def roster(self) -> list[dict[str, Any]]:
        """The full list, for staff: staff first, then attendees, each by name."""
        ordered = sorted(
            self.people,
            key=lambda p: (p.role is Role.ATTENDEE, p.role.value, p.participant.display_name.casefold()),
        )
        return [
            {
                **p.participant.public(),
                "role": p.role.value,
                "connections": p.connections,
                "since": iso(p.since),
            }
            for p in ordered
        ]
