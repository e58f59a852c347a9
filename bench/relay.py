"""Media relay benchmark: server CPU and memory per viewer, Hemicycle's forwarding relay against aiortc's
stock MediaRelay, measured the same way in the same run.

    python -m bench.relay                                  # 1, 10, 50, 100 viewers; stock relay at 1 and 10
    python -m bench.relay --sizes 1,10 --stock-sizes 1,10 --window 5   # a quick look

Three processes, everything on loopback with no ICE servers:

- the **relay** (``--serve forward`` or ``--serve stock``): an aiohttp server that answers a publisher's and
  viewers' offers. ``forward`` is ``server.media.relay.SessionRelay``, the code Hemicycle runs (RTP
  packets forwarded as they arrive, never decoded); ``stock`` is aiortc's ``MediaRelay``
  (``buffered=False``), which decodes the publisher once and encodes again for every viewer. ``/stats``
  reports the process's CPU time (all threads) and resident memory;
- the **publisher** (``--serve publisher``): 640x480 VP8 at 30 frames/s and a 440 Hz Opus tone, with
  aiortc's encoder (one keyframe at the start and then only on request);
- the **viewers**, N aiortc peer connections spread over --workers processes (2 by default). Each counts the
  packets and frames it receives without re-assembling or decoding them, except one probe viewer per size
  which decodes, to check the pictures are real and to time the first decoded picture.

For each relay and each N: connect N viewers (10 at a time), wait until every one has had a picture, let it
settle for --settle seconds, then measure --window seconds. CPU per viewer is the relay process's CPU time
over the window, less what it used with the publisher and no viewer, divided by N. "At 30 fps" scales it by
30 / the frames per second the relay actually handed to each viewer's sender ("sent fps": on a busy machine
fewer frames are forwarded for the time measured); the comparisons use that. The publisher and the viewers
run at nice 10, so that the relay, which is measured, gets the CPU first. Memory per viewer is the resident
memory less that with no viewer, divided by N. The load average is printed with each row: other work on the
machine shows there. Also printed: the frames per second each viewer received, the time from sending the
offer to the first picture (median and max over the N viewers, and to the probe's first decoded picture),
and for the forwarding relay the transit time of a packet through it (from the relay reading it to its copy
being handed to a viewer's socket). The stock relay saturates a 2-core machine at a few tens of viewers,
hence its own, smaller --stock-sizes. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import socket
import statistics
import sys
import time
from asyncio.subprocess import PIPE
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.media.edge import EdgeRelay, needed_links
from server.media.relay import ROOM, SessionRelay

NO_ICE = RTCConfiguration(iceServers=[])
# Viewers who subscribe one after another once the N are connected, each timed to its first decoded picture.
LATE_VIEWERS = 5
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# -- the relay process ---------------------------------------------------------------------------------


class Counted(MediaStreamTrack):
    """Counts the video frames a stock-relay viewer's sender takes (to encode them)."""

    kind = "video"

    def __init__(self, track: MediaStreamTrack, owner: StockRelay) -> None:
        super().__init__()
        self.track = track
        self.owner = owner

    async def recv(self) -> Any:
        frame = await self.track.recv()
        self.owner.sent_frames += 1
        return frame


class StockRelay:
    """aiortc's own way: MediaRelay fans decoded frames out, each viewer's sender encodes them again."""

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.viewers: list[RTCPeerConnection] = []

    async def publish(self, offer: str) -> str:
        pc = RTCPeerConnection(NO_ICE)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks[track.kind] = track

        return await self._answer(pc, offer)

    async def view(self, offer: str) -> str:
        pc = RTCPeerConnection(NO_ICE)
        self.viewers.append(pc)
        for kind in ("audio", "video"):
            track = self.relay.subscribe(self.tracks[kind], buffered=False)
            pc.addTransceiver(Counted(track, self) if kind == "video" else track, direction="sendonly")
        return await self._answer(pc, offer)

    sent_frames = 0

    async def _answer(self, pc: RTCPeerConnection, offer: str) -> str:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def transit(self) -> list[float]:
        return []

    def clear_transit(self) -> None:
        return None

    async def close_viewers(self) -> None:
        viewers, self.viewers = self.viewers, []
        for pc in viewers:
            await pc.close()


class ForwardRelay:
    def __init__(self) -> None:
        self.relay = SessionRelay(1, lambda: NO_ICE, connect_timeout=60.0)
        self.viewers = 1  # each viewer a participant of its own, as attendees are

    async def publish(self, offer: str) -> str:
        return str((await self.relay.publish(offer, ROOM, 1)).answer)

    async def view(self, offer: str) -> str:
        self.viewers += 1
        return str((await self.relay.view(offer, ROOM, self.viewers)).answer)

    def transit(self) -> list[float]:
        return list(self.relay.feed(ROOM, "video").stats.transit) + list(
            self.relay.feed(ROOM, "audio").stats.transit
        )

    @property
    def sent_frames(self) -> int:
        return sum(
            peer.tracks["video"].sent_frames for peer in self.relay.peers.values() if "video" in peer.tracks
        )

    def clear_transit(self) -> None:
        self.relay.feed(ROOM, "video").stats.transit.clear()
        self.relay.feed(ROOM, "audio").stats.transit.clear()

    async def close_viewers(self) -> None:
        for peer in list(self.relay.peers.values()):
            # A viewer that went away may have been ended by the relay meanwhile.
            if peer.role == "view" and peer.id in self.relay.peers:
                await self.relay.stop(peer.id)


class EdgeBench(ForwardRelay):
    """An edge relay (``server.media.edge.EdgeRelay``): viewers here, sources pulled from the origin."""

    def __init__(self, origin_url: str) -> None:
        self.origin_url = origin_url
        self.http: aiohttp.ClientSession | None = None
        self.relay = EdgeRelay(1, lambda: NO_ICE, 60.0, self._upstream)
        self.viewers = 1

    async def _upstream(self, session_id: int, source: str, offer: str) -> tuple[str, str]:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        async with self.http.post(f"{self.origin_url}/pull", params={"source": source}, data=offer) as r:
            return await r.text(), "origin"

    async def view(self, offer: str) -> str:
        assert isinstance(self.relay, EdgeRelay)
        self.viewers += 1
        async with self.relay.holding(needed_links(ROOM, None, ("audio", "video"))):
            return str((await self.relay.view(offer, ROOM, self.viewers)).answer)

    def transit(self) -> list[float]:
        # Added by this tier: from a packet of the link reaching the edge to its copy leaving for a viewer.
        return list(self.relay.feed(ROOM, "video").stats.transit) + list(
            self.relay.feed("channel:floor", "audio").stats.transit
        )

    def clear_transit(self) -> None:
        self.relay.feed(ROOM, "video").stats.transit.clear()
        self.relay.feed("channel:floor", "audio").stats.transit.clear()


async def serve_relay(mode: str, port: int, origin_url: str = "") -> None:
    relay: StockRelay | ForwardRelay = ForwardRelay()
    if mode != "forward":
        relay = EdgeBench(origin_url) if mode == "edge" else StockRelay()
    app = web.Application(client_max_size=1 << 20)
    edges = 0

    async def pull(request: web.Request) -> web.Response:
        """An edge's link (the forwarding relay as an origin)."""
        nonlocal edges
        assert isinstance(relay, ForwardRelay)
        edges += 1
        peer = await relay.relay.pull(await request.text(), request.query["source"], f"edge-{edges}")
        return web.Response(text=peer.answer)

    async def publish(request: web.Request) -> web.Response:
        return web.Response(text=await relay.publish(await request.text()))

    async def view(request: web.Request) -> web.Response:
        return web.Response(text=await relay.view(await request.text()))

    async def stats(request: web.Request) -> web.Response:
        """CPU time and memory now, and the transit times since the last call."""
        gc.collect()
        transit = relay.transit()
        relay.clear_transit()
        return web.json_response(
            {
                "cpu": time.process_time(),
                "rss_kib": rss_kib(),
                "transit": transit,
                "sent_video_frames": relay.sent_frames,
            }
        )

    async def reset(request: web.Request) -> web.Response:
        await relay.close_viewers()
        return web.json_response({})

    app.router.add_post("/publish", publish)
    app.router.add_post("/view", view)
    app.router.add_post("/pull", pull)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


# -- the publisher process -----------------------------------------------------------------------------


async def serve_publisher(relay_url: str) -> None:
    os.nice(10)  # the load generators yield to the relay, which is what is measured
    from bench.tracks import PatternTrack, ToneTrack

    pc = RTCPeerConnection(NO_ICE)
    pc.addTransceiver(ToneTrack(), direction="sendonly")
    pc.addTransceiver(PatternTrack(640, 480, 30), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{relay_url}/publish", data=pc.localDescription.sdp) as r,
    ):
        answer = await r.text()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    print("ready", flush=True)
    await asyncio.Event().wait()


# -- the viewers (this process) ------------------------------------------------------------------------


@dataclass
class BenchViewer:
    decode: bool
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(NO_ICE))
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    asked_at: float = 0.0
    connected_at: float | None = None
    first_picture: float | None = None
    first_decoded: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    decoded: asyncio.Event = field(default_factory=asyncio.Event)

    async def connect(self, http: aiohttp.ClientSession, relay_url: str) -> None:
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if not self.decode:
                # Count what arrives without re-assembling or decoding it: in one Python process, the
                # viewers must cost less than the relay they measure.
                transceiver.receiver._handle_rtp_packet = self._counter(kind)  # type: ignore[method-assign]

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if self.decode:
                self.tasks.append(asyncio.ensure_future(self._consume(track)))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected" and self.connected_at is None:
                self.connected_at = time.perf_counter()

        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.asked_at = time.perf_counter()
        async with http.post(f"{relay_url}/view", data=self.pc.localDescription.sdp) as response:
            answer = await response.text()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def _counter(self, kind: str) -> Any:
        async def counted(packet: Any, arrival_time_ms: int) -> None:
            if kind == "audio":
                self.frames["audio"] += 1
                return
            if packet.marker:
                self.frames["video"] += 1
            if self.first_picture is None and packet.payload:
                descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
                if descriptor.partition_start and descriptor.partition_id == 0 and data and not data[0] & 1:
                    self.first_picture = time.perf_counter()

        return counted

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.frames[track.kind] += 1
                if track.kind == "video" and self.first_decoded is None:
                    self.first_decoded = self.first_picture = time.perf_counter()
                    self.decoded.set()
        except MediaStreamError:
            return

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()


async def ask(worker: asyncio.subprocess.Process, command: str | None) -> dict[str, Any]:
    """Send a viewers worker a command (None: wait for its first line) and read its JSON answer."""
    assert worker.stdin is not None and worker.stdout is not None
    if command is not None:
        worker.stdin.write(command.encode() + b"\n")
        await worker.stdin.drain()
    line = await worker.stdout.readline()
    answer: dict[str, Any] = json.loads(line or b"{}")
    return answer


async def serve_viewers(relay_url: str, count: int, probe: bool) -> None:
    """A viewers worker: connects ``count`` viewers, then answers mark, report and close on stdin."""
    os.nice(10)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    viewers = [BenchViewer(decode=probe and i == 0) for i in range(count)]
    async with aiohttp.ClientSession() as http:
        for start in range(0, count, 10):
            await asyncio.gather(*(v.connect(http, relay_url) for v in viewers[start : start + 10]))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(v.first_picture is not None for v in viewers):
                break
            await asyncio.sleep(0.05)
        print(json.dumps({"ready": True}), flush=True)
        marks = [0] * count
        marked_at = time.monotonic()
        while command := (await reader.readline()).decode().strip():
            if command == "mark":
                marks = [v.frames["video"] for v in viewers]
                marked_at = time.monotonic()
                print(json.dumps({"marked": True}), flush=True)
            elif command == "report":
                elapsed = max(time.monotonic() - marked_at, 1e-3)
                report = {
                    "fps": [(v.frames["video"] - m) / elapsed for v, m in zip(viewers, marks, strict=True)],
                    "first": [v.first_picture - v.asked_at for v in viewers if v.first_picture is not None],
                    "connected": [v.connected_at - v.asked_at for v in viewers if v.connected_at is not None],
                    "without": sum(v.first_picture is None for v in viewers),
                    "first_decoded": viewers[0].first_decoded - viewers[0].asked_at
                    if viewers[0].first_decoded
                    else None,
                }
                print(json.dumps(report), flush=True)
            elif command == "late":
                # One viewer more at a time, into the running relay: subscribe to first decoded picture.
                late = []
                for _ in range(LATE_VIEWERS):
                    viewer = BenchViewer(decode=True)
                    await viewer.connect(http, relay_url)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(viewer.decoded.wait(), 10)
                    if viewer.first_decoded is not None:
                        late.append(viewer.first_decoded - viewer.asked_at)
                    await viewer.close()
                print(json.dumps({"late": late}), flush=True)
            elif command == "close":
                for viewer in viewers:
                    await viewer.close()
                print(json.dumps({"closed": True}), flush=True)
                return


async def relay_stats(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/stats") as response:
        result: dict[str, Any] = await response.json()
        return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(mode: str, sizes: list[int], args: argparse.Namespace) -> list[dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    relay = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.relay", "--serve", mode, "--port", str(port), cwd=ROOT, stdout=PIPE
    )
    publisher = None
    results = []
    try:
        assert relay.stdout is not None
        await relay.stdout.readline()
        publisher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.relay",
            "--serve",
            "publisher",
            "--relay-url",
            url,
            cwd=ROOT,
            stdout=PIPE,
        )
        assert publisher.stdout is not None
        await publisher.stdout.readline()
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(args.settle)
            idle0 = await relay_stats(http, url)
            await asyncio.sleep(args.window)
            idle1 = await relay_stats(http, url)
            idle_cpu = (idle1["cpu"] - idle0["cpu"]) / args.window
            for n in sizes:
                # The viewers, split over worker processes: one Python process cannot receive 100 streams.
                shares = [n // args.workers + (1 if i < n % args.workers else 0) for i in range(args.workers)]
                workers = [
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "bench.relay",
                        "--serve",
                        "viewers",
                        "--relay-url",
                        url,
                        "--count",
                        str(count),
                        "--probe",
                        "1" if i == 0 else "0",
                        cwd=ROOT,
                        stdin=PIPE,
                        stdout=PIPE,
                    )
                    for i, count in enumerate(shares)
                    if count
                ]
                await asyncio.gather(*(ask(w, None) for w in workers))  # connected, every one with a picture
                await asyncio.sleep(args.settle)
                before = await relay_stats(http, url)
                await asyncio.gather(*(ask(w, "mark") for w in workers))
                await asyncio.sleep(args.window)
                after = await relay_stats(http, url)
                reports = await asyncio.gather(*(ask(w, "report") for w in workers))
                late = (await ask(workers[0], "late"))["late"]
                for worker in workers:
                    await ask(worker, "close")
                    await worker.wait()
                fps = [f for r in reports for f in r["fps"]]
                cpu = (after["cpu"] - before["cpu"]) / args.window
                # Frames per second the relay handed to each viewer's sender, as the relay counts them.
                forwarded = (after["sent_video_frames"] - before["sent_video_frames"]) / args.window / n
                first = [t for r in reports for t in r["first"]]
                connected = [t for r in reports for t in r["connected"]]
                first_decoded = reports[0]["first_decoded"]
                transit = after["transit"]
                results.append(
                    {
                        "relay": mode,
                        "viewers": n,
                        "cpu_core": cpu,
                        "cpu_per_viewer": (cpu - idle_cpu) / n,
                        "rss_mib": after["rss_kib"] / 1024,
                        "mem_per_viewer_kib": (after["rss_kib"] - idle1["rss_kib"]) / n,
                        "fps_median": statistics.median(fps),
                        "fps_min": min(fps),
                        "without_picture": sum(r["without"] for r in reports),
                        "first_picture_median_ms": 1000 * statistics.median(first) if first else None,
                        "first_picture_max_ms": 1000 * max(first) if first else None,
                        "first_decoded_ms": 1000 * first_decoded if first_decoded else None,
                        "connected_median_ms": 1000 * statistics.median(connected) if connected else None,
                        "connected_max_ms": 1000 * max(connected) if connected else None,
                        "late_decoded_median_ms": 1000 * statistics.median(late) if late else None,
                        "late_decoded_max_ms": 1000 * max(late) if late else None,
                        "transit_p50_ms": 1000 * pct(transit, 0.5) if transit else None,
                        "transit_p99_ms": 1000 * pct(transit, 0.99) if transit else None,
                        "idle_cpu_core": idle_cpu,
                        # What a viewer would cost at the publisher's full 30 frames/s: when the machine
                        # cannot keep up, fewer frames were forwarded for the CPU time measured.
                        "forwarded_fps": forwarded,
                        "cpu_per_viewer_full_rate": (cpu - idle_cpu) / n * 30 / max(forwarded, 1),
                        "load_average": os.getloadavg()[0],
                    }
                )
                print(json.dumps(results[-1]), flush=True)
                async with http.post(f"{url}/reset"):
                    pass
                await asyncio.sleep(1)
    finally:
        for process in (publisher, relay):
            if process is not None:
                process.kill()
                await process.wait()
    return results


async def spawn(*argv: str, stdin: int | None = None) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.relay", *argv, cwd=ROOT, stdin=stdin, stdout=PIPE
    )
    return process


async def measure_cascade(edge_count: int, args: argparse.Namespace) -> dict[str, Any]:
    """One origin with its publisher, ``edge_count`` edge processes, --per-edge viewers on each (their own
    viewers worker each): the origin's CPU per edge, an edge's CPU per viewer, the transit each tier adds,
    the time to the first picture through an edge."""
    port = free_port()
    origin_url = f"http://127.0.0.1:{port}"
    processes: list[asyncio.subprocess.Process] = []
    workers: list[asyncio.subprocess.Process] = []
    try:
        origin = await spawn("--serve", "forward", "--port", str(port))
        processes.append(origin)
        assert origin.stdout is not None
        await origin.stdout.readline()
        publisher = await spawn("--serve", "publisher", "--relay-url", origin_url)
        processes.append(publisher)
        assert publisher.stdout is not None
        await publisher.stdout.readline()
        edge_urls = []
        for _ in range(edge_count):
            edge_port = free_port()
            edge = await spawn("--serve", "edge", "--port", str(edge_port), "--origin-url", origin_url)
            processes.append(edge)
            assert edge.stdout is not None
            await edge.stdout.readline()
            edge_urls.append(f"http://127.0.0.1:{edge_port}")
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(args.settle)
            idle0 = await relay_stats(http, origin_url)
            await asyncio.sleep(args.window)
            idle1 = await relay_stats(http, origin_url)
            idle_cpu = (idle1["cpu"] - idle0["cpu"]) / args.window
            for index, url in enumerate(edge_urls):
                workers.append(
                    await spawn(
                        "--serve",
                        "viewers",
                        "--relay-url",
                        url,
                        "--count",
                        str(args.per_edge),
                        "--probe",
                        "1" if index == 0 else "0",
                        stdin=PIPE,
                    )
                )
            await asyncio.gather(*(ask(w, None) for w in workers))
            await asyncio.sleep(args.settle)
            urls = [origin_url, *edge_urls]
            before = [await relay_stats(http, url) for url in urls]
            await asyncio.gather(*(ask(w, "mark") for w in workers))
            await asyncio.sleep(args.window)
            after = [await relay_stats(http, url) for url in urls]
            reports = await asyncio.gather(*(ask(w, "report") for w in workers))
            late = (await ask(workers[0], "late"))["late"]
            for worker in workers:
                await ask(worker, "close")
                await worker.wait()
        cpu = [(a["cpu"] - b["cpu"]) / args.window for a, b in zip(after, before, strict=True)]
        origin_transit = after[0]["transit"]
        edge_transit = [t for a in after[1:] for t in a["transit"]]
        first = [t for r in reports for t in r["first"]]
        fps = [f for r in reports for f in r["fps"]]
        result = {
            "edges": edge_count,
            "viewers_per_edge": args.per_edge,
            "origin_cpu_core": cpu[0],
            "origin_cpu_per_edge": (cpu[0] - idle_cpu) / edge_count,
            "edge_cpu_core": statistics.mean(cpu[1:]),
            "edge_cpu_per_viewer": statistics.mean(cpu[1:]) / args.per_edge,
            "origin_transit_p50_ms": 1000 * pct(origin_transit, 0.5) if origin_transit else None,
            "edge_transit_p50_ms": 1000 * pct(edge_transit, 0.5) if edge_transit else None,
            "edge_transit_p99_ms": 1000 * pct(edge_transit, 0.99) if edge_transit else None,
            "first_picture_median_ms": 1000 * statistics.median(first) if first else None,
            "first_picture_max_ms": 1000 * max(first) if first else None,
            "late_decoded_median_ms": 1000 * statistics.median(late) if late else None,
            "fps_median": statistics.median(fps),
            "without_picture": sum(r["without"] for r in reports),
            "load_average": os.getloadavg()[0],
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        for process in [*workers, *processes]:
            if process.returncode is None:
                process.kill()
                await process.wait()


def report_cascade(results: list[dict[str, Any]]) -> None:
    def fmt(value: Any, spec: str = ".2f") -> str:
        return "-" if value is None else format(value, spec)

    print()
    print(
        "edges  viewers/edge  origin CPU/edge(%core)  edge CPU/viewer(%core)  transit origin p50 / edge "
        "p50,p99 (ms)  1st picture via edge med/max (ms)  late decoded (ms)  recv fps  load"
    )
    for r in results:
        print(
            f"{r['edges']:5d}  {r['viewers_per_edge']:12d}  {100 * r['origin_cpu_per_edge']:22.2f}  "
            f"{100 * r['edge_cpu_per_viewer']:22.2f}  {fmt(r['origin_transit_p50_ms']):>18} / "
            f"{fmt(r['edge_transit_p50_ms'])},{fmt(r['edge_transit_p99_ms'])}  "
            f"{fmt(r['first_picture_median_ms'], '.0f'):>21}/{fmt(r['first_picture_max_ms'], '.0f'):<12}  "
            f"{fmt(r['late_decoded_median_ms'], '.0f'):>17}  {r['fps_median']:8.1f}  {r['load_average']:.1f}"
        )


def report(results: list[dict[str, Any]]) -> None:
    def fmt(value: Any, spec: str = ".1f") -> str:
        return "-" if value is None else format(value, spec)

    print()
    print(
        "relay    viewers  CPU(core)  CPU/viewer(%core)  at 30 fps  viewers/core  RSS(MiB)  mem/viewer(KiB)"
        "  sent fps  recv fps med/min  connected med/max(ms)  1st picture med/max(ms)  1st decoded(ms)"
        "  late decoded med/max(ms)  transit p50/p99(ms)  load"
    )
    for r in results:
        per = r["cpu_per_viewer_full_rate"]
        print(
            f"{r['relay']:8} {r['viewers']:7d}  {r['cpu_core']:9.3f}  {100 * r['cpu_per_viewer']:17.2f}  "
            f"{100 * per:9.2f}  "
            f"{fmt(1 / per if per > 0 else None, '12.0f'):>12}  {r['rss_mib']:8.1f}  "
            f"{r['mem_per_viewer_kib']:15.0f}  "
            f"{r['forwarded_fps']:8.1f}  {r['fps_median']:10.1f}/{r['fps_min']:4.1f}  "
            f"{fmt(r['connected_median_ms'], '10.0f'):>10}/{fmt(r['connected_max_ms'], '.0f'):<11}  "
            f"{fmt(r['first_picture_median_ms'], '10.0f'):>10}/"
            f"{fmt(r['first_picture_max_ms'], '.0f'):<13}  {fmt(r['first_decoded_ms'], '15.0f'):>15}  "
            f"{fmt(r['late_decoded_median_ms'], '13.0f'):>13}/{fmt(r['late_decoded_max_ms'], '.0f'):<11}  "
            f"{fmt(r['transit_p50_ms'], '.2f')}/{fmt(r['transit_p99_ms'], '.2f'):<13}  "
            f"{r['load_average']:.1f}"
        )
    stock = {r["viewers"]: r for r in results if r["relay"] == "stock"}
    print()
    for r in results:
        if r["relay"] == "forward" and r["viewers"] in stock and r["cpu_per_viewer_full_rate"] > 0:
            ratio = stock[r["viewers"]]["cpu_per_viewer_full_rate"] / r["cpu_per_viewer_full_rate"]
            mem = stock[r["viewers"]]["mem_per_viewer_kib"] / max(r["mem_per_viewer_kib"], 1)
            print(f"{r['viewers']:4d} viewers: stock/forward CPU per viewer {ratio:.1f}x, memory {mem:.1f}x")


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    stock_sizes = [int(s) for s in args.stock_sizes.split(",") if s]
    edges = [int(s) for s in args.edges.split(",") if s]
    if edges:
        cascade = [await measure_cascade(count, args) for count in edges]
        report_cascade(cascade)
        if not args.sizes:
            return
    results = await measure("forward", sizes, args)
    if stock_sizes:
        results += await measure("stock", stock_sizes, args)
    report(results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,10,50,100", help="viewer counts for the forwarding relay")
    parser.add_argument("--stock-sizes", default="1,10", help="viewer counts for aiortc's MediaRelay")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per size")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to settle before measuring")
    parser.add_argument("--workers", type=int, default=2, help="processes the viewers are spread over")
    parser.add_argument(
        "--serve", choices=["forward", "stock", "edge", "publisher", "viewers"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--edges",
        default="",
        help="edge relay processes to measure behind one origin (e.g. 1,2), each with --per-edge viewers",
    )
    parser.add_argument("--per-edge", type=int, default=10, help="viewers on each edge relay")
    parser.add_argument("--origin-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--relay-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve in ("forward", "stock", "edge"):
        asyncio.run(serve_relay(args.serve, args.port, args.origin_url))
    elif args.serve == "publisher":
        asyncio.run(serve_publisher(args.relay_url))
    elif args.serve == "viewers":
        asyncio.run(serve_viewers(args.relay_url, args.count, bool(args.probe)))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
