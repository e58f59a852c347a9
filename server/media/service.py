"""Media use cases: who may publish or view which source of a session, and which process runs its relay.

The transports (WHIP/WHEP in ``server.media_http``, Socket.IO in ``signaling.media_events``) call these;
the relay itself (``server.media.relay``) knows nothing of roles or the floor.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import statistics
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from aiortc import RTCConfiguration

from server.db.media_store import MediaStore, RelayOwner
from server.db.store import Standing
from server.domain.errors import Conflict, Forbidden
from server.domain.model import Principal, SessionInfo, iso
from server.domain.queue import QueueState
from server.domain.roles import Permission, Role
from server.domain.sessions import SessionState
from server.service import Hemicycle

from . import relay as r
from .booths import BoothDesk
from .edge import EdgeRelay, Upstream, needed_links
from .errors import MediaError
from .ice import ice_servers, rtc_configuration
from .placement import Load, place

log = logging.getLogger(__name__)

# Who may publish the room feed and language channels, and who sees a green room.
ROOM_PUBLISHERS = frozenset({Role.AV, Role.ADMIN})
CHANNEL_PUBLISHERS = frozenset({Role.AV, Role.INTERPRETER, Role.ADMIN})
GREENROOM_VIEWERS = frozenset({Role.AV, Role.MODERATOR, Role.CHAIR, Role.ADMIN})
# The sign-language channel (issue 21): an interpreter of the session, or the AV desk (a camera on the
# interpreter in the room).
SIGN_PUBLISHERS = frozenset({Role.AV, Role.INTERPRETER, Role.ADMIN})
HEALTH_VIEWERS = GREENROOM_VIEWERS
PUBLISH_SOURCES = ("room", "speaker", "greenroom", "channel", "sign")
VIEW_SOURCES = ("room", "speaker", "greenroom", "sign")
# How often the owner checks its publishers against the floor (catching changes made by other processes
# and automatic ends), and how often health goes out.
RECONCILE_SECONDS = 1.0
HEALTH_EVERY = 2
# Resources handed to other processes that this one remembers, for their DELETE and channel requests.
MAX_PLACED = 20000
# How long a process that could not reach a session's origin sends that session's new viewers elsewhere.
CUT_OFF_SECONDS = 10.0


class MediaNotifier(Protocol):
    """What the relay tells clients; implemented by signaling.media_events."""

    def media_stopped(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None: ...

    def media_health(self, session_id: int, report: dict[str, Any]) -> None: ...

    def media_channels(self, session_id: int, on_air: list[str]) -> None: ...


class NullMediaNotifier:
    """Tells no one: the MediaService's notifier until the composition root sets the hub's media events."""

    def media_stopped(self, session_id: int, participant_id: int, payload: dict[str, Any]) -> None:
        return None

    def media_health(self, session_id: int, report: dict[str, Any]) -> None:
        return None

    def media_channels(self, session_id: int, on_air: list[str]) -> None:
        return None


def on_air(relay: r.SessionRelay) -> list[str]:
    """The interpretation channels someone publishes now (the floor is always there), and "sign" while a
    sign-language interpreter is on air."""
    channels = [c for c in r.CHANNELS if c != "floor" and relay.publisher(r.channel(c)) is not None]
    return channels + ([r.SIGN] if relay.publisher(r.SIGN) is not None else [])


class LoadBoard(Protocol):
    """Where processes publish their media load to each other (server.media_load)."""

    async def report(self, load: Load) -> None: ...

    async def others(self) -> list[Load]: ...

    async def forget(self, instance_id: str) -> None: ...


class LocalLoads:
    """The viewer load of this process only (without Redis): placement then keeps viewers here."""

    async def report(self, load: Load) -> None:
        return None

    async def others(self) -> list[Load]:
        return []

    async def forget(self, instance_id: str) -> None:
        return None


@dataclass(frozen=True)
class Elsewhere:
    """The session's relay runs in another process: send the request there."""

    owner: RelayOwner


class MediaService:
    """The media relay of every session served here: who may publish or view which source, where a
    session's relay runs (this process, another origin, or an edge relay here), the peer connections, the
    health reports and the relay's follow-up of the floor (a FloorListener) and of moderation. Owns this
    process's relays and edge relays; tells clients through its ``notifier`` (signaling/media_events.py).

    Built once by the composition root (server/wiring.py); called by the WHIP/WHEP views
    (server/media_http.py), the Socket.IO media events and the Floor."""

    def __init__(self, core: Hemicycle, floor_state: Callable[[int], Awaitable[QueueState]]) -> None:
        self.core = core
        self.settings = core.settings
        self.owners = MediaStore(core.store)
        self.notifier: MediaNotifier = NullMediaNotifier()
        self._floor_state = floor_state
        self._relays: dict[int, r.SessionRelay] = {}
        # Edge relays: sessions whose origin runs elsewhere, with viewers here.
        self._edges: dict[int, EdgeRelay] = {}
        # Pulls a source from the origin (set by server.media_http): without it, views are handed over.
        self.upstream: Upstream | None = None
        self.loads: LoadBoard = LocalLoads()
        # Viewings this process handed to another over WHEP, by resource id: their later requests follow.
        self.placed: OrderedDict[str, Elsewhere] = OrderedDict()
        self.capacity = self.settings.media_max_viewers
        # Sessions whose origin this process could not reach, until when: its viewers are placed elsewhere.
        self._cut_off: dict[int, float] = {}
        self._claiming: dict[int, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._byte_marks: dict[str, tuple[float, int]] = {}
        self.turn_credentials_issued = 0
        # Tells the process that runs a session's relay to check the floor now (set by server.media_http).
        self.nudge: Callable[[int], Awaitable[None]] | None = None
        # Participant moderation's stored mutes, participant id -> (audio, video), when it is wired in: the
        # relay applies them as a participant starts publishing and at each reconciliation.
        self.muted_in: Callable[[int], Awaitable[dict[int, tuple[bool, bool]]]] | None = None
        # Participant moderation's admission check, when it is wired in: an attendee the Socket.IO gate
        # would hold in the waiting room, or who was removed, starts no media and gets no ICE credentials.
        self.entry: Callable[[Principal, SessionInfo], Awaitable[None]] | None = None
        # Whose grant (and, for attendees, whose admission) each peer stands on, per session: checked at
        # every reconciliation, so a removal, a ban or a withdrawn link decided on any process ends it.
        self._holders: dict[int, dict[str, Standing]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._on_air: dict[int, list[str]] = {}  # per session, as last told to listeners
        # Interpretation booths (issue 21): who of a channel's interpreters is on air.
        self.booths = BoothDesk(self, floor_state)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hemicycle-media")

    async def stop(self) -> None:
        for task in [self._task, *self._background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._background] if t), return_exceptions=True)
        for relay in [*self._relays.values(), *self._edges.values()]:
            await relay.close()
        self._relays.clear()
        self._edges.clear()
        self._holders.clear()
        try:
            await self.loads.forget(self.core.instance_id)
            await self.owners.release_all(self.core.instance_id)
        except Exception:
            log.exception("could not release this process's media relays")

    @property
    def relays(self) -> Mapping[int, r.SessionRelay]:
        """The session relays this process is the origin of (read-only: for the metrics)."""
        return MappingProxyType(self._relays)

    @property
    def edges(self) -> Mapping[int, EdgeRelay]:
        """The edge relays of this process, each pulling its sources from the session's origin."""
        return MappingProxyType(self._edges)

    def relay(self, session_id: int) -> r.SessionRelay | None:
        """This process's relay for the session (its origin, or an edge of it), if it runs one."""
        return self._relays.get(session_id) or self._edges.get(session_id)

    def origin(self, session_id: int) -> r.SessionRelay | None:
        """The session's origin relay, if it runs in this process."""
        return self._relays.get(session_id)

    @property
    def peer_count(self) -> int:
        return sum(len(relay.peers) for relay in [*self._relays.values(), *self._edges.values()])

    def remember_placed(self, resource_id: str, target: Elsewhere) -> None:
        self.placed[resource_id] = target
        while len(self.placed) > MAX_PLACED:
            self.placed.popitem(last=False)

    @property
    def load(self) -> Load:
        """The streams this process forwards: its viewers, and the links its origins serve to edges."""
        streams = sum(
            p.role in ("view", "link")
            for relay in [*self._relays.values(), *self._edges.values()]
            for p in relay.peers.values()
        )
        return Load(self.core.instance_id, self.settings.internal_url, streams, self.capacity)

    async def locate_view(
        self, session_id: int, source: str, placed: bool = False
    ) -> r.SessionRelay | Elsewhere:
        """Where a viewer of ``source`` is served: this process's origin or edge relay while it has room,
        else the process with the most room (``placed``: this process was chosen already), else refused.
        Green rooms stay on the origin: a device check crosses no other process."""
        located = await self.locate(session_id)
        if self.upstream is None or source.startswith("greenroom"):
            return located
        if not placed:
            here = self.load
            cut_off = self._cut_off.get(session_id, 0.0) > time.monotonic()
            if cut_off and not isinstance(located, r.SessionRelay):
                here = Load(here.instance_id, here.base_url, here.capacity, here.capacity)
            chosen = place(here, await self.loads.others())
            if chosen is None and cut_off:
                raise MediaError(
                    "this process cannot reach the session's origin relay, and no other has room",
                    code="relay_unreachable",
                    status=503,
                )
            if chosen is None:
                raise MediaError(
                    "every media relay is full: try again in a moment", code="relay_full", status=503
                )
            if chosen.instance_id != here.instance_id:
                return Elsewhere(RelayOwner(session_id, chosen.instance_id, chosen.base_url))
        if isinstance(located, r.SessionRelay):
            return located
        edge = self._edges.get(session_id)
        if edge is None:
            edge = self._edges[session_id] = EdgeRelay(
                session_id,
                self._configuration,
                self.settings.media_connect_seconds,
                self.upstream,
                on_stopped=functools.partial(self._peer_stopped, session_id),
            )
        return edge

    async def locate(self, session_id: int) -> r.SessionRelay | Elsewhere:
        """This process's relay for the session, claimed if no live process runs it, or where it runs."""
        found = self._relays.get(session_id)
        if found is not None:
            return found
        lock = self._claiming.setdefault(session_id, asyncio.Lock())
        async with lock:
            found = self._relays.get(session_id)
            if found is not None:
                return found
            owner = await self.owners.claim(
                session_id, self.core.instance_id, self.settings.internal_url, self.core.presence_ttl
            )
            if owner.instance_id != self.core.instance_id:
                return Elsewhere(owner)
            created = r.SessionRelay(
                session_id,
                self._configuration,
                self.settings.media_connect_seconds,
                on_stopped=functools.partial(self._peer_stopped, session_id),
                on_ended=functools.partial(self.booths.left, session_id),
            )
            self._relays[session_id] = created
            return created

    async def elsewhere(self, session_id: int) -> Elsewhere | None:
        """Where the session's relay runs, if another live process runs it (nothing is claimed)."""
        if session_id in self._relays:
            return None
        owner = await self.owners.live_owner(session_id, self.core.presence_ttl)
        if owner is None or owner.instance_id == self.core.instance_id:
            return None
        return Elsewhere(owner)

    def _configuration(self) -> RTCConfiguration:
        return rtc_configuration(self.settings, f"relay-{self.core.instance_id}", self.core.store.clock())

    def ice_servers(self, principal: Principal) -> dict[str, Any]:
        servers, expires = ice_servers(self.settings, str(principal.participant.id), self.core.store.clock())
        if self.settings.turn_secret:
            self.turn_credentials_issued += 1  # read by server/metrics.py
        return {"ice_servers": servers, "expires_at": iso(expires)}

    # -- checks ---------------------------------------------------------------------------------

    async def check_session(
        self, principal: Principal, session_id: int, admitted: bool = True
    ) -> SessionInfo:
        """The session, if the caller may use its media: their grant covers it, it has not ended and (unless
        `admitted` is False, for a caller who checks it later) they are through its waiting room."""
        session = await self.core.session_for(principal, session_id, Permission.SESSION_VIEW)
        if session.state is SessionState.ENDED:
            raise Conflict("the session has ended", code="session_ended")
        if admitted:
            await self._admitted(principal, session)
        return session

    async def _admitted(self, principal: Principal, session: SessionInfo) -> None:
        if self.entry is not None:
            await self.entry(principal, session)

    async def publish_source(
        self, principal: Principal, session_id: int, source: str, channel: str | None
    ) -> str:
        """The relay source a publish request names, once the caller's right to it is checked."""
        # The role's refusal first, then the admission: it says more (an attendee never sends the room).
        session = await self.check_session(principal, session_id, admitted=False)
        if source not in PUBLISH_SOURCES:
            raise MediaError(f"source must be one of: {', '.join(PUBLISH_SOURCES)}", code="invalid_source")
        if channel is not None and source != "channel":
            raise MediaError("only the channel source takes a channel", code="invalid_channel")
        role = principal.role
        if source == "room":
            if role not in ROOM_PUBLISHERS:
                raise Forbidden("only the AV desk publishes the room feed", code="not_av")
            return r.ROOM
        if source == "channel":
            if role not in CHANNEL_PUBLISHERS:
                raise Forbidden("only the AV desk and interpreters publish channels", code="not_interpreter")
            if channel not in r.CHANNELS:
                raise MediaError(f"channel must be one of: {', '.join(r.CHANNELS)}", code="invalid_channel")
            if r.is_booth(r.channel(channel)):
                await self.booths.check_member(principal, channel)
            return r.channel(channel)
        if source == "sign":
            if role not in SIGN_PUBLISHERS:
                raise Forbidden(
                    "only interpreters and the AV desk publish the sign-language channel",
                    code="not_interpreter",
                )
            await self.booths.check_signer(principal)
            return r.SIGN
        await self._admitted(principal, session)
        state = await self._floor_state(session_id)
        me = principal.participant.id
        if source == "speaker":
            speaking = state.speaking
            if speaking is None or speaking.participant_id != me:
                raise Forbidden("only the participant who holds the floor may speak", code="no_floor")
            return r.SPEAKER
        if not any(entry.participant_id == me for entry in state.queued):
            raise Forbidden("a device check is for participants waiting in the queue", code="not_queued")
        return r.greenroom(me)

    async def view_source(
        self, principal: Principal, session_id: int, source: str, participant_id: int | None
    ) -> str:
        session = await self.check_session(principal, session_id, admitted=False)
        if source not in VIEW_SOURCES:
            raise MediaError(f"source must be one of: {', '.join(VIEW_SOURCES)}", code="invalid_source")
        if source == "greenroom":
            if principal.role not in GREENROOM_VIEWERS:
                raise Forbidden("the green room is for the AV desk and floor staff", code="not_av")
            if participant_id is None:
                raise MediaError("name the participant_id whose device check to see", code="invalid_input")
            return r.greenroom(participant_id)
        if participant_id is not None:
            raise MediaError("participant_id is only for the green room", code="invalid_input")
        await self._admitted(principal, session)
        return {"room": r.ROOM, "speaker": r.SPEAKER, "sign": r.SIGN}[source]

    # -- use cases (on the owning process) ------------------------------------------------------

    async def publish(
        self, relay: r.SessionRelay, principal: Principal, source: str, offer: str, tag: Any = None
    ) -> r.Peer:
        booth = r.is_booth(source) and not isinstance(relay, EdgeRelay)
        standby = booth and self.booths.standby(relay.session_id, source, principal.participant.id)
        peer = await relay.publish(offer, source, principal.participant.id, tag, standby=standby)
        if booth:
            self.booths.joined(relay, peer, principal.participant.display_name)
        self._hold(relay, peer, principal)
        if self.muted_in is not None:
            audio, video = (await self.muted_in(relay.session_id)).get(
                principal.participant.id, (False, False)
            )
            relay.set_muted(principal.participant.id, audio, video)
        if source == r.SPEAKER:
            # The floor may have moved while the offer was being answered.
            state = await self._floor_state(relay.session_id)
            if state.speaking is None or state.speaking.participant_id != principal.participant.id:
                await relay.stop(peer.id, "no_floor")
                raise Forbidden("only the participant who holds the floor may speak", code="no_floor")
        log.info(
            "session %s: %s publishes %s (%s)",
            relay.session_id,
            principal.participant.id,
            source,
            peer.id,
        )
        return peer

    async def view(
        self,
        relay: r.SessionRelay,
        principal: Principal,
        source: str,
        offer: str,
        channel: str | None = None,
        audio_only: bool = False,
        tag: Any = None,
    ) -> r.Peer:
        if channel is not None and channel not in r.CHANNELS:
            raise MediaError(f"channel must be one of: {', '.join(r.CHANNELS)}", code="invalid_channel")
        if isinstance(relay, EdgeRelay):
            kinds = r.offered_kinds(r.parse_offer(offer), wanted="receive")
            if audio_only:
                kinds = [k for k in kinds if k != "video"]
            try:
                async with relay.holding(needed_links(source, channel, kinds)):
                    peer = await relay.view(offer, source, principal.participant.id, channel, audio_only, tag)
            except MediaError as exc:
                if exc.code == "relay_unreachable":
                    # This process cannot reach the origin: its next viewers go to other processes.
                    self._cut_off[relay.session_id] = time.monotonic() + CUT_OFF_SECONDS
                raise
        else:
            # Interpreters hear the remote speaker straight from their publication: the least latency.
            direct = principal.role is Role.INTERPRETER
            peer = await relay.view(
                offer, source, principal.participant.id, channel, audio_only, tag, direct=direct
            )
        self._hold(relay, peer, principal)
        return peer

    def _hold(self, relay: r.SessionRelay, peer: r.Peer, principal: Principal) -> None:
        session_id = None if principal.role.is_staff else relay.session_id
        self._holders.setdefault(relay.session_id, {})[peer.id] = Standing(
            principal.grant_id, principal.participant.id, session_id
        )

    def own_peer(self, relay: r.SessionRelay, principal: Principal, resource_id: str) -> r.Peer:
        peer = relay.find(resource_id)
        if peer.participant_id != principal.participant.id and principal.role not in ROOM_PUBLISHERS:
            raise Forbidden("this media resource is someone else's", code="not_yours")
        return peer

    async def stop_peer(self, relay: r.SessionRelay, principal: Principal, resource_id: str) -> r.Peer | None:
        """End a resource; ``None`` when the caller's resource had already ended (DELETE is idempotent)."""
        if resource_id not in relay.peers:
            ended_of = relay.ended_of(resource_id)
            if ended_of is not None and (
                ended_of == principal.participant.id or principal.role in ROOM_PUBLISHERS
            ):
                return None
        self.own_peer(relay, principal, resource_id)
        return await relay.stop(resource_id)

    async def set_channel(
        self, relay: r.SessionRelay, principal: Principal, resource_id: str, channel: str
    ) -> r.Peer:
        peer = self.own_peer(relay, principal, resource_id)
        if isinstance(relay, EdgeRelay) and channel in r.CHANNELS and peer.role == "view":
            # The new language's link first (pulled if no other viewer here hears it), then the switch.
            async with relay.holding(needed_links(peer.source, channel, ["audio"])):
                return relay.set_channel(resource_id, channel)
        return relay.set_channel(resource_id, channel)

    def report(
        self, relay: r.SessionRelay, principal: Principal, resource_id: str, stats: dict[str, Any]
    ) -> None:
        """What a client measures itself (its round-trip time above all), kept for the health report."""
        peer = self.own_peer(relay, principal, resource_id)
        peer.reported["client"] = {**stats, "at": time.monotonic()}

    # -- the floor drives media -----------------------------------------------------------------

    def floor_changed(self, session_id: int, speaker: int | None) -> None:
        """Called by the floor use cases: stop a speaker who lost the floor, at once, before any await.

        When another process runs the session's relay, it is told to check the floor now (``nudge``) rather
        than at its next reconciliation.
        """
        relay = self._relays.get(session_id)
        if relay is None:
            if self.nudge is not None:
                self._spawn(self.nudge(session_id))
            return
        stale = [p for p in relay.publishers_of(r.SPEAKER) if p.participant_id != speaker]
        if speaker is not None:
            # Granted: the device check is over, the speaker publishes for real now.
            stale += relay.publishers_of(r.greenroom(speaker))
        relay.stop_now(stale, "floor_ended")

    async def reconcile(self, relay: r.SessionRelay) -> None:
        """Stop speakers and device checks the floor no longer allows (changed by any process)."""
        state = await self._floor_state(relay.session_id)
        if state.session.state is SessionState.ENDED:
            relay.stop_now(list(relay.peers.values()), "session_ended")
            return
        speaker = state.speaking.participant_id if state.speaking else None
        queued = {entry.participant_id for entry in state.queued}
        stale = [p for p in relay.publishers_of(r.SPEAKER) if p.participant_id != speaker]
        stale += [p for p in relay.publishers_of("greenroom") if p.participant_id not in queued]
        relay.stop_now(stale, "floor_ended")
        await self._stop_unadmitted(relay)
        links = [p for p in relay.peers.values() if p.role == "link"]
        if links:
            # An edge process that died leaves its links here: ended as soon as its heartbeat is gone.
            live = await self.owners.live_instances(self.core.presence_ttl)
            relay.stop_now([p for p in links if p.tag not in live], "edge_gone")
        if self.muted_in is not None:
            mutes = await self.muted_in(relay.session_id)
            for participant_id in {p.participant_id for p in relay.peers.values() if p.role == "publish"}:
                relay.set_muted(participant_id, *mutes.get(participant_id, (False, False)))

    async def _stop_unadmitted(self, relay: r.SessionRelay) -> None:
        """End the media of people whose standing changed anywhere: removed, banned, sent back to the
        waiting room, or whose link was withdrawn (one query for the whole session)."""
        held = self._holders.setdefault(relay.session_id, {})
        for gone in [peer_id for peer_id in held if peer_id not in relay.peers]:
            del held[gone]
        if not held:
            return
        asked = dict(held)  # peers made while the query runs wait for the next check
        answers = await self.core.store.standings(set(asked.values()))
        stale = [
            relay.peers[peer_id]
            for peer_id, ask in asked.items()
            if answers[ask] is not None and peer_id in relay.peers
        ]
        relay.stop_now(stale, "removed")

    # -- participant moderation (server.moderation's MediaModeration) ---------------------------

    async def set_muted(self, session_id: int, participant_id: int, audio: bool, video: bool) -> None:
        """A moderator muted or unmuted someone: enforced here at once, or by the owner when told."""
        relay = self._relays.get(session_id)
        if relay is not None:
            relay.set_muted(participant_id, audio, video)
        elif self.nudge is not None:
            await self.nudge(session_id)

    async def participant_gone(self, session_id: int, participant_id: int) -> None:
        """Removed or banned: everything they publish or view in the session ends now."""
        edge = self._edges.get(session_id)
        if edge is not None:
            edge.stop_now(edge.of_participant(participant_id), "removed")
        relay = self._relays.get(session_id)
        if relay is not None:
            relay.stop_now(relay.of_participant(participant_id), "removed")
        elif self.nudge is not None:
            # The relay runs elsewhere: its process checks everyone's standing as soon as it is told. In the
            # background: the moderator's acknowledgement does not wait on another process.
            self._spawn(self.nudge(session_id))

    async def _loop(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            tick += 1
            try:
                await self.loads.report(self.load)
            except Exception:
                log.exception("publishing this process's media load failed")
            for session_id, relay in list(self._relays.items()):
                try:
                    await self.reconcile(relay)
                    # Listeners learn within a second when their language goes off air or comes back.
                    channels = on_air(relay)
                    if channels != self._on_air.get(session_id, []):
                        self._on_air[session_id] = channels
                        self.notifier.media_channels(session_id, channels)
                    if tick % HEALTH_EVERY == 0 and relay.peers:
                        self.notifier.media_health(session_id, await self.health(relay))
                except Exception:
                    log.exception("media upkeep of session %s failed", session_id)
            for session_id, edge in list(self._edges.items()):
                try:
                    if edge.empty:
                        del self._edges[session_id]
                        await edge.close()
                    else:
                        # Removals, bans and the session's end hold for viewers here as on the origin.
                        await self.reconcile(edge)
                        owner = await self.owners.live_owner(session_id, self.core.presence_ttl)
                        live = await self.owners.live_instances(self.core.presence_ttl)
                        edge.follow(owner.instance_id if owner else None, live)
                except Exception:
                    log.exception("media upkeep of the edge of session %s failed", session_id)

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run in the background, logging a failure (stopped with the service)."""
        self._spawn(coro)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("media background work failed")

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _peer_stopped(self, session_id: int, peer: r.Peer, reason: str) -> None:
        # Addressed to the participant, not to the connection that asked: a peer made over WHIP/WHEP, or
        # through another process that handed the offer here, is told too, wherever its holder is connected.
        self.notifier.media_stopped(
            session_id, peer.participant_id, {"resource_id": peer.id, "source": peer.source, "reason": reason}
        )

    # -- health ---------------------------------------------------------------------------------

    async def health(self, relay: r.SessionRelay) -> dict[str, Any]:
        """Per source: its publisher's bitrate, loss, round-trip time and level, and how many watch it."""
        now = time.monotonic()
        sources: dict[str, Any] = {}
        viewers: dict[str, int] = {}
        for peer in relay.peers.values():
            if peer.role == "view":
                viewers[peer.source] = viewers.get(peer.source, 0) + 1
        for peer in list(relay.peers.values()):
            if peer.role != "publish":
                continue
            measured = await relay.stats(peer)
            client = peer.reported.get("client") or {}
            kinds: dict[str, Any] = {}
            for kind, feed in peer.feeds.items():
                key = f"{peer.id}/{kind}"
                last_time, last_bytes = self._byte_marks.get(key, (peer.created, 0))
                elapsed = max(now - last_time, 1e-3)
                self._byte_marks[key] = (now, feed.stats.bytes)
                transit = sorted(feed.stats.transit)
                kinds[kind] = {
                    "codec": feed.mime,
                    "bitrate_kbps": round(8 * (feed.stats.bytes - last_bytes) / elapsed / 1000, 1),
                    "packets": feed.stats.packets,
                    "frames": feed.stats.frames,
                    "audio_level_dbov": -feed.stats.audio_level
                    if feed.stats.audio_level is not None
                    else None,
                    "transit_p50_ms": round(1000 * statistics.median(transit), 2) if transit else None,
                }
            expected = measured["packets_received"] + measured["packets_lost"]
            sources[peer.source] = {
                "resource_id": peer.id,
                "participant_id": peer.participant_id,
                "muted": dict(peer.muted),
                "connection": peer.pc.connectionState,
                "rtt_ms": client.get("rtt_ms", measured["rtt_ms"]),
                "loss_pct": round(100 * measured["packets_lost"] / expected, 2) if expected else 0.0,
                "kinds": kinds,
                "viewers": viewers.get(peer.source, 0),
                "dropped": dict(peer.drops.counts),
            }
        for key in [k for k in self._byte_marks if k.split("/")[0] not in relay.peers]:
            del self._byte_marks[key]
        here = self.load
        loads = [here, *(load for load in await self.loads.others() if load.instance_id != here.instance_id)]
        return {
            "session_id": relay.session_id,
            "sources": sources,
            "viewers": viewers,
            **self._tiers(relay),
            # Every live process's forwarded streams (all sessions) and capacity: where viewers can go.
            "processes": [
                {"process": load.instance_id, "streams": load.viewers, "capacity": load.capacity}
                for load in loads
            ],
        }

    async def serve_pull(self, session_id: int, offer: str, source: str, edge: str) -> r.Peer:
        """A link for an edge relay of another process: from the origin while it feeds fewer edges than
        ``HEMICYCLE_MEDIA_MAX_EDGES`` (else it names the edges to pull from instead), or from an edge of the
        first tier."""
        origin = self._relays.get(session_id)
        if origin is not None:
            edges = {str(p.tag) for p in origin.peers.values() if p.role == "link"}
            if edge not in edges and len(edges) >= self.settings.media_max_edges:
                raise MediaError(
                    "this origin feeds as many edges as it may: pull from one of them",
                    code="too_many_edges",
                    status=409,
                    details={"edges": sorted(edges)},
                )
            return await origin.pull(offer, source, edge)
        relay = self._edges.get(session_id)
        if relay is not None and edge != self.core.instance_id:
            owner = await self.owners.live_owner(session_id, self.core.presence_ttl)
            if relay.first_tier(owner.instance_id if owner else None):
                return await relay.relay_pull(offer, source, edge)
        raise MediaError("this process is not the session's origin relay", code="not_origin", status=409)

    def _tiers(self, relay: r.SessionRelay) -> dict[str, Any]:
        """Which process this is, whether it is the origin or an edge, and the state of its relay links:
        on the origin one per source per edge process, on an edge one per source pulled."""
        if isinstance(relay, EdgeRelay):
            links = [link.public() for link in relay.links.values()]
            tier = "edge"
        else:
            links = [
                {"source": p.source, "edge": p.tag, "connection": p.pc.connectionState}
                for p in relay.peers.values()
                if p.role == "link"
            ]
            tier = "origin"
        return {"process": self.core.instance_id, "tier": tier, "links": links}
