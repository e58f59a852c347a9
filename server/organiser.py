"""Organisers without a shell: an event's administrators create, change and delete sessions over HTTP.

The fields and their rules are the agenda file's (server/agenda.py), so a session typed on the administrator's
page and one imported from a file are checked alike; times without an offset are read in the event's time
zone. Every change is audited in the transaction that makes it (server/db/session_store.py), and the people
connected to a changed session are told at once.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from .agenda import AgendaError, parse_agenda, session_draft
from .db.session_store import SessionEdit, SessionStore
from .domain.errors import Forbidden, InvalidInput, NotFound, UnsupportedMediaType
from .domain.model import Principal, SessionInfo, iso
from .domain.roles import Permission
from .http_base import bearer_principal, int_param, json_object
from .keys import CORE_KEY
from .openapi import SessionFields

# The fields the description (server/openapi.py) names: the agenda's, and the waiting room's.
EDITABLE = frozenset(SessionFields.model_fields)
_FIELD = re.compile(r"field '(\w+)'")
SESSIONS_KEY: web.AppKey[SessionStore] = web.AppKey("session_store", SessionStore)


def _edit(item: dict[str, Any], timezone: str) -> SessionEdit:
    """Check a session's fields by the agenda's rules; InvalidInput naming the field otherwise."""
    unknown = sorted(set(item) - EDITABLE)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r}", details={"field": unknown[0]})
    waiting_room = item.get("waiting_room")
    if waiting_room is not None and not isinstance(waiting_room, bool):
        raise InvalidInput("waiting_room: true, false or null", details={"field": "waiting_room"})
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    fields = {k: v for k, v in item.items() if k != "waiting_room"}
    try:
        draft = session_draft(fields, "session", zone, 1)
    except AgendaError as exc:
        message = str(exc).removeprefix("session: ")
        found = _FIELD.search(message)
        raise InvalidInput(message, details={"field": found.group(1)} if found else None) from None
    return SessionEdit(draft, waiting_room)


def _reply(session: SessionInfo, waiting_room: bool | None, status: int = 200) -> web.Response:
    return web.json_response({"session": {**session.public(), "waiting_room": waiting_room}}, status=status)


async def _session_of_admin(request: web.Request) -> tuple[Principal, SessionInfo]:
    """The caller, an administrator, and the session of their event named in the path. Checked in this order
    so that nothing tells whether a session exists to anyone but its event's administrators."""
    session_id = int_param(request, "session_id")
    principal, _ = await bearer_principal(request)
    principal.require(Permission.EVENT_MANAGE)
    try:
        session = await request.app[CORE_KEY].store.get_session(session_id)
    except NotFound:
        session = None
    if session is None or session.event_id != principal.event_id:
        raise NotFound(f"there is no session {session_id}", code="unknown_session")
    return principal, session


async def _admin_of(request: web.Request, event_id: int) -> Principal:
    principal, _ = await bearer_principal(request)
    principal.require(Permission.EVENT_MANAGE)
    if principal.event_id != event_id:
        raise Forbidden("this link is for another event", code="wrong_event")
    return principal


async def create_session(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/sessions: a new session, scheduled."""
    event_id = int_param(request, "event_id")
    principal = await _admin_of(request, event_id)
    body = await json_object(request)
    event = await request.app[CORE_KEY].store.get_event(event_id)
    body.setdefault("ref", f"s-{secrets.token_hex(4)}")
    edit = _edit(body, event.timezone)
    session = await request.app[SESSIONS_KEY].create(principal, event_id, edit)
    return _reply(session, edit.waiting_room, status=201)


def _as_fields(session: SessionInfo, waiting_room: bool | None, timezone: str) -> dict[str, Any]:
    """A stored session as the fields an edit sends, times in the event's zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return {
        "ref": session.ref,
        "title": session.title,
        "room": session.room,
        "starts_at": session.starts_at.astimezone(zone).isoformat(),
        "ends_at": session.ends_at.astimezone(zone).isoformat(),
        "languages": list(session.languages),
        "default_speaking_seconds": session.default_speaking_seconds,
        "public": session.is_public,
        "waiting_room": waiting_room,
    }


async def update_session(request: web.Request) -> web.Response:
    """PATCH /api/sessions/{session_id}: change the fields sent; the others stay as they are."""
    principal, current = await _session_of_admin(request)
    session_id = current.id
    core = request.app[CORE_KEY]
    body = await json_object(request)
    if not body:
        raise InvalidInput("send at least one field to change")
    sessions = request.app[SESSIONS_KEY]
    event = await core.store.get_event(current.event_id)
    merged = {**_as_fields(current, await sessions.waiting_room(session_id), event.timezone), **body}
    edit = _edit(merged, event.timezone)
    session = await sessions.update(principal, session_id, edit)
    await request.app[CORE_KEY].notifier.session_changed(session, principal)
    return _reply(session, edit.waiting_room)


async def delete_session(request: web.Request) -> web.Response:
    """DELETE /api/sessions/{session_id}: a session that is not live, and all it recorded."""
    principal, current = await _session_of_admin(request)
    core = request.app[CORE_KEY]
    session = await request.app[SESSIONS_KEY].delete(principal, current.id)
    deleted = {"id": session.id, "title": session.title, "at": iso(core.store.clock())}
    return web.json_response({"deleted": deleted})


AGENDA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/json")
_FILE_NAME = re.compile(r"[\w.-]{1,64}")


async def _agenda_bytes(request: web.Request) -> bytes:
    """The uploaded file. The API's body limit (64 KiB, some 300 sessions) holds here too, and the body was
    read within HEMICYCLE_HTTP_READ_SECONDS before the handler ran (http_base.body_in_time); a larger agenda
    goes through `hemicycle import-agenda`."""
    if request.content_type not in AGENDA_TYPES:
        raise UnsupportedMediaType(
            f"send the agenda as {' or '.join(AGENDA_TYPES)}, not {request.content_type[:64] or 'nothing'}",
            details={"field": "Content-Type"},
        )
    return await request.read()


async def import_agenda(request: web.Request) -> web.Response:
    """POST /api/events/{event_id}/agenda: an agenda file, as `hemicycle import-agenda` reads it."""
    event_id = int_param(request, "event_id")
    principal = await _admin_of(request, event_id)
    name = request.query.get("name", "agenda")
    name = name if _FILE_NAME.fullmatch(name) else "agenda"
    raw = await _agenda_bytes(request)
    core = request.app[CORE_KEY]
    event = await core.store.get_event(event_id)
    try:
        agenda = parse_agenda(raw, name, timezone=event.timezone)
    except AgendaError as exc:
        raise InvalidInput(str(exc), code="invalid_agenda") from None
    slug = agenda.event.get("slug")
    if slug and slug != event.slug:
        raise InvalidInput(
            f"{name}: the file is for the event {slug!r}, not {event.slug!r}", code="invalid_agenda"
        )
    created, updated = await core.store.upsert_sessions(event_id, agenda.sessions)
    await request.app[SESSIONS_KEY].record_import(
        principal, event_id, {"file": name, "created": created, "updated": updated}
    )
    sessions = await core.store.list_sessions(event_id)
    return web.json_response(
        {"created": created, "updated": updated, "sessions": [s.public() for s in sessions]}
    )


def add_routes(app: web.Application) -> None:
    app[SESSIONS_KEY] = SessionStore(app[CORE_KEY].store)
    app.router.add_post("/api/events/{event_id}/sessions", create_session)
    app.router.add_patch("/api/sessions/{session_id}", update_session)
    app.router.add_delete("/api/sessions/{session_id}", delete_session)
    app.router.add_post("/api/events/{event_id}/agenda", import_agenda)
