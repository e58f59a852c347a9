"""The baseline for bench.fanout: a bare python-socketio server doing the same fan-out, with no database,
no authentication and no per-participant messages.

Every connection joins one room. `trigger` (the moderator's action) emits a `floor`-shaped message to the
room at once; `hand:raise` / `hand:lower` are acknowledged and, like Hemicycle, coalesced over 50 ms into one
`floor` broadcast, followed, like Hemicycle's, by a `queue:line` to those with a hand up. Payloads have the
shape and about the size of Hemicycle's `floor` and `queue:line`, so the two servers move the same bytes.

    python -m bench.baseline_server --port 8765

It stops by itself when its parent process goes away or after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web

ROOM = "session"
LINE = "line"  # those with a hand up
COALESCE_SECONDS = 0.05  # hands gathered for 50 ms (the server: signaling.queue_events, 5 ms)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _entry(entry_id: int, state: str) -> dict[str, Any]:
    return {
        "id": entry_id,
        "participant_id": None,
        "in_room": True,
        "display_name": f"Speaker {entry_id}",
        "affiliation": "Delegation of the benchmark",
        "stakeholder_group": "government",
        "country": "CH",
        "type": "statement",
        "language": "en",
        "state": state,
    }


class Baseline:
    def __init__(self) -> None:
        self.sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.version = 0
        self.speaking: int | None = None
        self.hands: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
        self._dirty = False
        self.sio.on("connect", self.on_connect)
        self.sio.on("trigger", self.on_trigger)
        self.sio.on("hand:raise", self.on_raise)
        self.sio.on("hand:lower", self.on_lower)
        self.sio.on("queue:get", self.on_get)

    def floor(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "session_id": 1,
            "version": self.version,
            "speaking": _entry(self.speaking, "speaking") if self.speaking is not None else None,
            "timer": {
                "granted_at": _iso(now),
                "deadline": _iso(now),
                "allowed_seconds": 180,
                "server_time": _iso(now),
                "remaining_seconds": 180,
                "phase": "speaking",
            },
            "next": [_entry(-1, "queued"), _entry(-2, "queued")],
            "length": len(self.hands),
            "server_time": _iso(now),
        }

    def line(self) -> dict[str, Any]:
        """Hemicycle's `queue:line`: the line as entry ids, for those in it to find their place."""
        return {
            "session_id": 1,
            "version": self.version,
            "order": [100_000 + index for index in range(len(self.hands))],
            "length": len(self.hands),
        }

    async def broadcast(self) -> None:
        await self.sio.emit("floor", self.floor(), room=ROOM)
        if self.hands:
            await self.sio.emit("queue:line", self.line(), room=LINE)

    def mine(self, sid: str) -> dict[str, Any]:
        return {
            "session_id": 1,
            "version": self.version,
            "entry": _entry(0, "queued") if sid in self.hands else None,
            "place": None,
            "length": len(self.hands),
            "timer": None,
        }

    async def on_connect(self, sid: str, _environ: dict[str, Any], _auth: Any = None) -> None:
        await self.sio.enter_room(sid, ROOM)
        await self.sio.emit("welcome", {"floor": self.floor()}, to=sid)

    async def on_trigger(self, _sid: str, data: Any) -> dict[str, Any]:
        """The moderator's action: a new speaker, sent to everyone at once."""
        self.version += 1
        self.speaking = int(data["key"])
        await self.broadcast()
        return {"ok": True, "data": {"version": self.version}}

    async def on_raise(self, sid: str, _data: Any = None) -> dict[str, Any]:
        if sid not in self.hands:
            self.hands.add(sid)
            await self.sio.enter_room(sid, LINE)
            self._changed()
        return {"ok": True, "data": self.mine(sid)}

    async def on_lower(self, sid: str, _data: Any = None) -> dict[str, Any]:
        if sid in self.hands:
            self.hands.discard(sid)
            await self.sio.leave_room(sid, LINE)
            self._changed()
        return {"ok": True, "data": self.mine(sid)}

    async def on_get(self, sid: str, _data: Any = None) -> dict[str, Any]:
        return {"ok": True, "data": {"floor": self.floor(), "mine": self.mine(sid)}}

    def _changed(self) -> None:
        self.version += 1
        self._dirty = True
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        """Like signaling.pacing.SessionPacer.flush_all: changes made during a broadcast get one more."""
        await asyncio.sleep(COALESCE_SECONDS)
        while self._dirty:
            self._dirty = False
            await self.broadcast()


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _serve(host: str, port: int, max_seconds: float) -> None:
    baseline = Baseline()
    app = web.Application()
    app.router.add_get("/api/health", _health)
    baseline.sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=128).start()
    parent = os.getppid()
    try:
        for _ in range(int(max_seconds * 2)):  # stop when the parent goes, or after max_seconds
            if os.getppid() != parent:
                break
            await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve(args.host, args.port, args.max_seconds))


if __name__ == "__main__":
    main()
