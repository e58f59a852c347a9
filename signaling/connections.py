"""Connections and rooms: connect, join (the welcome), disconnect, and the session and presence events.

Connection bookkeeping is per process (a socket lives in one process); everything a client may see is read
from the database. A connection enters its session's room, its own participant's room and, for staff, the
staff room (signaling/rooms.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

import socketio

from server import logs
from server.db.snapshot_store import SessionSnapshot
from server.db.store import Arrival
from server.desk import QuestionDesk
from server.domain.errors import HemicycleError, Unauthenticated
from server.domain.model import EventInfo, PresenceSnapshot, Principal, SessionInfo
from server.domain.ratelimit import FloodGuard, TokenBucket
from server.domain.roles import Permission, can
from server.floor import Floor
from server.service import Hemicycle
from server.standing import Held

from . import protocol
from .connect_limits import ConnectLimits
from .messages import PROTOCOL_VERSION
from .presence import Presence
from .protocol import ConnectAuth
from .rooms import (
    Connection,
    Handler,
    help_room,
    participant_room,
    session_room,
    staff_room,
    statements_room,
)
from .welcome import PERMISSIONS, WelcomeParts

log = logging.getLogger(__name__)


class Gate(Protocol):
    """Who may join now, and what a joining or leaving connection owes the waiting room
    (implemented by signaling.moderation_events.ModerationEvents)."""

    async def hold(self, sid: str, arrival: Arrival) -> bool: ...

    async def joined(self, sid: str, principal: Principal, session: SessionInfo) -> None: ...

    async def left(self, sid: str) -> None: ...


class Record(Protocol):
    """Records a joining connection and reads its welcome's snapshot (server/db/snapshot_store.py:
    SnapshotStore.join); `abandoned()` if it was recorded after its caller had gone."""

    async def __call__(
        self,
        instance_id: str,
        sid: str,
        principal: Principal,
        session_id: int,
        abandoned: Callable[[], None] | None = None,
    ) -> SessionSnapshot: ...


class OpenGate:
    """Everyone joins at once (until the Hub sets the moderation gate)."""

    async def hold(self, sid: str, arrival: Arrival) -> bool:
        return False

    async def joined(self, sid: str, principal: Principal, session: SessionInfo) -> None:
        return None

    async def left(self, sid: str) -> None:
        return None


async def _nothing(connection: Connection) -> None:
    return None


class Connections:
    """Owned by the Hub: this process's joined connections (by Socket.IO sid), their audience per session and
    the events-per-second allowance an attendee's connections share.

    ``record(instance_id, sid, principal, session_id)`` records a joining connection as present and reads what
    its welcome shows of the session (queue, questions, captions, recording);
    ``gate`` decides who waits; ``gone`` frees what a closed connection held elsewhere (its media)."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        core: Hemicycle,
        floor: Floor,
        desk: QuestionDesk,
        presence: Presence,
        record: Record,
        limits: ConnectLimits,
    ) -> None:
        self.sio = sio
        self.core = core
        self.floor = floor
        self.desk = desk
        self.presence = presence
        self._record = record
        self.limits = limits
        self.gate: Gate = OpenGate()
        self.gone: Callable[[Connection], Awaitable[None]] = _nothing
        self._connections: dict[str, Connection] = {}
        self._audience: dict[int, int] = {}
        self.welcomes = WelcomeParts(floor, desk)
        # An attendee's connections on this process share one events-per-second allowance:
        # (bucket, connections).
        self._allowances: dict[int, tuple[TokenBucket, int]] = {}
        self._abandoning: set[asyncio.Task[None]] = set()
        self.handlers: dict[str, Handler] = {
            "session:set_state": self._on_set_state,
            "presence:get": self._on_presence_get,
        }

    # -- what is known of them ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[str]:
        return iter(self._connections)

    def __contains__(self, sid: object) -> bool:
        return sid in self._connections

    def get(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def items(self) -> list[tuple[str, Connection]]:
        return list(self._connections.items())

    def audience(self, session_id: int) -> int:
        """This process's connections to the session."""
        return self._audience.get(session_id, 0)

    def sessions(self) -> set[int]:
        """Sessions with at least one connection on this process."""
        return {session_id for session_id, count in self._audience.items() if count > 0}

    def held(self) -> list[Held]:
        return [Held(sid, c.principal, c.session_id) for sid, c in self._connections.items()]

    # -- connect, join, disconnect --------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        address = self.limits.address(environ)
        try:
            if auth is None or (isinstance(auth, dict) and auth.get("token") in (None, "")):
                # As over HTTP: no token at all is token_missing, a malformed one invalid_input.
                raise Unauthenticated(
                    "connect with auth {token, session_id}: the token is missing", code="token_missing"
                )
            request = protocol.parse(ConnectAuth, auth)
            await self.limits.attempt(address, request.token)
            arrival, _expires = await self.core.enter(
                request.token, request.session_id, Permission.SESSION_VIEW
            )
            principal, session = arrival.principal, arrival.session
            logs.bind(session=session.id, participant=principal.participant.id)
            self.limits.open(sid, principal.participant.id)
        except Unauthenticated as exc:
            await self.limits.refused(address)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except HemicycleError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except Exception:
            log.exception("connect failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        try:
            held = await self.gate.hold(sid, arrival)
        except BaseException:
            self.limits.closed(sid)  # refused: no disconnect will come to give its place back
            raise
        if held:
            return  # in the waiting room until a moderator admits them
        try:
            welcome = await self.join(sid, principal, session, arrival.event)
        except HemicycleError as exc:  # too many connections across processes: nothing was recorded
            self.limits.closed(sid)
            await self.abandon(sid)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except Exception:
            log.exception("join failed for %s", sid)
            self.limits.closed(sid)
            await self.abandon(sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        await self.sio.emit("welcome", welcome, to=sid)
        self.presence.changed(session.id)
        await self.gate.joined(sid, principal, session)
        log.info("%s joined session %s as %s", principal.participant.id, session.id, principal.role.value)

    async def join(
        self, sid: str, principal: Principal, session: SessionInfo, event: EventInfo | None = None
    ) -> dict[str, Any]:
        """Record the connection durably, put it in its rooms and build its welcome (the event read again
        unless given: it changes only by an administrator's edit, which nothing broadcasts)."""
        self._connections[sid] = Connection(
            principal,
            session.id,
            FloodGuard(self.core.settings.events_per_second, self._allowance(principal)),
        )
        self._audience[session.id] = self._audience.get(session.id, 0) + 1
        await self.sio.enter_room(sid, session_room(session.id))
        await self.sio.enter_room(sid, participant_room(session.id, principal.participant.id))
        if principal.role.is_staff:
            await self.sio.enter_room(sid, staff_room(session.id))
        if can(principal.role, Permission.STATEMENT_READ):
            await self.sio.enter_room(sid, statements_room(session.id))
        if can(principal.role, Permission.HELP_ANSWER):
            await self.sio.enter_room(sid, help_room(session.id))

        async def recorded() -> tuple[SessionSnapshot, PresenceSnapshot | None, dict[str, Any]]:
            """The connection recorded with what its welcome shows of the session, in one transaction
            gathered with the other joiners' (server/db/snapshot_store.py), after it entered its rooms; then
            the presence it is counted in. The roster only for staff: an attendee's welcome costs one
            aggregate, not the whole list."""
            state = await self._record(
                self.core.instance_id, sid, principal, session.id, lambda: self._recorded_too_late(sid)
            )
            if principal.role.is_staff:
                snapshot = await self.core.presence(session.id)
                return state, snapshot, snapshot.summary()
            return state, None, await self.presence.summary(session.id)

        if event is None:  # read alongside (a waiting room's admission); a connect has it from its arrival
            (state, snapshot, summary), event = await asyncio.gather(
                recorded(), self.core.store.get_event(session.event_id)
            )
        else:
            state, snapshot, summary = await recorded()
        queue, questions = state.queue, state.questions
        welcome: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "me": principal.public(),
            "permissions": PERMISSIONS[principal.role],
            "presence": summary,
            "mine": await self.floor.mine(queue, principal.participant.id),
            "my_questions": self.desk.mine_view(questions, principal.participant.id),
            # The session's last recording, so a page joining mid-recording shows it.
            "recording": state.recording.public() if state.recording is not None else None,
            # The same objects in every welcome at these versions (signaling/welcome.py): never modified. The
            # session as read with the queue, after this connection entered its rooms: a change of state
            # made since the arrival reached the room too late for this connection, not its welcome.
            **self.welcomes.shared(queue.session, event, queue, questions, state.captions),
        }
        if snapshot is not None:
            welcome["people"] = snapshot.roster()
            welcome["queue"] = self.floor.staff(queue)
            welcome["moderation"] = self.desk.staff_view(questions)
        return welcome

    async def abandon(self, sid: str) -> None:
        """A join that failed half-way: forgotten here and in the database."""
        self.forget(sid)
        await self.core.store.remove_presence(self.core.instance_id, sid)

    def _recorded_too_late(self, sid: str) -> None:
        """The client left while its connection was being recorded: its connect handler was cancelled (and
        its disconnect may have come and gone), but the batch recorded it. Forgotten again, now that the row
        is there to remove; unless python-socketio still holds the connection open, whose disconnect, still
        to come, removes the row as usual."""
        if sid in self._connections and self.sio.manager.is_connected(sid, "/"):
            return
        task = asyncio.create_task(self._forget_recorded(sid), name=f"hemicycle-abandon-{sid}")
        self._abandoning.add(task)
        task.add_done_callback(self._abandoning.discard)

    async def _forget_recorded(self, sid: str) -> None:
        self.forget(sid)
        self.limits.closed(sid)
        await self._unrecord(sid)

    async def _unrecord(self, sid: str) -> None:
        """The connection's presence row removed, and presence recounted if there was one."""
        try:
            session_id = await self.core.store.remove_presence(self.core.instance_id, sid)
        except Exception:
            log.exception("could not remove presence of %s", sid)
            return
        if session_id is not None:
            self.presence.changed(session_id)

    def _allowance(self, principal: Principal) -> TokenBucket | None:
        """The events-per-second allowance an attendee's connections share: more tabs buy no more messages.
        Staff get one per connection (one staff link may be open on several people's devices)."""
        if principal.role.is_staff:
            return None
        key = principal.participant.id
        bucket, users = self._allowances.get(key, (None, 0))
        if bucket is None:
            bucket = FloodGuard.allowance(self.core.settings.events_per_second)
        self._allowances[key] = (bucket, users + 1)
        return bucket

    def forget(self, sid: str) -> Connection | None:
        connection = self._connections.pop(sid, None)
        if connection is not None:
            self._audience[connection.session_id] -= 1
            if not self._audience[connection.session_id]:
                self.welcomes.forget(connection.session_id)
            key = connection.principal.participant.id
            if connection.guard.shared is not None and key in self._allowances:
                bucket, users = self._allowances[key]
                if users > 1:
                    self._allowances[key] = (bucket, users - 1)
                else:
                    del self._allowances[key]
        return connection

    def forget_all(self) -> list[str]:
        """At stop, before closing them: each disconnect then skips its own presence write (the instance's
        rows go in one statement)."""
        sids = list(self._connections)
        self._connections.clear()
        self._allowances.clear()
        self._audience.clear()
        return sids

    async def on_disconnect(self, sid: str, *_reason: Any) -> None:
        self.limits.closed(sid)
        connection = self.forget(sid)
        if connection is None:
            await self.gate.left(sid)
            return
        await self.gone(connection)
        await self._unrecord(sid)

    # -- handlers -------------------------------------------------------------------------------

    async def _on_set_state(self, connection: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.SetState, payload)
        session = await self.core.set_state(connection.principal, connection.session_id, request.state)
        return {"session": session.public()}

    async def _on_presence_get(self, connection: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.PresenceGet, payload)
        if not connection.principal.role.is_staff:
            return {"presence": await self.core.presence_summary(connection.session_id)}
        snapshot = await self.core.presence(connection.session_id)
        return {"presence": snapshot.summary(), "people": snapshot.roster()}
