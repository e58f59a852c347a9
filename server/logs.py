"""Logs for people and for machines: plain text, or one JSON object per line; never a token.

Each record carries what it happened in — the HTTP request's id, the session, the participant — from context
variables set where a request or a Socket.IO event enters (`request_context`, `bind`), so the code that logs
does not pass them around. Every formatted line goes through `redact`, whatever its origin (an exception's
text, a URL, a third-party library's message).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .domain.ids import parse_id

REQUEST_ID: ContextVar[str | None] = ContextVar("hemicycle_request_id", default=None)
SESSION_ID: ContextVar[int | None] = ContextVar("hemicycle_session_id", default=None)
PARTICIPANT_ID: ContextVar[int | None] = ContextVar("hemicycle_participant_id", default=None)

FORMATS = ("text", "json")
ACCESS_LOG_MODES = ("on", "all", "off")
ACCESS_LOGGER = "hemicycle.access"
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = web.RequestKey("request_id", str)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# What must never reach a log: signed tokens (JWTs: three base64url parts, the first one a JSON header),
# values named like credentials (query strings, headers, JSON, key=value) and bearer credentials.
_SECRETS = re.compile(
    r"eyJ[\w-]+\.[\w-]+\.[\w-]*"
    r"|(?i:(?<=bearer )[^\s\"',;]+)"
    r"|(?i:(?<=token=)|(?<=secret=)|(?<=password=))[^\s&\"',;#]+"
    r"|(?i:(?<=\"token\": \")|(?<='token': '))[^\"']+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """The text with every token, secret and bearer credential replaced by [redacted]."""
    return _SECRETS.sub(REDACTED, text)


def bind(*, session: int | None = None, participant: int | None = None) -> None:
    """Name the session and the participant that what follows, in this task, is about."""
    if session is not None:
        SESSION_ID.set(session)
    if participant is not None:
        PARTICIPANT_ID.set(participant)


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (unless the record names them itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in (
            ("request_id", REQUEST_ID),
            ("session", SESSION_ID),
            ("participant", PARTICIPANT_ID),
        ):
            if getattr(record, name, None) is None:
                setattr(record, name, variable.get())
        return True


class TextFormatter(logging.Formatter):
    """The usual one-line text, with the context appended and secrets redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{name}={value}"
            for name in ("request_id", "session", "participant")
            if (value := getattr(record, name, None)) is not None
        )
        if context:
            first, newline, rest = text.partition("\n")
            text = f"{first} [{context}]{newline}{rest}"
        return redact(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and session, participant and request_id
    when known; an exception's traceback under "exception"."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in ("session", "participant", "request_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str, kind: str = "text") -> None:
    """Send every log record to standard error, as text or JSON lines, at the given level."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if kind == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


# -- HTTP -----------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id (the client's X-Request-ID when well-formed), log within it, echo it back."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    request[REQUEST_ID_KEY] = request_id
    raw_session = request.match_info.get("session_id", "")
    request_token = REQUEST_ID.set(request_id)
    session_token = SESSION_ID.set(parse_id(raw_session))
    participant_token = PARTICIPANT_ID.set(None)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        # The connection's next request (keep-alive) runs in this same task: leave nothing behind.
        REQUEST_ID.reset(request_token)
        SESSION_ID.reset(session_token)
        PARTICIPANT_ID.reset(participant_token)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def attach(app: web.Application) -> None:
    """Run every request of the application inside its logging context (the outermost middleware)."""
    app.middlewares.insert(0, request_context)


class AccessLog(AbstractAccessLogger):
    """One line per request, but none for the browser files under /static/; the query string is redacted."""

    include_static = False

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if not self.include_static and request.path.startswith("/static/"):
            return
        remote = request.remote or "-"
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        self.logger.info(
            '%s "%s %s" %s %s %.3fs',
            remote,
            request.method,
            redact(target),
            response.status,
            response.body_length,
            time,
            extra={"request_id": request.get(REQUEST_ID_KEY)},
        )


class FullAccessLog(AccessLog):
    """The access log with the browser files too."""

    include_static = True


def access_log(mode: str) -> dict[str, Any]:
    """run_app's access-log arguments for HEMICYCLE_ACCESS_LOG."""
    if mode == "off":
        return {"access_log": None}
    return {
        "access_log": logging.getLogger(ACCESS_LOGGER),
        "access_log_class": FullAccessLog if mode == "all" else AccessLog,
    }
