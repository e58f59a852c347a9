"""Roles and what each may do. The server checks every action against this table."""

from __future__ import annotations

from enum import StrEnum

from .errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    CHAIR = "chair"
    AV = "av"
    CAPTIONER = "captioner"
    INTERPRETER = "interpreter"
    DISPLAY = "display"
    ATTENDEE = "attendee"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def is_staff(self) -> bool:
        """Staff see the full roster of the session; attendees see counts only."""
        return self is not Role.ATTENDEE and self is not Role.DISPLAY


ROLE_LABELS: dict[Role, str] = {
    Role.ADMIN: "Administrator",
    Role.MODERATOR: "Moderator",
    Role.CHAIR: "Chair",
    Role.AV: "AV technician",
    Role.CAPTIONER: "Captioner",
    Role.INTERPRETER: "Interpreter",
    Role.DISPLAY: "Room display",
    Role.ATTENDEE: "Attendee",
}

# Roles whose links are handed out per session (admin and attendee tokens cover the whole event).
SESSION_ROLES: tuple[Role, ...] = (
    Role.MODERATOR,
    Role.CHAIR,
    Role.AV,
    Role.CAPTIONER,
    Role.INTERPRETER,
    Role.DISPLAY,
)


class Permission(StrEnum):
    SESSION_VIEW = "session.view"
    SESSION_SET_STATE = "session.set_state"
    ROSTER_VIEW = "roster.view"
    AUDIT_VIEW = "audit.view"
    # Moderating participants (issue 6): the waiting room, remove, ban and unban.
    PARTICIPANTS_MODERATE = "participants.moderate"
    # Muting a speaker's microphone or camera: the relay stops forwarding it.
    MEDIA_MUTE = "media.mute"
    LINKS_ISSUE = "links.issue"
    EVENT_MANAGE = "event.manage"
    QUEUE_RAISE = "queue.raise"
    QUEUE_MANAGE = "queue.manage"
    QUESTION_ASK = "question.ask"
    QUESTION_MODERATE = "question.moderate"
    QUESTION_RELAY = "question.relay"
    REPORT_VIEW = "report.view"
    # Live captions: posting lines, and reading the stored transcript over HTTP (everyone in the session
    # receives lines as they come, with session.view).
    CAPTION_POST = "caption.post"
    TRANSCRIPT_VIEW = "transcript.view"
    # The help desk (issue 24): an attendee asks for technical help; AV technicians and moderators answer.
    HELP_ASK = "help.ask"
    HELP_ANSWER = "help.answer"
    # Live polls (issue 24): preparing, opening, closing and showing them; answering one.
    POLL_MANAGE = "poll.manage"
    POLL_ANSWER = "poll.answer"
    # Recording a session (issue 22): starting and stopping it.
    RECORDING_CONTROL = "recording.control"
    # The session archive (issue 22): opening a staff-only archive (a public one needs only session.view), and
    # setting who may open it.
    ARCHIVE_VIEW = "archive.view"
    ARCHIVE_MANAGE = "archive.manage"
    # Statements sent in advance with a request (issue 21): read by the booths, the captioner and
    # moderators, never by attendees or the room display. Attaching one is the speaker's own (queue.raise)
    # or floor staff's for them (queue.manage).
    STATEMENT_READ = "statement.read"


_STAFF_VIEW = frozenset({Permission.SESSION_VIEW, Permission.ROSTER_VIEW, Permission.ARCHIVE_VIEW})
# A registered attendee's own voice: raising a hand, posting and voting for questions. Staff links are handed
# out, not registered (no stakeholder group, country or consent), so a hand or a vote from one would count in
# the balance and the question funnel as nobody; staff put someone in line with `queue:add_in_room`.
ATTENDEE_ONLY = frozenset(
    {Permission.QUEUE_RAISE, Permission.QUESTION_ASK, Permission.HELP_ASK, Permission.POLL_ANSWER}
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission) - ATTENDEE_ONLY,
    Role.MODERATOR: _STAFF_VIEW
    | {
        Permission.SESSION_SET_STATE,
        Permission.AUDIT_VIEW,
        Permission.PARTICIPANTS_MODERATE,
        Permission.MEDIA_MUTE,
        Permission.QUEUE_MANAGE,
        Permission.QUESTION_MODERATE,
        Permission.QUESTION_RELAY,
        Permission.REPORT_VIEW,
        Permission.TRANSCRIPT_VIEW,
        Permission.HELP_ANSWER,
        Permission.POLL_MANAGE,
        Permission.RECORDING_CONTROL,
        Permission.STATEMENT_READ,
    },
    Role.CHAIR: _STAFF_VIEW
    | {
        Permission.SESSION_SET_STATE,
        Permission.QUEUE_MANAGE,
        Permission.QUESTION_RELAY,
        Permission.MEDIA_MUTE,
    },
    Role.AV: _STAFF_VIEW | {Permission.MEDIA_MUTE, Permission.HELP_ANSWER, Permission.RECORDING_CONTROL},
    Role.CAPTIONER: _STAFF_VIEW
    | {Permission.CAPTION_POST, Permission.TRANSCRIPT_VIEW, Permission.STATEMENT_READ},
    Role.INTERPRETER: _STAFF_VIEW | {Permission.STATEMENT_READ},
    Role.DISPLAY: frozenset({Permission.SESSION_VIEW}),
    Role.ATTENDEE: frozenset(
        {
            Permission.SESSION_VIEW,
            Permission.QUEUE_RAISE,
            Permission.QUESTION_ASK,
            Permission.HELP_ASK,
            Permission.POLL_ANSWER,
        }
    ),
}


def can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def require(role: Role, permission: Permission) -> None:
    """Raise Forbidden, naming the role and the action, unless the role allows it."""
    if not can(role, permission):
        only = "; only attendees may" if permission in ATTENDEE_ONLY else ""
        raise Forbidden(f"the {role.label.lower()} role may not do this ({permission.value}){only}")
