"""Use cases of the speakers' queue and the floor: check the caller, change the store, then notify.

Shared by the Socket.IO handlers and the tests; the rules themselves are in server.domain.queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from .db.queue_store import QueueStore
from .domain.balance import Targets, parse_targets, suggest_next, tally
from .domain.errors import Conflict, InvalidInput
from .domain.model import Principal, SessionInfo
from .domain.participants import (
    AFFILIATION_MAX,
    NAME_MAX,
    AgeBand,
    Gender,
    StakeholderGroup,
    clean_country,
    clean_name,
    clean_text,
)
from .domain.queue import (
    MAX_REASON,
    EndReason,
    Entry,
    QueueState,
    check_language,
    check_seconds,
    check_type,
    in_line,
    line_view,
    mine_view,
    public_view,
    staff_view,
)
from .domain.roles import Permission
from .domain.sessions import SessionState
from .service import Hemicycle


class FloorListener(Protocol):
    """Told when the floor changes hands, so media follows the floor (server.media implements it)."""

    def floor_changed(self, session_id: int, speaker: int | None) -> None: ...


class Floor:
    """The speakers' queue and the floor of every session: raise and lower hands, order the line, grant,
    time and end turns, the queue's settings and the sweep of turns past their end. Owns nothing in memory
    but its store's cache; each change goes through server/db/queue_store.py, then ``core.notifier``
    (queue_changed) and the ``listeners`` (the media relay, which follows who holds the floor).

    Built once by the composition root (server/wiring.py); called by the Socket.IO queue events
    (signaling/queue_events.py), the sweeper (signaling/heartbeat.py), Moderation and the metrics."""

    def __init__(self, core: Hemicycle) -> None:
        self.core = core
        self.queue = QueueStore(core.store)
        self.listeners: list[FloorListener] = []

    def _floor_changed(self, session_id: int, speaker: int | None) -> None:
        for listener in self.listeners:
            listener.floor_changed(session_id, speaker)

    async def _session(self, principal: Principal, session_id: int, permission: Permission) -> SessionInfo:
        session = await self.core.session_for(principal, session_id, permission)
        if session.state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")
        return session

    def _changed(self, session_id: int, *entries: Entry | None) -> None:
        self.core.notifier.queue_changed(
            session_id, {e.participant_id for e in entries if e and e.participant_id}
        )

    # -- attendees ------------------------------------------------------------------------------

    async def raise_hand(
        self, principal: Principal, session_id: int, kind: object, language: object
    ) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_RAISE)
        entry = await self.queue.raise_hand(
            principal, session.id, check_type(kind), check_language(language, session.languages)
        )
        self._changed(session.id, entry)
        return entry

    async def lower_hand(self, principal: Principal, session_id: int) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_RAISE)
        entry = await self.queue.lower_hand(principal, session.id)
        self._changed(session.id, entry)
        return entry

    # -- floor staff ----------------------------------------------------------------------------

    async def add_in_room(self, principal: Principal, session_id: int, body: dict[str, Any]) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        fields = {
            "display_name": clean_name(body.get("display_name"), "display_name", max_length=NAME_MAX),
            "affiliation": clean_name(
                body.get("affiliation"), "affiliation", max_length=AFFILIATION_MAX, required=False
            ),
            "stakeholder_group": _choice(
                StakeholderGroup, body.get("stakeholder_group"), "stakeholder_group"
            ),
            "country": _country(body.get("country")),
            "gender": _choice(Gender, body.get("gender"), "gender", optional=True),
            "age_band": _choice(AgeBand, body.get("age_band"), "age_band", optional=True),
        }
        if not body.get("consent_demographics") and (fields["gender"] or fields["age_band"]):
            raise InvalidInput(
                "gender and age band are kept only with the person's consent",
                details={"field": "consent_demographics"},
            )
        entry = await self.queue.add_in_room(
            principal,
            session.id,
            fields,
            check_type(body.get("type")),
            check_language(body.get("language"), session.languages),
        )
        self._changed(session.id, entry)
        return entry

    async def move(self, principal: Principal, session_id: int, entry_id: int, to: str | int) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        entry = await self.queue.move(principal, session.id, entry_id, to)
        self._changed(session.id)
        return entry

    async def remove(self, principal: Principal, session_id: int, entry_id: int, reason: str) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        entry = await self.queue.remove(principal, session.id, entry_id, _reason(reason, required=True))
        self._changed(session.id, entry)
        return entry

    async def lower_all(self, principal: Principal, session_id: int, reason: str) -> list[Entry]:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        lowered = await self.queue.lower_all(principal, session.id, _reason(reason) or "all hands lowered")
        self._changed(session.id, *lowered)
        return lowered

    async def grant(
        self, principal: Principal, session_id: int, entry_id: int, limit_seconds: int | None
    ) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        if session.state is not SessionState.LIVE:
            raise Conflict("the floor can be given only while the session is live", code="session_not_live")
        limit = check_seconds(limit_seconds) if limit_seconds is not None else None
        entry, previous = await self.queue.grant(principal, session.id, entry_id, limit)
        self._floor_changed(session.id, entry.participant_id)
        self._changed(session.id, entry, previous)
        return entry

    async def end(self, principal: Principal, session_id: int, entry_id: int, revoke: bool) -> Entry:
        """Floor staff end or revoke a turn; a speaker may end their own (checked under the queue's lock)."""
        session = await self.core.session_for(principal, session_id, Permission.SESSION_VIEW)
        entry = await self.queue.end(
            principal, session.id, entry_id, EndReason.REVOKED if revoke else EndReason.FINISHED
        )
        self._floor_changed(session.id, None)
        self._changed(session.id, entry)
        return entry

    async def set_time(
        self,
        principal: Principal,
        session_id: int,
        entry_id: int,
        limit_seconds: int | None,
        add_seconds: int | None,
    ) -> Entry:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        if limit_seconds is None and add_seconds is None:
            raise InvalidInput("send limit_seconds or add_seconds", details={"field": "limit_seconds"})
        if add_seconds is not None and not (-600 <= add_seconds <= 600 and add_seconds != 0):
            raise InvalidInput(
                "add_seconds must be between -600 and 600, not 0", details={"field": "add_seconds"}
            )
        entry = await self.queue.set_time(
            principal,
            session.id,
            entry_id,
            limit_seconds=check_seconds(limit_seconds) if limit_seconds else None,
            add_seconds=add_seconds,
        )
        self._changed(session.id, entry)
        return entry

    async def settings(
        self,
        principal: Principal,
        session_id: int,
        default_speaking_seconds: int | None,
        auto_end_grace_seconds: int | None,
        auto_end: bool | None,
        targets: object = None,
    ) -> None:
        session = await self._session(principal, session_id, Permission.QUEUE_MANAGE)
        if default_speaking_seconds is not None:
            check_seconds(default_speaking_seconds, "default_speaking_seconds")
        if auto_end_grace_seconds is not None and not 0 <= auto_end_grace_seconds <= 600:
            raise InvalidInput(
                "auto_end_grace_seconds must be from 0 to 600", details={"field": "auto_end_grace_seconds"}
            )
        if auto_end is True and auto_end_grace_seconds is None:
            auto_end_grace_seconds = 0
        parsed = parse_targets(targets).shares if targets is not None else None
        await self.queue.settings(
            principal,
            session.id,
            default_speaking_seconds=default_speaking_seconds,
            auto_end_grace_seconds=auto_end_grace_seconds,
            clear_auto_end=auto_end is False,
            targets=parsed,
        )
        self._changed(session.id)

    # -- views ---------------------------------------------------------------------------------

    async def state(self, session_id: int) -> QueueState:
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

    def mine(self, state: QueueState, participant_id: int, latest: Entry | None = None) -> dict[str, Any]:
        return mine_view(state, participant_id, self.core.store.clock(), latest)

    async def mine_of(self, state: QueueState, participant_ids: set[int]) -> dict[int, dict[str, Any]]:
        """Own views of several participants, with the latest request of those no longer in line."""
        active = {e.participant_id for e in (*state.queued, state.speaking) if e and e.participant_id}
        latest = await self.queue.last_requests(state.session.id, participant_ids - active)
        return {pid: self.mine(state, pid, latest.get(pid)) for pid in participant_ids}

    async def sweep(self) -> dict[int, set[int]]:
        ended = await self.queue.sweep(
            timedelta(seconds=self.core.settings.floor_grace_seconds), self.core.presence_ttl
        )
        for session_id in ended:
            self._floor_changed(session_id, None)
        return ended


def _reason(value: object, required: bool = False) -> str:
    return clean_text(value, "reason", max_length=MAX_REASON, required=required)


def _choice(kind: Any, value: object, field: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    allowed = [member.value for member in kind]
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of: {', '.join(allowed)}", details={"field": field})
    return str(value)


def _country(value: object) -> str | None:
    if value in (None, ""):
        return None
    return clean_country(value)
