"""Handing a media request to the process that runs a session's relay: the HTTP client side that both media
adapters use (WHIP/WHEP in server/media_http.py, Socket.IO in signaling/media_events.py).

The request goes with a short-lived token minted for the caller's own grant, and names the forwarding process
in FORWARDED_HEADER so that the owner never sends it on again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp

from .domain.model import Principal
from .media.errors import MediaError
from .media.service import Elsewhere
from .service import Hemicycle

log = logging.getLogger(__name__)

FORWARDED_HEADER = "X-Hemicycle-Forwarded-By"
FORWARD_TIMEOUT = aiohttp.ClientTimeout(total=20)


def resource_path(session_id: int, resource_id: str) -> str:
    """A media resource's URL path (WHIP/WHEP's Location)."""
    return f"/api/sessions/{session_id}/media/{resource_id}"


def mint_token(core: Hemicycle, principal: Principal) -> str:
    """A short-lived token for the same grant, to act for the caller on the owning process."""
    token, _ = core.tokens.issue(
        grant_id=principal.grant_id,
        participant_id=principal.participant.id,
        role=principal.role,
        event_id=principal.event_id,
        session_id=principal.session_id,
        ttl=timedelta(minutes=2),
    )
    return token


async def forward(
    http: aiohttp.ClientSession,
    core: Hemicycle,
    target: Elsewhere,
    method: str,
    path: str,
    token: str,
    body: bytes | None = None,
    content_type: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Send a media request to the owning process; (status, headers worth keeping, body)."""
    headers = {"Authorization": f"Bearer {token}", FORWARDED_HEADER: core.instance_id}
    if content_type:
        headers["Content-Type"] = content_type
    url = target.owner.base_url + path
    try:
        async with http.request(
            method, url, data=body, headers=headers, params=query, timeout=FORWARD_TIMEOUT
        ) as response:
            data = await response.read()
            kept = {
                name: response.headers[name]
                for name in ("Content-Type", "Location", "ETag")
                if name in response.headers
            }
            return response.status, kept, data
    except (aiohttp.ClientError, TimeoutError):
        log.warning("media relay of session %s at %s did not answer", target.owner.session_id, url)
        raise MediaError(
            f"the media relay of this session runs on {target.owner.instance_id}, which did not answer",
            code="relay_unreachable",
            status=503,
            details={"owner": target.owner.instance_id},
        ) from None
