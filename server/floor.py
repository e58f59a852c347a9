"""Use cases of the speakers' queue and the floor: check the caller, apply a command, then notify.

Shared by the Socket.IO handlers and the tests. The rules are in server.domain: the order of the line in
queue.py, what each command does (and who may give it) in floor_rules.py; the store only loads and writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from .db.queue_store import QueueStore
from .db.statement_store import StatementStore
from .domain.balance import Targets, suggest_next, tally
from .domain.floor_rules import (
    AddInRoom,
    Caller,
    ChangeSettings,
    Command,
    End,
    Grant,
    LowerAll,
    LowerHand,
    Move,
    Outcome,
    RaiseHand,
    Remove,
    Requester,
    SetTime,
    clean_reason,
)
from .domain.model import Principal, SessionInfo
from .domain.queue import (
    EndReason,
    Entry,
    QueueState,
    check_language,
    check_type,
    in_line,
    line_view,
    mine_view,
    public_view,
    staff_view,
)
from .service import Hemicycle


class FloorListener(Protocol):
    """Told when the floor changes hands, so media follows the floor (server.media implements it)."""

    def floor_changed(self, session_id: int, speaker: int | None) -> None: ...


class Floor:
    """The speakers' queue and the floor of every session: raise and lower hands, order the line, grant,
    time and end turns, the queue's settings and the sweep of turns past their end. It checks the caller and
    the session, applies one command of server.domain.floor_rules through its store
    (server/db/queue_store.py), then tells ``core.notifier`` (queue_changed) and the ``listeners`` (the media
    relay, which follows who holds the floor). Every rule of the queue is in the domain; nothing here decides.

    Built once by the composition root (server/wiring.py); called by the Socket.IO queue events
    (signaling/queue_events.py), the sweeper (signaling/heartbeat.py), ParticipantModeration and the
    metrics."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.queue = QueueStore(core.store)
        self.statements = StatementStore(core.store)
        self.listeners: list[FloorListener] = []

    def _floor_changed(self, session_id: int, speaker: int | None) -> None:
        for listener in self.listeners:
            listener.floor_changed(session_id, speaker)

    async def _session(self, principal: Principal, session_id: int, command: type[Command]) -> SessionInfo:
        """The session, if the caller's role may give this command and the session's state allows it."""
        session = await self.core.session_for(principal, session_id, command.permission)
        command.check_session(session.state)
        return session

    async def _run(self, principal: Principal, session_id: int, command: Command) -> Outcome:
        return self._publish(session_id, await self.queue.apply(principal, session_id, command))

    def _publish(self, session_id: int, outcome: Outcome) -> Outcome:
        if outcome.floor_changed:
            self._floor_changed(session_id, outcome.speaker)
        self.core.notifier.queue_changed(session_id, set(outcome.told))
        return outcome

    # -- attendees ------------------------------------------------------------------------------

    async def raise_hand(
        self, principal: Principal, session_id: int, kind: object, language: object
    ) -> Entry:
        """Queue the caller (or leave their request as it is, if they already have one)."""
        session = await self._session(principal, session_id, RaiseHand)
        outcome = await self.queue.raise_hand(
            principal, session.id, check_type(kind), check_language(language, session.languages)
        )
        return self._publish(session.id, outcome).entry

    async def lower_hand(self, principal: Principal, session_id: int) -> Entry:
        """The caller takes their request back."""
        session = await self._session(principal, session_id, LowerHand)
        return (await self._run(principal, session.id, LowerHand(principal.participant.id))).entry

    # -- floor staff ----------------------------------------------------------------------------

    async def add_in_room(self, principal: Principal, session_id: int, body: dict[str, Any]) -> Entry:
        """Queue someone who asked in the room, as floor staff describe them."""
        session = await self._session(principal, session_id, AddInRoom)
        requester = Requester.in_the_room(body, added_by=principal.participant.id)
        command = AddInRoom(
            requester, check_type(body.get("type")), check_language(body.get("language"), session.languages)
        )
        return (await self._run(principal, session.id, command)).entry

    async def move(self, principal: Principal, session_id: int, entry_id: int, to: str | int) -> Entry:
        """Move a queued request (up, down, top, bottom or to a place)."""
        session = await self._session(principal, session_id, Move)
        return (await self._run(principal, session.id, Move(entry_id, to))).entry

    async def remove(self, principal: Principal, session_id: int, entry_id: int, reason: str) -> Entry:
        """Take a request out of the line, with a reason its asker sees."""
        session = await self._session(principal, session_id, Remove)
        command = Remove(entry_id, clean_reason(reason, required=True))
        return (await self._run(principal, session.id, command)).entry

    async def lower_all(self, principal: Principal, session_id: int, reason: str) -> list[Entry]:
        """Empty the line; returns the requests lowered."""
        session = await self._session(principal, session_id, LowerAll)
        command = LowerAll(clean_reason(reason) or "all hands lowered")
        return list((await self._run(principal, session.id, command)).entries)

    async def grant(
        self, principal: Principal, session_id: int, entry_id: int, limit_seconds: int | None
    ) -> Entry:
        """Give the floor to a queued request; whoever held it ends as replaced."""
        session = await self._session(principal, session_id, Grant)
        return (await self._run(principal, session.id, Grant(entry_id, limit_seconds))).entry

    async def end(self, principal: Principal, session_id: int, entry_id: int, revoke: bool) -> Entry:
        """Floor staff end or revoke a turn; a speaker may end their own (checked under the queue's lock)."""
        session = await self._session(principal, session_id, End)
        by = Caller(principal.participant.id, principal.role)
        command = End(by, entry_id, EndReason.REVOKED if revoke else EndReason.FINISHED)
        return (await self._run(principal, session.id, command)).entry

    async def set_time(
        self,
        principal: Principal,
        session_id: int,
        entry_id: int,
        limit_seconds: int | None,
        add_seconds: int | None,
    ) -> Entry:
        """Set a request's time limit, or add time to (or take it from) the turn being spoken."""
        session = await self._session(principal, session_id, SetTime)
        command = SetTime(entry_id, limit_seconds, add_seconds)
        return (await self._run(principal, session.id, command)).entry

    async def settings(
        self,
        principal: Principal,
        session_id: int,
        default_speaking_seconds: int | None,
        auto_end_grace_seconds: int | None,
        auto_end: bool | None,
        targets: object = None,
    ) -> None:
        """Change the default turn, the automatic end or the balance targets."""
        session = await self._session(principal, session_id, ChangeSettings)
        command = ChangeSettings.checked(default_speaking_seconds, auto_end_grace_seconds, auto_end, targets)
        await self._run(principal, session.id, command)

    # -- views ---------------------------------------------------------------------------------

    async def state(self, session_id: int) -> QueueState:
        """The session's queue as committed now (one read shared by concurrent callers)."""
        return await self.queue.state(session_id)

    def views(self, state: QueueState) -> tuple[dict[str, Any], dict[str, Any]]:
        """(staff view, public view) of one consistent state, at one moment."""
        now = self.core.store.clock()
        return self._staff(state, now), public_view(state, now)

    def public(self, state: QueueState) -> dict[str, Any]:
        """The public view alone: what an attendee's welcome needs, without the staff view's balance and
        suggestion (computed over the whole queue and record)."""
        return public_view(state, self.core.store.clock())

    def staff(self, state: QueueState) -> dict[str, Any]:
        """The staff view alone: the whole queue, the record, balance and a suggestion."""
        return self._staff(state, self.core.store.clock())

    def _staff(self, state: QueueState, now: datetime) -> dict[str, Any]:
        targets = Targets(state.targets) if state.targets else Targets()
        suggestion = suggest_next(list(state.entries), targets)
        return staff_view(
            state,
            now,
            suggestion.as_dict() if suggestion else None,
            tally(state.entries, now),
            targets.shares,
        )

    def line(self, state: QueueState) -> tuple[dict[str, Any], list[int]]:
        """(the line's order, the participants in it): what those waiting need to know their place."""
        return line_view(state), in_line(state)

    async def mine(
        self, state: QueueState, participant_id: int, latest: Entry | None = None
    ) -> dict[str, Any]:
        """One participant's own request: their place in line or their turn, and whether it came with a
        statement in advance."""
        return (await self.mine_of(state, {participant_id}, {participant_id: latest}))[participant_id]

    async def mine_of(
        self,
        state: QueueState,
        participant_ids: set[int],
        latest: dict[int, Entry | None] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """Own views of several participants, with the latest request of those no longer in line (read here
        unless `latest` gives it) and the statements of those in it (one read for all)."""
        active = {e.participant_id: e.id for e in (*state.queued, state.speaking) if e and e.participant_id}
        if latest is None:
            latest = {**await self.queue.last_requests(state.session.id, participant_ids - set(active))}
        ours = [active[pid] for pid in participant_ids if pid in active]
        statements = await self.statements.described(ours)
        now = self.core.store.clock()
        return {pid: mine_view(state, pid, now, latest.get(pid), statements) for pid in participant_ids}

    async def sweep(self) -> dict[int, set[int]]:
        """End the turns past their automatic end or whose speaker stayed away too long (every process runs
        it); returns the sessions whose floor changed, each with the participants whose turn ended."""
        ended = await self.queue.sweep(
            timedelta(seconds=self.core.settings.floor_grace_seconds), self.core.presence_ttl
        )
        for session_id in ended:
            self._floor_changed(session_id, None)
        return ended
