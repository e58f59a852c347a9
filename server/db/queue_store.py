"""The queue's durable state: every request, order change and floor change is one locked transaction.

Each change starts by bumping the session's queue_version. That UPDATE takes the session row's lock on
PostgreSQL and SQLite's write lock, so changes to one session's queue are serialised across processes, and
the version tells clients which update is the newest. Within a process, the changes waiting for a session
go in together, one transaction per batch, floor staff ahead of attendees (server.db.batches).

Reads are kept cheap for sessions of thousands. A queue state holds the active entries and the record of
granted turns, never the withdrawn and removed requests that pile up over a day. Each process keeps the
newest state it read or wrote per session: a change made here updates it in place (the version says
whether it is still the one the change started from), and a read costs one query for the version while
nothing changed. A change writes only the rows it changes: places are kept in order, with gaps, and
renumbered only when someone is put in the middle of the line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.errors import Conflict, HemicycleError, NotFound
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
from ..domain.roles import Permission, require
from . import models as m
from .batches import ATTENDEE, STAFF, Batches
from .gathered import GatheredReads
from .store import Store, _session

ACTIVE = (EntryState.QUEUED.value, EntryState.SPEAKING.value)
T = TypeVar("T")
ENTRY_COLUMNS = tuple(m.Intervention.__table__.c)


def _entry(row: Any) -> Entry:
    """An Entry from an ORM row or a Core row of the interventions table (same attribute names)."""
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
    queued: list[Entry]
    speaking: Entry | None
    now: datetime
    ended: list[Entry] = field(default_factory=list)

    def find(self, entry_id: int) -> Entry:
        for entry in (*self.queued, *([self.speaking] if self.speaking else [])):
            if entry.id == entry_id:
                return entry
        raise Conflict(
            "that request is no longer in the queue (it was granted, removed or withdrawn)",
            code="stale_entry",
        )

    def queued_of(self, entry_id: int) -> Entry | None:
        return next((e for e in self.queued if e.id == entry_id), None)

    async def set(self, entry: Entry, db_only: dict[str, Any] | None = None, **changes: Any) -> Entry:
        """Write some fields of one entry; returns the entry as it now is (the lists are not touched)."""
        values = {k: v.value if isinstance(v, Enum) else v for k, v in changes.items()}
        await self.tx.execute(
            update(m.Intervention)
            .where(m.Intervention.id == entry.id)
            .values(**values, **(db_only or {}))
            .execution_options(synchronize_session=False)
        )
        return replace(entry, **changes)

    async def leave_line(self, entry: Entry, **changes: Any) -> Entry:
        """Take a queued entry out of the line (withdrawn, removed, granted); the others keep their places."""
        changed = await self.set(entry, **changes)
        self.queued = [e for e in self.queued if e.id != entry.id]
        return changed

    async def reorder(self, order: Sequence[Entry]) -> None:
        """Places 1..n in this order, writing only the entries whose place changes."""
        moved = [
            {"id": e.id, "position": index} for index, e in enumerate(order, start=1) if e.position != index
        ]
        if moved:
            await self.tx.execute(update(m.Intervention), moved)
        numbered = {row["id"]: row["position"] for row in moved}
        self.queued = [replace(e, position=numbered[e.id]) if e.id in numbered else e for e in order]


class QueueStore:
    """Queue and floor persistence for one database; the rules come from server.domain.queue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = async_sessionmaker(store.engine, expire_on_commit=False)
        self._state_reads: GatheredReads[int, QueueState] = GatheredReads(self._read_state)
        self._known: dict[int, QueueState] = {}
        self._batches: Batches[Locked] = Batches(self.locked, (HemicycleError, _Unchanged))

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.store.clock

    async def state(self, session_id: int) -> QueueState:
        """The queue as it is now: active entries and the record of granted turns (as committed when this
        was called; concurrent calls share one read)."""
        return await self._state_reads.get(session_id)

    async def _read_state(self, session_id: int) -> QueueState:
        async with self._sessions() as tx:
            row = await tx.get(m.Session, session_id, populate_existing=True)
            if row is None:
                raise NotFound(f"there is no session {session_id}", code="unknown_session")
            session = _session(row)
            known = self._known.get(session_id)
            if known is not None and known.version == row.queue_version:
                # The session itself (its state, title) may change without a queue change.
                return replace(known, session=session) if known.session != session else known
            rows = await tx.execute(
                select(*ENTRY_COLUMNS)
                .where(
                    m.Intervention.session_id == session_id,
                    or_(m.Intervention.state.in_(ACTIVE), m.Intervention.granted_at.is_not(None)),
                )
                .order_by(m.Intervention.id)
            )
            state = QueueState(
                session,
                row.queue_version,
                row.auto_end_grace_seconds,
                tuple(_entry(r) for r in rows),
                row.balance_targets,
            )
        self._remember(state)
        return state

    async def history(self, session_id: int) -> list[Entry]:
        """Every request the session had, whatever became of it, for the record."""
        async with self._sessions() as tx:
            rows = await tx.execute(
                select(*ENTRY_COLUMNS)
                .where(m.Intervention.session_id == session_id)
                .order_by(m.Intervention.id)
            )
            return [_entry(r) for r in rows]

    def _remember(self, state: QueueState) -> None:
        known = self._known.get(state.session.id)
        if known is None or known.version <= state.version:
            self._known[state.session.id] = state

    async def last_requests(self, session_id: int, participant_ids: set[int]) -> dict[int, Entry]:
        """Each participant's most recent request in the session, whatever became of it."""
        if not participant_ids:
            return {}
        newest = (
            select(func.max(m.Intervention.id))
            .where(
                m.Intervention.session_id == session_id,
                m.Intervention.participant_id.in_(participant_ids),
            )
            .group_by(m.Intervention.participant_id)
        )
        async with self._sessions() as tx:
            rows = await tx.execute(select(*ENTRY_COLUMNS).where(m.Intervention.id.in_(newest)))
            entries = [_entry(r) for r in rows]
        return {e.participant_id: e for e in entries if e.participant_id is not None}

    async def _change(
        self, session_id: int, actor: Principal | None, change: Callable[[Locked], Awaitable[T]]
    ) -> T:
        """Apply one change, in this process's next batch for the session (floor staff first)."""
        priority = ATTENDEE if actor is not None and not actor.role.is_staff else STAFF
        return await self._batches.submit(session_id, priority, change)

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[Locked]:
        """One serialised transaction on a session's queue; an exception inside rolls everything back."""
        async with self._sessions() as tx, tx.begin():
            session = await self.store.bump_and_lock(tx, session_id, "queue_version")
            known = self._known.get(session_id)
            if known is not None and known.version == session.queue_version - 1:
                queued, speaking = known.queued, known.speaking
            else:
                known = None
                rows = [
                    _entry(r)
                    for r in await tx.execute(
                        select(*ENTRY_COLUMNS)
                        .where(
                            m.Intervention.session_id == session_id,
                            m.Intervention.state.in_(ACTIVE),
                        )
                        .order_by(m.Intervention.position, m.Intervention.id)
                    )
                ]
                queued = [e for e in rows if e.state is EntryState.QUEUED]
                speaking = next((e for e in rows if e.state is EntryState.SPEAKING), None)
            q = Locked(tx, session, queued, speaking, self.clock())
            yield q
        # Committed: carry the state this process knew forward to the new version.
        if known is not None:
            record = [e for e in known.entries if e.state not in (EntryState.QUEUED, EntryState.SPEAKING)]
            record += [e for e in q.ended if e.granted_at is not None]
            active = [*q.queued, *([q.speaking] if q.speaking else [])]
            self._remember(
                QueueState(
                    _session(q.session),
                    q.session.queue_version,
                    q.session.auto_end_grace_seconds,
                    tuple(sorted((*record, *active), key=lambda e: e.id)),
                    q.session.balance_targets,
                )
            )

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
        async def op(q: Locked) -> Entry:
            existing = next(
                (
                    e
                    for e in (*q.queued, *([q.speaking] if q.speaking else []))
                    if e.participant_id == actor.participant.id
                ),
                None,
            )
            if existing is not None:
                # Leaving by exception rolls the version bump back: no one is told about a non-change.
                raise _Unchanged(existing)
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
                extra_seconds=0,
            )
            return await self._insert(q, row, kind)

        return await self._change(session_id, actor, op)

    async def _insert(self, q: Locked, row: m.Intervention, kind: InterventionType) -> Entry:
        """Add a new request where the rules put it; returns it as stored."""
        index = insertion_index(q.queued, kind)
        row.position = (q.queued[-1].position if q.queued else 0) + 1
        q.tx.add(row)
        await q.tx.flush()
        entry = _entry(row)
        if index == len(q.queued):
            q.queued = [*q.queued, entry]
        else:
            order = list(q.queued)
            order.insert(index, entry)
            await q.reorder(order)
            entry = q.queued[index]
        return entry

    async def add_in_room(
        self, actor: Principal, session_id: int, fields: dict[str, Any], kind: InterventionType, language: str
    ) -> Entry:
        async def op(q: Locked) -> Entry:
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
                extra_seconds=0,
            )
            entry = await self._insert(q, row, kind)
            self.audit(
                q,
                actor,
                "queue.add_in_room",
                f"intervention:{entry.id}",
                {"name": entry.display_name, "type": kind.value},
            )
            return entry

        return await self._change(session_id, actor, op)

    async def lower_hand(self, actor: Principal, session_id: int) -> Entry:
        async def op(q: Locked) -> Entry:
            entry = next((e for e in q.queued if e.participant_id == actor.participant.id), None)
            if entry is None:
                if q.speaking is not None and q.speaking.participant_id == actor.participant.id:
                    raise Conflict("you have the floor: end your turn instead", code="has_floor")
                raise Conflict("your hand is not raised", code="not_queued")
            return await q.leave_line(entry, state=EntryState.WITHDRAWN, ended_at=q.now)

        return await self._change(session_id, actor, op)

    async def move(self, actor: Principal, session_id: int, entry_id: int, to: str | int) -> Entry:
        async def op(q: Locked) -> Entry:
            if q.queued_of(entry_id) is None:
                q.find(entry_id)  # raises stale_entry, or finds the speaker
                raise Conflict("the person holding the floor is not in the queue", code="stale_entry")
            before = [e.id for e in q.queued].index(entry_id) + 1
            await q.reorder(move_index(q.queued, entry_id, to))
            moved = next(e for e in q.queued if e.id == entry_id)
            self.audit(
                q,
                actor,
                "queue.move",
                f"intervention:{entry_id}",
                {"from": before, "to": moved.position},
            )
            return moved

        return await self._change(session_id, actor, op)

    async def remove(self, actor: Principal, session_id: int, entry_id: int, reason: str) -> Entry:
        async def op(q: Locked) -> Entry:
            entry = q.find(entry_id)
            if entry.state is not EntryState.QUEUED:
                raise Conflict("that person holds the floor: revoke it instead", code="has_floor")
            removed = await q.leave_line(
                entry, state=EntryState.REMOVED, removed_reason=reason, ended_at=q.now
            )
            self.audit(
                q,
                actor,
                "queue.remove",
                f"intervention:{entry_id}",
                {"name": entry.display_name, "reason": reason},
            )
            return removed

        return await self._change(session_id, actor, op)

    async def lower_all(self, actor: Principal, session_id: int, reason: str) -> list[Entry]:
        async def op(q: Locked) -> list[Entry]:
            lowered = [
                replace(e, state=EntryState.REMOVED, removed_reason=reason, ended_at=q.now) for e in q.queued
            ]
            if lowered:
                await q.tx.execute(
                    update(m.Intervention)
                    .where(m.Intervention.id.in_([e.id for e in lowered]))
                    .values(state=EntryState.REMOVED.value, removed_reason=reason, ended_at=q.now)
                    .execution_options(synchronize_session=False)
                )
            q.queued = []
            self.audit(
                q,
                actor,
                "queue.lower_all",
                f"session:{session_id}",
                {"count": len(lowered), "reason": reason},
            )
            return lowered

        return await self._change(session_id, actor, op)

    # -- the floor ----------------------------------------------------------------------------

    async def grant(
        self, actor: Principal, session_id: int, entry_id: int, limit_seconds: int | None
    ) -> tuple[Entry, Entry | None]:
        """Give the floor to a queued person; whoever held it ends as replaced. Returns (new, previous)."""

        async def op(q: Locked) -> tuple[Entry, Entry | None]:
            entry = q.queued_of(entry_id)
            if entry is None:
                if q.speaking is not None and q.speaking.id == entry_id:
                    raise Conflict("that person already holds the floor", code="no_change")
                raise Conflict(
                    "that request is no longer in the queue (granted, removed or withdrawn)",
                    code="stale_entry",
                )
            previous = None
            if q.speaking is not None:
                # Ended first: at most one speaker per session, also in the database's own index.
                previous = await self._end(q, q.speaking, EndReason.REPLACED)
            changes: dict[str, Any] = {"state": EntryState.SPEAKING, "granted_at": q.now}
            if limit_seconds is not None:
                changes["limit_seconds"] = limit_seconds
            granted = await q.leave_line(entry, **changes)
            q.speaking = granted
            self.audit(
                q,
                actor,
                "floor.grant",
                f"intervention:{entry_id}",
                {
                    "name": granted.display_name,
                    "limit_seconds": granted.limit_seconds or q.session.default_speaking_seconds,
                },
            )
            return granted, previous

        return await self._change(session_id, actor, op)

    async def _end(self, q: Locked, entry: Entry, reason: EndReason) -> Entry:
        ended = await q.set(
            entry,
            db_only={"absent_since": None},
            state=EntryState.DONE,
            ended_at=q.now,
            end_reason=reason.value,
        )
        if q.speaking is not None and q.speaking.id == entry.id:
            q.speaking = None
        q.ended.append(ended)
        return ended

    async def end(
        self,
        actor: Principal | None,
        session_id: int,
        entry_id: int,
        reason: EndReason,
    ) -> Entry:
        """End the turn of the entry holding the floor (actor None: the server itself, e.g. time up).

        A speaker may end their own turn, always as finished; anyone else must be allowed to manage the
        queue. Both are checked here, under the lock, against the speaker as they are now.
        """

        async def op(q: Locked) -> Entry:
            speaking = q.speaking
            own = (
                actor is not None
                and speaking is not None
                and speaking.id == entry_id
                and speaking.participant_id == actor.participant.id
            )
            if actor is not None and not own:
                require(actor.role, Permission.QUEUE_MANAGE)
            if speaking is None or speaking.id != entry_id:
                raise Conflict("that person does not hold the floor any more", code="stale_entry")
            why = EndReason.FINISHED if own else reason  # a speaker can only finish their own turn
            ended = await self._end(q, speaking, why)
            if actor is None or actor.role.is_staff:
                self.audit(
                    q,
                    actor,
                    f"floor.{'revoke' if why is EndReason.REVOKED else 'end'}",
                    f"intervention:{entry_id}",
                    {"name": ended.display_name, "reason": why.value},
                )
            return ended

        return await self._change(session_id, actor, op)

    async def set_time(
        self,
        actor: Principal,
        session_id: int,
        entry_id: int,
        *,
        limit_seconds: int | None = None,
        add_seconds: int | None = None,
    ) -> Entry:
        async def op(q: Locked) -> Entry:
            entry = q.find(entry_id)
            changes: dict[str, Any] = {}
            if limit_seconds is not None:
                changes["limit_seconds"] = limit_seconds
            if add_seconds is not None:
                if entry.state is not EntryState.SPEAKING:
                    raise Conflict("time can be added only while someone speaks", code="not_speaking")
                # Never below the shortest turn the rules allow.
                limit = (
                    changes.get("limit_seconds", entry.limit_seconds) or q.session.default_speaking_seconds
                )
                changes["extra_seconds"] = max(
                    MIN_SPEAKING_SECONDS - limit, entry.extra_seconds + add_seconds
                )
            changed = await q.set(entry, **changes)
            if changed.state is EntryState.SPEAKING:
                q.speaking = changed
            else:
                q.queued = [changed if e.id == changed.id else e for e in q.queued]
            self.audit(
                q,
                actor,
                "floor.set_time",
                f"intervention:{entry_id}",
                {"limit_seconds": changed.limit_seconds, "extra_seconds": changed.extra_seconds},
            )
            return changed

        return await self._change(session_id, actor, op)

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
        async def op(q: Locked) -> None:
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

        return await self._change(session_id, actor, op)

    # -- housekeeping ---------------------------------------------------------------------------

    async def sweep(self, absent_grace: timedelta, presence_ttl: timedelta) -> dict[int, set[int]]:
        """End turns past their automatic end, and turns of speakers gone longer than the grace period.

        Every process runs this; the locked transactions make a double end impossible. Returns the sessions
        whose floor changed, each with the participants whose turn ended.
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
        changed: dict[int, set[int]] = {}
        for row, default_seconds, auto_grace in rows:
            entry = _entry(row)
            deadline = entry.deadline(default_seconds)
            if (
                auto_grace is not None
                and deadline is not None
                and now > deadline + timedelta(seconds=auto_grace)
            ):
                if await self._end_if_still(row.session_id, row.id, EndReason.TIME_UP):
                    changed.setdefault(row.session_id, set()).update(
                        {row.participant_id} if row.participant_id else set()
                    )
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
                changed.setdefault(row.session_id, {row.participant_id})
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
