"""The Socket.IO adapter: connections, rooms, validated events, coalesced presence broadcasts.

Connection bookkeeping is per process (a socket lives in one process); everything a client may see is read
from the database, and broadcasts go through python-socketio's manager (Redis when configured), so every
process's clients get them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web

from server import logs
from server.db.store import GrantInfo
from server.desk import QuestionDesk
from server.domain.errors import HemicycleError, Unauthenticated
from server.domain.model import Principal, SessionInfo
from server.domain.queue import Entry
from server.domain.ratelimit import FloodGuard, TokenBucket, WindowRule
from server.domain.roles import ROLE_PERMISSIONS, Permission
from server.floor import Floor
from server.limits import Limiter, Limits
from server.service import Hemicycle
from server.standing import Held, StandingChecks, StandingWatch

from . import fanout, protocol, wsdirect
from .caption_events import CaptionEvents
from .media_events import MediaEvents
from .messages import PROTOCOL_VERSION, Contract
from .moderation_events import ModerationEvents
from .protocol import CLIENT_EVENTS, MAX_MESSAGE_BYTES, QUESTION_WRITES, QUEUE_WRITES, ConnectAuth

log = logging.getLogger(__name__)

# How long changes are gathered before one broadcast: a burst of joins or hands becomes one message.
PRESENCE_COALESCE_SECONDS = 0.2
LARGE_ROSTER = 300
LARGE_ROSTER_COALESCE_SECONDS = 1.0
PRESENCE_MAX_SECONDS = 5.0
# The staff roster of a large session is rebuilt at most every second per 500 people present: filling a
# session of thousands should not spend its time listing everyone again and again. Counts go out each flush.
ROSTER_SECONDS_PER_PERSON = 1 / 500
# In a large session, a joining attendee's welcome reuses counts broadcast this recently.
SUMMARY_FRESH_SECONDS = 2.0
# Queue changes: a short window gathers a burst (a lower-all, simultaneous hands); then broadcasts to a
# session are spaced by its audience, so thousands of attendees get a few fresh floors a second under load
# instead of twenty that pile up in their sockets. A quiet change goes out after the short window. A broadcast
# costs about 10 µs per websocket listener (signaling/wsdirect.py), so 50 µs leaves the event loop most of
# its time for the writes and acknowledgements under load.
QUEUE_COALESCE_SECONDS = 0.005
QUEUE_SPACING_PER_LISTENER = 50e-6
QUEUE_SPACING_MAX_SECONDS = 0.3
# Hands up and down, per participant across their connections: a sustained one every two seconds.
QUEUE_WRITES_PER_SECOND = 0.5
QUEUE_WRITES_BURST = 8
# Questions and votes, per participant: a burst of 10, then one a second.
QUESTION_WRITES_PER_SECOND = 1.0
QUESTION_WRITES_BURST = 10
# The same allowances across every process of the deployment (counted in Redis when it is configured), so
# that connections spread over processes do not multiply them: about the buckets' long-run rates, with room
# for their bursts. Only these writes are counted in Redis. The local buckets above refuse a flood first, so
# at most a burst and then one or two a second per participant reach Redis, and each is a write that costs a
# locked database transaction anyway. A shared count costs one Redis round trip (measured: about 1.4 ms on a
# busy two-core test machine, against 0.3 µs for a local bucket): on every Socket.IO event that would tax
# the reads the server answers from memory, so the general allowance (HEMICYCLE_EVENTS_PER_SECOND) is shared
# by an attendee's connections within a process and judged per process.
QUEUE_WRITES_WINDOW = WindowRule(limit=10, seconds=20.0)
QUESTION_WRITES_WINDOW = WindowRule(limit=15, seconds=15.0)
# Question changes: the first after a quiet spell goes out after a short window; then a session's broadcasts
# are at least QUESTIONS_SPACING_SECONDS apart, however many vote. With only what changed in each (a vote is
# `{"id", "votes"}`), a passive attendee's bytes per second are bounded by the number of questions, not by
# the number of voters.
QUESTIONS_COALESCE_SECONDS = 0.1
QUESTIONS_SPACING_SECONDS = 0.25
# The health check's round trip to the database.
PROBE_SECONDS = 2.0


def session_room(session_id: int) -> str:
    return f"session:{session_id}"


def staff_room(session_id: int) -> str:
    return f"session:{session_id}:staff"


def participant_room(session_id: int, participant_id: int) -> str:
    """Every connection (tab, device, process) of one participant in one session."""
    return f"session:{session_id}:participant:{participant_id}"


@dataclass
class Connection:
    principal: Principal
    session_id: int
    guard: FloodGuard


Handler = Callable[[Connection, Any], Awaitable[dict[str, Any]]]


class Hub:
    """Owns the python-socketio server of one process and implements the use cases' Notifier."""

    def __init__(self, core: Hemicycle, redis_url: str | None, redis_channel: str = "hemicycle") -> None:
        self.core = core
        self.instance_id = core.instance_id
        self.sio = wsdirect.SocketServer(
            async_mode="aiohttp",
            client_manager=fanout.manager(redis_url, redis_channel),
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            logger=False,
            engineio_logger=False,
        )
        if core.settings.check_messages:
            self.sio.contract = Contract()
        if isinstance(self.sio.eio, wsdirect.WsDirectServer):
            self.sio.eio.send_queue_limit = core.settings.send_queue_limit
            self.sio.eio.read_seconds = core.settings.http_read_seconds
        self.floor = Floor(core)
        self.desk = QuestionDesk(core)
        self._questions_dirty: dict[int, set[int]] = {}
        self._questions_tasks: dict[int, asyncio.Task[None]] = {}
        self._questions_sent: dict[int, float] = {}
        # The version of the last delta this process broadcast per session, to everyone and to staff.
        self._questions_label: dict[int, int] = {}
        self._questions_staff_label: dict[int, int] = {}
        self._question_buckets: dict[int, TokenBucket] = {}
        self._connections: dict[str, Connection] = {}
        self._dirty: set[int] = set()
        self._roster_due: dict[int, float] = {}
        self._summaries: dict[int, tuple[float, dict[str, Any]]] = {}
        self._roster_owed: dict[int, asyncio.TimerHandle] = {}
        self._presence_delay = PRESENCE_COALESCE_SECONDS
        self._flush_task: asyncio.Task[None] | None = None
        self._queue_dirty: dict[int, set[int]] = {}
        self._queue_tasks: dict[int, asyncio.Task[None]] = {}
        self._queue_sent: dict[int, float] = {}
        self._audience: dict[int, int] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._participant_buckets: dict[int, TokenBucket] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Refused events by error code, since the process started: read by server/metrics.py.
        self.error_counts: collections.Counter[str] = collections.Counter()
        self.limits = Limits(core.settings)
        self._hands_limit = self.limits.limiter("hands", QUEUE_WRITES_WINDOW)
        self._questions_limit = self.limits.limiter("questions", QUESTION_WRITES_WINDOW)
        # An attendee's connections on this process share one events-per-second allowance:
        # (bucket, connections).
        self._allowances: dict[int, tuple[TokenBucket, int]] = {}
        self.moderation = ModerationEvents(self)
        self.standing = StandingChecks(core.store)
        self.watch = StandingWatch(
            core.store,
            self._held,
            self.moderation.refused_here,
            lambda: fanout.fanout_up(self.sio.manager),
        )
        self._handlers: dict[str, Handler] = {
            "session:set_state": self._on_set_state,
            "presence:get": self._on_presence_get,
            "hand:raise": self._on_hand_raise,
            "hand:lower": self._on_hand_lower,
            "queue:get": self._on_queue_get,
            "queue:add_in_room": self._on_add_in_room,
            "queue:move": self._on_move,
            "queue:remove": self._on_remove,
            "queue:lower_all": self._on_lower_all,
            "queue:settings": self._on_settings,
            "floor:grant": self._on_grant,
            "floor:end": self._on_end,
            "floor:time": self._on_time,
            "questions:get": self._on_questions_get,
            "questions:settings": self._on_questions_settings,
            "question:post": self._on_question_post,
            "question:edit": self._on_question_edit,
            "question:withdraw": self._on_question_withdraw,
            "question:vote": self._on_question_vote,
            "question:unvote": self._on_question_unvote,
            "question:moderate": self._on_question_moderate,
            "question:merge": self._on_question_merge,
            "question:relay": self._on_question_relay,
            **self.moderation.handlers,
        }
        self.media = MediaEvents(self)
        self._handlers.update(self.media.handlers)
        self.captions = CaptionEvents(self)
        self._handlers.update(self.captions.handlers)
        # Moderation is enforced on media server-side: a mute or a removal decided here reaches this
        # process's relay at once, and the process that runs a session's relay re-reads the stored mutes
        # when someone publishes and on each reconcile (a decision taken on another process).
        self.moderation.actions.attach_media(self.media.service)
        self.media.service.muted_in = self.moderation.actions.muted_in
        # Media follows the waiting room too: WHIP, WHEP, ICE and media:* refuse whom the gate would hold.
        self.media.service.entry = self.moderation.actions.require_admitted
        assert set(self._handlers) == set(CLIENT_EVENTS), "every protocol event needs a handler"
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_any)
        core.notifier = self

    # -- lifecycle ------------------------------------------------------------------------------

    def idle(self) -> bool:
        """No Socket.IO connection on this process, the waiting room's included."""
        return not self.sio.eio.sockets

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def start(self) -> None:
        await self.core.store.register_instance(self.instance_id, socket.gethostname(), os.getpid())
        for session_id in await self.core.store.reap_instances(self.core.presence_ttl, self.instance_id):
            self.presence_changed(session_id)
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="hemicycle-heartbeat")
        self._sweep_task = asyncio.create_task(self._sweeper(), name="hemicycle-floor-sweep")
        self.watch.start()
        if not self.sio.manager_initialized:
            # python-socketio subscribes to Redis at the first connection; at start, so that the health
            # check tells a process that cannot reach Redis before anyone is sent to it.
            self.sio.manager_initialized = True
            self.sio.manager.initialize()

    async def stop(self) -> None:
        await self.watch.stop()
        await self.moderation.stop()
        await self.standing.stop()
        for task in (self._heartbeat_task, self._sweep_task):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        # Forgotten first, so each disconnect skips its own presence write: dropping the instance below
        # removes every presence row of this process in one statement.
        sids = list(self._connections)
        self._connections.clear()
        self._allowances.clear()
        self._audience.clear()
        await asyncio.gather(*(self.sio.disconnect(sid) for sid in sids), return_exceptions=True)
        sessions = await self.core.store.drop_instance(self.instance_id)
        self._dirty |= sessions
        await self._flush_now()
        await self._flush_queues()
        await self._flush_questions()
        for task in (self._flush_task, *self._queue_tasks.values(), *self._questions_tasks.values()):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for handle in self._roster_owed.values():
            handle.cancel()
        self._roster_owed.clear()
        await self.limits.close()
        if isinstance(self.sio.manager, fanout.DirectEmitRedis):
            await self.sio.manager.close()

    def _held(self) -> list[Held]:
        return [Held(sid, c.principal, c.session_id) for sid, c in self._connections.items()]

    async def dependencies(self) -> dict[str, bool]:
        """Whether the database, and Redis when configured, answer now (for the health check)."""

        async def database() -> bool:
            try:
                await asyncio.wait_for(self.core.store.ping(), PROBE_SECONDS)
            except Exception:
                return False
            return True

        found, redis = await asyncio.gather(database(), fanout.reachable(self.sio.manager))
        return {"database": found} if redis is None else {"database": found, "redis": redis}

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.core.settings.heartbeat_seconds)
            try:
                await self.core.store.heartbeat(self.instance_id)
                for session_id in await self.core.store.reap_instances(
                    self.core.presence_ttl, self.instance_id
                ):
                    self.presence_changed(session_id)
            except Exception:
                log.exception("heartbeat failed; retrying at the next beat")

    async def _sweeper(self) -> None:
        """End turns past their automatic end or abandoned by a disconnected speaker (any process may)."""
        interval = min(1.0, self.core.settings.heartbeat_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                for session_id, ended in (await self.floor.sweep()).items():
                    self.queue_changed(session_id, ended)
            except Exception:
                log.exception("floor sweep failed; retrying")

    # -- Notifier -------------------------------------------------------------------------------

    def questions_changed(self, session_id: int, participants: set[int]) -> None:
        self._questions_dirty.setdefault(session_id, set()).update(participants)
        task = self._questions_tasks.get(session_id)
        if task is None or task.done():
            self._questions_tasks[session_id] = asyncio.create_task(
                self._questions_later(session_id), name=f"hemicycle-questions-{session_id}"
            )

    async def _questions_later(self, session_id: int) -> None:
        """Flush a session's question changes, no sooner than the spacing after its previous broadcast."""
        while session_id in self._questions_dirty:
            since = time.monotonic() - self._questions_sent.get(session_id, float("-inf"))
            await asyncio.sleep(max(QUESTIONS_COALESCE_SECONDS, QUESTIONS_SPACING_SECONDS - since))
            self._questions_sent[session_id] = time.monotonic()
            await self._flush_session_questions(session_id)

    async def _flush_questions(self) -> None:
        while self._questions_dirty:
            await self._flush_session_questions(next(iter(self._questions_dirty)))

    async def _flush_session_questions(self, session_id: int) -> None:
        """What changed to staff (every state) and, of the approved questions, to everyone; each asker or
        voter concerned, their own questions whole. The changes sent are this process's writes up to the
        version read; a later one (committed after the read) stays for the next broadcast, so none is left
        out."""
        touched = self._questions_dirty.pop(session_id, set())
        try:
            state = await self.desk.state(session_id)
        except Exception:
            log.exception("questions broadcast for session %s failed", session_id)
            return
        changes = self.desk.take_changes(state)
        try:
            staff = self.desk.staff_delta(state, changes)
            if staff is not None:
                await self._send_delta(
                    "questions:staff_changed", staff, staff_room(session_id), self._questions_staff_label
                )
            public = self.desk.public_delta(state, changes)
            if public is not None:
                await self._send_delta(
                    "questions:changed", public, session_room(session_id), self._questions_label
                )
            for participant_id in touched:
                await self.sio.emit(
                    "questions:mine",
                    self.desk.mine_view(state, participant_id),
                    room=participant_room(session_id, participant_id),
                )
        except Exception:
            # Kept for the next broadcast of the session, which then carries them.
            self.desk.keep_changes(state, changes)
            log.exception("questions broadcast for session %s failed", session_id)

    async def _send_delta(self, event: str, delta: dict[str, Any], room: str, labels: dict[int, int]) -> None:
        """A delta names this process and the version of its previous one to the same room, so that a
        client that missed one (a fan-out hiccup) sees the gap and reads the whole list again."""
        session_id = delta["session_id"]
        delta["origin"] = self.instance_id
        delta["previous"] = labels.get(session_id)
        labels[session_id] = delta["version"]
        await self.sio.emit(event, delta, room=room)

    def queue_changed(self, session_id: int, participants: set[int]) -> None:
        self._queue_dirty.setdefault(session_id, set()).update(participants)
        task = self._queue_tasks.get(session_id)
        if task is None or task.done():
            self._queue_tasks[session_id] = asyncio.create_task(
                self._queue_later(session_id), name=f"hemicycle-queue-{session_id}"
            )

    def _queue_spacing(self, session_id: int) -> float:
        return min(QUEUE_SPACING_MAX_SECONDS, self._audience.get(session_id, 0) * QUEUE_SPACING_PER_LISTENER)

    async def _queue_later(self, session_id: int) -> None:
        """Flush a session's queue changes, no sooner than its spacing after the previous broadcast."""
        while session_id in self._queue_dirty:
            since = time.monotonic() - self._queue_sent.get(session_id, float("-inf"))
            await asyncio.sleep(max(QUEUE_COALESCE_SECONDS, self._queue_spacing(session_id) - since))
            self._queue_sent[session_id] = time.monotonic()
            await self._flush_queue(session_id)

    async def _flush_queues(self) -> None:
        while self._queue_dirty:
            await self._flush_queue(next(iter(self._queue_dirty)))

    async def _flush_queue(self, session_id: int) -> None:
        """One read, then: each participant whose own request changed, their view (first, so that the
        line that follows finds it); the floor to everyone; the line's order to those in it, who find their
        new place there; the full queue to staff."""
        touched = self._queue_dirty.pop(session_id, set())
        try:
            state = await self.floor.state(session_id)
            staff, public = self.floor.views(state)
            line, waiting = self.floor.line(state)
            for participant_id, mine in (await self.floor.mine_of(state, touched)).items():
                await self.sio.emit("queue:mine", mine, room=participant_room(session_id, participant_id))
            await self.sio.emit("floor", public, room=session_room(session_id))
            if waiting:
                # One message for all their rooms (one publish through Redis), whichever process holds them.
                rooms = [participant_room(session_id, participant_id) for participant_id in waiting]
                await self.sio.emit("queue:line", line, room=rooms)
            await self.sio.emit("queue", staff, room=staff_room(session_id))
        except Exception:
            log.exception("queue broadcast for session %s failed", session_id)

    async def link_withdrawn(self, grant: GrantInfo) -> None:
        await self.moderation.link_withdrawn(grant)

    async def session_changed(self, session: SessionInfo, actor: Principal) -> None:
        payload = {
            "session": session.public(),
            "by": {
                "id": actor.participant.id,
                "name": actor.participant.display_name,
                "role": actor.role.value,
            },
        }
        await self.sio.emit("session:state", payload, room=session_room(session.id))

    def presence_changed(self, session_id: int) -> None:
        self._dirty.add(session_id)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_later(), name="hemicycle-presence")

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._presence_delay)
        await self._flush_now()

    async def _flush_now(self) -> None:
        while self._dirty:
            session_id = self._dirty.pop()
            try:
                summary = await self.core.presence_summary(session_id)
                self._summaries[session_id] = (time.monotonic(), summary)
                # A crowd arriving: gather a second of joins per broadcast rather than a fifth, and a second
                # more per thousand people, since every one of them receives each count.
                self._presence_delay = (
                    min(PRESENCE_MAX_SECONDS, max(LARGE_ROSTER_COALESCE_SECONDS, summary["total"] / 1000))
                    if summary["total"] > LARGE_ROSTER
                    else PRESENCE_COALESCE_SECONDS
                )
                await self.sio.emit("presence", summary, room=session_room(session_id))
                await self._send_roster(session_id)
            except Exception:
                log.exception("presence broadcast for session %s failed", session_id)

    async def _send_roster(self, session_id: int) -> None:
        """The roster to staff, now or, in a large session, once its spacing has passed."""
        now = time.monotonic()
        due = self._roster_due.get(session_id, 0.0)
        if now < due:
            if session_id not in self._roster_owed:
                self._roster_owed[session_id] = asyncio.get_running_loop().call_later(
                    due - now, self._roster_later, session_id
                )
            return
        snapshot = await self.core.presence(session_id)
        self._roster_due[session_id] = now + len(snapshot.people) * ROSTER_SECONDS_PER_PERSON
        await self.sio.emit(
            "presence:people",
            {"session_id": session_id, "people": snapshot.roster()},
            room=staff_room(session_id),
        )

    def _roster_later(self, session_id: int) -> None:
        self._roster_owed.pop(session_id, None)
        self.presence_changed(session_id)

    # -- connection -----------------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            if auth is None or (isinstance(auth, dict) and auth.get("token") in (None, "")):
                # As over HTTP: no token at all is token_missing, a malformed one invalid_input.
                raise Unauthenticated(
                    "connect with auth {token, session_id}: the token is missing", code="token_missing"
                )
            request = protocol.parse(ConnectAuth, auth)
            principal, _expires = await self.core.authenticate(request.token)
            session = await self.core.session_for(principal, request.session_id, Permission.SESSION_VIEW)
            logs.bind(session=session.id, participant=principal.participant.id)
        except HemicycleError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.as_dict()) from None
        except Exception:
            log.exception("connect failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        if await self.moderation.hold(sid, principal, session):
            return  # in the waiting room until a moderator admits them
        try:
            welcome = await self._join(sid, principal, session)
        except Exception:
            log.exception("join failed for %s", sid)
            self._forget(sid)
            await self.core.store.remove_presence(self.instance_id, sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "internal error", {"code": "internal", "message": "internal error"}
            ) from None
        await self.sio.emit("welcome", welcome, to=sid)
        self.presence_changed(session.id)
        await self.moderation.joined(sid, principal, session)
        log.info("%s joined session %s as %s", principal.participant.id, session.id, principal.role.value)

    async def _join(self, sid: str, principal: Principal, session: SessionInfo) -> dict[str, Any]:
        """Record the connection durably, put it in its rooms and build its welcome."""
        self._connections[sid] = Connection(
            principal,
            session.id,
            FloodGuard(self.core.settings.events_per_second, self._allowance(principal)),
        )
        self._audience[session.id] = self._audience.get(session.id, 0) + 1
        await self.core.store.add_presence(self.instance_id, sid, principal, session.id)
        await self.sio.enter_room(sid, session_room(session.id))
        await self.sio.enter_room(sid, participant_room(session.id, principal.participant.id))
        if principal.role.is_staff:
            await self.sio.enter_room(sid, staff_room(session.id))
        # The roster only for staff: an attendee's welcome costs one aggregate, not the whole list.
        snapshot = await self.core.presence(session.id) if principal.role.is_staff else None
        summary = snapshot.summary() if snapshot else await self._summary(session.id)
        queue = await self.floor.state(session.id)
        questions = await self.desk.state(session.id)
        captions = await self.captions.welcome(session.id)
        event = await self.core.store.get_event(session.event_id)
        welcome: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "me": principal.public(),
            "session": session.public(),
            "event": event.public(),
            "permissions": sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
            "presence": summary,
            "floor": self.floor.public(queue),
            "mine": self.floor.mine(queue, principal.participant.id),
            "questions": self.desk.public_view(questions),
            "my_questions": self.desk.mine_view(questions, principal.participant.id),
            "captions": captions,
        }
        if snapshot is not None:
            welcome["people"] = snapshot.roster()
            welcome["queue"] = self.floor.staff(queue)
            welcome["moderation"] = self.desk.staff_view(questions)
        return welcome

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

    def _forget(self, sid: str) -> Connection | None:
        connection = self._connections.pop(sid, None)
        if connection is not None:
            self._audience[connection.session_id] -= 1
            key = connection.principal.participant.id
            if connection.guard.shared is not None and key in self._allowances:
                bucket, users = self._allowances[key]
                if users > 1:
                    self._allowances[key] = (bucket, users - 1)
                else:
                    del self._allowances[key]
        return connection

    async def _summary(self, session_id: int) -> dict[str, Any]:
        """Presence counts for a joining attendee. In a large session, the last ones broadcast if recent (the
        join itself triggers the next broadcast, which counts the newcomer); otherwise a fresh aggregate."""
        at, summary = self._summaries.get(session_id, (float("-inf"), None))
        if (
            summary is not None
            and summary["total"] > LARGE_ROSTER
            and time.monotonic() - at < SUMMARY_FRESH_SECONDS
        ):
            return summary
        return await self.core.presence_summary(session_id)

    async def _on_disconnect(self, sid: str, *_reason: Any) -> None:
        connection = self._forget(sid)
        if connection is None:
            await self.moderation.left(sid)
            return
        await self.media.disconnected(connection)
        try:
            session_id = await self.core.store.remove_presence(self.instance_id, sid)
        except Exception:
            log.exception("could not remove presence of %s", sid)
            return
        if session_id is not None:
            self.presence_changed(session_id)

    # -- events ---------------------------------------------------------------------------------

    async def _on_any(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        connection = self._connections.get(sid)
        if connection is None and self.moderation.is_waiting(sid):
            return await self.moderation.refuse_waiting(sid, event)
        if connection is None:
            return await self._fail(
                sid, event, Unauthenticated("not connected to a session", code="not_joined")
            )
        logs.bind(session=connection.session_id, participant=connection.principal.participant.id)
        verdict = connection.guard.check(time.monotonic())
        if verdict == "flood":
            log.warning("disconnecting %s: flooding", sid)
            await self.sio.emit(
                "error",
                {"code": "rate_limited", "message": "too many messages: disconnected", "event": event},
                to=sid,
            )
            await self.sio.disconnect(sid)
            return {"ok": False, "error": {"code": "rate_limited", "message": "too many messages"}}
        if verdict == "limited":
            return await self._fail(
                sid, event, HemicycleError("too many messages: slow down", code="rate_limited")
            )
        # The per-participant limits first: a local bucket costs nothing and the shared count one Redis round
        # trip at most, and a flood is refused before it reaches the database.
        if event in QUEUE_WRITES and not await self._participant_allows(
            connection,
            self._participant_buckets,
            QUEUE_WRITES_PER_SECOND,
            QUEUE_WRITES_BURST,
            self._hands_limit,
        ):
            return await self._fail(
                sid, event, HemicycleError("too many queue actions: wait a moment", code="rate_limited")
            )
        if event in QUESTION_WRITES and not await self._participant_allows(
            connection,
            self._question_buckets,
            QUESTION_WRITES_PER_SECOND,
            QUESTION_WRITES_BURST,
            self._questions_limit,
        ):
            return await self._fail(
                sid, event, HemicycleError("too many questions or votes: wait a moment", code="rate_limited")
            )
        if not self.captions.allows(connection, event):
            return await self._fail(
                sid, event, HemicycleError("too many caption lines: wait a moment", code="rate_limited")
            )
        if event in QUEUE_WRITES | QUESTION_WRITES or connection.principal.role.is_staff:
            # A withdrawn link stops its holder at once, even on a connection opened before: what an
            # attendee writes, and anything staff send, is checked against the grant as it is now.
            try:
                await self.standing.check(connection.principal, connection.session_id)
            except HemicycleError as exc:
                reply = await self._fail(sid, event, exc)
                # After the acknowledgement has gone out, so the client learns why.
                self._later(self.sio.disconnect(sid))
                return reply
        handler = self._handlers.get(event)
        if handler is None:
            return await self._fail(
                sid, event, HemicycleError(f"unknown event {event[:64]!r}", code="unknown_event_name")
            )
        if len(args) > 1:
            return await self._fail(
                sid, event, HemicycleError("send one payload object", code="invalid_input")
            )
        try:
            data = await handler(connection, args[0] if args else None)
        except HemicycleError as exc:
            return await self._fail(sid, event, exc)
        except Exception:
            log.exception("event %s from %s failed", event, sid)
            return await self._fail(sid, event, HemicycleError("internal error", code="internal"))
        return {"ok": True, "data": data}

    def _later(self, action: Awaitable[Any], delay: float = 0.1) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await action

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _participant_allows(
        connection: Connection, buckets: dict[int, TokenBucket], rate: float, burst: int, shared: Limiter
    ) -> bool:
        """A limit per participant, whatever number of tabs they open on whichever processes: this process's
        bucket first (free, and it keeps a flood away from Redis), then the count every process shares."""
        if connection.principal.role.is_staff:
            return True
        key = connection.principal.participant.id
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(rate, burst)
        if not bucket.take(time.monotonic()):
            return False
        return (await shared.take(str(key))).allowed

    async def _fail(self, sid: str, event: str, exc: HemicycleError) -> dict[str, Any]:
        error = exc.as_dict()
        self.error_counts[exc.code] += 1
        await self.sio.emit("error", {**error, "event": event[:64]}, to=sid)
        return {"ok": False, "error": error}

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

    # -- queue and floor -----------------------------------------------------------------------

    async def _on_hand_raise(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.HandRaise, payload)
        await self.floor.raise_hand(c.principal, c.session_id, request.type, request.language)
        return await self._mine(c)

    async def _on_hand_lower(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.HandLower, payload)
        lowered = await self.floor.lower_hand(c.principal, c.session_id)
        return await self._mine(c, lowered)

    async def _mine(self, c: Connection, latest: Entry | None = None) -> dict[str, Any]:
        # The state this process just wrote is held in memory: this read checks its version, no more.
        state = await self.floor.state(c.session_id)
        return self.floor.mine(state, c.principal.participant.id, latest)

    async def _on_queue_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.QueueGet, payload)
        state = await self.floor.state(c.session_id)
        data: dict[str, Any] = {
            "floor": self.floor.public(state),
            "mine": self.floor.mine(state, c.principal.participant.id),
        }
        if c.principal.role.is_staff:
            data["queue"] = self.floor.staff(state)
        return data

    async def _on_add_in_room(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueAddInRoom, payload)
        entry = await self.floor.add_in_room(c.principal, c.session_id, request.model_dump())
        return {"entry": entry.public()}

    async def _on_move(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueMove, payload)
        entry = await self.floor.move(c.principal, c.session_id, request.entry_id, request.to)
        return {"entry": entry.public(), "position": entry.position}

    async def _on_remove(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueRemove, payload)
        entry = await self.floor.remove(c.principal, c.session_id, request.entry_id, request.reason)
        return {"entry": entry.public()}

    async def _on_lower_all(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueLowerAll, payload)
        lowered = await self.floor.lower_all(c.principal, c.session_id, request.reason)
        return {"lowered": len(lowered)}

    async def _on_settings(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QueueSettings, payload)
        await self.floor.settings(
            c.principal,
            c.session_id,
            request.default_speaking_seconds,
            request.auto_end_grace_seconds,
            request.auto_end,
            request.targets,
        )
        state = await self.floor.state(c.session_id)
        return {"settings": self.floor.staff(state)["settings"]}

    async def _on_grant(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorGrant, payload)
        entry = await self.floor.grant(c.principal, c.session_id, request.entry_id, request.limit_seconds)
        return {"entry": entry.public()}

    async def _on_end(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorEnd, payload)
        entry = await self.floor.end(c.principal, c.session_id, request.entry_id, request.revoke)
        return {"entry": entry.public(), "end_reason": entry.end_reason}

    async def _on_time(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.FloorTime, payload)
        entry = await self.floor.set_time(
            c.principal, c.session_id, request.entry_id, request.limit_seconds, request.add_seconds
        )
        return {
            "entry": entry.public(),
            "limit_seconds": entry.limit_seconds,
            "extra_seconds": entry.extra_seconds,
        }

    # -- questions -----------------------------------------------------------------------------

    async def _on_questions_get(self, c: Connection, payload: Any) -> dict[str, Any]:
        protocol.parse(protocol.QuestionsGet, payload)
        state = await self.desk.state(c.session_id)
        data: dict[str, Any] = {
            "questions": self.desk.public_view(state),
            "mine": self.desk.mine_view(state, c.principal.participant.id),
        }
        if c.principal.role.is_staff:
            data["moderation"] = self.desk.staff_view(state)
        return data

    async def _on_questions_settings(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionsSettings, payload)
        return {"premoderated": await self.desk.settings(c.principal, c.session_id, request.premoderated)}

    async def _on_question_post(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionPost, payload)
        question = await self.desk.post(
            c.principal, c.session_id, request.text, request.to, request.anonymous
        )
        return {"question": question.own(c.principal.participant.id)}

    async def _on_question_edit(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionEdit, payload)
        question = await self.desk.edit(c.principal, c.session_id, request.question_id, request.text)
        return {
            "question": question.staff()
            if c.principal.role.is_staff
            else question.own(c.principal.participant.id)
        }

    async def _on_question_withdraw(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.withdraw(c.principal, c.session_id, request.question_id)
        return {"question": question.own(c.principal.participant.id)}

    async def _on_question_vote(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.vote(c.principal, c.session_id, request.question_id, True)
        return {"question_id": question.id, "votes": question.votes, "voted": True}

    async def _on_question_unvote(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRef, payload)
        question = await self.desk.vote(c.principal, c.session_id, request.question_id, False)
        return {"question_id": question.id, "votes": question.votes, "voted": False}

    async def _on_question_moderate(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionModerate, payload)
        question = await self.desk.moderate(
            c.principal, c.session_id, request.question_id, request.action, request.reason
        )
        return {"question": question.staff()}

    async def _on_question_merge(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionMerge, payload)
        question = await self.desk.merge(c.principal, c.session_id, request.question_id, request.into_id)
        return {"question": question.staff()}

    async def _on_question_relay(self, c: Connection, payload: Any) -> dict[str, Any]:
        request = protocol.parse(protocol.QuestionRelay, payload)
        question = await self.desk.relay(c.principal, c.session_id, request.question_id, request.stage)
        return {"question": question.staff()}
