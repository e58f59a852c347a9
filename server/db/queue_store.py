"""The queue's durable state: every request, order change and floor change is one versioned transaction.

The store decides nothing: it loads the line, hands each command to server.domain.floor_rules.apply and
writes what that decided (a new request, changed fields, the settings, the audit). Each change runs in a
versioned transaction on the session's queue_version (server/db/versioned.py): changes to one session's
queue are serialised across processes, and the version tells clients which update is the newest. Within a
process, the changes waiting for a session go in together, one transaction per batch, floor staff ahead of
attendees (server.db.batches).

Reads are kept cheap for sessions of thousands. A queue state holds the active entries and the record of
granted turns, never the withdrawn and removed requests that pile up over a day. Each process keeps the
newest state it read or wrote per session: a change made here updates it in place (the version says
whether it is still the one the change started from), and a read costs one query for the version while
nothing changed. A change writes only the rows it changes: places are kept in order, with gaps, and
renumbered only when someone is put in the middle of the line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.errors import Conflict, HemicycleError, NotFound
from ..domain.floor_rules import (
    NEW_ENTRY,
    Command,
    End,
    FloorSettings,
    Line,
    Outcome,
    Presence,
    RaiseHand,
    Requester,
    Write,
    apply,
    past_auto_end,
    presence,
    watched_presence,
)
from ..domain.model import Principal
from ..domain.queue import EndReason, Entry, EntryState, InterventionType, QueueState
from . import models as m
from .batches import ATTENDEE, STAFF, Batches
from .engine import sessions
from .gathered import GatheredReads
from .store import AnyRow, Store, _session
from .versioned import Versioned, versioned

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
    """Ends a queue transaction without writing anything, carrying what the rules decided (a hand raised
    again: the request that already existed)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__("unchanged")
        self.outcome = outcome


@dataclass
class QueueBatch:
    """Inside a queue transaction: the versioned transaction, the line as the changes so far left it, and
    the turns they ended (carried into the state this process knows once committed)."""

    v: Versioned
    line: Line
    ended: list[Entry] = field(default_factory=list)


def _settings(row: m.Session | AnyRow) -> FloorSettings:
    return FloorSettings(row.default_speaking_seconds, row.auto_end_grace_seconds, row.balance_targets)


def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.value if isinstance(v, Enum) else v for k, v in values.items()}


class QueueStore:
    """Queue and floor persistence for one database; the rules come from server.domain.floor_rules."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions = sessions(store.engine)
        self._state_reads: GatheredReads[int, QueueState] = GatheredReads(self._read_state)
        self._known: dict[int, QueueState] = {}
        self._batches: Batches[QueueBatch] = Batches(self.locked, (HemicycleError, _Unchanged))

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
            return await self.state_in(tx, row)

    async def state_in(self, tx: AsyncSession, row: m.Session | AnyRow) -> QueueState:
        """The queue at the session row `tx` has just read: the last state read is reused while the row's
        queue version holds (server/db/snapshot_store.py reads it with the rest of a welcome)."""
        session = _session(row)
        known = self._known.get(session.id)
        if known is not None and known.version == row.queue_version:
            # The session itself (its state, title) may change without a queue change.
            return replace(known, session=session) if known.session != session else known
        rows = await tx.execute(
            select(*ENTRY_COLUMNS)
            .where(
                m.Intervention.session_id == session.id,
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
        self, session_id: int, actor: Principal | None, change: Callable[[QueueBatch], Awaitable[T]]
    ) -> T:
        """Apply one change, in this process's next batch for the session (floor staff first)."""
        priority = ATTENDEE if actor is not None and not actor.role.is_staff else STAFF
        return await self._batches.submit(session_id, priority, change)

    @asynccontextmanager
    async def locked(self, session_id: int) -> AsyncIterator[QueueBatch]:
        """One serialised transaction on a session's queue; an exception inside rolls everything back."""
        async with versioned(self.store, self._sessions, session_id, "queue_version") as v:
            known = self._known.get(session_id)
            if known is not None and known.version == v.session.queue_version - 1:
                queued, speaking = known.queued, known.speaking
            else:
                known = None
                rows = [
                    _entry(r)
                    for r in await v.tx.execute(
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
            batch = QueueBatch(v, Line(session_id, _settings(v.session), tuple(queued), speaking))
            yield batch
        # Committed: carry the state this process knew forward to the new version.
        if known is not None:
            record = [e for e in known.entries if e.state not in (EntryState.QUEUED, EntryState.SPEAKING)]
            record += [e for e in batch.ended if e.granted_at is not None]
            session = batch.v.session
            self._remember(
                QueueState(
                    _session(session),
                    session.queue_version,
                    session.auto_end_grace_seconds,
                    tuple(sorted((*record, *batch.line.active), key=lambda e: e.id)),
                    session.balance_targets,
                )
            )

    async def apply(self, actor: Principal | None, session_id: int, command: Command) -> Outcome:
        """Apply one command to the session's queue under its lock (server.domain.floor_rules decides what
        it does); returns what it decided, with the id of any request it added. `actor` None: the server."""
        return await self._change(session_id, actor, lambda batch: self._apply(batch, actor, command))

    async def raise_hand(
        self, actor: Principal, session_id: int, kind: InterventionType, language: str
    ) -> Outcome:
        """Queue the participant as registered now, or return their active request unchanged (raising twice
        is a no-op that writes nothing)."""

        async def op(batch: QueueBatch) -> Outcome:
            person = await batch.v.tx.get(m.Participant, actor.participant.id)
            assert person is not None
            requester = Requester.registered(
                person.id,
                person.display_name,
                person.affiliation,
                person.stakeholder_group,
                person.country,
                person.gender,
                person.age_band,
                person.consent_demographics,
            )
            return await self._apply(batch, actor, RaiseHand(requester, kind, language))

        try:
            return await self._change(session_id, actor, op)
        except _Unchanged as unchanged:
            return unchanged.outcome

    async def _apply(self, batch: QueueBatch, actor: Principal | None, command: Command) -> Outcome:
        line, outcome = apply(batch.line, command, batch.v.now)
        if outcome.changes_nothing:
            # Leaving by exception rolls the version bump back: no one is told about a non-change.
            raise _Unchanged(outcome)
        tx = batch.v.tx
        if outcome.added is not None:
            values = {f.name: getattr(outcome.added, f.name) for f in fields(Entry) if f.name != "id"}
            row = m.Intervention(**_stored(values), added_by=outcome.added_by)
            tx.add(row)
            await tx.flush()
            entry_id = row.id
            line = line.with_id(NEW_ENTRY, entry_id)
            outcome = outcome.with_id(NEW_ENTRY, entry_id)
        await self._write(tx, outcome.writes)
        if outcome.settings is not None:
            session = batch.v.session
            session.default_speaking_seconds = outcome.settings.default_speaking_seconds
            session.auto_end_grace_seconds = outcome.settings.auto_end_grace_seconds
            session.balance_targets = outcome.settings.targets
        for note in outcome.audit:
            target = (
                f"session:{batch.line.session_id}"
                if note.entry_id is None
                else f"intervention:{note.entry_id}"
            )
            tx.add(
                self.store._audit(
                    actor,
                    note.action,
                    target,
                    note.details,
                    batch.line.session_id,
                    event_id=batch.v.session.event_id,
                )
            )
        batch.line = line
        batch.ended += [e for e in outcome.entries if e.state is EntryState.DONE]
        return outcome

    @staticmethod
    async def _write(tx: AsyncSession, writes: Sequence[Write]) -> None:
        """The writes, in their order: new places in one statement, the same change to several requests in
        one statement (lowering every hand)."""
        places = [
            {"id": w.entry_id, "position": w.values["position"]}
            for w in writes
            if set(w.values) == {"position"} and not w.stored
        ]
        if places:
            await tx.execute(update(m.Intervention), places)
        grouped: dict[tuple[tuple[str, Any], ...], list[int]] = {}
        for w in writes:
            if set(w.values) != {"position"} or w.stored:
                values = _stored({**w.values, **w.stored})
                grouped.setdefault(tuple(values.items()), []).append(w.entry_id)
        for values_key, ids in grouped.items():
            await tx.execute(
                update(m.Intervention)
                .where(m.Intervention.id.in_(ids))
                .values(dict(values_key))
                .execution_options(synchronize_session=False)
            )

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
            if past_auto_end(entry, FloorSettings(default_seconds, auto_grace), now):
                if await self._end_if_still(row.session_id, row.id, EndReason.TIME_UP):
                    changed.setdefault(row.session_id, set()).update(
                        {row.participant_id} if row.participant_id else set()
                    )
                continue
            if not watched_presence(entry) or row.participant_id is None:
                continue
            connected = await self._connections(row.session_id, row.participant_id, now - presence_ttl) > 0
            verdict = presence(connected, row.absent_since, now, absent_grace)
            if verdict is Presence.BACK:
                await self._mark_absent(row.id, None)
            elif verdict is Presence.GONE:
                await self._mark_absent(row.id, now)
            elif verdict is Presence.END and await self._end_if_still(
                row.session_id, row.id, EndReason.DISCONNECTED
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
            await self.apply(None, session_id, End(None, entry_id, reason))
        except Conflict:
            return False  # another process got there first
        return True
