"""Questions from remote attendees: posting, voting, moderation, and the relay to the chair in the room.

Pure rules over snapshots; the store applies them in one locked transaction per change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import Conflict, Forbidden, InvalidInput
from .model import iso
from .participants import clean_text

ADDRESSEE_MAX = 120
REASON_MAX = 300
ANONYMOUS = "Anonymous"


class QuestionState(StrEnum):
    PENDING = "pending"  # waits for a moderator (pre-moderation); only its asker and staff see it
    APPROVED = "approved"  # visible to everyone, open to votes
    DISMISSED = "dismissed"  # refused, with a reason
    MERGED = "merged"  # a duplicate folded into another question
    WITHDRAWN = "withdrawn"  # taken back by its asker before approval


class Stage(StrEnum):
    """Where an approved question is on its way to the room."""

    NONE = "none"
    FORWARDED = "forwarded"  # the moderator sent it to the chair's tablet
    READ = "read"  # the chair read it aloud (highlighted on the room display and attendees' pages)
    ANSWERED = "answered"


STAGE_ORDER = (Stage.NONE, Stage.FORWARDED, Stage.READ, Stage.ANSWERED)


class Moderation(StrEnum):
    APPROVE = "approve"
    DISMISS = "dismiss"
    STAR = "star"
    UNSTAR = "unstar"


def clean_question(value: object, max_length: int) -> str:
    """Plain text of 1..max_length characters; control characters refused (line breaks kept as spaces)."""
    if isinstance(value, str):
        value = value.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return clean_text(value, "text", max_length=max_length)


def clean_addressee(value: object) -> str:
    if value is None or value == "":
        return ""
    return clean_text(value, "to", max_length=ADDRESSEE_MAX, required=False)


@dataclass(frozen=True)
class Edit:
    at: datetime
    by_id: int | None
    by_role: str
    before: str
    after: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "by": {"id": self.by_id, "role": self.by_role},
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Question:
    id: int
    session_id: int
    participant_id: int
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None
    anonymous: bool
    addressed_to: str
    text: str
    state: QuestionState
    stage: Stage
    starred: bool
    created_at: datetime
    approved_at: datetime | None = None
    dismissed_at: datetime | None = None
    dismiss_reason: str | None = None
    merged_into: int | None = None
    forwarded_at: datetime | None = None
    read_at: datetime | None = None
    answered_at: datetime | None = None
    voters: frozenset[int] = field(default_factory=frozenset)
    # Voters who registered after the question was asked (see `counts_publicly`): counted apart.
    late_voters: frozenset[int] = field(default_factory=frozenset)
    edits: tuple[Edit, ...] = ()
    merged_from: tuple[int, ...] = ()  # ids of duplicates folded into this one

    @property
    def votes(self) -> int:
        """The public count: votes of people who were registered when the question was asked."""
        return len(self.voters - self.late_voters)

    @property
    def late_votes(self) -> int:
        """Votes from registrations younger than the question: shown to moderators only."""
        return len(self.voters & self.late_voters)

    def asker_public(self) -> dict[str, Any]:
        if self.anonymous:
            return {"display_name": ANONYMOUS, "affiliation": "", "stakeholder_group": None, "country": None}
        return {
            "display_name": self.display_name,
            "affiliation": self.affiliation,
            "stakeholder_group": self.stakeholder_group,
            "country": self.country,
        }

    def public(self) -> dict[str, Any]:
        """What every attendee and the room display may see of an approved question."""
        return {
            "id": self.id,
            "text": self.text,
            "to": self.addressed_to,
            "asker": self.asker_public(),
            "anonymous": self.anonymous,
            "votes": self.votes,
            "stage": self.stage.value,
            "starred": self.starred,
            "created_at": iso(self.created_at),
            "read_at": iso(self.read_at),
        }

    def own(self, participant_id: int) -> dict[str, Any]:
        """What the asker sees of their own question, in any state."""
        data = self.public()
        data["state"] = self.state.value
        data["dismiss_reason"] = self.dismiss_reason
        data["merged_into"] = self.merged_into
        data["editable"] = self.state is QuestionState.PENDING
        data["voted"] = participant_id in self.voters
        data["asker"] = {
            "display_name": self.display_name,
            "affiliation": self.affiliation,
            "stakeholder_group": self.stakeholder_group,
            "country": self.country,
        }
        return data

    def staff(self) -> dict[str, Any]:
        """Moderators always see who asked, anonymous or not, and the whole history."""
        return {
            **self.public(),
            "asker": {
                "participant_id": self.participant_id,
                "display_name": self.display_name,
                "affiliation": self.affiliation,
                "stakeholder_group": self.stakeholder_group,
                "country": self.country,
            },
            "late_votes": self.late_votes,
            "state": self.state.value,
            "approved_at": iso(self.approved_at),
            "dismissed_at": iso(self.dismissed_at),
            "dismiss_reason": self.dismiss_reason,
            "merged_into": self.merged_into,
            "merged_from": list(self.merged_from),
            "forwarded_at": iso(self.forwarded_at),
            "answered_at": iso(self.answered_at),
            "edits": [e.as_dict() for e in self.edits],
        }


def check_edit_by_asker(question: Question, participant_id: int) -> None:
    if question.participant_id != participant_id:
        raise Forbidden("you can change only your own questions", code="not_yours")
    if question.state is not QuestionState.PENDING:
        raise Conflict("a question can be changed by its asker only until it is approved", code="not_pending")


def counts_publicly(registered_at: datetime, asked_at: datetime) -> bool:
    """Whether a vote counts in a question's public figure: only if the voter registered no later than the
    question was asked.

    Registration is free, so without this a question's asker (or a friend) could register thirty people and
    push it to the top of the list in a second; registration limits per address and per browser slow that
    down, but a room behind one address needs a generous limit. Identities made after a question exists
    are the cheap way to stuff its votes, so their votes are kept and shown to moderators as a separate
    figure, where a sudden pile of them stands out, but they neither move the public count nor the order
    attendees and the chair see. People who arrive later still vote on questions asked after they arrived.
    """
    return registered_at <= asked_at


def check_vote(question: Question, participant_id: int, voting: bool) -> None:
    if question.state is not QuestionState.APPROVED:
        raise Conflict("only approved questions take votes", code="not_approved")
    if question.participant_id == participant_id:
        raise Conflict("you cannot vote for your own question", code="own_question")
    if voting and participant_id in question.voters:
        raise Conflict("you have already voted for this question", code="already_voted")
    if not voting and participant_id not in question.voters:
        raise Conflict("you have not voted for this question", code="not_voted")


def check_moderation(question: Question, action: Moderation) -> None:
    if action is Moderation.APPROVE and question.state is not QuestionState.PENDING:
        raise Conflict(
            f"only pending questions can be approved (this one is {question.state.value})",
            code="stale_question",
        )
    if action is Moderation.DISMISS and question.state not in (QuestionState.PENDING, QuestionState.APPROVED):
        raise Conflict(f"this question is {question.state.value}", code="stale_question")
    if action in (Moderation.STAR, Moderation.UNSTAR) and question.state in (
        QuestionState.MERGED,
        QuestionState.WITHDRAWN,
    ):
        raise Conflict(f"this question is {question.state.value}", code="stale_question")


def check_stage(question: Question, target: Stage) -> None:
    """The relay goes forward one step at a time: forwarded, read aloud, answered."""
    if question.state is not QuestionState.APPROVED:
        raise Conflict("only approved questions can be relayed to the room", code="not_approved")
    current = STAGE_ORDER.index(question.stage)
    wanted = STAGE_ORDER.index(target)
    if wanted != current + 1:
        raise Conflict(
            f"a {question.stage.value} question cannot be marked {target.value}", code="invalid_stage"
        )


def check_merge(duplicate: Question, target: Question) -> None:
    if duplicate.id == target.id:
        raise InvalidInput("a question cannot be merged into itself", details={"field": "into_id"})
    for question in (duplicate, target):
        if question.state not in (QuestionState.PENDING, QuestionState.APPROVED):
            raise Conflict(f"question {question.id} is {question.state.value}", code="stale_question")


def counts(questions: list[Question]) -> dict[str, int]:
    """The funnel for the session report. Merged duplicates count as asked, not as separate approvals."""
    stages = Counter(q.stage for q in questions if q.state is QuestionState.APPROVED)
    reached = {
        "forwarded": sum(n for s, n in stages.items() if s in (Stage.FORWARDED, Stage.READ, Stage.ANSWERED)),
        "read_aloud": sum(n for s, n in stages.items() if s in (Stage.READ, Stage.ANSWERED)),
        "answered": stages.get(Stage.ANSWERED, 0),
    }
    return {
        "asked": sum(1 for q in questions if q.state is not QuestionState.WITHDRAWN),
        "pending": sum(1 for q in questions if q.state is QuestionState.PENDING),
        "approved": sum(1 for q in questions if q.state is QuestionState.APPROVED),
        "dismissed": sum(1 for q in questions if q.state is QuestionState.DISMISSED),
        "merged": sum(1 for q in questions if q.state is QuestionState.MERGED),
        "withdrawn": sum(1 for q in questions if q.state is QuestionState.WITHDRAWN),
        **reached,
    }
