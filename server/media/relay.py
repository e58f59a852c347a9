"""One session's forwarding relay: who publishes each source, who views it, and their peer connections.

The relay knows sources and peers, not roles or the floor: ``server.media.service`` checks those before
calling it. Every peer connection it creates is closed by it, on ``stop``, on failure, when it does not
connect in time, or when the relay closes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from . import seams
from .codecs import AUDIO_CODECS, VIDEO_CODECS, VP8
from .errors import MediaError
from .forward import Feed, ForwardTrack

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
# Peer connections one participant may hold in a session at once (tabs, the AV desk's feeds...): each costs a
# certificate, sockets and tasks, so a flood of offers stops here.
MAX_PEERS_PER_PARTICIPANT = 8
# How long an ended resource is remembered, so that a DELETE arriving after the connection ended by itself
# (a player closes its connection before sending DELETE) still succeeds; and how many are remembered.
ENDED_MEMORY_SECONDS = 600.0
ENDED_MEMORY_SIZE = 4096
CHANNELS = ("floor", "ar", "zh", "en", "fr", "ru", "es")
ROOM = "room"
SPEAKER = "speaker"
# The sign-language interpreter's picture (issue 21, item 8): video only, shown beside the room feed.
SIGN = "sign"


def greenroom(participant_id: int) -> str:
    return f"greenroom:{participant_id}"


def channel(name: str) -> str:
    return f"channel:{name}"


def source_kinds(source: str) -> tuple[str, ...]:
    """The media kinds a source carries: language channels are sound only, the sign channel picture only."""
    if source == SIGN:
        return ("video",)
    return ("audio",) if source.startswith("channel:") else ("audio", "video")


@dataclass
class Peer:
    """A publisher's or a viewer's peer connection, known to clients by its resource id."""

    id: str
    role: str  # "publish" or "view"
    source: str
    participant_id: int
    pc: RTCPeerConnection
    tag: Any = None
    channel: str | None = None
    tracks: dict[str, ForwardTrack] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    receivers: dict[str, RTCRtpReceiver] = field(default_factory=dict)
    senders: dict[str, RTCRtpSender] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    closed: bool = False
    # The SDP answer the relay gave, and what the client reports of the link (its round-trip time...).
    answer: str = ""
    reported: dict[str, Any] = field(default_factory=dict)
    # A moderator's mute of this publisher, per kind: nothing of it is forwarded while set.
    muted: dict[str, bool] = field(default_factory=lambda: {"audio": False, "video": False})
    # Packets dropped on this connection: undecryptable, too long, of no stream, empty, or too many RTCP.
    drops: seams.DropCounter = field(default_factory=seams.DropCounter)
    # A publisher's negotiated codec and keyframe request per kind: what its feed needs to take it on air.
    codecs: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # A viewer of the floor who hears the remote speaker straight from their publication while one holds the
    # floor (interpreters: the lowest latency the relay gives), else the floor as everyone hears it.
    direct: bool = False

    def __post_init__(self) -> None:
        self.drops.name = f"{self.id} ({self.role} {self.source})"

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "resource_id": self.id,
            "kind": self.role,
            "source": self.source,
            "participant_id": self.participant_id,
        }
        if self.channel is not None:
            data["channel"] = self.channel
        if self.role == "view":
            data["audio_only"] = "video" not in self.tracks
        return data


# Called when the relay ends a peer by itself (failure, timeout, revoked floor, codec change).
StopListener = Callable[[Peer, str], None]


class SessionRelay:
    """The sources of one session and the peer connections that publish and view them."""

    def __init__(
        self,
        session_id: int,
        configuration: Callable[[], RTCConfiguration],
        connect_timeout: float,
        on_stopped: StopListener | None = None,
        on_ended: StopListener | None = None,
    ) -> None:
        seams.check_version()
        # Told of every peer that ends, however (``on_stopped`` only of those the relay ends by itself).
        self._on_ended = on_ended
        self.session_id = session_id
        self._configuration = configuration
        self._connect_timeout = connect_timeout
        self._on_stopped = on_stopped
        self._feeds: dict[tuple[str, str], Feed] = {}
        self._publishers: dict[str, Peer] = {}  # source -> its publisher (a booth's: the one on air)
        # Interpretation booths: every interpreter of a channel keeps publishing; one is on air.
        self._booths: dict[str, dict[int, Peer]] = {}  # channel source -> participant id -> publisher
        self.peers: dict[str, Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        # resource id -> (participant id, when it ended), oldest first.
        self._ended: dict[str, tuple[int, float]] = {}

    # -- feeds ---------------------------------------------------------------------------------

    def feed(self, source: str, kind: str) -> Feed:
        key = (source, kind)
        found = self._feeds.get(key)
        if found is None:
            found = self._feeds[key] = Feed(kind, f"{source}/{kind}")
        return found

    def publisher(self, source: str) -> Peer | None:
        return self._publishers.get(source)

    def channel_feed(self, channel_name: str) -> Feed:
        """The sound a listener of the language channel hears now (the floor: as ``_audio_feed_for``)."""
        return self._audio_feed_for(channel_name)

    def _audio_feed_for(self, channel_name: str, direct: bool = False) -> Feed:
        """The floor sound is the room feed's audio; each interpretation language its own channel. A direct
        listener of the floor hears the remote speaker's own sound while one publishes."""
        if channel_name == "floor" and direct and self.feed(SPEAKER, "audio").live:
            return self.feed(SPEAKER, "audio")
        if channel_name == "floor" and not self.feed(channel("floor"), "audio").live:
            return self.feed(ROOM, "audio")
        return self.feed(channel(channel_name), "audio")

    # -- publishing ----------------------------------------------------------------------------

    async def publish(
        self, offer: str, source: str, participant_id: int, tag: Any = None, standby: bool = False
    ) -> Peer:
        """Answer a publisher's offer; it replaces whoever published the source before.

        A booth's channel (``standby``) is different: each interpreter's publication is kept, and only the
        one on air feeds the channel; a standby publisher replaces only their own earlier one.
        """
        self._check_open(participant_id)
        description = parse_offer(offer)
        kinds = offered_kinds(description, wanted="send")
        allowed = source_kinds(source)
        for kind in kinds:
            if kind not in allowed:
                raise MediaError(f"the {source} source carries no {kind}", code="invalid_offer")
        if "audio" not in kinds and "video" not in kinds:
            raise MediaError("the offer sends no audio or video", code="invalid_offer")
        pc = self._connection()
        peer = Peer(secrets.token_urlsafe(16), "publish", source, participant_id, pc, tag)
        try:
            transceivers: dict[str, RTCRtpTransceiver] = {}
            for kind in kinds:
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                seams.guard_transport(transceiver.receiver.transport, peer.drops)
                transceiver.setCodecPreferences(preferences(kind, VIDEO_CODECS if kind == "video" else ()))
                transceivers[kind] = transceiver
                peer.receivers[kind] = transceiver.receiver
                feed = self.feed(source, kind)
                peer.feeds[kind] = feed
                seams.tap_receiver(transceiver.receiver, functools.partial(feed.on_rtp, peer))
            answer = await self._answer(pc, offer)
        except BaseException:
            await pc.close()
            raise
        booth = self._booths.setdefault(source, {}) if is_booth(source) else None
        if booth is not None:
            previous = booth.get(participant_id)
            on_air = self._publishers.get(source)
            if previous is not None and previous is on_air:
                standby = False  # a reconnection of the one on air stays on air
        else:
            previous = self._publishers.get(source)
            standby = False
        if previous is not None:
            await self._stop(previous, "replaced")
        if booth is not None:
            booth[participant_id] = peer
        self.peers[peer.id] = peer
        for kind, transceiver in transceivers.items():
            codec = seams.negotiated_codecs(transceiver)[0]
            peer.codecs[kind] = (codec, functools.partial(self._ask_keyframe, transceiver.receiver))
        if not standby:
            self._put_on_air(peer)
        self._watch(peer)
        peer.answer = answer
        return peer

    def _put_on_air(self, peer: Peer) -> None:
        """The publisher's packets feed its source from the next one on; the previous publisher's stop there
        (between two packets: no gap, never both)."""
        self._publishers[peer.source] = peer
        for kind, (codec, ask) in peer.codecs.items():
            peer.feeds[kind].attach(peer, codec, ask)
            # A moderator's mute of a partner standing by holds as they come on air.
            peer.feeds[kind].mute(peer, peer.muted[kind])
            self._drop_mismatched(peer.feeds[kind])
        if peer.source in (channel("floor"), SPEAKER):
            self._refollow_floor()

    def booth_publishers(self, source: str) -> dict[int, Peer]:
        """A booth's publishers now, on air and standing by, by participant."""
        return dict(self._booths.get(source, {}))

    def switch(self, source: str, participant_id: int | None) -> Peer | None:
        """Put another of the booth's publishers on air (None: nobody; the channel goes off air)."""
        booth = self._booths.get(source, {})
        current = self._publishers.get(source)
        if participant_id is None:
            if current is not None:
                for feed in current.feeds.values():
                    feed.detach(current)
                del self._publishers[source]
            return None
        peer = booth.get(participant_id)
        if peer is None or peer.closed:
            raise MediaError("that interpreter is not publishing in the booth", code="not_publishing")
        if peer is not current:
            self._put_on_air(peer)
        return peer

    def silence(self, source: str, silenced: bool) -> None:
        """The cough key: the channel carries silence in place of the voice, and stays on air."""
        self.feed(source, "audio").silence(silenced)

    def _refollow_floor(self) -> None:
        """The floor channel is its own publication when there is one, else the room feed's sound (and for
        direct listeners the remote speaker's, while one publishes)."""
        for viewer in self.peers.values():
            track = viewer.tracks.get("audio")
            feed = self._audio_feed_for("floor", viewer.direct)
            if viewer.channel == "floor" and track is not None and viewer.feeds.get("audio") is not feed:
                viewer.feeds["audio"] = feed
                track.attach(feed)

    def _ask_keyframe(self, receiver: RTCRtpReceiver, ssrc: int) -> None:
        self._spawn(seams.send_pli(receiver, ssrc))

    def _drop_mismatched(self, feed: Feed) -> None:
        """Viewers that agreed on another codec than the new publisher's must subscribe again."""
        for track in list(feed.tracks):
            if feed.mime and track.mime.lower() != feed.mime.lower():
                viewer = next((p for p in self.peers.values() if track in p.tracks.values()), None)
                if viewer is not None:
                    self._spawn(self._stop(viewer, "codec_changed"))

    # -- viewing -------------------------------------------------------------------------------

    async def view(
        self,
        offer: str,
        source: str,
        participant_id: int,
        channel_name: str | None = None,
        audio_only: bool = False,
        tag: Any = None,
        direct: bool = False,
    ) -> Peer:
        """Answer a viewer's offer with forwarded tracks of the source (and language channel); ``direct``: a
        floor listener who hears the remote speaker's own sound while one holds the floor."""
        self._check_open(participant_id)
        description = parse_offer(offer)
        kinds = offered_kinds(description, wanted="receive")
        if not kinds:
            raise MediaError("the offer receives no audio or video", code="invalid_offer")
        if source.startswith("channel:"):
            raise MediaError("subscribe to the room and pick a channel", code="invalid_source")
        if channel_name is not None and source != ROOM:
            raise MediaError("only the room feed has language channels", code="invalid_channel")
        channel_name = channel_name or ("floor" if source == ROOM else None)
        pc = self._connection()
        peer = Peer(secrets.token_urlsafe(16), "view", source, participant_id, pc, tag, channel_name)
        peer.direct = direct and source == ROOM

        def feed_for(kind: str) -> Feed | None:
            if (kind == "video" and audio_only) or kind not in source_kinds(source):
                return None
            if kind == "audio" and channel_name:
                return self._audio_feed_for(channel_name, peer.direct)
            return self.feed(source, kind)

        return await self._serve(peer, offer, kinds, feed_for)

    async def pull(self, offer: str, source: str, edge: str) -> Peer:
        """Answer an edge relay's offer: one link carrying a source as it is, for all that edge's viewers.

        ``room`` is the room feed's picture, ``speaker`` the speaker's sound and picture, ``channel:<name>``
        a language's sound as this relay's viewers of that channel hear it (the floor follows the room feed
        when no floor channel is published). A link is no participant's: it is not counted against any.
        """
        if self._closed:
            raise MediaError("the media relay of this session is closing", code="relay_closed", status=409)
        kinds = offered_kinds(parse_offer(offer), wanted="receive")
        allowed = link_kinds(source)
        if not allowed:
            raise MediaError(f"{source} is not a source a relay pulls", code="invalid_source")
        if not kinds or any(kind not in allowed for kind in kinds):
            raise MediaError(f"the {source} link carries {' and '.join(allowed)} only", code="invalid_offer")
        name = source.removeprefix("channel:") if source.startswith("channel:") else None
        pc = self._connection()
        peer = Peer(secrets.token_urlsafe(16), "link", source, 0, pc, edge, name)

        def feed_for(kind: str) -> Feed:
            return self._audio_feed_for(name) if name is not None else self.feed(source, kind)

        return await self._serve(peer, offer, kinds, feed_for)

    async def _serve(
        self, peer: Peer, offer: str, kinds: list[str], feed_for: Callable[[str], Feed | None]
    ) -> Peer:
        """Answer a receiving offer with a forwarded track per kind (``feed_for`` None: nothing sent)."""
        pc = peer.pc
        try:
            for kind in kinds:
                feed = feed_for(kind)
                if feed is None:
                    # The offer asks for video, but this viewer is on sound only: nothing is sent on it.
                    seams.guard_transport(
                        pc.addTransceiver(kind, direction="inactive").receiver.transport, peer.drops
                    )
                    continue
                mime = feed.mime or (VP8 if kind == "video" else AUDIO_CODECS[0])
                track = ForwardTrack(kind, mime)
                transceiver = pc.addTransceiver(track, direction="sendonly")
                seams.guard_transport(transceiver.receiver.transport, peer.drops)
                transceiver.setCodecPreferences(preferences(kind, (mime,)))
                track.bind(transceiver)
                peer.tracks[kind] = track
                peer.senders[kind] = transceiver.sender
                peer.feeds[kind] = feed
            answer = await self._answer(pc, offer)
        except BaseException:
            for track in peer.tracks.values():
                track.stop()
            await pc.close()
            raise
        self.peers[peer.id] = peer
        for kind, track in peer.tracks.items():
            track.attach(peer.feeds[kind])
        self._watch(peer)
        peer.answer = answer
        return peer

    def set_muted(self, participant_id: int, audio: bool, video: bool) -> list[Peer]:
        """Stop (or resume) forwarding a participant's sound and picture, on every source they publish."""
        changed = []
        for peer in self.peers.values():
            if peer.role != "publish" or peer.participant_id != participant_id:
                continue
            peer.muted = {"audio": audio, "video": video}
            for kind, feed in peer.feeds.items():
                feed.mute(peer, peer.muted[kind])
            changed.append(peer)
        return changed

    def of_participant(self, participant_id: int) -> list[Peer]:
        return [peer for peer in self.peers.values() if peer.participant_id == participant_id]

    def set_channel(self, resource_id: str, channel_name: str) -> Peer:
        """Switch a viewer's sound to another language, server-side: no new offer, no new connection."""
        peer = self._peer(resource_id, "view")
        if peer.source != ROOM:
            raise MediaError("only the room feed has language channels", code="invalid_channel")
        if channel_name not in CHANNELS:
            raise MediaError(f"channel must be one of: {', '.join(CHANNELS)}", code="invalid_channel")
        track = peer.tracks.get("audio")
        if track is None:
            raise MediaError("this subscription receives no sound", code="invalid_channel")
        feed = self._audio_feed_for(channel_name, peer.direct)
        peer.channel = channel_name
        peer.feeds["audio"] = feed
        track.attach(feed)
        return peer

    # -- ending --------------------------------------------------------------------------------

    def _peer(self, resource_id: str, role: str | None = None) -> Peer:
        peer = self.peers.get(resource_id)
        if peer is None or (role is not None and peer.role != role):
            raise MediaError("no such media resource", code="media_not_found", status=404)
        return peer

    def find(self, resource_id: str) -> Peer:
        return self._peer(resource_id)

    def ended_of(self, resource_id: str) -> int | None:
        """The participant whose resource this was, if it ended within ``ENDED_MEMORY_SECONDS``."""
        ended = self._ended.get(resource_id)
        if ended is None or time.monotonic() - ended[1] > ENDED_MEMORY_SECONDS:
            return None
        return ended[0]

    def _remember_ended(self, peer: Peer) -> None:
        self._ended[peer.id] = (peer.participant_id, time.monotonic())
        while len(self._ended) > ENDED_MEMORY_SIZE:
            del self._ended[next(iter(self._ended))]

    async def stop(self, resource_id: str, reason: str = "stopped") -> Peer:
        peer = self._peer(resource_id)
        await self._stop(peer, reason, notify=False)
        return peer

    def stop_now(self, peers: Iterable[Peer], reason: str) -> None:
        """Stop forwarding at once (synchronously), then close the connections in the background."""
        for peer in list(peers):
            self._detach(peer)
            self._spawn(self._stop(peer, reason))

    def publishers_of(self, prefix: str) -> list[Peer]:
        return [p for s, p in self._publishers.items() if s == prefix or s.startswith(prefix + ":")]

    def _detach(self, peer: Peer) -> None:
        if peer.role == "publish":
            for feed in peer.feeds.values():
                if feed.detach(peer):
                    for track in feed.tracks:
                        track.restart()
            if self._publishers.get(peer.source) is peer:
                del self._publishers[peer.source]
            booth = self._booths.get(peer.source)
            if booth is not None and booth.get(peer.participant_id) is peer:
                del booth[peer.participant_id]
            if peer.source in (channel("floor"), SPEAKER):
                self._refollow_floor()
        else:
            for track in peer.tracks.values():
                track.stop()

    async def _stop(self, peer: Peer, reason: str, notify: bool = True) -> None:
        if peer.closed:
            return
        peer.closed = True
        self._detach(peer)
        self.peers.pop(peer.id, None)
        self._remember_ended(peer)
        try:
            # Shielded: cancelling a second close() would cancel the future the first one completes.
            await asyncio.shield(peer.pc.close())
        except Exception:
            log.exception("closing media resource %s failed", peer.id)
        log.info(
            "session %s: %s %s of %s ended (%s)", self.session_id, peer.role, peer.id, peer.source, reason
        )
        if self._on_ended is not None:
            self._on_ended(peer, reason)
        if notify and self._on_stopped is not None:
            self._on_stopped(peer, reason)

    async def close(self) -> None:
        self._closed = True
        for peer in list(self.peers.values()):
            await self._stop(peer, "relay_closed")
        for feed in self._feeds.values():
            feed.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def empty(self) -> bool:
        return not self.peers

    # -- health --------------------------------------------------------------------------------

    async def stats(self, peer: Peer) -> dict[str, Any]:
        """Loss and round-trip time as aiortc measures them for one peer."""
        report = await peer.pc.getStats()
        received = lost = 0
        rtts: list[float] = []
        for stat in report.values():
            kind = getattr(stat, "type", "")
            if kind == "inbound-rtp":
                received += stat.packetsReceived or 0
                lost += max(0, stat.packetsLost or 0)
            elif kind == "remote-inbound-rtp":
                received += stat.packetsReceived or 0
                lost += max(0, stat.packetsLost or 0)
                if stat.roundTripTime is not None:
                    rtts.append(stat.roundTripTime)
        return {
            "packets_received": received,
            "packets_lost": lost,
            "rtt_ms": round(1000 * max(rtts), 1) if rtts else None,
        }

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self, participant_id: int) -> None:
        if self._closed:
            raise MediaError("the media relay of this session is closing", code="relay_closed", status=409)
        if sum(p.participant_id == participant_id for p in self.peers.values()) >= MAX_PEERS_PER_PARTICIPANT:
            raise MediaError(
                f"at most {MAX_PEERS_PER_PARTICIPANT} media connections at once: stop one first",
                code="too_many_media",
                status=429,
            )

    def _connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._configuration())
        seams.accept_any_dtls_peer(pc)
        return pc

    async def _answer(self, pc: RTCPeerConnection, offer: str) -> str:
        seams.learn_addresses(pc)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except MediaError:
            raise
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            if "Failed to set remote" in message:
                raise MediaError(
                    "none of the offered codecs can be forwarded (VP8 or H.264 video, Opus audio)",
                    code="codec_unsupported",
                ) from None
            raise MediaError(f"the offer was refused: {message[:200]}", code="invalid_sdp") from None
        for transceiver in pc.getTransceivers():
            if transceiver.direction == "recvonly":
                seams.accept_opus_fec(transceiver)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        local = pc.localDescription
        return local.sdp

    def _watch(self, peer: Peer) -> None:
        """End a peer whose connection fails, closes, or does not come up in time."""

        @peer.pc.on("connectionstatechange")
        def changed() -> None:
            if peer.pc.connectionState in ("failed", "closed") and not peer.closed:
                self._detach(peer)
                self._spawn(self._stop(peer, "connection_" + peer.pc.connectionState))

        async def deadline() -> None:
            await asyncio.sleep(self._connect_timeout)
            if not peer.closed and peer.pc.connectionState != "connected":
                await self._stop(peer, "connect_timeout")

        self._spawn(deadline())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def is_booth(source: str) -> bool:
    """An interpretation language's channel (not the floor's): its interpreters form a booth."""
    return source.startswith("channel:") and source.removeprefix("channel:") in CHANNELS[1:]


def link_kinds(source: str) -> tuple[str, ...]:
    """What one relay-to-relay link of a source carries: each feed travels once between two relays."""
    if source == ROOM:
        return ("video",)  # the room's sound travels as the floor channel
    if source == SPEAKER:
        return ("audio", "video")
    if source == SIGN:
        return ("video",)
    if source.startswith("channel:") and source.removeprefix("channel:") in CHANNELS:
        return ("audio",)
    return ()


def preferences(kind: str, mimes: Iterable[str]) -> list[RTCRtpCodecCapability]:
    """The capabilities of the given codecs (all of a kind's forwardable ones if none), with RTX."""
    wanted = [m.lower() for m in mimes] or [
        m.lower() for m in (VIDEO_CODECS if kind == "video" else AUDIO_CODECS)
    ]
    if kind == "audio":
        wanted = [m for m in wanted if m in (c.lower() for c in AUDIO_CODECS)] or [AUDIO_CODECS[0].lower()]
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for mime in wanted for c in capabilities if c.mimeType.lower() == mime]
    chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return chosen


def parse_offer(offer: str) -> aiortc_sdp.SessionDescription:
    """Check an offer's size and syntax before any resource is made for it."""
    if not isinstance(offer, str) or not offer.strip():
        raise MediaError("the offer is empty", code="invalid_sdp")
    if len(offer.encode()) > MAX_SDP_BYTES:
        raise MediaError("the offer is over 64 KiB", code="payload_too_large", status=413)
    if not offer.startswith("v=0"):
        raise MediaError("the offer is not SDP (it must start with v=0)", code="invalid_sdp")
    try:
        description = aiortc_sdp.SessionDescription.parse(offer)
    except Exception:
        raise MediaError("the offer is not valid SDP", code="invalid_sdp") from None
    if not description.media:
        raise MediaError("the offer has no media section", code="invalid_sdp")
    if len(description.media) > 4:
        raise MediaError("the offer has too many media sections", code="invalid_offer")
    for media in description.media:
        if media.kind not in ("audio", "video"):
            raise MediaError(f"{media.kind} media sections are not relayed", code="invalid_offer")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password or not media.dtls:
            raise MediaError("the offer has no ICE credentials or DTLS fingerprint", code="invalid_sdp")
        _check_fingerprints(media.dtls.fingerprints)
    return description


# Fingerprint algorithms aiortc checks the peer's certificate against, and their digest sizes in bytes.
FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}


def _check_fingerprints(fingerprints: list[Any]) -> None:
    """Each media section needs a certificate fingerprint the DTLS handshake can be checked against:
    without one aiortc fails only later, in a background task, after the offer was answered."""
    usable = 0
    for fingerprint in fingerprints:
        size = FINGERPRINT_BYTES.get(fingerprint.algorithm.lower())
        if size is None:
            continue
        pairs = fingerprint.value.split(":")
        if len(pairs) != size or not all(len(p) == 2 and all(c in _HEX for c in p) for p in pairs):
            raise MediaError(
                f"the offer's {fingerprint.algorithm} fingerprint is malformed", code="invalid_sdp"
            )
        usable += 1
    if not usable:
        raise MediaError(
            "the offer has no a=fingerprint with sha-256, sha-384 or sha-512 in every media section",
            code="invalid_sdp",
        )


_HEX = frozenset("0123456789abcdefABCDEF")


def offered_kinds(description: aiortc_sdp.SessionDescription, wanted: str) -> list[str]:
    """The kinds, in offer order, that the offer sends (``wanted='send'``) or receives; one of each."""
    directions = ("sendonly", "sendrecv") if wanted == "send" else ("recvonly", "sendrecv")
    kinds: list[str] = []
    for media in description.media:
        if media.direction in directions or media.direction is None:
            if media.kind in kinds:
                raise MediaError(f"the offer has two {media.kind} sections", code="invalid_offer")
            kinds.append(media.kind)
        else:
            raise MediaError(
                f"a {media.kind} section is {media.direction}: "
                f"{'publishing' if wanted == 'send' else 'viewing'} needs "
                f"{' or '.join(directions)}",
                code="invalid_offer",
            )
    return kinds
