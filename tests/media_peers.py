"""Real aiortc peers for media tests and the benchmark: a publisher of generated picture and tone, viewers
that decode what they receive. No numpy: frames are built from bytes."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

# No ICE servers: aiortc's default public STUN server stalls gathering on a closed network.
NO_ICE = RTCConfiguration(iceServers=[])
VIDEO_CLOCK = 90000


class PatternTrack(MediaStreamTrack):
    """A moving grey-level ramp at ``fps``; aiortc's VP8 encoder sends a keyframe only at the start and
    when asked (its periodic interval is 3000 frames), which is what the keyframe tests rely on."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._start: float | None = None
        self._count = 0
        row = bytes((x * 255) // max(1, width - 1) for x in range(width))
        self._luma = [row[i * 8 % width :] + row[: i * 8 % width] for i in range(16)]
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = VideoFrame(self.width, self.height, "yuv420p")
        luma = self._luma[self._count % len(self._luma)] * self.height
        frame.planes[0].update(luma)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = self._count * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        samples = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * frequency * n / 48000)) for n in range(960))
        )
        self._pcm = samples.tobytes()
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._pcm)
        frame.pts = self._count * 960
        frame.sample_rate = 48000
        frame.time_base = fractions.Fraction(1, 48000)
        self._count += 1
        return frame


def prefer(transceiver: Any, mime: str) -> None:
    codecs = [
        c
        for c in RTCRtpSender.getCapabilities(transceiver.kind).codecs
        if c.mimeType.lower() in (mime.lower(), "video/rtx")
    ]
    transceiver.setCodecPreferences(codecs)


@dataclass
class Publisher:
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(NO_ICE))
    tracks: list[MediaStreamTrack] = field(default_factory=list)

    async def offer(self, audio: bool = True, video: bool = True, video_codec: str = "video/VP8") -> str:
        if audio:
            track: MediaStreamTrack = ToneTrack()
            self.tracks.append(track)
            self.pc.addTransceiver(track, direction="sendonly")
        if video:
            track = PatternTrack()
            self.tracks.append(track)
            prefer(self.pc.addTransceiver(track, direction="sendonly"), video_codec)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


@dataclass
class Viewer:
    """Receives and decodes; counts frames per kind and remembers the first picture's arrival."""

    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(NO_ICE))
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    first_frame_at: dict[str, float] = field(default_factory=dict)
    sizes: set[tuple[int, int]] = field(default_factory=set)
    loud_frames: int = 0
    kinds: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def offer(self, audio: bool = True, video: bool = True) -> str:
        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.kinds.append(track.kind)
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        if video:
            self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames[track.kind] += 1
                self.first_frame_at.setdefault(track.kind, time.monotonic())
                if isinstance(frame, VideoFrame):
                    self.sizes.add((frame.width, frame.height))
                elif isinstance(frame, AudioFrame) and _loud(frame):
                    self.loud_frames += 1
        except MediaStreamError:
            return

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _loud(frame: AudioFrame) -> bool:
    samples = array.array("h", bytes(frame.planes[0]))
    return bool(samples) and max(abs(s) for s in samples[:: max(1, len(samples) // 64)]) > 1000
