"""The application factory: settings in, a ready aiohttp application out.

The parts are built and wired in server/wiring.py; this adds the HTTP side (middlewares, routes) and the
order in which everything starts and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from . import (
    api,
    archive_http,
    http_base,
    logs,
    media_http,
    metrics,
    openapi,
    organiser,
    recording_http,
    statement_http,
    wiring,
)
from .archive import Archive
from .db.engine import create_engine, migrate
from .keys import WEB_DIR_KEY
from .media_load import RedisLoads
from .settings import Settings
from .tokens import utcnow
from .webfiles import WEB_DIR

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    """Build the application; the database is migrated and the hub started when it starts up."""
    settings = settings.resolved()
    app = web.Application(
        client_max_size=http_base.MAX_BODY_BYTES,
        middlewares=[
            media_http.cors_middleware(settings.cors_origins),
            api.security_headers,
            http_base.errors_middleware,
            http_base.body_in_time,
        ],
        # aiohttp closes a connection that has not sent a whole request's headers within its keep-alive
        # timeout (75 s under web.run_app): the same bound as for a body (http_base.body_in_time), and as for
        # the rest of a body it reads and drops after an early answer (its "lingering", 10 s).
        handler_args={
            "keepalive_timeout": settings.http_read_seconds,
            "lingering_time": settings.http_read_seconds,
        },
    )
    engine = create_engine(settings.database_url)
    use_cases = wiring.build_use_cases(settings, engine, clock)
    core, media = use_cases.core, use_cases.media
    hub = wiring.build_hub(use_cases, settings)
    wiring.provide(app, settings, use_cases, hub)
    app[WEB_DIR_KEY] = WEB_DIR
    logs.attach(app)
    metrics.attach(app, engine, hub, use_cases)
    app.on_response_prepare.append(api.server_header)
    api.add_routes(app)
    media_http.add_routes(app)
    recording_http.add_routes(app)
    organiser.add_routes(app)
    statement_http.add_routes(app)
    openapi.add_routes(app)
    archive_http.add_routes(app)
    media.nudge = media_http.make_nudge(app)
    media.upstream = media_http.make_upstream(app)
    loads = (
        RedisLoads(settings.redis_url, settings.redis_channel, 3 * settings.heartbeat_seconds)
        if settings.redis_url
        else None
    )
    if loads is not None:
        # Viewers are placed across processes by the load each publishes there.
        media.loads = loads
    hub.attach(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await migrate(engine)
        await hub.start()
        forwarding = aiohttp.ClientSession()
        app[media_http.FORWARD_KEY] = forwarding
        hub.media.use_http(forwarding)
        hub.booths.use_http(forwarding)
        await media.start()
        await use_cases.recordings.start_loop()
        sweeper = asyncio.create_task(_sweep(use_cases.archive), name="archive-sweep")
        log.info("instance %s ready on %s", core.instance_id, engine.dialect.name)
        yield
        # The files first, while the relays still feed them.
        await use_cases.recordings.stop_loop()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await media.stop()
        if loads is not None:
            await loads.close()
        await forwarding.close()
        await hub.stop()
        await use_cases.standing.stop()
        await use_cases.limits.close()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app


SWEEP_SECONDS = 60.0


async def _sweep(archive: Archive) -> None:
    """Store finished recording files away and remove expired recordings, once a minute. Every process does
    it: a segment is claimed by one conditional update, a removal by deleting its row."""
    while True:
        try:
            stored, removed = await archive.sweep()
            if stored or removed:
                log.info(
                    "archive: %d segment(s) stored away, %d expired recording(s) removed", stored, removed
                )
        except Exception:
            log.exception("archive sweep failed; trying again in %.0f s", SWEEP_SECONDS)
        await asyncio.sleep(SWEEP_SECONDS)
