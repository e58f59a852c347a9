"""Booth latency benchmark: how long a remote speaker's sound takes to reach an interpreter, against baselines
measured the same way in the same run.

    python -m bench.booth                 # 40 bursts per path (about a minute)
    python -m bench.booth --bursts 10     # a quick look

One process, everything on loopback with no ICE servers, through ``server.media.relay.SessionRelay`` (the
code Hemicycle runs). The **speaker** is an aiortc peer publishing the ``speaker`` source: 20 ms Opus frames
of silence with a 1 kHz burst of 100 ms every ``--period`` seconds; the time each burst's first frame is
handed to the encoder is noted. Each **listener** is an aiortc peer that decodes what it receives and notes
when the first loud frame after a silence comes out of its decoder. Latency is the second time less the
first: encoder, packetisation, the relay, the listener's jitter buffer and decoder, as an interpreter's
browser would add them.

The paths, all measured at once on the same bursts:

- **interpreter (direct)**: an interpreter's floor listening (``direct``): the relay forwards the speaker's
  own publication to them while the speaker holds the floor;
- **speaker viewer** (baseline): a plain viewer of the ``speaker`` source, as the AV desk receives it: the
  same one hop, so the ratio to it says what the direct path costs beyond the relay's forwarding (about 1);
- **through the AV desk** (baseline): the floor as an interpreter would hear it without ``direct``: the AV
  desk receives the speaker, its mixer's output goes back as the room feed (decoded and encoded again here,
  as a mixer does), and the listener hears the room's sound: two hops and a second encoding.

Printed: median and 95th percentile per path, and each baseline's median as a multiple of the direct one. The
target is a direct median at or under 300 ms on loopback. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import fractions
import math
import statistics
import time
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from bench.tracks import PacedTrack
from server.media.relay import ROOM, SPEAKER, SessionRelay

NO_ICE = RTCConfiguration(iceServers=[])
RATE = 48000
FRAME = 960  # 20 ms
LOUD = 2000
TARGET_MS = 300.0


class BurstTrack(PacedTrack):
    """Silence with a 1 kHz burst of 100 ms every ``period`` seconds, paced in real time; notes each burst's
    start (perf_counter) as its first frame leaves for the encoder."""

    kind = "audio"

    def __init__(self, period: float) -> None:
        super().__init__(FRAME / RATE)
        self.every = round(period / 0.02)
        tone = array.array("h", (int(8000 * math.sin(2 * math.pi * 1000 * n / RATE)) for n in range(FRAME)))
        self._tone = tone.tobytes()
        self._silence = bytes(2 * FRAME)
        self.starts: list[float] = []

    async def recv(self) -> AudioFrame:
        index = await self._due()
        phase = index % self.every
        loud = index > 0 and phase < 5
        if loud and phase == 0:
            self.starts.append(time.perf_counter())
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(self._tone if loud else self._silence)
        frame.pts = index * FRAME
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


@dataclass
class Listener:
    """Decodes; notes when each burst comes out of the decoder."""

    name: str
    wanted: int  # bursts to hear before ``heard_enough`` is set
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(NO_ICE))
    onsets: list[float] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    heard_enough: asyncio.Event = field(default_factory=asyncio.Event)

    async def offer(self) -> str:
        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

        self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def _consume(self, track: MediaStreamTrack) -> None:
        quiet = 0
        try:
            while True:
                frame = await track.recv()
                samples = array.array("h", bytes(frame.planes[0]))
                loud = bool(samples) and max(abs(s) for s in samples[::8]) > LOUD
                if loud and quiet >= 5:
                    self.onsets.append(time.perf_counter())
                    if len(self.onsets) >= self.wanted:
                        self.heard_enough.set()
                quiet = 0 if loud else quiet + 1
        except MediaStreamError:
            return

    def latencies(self, starts: list[float]) -> list[float]:
        """Each onset less the latest burst start before it (ms); onsets with no start before are dropped."""
        found = []
        for onset in self.onsets:
            before = [s for s in starts if s <= onset]
            if before:
                found.append(1000 * (onset - before[-1]))
        return found

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def answered(pc: RTCPeerConnection, answer: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


async def run(bursts: int, period: float) -> dict[str, list[float]]:
    relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=20.0)
    speaker = RTCPeerConnection(NO_ICE)
    desk_in = Listener("desk", 0)  # the AV desk's receiver of the speaker (its mixer's input)
    desk_out = RTCPeerConnection(NO_ICE)
    wanted = bursts + 2
    listeners = [
        Listener("interpreter (direct)", wanted),
        Listener("speaker viewer", wanted),
        Listener("through the AV desk", wanted),
    ]
    source = BurstTrack(period)
    try:
        speaker.addTransceiver(source, direction="sendonly")
        await speaker.setLocalDescription(await speaker.createOffer())
        peer = await relay.publish(speaker.localDescription.sdp, SPEAKER, 1)
        await answered(speaker, peer.answer)

        # The AV desk: the speaker's sound in, the "mixer" out as the room feed (decoded and encoded again).
        mixed: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

        @desk_in.pc.on("track")
        def on_desk_track(track: MediaStreamTrack) -> None:
            if not mixed.done():
                mixed.set_result(track)

        desk_in.pc.addTransceiver("audio", direction="recvonly")
        await desk_in.pc.setLocalDescription(await desk_in.pc.createOffer())
        peer = await relay.view(desk_in.pc.localDescription.sdp, SPEAKER, 2)
        await answered(desk_in.pc, peer.answer)
        desk_out.addTransceiver(await asyncio.wait_for(mixed, 20), direction="sendonly")
        await desk_out.setLocalDescription(await desk_out.createOffer())
        peer = await relay.publish(desk_out.localDescription.sdp, ROOM, 2)
        await answered(desk_out, peer.answer)

        direct, plain, through = listeners
        peer = await relay.view(await direct.offer(), ROOM, 3, "floor", audio_only=True, direct=True)
        await direct.accept(peer.answer)
        peer = await relay.view(await plain.offer(), SPEAKER, 4, audio_only=True)
        await plain.accept(peer.answer)
        peer = await relay.view(await through.offer(), ROOM, 5, "floor", audio_only=True)
        await through.accept(peer.answer)

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(x.heard_enough.wait() for x in listeners)), 30 + bursts * period * 2
            )
        # The first two bursts of each path are left out: connections settle (jitter buffers, bandwidth).
        return {x.name: x.latencies(source.starts)[2 : bursts + 2] for x in listeners}
    finally:
        for listener in [*listeners, desk_in]:
            await listener.close()
        await desk_out.close()
        await speaker.close()
        await relay.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bursts", type=int, default=40, help="bursts measured per path")
    parser.add_argument("--period", type=float, default=0.6, help="seconds between bursts")
    args = parser.parse_args()
    results = asyncio.run(run(args.bursts, args.period))
    direct = results["interpreter (direct)"]
    if not direct:
        raise SystemExit("no burst reached the interpreter")
    base = statistics.median(direct)
    print(f"floor source -> listener latency on loopback, {args.bursts} bursts per path (ms)")
    print(f"{'path':<24}{'n':>4}{'median':>9}{'p95':>9}{'x direct':>10}")
    for name, values in results.items():
        if not values:
            print(f"{name:<24}{0:>4}{'-':>9}{'-':>9}{'-':>10}")
            continue
        median = statistics.median(values)
        print(f"{name:<24}{len(values):>4}{median:>9.1f}{p95(values):>9.1f}{median / base:>10.2f}")
    verdict = "within" if base <= TARGET_MS else "over"
    print(f"interpreter median {base:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
