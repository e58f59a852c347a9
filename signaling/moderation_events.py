"""The Socket.IO side of moderating participants: the waiting room, and the moderators' events.

A waiting attendee's connection is accepted but joins none of the session's rooms: it gets `waiting`, and
every event it sends is refused with `waiting`, until a moderator admits them. The admission is stored;
the process holding the waiting connection then joins it in place (at once when it is the process that
took the decision, otherwise at its next look at the database, every WATCH_SECONDS while anyone waits
there). Removals and bans go to every process through the Socket.IO manager (Redis when configured): the
`moderation:removed` notice to the participant's rooms, then a disconnect of each of their connections, which
python-socketio forwards to the process that holds it. The database is the second way there: each process
re-checks its connections when their event's standing version moves (server/standing.py, StandingWatch) and
closes, through refused_here, those Redis did not (it was down, or the decision came from the command line).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import socketio

from server.db.store import Arrival, GrantInfo
from server.domain.errors import HemicycleError
from server.domain.model import Principal, SessionInfo
from server.domain.ratelimit import FloodGuard
from server.domain.roles import Permission, can
from server.moderation import ParticipantModeration
from server.service import Hemicycle
from server.standing import Held

from . import fanout, protocol
from .rooms import Connection, Handler, participant_room

log = logging.getLogger(__name__)

# How often a process re-reads the admissions of the connections waiting on it.
WATCH_SECONDS = 0.5
MODERATION_COALESCE_SECONDS = 0.2
# Time for the `moderation:removed` notice to leave before the connection closes: closing drops what the
# socket has not written yet, and a busy server may take a while to write it.
REMOVAL_NOTICE_SECONDS = 1.0

WAITING_MESSAGE = (
    "This session has a waiting room: a moderator will let you in shortly. This page updates by itself."
)


def moderators_room(session_id: int) -> str:
    """Connections that may moderate participants: they receive the `moderation` state."""
    return f"session:{session_id}:moderators"


def waiting_room(session_id: int, participant_id: int) -> str:
    """Every waiting connection of one participant (tabs, devices), on any process."""
    return f"session:{session_id}:waiting:{participant_id}"


@dataclass
class Waiting:
    principal: Principal
    session: SessionInfo
    guard: FloodGuard


class Lobby(Protocol):
    """Where an admitted connection joins (implemented by signaling.connections.Connections)."""

    async def join(self, sid: str, principal: Principal, session: SessionInfo) -> dict[str, Any]: ...

    async def abandon(self, sid: str) -> None: ...


Fail = Callable[[str, str, HemicycleError], Awaitable[dict[str, Any]]]


class ModerationEvents:
    """Owned by the Hub: the waiting room of this process and the moderation events' handlers."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        core: Hemicycle,
        actions: ParticipantModeration,
        lobby: Lobby,
        presence_changed: Callable[[int], None],
        fail: Fail,
    ) -> None:
        self.sio = sio
        self.core = core
        self.actions = actions
        self.lobby = lobby
        self._presence_changed = presence_changed
        self._fail = fail
        self._waiting: dict[str, Waiting] = {}
        self._dirty: set[int] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.handlers: dict[str, Handler] = {
            "moderation:get": self._on_get,
            "moderation:settings": self._on_settings,
            "participant:admit": self._on_admit,
            "participant:admit_all": self._on_admit_all,
            "participant:remove": self._on_remove,
            "participant:ban": self._on_ban,
            "participant:unban": self._on_unban,
            "participant:mute": self._on_mute,
        }
        assert set(self.handlers) == set(protocol.MODERATION_EVENTS)

    # -- hooks called by the connections (signaling/connections.py) ------------------------------

    async def hold(self, sid: str, arrival: Arrival) -> bool:
        """At connect: True when the attendee must wait (they were told so); False to join as usual."""
        principal, session, event = arrival.principal, arrival.session, arrival.event
        try:
            gate = await self.actions.gate(principal, session, arrival.straight_in)
            if gate.admitted:
                return False
        except HemicycleError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except Exception:
            log.exception("waiting room check failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        self._waiting[sid] = Waiting(principal, session, FloodGuard(self.core.settings.events_per_second))
        await self.sio.enter_room(sid, waiting_room(session.id, principal.participant.id))
        await self.sio.emit(
            "waiting",
            {
                "me": principal.public(),
                "session": session.public(),
                "event": event.public(),
                "message": WAITING_MESSAGE,
            },
            to=sid,
        )
        self._watch()
        log.info("%s waits to join session %s", principal.participant.id, session.id)
        return True

    async def joined(self, sid: str, principal: Principal, session: SessionInfo) -> None:
        """After the welcome: moderators get the moderation state and its updates."""
        if not can(principal.role, Permission.PARTICIPANTS_MODERATE):
            return
        await self.sio.enter_room(sid, moderators_room(session.id))
        state = await self.actions.state(session.id)
        await self.sio.emit("moderation", self.actions.view(state), to=sid)

    def is_waiting(self, sid: str) -> bool:
        return sid in self._waiting

    async def refuse_waiting(self, sid: str, event: str) -> dict[str, Any]:
        """Anything a waiting connection sends is refused; a flood closes it, as for everyone."""
        waiting = self._waiting[sid]
        if waiting.guard.check(time.monotonic()) == "flood":
            await self.sio.disconnect(sid)
        return await self._fail(
            sid,
            event,
            HemicycleError("you are in the waiting room: a moderator will let you in", code="waiting"),
        )

    async def left(self, sid: str) -> None:
        """A connection closed; if it was the participant's last waiting one here, their row says so."""
        waiting = self._waiting.pop(sid, None)
        if waiting is None:
            return
        pair = (waiting.session.id, waiting.principal.participant.id)
        if any((w.session.id, w.principal.participant.id) == pair for w in self._waiting.values()):
            return
        try:
            if await self.actions.store.left(*pair):
                self.moderation_changed(pair[0])
        except Exception:
            log.exception("could not mark %s as gone from the waiting room", pair)

    async def stop(self) -> None:
        self._stopping = True
        # The delayed closes too: everyone is disconnected below, or by the hub.
        for task in (self._watch_task, self._flush_task, *self._background):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for sid in list(self._waiting):
            await self.sio.disconnect(sid)
        self._waiting.clear()

    # -- watching the admissions of waiting connections ---------------------------------------------

    def _watch(self) -> None:
        if self._stopping:
            return
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.create_task(self._watch_loop(), name="hemicycle-waiting-room")

    async def _watch_loop(self) -> None:
        while self._waiting:
            await asyncio.sleep(WATCH_SECONDS)
            try:
                await self.reconcile()
            except Exception:
                log.exception("waiting room check failed; retrying")

    async def reconcile(self) -> None:
        """Join the admitted, close the removed or banned, and say again who still waits here."""
        pairs = {(w.session.id, w.principal.participant.id) for w in self._waiting.values()}
        standing = await self.actions.store.standing(pairs)
        back: dict[int, set[int]] = {}
        for sid, waiting in list(self._waiting.items()):
            pair = (waiting.session.id, waiting.principal.participant.id)
            if pair not in standing:
                continue
            state, grant_holds = standing[pair]
            if not grant_holds or state == "removed":
                # The decision is committed before its `moderation:removed` notice is sent (by this process
                # or, through the manager, another one): closing now could leave the room before the notice
                # reaches it, and the person would never learn why. The connection stays in the waiting
                # room, and closes as removed() closes it. Without Redis, no notice is coming: this process
                # tells it.
                self._waiting.pop(sid, None)
                if fanout.fanout_up(self.sio.manager):
                    self._close_later([sid])
                else:
                    refusal = (
                        HemicycleError("you are not admitted to this session", code="not_admitted")
                        if grant_holds
                        else HemicycleError("this link was withdrawn by the organisers", code="token_revoked")
                    )
                    await self.refused_here(Held(sid, waiting.principal, waiting.session.id), refusal)
            elif state == "admitted":
                await self._admit_here(sid)
            elif state == "left":
                back.setdefault(pair[0], set()).add(pair[1])
        for session_id, people in back.items():
            if await self.actions.store.back(session_id, people):
                self.moderation_changed(session_id)

    async def _admit_here(self, sid: str) -> None:
        """Join a waiting connection of this process as if it had just connected."""
        waiting = self._waiting.pop(sid, None)
        if waiting is None:
            return
        await self.sio.leave_room(sid, waiting_room(waiting.session.id, waiting.principal.participant.id))
        try:
            principal = await self.core.store.principal(
                waiting.principal.grant_id, waiting.principal.participant.id
            )
            session = await self.core.store.get_session(waiting.session.id)
            welcome = await self.lobby.join(sid, principal, session)
        except HemicycleError as exc:  # already as many connections as allowed, on the processes together
            await self.lobby.abandon(sid)
            await self.sio.emit("error", {**exc.as_dict(), "event": "connect"}, to=sid)
            self._close_later([sid])
            return
        except Exception:
            log.exception("could not admit %s", sid)
            await self.lobby.abandon(sid)
            await self.sio.disconnect(sid)
            return
        await self.sio.emit("welcome", welcome, to=sid)
        self._presence_changed(session.id)
        await self.joined(sid, principal, session)

    # -- ModerationNotifier -------------------------------------------------------------------------

    def moderation_changed(self, session_id: int) -> None:
        if self._stopping:
            return
        self._dirty.add(session_id)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later(), name="hemicycle-moderation")

    async def _flush_later(self) -> None:
        await asyncio.sleep(MODERATION_COALESCE_SECONDS)
        while self._dirty:
            session_id = self._dirty.pop()
            try:
                state = await self.actions.state(session_id)
                await self.sio.emit("moderation", self.actions.view(state), room=moderators_room(session_id))
            except Exception:
                log.exception("moderation broadcast for session %s failed", session_id)

    async def admitted(self, session_id: int, participant_ids: list[int]) -> None:
        for participant_id in participant_ids:
            await self.sio.emit(
                "moderation:admitted",
                {"session_id": session_id},
                room=waiting_room(session_id, participant_id),
            )
        chosen = set(participant_ids)
        for sid, waiting in list(self._waiting.items()):
            if waiting.session.id == session_id and waiting.principal.participant.id in chosen:
                await self._admit_here(sid)

    async def removed(self, participant_id: int, sessions: set[int], payload: dict[str, Any]) -> None:
        banned = bool(payload.get("banned"))
        connections = await self.actions.store.connections(
            participant_id, None if banned else payload["session_id"]
        )
        for session_id in sorted(sessions | {s for s, _ in connections}):
            notice = {**payload, "session_id": session_id}
            await self.sio.emit(
                "moderation:removed", notice, room=participant_room(session_id, participant_id)
            )
            await self.sio.emit("moderation:removed", notice, room=waiting_room(session_id, participant_id))
        sids = [sid for _, sid in connections]
        for sid, waiting in list(self._waiting.items()):
            if waiting.principal.participant.id == participant_id and (
                banned or waiting.session.id in sessions
            ):
                self._waiting.pop(sid, None)
                sids.append(sid)

        self._close_later(sids)

    async def link_withdrawn(self, grant: GrantInfo) -> None:
        """Every connection of the link's holder, on every process: told (`error`, token_revoked), then
        closed. Connections are known by person, not by link; a reissued link has none yet."""
        connections = await self.actions.store.connections(grant.participant_id)
        sids = [sid for _, sid in connections]
        for sid, waiting in list(self._waiting.items()):
            if waiting.principal.grant_id == grant.id:
                self._waiting.pop(sid, None)
                sids.append(sid)
        refusal = HemicycleError("this link was withdrawn by the organisers", code="token_revoked")
        for sid in sids:
            await self.sio.emit("error", {**refusal.as_dict(), "event": "connect"}, to=sid)
        self._close_later(sids)
        # Media published or watched over WHIP/WHEP has no Socket.IO connection to close with it.
        sessions = {s for s, _ in connections} | ({grant.session_id} if grant.session_id else set())
        for session_id in sorted(sessions):
            try:
                await self.actions.media.participant_gone(session_id, grant.participant_id)
            except Exception:
                log.exception("the media relay failed to drop participant %s", grant.participant_id)

    async def refused_here(self, held: Held, refusal: HemicycleError) -> None:
        """The standing watch found a connection of this process no longer allowed (a decision this process
        did not hear of through Redis): told as the deciding process tells it, then closed."""
        notice = await self.actions.store.removal(held.session_id, held.principal.participant.id)
        if notice is not None:
            await self.sio.emit("moderation:removed", notice, to=held.key)
        else:
            await self.sio.emit("error", {**refusal.as_dict(), "event": "connect"}, to=held.key)
        log.info("closing %s: %s", held.key, refusal.code)
        self._close_later([held.key])

    def _close_later(self, sids: list[str]) -> None:
        """Close connections once a `moderation:removed` notice sent to them has had time to leave."""

        async def close() -> None:
            await asyncio.sleep(REMOVAL_NOTICE_SECONDS)
            for sid in sids:
                # python-socketio closes a connection held by another process through the manager.
                await self.sio.disconnect(sid)

        task = asyncio.create_task(close())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def muted(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None:
        await self.sio.emit("moderation:muted", payload, room=participant_room(session_id, participant_id))

    # -- handlers -----------------------------------------------------------------------------------

    async def _view(self, session_id: int) -> dict[str, Any]:
        return self.actions.view(await self.actions.state(session_id))

    async def _on_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.ModerationGet, payload)
        c.principal.require(Permission.PARTICIPANTS_MODERATE)
        return {"moderation": await self._view(c.session_id)}

    async def _on_settings(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ModerationSettings, payload)
        admitted = await self.actions.settings(c.principal, c.session_id, request.waiting_room, request.rules)
        view = await self._view(c.session_id)
        return {"waiting_room": view["waiting_room"], "rules": view["rules"], "admitted": admitted}

    async def _on_admit(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantAdmit, payload)
        admission = await self.actions.admit(
            c.principal, c.session_id, request.participant_id, request.version
        )
        return {"participant": admission.staff()}

    async def _on_admit_all(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantAdmitAll, payload)
        admitted = await self.actions.admit_all(c.principal, c.session_id, request.include_flagged)
        return {"admitted": admitted}

    async def _on_remove(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantRemove, payload)
        admission = await self.actions.remove(
            c.principal, c.session_id, request.participant_id, request.reason, request.version
        )
        return {"participant": admission.staff()}

    async def _on_ban(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantBan, payload)
        ban = await self.actions.ban(c.principal, c.session_id, request.participant_id, request.reason)
        return {"ban": ban.staff()}

    async def _on_unban(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantUnban, payload)
        ban = await self.actions.unban(c.principal, c.session_id, request.participant_id, request.reason)
        return {"ban": ban.staff()}

    async def _on_mute(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.ParticipantMute, payload)
        admission = await self.actions.mute(
            c.principal, c.session_id, request.participant_id, request.audio, request.video, request.reason
        )
        return {"participant": admission.staff()}
