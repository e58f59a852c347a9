"""Forwarding one publisher's RTP packets to many viewers, as they arrive, without decoding.

A ``Feed`` is one kind of media (audio or video) of one source: it takes the RTP packets of whichever
publisher is attached and writes each, at once and in the same event-loop step, to every ``ForwardTrack``
attached to it. A ``ForwardTrack`` is a viewer's end: it owns the viewer's sequence numbers and timestamps
(continuous when the feed behind it changes: a new speaker, another language), starts video on a keyframe,
and writes through its ``RTCRtpSender`` (``seams.SenderPort``). Nothing is queued between the two: a packet
in is a packet out to every viewer, so a slow viewer costs the others nothing and a frame is never
re-assembled or packetised again. Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from random import getrandbits, random
from typing import Protocol

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from av.frame import Frame

from . import seams
from .codecs import CLOCK_RATES, FRAME_TICKS, starts_keyframe
from .timeline import CaptureClock, signed_ticks

log = logging.getLogger(__name__)

# At most one keyframe request upstream per feed in this time, however many viewers ask.
PLI_INTERVAL_SECONDS = 0.5
# A viewer who connects within this long of a keyframe gets its packets and those since, at once: a crowd
# joining together does not wait for the next keyframe request's window. Older than that, a new keyframe is
# asked for.
GOP_REPLAY_SECONDS = 1.0
# A publisher's stream may change SSRC (an encoder restarting) once its current one has been silent this long;
# until then, packets of another SSRC on the same payload type are dropped.
SSRC_SWITCH_SECONDS = 1.0
MAX_GOP_PACKETS = 600
# An Opus packet that decodes to 20 ms of silence (one CELT frame, fullband, no energy): the cough key sends
# it in place of the interpreter's voice, so listeners hear silence on a channel that stays on air, and the
# decoder's overlap fades the voice out rather than cutting it.
OPUS_SILENCE = b"\xf8\xff\xfe"
TRANSIT_SAMPLES = 10000
# The share of (packet, viewer) pairs whose transit time is sampled, at random so that every viewer's place
# in the fan-out is represented.
TRANSIT_SAMPLED = 0.125


@dataclass
class FeedStats:
    """Counters the health report turns into rates."""

    packets: int = 0
    bytes: int = 0
    frames: int = 0
    keyframes: int = 0
    audio_level: int | None = None
    ssrc: int | None = None
    # Seconds from a packet reaching the relay to its copy being handed to a viewer's socket (sampled).
    transit: deque[float] = field(default_factory=lambda: deque(maxlen=TRANSIT_SAMPLES))


class Port(Protocol):
    """Where a track's packets go: a viewer's ``seams.SenderPort``, or a recorder
    (server/recording/recorder.py), which the feed treats as one more viewer."""

    def ready(self) -> bool: ...

    def send(
        self, sequence_number: int, timestamp: int, marker: int, payload: bytes, ntp_time: int
    ) -> Awaitable[None] | None: ...


class ForwardTrack(MediaStreamTrack):
    """A viewer's end of a feed: that viewer's RTP stream, from the next keyframe on.

    aiortc's sender is given this track so that it negotiates and runs its RTCP; ``recv()`` never returns a
    frame, since the feed writes the packets itself (``forward``).
    """

    def __init__(self, kind: str, mime: str, catch_up: bool = True) -> None:
        super().__init__()
        self.kind = kind
        self.mime = mime
        # Whether a feed may hand it its last keyframe and the packets since (``Feed._replay``), for a picture
        # at once. A viewer's player pairs each packet with when it was taken (the sender reports); a file
        # has only its timestamps, and a replayed second would put its picture a second behind its sound.
        self.catch_up = catch_up
        self.mime_key = mime.lower()
        self.feed: Feed | None = None
        self.port: Port | None = None
        self._ended: asyncio.Future[None] | None = None
        self._waiting_keyframe = kind == "video"
        self._asked_keyframe = False
        self._clock_rate = CLOCK_RATES[kind]
        # Out = in + offset, fixed at the first packet of each feed (``_rebase``); random at the very first.
        self._sequence_offset = 0
        self._timestamp_offset = 0
        self._rebase = True
        self._last: tuple[int, int] | None = None  # the last sequence number and timestamp written
        # The very first packet's timestamp out and when it was taken (our clock): every source after it is
        # placed from there by its own frames' times, so that no switch adds to the error of the ones before.
        self._anchor: tuple[int, float] = (0, 0.0)
        self.sent_frames = 0
        self.sent_packets = 0

    def bind(self, transceiver: RTCRtpTransceiver) -> None:
        """The viewer's transceiver this track's packets are written through."""
        self.port = seams.SenderPort(transceiver)
        seams.on_keyframe_request(transceiver.sender, self.keyframe_requested)

    @property
    def waiting_keyframe(self) -> bool:
        return self._waiting_keyframe

    @property
    def ready(self) -> bool:
        """Connected: packets written now reach the viewer (a stopped track is no longer in any feed)."""
        return self.port is not None and self.port.ready()

    def attach(self, feed: Feed | None) -> None:
        """Follow another feed (or none): the switch happens between two packets, on a keyframe for video."""
        if self.feed is feed:
            return
        if self.feed is not None:
            self.feed.tracks.discard(self)
        self.feed = feed
        self.restart()
        if feed is not None:
            feed.tracks.add(self)

    def restart(self) -> None:
        """The publisher changed: wait for its first keyframe and join its timeline to ours."""
        self._rebase = True
        self._asked_keyframe = False
        if self.kind == "video":
            self._waiting_keyframe = True

    def forward(
        self,
        packet: RtpPacket,
        keyframe: bool,
        ntp_time: int,
        pending: list[Awaitable[None]],
        late: bool = False,
    ) -> bool:
        """Write one of the feed's packets to the viewer now; False if it was not written (``late``: a repair
        of a packet already gone by, which does not move the viewer's stream on).

        A write that must be awaited (a viewer behind a TURN relay) is appended to ``pending``, for the feed
        to await once every viewer has had the packet.
        """
        if self._waiting_keyframe:
            if not keyframe:
                return False
            self._waiting_keyframe = False
        if self._rebase:
            if late:
                return False  # a repair of a packet of before this viewer joined the feed's stream
            self._join(packet)
        sequence_number = (packet.sequence_number + self._sequence_offset) & 0xFFFF
        timestamp = (packet.timestamp + self._timestamp_offset) & 0xFFFFFFFF
        port = self.port
        assert port is not None
        try:
            write = port.send(sequence_number, timestamp, packet.marker, packet.payload, ntp_time)
        except seams.SEND_ERRORS:
            return False
        if write is not None:
            pending.append(write)
        if not late:
            self._last = (sequence_number, timestamp)
        self.sent_packets += 1
        if packet.marker or self.kind == "audio":
            self.sent_frames += 1
        return True

    def _join(self, packet: RtpPacket) -> None:
        """Continue this viewer's stream from the feed's packet: the next sequence number, and the timestamp
        of when the packet was taken, counted from the stream's first packet (at least a frame on from the
        last one written)."""
        taken = self.feed.taken(packet.timestamp) if self.feed is not None else None
        if taken is None:
            taken = time.perf_counter()
        if self._last is None:
            sequence_number, timestamp = getrandbits(16), getrandbits(32)
            self._anchor = (timestamp, taken)
        else:
            last_sequence, last_timestamp = self._last
            anchor_timestamp, anchor_taken = self._anchor
            timestamp = anchor_timestamp + round((taken - anchor_taken) * self._clock_rate)
            if signed_ticks(timestamp - last_timestamp) < FRAME_TICKS[self.kind]:
                # Taken before the last packet written went out (a picture replayed from a moment ago, or
                # a publisher whose clock runs fast): it follows it, a frame later.
                timestamp = last_timestamp + FRAME_TICKS[self.kind]
            sequence_number = last_sequence + 1
        self._sequence_offset = (sequence_number - packet.sequence_number) & 0xFFFF
        self._timestamp_offset = (timestamp - packet.timestamp) & 0xFFFFFFFF
        self._rebase = False

    def ask_keyframe_once(self) -> bool:
        """True the first time since it started waiting: the feed then asks upstream."""
        if self._asked_keyframe:
            return False
        self._asked_keyframe = True
        return True

    async def recv(self) -> Frame:
        """Never a frame: wait until stopped (the feed writes the packets)."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        await self._ended
        raise MediaStreamError

    def keyframe_requested(self) -> None:
        """The viewer lost pictures (PLI/FIR from its side): ask upstream, rate-limited."""
        if self.feed is not None:
            self.feed.request_keyframe()

    def stop(self) -> None:
        if self.feed is not None:
            self.feed.tracks.discard(self)
            self.feed = None
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)
        super().stop()


KeyframeRequest = Callable[[int], None]


class Feed:
    """One kind of media of one source: the attached publisher's packets, out to every attached track."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.tracks: set[ForwardTrack] = set()
        self.codec: RTCRtpCodecParameters | None = None
        self.stats = FeedStats()
        self._publisher: object | None = None
        self._ask_keyframe: KeyframeRequest | None = None
        self._last_pli = -PLI_INTERVAL_SECONDS
        self._pending_pli: asyncio.TimerHandle | None = None
        self._muted = False
        self._silenced = False
        # Video: the packets since the last keyframe began, while there are few (for viewers who join now).
        self._gop: list[RtpPacket] = []
        self._gop_started = 0.0
        self._last_timestamp: int | None = None
        # When the current stream's frames were taken, on our clock: where a track joining it places them.
        self._capture = CaptureClock(CLOCK_RATES[kind])
        # When the current stream (``stats.ssrc``) last sent a media packet.
        self._ssrc_at = 0.0

    @property
    def live(self) -> bool:
        return self._publisher is not None

    @property
    def muted(self) -> bool:
        return self._muted

    def mute(self, publisher: object, muted: bool) -> None:
        """A moderator's mute: the publisher's packets stop here, its connection stays up."""
        if publisher is not self._publisher or muted == self._muted:
            return
        self._muted = muted
        self._gop.clear()
        if not muted:
            # Back on air: every viewer starts again from a keyframe.
            for track in self.tracks:
                track.restart()
            self.request_keyframe()

    @property
    def silenced(self) -> bool:
        return self._silenced

    def silence(self, silenced: bool) -> None:
        """Audio only: forward Opus silence in place of the publisher's sound (the stream goes on)."""
        self._silenced = silenced and self.kind == "audio"

    @property
    def mime(self) -> str | None:
        return self.codec.mimeType if self.codec else None

    def attach(self, publisher: object, codec: RTCRtpCodecParameters, ask_keyframe: KeyframeRequest) -> None:
        """A publisher's receiver now feeds this; ``publisher`` identifies it for ``on_rtp``."""
        self._publisher = publisher
        self.codec = codec
        self._ask_keyframe = ask_keyframe
        self.stats = FeedStats()
        self._muted = False
        self._gop.clear()
        self._last_timestamp = None
        self._capture.reset()
        for track in self.tracks:
            track.restart()
        if self.tracks:
            self.request_keyframe()

    def detach(self, publisher: object) -> bool:
        """Stop taking this publisher's frames at once; False if another publisher had replaced it."""
        if self._publisher is not publisher:
            return False
        self._publisher = None
        self._ask_keyframe = None
        self.stats.audio_level = None
        self._gop.clear()
        if self._pending_pli is not None:
            self._pending_pli.cancel()
            self._pending_pli = None
        return True

    async def on_rtp(self, publisher: object, packet: RtpPacket) -> None:
        """One RTP packet from a publisher: counted, then written to every connected track at once."""
        if publisher is not self._publisher:
            return
        stats = self.stats
        codec = self.codec
        arrived = time.perf_counter()
        if codec is not None and packet.payload_type == codec.payloadType and packet.ssrc != stats.ssrc:
            if stats.ssrc is not None and arrived - self._ssrc_at < SSRC_SWITCH_SECONDS:
                # A second stream on the same payload type would interleave with the first in every
                # viewer's sequence: only the publisher's current one is forwarded.
                drops = getattr(publisher, "drops", None)
                if isinstance(drops, seams.DropCounter):
                    drops.add("unknown_ssrc")
                return
            if stats.ssrc is not None:
                # The encoder restarted its stream (new SSRC after a silence): viewers resume on a keyframe.
                for track in self.tracks:
                    track.restart()
                self._gop.clear()
            self._capture.reset()
            stats.ssrc = packet.ssrc
        stats.packets += 1
        stats.bytes += len(packet.payload) + 12
        level = packet.extensions.audio_level
        if level is not None and not self._muted:
            stats.audio_level = level[1]
        if self._muted or codec is None or packet.payload_type != codec.payloadType or not packet.payload:
            # Retransmissions and padding stay between the publisher and the relay.
            return
        self._ssrc_at = arrived
        begins = packet.timestamp != self._last_timestamp
        self._last_timestamp = packet.timestamp
        keyframe = begins and self.kind == "video" and starts_keyframe(codec.mimeType, packet.payload)
        if self._silenced and codec.mimeType.lower() == "audio/opus":
            packet = RtpPacket(
                payload_type=packet.payload_type,
                marker=packet.marker,
                sequence_number=packet.sequence_number,
                timestamp=packet.timestamp,
                ssrc=packet.ssrc,
                payload=OPUS_SILENCE,
            )
        if begins:
            stats.frames += 1
            stats.keyframes += keyframe
            self._capture.observe(packet.timestamp, arrived)
        if self.tracks:
            ntp_time = self._capture.ntp_taken(packet.timestamp, arrived)
            mime = codec.mimeType.lower()
            pending: list[Awaitable[None]] = []
            transit = stats.transit
            # No await in this loop: the set cannot change under it, so it needs no copy per packet.
            for track in self.tracks:
                if not track.ready or track.mime_key != mime:
                    # Not connected yet, or agreed on another codec (the relay is ending that subscription).
                    continue
                if track.waiting_keyframe and not keyframe and not self._replay(track, pending):
                    continue
                if track.forward(packet, keyframe, ntp_time, pending) and random() < TRANSIT_SAMPLED:
                    transit.append(time.perf_counter() - arrived)
            for write in pending:
                with contextlib.suppress(*seams.SEND_ERRORS):
                    await write
        if self.kind == "video":
            self._keep(packet, keyframe, arrived)

    async def on_repaired(self, publisher: object, packet: RtpPacket) -> None:
        """A packet lost on the way here and retransmitted: on to the viewers already in step, late, as it
        is (no frame counted, no keyframe logic). Only an edge relay's link has repairs to pass on."""
        codec = self.codec
        if (
            publisher is not self._publisher
            or self._muted
            or codec is None
            or packet.payload_type != codec.payloadType
            or packet.ssrc != self.stats.ssrc
            or not packet.payload
        ):
            return
        ntp_time = self._capture.ntp_taken(packet.timestamp, time.perf_counter())
        mime = codec.mimeType.lower()
        pending: list[Awaitable[None]] = []
        for track in self.tracks:
            if track.ready and not track.waiting_keyframe and track.mime_key == mime:
                track.forward(packet, False, ntp_time, pending, late=True)
        for write in pending:
            with contextlib.suppress(*seams.SEND_ERRORS):
                await write

    def taken(self, timestamp: int) -> float | None:
        """When the current stream's frame of this timestamp was taken, on our clock (``time.perf_counter``
        seconds); None before its first frame."""
        return self._capture.taken(timestamp)

    def _keep(self, packet: RtpPacket, keyframe: bool, arrived: float) -> None:
        """The packets since the last keyframe began, for viewers who connect soon after it."""
        if keyframe:
            self._gop = [packet]
            self._gop_started = arrived
        elif self._gop and len(self._gop) < MAX_GOP_PACKETS:
            self._gop.append(packet)
        else:
            self._gop.clear()

    def _replay(self, track: ForwardTrack, pending: list[Awaitable[None]]) -> bool:
        """A connected viewer waiting for a keyframe gets the last one and the packets since, if recent
        enough (and it may catch up); otherwise the publisher is asked for one (once). True when the viewer
        is now in step."""
        now = time.perf_counter()
        if not track.catch_up or not self._gop or now - self._gop_started > GOP_REPLAY_SECONDS:
            if track.ask_keyframe_once():
                self.request_keyframe()
            return False
        for index, packet in enumerate(self._gop):
            track.forward(packet, index == 0, self._capture.ntp_taken(packet.timestamp, now), pending)
        return not track.waiting_keyframe

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now, or at the end of the rate-limit window."""
        if self.kind != "video" or self._ask_keyframe is None:
            return
        now = time.monotonic()
        wait = self._last_pli + PLI_INTERVAL_SECONDS - now
        if wait <= 0:
            self._send_pli(now)
        elif self._pending_pli is None:
            self._pending_pli = asyncio.get_running_loop().call_later(wait, self._pli_if_still_needed)

    def _pli_if_still_needed(self) -> None:
        self._pending_pli = None
        if any(track.waiting_keyframe for track in self.tracks):
            self._send_pli(time.monotonic())

    def _send_pli(self, now: float) -> None:
        if self._ask_keyframe is None or self.stats.ssrc is None:
            # Nothing received yet: the publisher's first frame is a keyframe anyway.
            return
        self._last_pli = now
        self._ask_keyframe(self.stats.ssrc)

    def close(self) -> None:
        if self._pending_pli is not None:
            self._pending_pli.cancel()
            self._pending_pli = None
        for track in list(self.tracks):
            track.stop()
        self.tracks.clear()
