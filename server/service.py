"""Use cases shared by every adapter: each checks the caller, changes the store, then notifies.

HTTP views and Socket.IO handlers are thin wrappers around these methods.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any, Protocol

from .db.store import Arrival, GrantInfo, Store
from .domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from .domain.model import EventInfo, PresenceSnapshot, Principal, SessionInfo
from .domain.moderation import WaitingRoom
from .domain.participants import Registration
from .domain.roles import SESSION_ROLES, Permission, Role
from .domain.sessions import SessionState
from .settings import Settings
from .tokens import TokenService

# The fields an attendee sends to register; anything else is refused by the adapters.
REGISTRATION_FIELDS = (
    "display_name",
    "affiliation",
    "stakeholder_group",
    "country",
    "consent_demographics",
    "gender",
    "age_band",
)


class Notifier(Protocol):
    """What the real-time layer offers the use cases; implemented by signaling.hub.Hub."""

    async def session_changed(self, session: SessionInfo, actor: Principal) -> None: ...

    def presence_changed(self, session_id: int) -> None: ...

    def queue_changed(self, session_id: int, participants: set[int]) -> None: ...

    def questions_changed(self, session_id: int, participants: set[int]) -> None: ...

    async def link_withdrawn(self, grant: GrantInfo) -> None: ...


class NullNotifier:
    """For the CLI, which changes state with no connections of its own."""

    async def session_changed(self, session: SessionInfo, actor: Principal) -> None:
        return None

    def presence_changed(self, session_id: int) -> None:
        return None

    def queue_changed(self, session_id: int, participants: set[int]) -> None:
        return None

    def questions_changed(self, session_id: int, participants: set[int]) -> None:
        return None

    async def link_withdrawn(self, grant: GrantInfo) -> None:
        # The servers' standing watch closes the link's connections: the version moved with the revocation.
        return None


class Hemicycle:
    """The core every use case shares: settings, the store, the token service, this process's id and the
    ``notifier`` (the Socket.IO hub, set by the composition root; NullNotifier for the command line). Its own
    use cases are identity and sessions: authenticate, register, session_for, set_state, presence.

    Built once by the composition root (server/wiring.py) or by the command line (server/cli.py); called
    by every adapter and by the other use cases."""

    def __init__(self, settings: Settings, store: Store, tokens: TokenService) -> None:
        self.settings = settings
        self.store = store
        self.tokens = tokens
        self.notifier: Notifier = NullNotifier()
        # Names this process in presence rows and health checks.
        self.instance_id = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    @property
    def presence_ttl(self) -> timedelta:
        return timedelta(seconds=3 * self.settings.heartbeat_seconds)

    async def authenticate(self, token: object) -> tuple[Principal, datetime]:
        claims = self.tokens.verify(token)
        principal = await self.store.principal(claims.grant_id, claims.participant_id)
        return principal, claims.expires_at

    async def register(self, event_id: int, body: dict[str, Any]) -> tuple[Principal, str, datetime]:
        fields: dict[str, Any] = {name: body.get(name) for name in REGISTRATION_FIELDS}
        fields["consent_demographics"] = body.get("consent_demographics", False)
        registration = Registration(**fields)
        participant, grant_id = await self.store.register_attendee(event_id, registration)
        token, expires = self.tokens.issue(
            grant_id=grant_id,
            participant_id=participant.id,
            role=Role.ATTENDEE,
            event_id=event_id,
            session_id=None,
            ttl=timedelta(hours=self.settings.attendee_ttl_hours),
        )
        principal = Principal(participant, grant_id, Role.ATTENDEE, event_id, None)
        return principal, token, expires

    async def enter(self, token: object, session_id: int, permission: Permission) -> tuple[Arrival, datetime]:
        """A connection's entry: who holds the token, the session they ask for and its event, and whether the
        waiting room lets them straight in, in one read gathered with the others arriving (Store.arrive);
        then whether they may. The token is checked first: a forged or expired one reads nothing; its
        refusal comes before any about the session."""
        claims = self.tokens.verify(token)
        arrival = await self.store.arrive(
            claims.grant_id, claims.participant_id, session_id, WaitingRoom(self.settings.waiting_room)
        )
        arrival.principal.require(permission, arrival.session)
        return arrival, claims.expires_at

    async def session_for(self, principal: Principal, session_id: int, permission: Permission) -> SessionInfo:
        session = await self.store.get_session(session_id)
        principal.require(permission, session)
        return session

    async def set_state(self, principal: Principal, session_id: int, state: object) -> SessionInfo:
        try:
            target = SessionState(state if isinstance(state, str) else "")
        except ValueError:
            allowed = ", ".join(s.value for s in SessionState)
            raise InvalidInput(f"state must be one of: {allowed}", details={"field": "state"}) from None
        await self.session_for(principal, session_id, Permission.SESSION_SET_STATE)
        session = await self.store.set_session_state(principal, session_id, target)
        await self.notifier.session_changed(session, principal)
        return session

    async def presence(self, session_id: int) -> PresenceSnapshot:
        return await self.store.presence(session_id, self.presence_ttl)

    async def presence_summary(self, session_id: int) -> dict[str, Any]:
        return await self.store.presence_summary(session_id, self.presence_ttl)

    # -- links ---------------------------------------------------------------------------------

    def page_url(self, session_id: int, role: Role, token: str | None = None) -> str:
        base = self.settings.public_url
        if role is Role.ATTENDEE:
            return f"{base}/s/{session_id}"
        return f"{base}/s/{session_id}/{role.value}#token={token}"

    async def session_links(
        self, session: SessionInfo, actor: Principal | None, grants: dict[str, int] | None = None
    ) -> tuple[dict[str, str], datetime]:
        """Role links for one session, signed anew for the same grants (their ids put in `grants`)."""
        ttl = timedelta(hours=self.settings.link_ttl_hours)
        links: dict[str, str] = {}
        expires = datetime.max
        for role in SESSION_ROLES:
            person, grant_id = await self.store.staff_grant(session.event_id, session.id, role, actor)
            if grants is not None:
                grants[role.value] = grant_id
            token, expires = self.tokens.issue(
                grant_id=grant_id,
                participant_id=person.id,
                role=role,
                event_id=session.event_id,
                session_id=session.id,
                ttl=ttl,
            )
            links[role.value] = self.page_url(session.id, role, token)
        links[Role.ATTENDEE.value] = self.page_url(session.id, Role.ATTENDEE)
        if not session.is_public:
            # The page cannot read a non-public session before admission: the link names its event, where
            # the attendee registers before waiting to be let in.
            links[Role.ATTENDEE.value] += f"?event={session.event_id}"
        return links, expires

    async def admin_link(self, event: EventInfo) -> tuple[str, datetime]:
        person, grant_id = await self.store.staff_grant(event.id, None, Role.ADMIN)
        token, expires = self.tokens.issue(
            grant_id=grant_id,
            participant_id=person.id,
            role=Role.ADMIN,
            event_id=event.id,
            session_id=None,
            ttl=timedelta(hours=self.settings.link_ttl_hours),
        )
        return f"{self.settings.public_url}/e/{event.id}/admin#token={token}", expires

    # -- withdrawing one link ---------------------------------------------------------------------

    async def _grant_for(self, actor: Principal | None, grant_id: int) -> GrantInfo:
        """A grant of the actor's event (None: the command line, which may act on any)."""
        if actor is not None:
            actor.require(Permission.EVENT_MANAGE)
        grant = await self.store.grant(grant_id)
        if actor is None:
            return grant
        if grant.event_id != actor.event_id:
            # Another event's grants are not this administrator's to see, even by id.
            raise NotFound(f"there is no grant {grant_id}", code="unknown_grant")
        if grant.id == actor.grant_id:
            raise Forbidden("you cannot withdraw the link you are using", code="self_target")
        return grant

    async def revoke_link(self, actor: Principal | None, grant_id: int) -> GrantInfo:
        """Withdraw one link: its token is refused from now on, and its connections close on every process."""
        grant = await self._grant_for(actor, grant_id)
        revoked = await self.store.revoke_grant(actor, grant.id)
        await self.notifier.link_withdrawn(revoked)
        return revoked

    async def reissue_link(self, actor: Principal | None, grant_id: int) -> tuple[GrantInfo, str, datetime]:
        """Withdraw one link and hand its holder a new one: (the new grant, its link, when it expires)."""
        grant = await self._grant_for(actor, grant_id)
        if grant.role is Role.ATTENDEE:
            raise Conflict(
                "an attendee's registration is not a link: withdraw it, and they register again",
                code="not_a_link",
            )
        new = await self.store.reissue_grant(actor, grant.id)
        await self.notifier.link_withdrawn(grant)
        token, expires = self.tokens.issue(
            grant_id=new.id,
            participant_id=new.participant_id,
            role=new.role,
            event_id=new.event_id,
            session_id=new.session_id,
            ttl=timedelta(hours=self.settings.link_ttl_hours),
        )
        if new.session_id is None:
            link = f"{self.settings.public_url}/e/{new.event_id}/admin#token={token}"
        else:
            link = self.page_url(new.session_id, new.role, token)
        return new, link, expires
