"""HTTP adapter for the session archive (issue 22): the listing, the files (with Range requests), captions
and chapters, and the administrator's access switch. Thin views over server/archive.py.

Media elements (<video>, <audio>, <track>) cannot send an Authorization header: the files, captions and
chapters also take the short-lived media key the listing hands out (`?key=`), scoped to the session.
"""

from __future__ import annotations

from aiohttp import web

from .archive import Archive
from .domain.archive import RangeNotSatisfiable, byte_range, chapters_json, chapters_vtt
from .domain.errors import InvalidInput
from .domain.model import SessionInfo
from .http_base import bearer_principal, error_response, int_param, json_object
from .keys import ARCHIVE_KEY, CORE_KEY

CHAPTER_TYPES = {"json": "application/json", "vtt": "text/vtt"}


def _archive(request: web.Request) -> Archive:
    return request.app[ARCHIVE_KEY]


async def _allowed(request: web.Request) -> SessionInfo:
    """The session, for a caller who may open its archive: a bearer token checked now, or a media key."""
    archive = _archive(request)
    session_id = int_param(request, "session_id")
    key = request.query.get("key")
    if key is not None and "Authorization" not in request.headers:
        await archive.check_media_key(key, session_id)
        return await request.app[CORE_KEY].store.get_session(session_id)
    principal, _ = await bearer_principal(request)
    return await archive.session_for(principal, session_id)


def _disposition(request: web.Request, name: str) -> dict[str, str]:
    how = "attachment" if request.query.get("download") == "1" else "inline"
    return {"Content-Disposition": f'{how}; filename="{name}"'}


async def listing(request: web.Request) -> web.Response:
    """Every recording of the session with its tracks, segments, chapters and caption languages."""
    principal, _ = await bearer_principal(request)
    archive = _archive(request)
    session = await archive.session_for(principal, int_param(request, "session_id"))
    return web.json_response(await archive.listing(principal, session))


async def set_access(request: web.Request) -> web.Response:
    """Staff-only or public: the administrator's choice, audited."""
    principal, _ = await bearer_principal(request)
    body = await json_object(request)
    result = await _archive(request).set_access(
        principal, int_param(request, "session_id"), body.get("access")
    )
    return web.json_response(result)


async def segment(request: web.Request) -> web.StreamResponse:
    """One segment file, whole or the one byte range asked for (206), 416 past its end."""
    session = await _allowed(request)
    media = await _archive(request).media(
        session.id, int_param(request, "recording_id"), int_param(request, "segment_id")
    )
    try:
        wanted = byte_range(request.headers.get("Range"), media.size)
    except RangeNotSatisfiable as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers["Content-Range"] = f"bytes */{media.size}"
        return response
    first, last = wanted if wanted is not None else (0, media.size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": media.content_type,
        "Content-Length": str(max(0, last - first + 1)),
        "Cache-Control": "private, max-age=3600",
        **_disposition(request, media.filename),
    }
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{media.size}"
    stream = web.StreamResponse(status=status, headers=headers)
    await stream.prepare(request)
    if request.method != "HEAD" and media.size:
        async for chunk in media.read(first, last):
            await stream.write(chunk)
    await stream.write_eof()
    return stream


async def captions(request: web.Request) -> web.Response:
    """One language's captions during the recording, as WebVTT timed from the recording's start."""
    session = await _allowed(request)
    archive = _archive(request)
    rec = await archive.recording(session.id, int_param(request, "recording_id"))
    language = request.query.get("language")
    if language is None:
        raise InvalidInput("give language (floor, ar, zh, en, fr, ru or es)", details={"field": "language"})
    raw_from = request.query.get("from", "0")
    try:
        from_seconds = float(raw_from)
    except ValueError:
        from_seconds = -1.0
    if not 0 <= from_seconds <= 366 * 86400:
        raise InvalidInput("from must be a number of seconds into the recording", details={"field": "from"})
    text = await archive.caption_vtt(session, rec, language, from_seconds)
    name = f"session-{session.id}-recording-{rec.id}-captions-{language}.vtt"
    return web.Response(
        text=text, content_type="text/vtt", charset="utf-8", headers=_disposition(request, name)
    )


async def chapters(request: web.Request) -> web.Response:
    """The recording's chapters as WebVTT (kind="chapters") or JSON."""
    session = await _allowed(request)
    archive = _archive(request)
    rec = await archive.recording(session.id, int_param(request, "recording_id"))
    kind = request.query.get("format", "json")
    if kind not in CHAPTER_TYPES:
        raise InvalidInput("format must be json or vtt", details={"field": "format"})
    items = await archive.chapters(session, rec)
    text = chapters_vtt(items, rec.started_at) if kind == "vtt" else chapters_json(items, rec.started_at)
    name = f"session-{session.id}-recording-{rec.id}-chapters.{kind}"
    return web.Response(
        text=text, content_type=CHAPTER_TYPES[kind], charset="utf-8", headers=_disposition(request, name)
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/sessions/{session_id}/archive", listing)
    r.add_post("/api/sessions/{session_id}/archive/access", set_access)
    base = "/api/sessions/{session_id}/recordings/{recording_id}"
    r.add_get(base + "/segments/{segment_id}", segment)
    r.add_get(base + "/captions", captions)
    r.add_get(base + "/chapters", chapters)
