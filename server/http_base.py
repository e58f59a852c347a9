"""What every HTTP adapter (server/api.py, server/media_http.py, server/organiser.py, server/metrics.py)
shares: the one place errors become replies, the bounded read of a body, path ids, JSON bodies and bearer
tokens.

Each adapter imports these from here rather than from one another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import logs
from .domain.errors import (
    HemicycleError,
    MalformedMessage,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    UnsupportedMediaType,
)
from .domain.ids import parse_id
from .domain.jsonlimits import MAX_JSON_DEPTH, too_deep
from .domain.model import Principal
from .keys import CORE_KEY, SETTINGS_KEY

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024

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
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if isinstance(exc, RateLimited) and isinstance(exc.details, dict) and "retry_after" in exc.details:
            response.headers["Retry-After"] = str(exc.details["retry_after"])
        return response
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = "the body is over 64 KiB" if exc.status == 413 else (exc.reason or code)
        return error_response(exc.status, code, message)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


@web.middleware
async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request's body read in full, within HEMICYCLE_HTTP_READ_SECONDS, before its handler runs: a client
    that sends half a body and waits holds a handler no longer than that. (aiohttp bounds the wait for the
    headers with its keep-alive timeout, set to the same in server/app.py.) Socket.IO's polling requests are
    left to engine.io, which reads them from the stream: signaling/wsdirect.py bounds that read alike."""
    if (
        request.body_exists
        and not request.path.startswith("/socket.io/")
        and not getattr(request.match_info.handler, "reads_own_body", False)
    ):
        try:
            async with asyncio.timeout(request.app[SETTINGS_KEY].http_read_seconds):
                await request.read()  # kept by aiohttp: the handler's own read returns it
        except TimeoutError:
            response = error_response(408, "request_timeout", "the body took too long to arrive")
            response.force_close()
            return response
    return await handler(request)


_UNKNOWN = {
    "event_id": ("event", "unknown_event"),
    "session_id": ("session", "unknown_session"),
    "grant_id": ("grant", "unknown_grant"),
    "entry_id": ("request", "unknown_request"),
}


def reads_own_body(handler: Handler) -> Handler:
    """Marks a view that takes a body larger than the 64 KiB every other route is held to: ``body_in_time``
    leaves it unread, and the view reads it with ``bounded_body`` under its own limit."""
    handler.reads_own_body = True  # type: ignore[attr-defined]
    return handler


async def bounded_body(request: web.Request, limit: int, refuse: Callable[[int], None]) -> bytes:
    """The body, read within HEMICYCLE_HTTP_READ_SECONDS; ``refuse`` (which raises) is called with the size
    as soon as it is known to be over ``limit``, from Content-Length or while reading, so that this process
    never holds more than ``limit`` bytes of it."""
    if request.content_length is not None and request.content_length > limit:
        refuse(request.content_length)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(request.app[SETTINGS_KEY].http_read_seconds):
            async for chunk in request.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    refuse(size)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout("the body took too long to arrive") from None
    return b"".join(chunks)


class RequestTimeout(HemicycleError):
    """A body that did not arrive within HEMICYCLE_HTTP_READ_SECONDS."""

    code = "request_timeout"
    status = 408


def int_param(request: web.Request, name: str) -> int:
    """A path id, checked by the one rule for ids (server/domain/ids.py): anything else names nothing."""
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        thing, code = _UNKNOWN.get(name, ("such thing", "not_found"))
        raise NotFound(f"there is no {thing} {raw[:24]!r}", code=code)
    return value


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, refused unless it is one: JSON, UTF-8, within 64 KiB and nesting limits."""
    # Only JSON: a cross-site HTML form can send text/plain without asking, never application/json.
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json, not {request.content_type[:64] or 'nothing'}",
            details={"field": "Content-Type"},
        )
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge("the body is over 64 KiB")
    raw = await request.read()
    try:
        text = raw.decode("utf-8")
        if too_deep(text):
            raise MalformedMessage(f"the body nests more than {MAX_JSON_DEPTH} levels deep")
        body = json.loads(text or "null")
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedMessage("the body must be a JSON object")
    return body


_BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)


async def bearer_principal(request: web.Request) -> tuple[Principal, Any]:
    """Who sends the request, from its `Authorization: Bearer` token, and when that token expires."""
    header = request.headers.get("Authorization", "")
    match = _BEARER.match(header)
    if not match:
        raise Unauthenticated("send the token as 'Authorization: Bearer <token>'", code="token_missing")
    principal, expires = await request.app[CORE_KEY].authenticate(match.group(1))
    logs.bind(participant=principal.participant.id)
    return principal, expires
