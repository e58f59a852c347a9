"""The Socket.IO adapter of one process: the python-socketio server, the dispatch of every event to its
concern's module, and the use cases' Notifier.

The parts, each in its own module and reached only through its public methods:

- ``connections``: connect, join (the welcome), disconnect, the session and presence events;
- ``presence``: the paced presence and roster broadcasts;
- ``queue_events``, ``question_events``, ``media_events``, ``moderation_events``, ``caption_events``,
  ``help_events``, ``poll_events``: one concern's handlers each, and its broadcasts (paced by ``pacing``);
- ``heartbeat``: this process's heartbeat and the floor sweeper.

The Hub builds none of the use cases: the composition root (server/wiring.py) hands them in and sets the
use cases' notifiers to the Hub and its parts. Broadcasts go through python-socketio's manager (Redis when
configured), so every process's clients get them.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from server import logs
from server.db.store import GrantInfo
from server.domain.errors import HemicycleError, Unauthenticated
from server.domain.model import Principal, SessionInfo
from server.domain.polls import ANSWER_WRITES_BURST, ANSWER_WRITES_PER_SECOND
from server.domain.ratelimit import TokenBucket, WindowRule
from server.limits import Limiter
from server.standing import StandingWatch
from server.usecases import UseCases

from . import fanout, presence, queue_events, wsdirect
from .booth_events import BoothEvents
from .caption_events import CaptionEvents
from .connect_limits import ConnectLimits
from .connections import Connections
from .heartbeat import Heartbeat
from .help_events import HelpEvents
from .media_events import MediaEvents
from .messages import Contract
from .moderation_events import ModerationEvents
from .poll_events import PollEvents
from .presence import Presence
from .protocol import (
    CLIENT_EVENTS,
    HELP_WRITES,
    MAX_MESSAGE_BYTES,
    POLL_WRITES,
    QUESTION_WRITES,
    QUEUE_WRITES,
)
from .question_events import QUESTIONS_SPACING_SECONDS as QUESTIONS_SPACING_SECONDS
from .question_events import QuestionEvents
from .queue_events import QueueEvents
from .recording_events import RecordingEvents
from .rooms import Connection, Handler
from .rooms import participant_room as participant_room
from .rooms import session_room as session_room
from .rooms import staff_room as staff_room
from .statement_events import StatementEvents
from .wirepacket import WirePacket

log = logging.getLogger(__name__)

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
# Poll answers (issue 24), per participant across their connections and processes: the local bucket's
# rates are server/domain/polls.py's ANSWER_WRITES_*.
POLL_WRITES_WINDOW = WindowRule(limit=10, seconds=20.0)
# The health check's round trip to the database.
PROBE_SECONDS = 2.0


class Hub:
    """Owns the python-socketio server of one process, dispatches each event to its concern's handler and
    implements the use cases' Notifier (server.service.Notifier) by handing each change to its part."""

    def __init__(self, use_cases: UseCases, redis_url: str | None, redis_channel: str = "hemicycle") -> None:
        core = use_cases.core
        self.core = core
        self.instance_id = core.instance_id
        self.sio = wsdirect.SocketServer(
            async_mode="aiohttp",
            client_manager=fanout.manager(redis_url, redis_channel),
            max_http_buffer_size=MAX_MESSAGE_BYTES,
            serializer=WirePacket,
            logger=False,
            engineio_logger=False,
        )
        if core.settings.check_messages:
            self.sio.contract = Contract()
        if isinstance(self.sio.eio, wsdirect.WsDirectServer):
            self.sio.eio.send_queue_limit = core.settings.send_queue_limit
            self.sio.eio.read_seconds = core.settings.http_read_seconds
        # The use cases the HTTP side and the metrics also read through the hub.
        self.floor = use_cases.floor
        self.desk = use_cases.desk
        self.standing = use_cases.standing
        self.limits = use_cases.limits
        self._hands_limit = self.limits.limiter("hands", QUEUE_WRITES_WINDOW)
        self._questions_limit = self.limits.limiter("questions", QUESTION_WRITES_WINDOW)
        self._participant_buckets: dict[int, TokenBucket] = {}
        self._question_buckets: dict[int, TokenBucket] = {}
        self._polls_limit = self.limits.limiter("polls", POLL_WRITES_WINDOW)
        self._poll_buckets: dict[int, TokenBucket] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Refused events by error code, since the process started: read by server/metrics.py.
        self.error_counts: collections.Counter[str] = collections.Counter()

        # Every process counts presence for its own connections when told of a change anywhere.
        self.presence = Presence(
            self.sio, core, lambda session_id: self.connections.audience(session_id), self.sio.manager.signal
        )
        self.sio.manager.on_signal(presence.SIGNAL, self.presence.signalled)
        self.captions = CaptionEvents(self.sio, use_cases.captions)
        self.connections = Connections(
            self.sio,
            core,
            self.floor,
            self.desk,
            self.presence,
            use_cases.snapshots.join,
            ConnectLimits(core.settings, self.limits),
        )
        # Every process sends the queue's broadcasts to its own connections, at the pace of the session's
        # whole audience (the last count, or this process's own if more): an attendee gets the same few fresh
        # floors a second however many processes there are.
        self.queue = QueueEvents(
            self.sio,
            self.floor,
            lambda session_id: max(self.connections.audience(session_id), self.presence.audience(session_id)),
            self.connections.audience,
            self.sio.manager.signal,
        )
        self.sio.manager.on_signal(queue_events.SIGNAL, self.queue.signalled)
        self.questions = QuestionEvents(self.sio, self.desk, self.instance_id)
        self.moderation = ModerationEvents(
            self.sio, core, use_cases.moderation, self.connections, self.presence.changed, self.fail
        )
        self.media = MediaEvents(self.sio, core, use_cases.media, self.standing)
        self.connections.gate = self.moderation
        self.connections.gone = self.media.disconnected
        # The help desk (issue 24).
        self.help = HelpEvents(self.sio, use_cases.help)
        self.polls = PollEvents(self.sio, use_cases.polls)
        self.recording = RecordingEvents(self.sio, use_cases.recordings)
        # Interpretation booths (issue 21).
        self.booths = BoothEvents(self.sio, use_cases.media)
        self.statements = StatementEvents(self.sio, use_cases.statements)
        self.heartbeat = Heartbeat(core, self.floor, self.presence.changed, self.queue.changed)
        self.watch = StandingWatch(
            core.store,
            self.connections.held,
            self.moderation.refused_here,
            lambda: fanout.fanout_up(self.sio.manager),
        )
        self._handlers: dict[str, Handler] = {
            **self.connections.handlers,
            **self.queue.handlers,
            **self.questions.handlers,
            **self.moderation.handlers,
            **self.media.handlers,
            **self.captions.handlers,
            **self.help.handlers,
            **self.polls.handlers,
            **self.recording.handlers,
            **self.booths.handlers,
            **self.statements.handlers,
        }
        assert set(self._handlers) == set(CLIENT_EVENTS), "every protocol event needs a handler"
        self.sio.on("connect", self.connections.on_connect)
        self.sio.on("disconnect", self.connections.on_disconnect)
        self.sio.on("*", self._on_any)

    # -- lifecycle ------------------------------------------------------------------------------

    def idle(self) -> bool:
        """No Socket.IO connection on this process, the waiting room's included."""
        return not self.sio.eio.sockets

    def attach(self, app: web.Application) -> None:
        self.sio.attach(app)

    async def start(self) -> None:
        await self.heartbeat.start()
        self.watch.start()
        if not self.sio.manager_initialized:
            # python-socketio subscribes to Redis at the first connection; at start, so that the health
            # check tells a process that cannot reach Redis before anyone is sent to it.
            self.sio.manager_initialized = True
            self.sio.manager.initialize()

    async def stop(self) -> None:
        await self.watch.stop()
        await self.moderation.stop()
        await self.heartbeat.stop()
        # Forgotten first, so each disconnect skips its own presence write: dropping the instance below
        # removes every presence row of this process in one statement.
        sids = self.connections.forget_all()
        await asyncio.gather(*(self.sio.disconnect(sid) for sid in sids), return_exceptions=True)
        self.presence.changed_all(await self.core.store.drop_instance(self.instance_id))
        await self.presence.flush_now()
        await self.queue.flush_all()
        await self.questions.flush_all()
        await self.polls.flush_all()
        await self.recording.flush_all()
        await self.presence.stop()
        await self.queue.stop()
        await self.questions.stop()
        await self.polls.stop()
        if isinstance(self.sio.manager, fanout.DirectEmitRedis):
            await self.sio.manager.close()

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

    # -- Notifier -------------------------------------------------------------------------------

    def questions_changed(self, session_id: int, participants: set[int]) -> None:
        self.questions.changed(session_id, participants)

    def queue_changed(self, session_id: int, participants: set[int]) -> None:
        self.queue.changed(session_id, participants)

    def presence_changed(self, session_id: int) -> None:
        self.presence.changed(session_id)

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

    # -- events ---------------------------------------------------------------------------------

    async def _on_any(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        connection = self.connections.get(sid)
        if connection is None and self.moderation.is_waiting(sid):
            return await self.moderation.refuse_waiting(sid, event)
        if connection is None:
            return await self.fail(
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
            return await self.fail(
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
            return await self.fail(
                sid, event, HemicycleError("too many queue actions: wait a moment", code="rate_limited")
            )
        if event in QUESTION_WRITES and not await self._participant_allows(
            connection,
            self._question_buckets,
            QUESTION_WRITES_PER_SECOND,
            QUESTION_WRITES_BURST,
            self._questions_limit,
        ):
            return await self.fail(
                sid, event, HemicycleError("too many questions or votes: wait a moment", code="rate_limited")
            )
        if not self.captions.allows(connection, event):
            return await self.fail(
                sid, event, HemicycleError("too many caption lines: wait a moment", code="rate_limited")
            )
        if event in POLL_WRITES and not await self._participant_allows(
            connection,
            self._poll_buckets,
            ANSWER_WRITES_PER_SECOND,
            ANSWER_WRITES_BURST,
            self._polls_limit,
        ):
            return await self.fail(
                sid, event, HemicycleError("too many poll answers: wait a moment", code="rate_limited")
            )
        if (
            event in QUEUE_WRITES | QUESTION_WRITES | HELP_WRITES | POLL_WRITES
            or connection.principal.role.is_staff
        ):
            # A withdrawn link stops its holder at once, even on a connection opened before: what an
            # attendee writes, and anything staff send, is checked against the grant as it is now.
            try:
                await self.standing.check(connection.principal, connection.session_id)
            except HemicycleError as exc:
                reply = await self.fail(sid, event, exc)
                # After the acknowledgement has gone out, so the client learns why.
                self._later(self.sio.disconnect(sid))
                return reply
        handler = self._handlers.get(event)
        if handler is None:
            return await self.fail(
                sid, event, HemicycleError(f"unknown event {event[:64]!r}", code="unknown_event_name")
            )
        if len(args) > 1:
            return await self.fail(
                sid, event, HemicycleError("send one payload object", code="invalid_input")
            )
        try:
            data = await handler(connection, args[0] if args else None)
        except HemicycleError as exc:
            return await self.fail(sid, event, exc)
        except Exception:
            log.exception("event %s from %s failed", event, sid)
            return await self.fail(sid, event, HemicycleError("internal error", code="internal"))
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

    async def fail(self, sid: str, event: str, exc: HemicycleError) -> dict[str, Any]:
        """Refuse an event: an `error` to the connection, the refusal as its acknowledgement."""
        error = exc.as_dict()
        self.error_counts[exc.code] += 1
        await self.sio.emit("error", {**error, "event": event[:64]}, to=sid)
        return {"ok": False, "error": error}
