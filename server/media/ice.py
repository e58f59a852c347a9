"""ICE servers from settings, and TURN credentials in the shared-secret scheme coturn implements.

coturn's ``use-auth-secret`` (the "TURN REST API" draft): the username is ``expiry:id`` with ``expiry`` in
Unix seconds, the password is base64(HMAC-SHA1(secret, username)). coturn recomputes it, so nothing is
stored, and a credential stops working at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer

from server.settings import Settings


def turn_credential(secret: str, user: str, expires: datetime) -> tuple[str, str]:
    """(username, credential) valid until ``expires`` for the TURN server sharing ``secret``."""
    username = f"{int(expires.timestamp())}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(settings: Settings, user: str, now: datetime) -> tuple[list[dict[str, Any]], datetime | None]:
    """What a client passes as ``RTCPeerConnection({iceServers})``, and when its TURN credential expires."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    expires = None
    if settings.turn_urls and settings.turn_secret:
        expires = (now + timedelta(seconds=settings.turn_ttl_seconds)).replace(microsecond=0)
        username, credential = turn_credential(settings.turn_secret, user, expires)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers, expires


def rtc_configuration(settings: Settings, user: str, now: datetime) -> RTCConfiguration:
    """The relay's own configuration: always explicit, so aiortc never falls back to its public STUN."""
    servers, _ = ice_servers(settings, user, now)
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in servers
        ]
    )
