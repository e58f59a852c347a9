"""HTTP routes of recording (issue 22), for the AV desk's tools and the API: the session's recording, and
starting and stopping it. The same use case as the Socket.IO events (server/recording/service.py)."""

from __future__ import annotations

from aiohttp import web

from .http_base import bearer_principal, int_param
from .keys import RECORDINGS_KEY


async def get_recording(request: web.Request) -> web.Response:
    """The session's last recording (running, stopped or failed), or null."""
    principal, _ = await bearer_principal(request)
    recording = await request.app[RECORDINGS_KEY].current(principal, int_param(request, "session_id"))
    return web.json_response({"recording": recording.public() if recording else None})


async def start_recording(request: web.Request) -> web.Response:
    principal, _ = await bearer_principal(request)
    recording = await request.app[RECORDINGS_KEY].start(principal, int_param(request, "session_id"))
    return web.json_response({"recording": recording.public()}, status=201)


async def stop_recording(request: web.Request) -> web.Response:
    principal, _ = await bearer_principal(request)
    recording = await request.app[RECORDINGS_KEY].stop(principal, int_param(request, "session_id"))
    return web.json_response({"recording": recording.public()})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/recording", get_recording)
    app.router.add_post("/api/sessions/{session_id}/recording/start", start_recording)
    app.router.add_post("/api/sessions/{session_id}/recording/stop", stop_recording)
