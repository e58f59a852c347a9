"""Real aiortc peers for media tests: a publisher of generated picture and tone (bench/tracks.py, which the
relay benchmark shares), viewers that decode what they receive."""

from __future__ import annotations

import array
import asyncio
import itertools
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

from bench.tracks import PatternTrack as PatternTrack
from bench.tracks import ToneTrack as ToneTrack

# No ICE servers: aiortc's default public STUN server stalls gathering on a closed network.
NO_ICE = RTCConfiguration(iceServers=[])


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
    frequency: float = 440.0
    video_size: tuple[int, int] = (320, 240)

    async def offer(self, audio: bool = True, video: bool = True, video_codec: str = "video/VP8") -> str:
        if audio:
            track: MediaStreamTrack = ToneTrack(self.frequency)
            self.tracks.append(track)
            self.pc.addTransceiver(track, direction="sendonly")
        if video:
            track = PatternTrack(*self.video_size)
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
    # Each decoded sound frame as (its RTP timestamp, the tones heard in it), when ``tones`` names some.
    tones: tuple[float, ...] = ()
    heard: list[tuple[int, frozenset[float]]] = field(default_factory=list)
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
                elif isinstance(frame, AudioFrame):
                    if _loud(frame):
                        self.loud_frames += 1
                    if self.tones:
                        self.heard.append((int(frame.pts or 0), tones_in(frame, self.tones)))
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


# A full-scale ToneTrack tone's Goertzel power over a 20 ms frame: (amplitude × samples / 2)².
_FULL_TONE = (8000 * 960 / 2) ** 2


def tones_in(frame: AudioFrame, tones: tuple[float, ...]) -> frozenset[float]:
    """The tones present in a decoded frame (first channel), each at over a third of a ToneTrack's level."""
    samples = array.array("h", bytes(frame.planes[0]))
    channels = len(frame.layout.channels)
    mono = samples[::channels][: frame.samples]
    heard = set()
    for tone in tones:
        k = 2 * math.cos(2 * math.pi * tone / frame.sample_rate)
        s1 = s2 = 0.0
        for x in mono:
            s1, s2 = x + k * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - k * s1 * s2
        if power > 0.1 * _FULL_TONE * (len(mono) / 960) ** 2:
            heard.add(tone)
    return frozenset(heard)


def longest_silence(heard: list[tuple[int, frozenset[float]]], rate: int = 48000) -> float:
    """The longest stretch, in seconds of the stream's own timeline, between two frames with a tone."""
    voiced = [pts for pts, tones in heard if tones]
    longest = 0
    for before, after in itertools.pairwise(voiced):
        longest = max(longest, (after - before) % 2**32 - 960)
    return longest / rate
