"""Signed, expiring tokens for role links and participant identities (JWT, HS256, via PyJWT).

A token names a role grant; the grant is looked up on every use, so revoking it takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from .domain.errors import Unauthenticated
from .domain.roles import Role

ISSUER = "hemicycle"
MAX_TOKEN_LENGTH = 2048


def utcnow() -> datetime:
    return datetime.now(UTC)


# The one scope of a service credential: an edge relay pulling a session's sources from its origin.
RELAY_SCOPE = "relay"
RELAY_TOKEN_TTL = timedelta(minutes=2)


@dataclass(frozen=True)
class ServiceClaims:
    """What a service credential allows: one scope, one session, for a few minutes, to one process."""

    scope: str
    session_id: int
    instance_id: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: whose link (grant), for which event and session, until when."""

    grant_id: int
    participant_id: int
    role: Role
    event_id: int
    session_id: int | None
    expires_at: datetime


class TokenService:
    """Issues and verifies the signed role tokens (links, registrations, forwarded media requests). Owned by
    the Hemicycle core."""

    def __init__(self, secret: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._secret = secret
        self._clock = clock

    def issue(
        self,
        *,
        grant_id: int,
        participant_id: int,
        role: Role,
        event_id: int,
        session_id: int | None,
        ttl: timedelta,
    ) -> tuple[str, datetime]:
        now = self._clock()
        expires = now + ttl
        claims = {
            "iss": ISSUER,
            "sub": str(participant_id),
            "gid": grant_id,
            "role": role.value,
            "evt": event_id,
            "ses": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires.replace(microsecond=0)

    def issue_service(
        self, *, scope: str, session_id: int, instance_id: str, ttl: timedelta = RELAY_TOKEN_TTL
    ) -> tuple[str, datetime]:
        """A credential for one process to act as a relay of one session: no participant, no grant."""
        now = self._clock()
        expires = now + ttl
        claims = {
            "iss": ISSUER,
            "sub": f"instance:{instance_id}",
            "scp": scope,
            "ses": session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires.replace(microsecond=0)

    def verify_service(self, token: object, scope: str) -> ServiceClaims:
        """A service credential of ``scope``; a participant's token (or another scope) is refused."""
        claims = self._decode(token)
        if claims.get("scp") != scope:
            raise Unauthenticated(f"this route takes a {scope} service credential", code="token_invalid")
        subject = str(claims["sub"])
        try:
            parsed = ServiceClaims(
                scope=scope,
                session_id=int(claims["ses"]),
                instance_id=subject.removeprefix("instance:"),
                expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            )
        except (KeyError, TypeError, ValueError):
            raise Unauthenticated("the token is not valid", code="token_invalid") from None
        if not subject.startswith("instance:") or self._clock() >= parsed.expires_at:
            raise Unauthenticated("the service credential has expired", code="token_expired")
        return parsed

    def _decode(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise Unauthenticated("a token is required", code="token_missing")
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("the token is not valid", code="token_invalid")
        try:
            # Expiry is checked by the callers against our clock, so tests can move time.
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise Unauthenticated(
                "the token is not valid (altered, or signed by another server)", code="token_invalid"
            ) from None
        return claims

    def verify(self, token: object) -> TokenClaims:
        """Check signature, issuer and expiry; raise Unauthenticated with a code the pages explain."""
        claims: dict[str, Any] = self._decode(token)
        if "scp" in claims:
            # A service credential opens no page, no Socket.IO connection and no media route but its own.
            raise Unauthenticated("the token is not valid", code="token_invalid")
        try:
            expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
            parsed = TokenClaims(
                grant_id=int(claims["gid"]),
                participant_id=int(claims["sub"]),
                role=Role(claims["role"]),
                event_id=int(claims["evt"]),
                session_id=None if claims.get("ses") is None else int(claims["ses"]),
                expires_at=expires_at,
            )
        except (KeyError, TypeError, ValueError):
            raise Unauthenticated("the token is not valid", code="token_invalid") from None
        if self._clock() >= expires_at:
            raise Unauthenticated(
                "this link has expired: ask the organisers for a new one", code="token_expired"
            )
        return parsed
