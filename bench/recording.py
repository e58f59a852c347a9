"""Recording benchmark: what writing a source to a file costs the relay process, against not writing it,
measured the same way in the same run.

    python -m bench.recording                       # 3 rounds of 10 s off, on, off
    python -m bench.recording --rounds 1 --window 3 # a quick look

Two processes, on loopback with no ICE servers:

- the **relay**: ``server.media.relay.SessionRelay``, the code Hemicycle runs, with a recorder that can be
  attached to its floor and detached: the floor's video and sound written by ``server.recording.recorder``'s
  ``TrackRecorder`` (the same viewer-like sink and ``SegmentWriter`` a session's recording uses, without the
  database rows, whose once-a-second update is not per packet) into a WebM file in a temporary directory.
  ``/stats`` gives the process's CPU time (all threads);
- the **publisher** (``bench.relay``'s): 640x480 VP8 at 30 frames/s and an Opus tone, at nice 10.

Each round measures --window seconds with nothing recorded, then --window seconds recording, then again
without; "off" is the mean of the rounds' two unrecorded windows. Printed: the relay's CPU seconds per second
of media off and on, their ratio, and the recorder's cost in % of one core (on - off), against the budget of
5 % of a core per recorded source (issue 22); and the frames written and the file's bytes per second. The load
average is printed too: other work on the machine shows there. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from asyncio.subprocess import PIPE
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.relay import ROOT, ForwardRelay, free_port
from server.db.recording_store import Segment
from server.media.relay import ROOM
from server.recording.recorder import TrackRecorder

BUDGET_PERCENT = 5.0


async def serve_relay(port: int, directory: Path) -> None:
    relay = ForwardRelay()
    recorder: TrackRecorder | None = None
    files = 0
    faults: list[str] = []

    async def publish(request: web.Request) -> web.Response:
        return web.Response(text=await relay.publish(await request.text()))

    async def record(request: web.Request) -> web.Response:
        nonlocal recorder, files
        if request.query.get("on") == "1":
            files += 1
            now = datetime.now(UTC)
            segment = Segment(
                files,
                1,
                "floor",
                f"floor-{files}.webm",
                "webm",
                ("vp8", "opus"),
                now,
                None,
                0,
                False,
                "bench",
            )
            recorder = TrackRecorder(
                "floor",
                segment,
                directory / segment.path,
                relay.relay.feed(ROOM, "video").mime,
                lambda e: faults.append(str(e)),
            )
            recorder.follow("video", relay.relay.feed(ROOM, "video"))
            recorder.follow("audio", relay.relay.channel_feed("floor"))
            return web.json_response({})
        done = recorder
        recorder = None
        if done is None:
            return web.json_response({"frames": 0, "bytes": 0})
        done.detach()
        done.writer.close()
        return web.json_response({"frames": done.writer.frames, "bytes": done.writer.bytes, "faults": faults})

    async def stats(request: web.Request) -> web.Response:
        video = relay.relay.feed(ROOM, "video").stats
        return web.json_response(
            {"cpu": time.process_time(), "frames": video.frames, "keyframes": video.keyframes}
        )

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/publish", publish)
    app.router.add_post("/record", record)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def spawn(module: str, *argv: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", module, *argv, cwd=ROOT, stdout=PIPE)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    if line.strip() != b"ready":
        raise SystemExit(f"{module} did not start: {line!r}")
    return process


async def window(http: aiohttp.ClientSession, url: str, seconds: float) -> dict[str, float]:
    """The relay's CPU seconds and the publisher's frames over ``seconds`` of media."""
    async with http.get(f"{url}/stats") as response:
        before = await response.json()
    started = time.monotonic()
    await asyncio.sleep(seconds)
    async with http.get(f"{url}/stats") as response:
        after = await response.json()
    elapsed = time.monotonic() - started
    return {
        "cpu_per_second": (after["cpu"] - before["cpu"]) / elapsed,
        "fps": (after["frames"] - before["frames"]) / elapsed,
        "seconds": elapsed,
    }


async def main_async(args: argparse.Namespace) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="hemicycle-bench-recording-") as directory:
        relay = await spawn(
            "bench.recording", "--serve", "relay", "--port", str(port), "--directory", directory
        )
        publisher = await spawn("bench.relay", "--serve", "publisher", "--relay-url", url)
        try:
            async with aiohttp.ClientSession() as http:
                await asyncio.sleep(args.settle)
                off: list[float] = []
                on: list[float] = []
                written: list[tuple[int, int, float]] = []
                fps: list[float] = []
                for _round in range(args.rounds):
                    off.append((await window(http, url, args.window))["cpu_per_second"])
                    async with http.post(f"{url}/record?on=1") as response:
                        await response.json()
                    measured = await window(http, url, args.window)
                    async with http.post(f"{url}/record?on=0") as response:
                        result: dict[str, Any] = await response.json()
                    if result.get("faults"):
                        raise SystemExit(f"the recorder failed: {result['faults']}")
                    on.append(measured["cpu_per_second"])
                    fps.append(measured["fps"])
                    written.append((result["frames"], result["bytes"], measured["seconds"]))
                    off.append((await window(http, url, args.window))["cpu_per_second"])
        finally:
            for process in (publisher, relay):
                process.terminate()
                await process.wait()
    report(off, on, written, fps)


def report(
    off: list[float], on: list[float], written: list[tuple[int, int, float]], fps: list[float]
) -> None:
    without = statistics.mean(off)
    with_recorder = statistics.mean(on)
    cost = 100 * (with_recorder - without)
    frames = sum(w[0] for w in written)
    size = sum(w[1] for w in written)
    seconds = sum(w[2] for w in written)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"source: 640x480 VP8 at {statistics.mean(fps):.1f} frames/s measured, and Opus")
    print(
        f"relay CPU seconds per second of media, not recording: {without:.4f} (windows: "
        f"{', '.join(f'{x:.4f}' for x in off)})"
    )
    print(
        f"relay CPU seconds per second of media, recording:     {with_recorder:.4f} (windows: "
        f"{', '.join(f'{x:.4f}' for x in on)})"
    )
    print(f"ratio recording / not recording: {with_recorder / without:.3f}" if without else "ratio: n/a")
    print(
        f"recorder cost: {cost:.2f} % of a core per recorded source (budget {BUDGET_PERCENT:.0f} %): "
        f"{'within' if cost < BUDGET_PERCENT else 'OVER'} budget"
    )
    print(f"written: {frames} frames, {size / max(seconds, 1e-9) / 1000:.1f} kB/s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of off, on, off")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to settle before measuring")
    parser.add_argument("--serve", choices=["relay"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--directory", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "relay":
        asyncio.run(serve_relay(args.port, Path(args.directory)))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
