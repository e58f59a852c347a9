"""Rules for moderating participants: the waiting room, admission rules, who may be removed or banned.

Pure: no database, no transport. The store applies these rules inside its transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import Conflict, Forbidden, InvalidInput
from .participants import AFFILIATION_MAX, StakeholderGroup, clean_text
from .roles import Role

REASON_MAX = 300
MAX_RULE_AFFILIATIONS = 50
BROWSER_ID_MAX = 64


class WaitingRoom(StrEnum):
    """Which sessions have a waiting room when a session has no setting of its own."""

    PUBLIC = "public"  # public sessions, as meeting services of UN Geneva do
    ALL = "all"
    OFF = "off"


class Admission(StrEnum):
    """Where a participant stands in one session."""

    WAITING = "waiting"  # connected (or was) and waits for a moderator
    LEFT = "left"  # was waiting, then closed every connection before a decision
    ADMITTED = "admitted"  # goes straight in, now and on every reconnection
    REMOVED = "removed"  # put out by a moderator; a new connection waits again


def admission_refusal(state: str | None) -> Forbidden | None:
    """Why an attendee with this admission (None: no decision recorded) may not write, or None if they may."""
    if state is not None and state != Admission.ADMITTED.value:
        return Forbidden("you are not admitted to this session", code="not_admitted")
    return None


def entry_refusal(state: str | None, must_wait: bool) -> Forbidden | None:
    """Why an attendee may not start media in a session (None: they may), from their admission (None: no
    decision recorded) and whether someone without one would meet the waiting room there.

    The same rule as a Socket.IO connection's: no media from the waiting room, nor after a removal; media
    never puts anyone in the waiting room itself (only a connection does), so it refuses instead.
    """
    if state == Admission.ADMITTED.value:
        return None
    if state in (Admission.WAITING.value, Admission.LEFT.value) or (state is None and must_wait):
        return Forbidden(
            "you are in this session's waiting room (or not through it yet): a moderator lets you in",
            code="waiting",
        )
    if state is not None:
        return Forbidden("you are not admitted to this session", code="not_admitted")
    return None


class Flag(StrEnum):
    POSSIBLY_BANNED = "possibly_banned"  # same browser or same address as a banned participant
    REMOVED_BEFORE = "removed_before"  # was removed from this session earlier


class MuteKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


def waiting_room_on(setting: bool | None, is_public: bool, default: WaitingRoom) -> bool:
    """A session's own setting wins; without one, the server default decides. A non-public session always
    has one: there is no invitation yet, so a moderator's admission is how an attendee gets in."""
    if not is_public:
        return True
    if setting is not None:
        return setting
    return default is WaitingRoom.ALL or (default is WaitingRoom.PUBLIC and is_public)


def clean_reason(value: object, *, required: bool) -> str:
    return clean_text(value, "reason", max_length=REASON_MAX, required=required)


def clean_browser_id(value: object) -> str | None:
    """The random id a page keeps in localStorage: letters, digits, '-' and '_' only; absent is fine."""
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or len(value) > BROWSER_ID_MAX
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
    ):
        raise InvalidInput(
            f"browser_id must be up to {BROWSER_ID_MAX} letters, digits, '-' or '_'",
            details={"field": "browser_id"},
        )
    return value


@dataclass(frozen=True)
class AdmitRules:
    """'Always admit' rules: people of these stakeholder groups or affiliations skip the waiting room."""

    stakeholder_groups: frozenset[str] = field(default_factory=frozenset)
    affiliations: frozenset[str] = field(default_factory=frozenset)  # compared case-insensitively

    @classmethod
    def parse(cls, value: object) -> AdmitRules:
        """From a client's `{"stakeholder_groups": [...], "affiliations": [...]}`; refuses anything else."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise InvalidInput("rules must be an object", details={"field": "rules"})
        unknown = sorted(set(value) - {"stakeholder_groups", "affiliations"})
        if unknown:
            raise InvalidInput(f"rules: unknown field {unknown[0]!r}", details={"field": "rules"})
        groups = value.get("stakeholder_groups") or []
        affiliations = value.get("affiliations") or []
        if not isinstance(groups, list) or not isinstance(affiliations, list):
            raise InvalidInput("rules: give lists", details={"field": "rules"})
        allowed = {g.value for g in StakeholderGroup}
        for group in groups:
            if group not in allowed:
                raise InvalidInput(
                    f"rules.stakeholder_groups: {str(group)[:40]!r} is not one of "
                    f"{', '.join(sorted(allowed))}",
                    details={"field": "rules.stakeholder_groups"},
                )
        if len(affiliations) > MAX_RULE_AFFILIATIONS:
            raise InvalidInput(
                f"rules.affiliations: at most {MAX_RULE_AFFILIATIONS}",
                details={"field": "rules.affiliations"},
            )
        cleaned = {
            clean_text(a, "rules.affiliations", max_length=AFFILIATION_MAX).casefold() for a in affiliations
        }
        return cls(frozenset(groups), frozenset(cleaned))

    @classmethod
    def from_stored(cls, value: dict[str, Any] | None) -> AdmitRules:
        if not value:
            return cls()
        return cls(frozenset(value.get("stakeholder_groups", ())), frozenset(value.get("affiliations", ())))

    def stored(self) -> dict[str, list[str]]:
        return {
            "stakeholder_groups": sorted(self.stakeholder_groups),
            "affiliations": sorted(self.affiliations),
        }

    def matches(self, stakeholder_group: str | None, affiliation: str) -> str | None:
        """Which rule lets this person in ("stakeholder_group:..." or "affiliation:..."), or None."""
        if stakeholder_group and stakeholder_group in self.stakeholder_groups:
            return f"stakeholder_group:{stakeholder_group}"
        folded = " ".join(affiliation.split()).casefold()
        if folded and folded in self.affiliations:
            return f"affiliation:{folded}"
        return None


@dataclass(frozen=True)
class Grant:
    """A role grant as the target rule sees it: whose, which role, and where (None: the whole event)."""

    participant_id: int
    role: Role
    session_id: int | None

    def where(self, session_id: int) -> str:
        """For messages: "chair of this session", "moderator of session 12", "administrator of the event"."""
        if self.session_id is None:
            return f"{self.role.label.lower()} of the event"
        if self.session_id == session_id:
            return f"{self.role.label.lower()} of this session"
        return f"{self.role.label.lower()} of session {self.session_id}"


class Reach(StrEnum):
    """What an action takes from the person it names, for the last-moderator rule."""

    NOTHING = "nothing"  # admit, unban: they give, take nothing
    SESSION = "session"  # remove, mute: the person's place in this session
    EVENT = "event"  # ban: every link the person holds is withdrawn


# Roles whose last link may not be taken away: a session keeps a moderator, the event an administrator.
MODERATING: frozenset[Role] = frozenset({Role.MODERATOR, Role.ADMIN})


def check_target(
    *,
    actor_participant: int,
    actor_role: Role,
    session_id: int,
    target_participant: int,
    grants: Iterable[Grant],
    action: str,
    reach: Reach,
) -> None:
    """May this actor, in this session, take this action on this person? Raise if not.

    `grants` are every grant the target holds in the event (for an unban, also those it would give back)
    and the moderating grants (moderator, administrator) of everyone else in the event.

    - Nobody acts on themselves (`self_target`).
    - Anyone holding a grant other than the attendee's, for this session, another session or the whole event,
      is staff: only an administrator acts on them (`staff_target`). A moderator's reach is the attendees: a
      ban withdraws every link its target holds, so a grant for another session counts as much as one here.
    - An action that takes a moderating grant away (a ban: all of them; a removal or a mute: those covering
      this session) needs someone else to hold the same role there (`last_moderator`).
    """
    if actor_participant == target_participant:
        raise Forbidden(f"you cannot {action} yourself", code="self_target")
    held = [g for g in grants if g.participant_id == target_participant]
    staff = sorted({g.where(session_id) for g in held if g.role is not Role.ATTENDEE})
    if staff and actor_role is not Role.ADMIN:
        raise Forbidden(
            f"only an administrator may {action} a member of staff ({', '.join(staff)})",
            code="staff_target",
        )
    others = [g for g in grants if g.participant_id != target_participant]
    for grant in held:
        if grant.role not in MODERATING or not _takes(reach, grant, session_id):
            continue
        if not any(o.role is grant.role and o.session_id == grant.session_id for o in others):
            raise Conflict(
                f"cannot {action} the last {grant.where(session_id)}: "
                f"hand out another {grant.role.label.lower()} link first",
                code="last_moderator",
            )


def _takes(reach: Reach, grant: Grant, session_id: int) -> bool:
    """Whether an action of this reach, taken in this session, takes this grant away."""
    if reach is Reach.EVENT:
        return True
    return reach is Reach.SESSION and grant.session_id in (None, session_id)


def check_version(expected: int | None, current: int) -> None:
    """An action names the version of the person's admission it was decided on; a newer one refuses it."""
    if expected is not None and expected != current:
        raise Conflict(
            "this person's status changed meanwhile (another moderator acted): look again and retry",
            code="stale_participant",
            details={"current_version": current},
        )
