"""WHIP (RFC 9725) and WHEP over HTTP, and handing media requests to the process that owns a session's relay.

Encoders such as OBS Studio publish with WHIP, standard players view with WHEP; both carry a role token as
``Authorization: Bearer``. A process that does not run the session's relay sends the request on to the one
that does (``media_relays`` names it) with the caller's own token, and returns its answer unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from .domain.errors import Forbidden, InvalidInput
from .domain.ids import parse_id
from .domain.model import Principal
from .domain.roles import Permission
from .domain.sessions import SessionState
from .http_base import Handler, bearer_principal, int_param, json_object
from .keys import CORE_KEY, MEDIA_KEY
from .media.booths import BOOTH_WORKERS
from .media.edge import Upstream
from .media.errors import MediaError
from .media.relay import MAX_SDP_BYTES, Peer, SessionRelay
from .media.service import HEALTH_VIEWERS, Elsewhere
from .media_forward import FORWARD_TIMEOUT, FORWARDED_HEADER, forward, resource_path
from .openapi import BoothLinkBody, ChannelSwitch
from .tokens import RELAY_SCOPE

log = logging.getLogger(__name__)

FORWARD_KEY: web.AppKey[aiohttp.ClientSession] = web.AppKey("media_forward", aiohttp.ClientSession)
SDP_TYPE = "application/sdp"


def ice_links(ice: dict[str, Any]) -> list[str]:
    """RFC 9725 section 4.6: ICE servers as Link headers, so encoders can use TURN too."""
    links = []
    for server in ice["ice_servers"]:
        for url in server["urls"]:
            link = f'<{url}>; rel="ice-server"'
            if "username" in server:
                link += f'; username="{server["username"]}"; credential="{server["credential"]}"'
                link += '; credential-type="password"'
            links.append(link)
    return links


async def _relay_or_forward(
    request: web.Request, session_id: int, view: str | None = None
) -> SessionRelay | web.Response:
    """The relay that serves the request here, or the origin's answer to it (``view``: a viewer's source,
    served by an edge relay here when the origin runs elsewhere). Requests about an existing resource go to
    this process's relay when it holds the resource."""
    core = request.app[CORE_KEY]
    media = request.app[MEDIA_KEY]
    resource_id = request.match_info.get("resource_id")
    local = media.relay(session_id)
    if resource_id is not None and local is not None and resource_id in local.peers:
        return local
    placed = FORWARDED_HEADER in request.headers
    if resource_id is not None and resource_id in media.placed:
        located: SessionRelay | Elsewhere = media.placed[resource_id]
    elif view is None:
        located = await media.locate(session_id)
    else:
        # A viewer handed here by a full process is served here: placement was decided there.
        located = await media.locate_view(session_id, view, placed=placed)
    if isinstance(located, SessionRelay):
        return located
    if FORWARDED_HEADER in request.headers:
        # Ownership moved between the two processes' reads: do not bounce the request around.
        raise MediaError(
            "the media relay of this session is moving; try again",
            code="relay_moved",
            status=503,
            details={"owner": located.owner.instance_id},
        )
    token = request.headers.get("Authorization", "").partition(" ")[2]
    body = await request.read() or None  # read once and kept by aiohttp
    status, headers, data = await forward(
        request.app[FORWARD_KEY],
        core,
        located,
        request.method,
        request.path,
        token,
        body,
        request.headers.get("Content-Type"),
        dict(request.query),
    )
    if view is not None and status == 201:
        # Its DELETE and channel switches come here too (the Location is relative): they follow it there.
        media.remember_placed(headers.get("Location", "").rsplit("/", 1)[-1], located)
    return web.Response(status=status, body=data, headers=headers)


async def _offer(request: web.Request) -> str:
    if request.content_type != SDP_TYPE:
        raise MediaError(
            f"send the offer as {SDP_TYPE}, not {request.content_type or 'nothing'}",
            code="unsupported_media_type",
            status=415,
        )
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        raise MediaError("the offer is over 64 KiB", code="payload_too_large", status=413)
    raw = await request.read()
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise MediaError("the offer is not UTF-8 text", code="invalid_sdp") from None


def _answer(request: web.Request, session_id: int, peer: Peer, principal: Principal) -> web.Response:
    media = request.app[MEDIA_KEY]
    response = web.Response(
        status=201,
        text=peer.answer,
        content_type=SDP_TYPE,
        headers={"Location": resource_path(session_id, peer.id), "ETag": f'"{peer.id}"'},
    )
    for link in ice_links(media.ice_servers(principal)):
        response.headers.add("Link", link)
    return response


def _optional(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and (len(value) > 32 or not value.replace("_", "").isalnum()):
        raise MediaError(f"{name} is not valid", code="invalid_input", details={"field": name})
    return value


async def whip(request: web.Request) -> web.StreamResponse:
    """Publish: the AV desk's room feed (the default), a channel, a speaker or a device check."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    media = request.app[MEDIA_KEY]
    source = await media.publish_source(
        principal, session_id, _optional(request, "source") or "room", _optional(request, "channel")
    )
    offer = await _offer(request)
    relay = await _relay_or_forward(request, session_id)
    if isinstance(relay, web.Response):
        return relay
    peer = await media.publish(relay, principal, source, offer)
    return _answer(request, session_id, peer, principal)


async def whep(request: web.Request) -> web.StreamResponse:
    """View: the room feed (with ``channel`` and ``audio_only``), the speaker, or a green room."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    media = request.app[MEDIA_KEY]
    raw_participant = _optional(request, "participant_id")
    participant_id = None if raw_participant is None else parse_id(raw_participant)
    if raw_participant is not None and participant_id is None:
        raise MediaError(
            "participant_id must be a participant's id",
            code="invalid_input",
            details={"field": "participant_id"},
        )
    audio_only = _optional(request, "audio_only")
    if audio_only not in (None, "0", "1", "true", "false"):
        raise MediaError("audio_only must be 1 or 0", code="invalid_input")
    source = await media.view_source(
        principal,
        session_id,
        _optional(request, "source") or "room",
        participant_id,
    )
    offer = await _offer(request)
    relay = await _relay_or_forward(request, session_id, view=source)
    if isinstance(relay, web.Response):
        return relay
    peer = await media.view(
        relay, principal, source, offer, _optional(request, "channel"), audio_only in ("1", "true")
    )
    return _answer(request, session_id, peer, principal)


async def delete_resource(request: web.Request) -> web.StreamResponse:
    """End a resource: 200, also when the caller's resource already ended (a player that closed its
    connection first): DELETE is idempotent."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    await request.app[MEDIA_KEY].check_session(principal, session_id)
    relay = await _relay_or_forward(request, session_id)
    if isinstance(relay, web.Response):
        return relay
    await request.app[MEDIA_KEY].stop_peer(relay, principal, request.match_info["resource_id"])
    return web.Response(status=200)


async def switch_channel(request: web.Request) -> web.StreamResponse:
    """Change a room-feed viewer's language channel: JSON ``{"channel": "fr"}``."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    await request.app[MEDIA_KEY].check_session(principal, session_id)
    relay = await _relay_or_forward(request, session_id)
    if isinstance(relay, web.Response):
        return relay
    body = await json_object(request)
    try:
        switch = ChannelSwitch.model_validate(body, strict=True)
    except ValidationError:
        raise MediaError(
            "send exactly one field: channel", code="invalid_input", details={"field": "channel"}
        ) from None
    peer = await request.app[MEDIA_KEY].set_channel(
        relay, principal, request.match_info["resource_id"], switch.channel
    )
    return web.json_response(peer.public())


async def booth_link(request: web.Request) -> web.Response:
    """A new interpreter, with a link for the booths named: JSON ``{"languages": ["es"], "name": "..."}``."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    # Who may first: a refused caller learns nothing of the body's rules.
    await request.app[CORE_KEY].session_for(principal, session_id, Permission.LINKS_ISSUE)
    body = await json_object(request)
    try:
        asked = BoothLinkBody.model_validate(body, strict=True)
    except ValidationError as exc:
        field = ".".join(str(part) for part in exc.errors()[0]["loc"]) or None
        raise InvalidInput(
            "send languages (booths: ar, zh, en, fr, ru, es, and sign for the sign-language channel) "
            "and the interpreter's name",
            details={"field": field},
        ) from None
    if len(set(asked.languages)) != len(asked.languages):
        raise InvalidInput("name each booth once", details={"field": "languages"})
    name = asked.name.strip() or "Interpreter"
    desk = request.app[MEDIA_KEY].booths
    link, grant = await desk.issue(principal, session_id, list(asked.languages), name)
    return web.json_response({"link": link, **grant}, status=201)


async def booths_state(request: web.Request) -> web.Response:
    """Every booth of the session, the caller's booths and the floor as booths see it (``booth:get``)."""
    principal, _ = await bearer_principal(request)
    desk = request.app[MEDIA_KEY].booths
    return web.json_response(await desk.state(principal, int_param(request, "session_id")))


async def booth_action(request: web.Request) -> web.Response:
    """A booth request (offer, take, cough, slow_down), as its Socket.IO event: on the process that runs the
    session's relay, where the booth events of other processes send theirs. Cough takes ``{"on": bool}``."""
    principal, _ = await bearer_principal(request)
    if principal.role not in BOOTH_WORKERS:
        raise Forbidden("booths are for interpreters", code="not_interpreter")
    on = False
    if request.match_info["action"] == "cough":
        body = await json_object(request)
        if not isinstance(body.get("on"), bool) or set(body) != {"on"}:
            raise InvalidInput('send {"on": true} or {"on": false}', details={"field": "on"})
        on = body["on"]
    desk = request.app[MEDIA_KEY].booths
    reply = await desk.act(
        principal,
        int_param(request, "session_id"),
        request.match_info["language"],
        request.match_info["action"],
        on,
    )
    return web.json_response(reply)


ENDPOINT_METHODS = "OPTIONS, POST"
# PATCH is listed so that a browser lets a player try trickle ICE and read the 405 (RFC 9725 4.3: the
# client then sends no trickle), rather than fail the preflight with a network error.
RESOURCE_METHODS = "DELETE, OPTIONS, PATCH"


async def options(request: web.Request) -> web.StreamResponse:
    """The WHIP/WHEP endpoints' OPTIONS; with a valid token, the caller's ICE servers too (RFC 9725 4.6).

    A CORS preflight carries no token: it gets no ICE servers, since TURN credentials are per participant.
    """
    response = web.Response(status=204, headers={"Accept-Post": SDP_TYPE, "Allow": ENDPOINT_METHODS})
    if request.headers.get("Authorization"):
        principal, _ = await bearer_principal(request)
        session_id = int_param(request, "session_id")
        media = request.app[MEDIA_KEY]
        await media.check_session(principal, session_id)
        for link in ice_links(media.ice_servers(principal)):
            response.headers.add("Link", link)
    return response


async def resource_options(request: web.Request) -> web.StreamResponse:
    """A media resource's OPTIONS: what it allows (no trickle ICE: PATCH gets 405)."""
    allow = "OPTIONS, POST" if request.path.endswith("/channel") else RESOURCE_METHODS
    return web.Response(status=204, headers={"Allow": allow})


# The routes a player or an encoder in a web page uses: the endpoints and the media resources.
CORS_PATH = re.compile(r"^/api/sessions/[^/]+/(whip|whep|media/(?!ice$|health$|floor$)[^/]+(/channel)?)$")
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, If-Match"
CORS_EXPOSED_HEADERS = "Location, Link, ETag, Accept-Post, Allow"
CORS_MAX_AGE = "600"


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    """CORS on the WHIP/WHEP routes for the origins of ``HEMICYCLE_CORS_ORIGINS`` (``*``: any).

    Tokens travel in ``Authorization``, never in cookies: no credentials mode is allowed. An origin not
    listed gets no CORS headers, so the browser keeps the answer from the page.
    """

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            origin is None
            or not CORS_PATH.match(request.path)
            or ("*" not in origins and origin.lower() not in origins)
        ):
            return await handler(request)
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        response: web.StreamResponse
        if preflight:
            match = CORS_PATH.match(request.path)
            endpoint = match is not None and match.group(1) in ("whip", "whep")
            channel = request.path.endswith("/channel")
            response = web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Methods": ENDPOINT_METHODS
                    if endpoint or channel
                    else RESOURCE_METHODS,
                    "Access-Control-Allow-Headers": CORS_ALLOWED_HEADERS,
                    "Access-Control-Max-Age": CORS_MAX_AGE,
                },
            )
        else:
            response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        response.headers.add("Vary", "Origin")
        return response

    return cors


async def ice_config(request: web.Request) -> web.StreamResponse:
    """ICE servers (with this participant's TURN credentials) for a browser's RTCPeerConnection."""
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    media = request.app[MEDIA_KEY]
    await media.check_session(principal, session_id)
    return web.json_response(media.ice_servers(principal))


async def health(request: web.Request) -> web.StreamResponse:
    principal, _ = await bearer_principal(request)
    session_id = int_param(request, "session_id")
    media = request.app[MEDIA_KEY]
    if principal.role not in HEALTH_VIEWERS:
        raise Forbidden("media health is for the AV desk and floor staff", code="not_av")
    await media.check_session(principal, session_id)
    relay = await _relay_or_forward(request, session_id)
    if isinstance(relay, web.Response):
        return relay
    return web.json_response(await media.health(relay))


# -- the floor moved on another process --------------------------------------------------------------

NUDGE_HEADER = "X-Hemicycle-Nudge"
NUDGE_MAX_AGE_SECONDS = 30


def nudge_signature(secret: str, session_id: int, stamp: int) -> str:
    """Processes of one deployment share HEMICYCLE_SECRET: a request signed with it came from one of them."""
    message = f"media-floor:{session_id}:{stamp}".encode()
    return f"{stamp}.{hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


def make_nudge(app: web.Application) -> Callable[[int], Awaitable[None]]:
    """What the media service calls when the floor changes here but the relay runs elsewhere."""

    async def nudge(session_id: int) -> None:
        core = app[CORE_KEY]
        owner = await app[MEDIA_KEY].owners.owner(session_id)
        if owner is None or owner.instance_id == core.instance_id:
            return
        signature = nudge_signature(core.settings.secret, session_id, int(time.time()))
        try:
            async with app[FORWARD_KEY].post(
                f"{owner.base_url}/api/sessions/{session_id}/media/floor",
                headers={NUDGE_HEADER: signature},
                timeout=FORWARD_TIMEOUT,
            ) as response:
                if response.status != 204:
                    log.warning("the media relay of session %s answered %s", session_id, response.status)
        except (aiohttp.ClientError, TimeoutError):
            log.warning("could not tell the media relay of session %s that the floor changed", session_id)

    return nudge


async def floor_moved(request: web.Request) -> web.StreamResponse:
    """Another process changed the floor: check this session's publishers against it now."""
    session_id = int_param(request, "session_id")
    stamp, _, _digest = request.headers.get(NUDGE_HEADER, "").partition(".")
    secret = request.app[CORE_KEY].settings.secret
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if (
        not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12)
        or abs(time.time() - int(stamp)) > NUDGE_MAX_AGE_SECONDS
        or not hmac.compare_digest(
            request.headers.get(NUDGE_HEADER, ""), nudge_signature(secret, session_id, int(stamp))
        )
    ):
        raise Forbidden("this route is for Hemicycle's own processes", code="forbidden")
    media = request.app[MEDIA_KEY]
    relay = media.relay(session_id)
    if relay is not None:
        await media.reconcile(relay)
    return web.Response(status=204)


# -- edge relays pull sources from the origin -------------------------------------------------------

# An edge waits this long for the origin's answer: past it, its viewer hears relay_unreachable, not silence.
PULL_TIMEOUT = aiohttp.ClientTimeout(total=5)


def pull_path(session_id: int) -> str:
    return f"/api/sessions/{session_id}/media/pull"


def make_upstream(app: web.Application) -> Upstream:
    """How this process's edge relays ask a session's origin for a link: WHEP with a service credential."""

    async def upstream(session_id: int, source: str, offer: str) -> tuple[str, str]:
        core = app[CORE_KEY]
        owner = await app[MEDIA_KEY].owners.live_owner(session_id, core.presence_ttl)
        if owner is None:
            raise MediaError("the session's origin relay is moving", code="relay_unreachable", status=503)
        # The origin may be this very process (it took the session over while this edge had viewers): the
        # edge then pulls over loopback, and its viewers keep their connections.
        token, _ = core.tokens.issue_service(
            scope=RELAY_SCOPE, session_id=session_id, instance_id=core.instance_id
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": SDP_TYPE}
        target = (owner.base_url, owner.instance_id)
        body = ""
        for _tier in range(2):
            try:
                async with app[FORWARD_KEY].post(
                    target[0] + pull_path(session_id),
                    data=offer.encode(),
                    headers=headers,
                    params={"source": source},
                    timeout=PULL_TIMEOUT,
                ) as response:
                    body = await response.text()
                    if response.status == 201:
                        return body, target[1]
            except (aiohttp.ClientError, TimeoutError):
                break
            nearer = await _first_tier_edge(app, body)
            if nearer is None:
                break
            target = nearer
        log.warning(
            "the origin relay of session %s at %s refused a link of %s", session_id, owner.base_url, source
        )
        raise MediaError(
            f"the media relay of this session runs on {owner.instance_id}, which did not serve it",
            code="relay_unreachable",
            status=503,
            details={"owner": owner.instance_id, "answer": body[:200]},
        )

    return upstream


async def _first_tier_edge(app: web.Application, refusal: str) -> tuple[str, str] | None:
    """The origin feeds as many edges as it may and named them: the live one with the most room."""
    try:
        error = json.loads(refusal)["error"]
        named = set(error["details"]["edges"]) if error["code"] == "too_many_edges" else set()
    except (ValueError, KeyError, TypeError):
        return None
    media = app[MEDIA_KEY]
    loads = [load for load in await media.loads.others() if load.instance_id in named]
    if not loads:
        return None
    best = max(loads, key=lambda load: (load.room, load.instance_id))
    return best.base_url, best.instance_id


async def pull(request: web.Request) -> web.StreamResponse:
    """An edge relay on another process pulls one source of this origin: refused to anyone else."""
    core = request.app[CORE_KEY]
    token = request.headers.get("Authorization", "").partition(" ")[2]
    claims = core.tokens.verify_service(token, RELAY_SCOPE)
    session_id = int_param(request, "session_id")
    if claims.session_id != session_id:
        raise Forbidden("this credential is for another session", code="forbidden")
    session = await core.store.get_session(session_id)
    if session.state is SessionState.ENDED:
        raise MediaError("the session has ended", code="session_ended", status=409)
    source = request.query.get("source", "")
    if len(source) > 32:
        raise MediaError("source is not valid", code="invalid_source")
    offer = await _offer(request)
    peer = await request.app[MEDIA_KEY].serve_pull(session_id, offer, source, claims.instance_id)
    return web.Response(
        status=201,
        text=peer.answer,
        content_type=SDP_TYPE,
        headers={"Location": resource_path(session_id, peer.id)},
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/sessions/{session_id}/whip", whip)
    r.add_route("OPTIONS", "/api/sessions/{session_id}/whip", options)
    r.add_post("/api/sessions/{session_id}/whep", whep)
    r.add_route("OPTIONS", "/api/sessions/{session_id}/whep", options)
    r.add_delete("/api/sessions/{session_id}/media/{resource_id}", delete_resource)
    r.add_route("OPTIONS", "/api/sessions/{session_id}/media/{resource_id}", resource_options)
    r.add_post("/api/sessions/{session_id}/media/{resource_id}/channel", switch_channel)
    r.add_route("OPTIONS", "/api/sessions/{session_id}/media/{resource_id}/channel", resource_options)
    r.add_get("/api/sessions/{session_id}/media/ice", ice_config)
    r.add_post("/api/sessions/{session_id}/booths/links", booth_link)
    r.add_get("/api/sessions/{session_id}/booths", booths_state)
    r.add_post("/api/sessions/{session_id}/booths/{language}/{action}", booth_action)
    r.add_get("/api/sessions/{session_id}/media/health", health)
    r.add_post("/api/sessions/{session_id}/media/floor", floor_moved)
    r.add_post("/api/sessions/{session_id}/media/pull", pull)
