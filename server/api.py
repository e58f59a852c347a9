"""HTTP adapter: thin views that parse the request, call the use cases and shape the reply.

Domain errors become JSON error bodies in one middleware; nothing here touches the database directly.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import weakref
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from .domain.captions import to_text, to_vtt
from .domain.errors import (
    Forbidden,
    HemicycleError,
    InvalidInput,
    NotFound,
)
from .domain.ids import parse_id
from .domain.model import SessionInfo, iso
from .domain.moderation import clean_browser_id
from .domain.roles import Permission
from .domain.sessions import SessionState
from .http_base import Handler, bearer_principal, int_param, json_object
from .keys import (
    CAPTIONS_KEY,
    CORE_KEY,
    DESK_KEY,
    HUB_KEY,
    LIMITS_KEY,
    MODERATION_KEY,
    REPORTS_KEY,
    WEB_DIR_KEY,
)
from .openapi import RegistrationBody, StateChange
from .reports import check_format, render
from .service import Hemicycle

log = logging.getLogger(__name__)

# The archive page is opened by attendees too when the administrator made it public: the API decides.
STAFF_PAGES = ("moderator", "chair", "av", "captioner", "interpreter", "display", "report", "archive")


def _core(request: web.Request) -> Hemicycle:
    return request.app[CORE_KEY]


# -- public ------------------------------------------------------------------------------------


async def _health(request: web.Request) -> dict[str, Any]:
    """Each dependency probed now (a round trip to the database, a PING to Redis and the listener's state),
    not read from the configuration. The process is named by the random part of its id alone: its host
    name and process id are nobody's business over HTTP."""
    core = _core(request)
    reachable = await request.app[HUB_KEY].dependencies()
    degraded = sorted(name for name, up in reachable.items() if not up)
    return {
        "status": "degraded" if degraded else "ok",
        "degraded": degraded,
        "instance": core.instance_id.rsplit("-", 1)[-1],
        "database": core.store.engine.dialect.name,
        "redis": reachable.get("redis", False),
    }


async def health(request: web.Request) -> web.Response:
    """Liveness: 200 while the process answers, saying which dependency is lost."""
    return web.json_response(await _health(request))


async def ready(request: web.Request) -> web.Response:
    """Readiness: 503 while a dependency is lost, so a load balancer sends no one here meanwhile."""
    body = await _health(request)
    return web.json_response(body, status=503 if body["degraded"] else 200)


async def list_events(request: web.Request) -> web.Response:
    events = await _core(request).store.list_events()
    return web.json_response({"events": [e.public() for e in events]})


async def get_event(request: web.Request) -> web.Response:
    store = _core(request).store
    event = await store.get_event(int_param(request, "event_id"))
    sessions = [s.public() for s in await store.list_sessions(event.id) if s.is_public]
    return web.json_response({"event": event.public(), "sessions": sessions})


async def event_sessions(request: web.Request) -> web.Response:
    """Every session of the event, public or not, for its administrators."""
    principal, _ = await bearer_principal(request)
    event_id = int_param(request, "event_id")
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
    session = await store.get_session(int_param(request, "session_id"))
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
    principal, _ = await bearer_principal(request)
    try:
        principal.require(Permission.SESSION_VIEW, session)
        await request.app[MODERATION_KEY].require_admitted(principal, session)
    except Forbidden:
        raise hidden from None


def _client_address(request: web.Request) -> str | None:
    """The client's address: the proxy's last X-Forwarded-For entry when configured to trust it."""
    if _core(request).settings.proxy_headers:
        last = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if last:
            return last[:64]
        _warn_without_forwarded_for(request)
    return request.remote


# Servers (applications) that have said once that a request came without X-Forwarded-For.
_WARNED_WITHOUT_FORWARDED_FOR: weakref.WeakSet[web.Application] = weakref.WeakSet()


def _warn_without_forwarded_for(request: web.Request) -> None:
    """Once per server: a proxy that drops the client's address (or a client that bypasses it) would make
    every registration look as if it came from one address, the proxy's, and a ban on that address flag
    everyone. Once, because it is the same misconfiguration on every request."""
    if request.app in _WARNED_WITHOUT_FORWARDED_FOR:
        return
    _WARNED_WITHOUT_FORWARDED_FOR.add(request.app)
    log.warning(
        "HEMICYCLE_PROXY_HEADERS is on but a request from %s has no X-Forwarded-For: check that the proxy "
        "sets it and that clients reach the server only through the proxy (said once)",
        request.remote,
    )


async def register(request: web.Request) -> web.Response:
    event_id = int_param(request, "event_id")
    body = await json_object(request)
    # The page's browser id is not part of the registration: it only helps recognise a banned person.
    browser_id = body.pop("browser_id", None)
    unknown = sorted(set(body) - set(RegistrationBody.model_fields))
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    limits = request.app[LIMITS_KEY]
    moderation = request.app[MODERATION_KEY]
    browser = clean_browser_id(browser_id)  # refused before anything is stored
    address = _client_address(request)
    # Free identities multiply every per-participant limit: registrations are limited per address and per
    # browser, across processes. A registration refused for its content gives its allowance back.
    hits = await limits.registration(address, browser)
    try:
        principal, token, expires = await _core(request).register(event_id, body)
    except HemicycleError:
        await limits.give_back(hits)
        raise
    await moderation.record_origin(principal.participant.id, browser_id, address)
    return web.json_response(
        {"participant": principal.participant.public(), "token": token, "expires_at": iso(expires)},
        status=201,
    )


# -- with a token ------------------------------------------------------------------------------


async def me(request: web.Request) -> web.Response:
    principal, expires = await bearer_principal(request)
    return web.json_response({"me": principal.public(), "expires_at": iso(expires)})


async def set_state(request: web.Request) -> web.Response:
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    body = await json_object(request)
    try:
        change = StateChange.model_validate(body)
    except ValidationError:
        if set(body) != {"state"}:
            raise InvalidInput("send exactly one field: state", details={"field": "state"}) from None
        allowed = ", ".join(s.value for s in SessionState)
        raise InvalidInput(f"state must be one of: {allowed}", details={"field": "state"}) from None
    session = await _core(request).set_state(principal, session_id, change.state)
    return web.json_response({"session": session.public()})


async def presence(request: web.Request) -> web.Response:
    principal, _ = await bearer_principal(request)
    core = _core(request)
    session = await core.session_for(principal, int_param(request, "session_id"), Permission.ROSTER_VIEW)
    snapshot = await core.presence(session.id)
    return web.json_response({"summary": snapshot.summary(), "people": snapshot.roster()})


async def audit(request: web.Request) -> web.Response:
    principal, _ = await bearer_principal(request)
    core = _core(request)
    session = await core.session_for(principal, int_param(request, "session_id"), Permission.AUDIT_VIEW)
    return web.json_response({"entries": await core.store.audit_log(session.id)})


async def export_questions(request: web.Request) -> web.StreamResponse:
    """The session's questions as CSV or JSON, for the session report."""
    principal, _ = await bearer_principal(request)
    core = _core(request)
    session = await core.session_for(
        principal, int_param(request, "session_id"), Permission.QUESTION_MODERATE
    )
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise InvalidInput("format must be csv or json", details={"field": "format"})
    desk = request.app[DESK_KEY]
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
    principal, _ = await bearer_principal(request)
    reports = request.app[REPORTS_KEY]
    session = await reports.session_for(principal, int_param(request, "session_id"))
    check_format(request.query.get("format", "json"), request.query.get("part", "figures"))
    return _report_reply(await reports.session_record(session), request, f"session-{session.id}-record")


async def event_report(request: web.Request) -> web.Response:
    """Every session's record and the event's balance (the event's administrators)."""
    principal, _ = await bearer_principal(request)
    reports = request.app[REPORTS_KEY]
    event = await reports.event_for(principal, int_param(request, "event_id"))
    check_format(request.query.get("format", "json"), request.query.get("part", "figures"))
    return _report_reply(await reports.event_record(event), request, f"event-{event.id}-record")


TRANSCRIPT_TYPES = {"json": "application/json", "txt": "text/plain", "vtt": "text/vtt"}


async def transcript(request: web.Request) -> web.Response:
    """The session's caption transcript (admin, moderator, captioner): JSON, plain text or WebVTT."""
    principal, _ = await bearer_principal(request)
    kind = request.query.get("format", "json")
    if kind not in TRANSCRIPT_TYPES:
        raise InvalidInput("format must be json, txt or vtt", details={"field": "format"})
    language = request.query.get("language")
    if kind == "vtt" and language is None:
        raise InvalidInput("a WebVTT file holds one language: give language", details={"field": "language"})
    captions = request.app[CAPTIONS_KEY]
    session, lines = await captions.transcript_for(principal, int_param(request, "session_id"), language)
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
    "late_votes",
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
    principal, _ = await bearer_principal(request)
    core = _core(request)
    session = await core.session_for(principal, int_param(request, "session_id"), Permission.LINKS_ISSUE)
    grants: dict[str, int] = {}
    issued, expires = await core.session_links(session, principal, grants)
    return web.json_response({"links": issued, "grants": grants, "expires_at": iso(expires)})


async def revoke_grant(request: web.Request) -> web.Response:
    """Withdraw one link (administrators of its event): refused at once everywhere, its connections closed."""
    principal, _ = await bearer_principal(request)
    grant_id = int_param(request, "grant_id")
    grant = await _core(request).revoke_link(principal, grant_id)
    return web.json_response({"grant": grant.public()})


async def reissue_grant(request: web.Request) -> web.Response:
    """Withdraw one link and return a new one for the same person and role (administrators of its event)."""
    principal, _ = await bearer_principal(request)
    grant_id = int_param(request, "grant_id")
    grant, link, expires = await _core(request).reissue_link(principal, grant_id)
    return web.json_response(
        {"grant": grant.public(), "replaces": grant_id, "link": link, "expires_at": iso(expires)}
    )


async def export_moderation(request: web.Request) -> web.StreamResponse:
    """Every moderation action of the session (who, whom, when, why) as JSON or CSV, for the record."""
    principal, _ = await bearer_principal(request)
    kind = request.query.get("format", "json")
    if kind not in ("json", "csv"):
        raise InvalidInput("format must be csv or json", details={"field": "format"})
    moderation = request.app[MODERATION_KEY]
    session, entries = await moderation.record(principal, int_param(request, "session_id"))
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
            if key in request.match_info and parse_id(request.match_info[key]) is None:
                raise web.HTTPNotFound(text="There is no such page.")
        path: Path = request.app[WEB_DIR_KEY] / f"{name}.html"
        return web.FileResponse(path, headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"})

    return serve


async def staff_page(request: web.Request) -> web.StreamResponse:
    page = request.match_info["page"]
    if page not in STAFF_PAGES:
        raise web.HTTPNotFound(text=f"There is no page called {page[:40]!r}.")
    return await _page(page)(request)


PAGE_POLICY = (
    "default-src 'self'; connect-src 'self'{sockets}; img-src 'self' data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def page_policy(host: str | None) -> str:
    """The pages' policy: they talk to their own origin only. 'self' covers the same host's websockets in
    current browsers; the host's ws:/wss: are named too, for those that predate that rule (CSP 3)."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return PAGE_POLICY.format(sockets=sockets)


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp names itself and Python's version in `Server`: a gift to anyone matching known flaws."""
    response.headers["Server"] = "Hemicycle"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", page_policy(request.host))
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health)
    r.add_get("/api/ready", ready)
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
    r.add_post("/api/grants/{grant_id}/revoke", revoke_grant)
    r.add_post("/api/grants/{grant_id}/reissue", reissue_grant)
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
