"""Questions from remote attendees: posting, voting, moderators' decisions, and the question relay (its
stages on the way to the chair in the room).

Pure rules over snapshots. Every change is a command given to `decide` (at the end of this module); the
store applies what it decides in one versioned transaction per change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .model import iso
from .participants import clean_text
from .roles import Permission, Role, can
from .sessions import SessionState

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


class Decision(StrEnum):
    """A moderator's decision on one question (the question moderation, not participants')."""

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


def check_decision(question: Question, action: Decision) -> None:
    """Whether a moderator's decision applies to the question as it is now."""
    if action is Decision.APPROVE and question.state is not QuestionState.PENDING:
        raise Conflict(
            f"only pending questions can be approved (this one is {question.state.value})",
            code="stale_question",
        )
    if action is Decision.DISMISS and question.state not in (QuestionState.PENDING, QuestionState.APPROVED):
        raise Conflict(f"this question is {question.state.value}", code="stale_question")
    if action in (Decision.STAR, Decision.UNSTAR) and question.state in (
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


# -- the questions' rules as one transition --------------------------------------------------------
#
# `apply(board, command, now) -> outcome`: the board holds the questions a command reads (its `reads`, in
# that order: a missing one is refused before anything is decided) and the session's review mode; the
# outcome says what the store must write and which questions changed. A refused command raises and
# changes nothing. The store loads the board inside its versioned transaction and writes the outcome;
# server.desk checks the caller and notifies.

NEW_QUESTION = 0  # the id of a question `apply` adds, until the store has given it its own


@dataclass(frozen=True)
class Board:
    """What a change to one session's questions reads: whether new questions wait for a moderator
    (pre-moderation), and the questions the command is about, by id."""

    session_id: int
    premoderated: bool
    questions: dict[int, Question] = field(default_factory=dict)

    def get(self, question_id: int) -> Question:
        question = self.questions.get(question_id)
        if question is None:
            raise NotFound(f"there is no question {question_id} in this session", code="unknown_question")
        return question


@dataclass(frozen=True)
class Author:
    """Who a change is by (only what the rules look at)."""

    participant_id: int
    role: Role


@dataclass(frozen=True)
class Asker:
    """A question's asker as recorded with it, whatever they change later."""

    participant_id: int
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None


@dataclass(frozen=True)
class QuestionCommand:
    """One thing asked of a session's questions. `permission` is what the caller's role needs for it;
    `reads` the questions it looks at. Only asking (posting, editing or withdrawing one's own, voting)
    ends with the session."""

    permission: ClassVar[Permission] = Permission.QUESTION_MODERATE

    @property
    def reads(self) -> tuple[int, ...]:
        """The questions this command looks at, in the order they are checked to exist."""
        return ()

    @classmethod
    def check_session(cls, state: SessionState, permission: Permission) -> None:
        """Asking (under QUESTION_ASK) ends with the session; moderating and the relay go on."""
        if state is SessionState.ENDED and permission is Permission.QUESTION_ASK:
            raise Conflict("the session has ended", code="session_ended")


@dataclass(frozen=True)
class Post(QuestionCommand):
    """An attendee asks a question: it waits for a moderator under pre-moderation, else shows at once."""

    permission: ClassVar[Permission] = Permission.QUESTION_ASK
    asker: Asker
    text: str
    addressed_to: str
    anonymous: bool


@dataclass(frozen=True)
class EditText(QuestionCommand):
    """A question's text changes: by its asker while it waits for approval, by staff (a typo) until it is
    merged or withdrawn."""

    by: Author
    question_id: int
    text: str

    @property
    def as_staff(self) -> bool:
        return can(self.by.role, Permission.QUESTION_MODERATE)

    @staticmethod
    def permission_of(by: Author) -> Permission:
        """Staff edit as moderators; anyone else edits as an asker (their own pending questions only)."""
        return (
            Permission.QUESTION_MODERATE
            if can(by.role, Permission.QUESTION_MODERATE)
            else Permission.QUESTION_ASK
        )

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id,)


@dataclass(frozen=True)
class Withdraw(QuestionCommand):
    """Its asker takes a question back while it waits for approval."""

    permission: ClassVar[Permission] = Permission.QUESTION_ASK
    participant_id: int
    question_id: int

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id,)


@dataclass(frozen=True)
class CastVote(QuestionCommand):
    """An attendee votes for an approved question (voting=False: takes the vote back)."""

    permission: ClassVar[Permission] = Permission.QUESTION_ASK
    participant_id: int
    question_id: int
    voting: bool

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id,)


@dataclass(frozen=True)
class Decide(QuestionCommand):
    """A moderator's decision on a question: approve, dismiss (with a reason), star or unstar."""

    question_id: int
    decision: Decision
    reason: str = ""

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id,)

    @staticmethod
    def parse(action: object) -> Decision:
        """The decision a client sent."""
        try:
            return Decision(action if isinstance(action, str) else "")
        except ValueError:
            raise InvalidInput(
                "action must be approve, dismiss, star or unstar", details={"field": "action"}
            ) from None

    @staticmethod
    def clean_reason(decision: Decision, reason: object) -> str:
        """Why: required to dismiss, optional otherwise."""
        return clean_text(reason, "reason", max_length=REASON_MAX, required=decision is Decision.DISMISS)


@dataclass(frozen=True)
class Merge(QuestionCommand):
    """A moderator folds a duplicate into another question: its votes and its asker's interest move."""

    question_id: int
    into_id: int

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id, self.into_id)


@dataclass(frozen=True)
class AdvanceStage(QuestionCommand):
    """An approved question's next step on its way to the room (the question relay): forwarded to the chair
    by a moderator, then read aloud and answered in the room."""

    question_id: int
    stage: Stage

    @staticmethod
    def parse(stage: object) -> Stage:
        """The stage a client sent: forwarded, read or answered."""
        try:
            target = Stage(stage if isinstance(stage, str) else "")
        except ValueError:
            target = Stage.NONE
        if target is Stage.NONE:
            raise InvalidInput("stage must be forwarded, read or answered", details={"field": "stage"})
        return target

    @staticmethod
    def permission_of(stage: Stage) -> Permission:
        """Forwarding is the moderator's choice; reading aloud and answering happen in the room."""
        return Permission.QUESTION_MODERATE if stage is Stage.FORWARDED else Permission.QUESTION_RELAY

    @property
    def reads(self) -> tuple[int, ...]:
        return (self.question_id,)


@dataclass(frozen=True)
class SetReviewMode(QuestionCommand):
    """A moderator turns pre-moderation (new questions wait for approval) on or off."""

    premoderated: bool


@dataclass(frozen=True)
class QuestionWrite:
    """Fields of one stored question to change."""

    question_id: int
    values: dict[str, Any]


@dataclass(frozen=True)
class QuestionAudit:
    """One line of the audit log a change leaves (question_id None: the session's questions as a whole)."""

    action: str
    details: dict[str, Any]
    question_id: int | None = None


@dataclass(frozen=True)
class Decided:
    """What a question command decided: a new question, fields to write, votes to add or take back
    (question id, participant id), an edit to record, the review mode, the audit, and which questions
    changed — in content, or only in their votes — for the broadcast. `result` is the question to answer
    with (read again once stored); `merged` the duplicate as it was before a merge."""

    added: Question | None = None
    writes: tuple[QuestionWrite, ...] = ()
    votes_added: tuple[tuple[int, int], ...] = ()
    votes_removed: tuple[tuple[int, int], ...] = ()
    edit: tuple[int, Edit] | None = None
    premoderated: bool | None = None
    audit: tuple[QuestionAudit, ...] = ()
    content: frozenset[int] = frozenset()
    votes: frozenset[int] = frozenset()
    result: int | None = None
    merged: Question | None = None


def decide(board: Board, command: QuestionCommand, now: datetime) -> Decided:
    """What the command does to the board's questions; raises (deciding nothing) when it is refused."""
    for question_id in command.reads:
        board.get(question_id)
    match command:
        case Post():
            return _post(board, command, now)
        case EditText():
            return _edit(board, command, now)
        case Withdraw():
            question = board.get(command.question_id)
            check_edit_by_asker(question, command.participant_id)
            return _changed(question, state=QuestionState.WITHDRAWN)
        case CastVote():
            question = board.get(command.question_id)
            check_vote(question, command.participant_id, command.voting)
            vote = ((question.id, command.participant_id),)
            return Decided(
                votes_added=vote if command.voting else (),
                votes_removed=() if command.voting else vote,
                votes=frozenset({question.id}),
                result=question.id,
            )
        case Decide():
            return _decide(board.get(command.question_id), command, now)
        case Merge():
            return _merge(board.get(command.question_id), board.get(command.into_id), now)
        case AdvanceStage():
            question = board.get(command.question_id)
            check_stage(question, command.stage)
            stamp = {Stage.FORWARDED: "forwarded_at", Stage.READ: "read_at", Stage.ANSWERED: "answered_at"}
            decided = _changed(question, stage=command.stage, **{stamp[command.stage]: now})
            return replace(
                decided, audit=(QuestionAudit(f"question.{command.stage.value}", {}, question.id),)
            )
        case SetReviewMode(premoderated=premoderated):
            if board.premoderated == premoderated:
                raise Conflict("that is already the setting", code="no_change")
            return Decided(
                premoderated=premoderated,
                audit=(QuestionAudit("questions.settings", {"premoderated": premoderated}),),
            )
    raise TypeError(f"not a question command: {command!r}")


def _changed(question: Question, **values: Any) -> Decided:
    return Decided(
        writes=(QuestionWrite(question.id, values),) if values else (),
        content=frozenset({question.id}),
        result=question.id,
    )


def _post(board: Board, command: Post, now: datetime) -> Decided:
    asker = command.asker
    waits = board.premoderated
    question = Question(
        id=NEW_QUESTION,
        session_id=board.session_id,
        participant_id=asker.participant_id,
        display_name=asker.display_name,
        affiliation=asker.affiliation,
        stakeholder_group=asker.stakeholder_group,
        country=asker.country,
        anonymous=command.anonymous,
        addressed_to=command.addressed_to,
        text=command.text,
        state=QuestionState.PENDING if waits else QuestionState.APPROVED,
        stage=Stage.NONE,
        starred=False,
        created_at=now,
        approved_at=None if waits else now,
    )
    return Decided(added=question, content=frozenset({NEW_QUESTION}), result=NEW_QUESTION)


def _edit(board: Board, command: EditText, now: datetime) -> Decided:
    question = board.get(command.question_id)
    if not command.as_staff:
        check_edit_by_asker(question, command.by.participant_id)
    elif question.state in (QuestionState.MERGED, QuestionState.WITHDRAWN):
        raise Conflict(f"this question is {question.state.value}", code="stale_question")
    if command.text == question.text:
        raise Conflict("the text is unchanged", code="no_change")
    edit = Edit(now, command.by.participant_id, command.by.role.value, question.text, command.text)
    audit = (
        (QuestionAudit("question.edit", {"before": question.text, "after": command.text}, question.id),)
        if command.as_staff
        else ()
    )
    return replace(_changed(question, text=command.text), edit=(question.id, edit), audit=audit)


def _decide(question: Question, command: Decide, now: datetime) -> Decided:
    check_decision(question, command.decision)
    values: dict[str, Any] = {}
    if command.decision is Decision.APPROVE:
        values = {"state": QuestionState.APPROVED, "approved_at": now}
    elif command.decision is Decision.DISMISS:
        values = {"state": QuestionState.DISMISSED, "dismissed_at": now, "dismiss_reason": command.reason}
    else:
        wanted = command.decision is Decision.STAR
        if question.starred == wanted:
            raise Conflict(
                f"the question is already {'starred' if wanted else 'not starred'}", code="no_change"
            )
        values = {"starred": wanted}
    details = {"reason": command.reason} if command.reason else {}
    note = QuestionAudit(f"question.{command.decision.value}", details, question.id)
    return replace(_changed(question, **values), audit=(note,))


def _merge(duplicate: Question, target: Question, now: datetime) -> Decided:
    check_merge(duplicate, target)
    moving = (set(duplicate.voters) | {duplicate.participant_id}) - target.voters - {target.participant_id}
    note = QuestionAudit("question.merge", {"into": target.id, "votes_moved": len(moving)}, duplicate.id)
    return Decided(
        writes=(QuestionWrite(duplicate.id, {"state": QuestionState.MERGED, "merged_into": target.id}),),
        votes_added=tuple((target.id, participant_id) for participant_id in sorted(moving)),
        audit=(note,),
        content=frozenset({duplicate.id, target.id}),
        result=target.id,
        merged=duplicate,
    )
