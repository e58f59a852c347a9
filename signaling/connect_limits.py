"""Bounds on connecting: a client reconnecting in a tight loop, a token opened by a thousand connections, and
the client's address behind a proxy.

- Connection attempts per token, across processes (counted with the other shared limits, in Redis when it is
  configured): a page reconnects with a back-off and needs a handful a minute; a loop is refused with
  `rate_limited` before its token is even checked against the database.
- Refused attempts per address: an address whose attempts keep failing (unknown, forged, expired tokens) is
  refused at once for the rest of the window. Accepted connections do not count, so the hundreds of attendees
  behind one venue address are not limited by one another.
- Concurrent connections per participant: a person has a few tabs and devices, not a thousand. Counted here
  for this process, before any database work; the joining transaction then counts the participant's
  connections on every live process (server/db/snapshot_store.py).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from server.domain.errors import TooManyConnections
from server.domain.ratelimit import WindowRule
from server.limits import Limits, address_subject, refusal
from server.settings import Settings

log = logging.getLogger(__name__)

MINUTE = 60.0


def token_subject(token: str) -> str:
    """What the per-token limit counts: a digest, so that no token is written to Redis."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


class ConnectLimits:
    """One process's connect bounds (owned by Connections)."""

    def __init__(self, settings: Settings, limits: Limits) -> None:
        self.by_token = limits.limiter("connect:token", WindowRule(settings.connects_per_minute, MINUTE))
        self.refused_by_address = limits.limiter(
            "connect:refused", WindowRule(settings.refused_connects_per_address, MINUTE)
        )
        self.per_participant = settings.connections_per_participant
        self.proxy_headers = settings.proxy_headers
        self._warned_without_forwarded_for = False
        self._open: dict[int, int] = {}  # participant id -> connections open on this process
        self._owner: dict[str, int] = {}  # sid -> participant id

    # -- who is connecting ----------------------------------------------------------------------

    def address(self, environ: dict[str, Any]) -> str | None:
        """The client's address: the proxy's last X-Forwarded-For entry when configured to trust it. A proxy
        that drops it is said once per process: it is the same misconfiguration on every connection."""
        request = environ.get("aiohttp.request")
        remote = getattr(request, "remote", None) or environ.get("REMOTE_ADDR")
        if not self.proxy_headers:
            return str(remote) if remote else None
        last = str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")[-1].strip()
        if last:
            return last[:64]
        if not self._warned_without_forwarded_for:
            self._warned_without_forwarded_for = True
            log.warning(
                "HEMICYCLE_PROXY_HEADERS is on but a Socket.IO connection from %s has no X-Forwarded-For: "
                "check that the proxy sets it and that clients reach the server only through the proxy "
                "(said once)",
                remote,
            )
        return str(remote) if remote else None

    # -- attempts -------------------------------------------------------------------------------

    async def attempt(self, address: str | None, token: str) -> None:
        """Count an attempt, or raise `rate_limited`: an address with too many refusals first (counting
        nothing), then the token's attempts."""
        blocked = await self.refused_by_address.full(address_subject(address))
        if blocked is not None:
            raise refusal("too many refused connections from this network", blocked)
        hit = await self.by_token.take(token_subject(token))
        if not hit.allowed:
            raise refusal("too many connection attempts with this token", hit)

    async def refused(self, address: str | None) -> None:
        """An attempt whose token was refused counts against its address."""
        await self.refused_by_address.take(address_subject(address))

    # -- open connections -----------------------------------------------------------------------

    def open(self, sid: str, participant_id: int) -> None:
        """Hold one of the participant's connections, or raise `too_many_connections`."""
        held = self._open.get(participant_id, 0)
        if held >= self.per_participant:
            raise TooManyConnections(
                f"this participant already has {held} connections open: close a tab or device first",
                details={"limit": self.per_participant},
            )
        self._open[participant_id] = held + 1
        self._owner[sid] = participant_id

    def closed(self, sid: str) -> None:
        participant_id = self._owner.pop(sid, None)
        if participant_id is None:
            return
        held = self._open.get(participant_id, 0) - 1
        if held > 0:
            self._open[participant_id] = held
        else:
            self._open.pop(participant_id, None)

    def open_count(self, participant_id: int) -> int:
        return self._open.get(participant_id, 0)
