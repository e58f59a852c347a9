"""Interpretation booths on the relay: who of a booth's interpreters is on air, handovers, the cough key, the
floor's language told to every booth, "slow down" notices to the chair, and the record of it all.

The rules are in ``server.domain.booths``; this applies them to the session's relay (which switches the
channel's feed between two packets) and writes the record (``server.db.booth_store``). A booth's state lives
with the relay, in the process that runs it (the session's origin): booth requests reaching another process
are refused with ``relay_elsewhere``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from server.db.booth_store import BoothStore
from server.domain import booths as rules
from server.domain.booths import Booth, Handover
from server.domain.errors import Conflict, Forbidden, NotFound
from server.domain.model import Principal, SessionInfo, iso
from server.domain.queue import QueueState
from server.domain.roles import Permission, Role
from server.service import Hemicycle

from . import relay as r
from .errors import MediaError

log = logging.getLogger(__name__)


# Who works in booths (publishes, hands over, coughs, asks to slow down), and who sees them.
BOOTH_WORKERS = frozenset({Role.INTERPRETER, Role.AV, Role.ADMIN})
BOOTH_READERS = BOOTH_WORKERS | {Role.MODERATOR, Role.CHAIR}
BOOTH_ACTIONS = ("offer", "take", "cough", "slow_down")


class BoothMedia(Protocol):
    """What booths need of the media service (server.media.service.MediaService)."""

    core: Hemicycle

    def origin(self, session_id: int) -> r.SessionRelay | None: ...

    async def check_session(
        self, principal: Principal, session_id: int, admitted: bool = True
    ) -> SessionInfo: ...

    def spawn(self, coro: Awaitable[None]) -> None: ...


class BoothNotifier(Protocol):
    """What booths tell clients; implemented by signaling.booth_events."""

    def booth_changed(self, session_id: int, booth: dict[str, Any]) -> None: ...

    def slow_down(self, session_id: int, notice: dict[str, Any]) -> None: ...


class NullBoothNotifier:
    """Tells no one: the desk's notifier until the composition root sets the hub's booth events."""

    def booth_changed(self, session_id: int, booth: dict[str, Any]) -> None:
        return None

    def slow_down(self, session_id: int, notice: dict[str, Any]) -> None:
        return None


class BoothDesk:
    """Every booth of the sessions whose relay runs here. Built by MediaService; called by it as channel
    publishers come and go, and by the booth events (signaling/booth_events.py)."""

    def __init__(self, media: BoothMedia, floor_state: Callable[[int], Awaitable[QueueState]]) -> None:
        self.media = media
        self.core = media.core
        self.store = BoothStore(media.core.store)
        self.notifier: BoothNotifier = NullBoothNotifier()
        self._floor_state = floor_state
        self._booths: dict[int, dict[str, Booth]] = {}
        self.monotonic: Callable[[], float] = time.monotonic

    def booth(self, session_id: int, language: str) -> Booth:
        per_session = self._booths.setdefault(session_id, {})
        found = per_session.get(language)
        if found is None:
            found = per_session[language] = Booth(language)
        return found

    def booths(self, session_id: int) -> list[dict[str, Any]]:
        return [self.booth(session_id, language).public() for language in rules.BOOTH_LANGUAGES]

    # -- who may work in which booth ------------------------------------------------------------

    async def check_member(self, principal: Principal, language: str) -> None:
        """Interpreters work in the booths their link names (every booth for a link that names none)."""
        if principal.role is Role.INTERPRETER:
            rules.check_member(language, await self.store.booths_of(principal.grant_id))

    async def check_signer(self, principal: Principal) -> None:
        """Interpreters publish the sign-language channel if their link names "sign" (or names nothing)."""
        if principal.role is Role.INTERPRETER:
            rules.check_signer(await self.store.booths_of(principal.grant_id))

    async def issue(
        self, principal: Principal, session_id: int, languages: list[str], name: str
    ) -> tuple[str, dict[str, Any]]:
        """A new interpreter's link for some booths of a session (whoever hands out the session's links)."""
        session = await self.core.session_for(principal, session_id, Permission.LINKS_ISSUE)
        if not languages:
            raise MediaError("name at least one booth", code="invalid_input")
        for language in languages:
            rules.check_link_grant(language)
        person, grant_id = await self.store.issue(principal, session.event_id, session.id, languages, name)
        token, _expires = self.core.tokens.issue(
            grant_id=grant_id,
            participant_id=person.id,
            role=Role.INTERPRETER,
            event_id=session.event_id,
            session_id=session.id,
            ttl=timedelta(hours=self.core.settings.link_ttl_hours),
        )
        link = self.core.page_url(session.id, Role.INTERPRETER, token)
        return link, {"grant_id": grant_id, "participant_id": person.id, "booths": sorted(set(languages))}

    # -- publishers come and go (called by MediaService) ----------------------------------------

    def standby(self, session_id: int, source: str, participant_id: int) -> bool:
        """A new publisher of a booth stands by while a partner is on air."""
        booth = self.booth(session_id, source.removeprefix("channel:"))
        return booth.on_air is not None and booth.on_air != participant_id

    def joined(self, relay: r.SessionRelay, peer: r.Peer, name: str) -> None:
        booth = self.booth(relay.session_id, peer.source.removeprefix("channel:"))
        self._apply(relay, booth, booth.join(peer.participant_id, name, self.core.store.clock()))

    def left(self, session_id: int, peer: r.Peer, reason: str) -> None:
        if reason == "replaced" or not r.is_booth(peer.source):
            return  # a publisher replaced by their own new connection stays in the booth
        booth = self.booth(session_id, peer.source.removeprefix("channel:"))
        if booth.members.get(peer.participant_id) is None:
            return
        relay = self.media.origin(session_id)
        self._apply(relay, booth, booth.leave(peer.participant_id, self.core.store.clock()))

    # -- booth requests (signaling/booth_events.py) ---------------------------------------------

    async def _open(
        self, principal: Principal, session_id: int, language: object
    ) -> tuple[r.SessionRelay, Booth]:
        """The relay and the booth, for an interpreter of that booth; the role first: it says the most."""
        if principal.role not in BOOTH_WORKERS:
            raise Forbidden("booths are for interpreters", code="not_interpreter")
        await self.media.check_session(principal, session_id)
        booth_language = rules.check_booth(language)
        await self.check_member(principal, booth_language)
        relay = self.media.origin(session_id)
        if relay is None:
            # The session's relay runs nowhere (the booth events hand requests to the process that runs it).
            raise Conflict("nobody publishes in this session's booths", code="not_publishing")
        return relay, self.booth(session_id, booth_language)

    async def offer(self, principal: Principal, session_id: int, language: object) -> dict[str, Any]:
        relay, booth = await self._open(principal, session_id, language)
        booth.offer(principal.participant.id)
        self._apply(relay, booth, None)
        return {"booth": booth.public()}

    async def take(self, principal: Principal, session_id: int, language: object) -> dict[str, Any]:
        relay, booth = await self._open(principal, session_id, language)
        self._apply(relay, booth, booth.take(principal.participant.id, self.core.store.clock()))
        return {"booth": booth.public()}

    async def cough(
        self, principal: Principal, session_id: int, language: object, on: bool
    ) -> dict[str, Any]:
        relay, booth = await self._open(principal, session_id, language)
        booth.cough(principal.participant.id, on)
        self._apply(relay, booth, None)
        return {"booth": booth.public()}

    async def act(
        self, principal: Principal, session_id: int, language: object, action: str, on: bool = False
    ) -> dict[str, Any]:
        """One booth request by name (``BOOTH_ACTIONS``), as the HTTP route and the booth events send it."""
        if action == "offer":
            return await self.offer(principal, session_id, language)
        if action == "take":
            return await self.take(principal, session_id, language)
        if action == "cough":
            return await self.cough(principal, session_id, language, on)
        if action == "slow_down":
            return await self.slow_down(principal, session_id, language)
        raise NotFound(f"booth requests are {', '.join(BOOTH_ACTIONS)}", code="unknown_action")

    async def slow_down(self, principal: Principal, session_id: int, language: object) -> dict[str, Any]:
        _relay, booth = await self._open(principal, session_id, language)
        state = await self._floor_state(session_id)
        speaking = state.speaking
        if speaking is None:
            raise Conflict("nobody holds the floor", code="no_speaker")
        booth.slow_down(principal.participant.id, self.monotonic())
        at = self.core.store.clock()
        await self.store.noticed(session_id, booth.language, principal.participant.id, speaking.id, at)
        notice = {
            "session_id": session_id,
            "language": booth.language,
            "from": principal.participant.display_name,
            "entry_id": speaking.id,
            "speaker": speaking.display_name,
            "at": iso(at),
        }
        self.notifier.slow_down(session_id, notice)
        return notice

    async def state(self, principal: Principal, session_id: int) -> dict[str, Any]:
        if principal.role not in BOOTH_READERS:
            raise Forbidden("booths are for interpreters and floor staff", code="not_interpreter")
        await self.media.check_session(principal, session_id)
        mine = await self.store.booths_of(principal.grant_id) if principal.role is Role.INTERPRETER else None
        return {
            "booths": self.booths(session_id),
            "mine": sorted(mine - {rules.SIGN}) if mine is not None else list(rules.BOOTH_LANGUAGES),
            "sign": mine is None or rules.SIGN in mine,
            "floor": await self.floor_view(session_id),
        }

    # -- the floor drives the booths ---------------------------------------------------------------
    # `booth:floor` itself goes out with the queue's paced broadcasts (signaling/queue_events.py), whenever
    # what booths see of the queue changes: the floor changing hands, or the next two (or their languages).

    async def floor_view(self, session_id: int) -> dict[str, Any]:
        return rules.floor_of(await self._floor_state(session_id))

    # -- internals ------------------------------------------------------------------------------

    def _apply(self, relay: r.SessionRelay | None, booth: Booth, handover: Handover | None) -> None:
        """Switch the relay to who is on air (synchronously: between two packets), set the cough key's
        silence, then record and tell in the background."""
        source = r.channel(booth.language)
        session_id = relay.session_id if relay is not None else None
        if relay is not None:
            # Always to who the booth says: a publication answered while a partner came on air is put right.
            relay.switch(source, booth.on_air)
            relay.silence(source, booth.silenced)
        if session_id is None:
            return
        if handover is not None:
            name = booth.members.get(handover.current, "") if handover.current is not None else ""
            began = "handover" if handover.previous is not None and handover.current is not None else "on_air"
            self.media.spawn(
                self.store.turn_started(
                    session_id, booth.language, handover.current, name, handover.at, began
                )
            )
        self.notifier.booth_changed(session_id, {"session_id": session_id, **booth.public()})
