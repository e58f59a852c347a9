"""Tables. Every change to session state is written here first, then broadcast."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations read the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The tables' common base: one metadata, with names for constraints that migrations can rely on."""

    metadata = MetaData(naming_convention=NAMING)


class Event(Base):
    """An event (a conference): its sessions, participants and links belong to it."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Zurich")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped in the same transaction as anything that may take someone's right to stay connected away (a
    # ban, a removal, a withdrawn link, a waiting-room decision): every process polls it, and re-checks its
    # own connections to the event when it moved, so a decision holds even when Redis does not carry it.
    standing_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    sessions: Mapped[list[Session]] = relationship(back_populates="event", order_by="Session.starts_at")


class Session(Base):
    """One agenda item, in one room, with one queue, one set of questions and one room feed."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("event_id", "ref", name="uq_sessions_event_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    room: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    default_speaking_seconds: Mapped[int] = mapped_column(Integer, default=180)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Bumped by every change to the queue or the floor, in the same transaction: clients drop any update
    # older than the one they hold, and the row lock it takes serialises queue changes across processes.
    queue_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Seconds past the limit after which the floor ends by itself; NULL: never automatically.
    auto_end_grace_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Wished-for shares of interventions for the balance suggestion; NULL: the defaults.
    balance_targets: Mapped[dict[str, dict[str, float]] | None] = mapped_column(JSON, nullable=True)
    # Like queue_version, for questions: bumped (and the row locked) by every change to them.
    questions_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Pre-moderation (the default): questions wait for a moderator before anyone else sees them.
    questions_premoderated: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # The waiting room: NULL follows the server default (HEMICYCLE_WAITING_ROOM: on for public sessions).
    waiting_room: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # "Always admit" rules: {"stakeholder_groups": [...], "affiliations": [...]}; NULL: none.
    admit_rules: Mapped[dict[str, list[str]] | None] = mapped_column(JSON, nullable=True)
    # Like queue_version, for admissions, mutes and bans seen from this session.
    moderation_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The last caption line's sequence number: bumped (and the row locked) by every line stored, so lines
    # are numbered 1, 2, 3... per session in the order they were stored, whichever process stored them.
    captions_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Like queue_version, for polls and their answers (issue 24).
    polls_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Who may open the session's archive (issue 22): "staff" (the default) or "public" (anyone who may see
    # the session), set by the administrator.
    archive_access: Mapped[str] = mapped_column(String(8), default="staff", server_default="staff")

    event: Mapped[Event] = relationship(back_populates="sessions")


class Participant(Base):
    """A person known to an event: a self-registered attendee or a holder of a staff role link."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(120))
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    stakeholder_group: Mapped[str | None] = mapped_column(String(32), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    # Gender and age band are written only when consent_demographics is true (checked in the domain).
    consent_demographics: Mapped[bool] = mapped_column(Boolean, default=False)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    age_band: Mapped[str | None] = mapped_column(String(16), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleGrant(Base):
    """A role given to a participant for an event (session_id NULL) or for one session.

    Tokens name a grant; revoking the grant invalidates every token issued for it.
    """

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True, index=True
    )
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """A privileged action: who did what, to what, when, and with which details."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_session_created", "session_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Admission(Base):
    """Where one participant stands in one session: waiting, admitted or removed, and their mutes.

    A row exists for everyone who waited, was admitted by a moderator or a rule, removed or muted; an
    attendee of a session without a waiting room has none until a moderator acts on them.
    """

    __tablename__ = "admissions"
    __table_args__ = (
        UniqueConstraint("session_id", "participant_id", name="uq_admissions_session_participant"),
        Index("ix_admissions_session_state", "session_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    # Bumped by every change: an action names the version it was decided on, so a stale one is refused.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Why a moderator should look twice: {"possibly_banned": {"ban_id", "match"}, "removed_before": true}.
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    muted_audio: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    muted_video: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class ParticipantOrigin(Base):
    """Where a self-registration came from: the page's browser id and the client address.

    Used only to flag a new registration that looks like a banned participant's; never shown to attendees.
    """

    __tablename__ = "participant_origins"

    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    browser_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Ban(Base):
    """A participant banned from an event: their grants are revoked until the ban is lifted."""

    __tablename__ = "bans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(String(300))
    # Copied from the participant's origin, to recognise a new registration from the same place.
    browser_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The grants this ban revoked, given back by unbanning.
    grant_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lifted_by: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    lift_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)


class Instance(Base):
    """A running server process; its heartbeat tells the others whether its presence rows still hold."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Presence(Base):
    """One live Socket.IO connection to a session, owned by the instance that holds the socket."""

    __tablename__ = "presence"

    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    # Indexed: a participant's connections are counted across processes when one more joins.
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Attendance(Base):
    """One connection to a session, kept after it ends: joins, leaves and concurrency for the record.

    Presence rows are deleted when a connection closes; this one gets its `left_at` instead."""

    __tablename__ = "attendance"
    __table_args__ = (
        Index("ix_attendance_session_joined", "session_id", "joined_at"),
        Index("ix_attendance_connection", "instance_id", "sid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    instance_id: Mapped[str] = mapped_column(String(40))
    sid: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Intervention(Base):
    """One request for the floor (a remote hand or an in-room request) and, once granted, its record.

    Name, affiliation, group, country and the consented demographics are copied at request time, so the
    record stays true to what was said when, whatever changes later.
    """

    __tablename__ = "interventions"
    __table_args__ = (
        # Raising twice is idempotent: one active request per participant and session, across processes.
        Index(
            "uq_interventions_active_participant",
            "session_id",
            "participant_id",
            unique=True,
            postgresql_where=text("state IN ('queued', 'speaking') AND participant_id IS NOT NULL"),
            sqlite_where=text("state IN ('queued', 'speaking') AND participant_id IS NOT NULL"),
        ),
        # At most one person holds the floor in a session.
        Index(
            "uq_interventions_one_speaker",
            "session_id",
            unique=True,
            postgresql_where=text("state = 'speaking'"),
            sqlite_where=text("state = 'speaking'"),
        ),
        Index("ix_interventions_session_state", "session_id", "state", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    in_room: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(120))
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    stakeholder_group: Mapped[str | None] = mapped_column(String(32), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(16), nullable=True)
    age_band: Mapped[str | None] = mapped_column(String(16), nullable=True)
    type: Mapped[str] = mapped_column(String(24))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    limit_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra_seconds: Mapped[int] = mapped_column(Integer, default=0)
    end_reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
    removed_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # When the speaker was last seen without any connection; cleared when they come back.
    absent_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    added_by: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )


class Question(Base):
    """A question from a remote attendee, with its moderation and its way to the room."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_session_state", "session_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    # The asker as they were when asking, for the record.
    display_name: Mapped[str] = mapped_column(String(120))
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    stakeholder_group: Mapped[str | None] = mapped_column(String(32), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    addressed_to: Mapped[str] = mapped_column(String(120), default="")
    text: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), default="none")
    starred: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dismiss_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    merged_into: Mapped[int | None] = mapped_column(
        ForeignKey("questions.id", ondelete="SET NULL"), nullable=True
    )
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QuestionVote(Base):
    """One participant's vote for one question: the primary key makes a second vote impossible."""

    __tablename__ = "question_votes"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestionEdit(Base):
    """Every change to a question's text, by its asker or a moderator fixing a typo."""

    __tablename__ = "question_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    by_role: Mapped[str] = mapped_column(String(16))
    before: Mapped[str] = mapped_column(String(2000))
    after: Mapped[str] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class MediaRelay(Base):
    """Which process runs a session's media relay, and where the others send offers for it.

    Claimed by the first process that needs it; taken over when the owner's heartbeat is gone.
    """

    __tablename__ = "media_relays"

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(40), index=True)
    base_url: Mapped[str] = mapped_column(String(300))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Caption(Base):
    """One finished caption line: the session transcript, in each language, with the server's time."""

    __tablename__ = "captions"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_captions_session_seq"),
        Index("ix_captions_session_language_seq", "session_id", "language", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The captioner as they were when captioning, for the record.
    captioner_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    captioner_name: Mapped[str] = mapped_column(String(120))


# -- the help desk (issue 24) ------------------------------------------------------------------------------


class HelpThread(Base):
    """One attendee's request for technical help in a session, with the figures their page sent."""

    __tablename__ = "help_threads"
    __table_args__ = (
        Index("ix_help_threads_session_state", "session_id", "state", "opened_at"),
        # One request not yet closed per attendee and session, whichever process opens it.
        Index(
            "uq_help_threads_one_open",
            "session_id",
            "participant_id",
            unique=True,
            sqlite_where=text("state != 'closed'"),
            postgresql_where=text("state != 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    participant_name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_by_name: Mapped[str | None] = mapped_column(String(120), nullable=True)


class HelpMessage(Base):
    """One message of a help thread, from its attendee or from staff, with the server's time."""

    __tablename__ = "help_messages"
    __table_args__ = (Index("ix_help_messages_thread", "thread_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("help_threads.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    author_name: Mapped[str] = mapped_column(String(120))
    author_role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(1000))
    answer: Mapped[str | None] = mapped_column(String(32), nullable=True)


# -- live polls (issue 24) -----------------------------------------------------------------------------


class Poll(Base):
    """A poll of a session: its question and options as the moderator typed them, and where it stands."""

    __tablename__ = "polls"
    __table_args__ = (Index("ix_polls_session_position", "session_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(String(300))
    options: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    results_shown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PollAnswer(Base):
    """One attendee's answer to one poll (replaced when they answer again), with the stakeholder group and
    country it is counted under, as they were when they answered. Only ever counted, never listed."""

    __tablename__ = "poll_answers"
    __table_args__ = (UniqueConstraint("poll_id", "participant_id", name="uq_poll_answers_poll_participant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    choices: Mapped[list[int]] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(String(80), nullable=True)
    stakeholder_group: Mapped[str | None] = mapped_column(String(120), nullable=True)
    country: Mapped[str | None] = mapped_column(String(8), nullable=True)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- recording and the archive (issue 22) --------------------------------------------------------------


class Recording(Base):
    """One recording of a session, from the moment staff started it to the moment it stopped (or failed).

    A session may be recorded several times (stopped, then started again); the archive plays them in order.
    """

    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_session_started", "session_id", "started_at"),
        # At most one recording running per session, whichever process starts it.
        Index(
            "uq_recordings_one_running",
            "session_id",
            unique=True,
            sqlite_where=text("state = 'recording'"),
            postgresql_where=text("state = 'recording'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    # recording, stopped, failed (a fault stopped it: the error says which).
    state: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    started_by_name: Mapped[str] = mapped_column(String(120))
    stopped_by_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    error: Mapped[str | None] = mapped_column(String(300), nullable=True)


class RecordingSegment(Base):
    """One file of a recording: one track (the floor, or a language channel) written by one process, from its
    first packet to its last. A relay moving to another process, or a restart, begins a new segment; the
    archive lays segments on one timeline by their wall-clock times."""

    __tablename__ = "recording_segments"
    __table_args__ = (Index("ix_recording_segments_recording_track", "recording_id", "track", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    # "floor" (the room feed or the speaker holding the floor: video and audio) or a channel: "fr", "es"...
    track: Mapped[str] = mapped_column(String(16))
    # Where the file is, relative to the recordings directory (or the object store's prefix).
    path: Mapped[str] = mapped_column(String(300))
    # webm or mkv (VP8/Opus), mp4 (H.264): the container the packets were written into.
    container: Mapped[str] = mapped_column(String(8))
    # The codecs written, e.g. ["vp8", "opus"].
    codecs: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Wall-clock time of the segment's first packet; its media time 0.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Wall-clock time of its last packet, written as the segment grows and when it is closed.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # False while being written (or when the writer died: the file is playable up to its last cluster).
    complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # The process that wrote it (its instance id).
    writer: Mapped[str] = mapped_column(String(40))
    # Where the archive keeps it once stored away: NULL while only in the local recordings directory,
    # else a URL-like location ("s3://bucket/key", "file:///...") given by the archive storage.
    stored_at: Mapped[str | None] = mapped_column(String(500), nullable=True)


class BoothMember(Base):
    """An interpreter's link names the booths it works in (issue 21). A grant with no row here is a link
    of the session's interpreter role handed out before booths existed: it works in every booth."""

    __tablename__ = "booth_members"

    grant_id: Mapped[int] = mapped_column(ForeignKey("role_grants.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)


class BoothTurn(Base):
    """One interpreter on air in one booth, from when to when (times only: nothing of the sound is kept)."""

    __tablename__ = "booth_turns"
    __table_args__ = (Index("ix_booth_turns_session_started", "session_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    name: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How the turn began: "on_air" (first in an empty booth) or "handover" (taken from a partner).
    began: Mapped[str] = mapped_column(String(12))


class BoothNotice(Base):
    """A booth's "slow down" notice to the chair and moderator, with the intervention it was about."""

    __tablename__ = "booth_notices"
    __table_args__ = (Index("ix_booth_notices_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("interventions.id", ondelete="SET NULL"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Statement(Base):
    """The text of a statement sent in advance with a request for the floor (issue 21): one per request, a
    new one replacing it. Read by the booths and the captioner; never served to attendees or the display. The
    bytes are kept here (a few MiB at most, HEMICYCLE_STATEMENT_MAX_BYTES), so that every process serves them
    and the session record keeps them with the intervention."""

    __tablename__ = "statements"
    __table_args__ = (Index("ix_statements_session", "session_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    intervention_id: Mapped[int] = mapped_column(
        ForeignKey("interventions.id", ondelete="CASCADE"), unique=True
    )
    # pdf or text: what the bytes are, as checked (server/domain/statements.py), not what the sender said.
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="SET NULL"), nullable=True
    )
    uploaded_by_name: Mapped[str] = mapped_column(String(120))
    uploaded_by_role: Mapped[str] = mapped_column(String(16))
