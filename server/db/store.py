"""The store: the one owner of durable state. Each method is one transaction.

It speaks in domain snapshots (server.domain.model) and domain errors, never in HTTP or Socket.IO terms.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, distinct, exists, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..domain.errors import Conflict, HemicycleError, NotFound, Unauthenticated
from ..domain.model import (
    EventInfo,
    ParticipantInfo,
    PresenceSnapshot,
    PresentPerson,
    Principal,
    SessionInfo,
    iso,
    summarize,
)
from ..domain.moderation import Admission, WaitingRoom, admission_refusal, waiting_room_on
from ..domain.participants import Registration
from ..domain.report import Visit
from ..domain.roles import Role
from ..domain.sessions import SessionState, check_transition
from ..tokens import utcnow
from . import models as m
from .among import Among, listed
from .engine import sessions
from .gathered import CROWD_SPACING_SECONDS, GatheredCalls, GatheredReads


@dataclass(frozen=True)
class Arrival:
    """What a connecting token's holder meets: who they are, the session and its event as committed when
    they asked, and whether the waiting room lets them straight in (`straight_in`: admitted there before, or
    an open session, nobody decided on, in an event with no active ban; False sends an attendee through the
    waiting room's full check)."""

    principal: Principal
    session: SessionInfo
    event: EventInfo
    straight_in: bool


@dataclass(frozen=True)
class SessionDraft:
    """A session as read from an agenda, before it is stored."""

    ref: str
    title: str
    room: str
    starts_at: datetime
    ends_at: datetime
    languages: tuple[str, ...]
    default_speaking_seconds: int = 180
    is_public: bool = True
    state: SessionState = SessionState.SCHEDULED

    def columns(self) -> dict[str, Any]:
        """The session row's columns this draft sets: not its ref, nor its state (only a new row takes it)."""
        return {
            "title": self.title,
            "room": self.room,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "languages": list(self.languages),
            "default_speaking_seconds": self.default_speaking_seconds,
            "is_public": self.is_public,
        }


def _event(row: m.Event) -> EventInfo:
    return EventInfo(id=row.id, slug=row.slug, title=row.title, venue=row.venue, timezone=row.timezone)


# A row of a Core read, of any columns.
AnyRow = Row[*tuple[Any, ...]]

# What SessionInfo holds, for Core reads of the sessions table (`_session` takes their rows too).
SESSION_COLUMNS = tuple(
    m.Session.__table__.c[name]
    for name in (
        "id",
        "event_id",
        "ref",
        "title",
        "room",
        "starts_at",
        "ends_at",
        "languages",
        "state",
        "state_changed_at",
        "default_speaking_seconds",
        "is_public",
    )
)


def _session(row: m.Session | AnyRow) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        event_id=row.event_id,
        ref=row.ref,
        title=row.title,
        room=row.room,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        languages=tuple(row.languages or ()),
        state=SessionState(row.state),
        state_changed_at=row.state_changed_at,
        default_speaking_seconds=row.default_speaking_seconds,
        is_public=row.is_public,
    )


def _grant_refusal(
    grant: m.RoleGrant | AnyRow | None, participant_id: int, person: bool
) -> Unauthenticated | None:
    """Why a token naming this grant and participant is refused, or None if it stands."""
    if grant is None or grant.participant_id != participant_id:
        return Unauthenticated("this link is not known here", code="token_unknown")
    if grant.revoked_at is not None:
        return Unauthenticated("this link was withdrawn by the organisers", code="token_revoked")
    if not person:
        return Unauthenticated("this link is not known here", code="token_unknown")
    return None


@dataclass(frozen=True)
class Standing:
    """A person about to write: their grant, and the session whose admission applies (None: staff)."""

    grant_id: int
    participant_id: int
    session_id: int | None


@dataclass(frozen=True)
class _Arriving:
    """A connecting token's grant and holder, the session asked for and the waiting room's default
    (Store.arrive)."""

    grant_id: int
    participant_id: int
    session_id: int
    default: WaitingRoom


def already_joined() -> Conflict:
    """The refusal of a connection recorded twice (its sid is already present)."""
    return Conflict("this connection is already in a session", code="already_joined")


@dataclass(frozen=True)
class Joining:
    """A connection to record as present (SnapshotStore.join, Store.record_presences)."""

    instance_id: str
    sid: str
    principal: Principal
    session_id: int


@dataclass(frozen=True)
class GrantInfo:
    """One role grant: what a link's token names. Withdrawn when revoked_at is set."""

    id: int
    event_id: int
    session_id: int | None
    participant_id: int
    role: Role
    revoked_at: datetime | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event_id": self.event_id,
            "session_id": self.session_id,
            "participant_id": self.participant_id,
            "role": self.role.value,
            "revoked_at": iso(self.revoked_at),
        }


def _grant(row: m.RoleGrant) -> GrantInfo:
    return GrantInfo(row.id, row.event_id, row.session_id, row.participant_id, Role(row.role), row.revoked_at)


def _participant(row: m.Participant | AnyRow) -> ParticipantInfo:
    return ParticipantInfo(
        id=row.id,
        event_id=row.event_id,
        display_name=row.display_name,
        affiliation=row.affiliation,
        stakeholder_group=row.stakeholder_group,
        country=row.country,
        role=Role(row.role),
    )


def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


class _CrowdStatements:
    """The statements a crowd runs, one batch after another: a connection's arrival and record, the check
    before each write, the departure. Built once per store with their lists as named parameters
    (server/db/among.py), so that their SQL and cache keys are computed once, not per batch; and in Core, on
    the tables' columns: rows read once and thrown away need no ORM objects."""

    def __init__(self, among: Among) -> None:
        self.among = among
        grant, person = m.RoleGrant.__table__.c, m.Participant.__table__.c
        session, event, ban = m.Session.__table__.c, m.Event.__table__.c, m.Ban.__table__.c
        admission, presence = m.Admission.__table__.c, m.Presence.__table__.c
        attendance, instance = m.Attendance.__table__.c, m.Instance.__table__.c
        # Each grant with its holder (the holder's columns None if that row is gone), named as
        # `_participant` reads them.
        self.principals = (
            select(
                grant.id.label("grant_id"),
                grant.participant_id,
                grant.role.label("grant_role"),
                grant.event_id.label("grant_event_id"),
                grant.session_id,
                grant.revoked_at,
                person.id,
                person.event_id,
                person.display_name,
                person.affiliation,
                person.stakeholder_group,
                person.country,
                person.role,
            )
            .outerjoin_from(m.RoleGrant.__table__, m.Participant.__table__, person.id == grant.participant_id)
            .where(among.values(grant.id, "grant_ids"))
        )
        # Each session with its event; `banning`: an event with an active ban sends everyone through the
        # waiting room's full check.
        banning = select(ban.id).where(ban.event_id == session.event_id, ban.lifted_at.is_(None)).exists()
        self.sessions = (
            select(
                *SESSION_COLUMNS,
                session.waiting_room,
                event.slug,
                event.title.label("event_title"),
                event.venue,
                event.timezone,
                banning.label("banning"),
            )
            .join_from(m.Session.__table__, m.Event.__table__, event.id == session.event_id)
            .where(among.values(session.id, "session_ids"))
        )
        self.admissions = select(admission.session_id, admission.participant_id, admission.state).where(
            among.pairs((admission.session_id, admission.participant_id), "admissions")
        )
        self.grants = select(grant.id, grant.participant_id, grant.revoked_at).where(
            among.values(grant.id, "grant_ids")
        )
        self.people = select(person.id).where(among.values(person.id, "participant_ids"))
        self.standing_versions = select(event.id, event.standing_version).where(
            among.values(event.id, "event_ids")
        )
        # Connections held on the processes still alive (a heartbeat since `cutoff`).
        self.held = (
            select(presence.participant_id, func.count())
            .join_from(m.Presence.__table__, m.Instance.__table__, instance.id == presence.instance_id)
            .where(
                among.values(presence.participant_id, "participant_ids"),
                instance.heartbeat_at >= bindparam("cutoff"),
            )
            .group_by(presence.participant_id)
        )
        self.record_presence = insert(_table(m.Presence))
        self.record_attendance = insert(_table(m.Attendance))
        connection = (presence.instance_id, presence.sid)
        self.present = select(*connection, presence.session_id).where(among.pairs(connection, "connections"))
        self.unpresent = delete(_table(m.Presence)).where(among.pairs(connection, "connections"))
        self.left = (
            update(_table(m.Attendance))
            .where(
                among.pairs((attendance.instance_id, attendance.sid), "connections"),
                attendance.left_at.is_(None),
            )
            .values(left_at=bindparam("left_at"))
        )


class Store:
    """The shared store: events and sessions, participants and their links (grants), the audit log, the
    processes and presence; and `bump_and_lock`, on which server/db/versioned.py builds every store's
    versioned transaction."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._sessions = sessions(engine)
        self._crowd = _CrowdStatements(Among.of(engine))
        self._session_reads: GatheredReads[int, SessionInfo] = GatheredReads(self._read_session)
        self._event_reads: GatheredReads[int, EventInfo] = GatheredReads(self._read_event)
        # A crowd joining at once: their tokens' grants read, and their connections forgotten, many per
        # transaction (server/db/gathered.py) instead of one transaction each in line for the database; their
        # connections are recorded with their welcome's reads (server/db/snapshot_store.py).
        self._summary_reads: GatheredReads[tuple[int, timedelta], dict[str, Any]] = GatheredReads(
            self._read_presence_summary
        )
        self._principal_calls: GatheredCalls[tuple[int, int], Principal] = GatheredCalls(
            self._principals, "principals"
        )
        self._arrival_calls: GatheredCalls[_Arriving, Arrival] = GatheredCalls(
            self._arrivals, "arrivals", spacing=CROWD_SPACING_SECONDS
        )
        self._leaving_calls: GatheredCalls[tuple[str, str], int | None] = GatheredCalls(
            self._remove_presences, "leaving", spacing=CROWD_SPACING_SECONDS
        )

    def _tx(self) -> AsyncSession:
        return self._sessions()

    # -- events and sessions ------------------------------------------------------------------

    async def ensure_event(
        self, slug: str, title: str, venue: str = "", timezone: str = "Europe/Zurich"
    ) -> tuple[EventInfo, bool]:
        """The event with this slug, created if missing; the flag says whether it was created."""
        async with self._tx() as tx, tx.begin():
            row = await tx.scalar(select(m.Event).where(m.Event.slug == slug))
            if row is not None:
                return _event(row), False
            row = m.Event(slug=slug, title=title, venue=venue, timezone=timezone, created_at=self.clock())
            tx.add(row)
            await tx.flush()
            return _event(row), True

    async def get_event(self, event_id: int) -> EventInfo:
        """The event as committed when this was called (concurrent calls share one read)."""
        return await self._event_reads.get(event_id)

    async def _read_event(self, event_id: int) -> EventInfo:
        async with self._tx() as tx:
            row = await tx.get(m.Event, event_id)
            if row is None:
                raise NotFound(f"there is no event {event_id}", code="unknown_event")
            return _event(row)

    async def find_event(self, slug: str) -> EventInfo | None:
        async with self._tx() as tx:
            row = await tx.scalar(select(m.Event).where(m.Event.slug == slug))
            return _event(row) if row else None

    async def list_events(self) -> list[EventInfo]:
        async with self._tx() as tx:
            return [_event(r) for r in await tx.scalars(select(m.Event).order_by(m.Event.id))]

    async def upsert_sessions(self, event_id: int, drafts: Iterable[SessionDraft]) -> tuple[int, int]:
        """Store an agenda in one transaction, matching sessions by their agenda ref.

        Returns (created, updated). The state of an existing session is never touched by an import.
        """
        created = updated = 0
        async with self._tx() as tx, tx.begin():
            if await tx.get(m.Event, event_id) is None:
                raise NotFound(f"there is no event {event_id}", code="unknown_event")
            for draft in drafts:
                row = await tx.scalar(
                    select(m.Session).where(m.Session.event_id == event_id, m.Session.ref == draft.ref)
                )
                fields = draft.columns()
                if row is None:
                    tx.add(
                        m.Session(
                            event_id=event_id,
                            ref=draft.ref,
                            state=draft.state.value,
                            state_changed_at=self.clock()
                            if draft.state is not SessionState.SCHEDULED
                            else None,
                            created_at=self.clock(),
                            **fields,
                        )
                    )
                    created += 1
                else:
                    for key, value in fields.items():
                        setattr(row, key, value)
                    updated += 1
        return created, updated

    async def get_session(self, session_id: int) -> SessionInfo:
        """The session as committed when this was called (concurrent calls share one read)."""
        return await self._session_reads.get(session_id)

    async def _read_session(self, session_id: int) -> SessionInfo:
        async with self._tx() as tx:
            row = await tx.get(m.Session, session_id)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            return _session(row)

    async def list_sessions(self, event_id: int) -> list[SessionInfo]:
        async with self._tx() as tx:
            rows = await tx.scalars(
                select(m.Session)
                .where(m.Session.event_id == event_id)
                .order_by(m.Session.starts_at, m.Session.id)
            )
            return [_session(r) for r in rows]

    async def set_session_state(self, actor: Principal, session_id: int, target: SessionState) -> SessionInfo:
        """Move a session to a new state and audit it, as one compare-and-set transaction.

        The UPDATE names the state it read, so two processes racing on one session cannot both win.
        """
        async with self._tx() as tx, tx.begin():
            row = await tx.get(m.Session, session_id)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            current = SessionState(row.state)
            check_transition(current, target)
            now = self.clock()
            result = await tx.execute(
                update(m.Session)
                .where(m.Session.id == session_id, m.Session.state == current.value)
                .values(state=target.value, state_changed_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise Conflict("the session changed meanwhile: reload and try again", code="stale_state")
            tx.add(
                self._audit(
                    actor,
                    "session.set_state",
                    f"session:{session_id}",
                    {"from": current.value, "to": target.value},
                    session_id,
                )
            )
            await tx.flush()
            await tx.refresh(row)
            return _session(row)

    async def bump_and_lock(self, tx: AsyncSession, session_id: int, counter: str) -> m.Session:
        """Start a serialised change to one part of a session (its queue, its questions).

        Incrementing the counter first takes the row lock on PostgreSQL and the write lock on SQLite, so
        concurrent changes from any process wait for each other; the new value tells clients which update
        is the newest.
        """
        column = getattr(m.Session, counter)
        bumped = await tx.execute(
            update(m.Session)
            .where(m.Session.id == session_id)
            .values({counter: column + 1})
            .execution_options(synchronize_session=False)
        )
        if getattr(bumped, "rowcount", 0) != 1:
            raise NotFound(f"there is no session {session_id}", code="unknown_session")
        session = await tx.get(m.Session, session_id, populate_existing=True)
        assert session is not None
        return session

    # -- participants, grants, principals -------------------------------------------------------

    async def register_attendee(
        self, event_id: int, registration: Registration
    ) -> tuple[ParticipantInfo, int]:
        """Store a self-registration and its event-wide attendee grant; returns (participant, grant id)."""
        async with self._tx() as tx, tx.begin():
            if await tx.get(m.Event, event_id) is None:
                raise NotFound(f"there is no event {event_id}", code="unknown_event")
            now = self.clock()
            row = m.Participant(
                event_id=event_id,
                display_name=registration.display_name,
                affiliation=registration.affiliation,
                stakeholder_group=registration.stakeholder_group.value,
                country=registration.country,
                consent_demographics=registration.consent_demographics,
                gender=registration.gender.value if registration.gender else None,
                age_band=registration.age_band.value if registration.age_band else None,
                role=Role.ATTENDEE.value,
                created_at=now,
            )
            tx.add(row)
            await tx.flush()
            grant = m.RoleGrant(
                event_id=event_id,
                session_id=None,
                participant_id=row.id,
                role=Role.ATTENDEE.value,
                created_at=now,
            )
            tx.add(grant)
            await tx.flush()
            return _participant(row), grant.id

    async def staff_grant(
        self, event_id: int, session_id: int | None, role: Role, actor: Principal | None = None
    ) -> tuple[ParticipantInfo, int]:
        """The active link grant for a role (per session, or event-wide for admin), created once.

        Handing out links again re-signs tokens for the same grant, so the holder stays the same person.
        """
        async with self._tx() as tx, tx.begin():
            if await tx.get(m.Event, event_id) is None:
                raise NotFound(f"there is no event {event_id}", code="unknown_event")
            if session_id is not None:
                session = await tx.get(m.Session, session_id)
                if session is None or session.event_id != event_id:
                    raise NotFound(f"there is no session {session_id} in this event", code="unknown_session")
            query = (
                select(m.RoleGrant)
                .where(
                    m.RoleGrant.event_id == event_id,
                    m.RoleGrant.role == role.value,
                    m.RoleGrant.revoked_at.is_(None),
                    m.RoleGrant.session_id.is_(None)
                    if session_id is None
                    else m.RoleGrant.session_id == session_id,
                    # An interpreter's own link for some booths (issue 21) is someone else's: the role's link
                    # names no booth.
                    ~exists().where(m.BoothMember.grant_id == m.RoleGrant.id),
                )
                .order_by(m.RoleGrant.id)
                .limit(1)
            )
            grant = await tx.scalar(query)
            if grant is not None:
                person = await tx.get(m.Participant, grant.participant_id)
                assert person is not None  # the foreign key guarantees it
                return _participant(person), grant.id
            return await self.add_holder(tx, event_id, session_id, role, role.label, actor)

    async def add_holder(
        self,
        tx: AsyncSession,
        event_id: int,
        session_id: int | None,
        role: Role,
        name: str,
        actor: Principal | None,
        details: dict[str, Any] | None = None,
    ) -> tuple[ParticipantInfo, int]:
        """In the caller's transaction: a new person holding a new link grant for the role, audited as
        ``grant.create`` (with ``details`` beside the role)."""
        person = m.Participant(
            event_id=event_id, display_name=name, affiliation="", role=role.value, created_at=self.clock()
        )
        tx.add(person)
        await tx.flush()
        grant = m.RoleGrant(
            event_id=event_id,
            session_id=session_id,
            participant_id=person.id,
            role=role.value,
            created_at=person.created_at,
            created_by=actor.participant.id if actor else None,
        )
        tx.add(grant)
        await tx.flush()
        tx.add(
            self._audit(
                actor,
                "grant.create",
                f"grant:{grant.id}",
                {"role": role.value, **(details or {})},
                session_id,
                event_id=event_id,
            )
        )
        return _participant(person), grant.id

    async def principal(self, grant_id: int, participant_id: int) -> Principal:
        """Resolve a verified token's grant; a revoked or unknown grant is refused. Gathered with the other
        tokens being resolved at the moment: one transaction for all of them."""
        return await self._principal_calls.call((grant_id, participant_id))

    async def _principals(self, asks: list[tuple[int, int]]) -> list[Principal | BaseException]:
        async with self._tx() as tx:
            return await self._principals_in(tx, asks)

    async def arrive(
        self, grant_id: int, participant_id: int, session_id: int, default: WaitingRoom
    ) -> Arrival:
        """A connection's first reads: its token's grant and holder, the session and its event, and whether
        the waiting room lets them straight in. A crowd arriving at once is answered in one transaction per
        batch (server/db/gathered.py) rather than three each. A grant's refusal comes before a session's."""
        return await self._arrival_calls.call(_Arriving(grant_id, participant_id, session_id, default))

    async def _arrivals(self, asks: list[_Arriving]) -> list[Arrival | BaseException]:
        crowd = self._crowd
        async with self._tx() as tx:
            principals = await self._principals_in(tx, [(a.grant_id, a.participant_id) for a in asks])
            rows = await tx.execute(crowd.sessions, {"session_ids": listed(a.session_id for a in asks)})
            sessions = {row.id: row for row in rows}
            admitted = await tx.execute(
                crowd.admissions,
                crowd.among.pair_values("admissions", ((a.session_id, a.participant_id) for a in asks)),
            )
            admissions = {(session_id, pid): state for session_id, pid, state in admitted}
        answers: list[Arrival | BaseException] = []
        for ask, principal in zip(asks, principals, strict=True):
            found = sessions.get(ask.session_id)
            if isinstance(principal, BaseException):
                answers.append(principal)
            elif found is None:
                answers.append(NotFound(f"there is no session {ask.session_id}", code="unknown_session"))
            else:
                state = admissions.get((ask.session_id, ask.participant_id))
                straight_in = (
                    state == Admission.ADMITTED.value
                    if state is not None
                    else not waiting_room_on(found.waiting_room, found.is_public, ask.default)
                    and not found.banning
                )
                its_event = EventInfo(
                    id=found.event_id,
                    slug=found.slug,
                    title=found.event_title,
                    venue=found.venue,
                    timezone=found.timezone,
                )
                answers.append(Arrival(principal, _session(found), its_event, straight_in))
        return answers

    async def _principals_in(
        self, tx: AsyncSession, asks: list[tuple[int, int]]
    ) -> list[Principal | BaseException]:
        # Each grant with its holder: one query for the batch.
        rows = await tx.execute(
            self._crowd.principals, {"grant_ids": listed(grant_id for grant_id, _ in asks)}
        )
        grants = {row.grant_id: row for row in rows}
        answers: list[Principal | BaseException] = []
        for grant_id, participant_id in asks:
            row = grants.get(grant_id)
            refusal = _grant_refusal(row, participant_id, row is not None and row.id is not None)
            if refusal is not None:
                answers.append(refusal)
                continue
            assert row is not None
            answers.append(
                Principal(
                    participant=_participant(row),
                    grant_id=row.grant_id,
                    role=Role(row.grant_role),
                    event_id=row.grant_event_id,
                    session_id=row.session_id,
                )
            )
        return answers

    async def standings(self, asks: Collection[Standing]) -> dict[Standing, HemicycleError | None]:
        """For each person about to write, the refusal their write gets (None: it may go on): their grant
        must stand and, when a session is named, they must be admitted to it. One transaction for all."""
        crowd = self._crowd
        async with self._tx() as tx:
            rows = await tx.execute(crowd.grants, {"grant_ids": listed(ask.grant_id for ask in asks)})
            grants = {grant.id: grant for grant in rows}
            people = set(
                await tx.scalars(
                    crowd.people, {"participant_ids": listed(ask.participant_id for ask in asks)}
                )
            )
            keys = [(ask.session_id, ask.participant_id) for ask in asks if ask.session_id is not None]
            admissions: dict[tuple[int, int], str] = {}
            if keys:
                rows = await tx.execute(crowd.admissions, crowd.among.pair_values("admissions", keys))
                admissions = {(row.session_id, row.participant_id): row.state for row in rows}
        answers: dict[Standing, HemicycleError | None] = {}
        for ask in asks:
            refusal: HemicycleError | None = _grant_refusal(
                grants.get(ask.grant_id), ask.participant_id, ask.participant_id in people
            )
            if refusal is None and ask.session_id is not None:
                refusal = admission_refusal(admissions.get((ask.session_id, ask.participant_id)))
            answers[ask] = refusal
        return answers

    async def bump_standing(self, tx: AsyncSession, event_id: int) -> None:
        """Say, in the caller's transaction, that someone's standing in the event may have changed.

        Every process polls the version (standing_versions) and re-checks its connections to the event when
        it moved: a ban or a withdrawn link reaches them through the database even when Redis is down. Taken
        before any grant row, so that two changes lock the event first and never wait for each other.
        """
        await tx.execute(
            update(m.Event)
            .where(m.Event.id == event_id)
            .values(standing_version=m.Event.standing_version + 1)
            .execution_options(synchronize_session=False)
        )

    async def standing_versions(self, event_ids: Collection[int]) -> dict[int, int]:
        """The standing version of each event: one small read, made every second by every process."""
        async with self._tx() as tx:
            rows = await tx.execute(self._crowd.standing_versions, {"event_ids": listed(event_ids)})
            return {event_id: int(version) for event_id, version in rows}

    async def ping(self) -> None:
        """One round trip to the database: raises when it cannot be reached."""
        async with self.engine.connect() as connection:
            await connection.execute(select(1))

    async def grant(self, grant_id: int) -> GrantInfo:
        async with self._tx() as tx:
            row = await tx.get(m.RoleGrant, grant_id)
            if row is None:
                raise NotFound(f"there is no grant {grant_id}", code="unknown_grant")
            return _grant(row)

    async def revoke_grant(self, actor: Principal | None, grant_id: int) -> GrantInfo:
        async with self._tx() as tx, tx.begin():
            grant = await tx.get(m.RoleGrant, grant_id)
            if grant is None:
                raise NotFound(f"there is no grant {grant_id}", code="unknown_grant")
            if grant.revoked_at is not None:
                raise Conflict("this link was already withdrawn", code="no_change")
            await self.bump_standing(tx, grant.event_id)
            grant.revoked_at = self.clock()
            tx.add(
                self._audit(
                    actor,
                    "grant.revoke",
                    f"grant:{grant_id}",
                    {"role": grant.role, "participant": grant.participant_id},
                    grant.session_id,
                    event_id=grant.event_id,
                )
            )
            return _grant(grant)

    async def reissue_grant(self, actor: Principal | None, grant_id: int) -> GrantInfo:
        """Withdraw a grant (if it still stands) and give its holder a new one, in one transaction: the old
        link stops working and the new one names the same person, so their record stays theirs."""
        async with self._tx() as tx, tx.begin():
            old = await tx.get(m.RoleGrant, grant_id)
            if old is None:
                raise NotFound(f"there is no grant {grant_id}", code="unknown_grant")
            banned = await tx.scalar(
                select(m.Ban.id).where(
                    m.Ban.event_id == old.event_id,
                    m.Ban.participant_id == old.participant_id,
                    m.Ban.lifted_at.is_(None),
                )
            )
            if banned is not None:
                raise Conflict("this person is banned: lift the ban first", code="banned")
            await self.bump_standing(tx, old.event_id)
            now = self.clock()
            if old.revoked_at is None:
                old.revoked_at = now
            new = m.RoleGrant(
                event_id=old.event_id,
                session_id=old.session_id,
                participant_id=old.participant_id,
                role=old.role,
                created_at=now,
                created_by=actor.participant.id if actor else None,
            )
            tx.add(new)
            await tx.flush()
            tx.add(
                self._audit(
                    actor,
                    "grant.reissue",
                    f"grant:{grant_id}",
                    {"role": old.role, "participant": old.participant_id, "new_grant": new.id},
                    old.session_id,
                    event_id=old.event_id,
                )
            )
            return _grant(new)

    # -- audit -------------------------------------------------------------------------------

    def _audit(
        self,
        actor: Principal | None,
        action: str,
        target: str,
        details: dict[str, Any],
        session_id: int | None,
        *,
        event_id: int | None = None,
    ) -> m.AuditEntry:
        resolved_event = event_id if event_id is not None else (actor.event_id if actor else None)
        if resolved_event is None:
            raise ValueError("an audit entry needs an event")
        return m.AuditEntry(
            event_id=resolved_event,
            session_id=session_id,
            actor_id=actor.participant.id if actor else None,
            actor_role=actor.role.value if actor else "system",
            action=action,
            target=target,
            details=details,
            created_at=self.clock(),
        )

    async def audit_log(self, session_id: int, limit: int = 200) -> list[dict[str, Any]]:
        async with self._tx() as tx:
            rows = await tx.execute(
                select(m.AuditEntry, m.Participant.display_name)
                .outerjoin(m.Participant, m.Participant.id == m.AuditEntry.actor_id)
                .where(m.AuditEntry.session_id == session_id)
                .order_by(m.AuditEntry.id.desc())
                .limit(limit)
            )
            return [
                {
                    "id": entry.id,
                    "at": entry.created_at.isoformat().replace("+00:00", "Z"),
                    "actor": {"id": entry.actor_id, "name": name, "role": entry.actor_role},
                    "action": entry.action,
                    "target": entry.target,
                    "details": entry.details,
                }
                for entry, name in rows
            ]

    async def visits(self, session_id: int) -> list[Visit]:
        """Every connection the session had, with who made it, for the attendance record."""
        async with self._tx() as tx:
            rows = await tx.execute(
                select(
                    m.Attendance.participant_id,
                    m.Attendance.role,
                    m.Participant.stakeholder_group,
                    m.Participant.country,
                    m.Attendance.joined_at,
                    m.Attendance.left_at,
                )
                .join(m.Participant, m.Participant.id == m.Attendance.participant_id)
                .where(m.Attendance.session_id == session_id)
                .order_by(m.Attendance.joined_at, m.Attendance.id)
            )
            return [Visit(*row) for row in rows]

    # -- processes and presence -----------------------------------------------------------------

    async def register_instance(self, instance_id: str, host: str, pid: int) -> None:
        now = self.clock()
        async with self._tx() as tx, tx.begin():
            tx.add(m.Instance(id=instance_id, host=host, pid=pid, started_at=now, heartbeat_at=now))

    async def heartbeat(self, instance_id: str) -> None:
        async with self._tx() as tx, tx.begin():
            await tx.execute(
                update(m.Instance).where(m.Instance.id == instance_id).values(heartbeat_at=self.clock())
            )

    async def reap_instances(self, silent_for: timedelta, keep: str | None = None) -> set[int]:
        """Forget processes that stopped beating, never `keep` (the caller: it knows it is alive, whatever
        its last beat says); returns the sessions whose presence changed."""
        cutoff = self.clock() - silent_for
        async with self._tx() as tx, tx.begin():
            silent = select(m.Instance.id).where(m.Instance.heartbeat_at < cutoff)
            if keep is not None:
                silent = silent.where(m.Instance.id != keep)
            dead = list(await tx.scalars(silent))
            if not dead:
                return set()
            sessions = set(
                await tx.scalars(
                    select(m.Presence.session_id).where(m.Presence.instance_id.in_(dead)).distinct()
                )
            )
            # A dead process's connections left, at the latest, when it last beat.
            last_beat = (
                select(m.Instance.heartbeat_at)
                .where(m.Instance.id == m.Attendance.instance_id)
                .scalar_subquery()
            )
            await tx.execute(
                update(m.Attendance)
                .where(m.Attendance.instance_id.in_(dead), m.Attendance.left_at.is_(None))
                .values(left_at=last_beat)
                .execution_options(synchronize_session=False)
            )
            await tx.execute(delete(m.Presence).where(m.Presence.instance_id.in_(dead)))
            await tx.execute(delete(m.Instance).where(m.Instance.id.in_(dead)))
            return sessions

    async def drop_instance(self, instance_id: str) -> set[int]:
        """A clean shutdown: this process's connections are gone."""
        async with self._tx() as tx, tx.begin():
            sessions = set(
                await tx.scalars(
                    select(m.Presence.session_id).where(m.Presence.instance_id == instance_id).distinct()
                )
            )
            await tx.execute(
                update(m.Attendance)
                .where(m.Attendance.instance_id == instance_id, m.Attendance.left_at.is_(None))
                .values(left_at=self.clock())
                .execution_options(synchronize_session=False)
            )
            await tx.execute(delete(m.Presence).where(m.Presence.instance_id == instance_id))
            await tx.execute(delete(m.Instance).where(m.Instance.id == instance_id))
            return sessions

    async def record_presences(self, tx: AsyncSession, joining: list[Joining]) -> None:
        """Write the presence and attendance rows of these connections in `tx`: two statements, whatever their
        number, and plain inserts, not ORM objects (none is read back). IntegrityError if one is there."""
        now = self.clock()
        rows = [
            {
                "instance_id": one.instance_id,
                "sid": one.sid,
                "session_id": one.session_id,
                "participant_id": one.principal.participant.id,
                "role": one.principal.role.value,
            }
            for one in joining
        ]
        await tx.execute(self._crowd.record_presence, [{**row, "connected_at": now} for row in rows])
        await tx.execute(self._crowd.record_attendance, [{**row, "joined_at": now} for row in rows])

    async def live_connections_in(
        self, tx: AsyncSession, participant_ids: Collection[int], live_within: timedelta
    ) -> dict[int, int]:
        """How many connections each of these participants holds, on every process still alive (one whose
        heartbeat is within `live_within`: a process that died leaves rows that no longer count)."""
        cutoff = self.clock() - live_within
        rows = await tx.execute(
            self._crowd.held, {"participant_ids": listed(participant_ids), "cutoff": cutoff}
        )
        return {participant_id: int(count) for participant_id, count in rows}

    async def remove_presence(self, instance_id: str, sid: str) -> int | None:
        """Forget one connection; returns its session, or None if it was not present. Gathered with the
        other connections closing at the moment (a crowd leaving, or dropped by a network failure)."""
        return await self._leaving_calls.call((instance_id, sid))

    async def _remove_presences(self, leaving: list[tuple[str, str]]) -> list[int | BaseException | None]:
        crowd = self._crowd
        async with self._tx() as tx, tx.begin():
            rows = await tx.execute(crowd.present, crowd.among.pair_values("connections", leaving))
            sessions = {(instance_id, sid): session_id for instance_id, sid, session_id in rows}
            if sessions:
                present = crowd.among.pair_values("connections", sessions)
                await tx.execute(crowd.unpresent, present)
                await tx.execute(crowd.left, {**present, "left_at": self.clock()})
        return [sessions.get(key) for key in leaving]

    async def presence_summary(self, session_id: int, live_within: timedelta) -> dict[str, Any]:
        """The counts alone, aggregated by the database: what a joining attendee needs, at any size. The
        joiners of a moment share one count (each read starts after its caller asked)."""
        return dict(await self._summary_reads.get((session_id, live_within)))

    async def _read_presence_summary(self, key: tuple[int, timedelta]) -> dict[str, Any]:
        session_id, live_within = key
        cutoff = self.clock() - live_within
        async with self._tx() as tx:
            rows = await tx.execute(
                select(
                    m.Presence.role,
                    m.Participant.stakeholder_group,
                    func.count(distinct(m.Presence.participant_id)),
                )
                .join(m.Participant, m.Participant.id == m.Presence.participant_id)
                .join(m.Instance, m.Instance.id == m.Presence.instance_id)
                .where(m.Presence.session_id == session_id, m.Instance.heartbeat_at >= cutoff)
                .group_by(m.Presence.role, m.Participant.stakeholder_group)
            )
            return summarize(session_id, [(role, group, int(count)) for role, group, count in rows])

    async def presence(self, session_id: int, live_within: timedelta) -> PresenceSnapshot:
        """Everyone connected to the session through a process that is still alive."""
        cutoff = self.clock() - live_within
        async with self._tx() as tx:
            rows = await tx.execute(
                select(
                    m.Participant,
                    m.Presence.role,
                    func.count(m.Presence.sid),
                    func.min(m.Presence.connected_at),
                )
                .join(m.Presence, m.Presence.participant_id == m.Participant.id)
                .join(m.Instance, m.Instance.id == m.Presence.instance_id)
                .where(m.Presence.session_id == session_id, m.Instance.heartbeat_at >= cutoff)
                .group_by(m.Participant.id, m.Presence.role)
            )
            people = []
            for person, role, connections, since in rows:
                # Aggregates bypass the column type on SQLite, so normalise the timestamp here.
                since_at = m.UTCDateTime().process_result_value(
                    since if isinstance(since, datetime) else datetime.fromisoformat(str(since)),
                    self.engine.dialect,
                )
                assert since_at is not None
                people.append(PresentPerson(_participant(person), Role(role), int(connections), since_at))
            return PresenceSnapshot(session_id=session_id, people=tuple(people))
