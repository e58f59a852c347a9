"""Participant moderation's durable state: admissions (the waiting room), mutes, bans and registration
origins.

Each change is one versioned transaction on the session's moderation_version (server/db/versioned.py), as
the queue's and the questions' are: changes from any process are serialised, and clients keep the newest
broadcast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import Conflict, Forbidden, NotFound
from ..domain.model import ParticipantInfo, Principal, iso
from ..domain.moderation import (
    MODERATING,
    Admission,
    AdmitRules,
    Flag,
    Grant,
    Reach,
    WaitingRoom,
    check_target,
    check_version,
    entry_refusal,
    waiting_room_on,
)
from ..domain.roles import Role
from . import models as m
from .engine import sessions
from .store import Store, _participant
from .versioned import Versioned, versioned

# The audit actions that make the moderation record (exported with the session record).
MODERATION_ACTIONS = (
    "participant.admit",
    "participant.admit_all",
    "participant.remove",
    "participant.ban",
    "participant.unban",
    "participant.mute",
    "moderation.settings",
    "queue.remove",
    "queue.lower_all",
    "question.dismiss",
)
LIVE_AUDIT = 50


@dataclass(frozen=True)
class AdmissionInfo:
    """One participant's admission to a session as stored: state, version, flags, reason and mutes."""

    participant: ParticipantInfo
    state: Admission
    version: int
    flags: dict[str, Any]
    reason: str | None
    waiting_since: datetime | None
    decided_at: datetime | None
    muted_audio: bool
    muted_video: bool

    def staff(self) -> dict[str, Any]:
        return {
            **self.participant.public(),
            "state": self.state.value,
            "version": self.version,
            "flags": self.flags,
            "reason": self.reason,
            "waiting_since": iso(self.waiting_since),
            "decided_at": iso(self.decided_at),
            "muted": {"audio": self.muted_audio, "video": self.muted_video},
        }


@dataclass(frozen=True)
class BanInfo:
    """An active ban from an event: whom, why, when and by whom."""

    id: int
    participant: ParticipantInfo
    reason: str
    created_at: datetime
    created_by: int | None

    def staff(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "participant": self.participant.public(),
            "reason": self.reason,
            "at": iso(self.created_at),
            "by": self.created_by,
        }


@dataclass(frozen=True)
class Gate:
    """What a connecting attendee meets: straight in, or the waiting room (and whether a row changed)."""

    admitted: bool
    changed: bool
    admission: AdmissionInfo | None


@dataclass(frozen=True)
class ParticipantModerationState:
    """A session's moderation of participants as one snapshot at its `version`: the waiting room, its rules,
    the admissions, the event's bans and the latest audit entries."""

    session_id: int
    version: int
    waiting_room: bool
    waiting_room_setting: bool | None
    rules: AdmitRules
    admissions: tuple[AdmissionInfo, ...]
    bans: tuple[BanInfo, ...]
    audit: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def _admission(row: m.Admission, person: m.Participant) -> AdmissionInfo:
    return AdmissionInfo(
        participant=_participant(person),
        state=Admission(row.state),
        version=row.version,
        flags=dict(row.flags or {}),
        reason=row.reason,
        waiting_since=row.waiting_since,
        decided_at=row.decided_at,
        muted_audio=row.muted_audio,
        muted_video=row.muted_video,
    )


class ParticipantModerationStore:
    """Participant moderation's persistence for one database; the rules come from server.domain.moderation."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)

    # -- helpers --------------------------------------------------------------------------------

    @asynccontextmanager
    async def locked(self, session_id: int, *, standing: bool = True) -> AsyncIterator[Versioned]:
        """A moderators' change may end someone's right to stay connected, so the event's standing version
        moves with it. An attendee's own comings and goings in the waiting room pass standing=False."""

        async def bump_standing(tx: AsyncSession, session: m.Session) -> None:
            await self.store.bump_standing(tx, session.event_id)

        async with versioned(
            self.store,
            self._sessions,
            session_id,
            "moderation_version",
            also=bump_standing if standing else None,
        ) as v:
            yield v

    def _audit(
        self,
        q: Versioned,
        actor: Principal | None,
        action: str,
        target: str,
        details: dict[str, Any],
    ) -> None:
        q.tx.add(self.store._audit(actor, action, target, details, q.session.id, event_id=q.session.event_id))

    async def _person(self, tx: AsyncSession, event_id: int, participant_id: int) -> m.Participant:
        person = await tx.get(m.Participant, participant_id)
        if person is None or person.event_id != event_id:
            raise NotFound(
                f"there is no participant {participant_id} in this event", code="unknown_participant"
            )
        return person

    async def _row(self, tx: AsyncSession, session_id: int, participant_id: int) -> m.Admission | None:
        row: m.Admission | None = await tx.scalar(
            select(m.Admission).where(
                m.Admission.session_id == session_id, m.Admission.participant_id == participant_id
            )
        )
        return row

    def _new_row(self, q: Versioned, participant_id: int, state: Admission) -> m.Admission:
        row = m.Admission(
            session_id=q.session.id,
            participant_id=participant_id,
            state=state.value,
            version=0,
            flags={},
            muted_audio=False,
            muted_video=False,
        )
        q.tx.add(row)
        return row

    async def _check_target(
        self,
        tx: AsyncSession,
        actor: Principal,
        session: m.Session,
        target: int,
        action: str,
        reach: Reach,
        restoring: Collection[int] = (),
    ) -> None:
        """Load what the target rule needs, in one query, and apply it (server.domain.moderation).

        The facts: the target's live grants anywhere in the event, those an unban would give back
        (`restoring`), and everyone's live moderating grants for the last-moderator rule.
        """
        grant = m.RoleGrant
        wanted = and_(
            grant.revoked_at.is_(None),
            or_(grant.participant_id == target, grant.role.in_([r.value for r in MODERATING])),
        )
        if restoring:
            wanted = or_(wanted, grant.id.in_(list(restoring)))
        rows = await tx.execute(
            select(grant.participant_id, grant.role, grant.session_id).where(
                grant.event_id == session.event_id, wanted
            )
        )
        check_target(
            actor_participant=actor.participant.id,
            actor_role=actor.role,
            session_id=session.id,
            target_participant=target,
            grants=[Grant(participant_id, Role(role), where) for participant_id, role, where in rows],
            action=action,
            reach=reach,
        )

    async def _possible_ban(
        self, tx: AsyncSession, event_id: int, participant_id: int
    ) -> dict[str, Any] | None:
        """An active ban in the event from the same browser or address as this participant registered from.

        One query (NULL never equals NULL, so a missing browser id or address matches nothing).
        """
        origin, ban = m.ParticipantOrigin, m.Ban
        found = (
            await tx.execute(
                select(ban.id, ban.browser_id == origin.browser_id)
                .join(
                    origin,
                    and_(
                        origin.participant_id == participant_id,
                        or_(ban.browser_id == origin.browser_id, ban.address == origin.address),
                    ),
                )
                .where(
                    ban.event_id == event_id, ban.lifted_at.is_(None), ban.participant_id != participant_id
                )
                .order_by(ban.id.desc())
                .limit(1)
            )
        ).first()
        if found is None:
            return None
        ban_id, same_browser = found
        return {"ban_id": ban_id, "match": "browser" if same_browser else "address"}

    # -- registration ---------------------------------------------------------------------------

    async def record_origin(self, participant_id: int, browser_id: str | None, address: str | None) -> None:
        async with self._sessions() as tx, tx.begin():
            tx.add(
                m.ParticipantOrigin(
                    participant_id=participant_id,
                    browser_id=browser_id,
                    address=(address or None) and address[:64],
                    created_at=self.store.clock(),
                )
            )

    # -- the waiting room -----------------------------------------------------------------------

    async def gate(self, principal: Principal, session_id: int, default: WaitingRoom) -> Gate:
        """Let an attendee in, or make them wait. Those who go straight in (Store.arrive) never come here."""
        # Reads first: joining an open session, or coming back admitted, writes nothing and takes no lock.
        async with self._sessions() as tx:
            found = (
                await tx.execute(
                    select(m.Session, m.Admission)
                    .outerjoin(
                        m.Admission,
                        and_(
                            m.Admission.session_id == m.Session.id,
                            m.Admission.participant_id == principal.participant.id,
                        ),
                    )
                    .where(m.Session.id == session_id)
                )
            ).first()
            if found is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            # The outer join gives no admission row (None) to someone never decided on here.
            session: m.Session = found[0]
            row: m.Admission | None = found[1]
            if row is not None and row.state == Admission.ADMITTED.value:
                return Gate(True, False, None)
            if row is not None and row.state == Admission.WAITING.value:
                person = await tx.get(m.Participant, principal.participant.id)
                assert person is not None
                return Gate(False, False, _admission(row, person))
            open_session = row is None and not _waiting_room_on(session, default)
            if open_session and not await self._possible_ban(tx, session.event_id, principal.participant.id):
                return Gate(True, False, None)
        async with self.locked(session_id, standing=False) as q:
            row = await self._row(q.tx, session_id, principal.participant.id)
            person = await q.tx.get(m.Participant, principal.participant.id)
            assert person is not None
            if row is not None and row.state == Admission.ADMITTED.value:
                return Gate(True, False, None)
            if row is not None and row.state == Admission.WAITING.value:
                return Gate(False, False, _admission(row, person))
            flags: dict[str, Any] = {}
            possible = await self._possible_ban(q.tx, q.session.event_id, principal.participant.id)
            if possible:
                flags[Flag.POSSIBLY_BANNED.value] = possible
            if row is not None and row.state == Admission.REMOVED.value:
                flags[Flag.REMOVED_BEFORE.value] = True
            if row is None and not flags:
                on = _waiting_room_on(q.session, default)
                rule = AdmitRules.from_stored(q.session.admit_rules).matches(
                    person.stakeholder_group, person.affiliation
                )
                if not on:
                    # An open session: no row, no write beyond the version bump, nothing to tell moderators.
                    return Gate(True, False, None)
                if rule:
                    row = self._new_row(q, person.id, Admission.ADMITTED)
                    row.version = 1
                    row.decided_at = q.now
                    self._audit(
                        q,
                        None,
                        "participant.admit",
                        f"participant:{person.id}",
                        {"name": person.display_name, "rule": rule},
                    )
                    await q.tx.flush()
                    return Gate(True, True, _admission(row, person))
            if row is None:
                row = self._new_row(q, person.id, Admission.WAITING)
            row.state = Admission.WAITING.value
            row.flags = {**(row.flags or {}), **flags}
            row.version += 1
            row.waiting_since = q.now
            await q.tx.flush()
            return Gate(False, True, _admission(row, person))

    async def left(self, session_id: int, participant_id: int) -> bool:
        """A waiting participant closed their last connection here: keep their place, marked as gone."""
        async with self.locked(session_id, standing=False) as q:
            row = await self._row(q.tx, session_id, participant_id)
            if row is None or row.state != Admission.WAITING.value:
                return False
            row.state = Admission.LEFT.value
            row.version += 1
            return True

    async def entry(self, participant_id: int, session_id: int, default: WaitingRoom) -> Forbidden | None:
        """Why this attendee may not start media in the session (None: they may). Reads only: media
        follows the admission their connection got, it never takes a place in the waiting room."""
        async with self._sessions() as tx:
            found = (
                await tx.execute(
                    select(m.Session, m.Admission.state)
                    .outerjoin(
                        m.Admission,
                        and_(
                            m.Admission.session_id == m.Session.id,
                            m.Admission.participant_id == participant_id,
                        ),
                    )
                    .where(m.Session.id == session_id)
                )
            ).first()
            if found is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            session: m.Session = found[0]
            state: str | None = found[1]
            # As at the gate: without a decision, the waiting room applies, or a possible ban's flag does.
            must_wait = state is None and (
                _waiting_room_on(session, default)
                or await self._possible_ban(tx, session.event_id, participant_id) is not None
            )
            return entry_refusal(state, must_wait)

    async def back(self, session_id: int, participant_ids: Iterable[int]) -> bool:
        """Waiting connections held here whose rows say 'left' (another process saw a tab close)."""
        ids = list(participant_ids)
        async with self.locked(session_id, standing=False) as q:
            rows = list(
                await q.tx.scalars(
                    select(m.Admission).where(
                        m.Admission.session_id == session_id,
                        m.Admission.participant_id.in_(ids),
                        m.Admission.state == Admission.LEFT.value,
                    )
                )
            )
            for row in rows:
                row.state = Admission.WAITING.value
                row.version += 1
            return bool(rows)

    async def standing(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], tuple[str, bool]]:
        """For (session, participant) pairs: the admission state and whether their grants still hold."""
        wanted = set(pairs)
        if not wanted:
            return {}
        sessions = {s for s, _ in wanted}
        people = {p for _, p in wanted}
        async with self._sessions() as tx:
            rows = await tx.execute(
                select(m.Admission.session_id, m.Admission.participant_id, m.Admission.state).where(
                    m.Admission.session_id.in_(sessions), m.Admission.participant_id.in_(people)
                )
            )
            states = {(s, p): state for s, p, state in rows}
            live = set(
                await tx.scalars(
                    select(m.RoleGrant.participant_id).where(
                        m.RoleGrant.participant_id.in_(people), m.RoleGrant.revoked_at.is_(None)
                    )
                )
            )
        return {pair: (states.get(pair, Admission.WAITING.value), pair[1] in live) for pair in wanted}

    # -- moderators' actions --------------------------------------------------------------------

    async def admit(
        self, actor: Principal, session_id: int, participant_id: int, version: int
    ) -> AdmissionInfo:
        async with self.locked(session_id) as q:
            person = await self._person(q.tx, q.session.event_id, participant_id)
            await self._check_target(q.tx, actor, q.session, participant_id, "admit", Reach.NOTHING)
            row = await self._row(q.tx, session_id, participant_id)
            if row is None or row.state == Admission.ADMITTED.value:
                raise Conflict(f"{person.display_name} is already admitted", code="already_admitted")
            if row.state == Admission.REMOVED.value:
                raise Conflict(f"{person.display_name} was removed and is not waiting", code="not_waiting")
            check_version(version, row.version)
            previous = row.state
            self._decide(q, actor, row, Admission.ADMITTED, None)
            self._audit(
                q,
                actor,
                "participant.admit",
                f"participant:{person.id}",
                {"name": person.display_name, "from": previous, "flags": row.flags or {}},
            )
            return _admission(row, person)

    async def admit_all(self, actor: Principal, session_id: int, include_flagged: bool) -> list[int]:
        async with self.locked(session_id) as q:
            rows = list(
                await q.tx.scalars(
                    select(m.Admission).where(
                        m.Admission.session_id == session_id, m.Admission.state == Admission.WAITING.value
                    )
                )
            )
            chosen = [
                r for r in rows if include_flagged or not (r.flags or {}).get(Flag.POSSIBLY_BANNED.value)
            ]
            if not chosen:
                raise Conflict("nobody is waiting to be admitted", code="no_change")
            for row in chosen:
                self._decide(q, actor, row, Admission.ADMITTED, None)
            ids = sorted(r.participant_id for r in chosen)
            self._audit(
                q,
                actor,
                "participant.admit_all",
                f"session:{session_id}",
                {"count": len(ids), "participants": ids, "include_flagged": include_flagged},
            )
            return ids

    def _decide(
        self, q: Versioned, actor: Principal | None, row: m.Admission, state: Admission, reason: str | None
    ) -> None:
        row.state = state.value
        row.version += 1
        row.reason = reason
        row.decided_at = q.now
        row.decided_by = actor.participant.id if actor else None

    async def remove(
        self, actor: Principal, session_id: int, participant_id: int, reason: str, version: int | None
    ) -> AdmissionInfo:
        async with self.locked(session_id) as q:
            person = await self._person(q.tx, q.session.event_id, participant_id)
            await self._check_target(q.tx, actor, q.session, participant_id, "remove", Reach.SESSION)
            row = await self._row(q.tx, session_id, participant_id)
            if row is not None and row.state == Admission.REMOVED.value:
                raise Conflict(f"{person.display_name} was already removed", code="already_removed")
            if row is None:
                row = self._new_row(q, participant_id, Admission.ADMITTED)
            check_version(version, row.version)
            previous = row.state
            self._decide(q, actor, row, Admission.REMOVED, reason)
            self._audit(
                q,
                actor,
                "participant.remove",
                f"participant:{person.id}",
                {"name": person.display_name, "reason": reason, "from": previous},
            )
            await q.tx.flush()
            return _admission(row, person)

    async def ban(
        self, actor: Principal, session_id: int, participant_id: int, reason: str
    ) -> tuple[BanInfo, set[int]]:
        """Ban from the event: revoke the grants, mark every admission removed; returns sessions touched."""
        async with self.locked(session_id) as q:
            person = await self._person(q.tx, q.session.event_id, participant_id)
            await self._check_target(q.tx, actor, q.session, participant_id, "ban", Reach.EVENT)
            active = await q.tx.scalar(
                select(m.Ban).where(
                    m.Ban.event_id == q.session.event_id,
                    m.Ban.participant_id == participant_id,
                    m.Ban.lifted_at.is_(None),
                )
            )
            if active is not None:
                raise Conflict(f"{person.display_name} is already banned", code="already_banned")
            grants = list(
                await q.tx.scalars(
                    select(m.RoleGrant).where(
                        m.RoleGrant.participant_id == participant_id, m.RoleGrant.revoked_at.is_(None)
                    )
                )
            )
            for grant in grants:
                grant.revoked_at = q.now
            origin = await q.tx.get(m.ParticipantOrigin, participant_id)
            ban = m.Ban(
                event_id=q.session.event_id,
                participant_id=participant_id,
                session_id=session_id,
                reason=reason,
                browser_id=origin.browser_id if origin else None,
                address=origin.address if origin else None,
                grant_ids=[g.id for g in grants],
                created_at=q.now,
                created_by=actor.participant.id,
            )
            q.tx.add(ban)
            touched = {session_id}
            rows = list(
                await q.tx.scalars(select(m.Admission).where(m.Admission.participant_id == participant_id))
            )
            for row in rows:
                if row.state != Admission.REMOVED.value:
                    self._decide(q, actor, row, Admission.REMOVED, reason)
                    touched.add(row.session_id)
            if not any(r.session_id == session_id for r in rows):
                row = self._new_row(q, participant_id, Admission.ADMITTED)
                self._decide(q, actor, row, Admission.REMOVED, reason)
            await q.tx.flush()
            self._audit(
                q,
                actor,
                "participant.ban",
                f"participant:{person.id}",
                {"name": person.display_name, "reason": reason, "ban_id": ban.id, "grants": ban.grant_ids},
            )
            info = BanInfo(ban.id, _participant(person), reason, q.now, actor.participant.id)
        return info, touched

    async def unban(self, actor: Principal, session_id: int, participant_id: int, reason: str) -> BanInfo:
        async with self.locked(session_id) as q:
            person = await self._person(q.tx, q.session.event_id, participant_id)
            ban = await q.tx.scalar(
                select(m.Ban).where(
                    m.Ban.event_id == q.session.event_id,
                    m.Ban.participant_id == participant_id,
                    m.Ban.lifted_at.is_(None),
                )
            )
            # The links an unban gives back count as held: only an administrator gives back a staff link.
            await self._check_target(
                q.tx, actor, q.session, participant_id, "unban", Reach.NOTHING, ban.grant_ids if ban else ()
            )
            if ban is None:
                raise Conflict(f"{person.display_name} is not banned", code="not_banned")
            ban.lifted_at = q.now
            ban.lifted_by = actor.participant.id
            ban.lift_reason = reason or None
            if ban.grant_ids:
                await q.tx.execute(
                    update(m.RoleGrant)
                    .where(m.RoleGrant.id.in_(list(ban.grant_ids)))
                    .values(revoked_at=None)
                    .execution_options(synchronize_session=False)
                )
            self._audit(
                q,
                actor,
                "participant.unban",
                f"participant:{person.id}",
                {"name": person.display_name, "reason": reason, "ban_id": ban.id},
            )
            return BanInfo(ban.id, _participant(person), ban.reason, ban.created_at, ban.created_by)

    async def mute(
        self,
        actor: Principal,
        session_id: int,
        participant_id: int,
        audio: bool | None,
        video: bool | None,
        reason: str,
    ) -> AdmissionInfo:
        async with self.locked(session_id) as q:
            person = await self._person(q.tx, q.session.event_id, participant_id)
            await self._check_target(q.tx, actor, q.session, participant_id, "mute", Reach.SESSION)
            row = await self._row(q.tx, session_id, participant_id)
            if row is None:
                row = self._new_row(q, participant_id, Admission.ADMITTED)
                row.version = 1
            new_audio = row.muted_audio if audio is None else audio
            new_video = row.muted_video if video is None else video
            if (new_audio, new_video) == (row.muted_audio, row.muted_video):
                raise Conflict("nothing to change", code="no_change")
            row.muted_audio, row.muted_video = new_audio, new_video
            row.version += 1
            self._audit(
                q,
                actor,
                "participant.mute",
                f"participant:{person.id}",
                {"name": person.display_name, "audio": new_audio, "video": new_video, "reason": reason},
            )
            await q.tx.flush()
            return _admission(row, person)

    async def settings(
        self,
        actor: Principal,
        session_id: int,
        waiting_room: bool | None,
        rules: AdmitRules | None,
        default: WaitingRoom,
        present: Iterable[int],
    ) -> list[int]:
        """Change the waiting room and its rules. Returns who was admitted by the change.

        Turning the waiting room on admits everyone already present (they are in and stay in); turning it
        off, or adding a rule, admits those waiting whom it covers (never someone possibly banned).
        """
        async with self.locked(session_id) as q:
            before = _waiting_room_on(q.session, default)
            if waiting_room is not None:
                q.session.waiting_room = waiting_room
            if rules is not None:
                q.session.admit_rules = rules.stored()
            after = _waiting_room_on(q.session, default)
            active = AdmitRules.from_stored(q.session.admit_rules)
            admitted: list[int] = []
            if after and not before:
                known = set(
                    await q.tx.scalars(
                        select(m.Admission.participant_id).where(m.Admission.session_id == session_id)
                    )
                )
                for participant_id in set(present) - known:
                    row = self._new_row(q, participant_id, Admission.ADMITTED)
                    row.version = 1
                    row.decided_at = q.now
            waiting = list(
                await q.tx.execute(
                    select(m.Admission, m.Participant)
                    .join(m.Participant, m.Participant.id == m.Admission.participant_id)
                    .where(
                        m.Admission.session_id == session_id,
                        m.Admission.state.in_((Admission.WAITING.value, Admission.LEFT.value)),
                    )
                )
            )
            for row, person in waiting:
                if (row.flags or {}).get(Flag.POSSIBLY_BANNED.value):
                    continue
                if not after or active.matches(person.stakeholder_group, person.affiliation):
                    self._decide(q, actor, row, Admission.ADMITTED, None)
                    admitted.append(person.id)
            self._audit(
                q,
                actor,
                "moderation.settings",
                f"session:{session_id}",
                {
                    "waiting_room": q.session.waiting_room,
                    "rules": q.session.admit_rules,
                    "admitted": sorted(admitted),
                },
            )
            return sorted(admitted)

    # -- reading -------------------------------------------------------------------------------

    async def state(self, session_id: int, default: WaitingRoom) -> ParticipantModerationState:
        """Everyone a moderator should see: waiting, removed or muted people, bans, the latest actions."""
        async with self._sessions() as tx:
            session = await tx.get(m.Session, session_id)
            if session is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            rows = await tx.execute(
                select(m.Admission, m.Participant)
                .join(m.Participant, m.Participant.id == m.Admission.participant_id)
                .where(
                    m.Admission.session_id == session_id,
                    or_(
                        m.Admission.state != Admission.ADMITTED.value,
                        m.Admission.muted_audio.is_(True),
                        m.Admission.muted_video.is_(True),
                    ),
                )
                .order_by(m.Admission.waiting_since, m.Admission.id)
            )
            admissions = tuple(_admission(row, person) for row, person in rows)
            bans = await tx.execute(
                select(m.Ban, m.Participant)
                .join(m.Participant, m.Participant.id == m.Ban.participant_id)
                .where(m.Ban.event_id == session.event_id, m.Ban.lifted_at.is_(None))
                .order_by(m.Ban.id)
            )
            ban_infos = tuple(
                BanInfo(b.id, _participant(p), b.reason, b.created_at, b.created_by) for b, p in bans
            )
            return ParticipantModerationState(
                session_id=session_id,
                version=session.moderation_version,
                waiting_room=_waiting_room_on(session, default),
                waiting_room_setting=session.waiting_room,
                rules=AdmitRules.from_stored(session.admit_rules),
                admissions=admissions,
                bans=ban_infos,
                audit=tuple(await self.record(session_id, limit=LIVE_AUDIT, tx=tx)),
            )

    async def record(
        self, session_id: int, limit: int | None = None, tx: AsyncSession | None = None
    ) -> list[dict[str, Any]]:
        """Moderation actions in the session, newest first: who, whom, when and why."""
        if tx is None:
            async with self._sessions() as own:
                return await self.record(session_id, limit, own)
        query = (
            select(m.AuditEntry, m.Participant.display_name)
            .outerjoin(m.Participant, m.Participant.id == m.AuditEntry.actor_id)
            .where(m.AuditEntry.session_id == session_id, m.AuditEntry.action.in_(MODERATION_ACTIONS))
            .order_by(m.AuditEntry.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        entries = []
        for entry, name in await tx.execute(query):
            details = dict(entry.details or {})
            whom_id: int | None = None
            if entry.target.startswith("participant:"):
                whom_id = int(entry.target.split(":", 1)[1])
            entries.append(
                {
                    "id": entry.id,
                    "at": iso(entry.created_at),
                    "actor": {"id": entry.actor_id, "name": name, "role": entry.actor_role},
                    "action": entry.action,
                    "target": entry.target,
                    "whom": {"id": whom_id, "name": details.get("name")},
                    "reason": details.get("reason") or "",
                    "details": details,
                }
            )
        return entries

    async def connections(self, participant_id: int, session_id: int | None = None) -> list[tuple[int, str]]:
        """(session, sid) of every live connection of a participant, on every process."""
        async with self._sessions() as tx:
            query = select(m.Presence.session_id, m.Presence.sid).where(
                m.Presence.participant_id == participant_id
            )
            if session_id is not None:
                query = query.where(m.Presence.session_id == session_id)
            return [(s, sid) for s, sid in await tx.execute(query)]

    async def present(self, session_id: int) -> set[int]:
        async with self._sessions() as tx:
            return set(
                await tx.scalars(
                    select(m.Presence.participant_id).where(m.Presence.session_id == session_id).distinct()
                )
            )

    async def muted_in(self, session_id: int) -> dict[int, tuple[bool, bool]]:
        """Everyone muted in a session: participant id -> (audio muted, video muted); one query."""
        async with self._sessions() as tx:
            rows = await tx.execute(
                select(m.Admission.participant_id, m.Admission.muted_audio, m.Admission.muted_video).where(
                    m.Admission.session_id == session_id,
                    or_(m.Admission.muted_audio.is_(True), m.Admission.muted_video.is_(True)),
                )
            )
            return {participant_id: (bool(audio), bool(video)) for participant_id, audio, video in rows}

    async def removal(self, session_id: int, participant_id: int) -> dict[str, Any] | None:
        """The `moderation:removed` notice of someone banned from the session's event or removed from the
        session (None: neither), for a process that learns of it from the database, not through Redis."""
        async with self._sessions() as tx:
            session = await tx.get(m.Session, session_id)
            if session is None:
                return None
            ban = await tx.scalar(
                select(m.Ban)
                .where(
                    m.Ban.event_id == session.event_id,
                    m.Ban.participant_id == participant_id,
                    m.Ban.lifted_at.is_(None),
                )
                .order_by(m.Ban.id.desc())
                .limit(1)
            )
            if ban is not None:
                reason, by_id, banned = ban.reason, ban.created_by, True
            else:
                row = await self._row(tx, session_id, participant_id)
                if row is None or row.state != Admission.REMOVED.value:
                    return None
                reason, by_id, banned = row.reason or "", row.decided_by, False
            actor = await tx.get(m.Participant, by_id) if by_id is not None else None
            by = {"id": actor.id, "name": actor.display_name, "role": actor.role} if actor else None
            return {"session_id": session_id, "reason": reason, "banned": banned, "by": by}

    async def mutes(self, session_id: int, participant_id: int) -> tuple[bool, bool]:
        """(audio muted, video muted) for one participant in one session: what the media relay enforces."""
        async with self._sessions() as tx:
            row = await self._row(tx, session_id, participant_id)
            return (row.muted_audio, row.muted_video) if row else (False, False)


def _waiting_room_on(session: m.Session, default: WaitingRoom) -> bool:
    return waiting_room_on(session.waiting_room, session.is_public, default)
