"""HTTP adapter: thin views that parse the request, call the use cases and shape the reply.

Domain errors become JSON error bodies in one middleware; nothing here touches the database directly.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from .domain.captions import to_text, to_vtt
from .domain.errors import (
    Forbidden,
    HemicycleError,
    InvalidInput,
    MalformedMessage,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
)
from .domain.model import Principal, SessionInfo, iso
from .domain.moderation import clean_browser_id
from .domain.roles import Permission
from .keys import CORE_KEY, HUB_KEY, REPORTS_KEY, WEB_DIR_KEY
from .reports import check_format, render
from .service import REGISTRATION_FIELDS, Hemicycle

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
STAFF_PAGES = ("moderator", "chair", "av", "captioner", "interpreter", "display", "report")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return web.json_response({"error": error}, status=status)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One place where errors become replies: JSON for the API, the status page elsewhere."""
    try:
        return await handler(request)
    except HemicycleError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = "the body is over 64 KiB" if exc.status == 413 else (exc.reason or code)
        return error_response(exc.status, code, message)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def _core(request: web.Request) -> Hemicycle:
    return request.app[CORE_KEY]


def _int_param(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput(f"{name} must be a positive whole number", details={"field": name})
    return int(raw)


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge("the body is over 64 KiB")
    raw = await request.read()
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedMessage("the body must be a JSON object")
    return body


_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)


async def _principal(request: web.Request) -> tuple[Principal, Any]:
    header = request.headers.get("Authorization", "")
    match = _BEARER.match(header)
    if not match:
        raise Unauthenticated("send the token as 'Authorization: Bearer <token>'", code="token_missing")
    return await _core(request).authenticate(match.group(1))


# -- public ------------------------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    core = _core(request)
    return web.json_response(
        {
            "status": "ok",
            "instance": core.instance_id,
            "database": core.store.engine.dialect.name,
            "redis": bool(core.settings.redis_url),
        }
    )


async def list_events(request: web.Request) -> web.Response:
    events = await _core(request).store.list_events()
    return web.json_response({"events": [e.public() for e in events]})


async def get_event(request: web.Request) -> web.Response:
    store = _core(request).store
    event = await store.get_event(_int_param(request, "event_id"))
    sessions = [s.public() for s in await store.list_sessions(event.id) if s.is_public]
    return web.json_response({"event": event.public(), "sessions": sessions})


async def event_sessions(request: web.Request) -> web.Response:
    """Every session of the event, public or not, for its administrators."""
    principal, _ = await _principal(request)
    event_id = _int_param(request, "event_id")
    store = _core(request).store
    event = await store.get_event(event_id)
    if principal.event_id != event.id:
        raise Forbidden("this link is for another event", code="wrong_session")
    principal.require(Permission.EVENT_MANAGE)
    return web.json_response(
        {"event": event.public(), "sessions": [s.public() for s in await store.list_sessions(event.id)]}
    )


async def get_session(request: web.Request) -> web.Response:
    """A public session for anyone; a non-public one only with a token that may enter it."""
    store = _core(request).store
    session = await store.get_session(_int_param(request, "session_id"))
    if not session.is_public:
        await _may_read(request, session)
    event = await store.get_event(session.event_id)
    return web.json_response({"session": session.public(), "event": event.public()})


async def _may_read(request: web.Request, session: SessionInfo) -> None:
    """A non-public session is shown to staff whose grant covers it (the session's or the event's) and to
    attendees already admitted to it; to anyone else it does not exist, as an unknown id."""
    hidden = NotFound(f"there is no session {session.id}", code="unknown_session")
    if "Authorization" not in request.headers:
        raise hidden
    # A bad token is refused as such: that tells nothing of the session.
    principal, _ = await _principal(request)
    try:
        principal.require(Permission.SESSION_VIEW, session)
        await request.app[HUB_KEY].moderation.actions.require_admitted(principal, session)
    except Forbidden:
        raise hidden from None


def _client_address(request: web.Request) -> str | None:
    """The client's address: the proxy's last X-Forwarded-For entry when configured to trust it."""
    if _core(request).settings.proxy_headers:
        last = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if last:
            return last[:64]
    return request.remote


async def register(request: web.Request) -> web.Response:
    event_id = _int_param(request, "event_id")
    body = await _json_object(request)
    # The page's browser id is not part of the registration: it only helps recognise a banned person.
    browser_id = body.pop("browser_id", None)
    unknown = sorted(set(body) - set(REGISTRATION_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    moderation = request.app[HUB_KEY].moderation.actions
    clean_browser_id(browser_id)  # refused before anything is stored
    principal, token, expires = await _core(request).register(event_id, body)
    await moderation.record_origin(principal.participant.id, browser_id, _client_address(request))
    return web.json_response(
        {"participant": principal.participant.public(), "token": token, "expires_at": iso(expires)},
        status=201,
    )


# -- with a token ------------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    principal, expires = await _principal(request)
    return web.json_response({"me": principal.public(), "expires_at": iso(expires)})


async def set_state(request: web.Request) -> web.Response:
    principal, _ = await _principal(request)
    session_id = _int_param(request, "session_id")
    body = await _json_object(request)
    if set(body) != {"state"}:
        raise InvalidInput("send exactly one field: state", details={"field": "state"})
    session = await _core(request).set_state(principal, session_id, body["state"])
    return web.json_response({"session": session.public()})


async def presence(request: web.Request) -> web.Response:
    principal, _ = await _principal(request)
    core = _core(request)
    session = await core.session_for(principal, _int_param(request, "session_id"), Permission.ROSTER_VIEW)
    snapshot = await core.presence(session.id)
    return web.json_response({"summary": snapshot.summary(), "people": snapshot.roster()})


async def audit(request: web.Request) -> web.Response:
    principal, _ = await _principal(request)
    core = _core(request)
    session = await core.session_for(principal, _int_param(request, "session_id"), Permission.AUDIT_VIEW)
    return web.json_response({"entries": await core.store.audit_log(session.id)})


async def export_questions(request: web.Request) -> web.StreamResponse:
    """The session's questions as CSV or JSON, for the session report."""
    principal, _ = await _principal(request)
    core = _core(request)
    session = await core.session_for(
        principal, _int_param(request, "session_id"), Permission.QUESTION_MODERATE
    )
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise InvalidInput("format must be csv or json", details={"field": "format"})
    desk = request.app[HUB_KEY].desk
    state = await desk.state(session.id)
    rows = desk.export_rows(state)
    name = f"session-{session.id}-questions.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "json":
        body = {"session": session.public(), "counts": desk.staff_view(state)["counts"], "questions": rows}
        return web.json_response(body, headers=disposition)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EXPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        # A leading =, +, - or @ would run as a formula in a spreadsheet: quote it as text.
        writer.writerow(
            {
                k: f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
                for k, v in row.items()
            }
        )
    return web.Response(text=buffer.getvalue(), content_type="text/csv", charset="utf-8", headers=disposition)


REPORT_TYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
# The HTML report is a document of its own: its stylesheet is inline and it runs no script at all.
REPORT_HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _report_reply(record: dict[str, Any], request: web.Request, stem: str) -> web.Response:
    """The record in the asked format (checked by the caller before it built the record)."""
    kind = request.query.get("format", "json")
    part = request.query.get("part", "figures")
    name = f"{stem}-{part}.csv" if kind == "csv" else f"{stem}.{kind}"
    headers = {"Content-Disposition": f'{"inline" if kind == "html" else "attachment"}; filename="{name}"'}
    if kind == "html":
        headers["Content-Security-Policy"] = REPORT_HTML_POLICY
    # embed=1: for the report page, which shows the document's <main> under its own stylesheet; lang: the
    # HTML's language (the page passes its own).
    standalone = request.query.get("embed") != "1"
    return web.Response(
        text=render(record, kind, part, standalone=standalone, language=request.query.get("lang")),
        content_type=REPORT_TYPES[kind],
        charset="utf-8",
        headers=headers,
    )


async def session_report(request: web.Request) -> web.Response:
    """The session record: interventions, balance, questions, attendance, moderation log (moderators)."""
    principal, _ = await _principal(request)
    reports = request.app[REPORTS_KEY]
    session = await reports.session_for(principal, _int_param(request, "session_id"))
    check_format(request.query.get("format", "json"), request.query.get("part", "figures"))
    return _report_reply(await reports.session_record(session), request, f"session-{session.id}-record")


async def event_report(request: web.Request) -> web.Response:
    """Every session's record and the event's balance (the event's administrators)."""
    principal, _ = await _principal(request)
    reports = request.app[REPORTS_KEY]
    event = await reports.event_for(principal, _int_param(request, "event_id"))
    check_format(request.query.get("format", "json"), request.query.get("part", "figures"))
    return _report_reply(await reports.event_record(event), request, f"event-{event.id}-record")


TRANSCRIPT_TYPES = {"json": "application/json", "txt": "text/plain", "vtt": "text/vtt"}


async def transcript(request: web.Request) -> web.Response:
    """The session's caption transcript (admin, moderator, captioner): JSON, plain text or WebVTT."""
    principal, _ = await _principal(request)
    kind = request.query.get("format", "json")
    if kind not in TRANSCRIPT_TYPES:
        raise InvalidInput("format must be json, txt or vtt", details={"field": "format"})
    language = request.query.get("language")
    if kind == "vtt" and language is None:
        raise InvalidInput("a WebVTT file holds one language: give language", details={"field": "language"})
    captions = request.app[HUB_KEY].captions.captions
    session, lines = await captions.transcript_for(principal, _int_param(request, "session_id"), language)
    name = f"session-{session.id}-transcript{'-' + language if language else ''}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "json":
        body = {"session": session.public(), "language": language, "lines": [line.public() for line in lines]}
        return web.json_response(body, headers=headers)
    text = to_text(lines) if kind == "txt" else to_vtt(lines)
    return web.Response(text=text, content_type=TRANSCRIPT_TYPES[kind], charset="utf-8", headers=headers)


EXPORT_COLUMNS = (
    "id",
    "text",
    "to",
    "asker",
    "affiliation",
    "stakeholder_group",
    "anonymous",
    "state",
    "stage",
    "starred",
    "votes",
    "merged_into",
    "merged_from",
    "edits",
    "asked_at",
    "approved_at",
    "dismissed_at",
    "dismiss_reason",
    "forwarded_at",
    "read_at",
    "answered_at",
)


async def links(request: web.Request) -> web.Response:
    principal, _ = await _principal(request)
    core = _core(request)
    session = await core.session_for(principal, _int_param(request, "session_id"), Permission.LINKS_ISSUE)
    issued, expires = await core.session_links(session, principal)
    return web.json_response({"links": issued, "expires_at": iso(expires)})


async def export_moderation(request: web.Request) -> web.StreamResponse:
    """Every moderation action of the session (who, whom, when, why) as JSON or CSV, for the record."""
    principal, _ = await _principal(request)
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise InvalidInput("format must be csv or json", details={"field": "format"})
    moderation = request.app[HUB_KEY].moderation.actions
    session, entries = await moderation.record(principal, _int_param(request, "session_id"))
    name = f"session-{session.id}-moderation.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if kind == "json":
        return web.json_response({"session": session.public(), "actions": entries}, headers=disposition)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(MODERATION_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for entry in entries:
        row = {
            "id": entry["id"],
            "at": entry["at"],
            "actor_id": entry["actor"]["id"],
            "actor_name": entry["actor"]["name"],
            "actor_role": entry["actor"]["role"],
            "action": entry["action"],
            "target": entry["target"],
            "whom_id": entry["whom"]["id"],
            "whom_name": entry["whom"]["name"],
            "reason": entry["reason"],
            "details": json.dumps(entry["details"], ensure_ascii=False, sort_keys=True),
        }
        writer.writerow(
            {
                k: f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
                for k, v in row.items()
            }
        )
    return web.Response(text=buffer.getvalue(), content_type="text/csv", charset="utf-8", headers=disposition)


MODERATION_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "action",
    "target",
    "whom_id",
    "whom_name",
    "reason",
    "details",
)


# -- pages -------------------------------------------------------------------------------------


def _page(name: str) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        for key in ("session_id", "event_id"):
            if key in request.match_info:
                _int_param(request, key)
        path: Path = request.app[WEB_DIR_KEY] / f"{name}.html"
        return web.FileResponse(path, headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"})

    return serve


async def staff_page(request: web.Request) -> web.StreamResponse:
    page = request.match_info["page"]
    if page not in STAFF_PAGES:
        raise web.HTTPNotFound(text=f"There is no page called {page[:40]!r}.")
    return await _page(page)(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; media-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    )
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health)
    r.add_get("/api/events", list_events)
    r.add_get("/api/events/{event_id}", get_event)
    r.add_post("/api/events/{event_id}/participants", register)
    r.add_get("/api/events/{event_id}/sessions", event_sessions)
    r.add_get("/api/sessions/{session_id}", get_session)
    r.add_get("/api/me", me)
    r.add_post("/api/sessions/{session_id}/state", set_state)
    r.add_get("/api/sessions/{session_id}/presence", presence)
    r.add_get("/api/sessions/{session_id}/audit", audit)
    r.add_post("/api/sessions/{session_id}/links", links)
    r.add_get("/api/sessions/{session_id}/moderation", export_moderation)
    r.add_get("/api/sessions/{session_id}/questions", export_questions)
    r.add_get("/api/sessions/{session_id}/report", session_report)
    r.add_get("/api/sessions/{session_id}/transcript", transcript)
    r.add_get("/api/events/{event_id}/report", event_report)
    r.add_get("/", _page("index"))
    r.add_get("/s/{session_id}", _page("attend"))
    r.add_get("/s/{session_id}/{page}", staff_page)
    r.add_get("/e/{event_id}/admin", _page("admin"))
    r.add_get("/e/{event_id}/report", _page("report"))
    r.add_static("/static/", app[WEB_DIR_KEY], follow_symlinks=False)
