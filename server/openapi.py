"""The HTTP API described as OpenAPI 3.1, served at /api/openapi.json, and the Socket.IO messages as JSON
Schema at /api/socketio-schema.json (signaling/schema.py's, the same as docs/protocol.schema.json).

The description is built from the running application's router, so every route appears (tests/test_openapi.py
checks it); the bodies are pydantic models, each model's ``model_json_schema()`` under ``components/schemas``.
The handlers check with the same models: the state and the media channel are validated by them, and the
fields of a registration or a session are refused when these models do not name them (the types and limits
of those are then checked by the domain, server/domain/participants.py and server/agenda.py, whose messages
clients already rely on; the models repeat those limits so that the description says them).
"""

from __future__ import annotations

import json
import weakref
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from signaling import schema as socketio_messages

from . import __version__
from .agenda import UN_LANGUAGES
from .domain.ids import MAX_ID
from .domain.participants import AgeBand, Gender, StakeholderGroup
from .domain.sessions import SessionState

_STRICT = ConfigDict(extra="forbid")


# -- request bodies ------------------------------------------------------------------------------


class RegistrationBody(BaseModel):
    """POST /api/events/{event_id}/participants: an attendee registers."""

    model_config = _STRICT
    display_name: str
    affiliation: str
    stakeholder_group: StakeholderGroup
    country: str = Field(description="ISO 3166-1 alpha-2 code")
    consent_demographics: bool = False
    gender: Gender | None = Field(default=None, description="only with consent_demographics")
    age_band: AgeBand | None = Field(default=None, description="only with consent_demographics")
    browser_id: str | None = Field(
        default=None, description="the page's browser id, not stored with the registration"
    )


class StateChange(BaseModel):
    """POST /api/sessions/{session_id}/state."""

    model_config = _STRICT
    state: SessionState


class ArchiveAccess(BaseModel):
    """POST /api/sessions/{session_id}/archive/access: who may open the session's archive (issue 22)."""

    model_config = _STRICT
    access: Literal["staff", "public"]


Language = Literal[UN_LANGUAGES]  # type: ignore[valid-type]


class SessionFields(BaseModel):
    """A session's fields, checked by the agenda file's rules (server/agenda.py), whose messages the replies
    keep. Times without an offset are read in the event's time zone. On creation title, starts_at and
    ends_at are required; an update sends only the fields it changes. The handlers refuse a field not named
    here (server/organiser.py reads the names from this model)."""

    model_config = _STRICT
    ref: str | int | None = Field(default=None, description="up to 64 characters; made up when absent")
    title: str | None = Field(default=None, max_length=300)
    room: str | None = Field(default=None, max_length=200)
    starts_at: str | None = Field(default=None, description="ISO 8601 date and time")
    ends_at: str | None = Field(default=None, description="ISO 8601 date and time, after starts_at")
    languages: list[Language] | None = Field(default=None, min_length=1)
    default_speaking_seconds: int | None = Field(default=None, ge=15, le=3600)
    public: bool | None = None
    waiting_room: bool | None = None


class ChannelSwitch(BaseModel):
    """POST /api/sessions/{session_id}/media/{resource_id}/channel."""

    model_config = _STRICT
    channel: str


class BoothLinkBody(BaseModel):
    """POST /api/sessions/{session_id}/booths/links: a new interpreter's link for some booths."""

    model_config = _STRICT
    languages: list[Literal["ar", "zh", "en", "fr", "ru", "es", "sign"]] = Field(
        min_length=1,
        max_length=7,
        json_schema_extra={"uniqueItems": True},
        description='the booths, and "sign" for the sign-language channel',
    )
    name: str = Field(min_length=1, max_length=120, description="the interpreter's name, shown to the booth")


class BoothLink(BaseModel):
    link: str
    grant_id: int
    participant_id: int
    booths: list[str]


# -- responses -----------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every 4xx and 5xx of /api/: the code is stable, the message is for people; details.field names the
    field refused."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    degraded: list[str]
    instance: str
    database: str
    redis: bool


class EventPublic(BaseModel):
    id: int
    slug: str
    title: str
    venue: str | None
    timezone: str


class SessionPublic(BaseModel):
    id: int
    event_id: int
    ref: str
    title: str
    room: str
    starts_at: datetime | None
    ends_at: datetime | None
    languages: list[str]
    state: SessionState
    state_changed_at: datetime | None
    default_speaking_seconds: int
    is_public: bool


class ParticipantPublic(BaseModel):
    id: int
    display_name: str
    affiliation: str
    stakeholder_group: str | None
    country: str | None
    role: str


class Registered(BaseModel):
    participant: ParticipantPublic
    token: str
    expires_at: datetime


class EventList(BaseModel):
    events: list[EventPublic]


class EventWithSessions(BaseModel):
    event: EventPublic
    sessions: list[SessionPublic]


class SessionWithEvent(BaseModel):
    session: SessionPublic
    event: EventPublic


class SessionReply(BaseModel):
    session: SessionPublic


MODELS: tuple[type[BaseModel], ...] = (
    RegistrationBody,
    StateChange,
    SessionFields,
    ArchiveAccess,
    ChannelSwitch,
    BoothLinkBody,
    BoothLink,
    ErrorBody,
    Health,
    EventList,
    EventWithSessions,
    SessionWithEvent,
    SessionReply,
    Registered,
)

# A body that is accepted, for readers and for the tests' first request.
EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    RegistrationBody: {
        "display_name": "Amina Diallo",
        "affiliation": "Ministry of Digital Economy",
        "stakeholder_group": "government",
        "country": "SN",
    },
}
# (method, path) -> the request body's model.
REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/api/events/{event_id}/participants"): RegistrationBody,
    ("POST", "/api/sessions/{session_id}/state"): StateChange,
    ("POST", "/api/events/{event_id}/sessions"): SessionFields,
    ("PATCH", "/api/sessions/{session_id}"): SessionFields,
    ("POST", "/api/sessions/{session_id}/media/{resource_id}/channel"): ChannelSwitch,
    ("POST", "/api/sessions/{session_id}/archive/access"): ArchiveAccess,
    ("POST", "/api/sessions/{session_id}/booths/links"): BoothLinkBody,
}
# (method, path) -> (success status, the reply's model).
RESPONSES: dict[tuple[str, str], tuple[int, type[BaseModel]]] = {
    ("GET", "/api/health"): (200, Health),
    ("GET", "/api/ready"): (200, Health),
    ("GET", "/api/events"): (200, EventList),
    ("GET", "/api/events/{event_id}"): (200, EventWithSessions),
    ("GET", "/api/events/{event_id}/sessions"): (200, EventWithSessions),
    ("GET", "/api/sessions/{session_id}"): (200, SessionWithEvent),
    ("POST", "/api/sessions/{session_id}/state"): (200, SessionReply),
    ("POST", "/api/events/{event_id}/participants"): (201, Registered),
    ("POST", "/api/sessions/{session_id}/booths/links"): (201, BoothLink),
}
# Replies other than errors with a status of 4xx or 5xx: readiness says what is lost.
OTHER_STATUSES: dict[tuple[str, str], tuple[int, type[BaseModel]]] = {
    ("GET", "/api/ready"): (503, Health),
}
# Routes that take no token: the rest say they need one.
PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/api/ready"),
    ("GET", "/api/events"),
    ("GET", "/api/events/{event_id}"),
    ("GET", "/api/sessions/{session_id}"),
    ("POST", "/api/events/{event_id}/participants"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/socketio-schema.json"),
}
SDP_BODIES = {"/api/sessions/{session_id}/whip", "/api/sessions/{session_id}/whep"}
AGENDA_PATH = "/api/events/{event_id}/agenda"
# A statement sent in advance (server/statement_http.py): the file itself; what it is is read from its bytes.
STATEMENT_PATH = "/api/sessions/{session_id}/queue/{entry_id}/statement"
# server/api.py's (which imports this module); tests/test_openapi.py checks they are the same.
STAFF_PAGES = ("moderator", "chair", "av", "captioner", "interpreter", "display", "report", "archive")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _parameter(name: str) -> dict[str, Any]:
    if name.endswith("_id") and name != "resource_id":
        schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif name == "page":
        schema = {"type": "string", "enum": list(STAFF_PAGES)}
    else:
        schema = {"type": "string", "minLength": 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _operation_id(method: str, path: str) -> str:
    words = path.strip("/").replace("{", "").replace("}", "").replace(".", "_").replace("/", "_")
    return f"{method.lower()}_{words or 'index'}"


def _operation(method: str, path: str, params: list[str]) -> dict[str, Any]:
    key = (method, path)
    is_api = path.startswith("/api/")
    error = {"description": "refused", "content": {"application/json": {"schema": _ref("ErrorBody")}}}
    responses: dict[str, Any] = {}
    if key in RESPONSES:
        status, model = RESPONSES[key]
        responses[str(status)] = {
            "description": "done",
            "content": {"application/json": {"schema": _ref(model.__name__)}},
        }
    elif path.startswith(("/s/", "/e/")) or path == "/":
        responses["200"] = {
            "description": "the page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    else:
        responses["2XX"] = {"description": "done"}
    if is_api:
        responses["4XX"] = error
        responses["5XX"] = error
    if key in OTHER_STATUSES:
        status, model = OTHER_STATUSES[key]
        responses[str(status)] = {
            "description": "not ready",
            "content": {"application/json": {"schema": _ref(model.__name__)}},
        }
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "responses": responses,
    }
    if params:
        operation["parameters"] = [_parameter(name) for name in params]
    if key in REQUEST_BODIES:
        model = REQUEST_BODIES[key]
        media: dict[str, Any] = {"schema": _ref(model.__name__)}
        if model in EXAMPLES:
            media["example"] = EXAMPLES[model]
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    elif method == "POST" and path in SDP_BODIES:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/sdp": {"schema": {"type": "string", "maxLength": 64 * 1024}}},
        }
    elif method == "POST" and path == STATEMENT_PATH:
        operation["parameters"].append(
            {"name": "name", "in": "query", "required": False, "schema": {"type": "string"}}
        )
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    elif method == "POST" and path == AGENDA_PATH:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    if is_api and key not in PUBLIC:
        operation["security"] = [{"bearer": []}]
    return operation


def routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) the application answers, HEAD aside (aiohttp adds it to each GET)."""
    found: list[tuple[str, str]] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("formatter") or info.get("path")
        if path is None and "directory" in info:  # static files under a prefix
            path = f"{info['prefix']}/{{filename}}"
        if path is None or route.method == "HEAD":
            continue
        methods = ["GET", "POST"] if route.method == "*" else [route.method]
        found.extend((method, str(path)) for method in methods)
    return found


def build(app: web.Application) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`, walked from its router."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes(app):
        params = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, params)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hemicycle", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": _components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


# Built at the first request (the router no longer changes then) and kept: a few milliseconds of work that
# anyone may ask for, done once per application.
_BUILT: weakref.WeakKeyDictionary[web.Application, bytes] = weakref.WeakKeyDictionary()
_SOCKETIO_SCHEMA: list[bytes] = []


async def openapi_json(request: web.Request) -> web.Response:
    body = _BUILT.get(request.app)
    if body is None:
        body = _BUILT[request.app] = json.dumps(build(request.app)).encode()
    return web.Response(body=body, content_type="application/json")


async def socketio_schema(request: web.Request) -> web.Response:
    """Every Socket.IO message both ways, acknowledgements and the protocol version: what
    docs/protocol.schema.json holds, built from the same models."""
    if not _SOCKETIO_SCHEMA:
        _SOCKETIO_SCHEMA.append(json.dumps(socketio_messages.build()).encode())
    return web.Response(body=_SOCKETIO_SCHEMA[0], content_type="application/json")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/socketio-schema.json", socketio_schema)
