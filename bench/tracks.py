"""Generated media sources for the relay benchmark and the media tests: a moving picture and a tone, built
from bytes (no numpy), paced in real time like a camera and a microphone."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90000


class PacedTrack(MediaStreamTrack):
    """A generated source that hands out its frames in real time, like a camera or a microphone: ``_due``
    waits until the next frame is due (the first at once) and gives its index, from 0."""

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.interval = interval
        self._start: float | None = None
        self._count = 0

    async def _due(self) -> int:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count * self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        index = self._count
        self._count += 1
        return index


class PatternTrack(PacedTrack):
    """A moving grey-level ramp at ``fps``; aiortc's VP8 encoder sends a keyframe only at the start and
    when asked (its periodic interval is 3000 frames), which is what the keyframe tests rely on."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__(1 / fps)
        self.width, self.height, self.fps = width, height, fps
        row = bytes((x * 255) // max(1, width - 1) for x in range(width))
        self._luma = [row[i * 8 % width :] + row[: i * 8 % width] for i in range(16)]
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> VideoFrame:
        index = await self._due()
        frame = VideoFrame(self.width, self.height, "yuv420p")
        luma = self._luma[index % len(self._luma)] * self.height
        frame.planes[0].update(luma)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = index * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class ToneTrack(PacedTrack):
    """A 440 Hz tone in 20 ms frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__(0.02)
        samples = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * frequency * n / 48000)) for n in range(960))
        )
        self._pcm = samples.tobytes()

    async def recv(self) -> AudioFrame:
        index = await self._due()
        frame = AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(self._pcm)
        frame.pts = index * 960
        frame.sample_rate = 48000
        frame.time_base = fractions.Fraction(1, 48000)
        return frame
