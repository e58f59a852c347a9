"""An edge relay: a session's viewers served by a process that is not its origin.

The origin (``SessionRelay``) is where publishers connect. Any other process with viewers of the session runs
an ``EdgeRelay``: it pulls each source it needs once from the origin, over standard WebRTC (a WHEP offer
made here, answered by the origin's ``SessionRelay.pull``), and forwards it to its own viewers exactly as
the origin does: the link's receiver is tapped into this relay's feeds like a publisher's. Keyframe
requests go upstream through the link, rate-limited by each feed; NACKs from viewers are answered from this
relay's own history. A link is opened when the first viewer needs it and closed when the last one leaves.

Floor changes and mutes need nothing here: the origin stops forwarding, so the links carry nothing. What
concerns a viewer itself (removal, session end, audio only, language) is enforced here, as on the origin.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

from . import seams
from .errors import MediaError
from .forward import Feed
from .relay import ROOM, SIGN, SPEAKER, Peer, SessionRelay, StopListener, channel, link_kinds, preferences

log = logging.getLogger(__name__)

# Asks the origin for a link: (session id, source, SDP offer) -> (SDP answer, the origin's process). Raises
# MediaError (``relay_unreachable`` when no live origin answers).
Upstream = Callable[[int, str, str], Awaitable[tuple[str, str]]]
# A link that fails is pulled again after this, doubling up to the maximum, while viewers need it: short, so
# that viewers see the picture again soon after a new origin takes over.
RETRY_SECONDS = 0.25
RETRY_MAX_SECONDS = 1.0


@dataclass
class Link:
    """One source pulled from the origin: the edge's publisher of that source's feeds."""

    id: str
    source: str
    pc: RTCPeerConnection
    feeds: dict[str, Feed] = field(default_factory=dict)
    receivers: dict[str, RTCRtpReceiver] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    closed: bool = False
    origin: str = ""  # the process it is pulled from
    drops: seams.DropCounter = field(default_factory=seams.DropCounter)

    def public(self) -> dict[str, Any]:
        return {"source": self.source, "origin": self.origin, "connection": self.pc.connectionState}


def needed_links(source: str, channel_name: str | None, kinds: Iterable[str]) -> set[str]:
    """The links a viewer of ``source`` receiving ``kinds`` needs: the room's picture and its language's
    sound travel apart, so that each language crosses between two relays once."""
    kinds = set(kinds)
    if source == SPEAKER:
        return {SPEAKER}
    if source == SIGN:
        return {SIGN} if "video" in kinds else set()
    if source != ROOM:
        return set()
    links = set()
    if "video" in kinds:
        links.add(ROOM)
    if "audio" in kinds:
        links.add(channel(channel_name or "floor"))
    return links


class EdgeRelay(SessionRelay):
    """A session's viewers on this process, fed by links pulled from the origin relay on another."""

    def __init__(
        self,
        session_id: int,
        configuration: Callable[[], RTCConfiguration],
        connect_timeout: float,
        upstream: Upstream,
        on_stopped: StopListener | None = None,
    ) -> None:
        super().__init__(session_id, configuration, connect_timeout, on_stopped)
        self._upstream = upstream
        self.links: dict[str, Link] = {}
        self._linking: dict[str, asyncio.Lock] = {}
        # Links a viewer being set up counts on, before it is among the peers.
        self._reserved: Counter[str] = Counter()
        self._retry: dict[str, float] = {}

    def _audio_feed_for(self, channel_name: str, direct: bool = False) -> Feed:
        # The origin chose what the floor is (its floor channel or the room's sound): the link carries it.
        return self.feed(channel(channel_name), "audio")

    async def publish(
        self, offer: str, source: str, participant_id: int, tag: Any = None, standby: bool = False
    ) -> Peer:
        raise MediaError("publish to the session's origin relay", code="not_origin", status=409)

    # -- what viewers need ----------------------------------------------------------------------

    def _needed(self) -> set[str]:
        needed = {source for source, count in self._reserved.items() if count > 0}
        for peer in self.peers.values():
            if peer.role == "view":
                needed |= needed_links(peer.source, peer.channel, peer.tracks)
            elif peer.role == "link":
                needed.add(peer.source)  # an edge of the second tier pulls it from here
        return needed

    def first_tier(self, origin: str | None) -> bool:
        """Every link of this edge comes from the origin itself: it may feed edges of the second tier."""
        links = list(self.links.values())
        return origin is not None and bool(links) and all(link.origin == origin for link in links)

    async def relay_pull(self, offer: str, source: str, edge: str) -> Peer:
        """Answer an edge of the second tier: this edge's own link of the source first, then a link on."""
        if not link_kinds(source):
            raise MediaError(f"{source} is not a source a relay pulls", code="invalid_source")
        async with self.holding({source}):
            return await self.pull(offer, source, edge)

    @asynccontextmanager
    async def holding(self, sources: set[str]) -> AsyncIterator[None]:
        """The links ``sources`` open (pulled now if need be) and kept while the caller sets a viewer up."""
        self._reserved.update(sources)
        try:
            await asyncio.gather(*(self._ensure(source) for source in sources))
            yield
        finally:
            self._reserved.subtract(sources)
            self._reserved = +self._reserved
            self.prune()

    def prune(self) -> None:
        """Let go of the links no viewer needs any more."""
        needed = self._needed()
        for source, link in list(self.links.items()):
            if source not in needed:
                self._spawn(self._close_link(link, "unused"))

    @property
    def empty(self) -> bool:
        return not self.peers and not self.links and not self._reserved

    # -- links ----------------------------------------------------------------------------------

    async def _ensure(self, source: str) -> Link:
        lock = self._linking.setdefault(source, asyncio.Lock())
        async with lock:
            link = self.links.get(source)
            if link is not None and not link.closed:
                return link
            if self._closed:
                raise MediaError(
                    "the media relay of this session is closing", code="relay_closed", status=409
                )
            link = await self._pull(source)
            self.links[source] = link
            return link

    async def _pull(self, source: str) -> Link:
        pc = self._connection()
        link = Link(secrets.token_urlsafe(16), source, pc)
        link.drops.name = f"{link.id} (link {source})"
        try:
            transceivers = {}
            for kind in link_kinds(source):
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                seams.guard_transport(transceiver.receiver.transport, link.drops)
                transceiver.setCodecPreferences(preferences(kind, ()))
                feed = self.feed(source, kind)
                link.feeds[kind] = feed
                link.receivers[kind] = transceiver.receiver
                seams.tap_receiver(
                    transceiver.receiver,
                    functools.partial(feed.on_rtp, link),
                    on_repaired=functools.partial(feed.on_repaired, link),
                )
                transceivers[kind] = transceiver
            await pc.setLocalDescription(await pc.createOffer())
            answer, link.origin = await self._upstream(self.session_id, source, pc.localDescription.sdp)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            except Exception as exc:
                raise MediaError(
                    f"the origin relay's answer was refused: {str(exc)[:200]}",
                    code="relay_unreachable",
                    status=503,
                ) from None
        except BaseException:
            await pc.close()
            raise
        for kind, transceiver in transceivers.items():
            codec = seams.negotiated_codecs(transceiver)[0]
            feed = link.feeds[kind]
            feed.attach(link, codec, functools.partial(self._ask_keyframe, transceiver.receiver))
            self._drop_mismatched(feed)
        self._watch_link(link)
        log.info("session %s: edge pulls %s from the origin (%s)", self.session_id, source, link.id)
        return link

    def _watch_link(self, link: Link) -> None:
        @link.pc.on("connectionstatechange")
        def changed() -> None:
            state = link.pc.connectionState
            if state == "connected":
                self._retry.pop(link.source, None)
            elif state in ("failed", "closed") and not link.closed:
                self._spawn(self._lost(link, "connection_" + state))

        async def deadline() -> None:
            await asyncio.sleep(self._connect_timeout)
            if not link.closed and link.pc.connectionState != "connected":
                await self._lost(link, "connect_timeout")

        self._spawn(deadline())

    async def _lost(self, link: Link, reason: str) -> None:
        """A link went down by itself: pulled again, after a pause, while viewers still need it."""
        await self._close_link(link, reason)
        if self._closed or link.source not in self._needed():
            return
        wait = self._retry.get(link.source, RETRY_SECONDS / 2) * 2
        self._retry[link.source] = min(wait, RETRY_MAX_SECONDS)
        await asyncio.sleep(wait)
        if self._closed or link.source not in self._needed():
            return
        try:
            await self._ensure(link.source)
        except MediaError as exc:
            log.warning("session %s: pulling %s again failed: %s", self.session_id, link.source, exc)
            if not self._closed:
                # The viewers keep their connections; the next try starts from the next failure.
                self._spawn(self._lost(Link(link.id, link.source, link.pc, closed=True), exc.code))

    def follow(self, origin: str | None, live: set[str]) -> None:
        """The session's live origin is now ``origin`` (None: none yet, the last one died) and ``live`` the
        processes that beat: links pulled from a process that died are let go and pulled again (from the
        origin of the moment), while the viewers keep their connections. A link from a live edge of the
        first tier (this edge is of the second) stays: that edge follows the origin itself."""
        for link in list(self.links.values()):
            if link.closed:
                continue
            if link.origin not in live:
                self._spawn(self._lost(link, "upstream_gone"))

    async def _close_link(self, link: Link, reason: str) -> None:
        if link.closed:
            return
        link.closed = True
        if self.links.get(link.source) is link:
            del self.links[link.source]
        for feed in link.feeds.values():
            if feed.detach(link):
                for track in feed.tracks:
                    track.restart()
        try:
            await asyncio.shield(link.pc.close())
        except Exception:
            log.exception("closing the link of %s failed", link.source)
        log.info("session %s: edge link %s of %s ended (%s)", self.session_id, link.id, link.source, reason)

    async def _stop(self, peer: Peer, reason: str, notify: bool = True) -> None:
        await super()._stop(peer, reason, notify)
        if not self._closed:
            self.prune()

    async def close(self) -> None:
        self._closed = True
        for link in list(self.links.values()):
            await self._close_link(link, "relay_closed")
        await super().close()
