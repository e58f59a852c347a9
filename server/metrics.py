"""Prometheus metrics at /metrics, for the people who run an event's platform.

Two kinds of series. What happens (HTTP requests, database round trips, event-loop lag, collector pauses) is
counted where it happens, through hooks this module installs: a middleware, SQLAlchemy engine events,
`gc.callbacks`, a timer task. What *is* (connections, sessions, queue lengths, questions, relay peers) is read
from its owner when Prometheus scrapes, so no owner has to keep a metric up to date. Each application has its
own registry: several applications in one process (the tests) never mix their figures.

/metrics answers only when HEMICYCLE_METRICS_TOKEN is set, and only to `Authorization: Bearer <that token>`.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from signaling.fanout import DirectEmitRedis

from .domain.errors import HemicycleError
from .http_base import error_response
from .keys import SETTINGS_KEY
from .limits import Limits, RedisCounters, RedisHooks

if TYPE_CHECKING:
    from signaling.hub import Hub

    from .media.service import MediaService
    from .usecases import UseCases

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 0.25
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
SOURCE_KINDS = ("room", "speaker", "greenroom", "channel")
REDIS_CLIENTS = ("limits", "fanout")
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """One application's registry and the series counted as things happen."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "hemicycle_http_requests",
            "HTTP requests answered, by route",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "hemicycle_http_request_duration_seconds",
            "Time to answer an HTTP request (the API and pages, not /static/)",
            ["route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "hemicycle_event_loop_lag_seconds",
            f"How late a {LAG_INTERVAL_SECONDS} s timer fires: how long the event loop was busy elsewhere",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.gc_pause = Histogram(
            "hemicycle_gc_pause_seconds",
            "Pauses of Python's cycle collector, by generation",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=r,
        )
        self.db_queries = Histogram(
            "hemicycle_db_query_duration_seconds",
            "Database round trips (statements) and their duration",
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.db_errors = Counter("hemicycle_db_errors", "Database statements that failed", registry=r)
        self.redis_round_trips = Histogram(
            "hemicycle_redis_round_trip_duration_seconds",
            "Redis round trips and their duration, by client (limits: shared rate-limit counters; "
            "fanout: Socket.IO publishes)",
            ["client"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "hemicycle_redis_errors", "Redis commands that failed, by client", ["client"], registry=r
        )
        self.redis_reconnects = Counter(
            "hemicycle_redis_reconnects",
            "Times the fan-out listener subscribed again after losing Redis",
            ["client"],
            registry=r,
        )
        for client in REDIS_CLIENTS:
            self.redis_round_trips.labels(client=client)
            self.redis_errors.labels(client=client)
        self.redis_reconnects.labels(client="fanout")
        self.queue_length = Gauge(
            "hemicycle_queue_length",
            "Requests waiting in a session's speakers' queue (sessions with a connection on this process)",
            ["session"],
            registry=r,
        )
        self.questions = Gauge(
            "hemicycle_questions",
            "A session's questions by state, and approved ones by stage (pending, approved, dismissed...; "
            "forwarded, read, answered)",
            ["session", "state", "stage"],
            registry=r,
        )
        # The help desk (issue 24).
        self.help_requests = Gauge(
            "hemicycle_help_requests",
            "A session's help requests not yet closed, by state (open: waiting for staff; answered)",
            ["session", "state"],
            registry=r,
        )
        self.sessions = Gauge(
            "hemicycle_sessions",
            "Sessions with at least one connection on this process, by state (scheduled, live, ...)",
            ["state"],
            registry=r,
        )
        self.broadcasts = Counter(
            "hemicycle_broadcasts",
            "Messages sent to a session's room or its staff room, by event",
            ["event"],
            registry=r,
        )
        self.broadcast_spacing = Histogram(
            "hemicycle_broadcast_spacing_seconds",
            "Time between two broadcasts of one event to one room (coalescing spaces them out)",
            ["event"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0),
            registry=r,
        )
        self._last_broadcast: dict[tuple[str, str], float] = {}
        # One scrape at a time: refresh() clears the per-session gauges, then fills them across awaits.
        self.scraping = asyncio.Lock()
        # Refusals over HTTP (429); the Socket.IO ones are counted by the hub (see HubCollector).
        self.http_refusals = 0
        self._gc_started: float | None = None

    # -- database ---------------------------------------------------------------------------------

    def watch_engine(self, engine: AsyncEngine) -> Callable[[], None]:
        """Time every statement of the engine; returns the function that stops watching."""
        sync = engine.sync_engine

        def before(
            conn: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, _many: Any
        ) -> None:
            conn.info.setdefault("hemicycle_started", []).append(time.perf_counter())

        def after(
            conn: Any, _cursor: Any, _statement: Any, _parameters: Any, context: Any, _many: Any
        ) -> None:
            started = conn.info.get("hemicycle_started")
            if started:
                self.db_queries.observe(time.perf_counter() - started.pop())

        def failed(context: Any) -> None:
            self.db_errors.inc()
            started = context.connection.info.get("hemicycle_started") if context.connection else None
            if started:
                started.pop()

        event.listen(sync, "before_cursor_execute", before)
        event.listen(sync, "after_cursor_execute", after)
        event.listen(sync, "handle_error", failed)

        def stop() -> None:
            event.remove(sync, "before_cursor_execute", before)
            event.remove(sync, "after_cursor_execute", after)
            event.remove(sync, "handle_error", failed)

        return stop

    # -- Redis ------------------------------------------------------------------------------------

    def watch_redis(self, hub: Hub, limits: Limits) -> Callable[[], None]:
        """Count the round trips and errors of the two Redis clients (when there is Redis): the rate-limit
        counters and the hub's fan-out manager. Returns the function that stops counting."""
        watched = [
            owner
            for owner in (limits.counters, hub.sio.manager)
            if isinstance(owner, RedisCounters | DirectEmitRedis)
        ]
        for owner in watched:
            owner.hooks = _RedisCounting(self)

        def stop() -> None:
            for owner in watched:
                owner.hooks = RedisHooks()

        return stop

    def broadcast(self, event: str, room: str) -> None:
        """A message to a room (signaling/wsdirect.py): the session-wide and staff ones, and their spacing."""
        parts = room.split(":")
        if len(parts) > 3 or (len(parts) == 3 and parts[2] != "staff"):
            return  # one participant's room: not a broadcast
        self.broadcasts.labels(event).inc()
        now = time.monotonic()
        last = self._last_broadcast.get((event, room))
        self._last_broadcast[(event, room)] = now
        if last is not None:
            self.broadcast_spacing.labels(event).observe(now - last)

    # -- the process ------------------------------------------------------------------------------

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self.gc_pause.labels(str(info.get("generation", "?"))).observe(
                time.perf_counter() - self._gc_started
            )
            self._gc_started = None

    async def watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(LAG_INTERVAL_SECONDS)
            self.loop_lag.observe(max(0.0, loop.time() - started - LAG_INTERVAL_SECONDS))

    # -- state read at scrape time ----------------------------------------------------------------

    async def refresh(self, hub: Hub, uses: UseCases) -> None:
        """Read the queue and questions of the sessions this process serves into their gauges."""
        self.queue_length.clear()
        self.questions.clear()
        self.help_requests.clear()
        self.sessions.clear()
        states: Tally[str] = Tally()
        for session_id in sorted(_sessions_here(hub, uses.media)):
            try:
                queue = await uses.floor.state(session_id)
                questions = await uses.desk.state(session_id)
                waiting = await uses.help.waiting(session_id)
            except HemicycleError:
                continue  # deleted meanwhile
            except Exception:
                # The database is out of reach: the other series still go out (its errors are counted).
                log.warning("metrics: could not read session %s", session_id, exc_info=True)
                continue
            states[queue.session.state.value] += 1
            self.queue_length.labels(str(session_id)).set(len(queue.queued))
            tally = Tally((q.state.value, q.stage.value) for q in questions.questions)
            for (state, stage), count in tally.items():
                self.questions.labels(str(session_id), state, stage).set(count)
            for state, count in waiting.items():
                self.help_requests.labels(str(session_id), state).set(count)
        for state, count in states.items():
            self.sessions.labels(state).set(count)


class _RedisCounting(RedisHooks):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def round_trip(self, client: str, seconds: float) -> None:
        self._metrics.redis_round_trips.labels(client=client).observe(seconds)

    def error(self, client: str) -> None:
        self._metrics.redis_errors.labels(client=client).inc()

    def reconnect(self, client: str) -> None:
        self._metrics.redis_reconnects.labels(client=client).inc()


def _sessions_here(hub: Hub, media: MediaService) -> set[int]:
    """Sessions with a Socket.IO connection or a relay (origin or edge) on this process."""
    return hub.connections.sessions() | set(media.relays) | set(media.edges)


class Retiring:
    """Counts summed over things that come and go (peers): what a departed one had counted stays counted,
    so the totals only grow, as Prometheus counters must. Counted after its last scrape, a departed peer's
    tail is lost: a small undercount, never a reset."""

    def __init__(self) -> None:
        self._last: dict[str, Tally[tuple[str, ...]]] = {}
        self._retired: Tally[tuple[str, ...]] = Tally()

    def total(self, current: dict[str, Tally[tuple[str, ...]]]) -> Tally[tuple[str, ...]]:
        for gone in self._last.keys() - current.keys():
            self._retired.update(self._last[gone])
        self._last = current
        total = Tally(self._retired)
        for counts in current.values():
            total.update(counts)
        return total


class HubCollector(Collector):
    """What the hub and the relay hold, read when Prometheus scrapes."""

    def __init__(self, hub: Hub, media: MediaService, metrics: Metrics) -> None:
        self.hub = hub
        self.media = media
        self.metrics = metrics
        self._forwarded = Retiring()
        self._received = Retiring()
        self._dropped = Retiring()

    def collect(self) -> Iterable[Metric]:
        hub = self.hub
        connections = GaugeMetricFamily(
            "hemicycle_connections",
            "Socket.IO connections on this process, by role and transport (websocket or polling)",
            labels=["role", "transport"],
        )
        tally: Tally[tuple[str, str]] = Tally()
        sockets = hub.sio.eio.sockets
        for sid, connection in hub.connections.items():
            socket = sockets.get(hub.sio.manager.eio_sid_from_sid(sid, "/"))
            transport = "websocket" if socket is not None and socket.upgraded else "polling"
            tally[(connection.principal.role.value, transport)] += 1
        for (role, transport), count in sorted(tally.items()):
            connections.add_metric([role, transport], count)
        yield connections

        errors = CounterMetricFamily(
            "hemicycle_socketio_errors",
            "Socket.IO events refused, by error code (invalid_input, forbidden, rate_limited, ...)",
            labels=["code"],
        )
        for code, count in sorted(hub.error_counts.items()):
            errors.add_metric([code], count)
        yield errors

        refusals = CounterMetricFamily(
            "hemicycle_rate_limit_refusals",
            "Requests and events refused for going over a rate limit, by transport",
            labels=["transport"],
        )
        refusals.add_metric(["http"], self.metrics.http_refusals)
        refusals.add_metric(["socketio"], hub.error_counts.get("rate_limited", 0))
        yield refusals

        relays, edges = self.media.relays, self.media.edges
        everyone = [*relays.values(), *edges.values()]
        peers = [peer for relay in everyone for peer in list(relay.peers.values())]
        yield GaugeMetricFamily(
            "hemicycle_relay_sessions", "Session relays this process is the origin of", len(relays)
        )
        yield GaugeMetricFamily(
            "hemicycle_relay_edges", "Edge relays on this process (their origin is elsewhere)", len(edges)
        )
        yield GaugeMetricFamily(
            "hemicycle_relay_edge_links",
            "Sources the edge relays of this process pull from their origins",
            sum(len(getattr(edge, "links", {})) for edge in edges.values()),
        )
        sources = GaugeMetricFamily(
            "hemicycle_relay_sources", "Publishers connected to this process's relays", labels=["kind"]
        )
        viewers = GaugeMetricFamily(
            "hemicycle_relay_viewers", "Viewers connected to this process's relays", labels=["kind"]
        )
        for family, role in ((sources, "publish"), (viewers, "view")):
            kinds = Tally(_source_kind(peer.source) for peer in peers if peer.role == role)
            for kind in (*SOURCE_KINDS, "other"):
                family.add_metric([kind], kinds.get(kind, 0))
            yield family
        forwarding = GaugeMetricFamily(
            "hemicycle_relay_viewer_tracks_waiting_keyframe",
            "Viewers' video tracks holding back packets until the next keyframe",
        )
        forwarding.add_metric(
            [],
            sum(
                1
                for peer in peers
                if peer.role == "view"
                for track in peer.tracks.values()
                if getattr(track, "waiting_keyframe", False)
            ),
        )
        yield forwarding

        forwarded: dict[str, Tally[tuple[str, ...]]] = {}
        received: dict[str, Tally[tuple[str, ...]]] = {}
        dropped: dict[str, Tally[tuple[str, ...]]] = {}
        for peer in peers:
            if peer.role == "view":
                forwarded[peer.id] = Tally(
                    {(kind,): getattr(track, "sent_packets", 0) for kind, track in peer.tracks.items()}
                )
            else:
                counts: Tally[tuple[str, ...]] = Tally()
                for kind, feed in peer.feeds.items():
                    counts[(kind, "packets")] += feed.stats.packets
                    counts[(kind, "bytes")] += feed.stats.bytes
                received[peer.id] = counts
            drops = getattr(peer, "drops", None)
            if drops is not None:
                dropped[peer.id] = Tally({(reason,): count for reason, count in drops.counts.items()})
        sent = CounterMetricFamily(
            "hemicycle_relay_packets_forwarded",
            "RTP packets the relays wrote to viewers, by kind (audio, video)",
            labels=["kind"],
        )
        for (kind,), count in sorted(self._forwarded.total(forwarded).items()):
            sent.add_metric([kind], count)
        yield sent
        packets = CounterMetricFamily(
            "hemicycle_relay_packets_received",
            "RTP packets the relays received from publishers",
            labels=["kind"],
        )
        size = CounterMetricFamily(
            "hemicycle_relay_bytes_received", "RTP bytes the relays received from publishers", labels=["kind"]
        )
        for (kind, what), count in sorted(self._received.total(received).items()):
            (packets if what == "packets" else size).add_metric([kind], count)
        yield packets
        yield size
        lost = CounterMetricFamily(
            "hemicycle_relay_packets_dropped",
            "Packets the relays dropped, by reason (too_long, unknown_ssrc, ...: server/media/seams.py)",
            labels=["reason"],
        )
        for (reason,), count in sorted(self._dropped.total(dropped).items()):
            lost.add_metric([reason], count)
        yield lost
        yield CounterMetricFamily(
            "hemicycle_turn_credentials_issued",
            "Time-limited TURN credentials handed to participants",
            getattr(self.media, "turn_credentials_issued", 0),
        )


def _source_kind(source: str) -> str:
    """room, speaker, greenroom (a speaker's private check), channel (interpretation), or other."""
    kind = source.split(":", 1)[0]
    return kind if kind in SOURCE_KINDS else "other"


# -- HTTP ------------------------------------------------------------------------------------------


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/static/"):
            return await handler(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = _route(request)
            metrics.http_requests.labels(route, request.method, str(status)).inc()
            metrics.http_seconds.labels(route).observe(time.perf_counter() - started)
            if status == 429:
                metrics.http_refusals += 1

    return count


async def scrape(request: web.Request) -> web.StreamResponse:
    """GET /metrics: the Prometheus text format, for the bearer of HEMICYCLE_METRICS_TOKEN."""
    expected = request.app[SETTINGS_KEY].metrics_token
    if not expected:
        return error_response(404, "not_found", "metrics are off: set HEMICYCLE_METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        response = error_response(
            401, "token_missing" if not given else "token_invalid", "send the metrics token as a bearer token"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    metrics = request.app[METRICS_KEY]
    # The format the scraper asks for: OpenMetrics for Prometheus, the classic text format otherwise.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    async with metrics.scraping:
        observed = request.app[OBSERVED_KEY]
        await metrics.refresh(observed.hub, observed.uses)
        body = encode(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


METRICS_KEY: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


@dataclass(frozen=True)
class Observed:
    """What a scrape reads: the real-time adapter's connections and broadcasts, and the use cases' state
    (the queues, the questions, the relays), each from its owner."""

    hub: Hub
    uses: UseCases


OBSERVED_KEY: web.AppKey[Observed] = web.AppKey("metrics_observed", Observed)


def attach(app: web.Application, engine: AsyncEngine, hub: Hub, uses: UseCases) -> None:
    """Serve /metrics and install the hooks that count; they run while the application runs. ``hub``: the
    real-time adapter whose connections and broadcasts are counted; ``uses``: the use cases whose state is
    read (both handed in by server/app.py)."""
    metrics = Metrics()
    app[METRICS_KEY] = metrics
    app[OBSERVED_KEY] = Observed(hub, uses)
    app.middlewares.insert(0, middleware(metrics))
    app.router.add_get("/metrics", scrape)

    async def running(app: web.Application) -> AsyncIterator[None]:
        metrics.registry.register(HubCollector(hub, uses.media, metrics))
        hub.sio.on_room_emit = metrics.broadcast
        unwatch = metrics.watch_engine(engine)
        unwatch_redis = metrics.watch_redis(hub, uses.limits)
        gc.callbacks.append(metrics.on_gc)
        lag = asyncio.create_task(metrics.watch_loop(), name="hemicycle-loop-lag")
        yield
        hub.sio.on_room_emit = None
        lag.cancel()
        await asyncio.gather(lag, return_exceptions=True)
        gc.callbacks.remove(metrics.on_gc)
        unwatch()
        unwatch_redis()

    app.cleanup_ctx.append(running)
