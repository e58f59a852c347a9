"""HTTP adapter of statements sent in advance (issue 21, item 5): attach one to a request, list a session's,
open one. Thin views over server/statements.py; errors become JSON in server/http_base.py's middleware.

The upload's body is the file itself (any Content-Type: what it is is read from its bytes), up to
HEMICYCLE_STATEMENT_MAX_BYTES, with its name in `?name=`. A statement is served only to those who may read it
(booths, captioner, moderators, administrator), with headers that keep a browser from running anything in it.
"""

from __future__ import annotations

from aiohttp import web

from .domain.statements import check_size
from .http_base import bearer_principal, bounded_body, int_param, reads_own_body
from .keys import STATEMENTS_KEY

STATEMENT_PATH = "/api/sessions/{session_id}/queue/{entry_id}/statement"
STATEMENTS_PATH = "/api/sessions/{session_id}/statements"


@reads_own_body
async def attach(request: web.Request) -> web.Response:
    """Attach (or replace) the statement of a request: its speaker, or floor staff for them."""
    principal, _ = await bearer_principal(request)
    statements = request.app[STATEMENTS_KEY]
    entry_id = int_param(request, "entry_id")
    session = await statements.attaching(principal, int_param(request, "session_id"), entry_id)
    limit = statements.max_bytes
    content = await bounded_body(request, limit, lambda size: check_size(size, limit))
    statement = await statements.attach(principal, session, entry_id, content, request.query.get("name"))
    return web.json_response({"statement": statement.public()}, status=201)


async def read(request: web.Request) -> web.Response:
    """The statement itself, to open in the browser (booths, captioner, moderators, administrator)."""
    principal, _ = await bearer_principal(request)
    statements = request.app[STATEMENTS_KEY]
    statement, content = await statements.read(
        principal, int_param(request, "session_id"), int_param(request, "entry_id")
    )
    kind = statement.kind
    disposition = "attachment" if request.query.get("download") == "1" else "inline"
    ascii_name = statement.name.encode("ascii", "replace").decode().replace("?", "_")
    return web.Response(
        body=content,
        headers={
            "Content-Type": kind.content_type,
            "Content-Disposition": f'{disposition}; filename="{ascii_name}"',
            # Read as what it was checked to be, nothing else, and with no script of its own.
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, no-store",
        },
    )


async def listing(request: web.Request) -> web.Response:
    """The session's statements, without their text: which requests have one, what, from whom."""
    principal, _ = await bearer_principal(request)
    statements = await request.app[STATEMENTS_KEY].list(principal, int_param(request, "session_id"))
    return web.json_response({"statements": [s.public() for s in statements]})


def add_routes(app: web.Application) -> None:
    app.router.add_post(STATEMENT_PATH, attach)
    app.router.add_get(STATEMENT_PATH, read)
    app.router.add_get(STATEMENTS_PATH, listing)
