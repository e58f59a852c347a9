"""The application factory: settings in, a ready aiohttp application out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from signaling.hub import Hub

from . import api, logs, media_http, metrics, openapi, organiser
from .db.engine import create_engine, migrate
from .db.store import Store
from .keys import CORE_KEY, HUB_KEY, REPORTS_KEY, SETTINGS_KEY, WEB_DIR_KEY
from .media_load import RedisLoads
from .reports import Reports
from .service import Hemicycle
from .settings import Settings
from .tokens import TokenService, utcnow
from .webfiles import WEB_DIR

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    """Build the application; the database is migrated and the hub started when it starts up."""
    settings = settings.resolved()
    app = web.Application(
        client_max_size=api.MAX_BODY_BYTES,
        middlewares=[
            media_http.cors_middleware(settings.cors_origins),
            api.security_headers,
            api.errors_middleware,
            api.body_in_time,
        ],
        # aiohttp closes a connection that has not sent a whole request's headers within its keep-alive
        # timeout (75 s under web.run_app): the same bound as for a body (api.body_in_time), and as for the
        # rest of a body it reads and drops after an early answer (its "lingering", 10 s).
        handler_args={
            "keepalive_timeout": settings.http_read_seconds,
            "lingering_time": settings.http_read_seconds,
        },
    )
    engine = create_engine(settings.database_url)
    core = Hemicycle(settings, Store(engine, clock), TokenService(settings.secret, clock))
    hub = Hub(core, settings.redis_url, settings.redis_channel)
    app[SETTINGS_KEY] = settings
    app[CORE_KEY] = core
    app[HUB_KEY] = hub
    app[REPORTS_KEY] = Reports(core)
    app[WEB_DIR_KEY] = WEB_DIR
    logs.attach(app)
    metrics.attach(app, engine)
    app.on_response_prepare.append(api.server_header)
    api.add_routes(app)
    media_http.add_routes(app)
    organiser.add_routes(app)
    openapi.add_routes(app)
    app[media_http.MEDIA_KEY] = hub.media.service
    hub.media.service.nudge = media_http.make_nudge(app)
    hub.media.service.upstream = media_http.make_upstream(app)
    loads = (
        RedisLoads(settings.redis_url, settings.redis_channel, 3 * settings.heartbeat_seconds)
        if settings.redis_url
        else None
    )
    if loads is not None:
        # Viewers are placed across processes by the load each publishes there.
        hub.media.service.loads = loads
    hub.attach(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await migrate(engine)
        await hub.start()
        forwarding = aiohttp.ClientSession()
        app[media_http.FORWARD_KEY] = forwarding
        hub.media.use_http(forwarding)
        await hub.media.service.start()
        log.info("instance %s ready on %s", core.instance_id, engine.dialect.name)
        yield
        await hub.media.service.stop()
        if loads is not None:
            await loads.close()
        await forwarding.close()
        await hub.stop()
        await engine.dispose()

    app.cleanup_ctx.append(lifecycle)
    return app
