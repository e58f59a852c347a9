"""Forwarding encoded frames from one publisher's track to many viewers' tracks, without decoding.

A ``Feed`` is one kind of media (audio or video) of one source: it takes the frames of whichever
publisher is attached, and hands each to every ``ForwardTrack`` attached to it. A ``ForwardTrack`` is what
a viewer's ``RTCRtpSender`` reads: its ``recv()`` returns ``Packet`` objects, which aiortc packetises
with the codec's ``pack()`` instead of encoding. Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import Packet
from av.stream import Stream

from .codecs import FRAME_TICKS, TIME_BASES, is_keyframe

log = logging.getLogger(__name__)

# At most one keyframe request upstream per feed in this time, however many viewers ask.
PLI_INTERVAL_SECONDS = 0.5
# A viewer who joins within this long of a keyframe gets it, and the frames since, at once: a crowd joining
# together does not wait for the next keyframe request's window. Older than that, a new keyframe is asked for.
GOP_REPLAY_SECONDS = 1.0
MAX_GOP_FRAMES = 45
# Frames a slow viewer may have waiting before it is cut back to the next keyframe.
MAX_BACKLOG = {"audio": 50, "video": 60}
TRANSIT_SAMPLES = 2000


@dataclass
class FeedStats:
    """Counters the health report turns into rates."""

    packets: int = 0
    bytes: int = 0
    frames: int = 0
    keyframes: int = 0
    audio_level: int | None = None
    ssrc: int | None = None
    # Seconds from a frame's last packet arriving to a viewer's sender taking it (sampled).
    transit: deque[float] = field(default_factory=lambda: deque(maxlen=TRANSIT_SAMPLES))


class ForwardTrack(MediaStreamTrack):
    """A viewer's track: encoded frames of one feed, from the next keyframe on."""

    def __init__(self, kind: str, mime: str, on_keyframe_needed: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.mime = mime
        self.feed: Feed | None = None
        self._queue: asyncio.Queue[tuple[Packet[Stream], float] | None] = asyncio.Queue()
        self._waiting_keyframe = kind == "video"
        self._on_keyframe_needed = on_keyframe_needed
        # Timestamps go out on one continuous timeline even when the feed changes (a new speaker, another
        # language): each feed's frames are shifted by an offset fixed at its first frame.
        self._offset = 0
        self._last_pts: int | None = None
        self._rebase = False
        self.sent_frames = 0

    @property
    def waiting_keyframe(self) -> bool:
        return self._waiting_keyframe

    def attach(self, feed: Feed | None) -> None:
        """Follow another feed (or none): the switch happens between two frames, on a keyframe for video."""
        if self.feed is feed:
            return
        if self.feed is not None:
            self.feed.tracks.discard(self)
        self.feed = feed
        self._rebase = self._last_pts is not None
        if self.kind == "video":
            self._waiting_keyframe = True
        if feed is not None:
            feed.tracks.add(self)
            if self._waiting_keyframe and not feed.replay(self):
                feed.request_keyframe()

    def restart(self) -> None:
        """The publisher changed: wait for its first keyframe and join its timeline to ours."""
        self._rebase = self._last_pts is not None
        if self.kind == "video":
            self._waiting_keyframe = True

    def push(self, packet: Packet[Stream], pts: int, keyframe: bool, arrived: float) -> None:
        if self.readyState != "live":
            return
        if self._waiting_keyframe:
            if not keyframe:
                return
            self._waiting_keyframe = False
        if self._queue.qsize() >= MAX_BACKLOG[self.kind]:
            # A viewer that cannot keep up skips ahead rather than falling further behind.
            while not self._queue.empty():
                self._queue.get_nowait()
            if self.kind == "video":
                self._waiting_keyframe = True
                if self.feed is not None:
                    self.feed.request_keyframe()
                return
        if self._rebase:
            assert self._last_pts is not None
            self._offset = self._last_pts + FRAME_TICKS[self.kind] - pts
            self._rebase = False
        if self._offset:
            shifted: Packet[Stream] = Packet(bytes(packet))
            shifted.pts = pts + self._offset
            shifted.time_base = packet.time_base
            packet = shifted
        self._last_pts = pts + self._offset
        self._queue.put_nowait((packet, arrived))

    async def recv(self) -> Packet[Stream]:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            self.stop()
            raise MediaStreamError
        packet, arrived = item
        self.sent_frames += 1
        if self.feed is not None and self.sent_frames % 8 == 1:
            self.feed.stats.transit.append(time.perf_counter() - arrived)
        return packet

    def keyframe_requested(self) -> None:
        """The viewer lost pictures (PLI/FIR from its side): ask upstream, rate-limited."""
        if self.feed is not None:
            self.feed.request_keyframe()

    def stop(self) -> None:
        if self.feed is not None:
            self.feed.tracks.discard(self)
            self.feed = None
        if self.readyState == "live":
            self._queue.put_nowait(None)
        super().stop()


KeyframeRequest = Callable[[int], None]


class Feed:
    """One kind of media of one source: the attached publisher's frames, out to every attached track."""

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
        self._time_base = TIME_BASES[kind]
        self._muted = False
        # Video: the frames since the last keyframe, while there are few (for viewers who join now).
        self._gop: list[tuple[Packet[Stream], int]] = []
        self._gop_started = 0.0

    @property
    def live(self) -> bool:
        return self._publisher is not None

    @property
    def muted(self) -> bool:
        return self._muted

    def mute(self, publisher: object, muted: bool) -> None:
        """A moderator's mute: the publisher's frames stop here, its connection stays up."""
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
    def mime(self) -> str | None:
        return self.codec.mimeType if self.codec else None

    def attach(self, publisher: object, codec: RTCRtpCodecParameters, ask_keyframe: KeyframeRequest) -> None:
        """A publisher's receiver now feeds this; ``publisher`` identifies it for ``on_frame``."""
        self._publisher = publisher
        self.codec = codec
        self._ask_keyframe = ask_keyframe
        self.stats = FeedStats()
        self._muted = False
        self._gop.clear()
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

    def on_packet(self, publisher: object, ssrc: int, size: int, level: int | None) -> None:
        if publisher is not self._publisher:
            return
        self.stats.packets += 1
        self.stats.bytes += size
        self.stats.ssrc = ssrc
        if level is not None and not self._muted:
            self.stats.audio_level = level

    def on_frame(self, publisher: object, codec: RTCRtpCodecParameters, data: bytes, timestamp: int) -> None:
        """One encoded frame from a publisher: to every track, in the same event-loop step."""
        if publisher is not self._publisher or not data or self._muted:
            return
        arrived = time.perf_counter()
        keyframe = is_keyframe(codec.mimeType, data)
        self.stats.frames += 1
        if keyframe and self.kind == "video":
            self.stats.keyframes += 1
        if not self.tracks and self.kind != "video":
            return
        packet: Packet[Stream] = Packet(data)
        packet.pts = timestamp
        packet.time_base = self._time_base
        if self.kind == "video":
            if keyframe:
                self._gop = [(packet, timestamp)]
                self._gop_started = arrived
            elif self._gop and len(self._gop) < MAX_GOP_FRAMES:
                self._gop.append((packet, timestamp))
            else:
                self._gop.clear()
        for track in list(self.tracks):
            track.push(packet, timestamp, keyframe, arrived)

    def replay(self, track: ForwardTrack) -> bool:
        """Give a joining viewer the last keyframe and the frames since, if it is recent enough."""
        if not self._gop or time.perf_counter() - self._gop_started > GOP_REPLAY_SECONDS:
            return False
        now = time.perf_counter()
        for index, (packet, timestamp) in enumerate(self._gop):
            track.push(packet, timestamp, index == 0, now)
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
