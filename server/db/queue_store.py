"""The queue's durable state: every request, order change and floor change is one locked transaction.

Each change starts by bumping the session's queue_version. That UPDATE takes the session row's lock on
PostgreSQL and SQLite's write lock, so changes to one session's queue are serialised across processes, and
the version tells clients which update is the newest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.errors import Conflict, NotFound
from ..domain.model import Principal
from ..domain.queue import (
    MIN_SPEAKING_SECONDS,
    EndReason,
    Entry,
    EntryState,
    InterventionType,
    QueueState,
    insertion_index,
    move_index,
)
from . import models as m
from .store import Store, _session

ACTIVE = (EntryState.QUEUED.value, EntryState.SPEAKING.value)


def _entry(row: m.Intervention) -> Entry:
    return Entry(
        id=row.id,
        session_id=row.session_id,
        participant_id=row.participant_id,
        in_room=row.in_room,
        display_name=row.display_name,
        affiliation=row.affiliation,
        stakeholder_group=row.stakeholder_group,
        country=row.country,
        gender=row.gender,
        age_band=row.age_band,
        type=InterventionType(row.type),
        language=row.language,
        state=EntryState(row.state),
        position=row.position,
        requested_at=row.requested_at,
        granted_at=row.granted_at,
        ended_at=row.ended_at,
        limit_seconds=row.limit_seconds,
        extra_seconds=row.extra_seconds,
        end_reason=row.end_reason,
        removed_reason=row.removed_reason,
    )


class _Unchanged(Exception):
    """Ends a queue transaction without writing anything, carrying the entry that already existed."""

    def __init__(self, entry: Entry) -> None:
        super().__init__("unchanged")
        self.entry = entry


@dataclass
class Locked:
    """Inside a queue transaction: the session row and its active entries, in order."""

    tx: AsyncSession
    session: m.Session
    queued: list[m.Intervention]
    speaking: m.Intervention | None
    now: datetime

    def find(self, entry_id: int) -> m.Intervention:
        for row in (*self.queued, *([self.speaking] if self.speaking else [])):
            if row.id == entry_id:
                return row
        raise Conflict(
            "that request is no longer in the queue (it was granted, removed or withdrawn)",
            code="stale_entry",
        )

    def renumber(self, order: Sequence[m.Intervention]) -> None:
        for index, row in enumerate(order, start=1):
            if row.position != index:
                row.position = index
        self.queued = list(order)


class QueueStore:
    """Queue and floor persistence for one database; the rules come from server.domain.queue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = async_sessionmaker(store.engine, expire_on_commit=False)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.store.clock

    async def state(self, session_id: int) -> QueueState:
        async with self._sessions() as tx:
            row = await tx.get(m.Session, session_id)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            entries = await tx.scalars(
                select(m.Intervention)
                .where(m.Intervention.session_id == session_id)
                .order_by(m.Intervention.id)
            )
            return QueueState(
                _session(row),
                row.queue_version,
                row.auto_end_grace_seconds,
                tuple(_entry(e) for e in entries),
                row.balance_targets,
            )

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[Locked]:
        """One serialised change to a session's queue; an exception inside rolls everything back."""
        async with self._sessions() as tx, tx.begin():
            session = await self.store.bump_and_lock(tx, session_id, "queue_version")
            rows = list(
                await tx.scalars(
                    select(m.Intervention)
                    .where(m.Intervention.session_id == session_id, m.Intervention.state.in_(ACTIVE))
                    .order_by(m.Intervention.position, m.Intervention.id)
                )
            )
            queued = [r for r in rows if r.state == EntryState.QUEUED.value]
            speaking = next((r for r in rows if r.state == EntryState.SPEAKING.value), None)
            yield Locked(tx, session, queued, speaking, self.clock())

    def audit(
        self, locked: Locked, actor: Principal | None, action: str, target: str, details: dict[str, Any]
    ) -> None:
        locked.tx.add(
            self.store._audit(
                actor, action, target, details, locked.session.id, event_id=locked.session.event_id
            )
        )

    # -- requests ------------------------------------------------------------------------------

    async def raise_hand(
        self, actor: Principal, session_id: int, kind: InterventionType, language: str
    ) -> Entry:
        """Queue the participant, or return their active request unchanged (raising twice is a no-op)."""
        try:
            return await self._raise_hand(actor, session_id, kind, language)
        except _Unchanged as unchanged:
            return unchanged.entry

    async def _raise_hand(
        self, actor: Principal, session_id: int, kind: InterventionType, language: str
    ) -> Entry:
        async with self.locked(session_id) as q:
            existing = next(
                (
                    r
                    for r in (*q.queued, *([q.speaking] if q.speaking else []))
                    if r.participant_id == actor.participant.id
                ),
                None,
            )
            if existing is not None:
                # Leaving by exception rolls the version bump back: no one is told about a non-change.
                raise _Unchanged(_entry(existing))
            person = await q.tx.get(m.Participant, actor.participant.id)
            assert person is not None
            row = m.Intervention(
                session_id=session_id,
                participant_id=person.id,
                in_room=False,
                display_name=person.display_name,
                affiliation=person.affiliation,
                stakeholder_group=person.stakeholder_group,
                country=person.country,
                gender=person.gender if person.consent_demographics else None,
                age_band=person.age_band if person.consent_demographics else None,
                type=kind.value,
                language=language,
                state=EntryState.QUEUED.value,
                requested_at=q.now,
            )
            self._insert(q, row, kind)
            await q.tx.flush()
            return _entry(row)

    def _insert(self, q: Locked, row: m.Intervention, kind: InterventionType) -> None:
        index = insertion_index([_entry(r) for r in q.queued], kind)
        q.tx.add(row)
        if index == len(q.queued):
            row.position = (q.queued[-1].position if q.queued else 0) + 1
            q.queued.append(row)
        else:
            order = list(q.queued)
            order.insert(index, row)
            row.position = 0
            q.renumber(order)

    async def add_in_room(
        self, actor: Principal, session_id: int, fields: dict[str, Any], kind: InterventionType, language: str
    ) -> Entry:
        async with self.locked(session_id) as q:
            row = m.Intervention(
                session_id=session_id,
                participant_id=None,
                in_room=True,
                display_name=fields["display_name"],
                affiliation=fields["affiliation"],
                stakeholder_group=fields["stakeholder_group"],
                country=fields.get("country"),
                gender=fields.get("gender"),
                age_band=fields.get("age_band"),
                type=kind.value,
                language=language,
                state=EntryState.QUEUED.value,
                requested_at=q.now,
                added_by=actor.participant.id,
            )
            self._insert(q, row, kind)
            await q.tx.flush()
            self.audit(
                q,
                actor,
                "queue.add_in_room",
                f"intervention:{row.id}",
                {"name": row.display_name, "type": kind.value},
            )
            return _entry(row)

    async def lower_hand(self, actor: Principal, session_id: int) -> Entry:
        async with self.locked(session_id) as q:
            row = next((r for r in q.queued if r.participant_id == actor.participant.id), None)
            if row is None:
                if q.speaking is not None and q.speaking.participant_id == actor.participant.id:
                    raise Conflict("you have the floor: end your turn instead", code="has_floor")
                raise Conflict("your hand is not raised", code="not_queued")
            row.state = EntryState.WITHDRAWN.value
            row.ended_at = q.now
            q.renumber([r for r in q.queued if r is not row])
            return _entry(row)

    async def move(self, actor: Principal, session_id: int, entry_id: int, to: str | int) -> Entry:
        async with self.locked(session_id) as q:
            by_id = {r.id: r for r in q.queued}
            if entry_id not in by_id:
                q.find(entry_id)  # raises stale_entry, or finds the speaker
                raise Conflict("the person holding the floor is not in the queue", code="stale_entry")
            order = move_index([_entry(r) for r in q.queued], entry_id, to)
            before = by_id[entry_id].position
            q.renumber([by_id[e.id] for e in order])
            self.audit(
                q,
                actor,
                "queue.move",
                f"intervention:{entry_id}",
                {"from": before, "to": by_id[entry_id].position},
            )
            return _entry(by_id[entry_id])

    async def remove(self, actor: Principal, session_id: int, entry_id: int, reason: str) -> Entry:
        async with self.locked(session_id) as q:
            row = q.find(entry_id)
            if row.state != EntryState.QUEUED.value:
                raise Conflict("that person holds the floor: revoke it instead", code="has_floor")
            row.state = EntryState.REMOVED.value
            row.removed_reason = reason
            row.ended_at = q.now
            q.renumber([r for r in q.queued if r is not row])
            self.audit(
                q,
                actor,
                "queue.remove",
                f"intervention:{entry_id}",
                {"name": row.display_name, "reason": reason},
            )
            return _entry(row)

    async def lower_all(self, actor: Principal, session_id: int, reason: str) -> list[Entry]:
        async with self.locked(session_id) as q:
            lowered = []
            for row in q.queued:
                row.state = EntryState.REMOVED.value
                row.removed_reason = reason
                row.ended_at = q.now
                lowered.append(_entry(row))
            q.queued = []
            self.audit(
                q,
                actor,
                "queue.lower_all",
                f"session:{session_id}",
                {"count": len(lowered), "reason": reason},
            )
            return lowered

    # -- the floor ----------------------------------------------------------------------------

    async def grant(
        self, actor: Principal, session_id: int, entry_id: int, limit_seconds: int | None
    ) -> tuple[Entry, Entry | None]:
        """Give the floor to a queued person; whoever held it ends as replaced. Returns (new, previous)."""
        async with self.locked(session_id) as q:
            row = next((r for r in q.queued if r.id == entry_id), None)
            if row is None:
                if q.speaking is not None and q.speaking.id == entry_id:
                    raise Conflict("that person already holds the floor", code="no_change")
                raise Conflict(
                    "that request is no longer in the queue (granted, removed or withdrawn)",
                    code="stale_entry",
                )
            previous = None
            if q.speaking is not None:
                previous = self._end(q, q.speaking, EndReason.REPLACED)
                await q.tx.flush()  # free the one-speaker index before the new grant
            row.state = EntryState.SPEAKING.value
            row.granted_at = q.now
            if limit_seconds is not None:
                row.limit_seconds = limit_seconds
            q.renumber([r for r in q.queued if r is not row])
            q.speaking = row
            self.audit(
                q,
                actor,
                "floor.grant",
                f"intervention:{entry_id}",
                {
                    "name": row.display_name,
                    "limit_seconds": row.limit_seconds or q.session.default_speaking_seconds,
                },
            )
            return _entry(row), previous

    def _end(self, q: Locked, row: m.Intervention, reason: EndReason) -> Entry:
        row.state = EntryState.DONE.value
        row.ended_at = q.now
        row.end_reason = reason.value
        row.absent_since = None
        if q.speaking is row:
            q.speaking = None
        return _entry(row)

    async def end(self, actor: Principal | None, session_id: int, entry_id: int, reason: EndReason) -> Entry:
        async with self.locked(session_id) as q:
            if q.speaking is None or q.speaking.id != entry_id:
                raise Conflict("that person does not hold the floor any more", code="stale_entry")
            if actor is not None and actor.participant.id == q.speaking.participant_id:
                reason = EndReason.FINISHED  # a speaker can only finish their own turn
            ended = self._end(q, q.speaking, reason)
            if actor is None or actor.role.is_staff:
                self.audit(
                    q,
                    actor,
                    f"floor.{'revoke' if reason is EndReason.REVOKED else 'end'}",
                    f"intervention:{entry_id}",
                    {"name": ended.display_name, "reason": reason.value},
                )
            return ended

    async def set_time(
        self,
        actor: Principal,
        session_id: int,
        entry_id: int,
        *,
        limit_seconds: int | None = None,
        add_seconds: int | None = None,
    ) -> Entry:
        async with self.locked(session_id) as q:
            row = q.find(entry_id)
            if limit_seconds is not None:
                row.limit_seconds = limit_seconds
            if add_seconds is not None:
                if row.state != EntryState.SPEAKING.value:
                    raise Conflict("time can be added only while someone speaks", code="not_speaking")
                # Never below the shortest turn the rules allow.
                row.extra_seconds = max(
                    MIN_SPEAKING_SECONDS - (row.limit_seconds or q.session.default_speaking_seconds),
                    row.extra_seconds + add_seconds,
                )
            self.audit(
                q,
                actor,
                "floor.set_time",
                f"intervention:{entry_id}",
                {"limit_seconds": row.limit_seconds, "extra_seconds": row.extra_seconds},
            )
            return _entry(row)

    async def settings(
        self,
        actor: Principal,
        session_id: int,
        *,
        default_speaking_seconds: int | None,
        auto_end_grace_seconds: int | None,
        clear_auto_end: bool,
        targets: dict[str, dict[str, float]] | None = None,
    ) -> None:
        async with self.locked(session_id) as q:
            if targets is not None:
                q.session.balance_targets = targets
            if default_speaking_seconds is not None:
                q.session.default_speaking_seconds = default_speaking_seconds
            if clear_auto_end:
                q.session.auto_end_grace_seconds = None
            elif auto_end_grace_seconds is not None:
                q.session.auto_end_grace_seconds = auto_end_grace_seconds
            self.audit(
                q,
                actor,
                "queue.settings",
                f"session:{session_id}",
                {
                    "default_speaking_seconds": q.session.default_speaking_seconds,
                    "auto_end_grace_seconds": q.session.auto_end_grace_seconds,
                    "targets": q.session.balance_targets,
                },
            )

    # -- housekeeping ---------------------------------------------------------------------------

    async def sweep(self, absent_grace: timedelta, presence_ttl: timedelta) -> set[int]:
        """End turns past their automatic end, and turns of speakers gone longer than the grace period.

        Every process runs this; the locked transactions make a double end impossible. Returns the sessions
        whose floor changed.
        """
        now = self.clock()
        async with self._sessions() as tx:
            rows = list(
                await tx.execute(
                    select(
                        m.Intervention, m.Session.default_speaking_seconds, m.Session.auto_end_grace_seconds
                    )
                    .join(m.Session, m.Session.id == m.Intervention.session_id)
                    .where(m.Intervention.state == EntryState.SPEAKING.value)
                )
            )
        changed: set[int] = set()
        for row, default_seconds, auto_grace in rows:
            entry = _entry(row)
            deadline = entry.deadline(default_seconds)
            if (
                auto_grace is not None
                and deadline is not None
                and now > deadline + timedelta(seconds=auto_grace)
            ):
                if await self._end_if_still(row.session_id, row.id, EndReason.TIME_UP):
                    changed.add(row.session_id)
                continue
            if row.in_room or row.participant_id is None:
                continue
            present = await self._connections(row.session_id, row.participant_id, now - presence_ttl)
            if present and row.absent_since is not None:
                await self._mark_absent(row.id, None)
            elif not present and row.absent_since is None:
                await self._mark_absent(row.id, now)
            elif (
                not present
                and row.absent_since is not None
                and now - row.absent_since > absent_grace
                and await self._end_if_still(row.session_id, row.id, EndReason.DISCONNECTED)
            ):
                changed.add(row.session_id)
        return changed

    async def _connections(self, session_id: int, participant_id: int, live_after: datetime) -> int:
        async with self._sessions() as tx:
            count = await tx.scalar(
                select(func.count())
                .select_from(m.Presence)
                .join(m.Instance, m.Instance.id == m.Presence.instance_id)
                .where(
                    m.Presence.session_id == session_id,
                    m.Presence.participant_id == participant_id,
                    m.Instance.heartbeat_at >= live_after,
                )
            )
            return int(count or 0)

    async def _mark_absent(self, entry_id: int, since: datetime | None) -> None:
        async with self._sessions() as tx, tx.begin():
            await tx.execute(
                update(m.Intervention)
                .where(m.Intervention.id == entry_id, m.Intervention.state == EntryState.SPEAKING.value)
                .values(absent_since=since)
            )

    async def _end_if_still(self, session_id: int, entry_id: int, reason: EndReason) -> bool:
        try:
            await self.end(None, session_id, entry_id, reason)
        except Conflict:
            return False  # another process got there first
        return True
