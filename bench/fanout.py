"""Fan-out benchmark: how long a moderator's action takes to reach every attendee.

    python -m bench.fanout                                   # small sizes, a minute or two
    python -m bench.fanout --sizes 500,2000,5000 --load-seconds 10 --max-seconds 5400   # see README.md

The script starts a Hemicycle server (SQLite in a temporary directory unless --database-url) and, as the
baseline measured in the same run, a bare python-socketio server (bench/baseline_server.py) doing the same
fan-out with no database. For each size N and each server it:

1. connects a moderator, then N attendees from --workers separate processes (websocket transport, each
   attendee with its own token: grants minted straight into the database before the server starts);
2. gives the floor --actions times (`floor:grant` of a new in-room speaker; `trigger` on the baseline) and
   records, for every attendee, when the first `floor` message showing that speaker (or a later one)
   arrived: latency = arrival - send, on the wall clock shared by every process of the machine;
3. for one N only (the largest, or --load-at), repeats the actions while attendees raise and lower hands
   at --hand-rate per second for --load-seconds, then checks that no update was lost: every attendee holds
   the server's final `floor` version, every hand-raiser's last `queue:mine` matches its last accepted
   action, every accepted raise is in the database exactly once, and every attendee still in line holds
   its stored place (read, as the page does, from the newest `queue:line` or its own `queue:mine`).

It prints p50/p90/p99/max per size and server, the Hemicycle/baseline ratios and, informationally, how the
figures compare with the product targets. It never asserts an absolute time. Everything runs on loopback,
is bounded in count and time, and stops by itself (--max-seconds, default 600): subprocesses are killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import math
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from bench.cluster import Nginx, find_nginx
from bench.lightclient import LightClient

ROOT = Path(__file__).resolve().parent.parent
HEMICYCLE = "hemicycle"
LIGHT = "light"
SOCKETIO = "socketio"
BASELINE = "baseline"
QUIET = "quiet"
LOAD = "load"

# The server's limit on hand actions, per participant (signaling.hub): a burst of 8, then one every 2 s.
HAND_BURST = 8
HAND_SPACING_SECONDS = 2.0

CONNECT_TIMEOUT = 180.0

TARGET_QUIET_N = 2000
TARGET_QUIET_P99_MS = 250.0
TARGET_LOAD_N = 5000
TARGET_LOAD_RATE = 50.0
TARGET_LOAD_P99_MS = 1000.0
TARGET_JOIN_N = 5000
TARGET_JOIN_SECONDS = 10.0
TARGET_JOIN_RATIO = 2.0

# Started from the main thread: on Linux the child gets SIGTERM when this process dies, however it dies.
_LAUNCHER = (
    "import os,signal,sys\n"
    "if sys.platform == 'linux':\n"
    "    import ctypes\n"
    "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() == 1:\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


class BenchError(RuntimeError):
    """The benchmark could not run (a server did not start, clients could not connect...)."""


def say(message: str) -> None:
    print(message, flush=True)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return math.nan
    index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def receive(conn: Connection, timeout: float) -> Any:
    """The next message from a worker, polling so the event loop keeps serving sockets."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not conn.poll():
        if loop.time() > deadline:
            raise BenchError(f"a worker did not answer within {timeout:.0f} s")
        await asyncio.sleep(0.01)
    return conn.recv()


# ===================================================================================== worker processes


@dataclass
class WorkerSpec:
    index: int
    target: str
    url: str
    session_id: int
    tokens: list[tuple[int, str]]  # (participant id, token); the baseline ignores them
    concurrency: int
    deadline: float  # time.time() after which the worker exits whatever happens
    client: str = LIGHT


@dataclass
class HandResult:
    participant_id: int
    action: str
    sent: float
    done: float
    ok: bool
    code: str | None
    entry_id: int | None


@dataclass
class AttendeeResult:
    participant_id: int
    connected: bool
    first: dict[int, float]  # speaker key -> first arrival (time.time())
    floor_version: int
    mine_version: int
    mine_entry: int | None
    dropped_at: float | None  # connected, then lost the connection (e.g. no ping for 30 s)
    place: int | None  # place in line as the page shows it, or None


@dataclass(eq=False)
class Attendee:
    participant_id: int
    token: str
    sio: socketio.AsyncClient | LightClient
    connected: bool = False
    dropped_at: float | None = None
    closing: bool = False
    error: str | None = None
    first: dict[int, float] = field(default_factory=dict)
    floor_version: int = -1
    mine_version: int = -1
    mine_entry: int | None = None
    mine_place: int | None = None
    line: dict[str, Any] | None = None  # the newest queue:line
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    # Like a page whose button waits for the answer: one hand action at a time per attendee.
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    def on_floor(self, data: dict[str, Any], now: float) -> None:
        version = int(data.get("version") or 0)
        if version > self.floor_version:
            self.floor_version = version
        speaking = data.get("speaking")
        if speaking is not None:
            self.first.setdefault(int(speaking["id"]), now)

    def on_mine(self, data: dict[str, Any]) -> None:
        version = int(data.get("version") or 0)
        if version >= self.mine_version:
            self.mine_version = version
            entry = data.get("entry")
            self.mine_entry = int(entry["id"]) if entry else None
            self.mine_place = data.get("place")

    def on_line(self, data: dict[str, Any]) -> None:
        if self.line is None or int(data["version"]) > int(self.line["version"]):
            self.line = data

    def place(self) -> int | None:
        """My place as web/js/protocol.js shows it: from the newest line at least as new as my own view."""
        line = self.line
        if self.mine_entry is not None and line is not None and int(line["version"]) >= self.mine_version:
            order = line["order"]
            if self.mine_entry in order:
                return order.index(self.mine_entry) + 1
        return self.mine_place


def _make_attendee(participant_id: int, token: str, http: aiohttp.ClientSession, client: str) -> Attendee:
    sio: socketio.AsyncClient | LightClient = (
        LightClient(http)
        if client == LIGHT
        else socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=http)
    )
    attendee = Attendee(participant_id, token, sio)

    async def on_floor(data: dict[str, Any]) -> None:
        attendee.on_floor(data, time.time())

    async def on_mine(data: dict[str, Any]) -> None:
        attendee.on_mine(data)

    async def on_line(data: dict[str, Any]) -> None:
        attendee.on_line(data)

    async def on_welcome(data: dict[str, Any]) -> None:
        attendee.on_floor(data["floor"], time.time())
        if "mine" in data:
            attendee.on_mine(data["mine"])
        attendee.welcomed.set()

    async def on_connect_error(data: Any) -> None:
        attendee.error = repr(data)[:200]

    async def on_disconnect(*_reason: Any) -> None:
        if attendee.connected and not attendee.closing and attendee.dropped_at is None:
            attendee.dropped_at = time.time()

    sio.on("floor", on_floor)
    sio.on("queue:mine", on_mine)
    sio.on("queue:line", on_line)
    sio.on("welcome", on_welcome)
    sio.on("connect_error", on_connect_error)
    sio.on("disconnect", on_disconnect)
    return attendee


async def _connect(spec: WorkerSpec, attendee: Attendee, gate: asyncio.Semaphore) -> None:
    auth: dict[str, Any] = (
        {"token": attendee.token, "session_id": spec.session_id} if spec.target == HEMICYCLE else {}
    )
    async with gate:
        for attempt in range(3):
            try:
                # Generous: a busy server may take seconds per connection when thousands are present.
                # `route`: the key nginx spreads attendees by (deploy/nginx); servers ignore it.
                await attendee.sio.connect(
                    f"{spec.url}/?route=p{attendee.participant_id}",
                    auth=auth,
                    transports=["websocket"],
                    wait_timeout=CONNECT_TIMEOUT,
                )
                await asyncio.wait_for(attendee.welcomed.wait(), CONNECT_TIMEOUT)
                attendee.connected = True
                return
            except Exception as exc:  # recorded and retried: a refused or timed-out connection
                attendee.error = attendee.error or f"{type(exc).__name__}: {exc}"[:200]
                with contextlib.suppress(Exception):
                    await attendee.sio.disconnect()
                await asyncio.sleep(0.5 * (attempt + 1))


async def _hand(attendee: Attendee, action: str, at: float, log: list[HandResult]) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))
    payload: dict[str, Any] = {"type": "statement", "language": "en"} if action == "raise" else {}
    async with attendee.busy:
        sent = time.time()
        try:
            reply = await attendee.sio.call(f"hand:{action}", payload, timeout=60)
        except Exception as exc:
            log.append(
                HandResult(
                    attendee.participant_id, action, sent, time.time(), False, type(exc).__name__, None
                )
            )
            return
        done = time.time()
    ok = bool(reply.get("ok"))
    code = None if ok else str(reply.get("error", {}).get("code"))
    entry = (reply.get("data") or {}).get("entry") if ok else None
    log.append(
        HandResult(attendee.participant_id, action, sent, done, ok, code, int(entry["id"]) if entry else None)
    )


async def _worker(spec: WorkerSpec, conn: Connection) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=False))
    attendees = [_make_attendee(pid, token, http, spec.client) for pid, token in spec.tokens]
    gate = asyncio.Semaphore(spec.concurrency)
    started = time.time()
    pending = {asyncio.create_task(_connect(spec, a, gate)) for a in attendees}
    reported = 0
    while pending:
        _done, pending = await asyncio.wait(pending, timeout=2.0)
        connected = sum(a.connected for a in attendees)
        if connected != reported and pending:
            conn.send(("progress", connected))
            reported = connected
    errors = Counter(a.error for a in attendees if not a.connected)
    gc.collect()
    gc.freeze()  # thousands of long-lived clients: keep collector pauses out of the measurement
    conn.send(
        (
            "ready",
            {
                "connected": sum(a.connected for a in attendees),
                "failed": sum(not a.connected for a in attendees),
                "seconds": time.time() - started,
                "errors": errors.most_common(3),
            },
        )
    )
    hands: list[HandResult] = []
    hand_tasks: list[asyncio.Task[None]] = []
    while time.time() < spec.deadline:
        try:
            if not conn.poll():
                await asyncio.sleep(0.02)
                continue
            command, *args = conn.recv()
        except (EOFError, OSError):
            break  # the main process is gone
        if command == "status":
            key, version = args
            live = [a for a in attendees if a.connected and a.dropped_at is None]
            conn.send(
                (
                    "status",
                    {
                        "live": len(live),
                        "seen": sum(key in a.first for a in live),
                        "at_version": sum(version is not None and a.floor_version >= version for a in live),
                        "hands_pending": sum(not t.done() for t in hand_tasks),
                    },
                )
            )
        elif command == "load":
            start, plan = args
            for local, offset, action in plan:
                attendee = attendees[local]
                if attendee.connected:
                    hand_tasks.append(asyncio.create_task(_hand(attendee, action, start + offset, hands)))
            conn.send(("load", len(hand_tasks)))
        elif command == "collect":
            results = [
                AttendeeResult(
                    a.participant_id,
                    a.connected,
                    dict(a.first),
                    a.floor_version,
                    a.mine_version,
                    a.mine_entry,
                    a.dropped_at,
                    a.place(),
                )
                for a in attendees
            ]
            conn.send(("collect", results, list(hands)))
        elif command == "stop":
            break
    for task in hand_tasks:
        task.cancel()
    gate = asyncio.Semaphore(200)

    async def close(attendee: Attendee) -> None:
        attendee.closing = True
        async with gate:
            with contextlib.suppress(Exception):
                await attendee.sio.disconnect()

    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(close(a) for a in attendees)), 30)
    await http.close()
    with contextlib.suppress(Exception):
        conn.send(("stopped",))


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Entry point of a worker process: many attendees on one event loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    parent = os.getppid()

    def watchdog() -> None:  # whatever happens, no worker outlives its deadline or the main process
        while time.time() < spec.deadline + 5 and os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    asyncio.run(_worker(spec, conn))
    os._exit(0)  # skip interpreter teardown of thousands of sockets


# ======================================================================================= the main process


@dataclass
class Options:
    sizes: list[int]
    actions: int
    workers: int
    interval: float
    load_seconds: float
    load_at: int
    hand_rate: float
    concurrency: int
    settle_seconds: float
    database_url: str | None
    redis_url: str | None
    max_seconds: float
    keep: bool
    details: bool
    client: str = LIGHT
    processes: int = 1
    proxy: str = "none"
    kill_one: bool = False
    rounds: int = 1


@dataclass
class Fixture:
    """What the Hemicycle server is started with: a database holding the demo event and N attendees."""

    data_dir: Path
    database_url: str
    secret: str
    event_id: int
    session_id: int
    moderator_token: str
    attendees: list[tuple[int, str]]


@dataclass
class Action:
    key: int
    sent: float
    ack_seconds: float
    ok: bool


@dataclass
class PhaseResult:
    target: str
    n: int
    phase: str
    connected: int = 0
    connect_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    reach_all: list[float] = field(default_factory=list)  # per action: time until the last attendee had it
    direct: int = 0
    coalesced: int = 0
    missing: int = 0
    actions: list[Action] = field(default_factory=list)
    final_version: int = 0
    behind: int = 0  # attendees not holding the server's final floor version at the end
    dropped: int = 0  # attendees whose connection was lost during the case
    dropped_before: int = 0  # of those, lost before this phase began (e.g. while the others connected)
    started: float = field(default_factory=time.time)
    server_cpu: float | None = None  # % of one core during the phase
    client_cpu: float | None = None
    other_cpu: float | None = None  # processes outside the benchmark
    hands: list[HandResult] = field(default_factory=list)
    hand_problems: list[str] = field(default_factory=list)
    per_action: list[tuple[Action, list[float], int]] = field(default_factory=list)  # latencies, coalesced
    round: int = 0  # which of the --rounds
    requests_before: int = 0  # the last request for the floor stored before the load case (another round's)

    @property
    def lost(self) -> int:
        return self.missing + self.behind + len(self.hand_problems)

    def ms(self, p: float) -> float:
        return percentile(sorted(self.latencies), p) * 1000


class Children:
    """Every subprocess this run started, so they can all be stopped on the way out."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[bytes]] = []
        self.processes: list[BaseProcess] = []
        self.lock = threading.Lock()

    def kill_all(self) -> None:
        with self.lock:
            for process in self.processes:
                with contextlib.suppress(Exception):
                    if process.is_alive():
                        process.kill()
            for popen in self.popens:
                with contextlib.suppress(Exception):
                    if popen.poll() is None:
                        popen.kill()


CHILDREN = Children()


async def prepare(opts: Options, data_dir: Path, count: int) -> Fixture:
    """Migrate, seed the demo event, register `count` attendees and mint every token, before serving."""
    from sqlalchemy import insert

    from server.db import models as m
    from server.db.engine import create_engine, migrate
    from server.db.store import Store
    from server.demo import seed_demo
    from server.domain.participants import Registration, StakeholderGroup
    from server.domain.roles import Role
    from server.domain.sessions import SessionState
    from server.tokens import TokenService

    database_url = opts.database_url or f"sqlite+aiosqlite:///{data_dir / 'hemicycle.db'}"
    secret = secrets.token_urlsafe(48)
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        store = Store(engine)
        event = await seed_demo(store)
        live = [s for s in await store.list_sessions(event.id) if s.state is SessionState.LIVE]
        if not live:
            raise BenchError("the demo event has no live session in this database: use a fresh database")
        session = live[0]
        tokens = TokenService(secret)
        ttl = timedelta(seconds=opts.max_seconds + 3600)  # outlives the run, however long it is allowed
        moderator, grant = await store.staff_grant(event.id, session.id, Role.MODERATOR)
        moderator_token, _ = tokens.issue(
            grant_id=grant,
            participant_id=moderator.id,
            role=Role.MODERATOR,
            event_id=event.id,
            session_id=session.id,
            ttl=ttl,
        )
        groups = list(StakeholderGroup)
        countries = ["SN", "BR", "IN", "DE", "FJ", "KE", "MX", "JP", "FR", "AU"]
        registrations = [
            Registration(
                display_name=f"Bench attendee {i}",
                affiliation=f"Delegation {i % 97}",
                stakeholder_group=groups[i % len(groups)],
                country=countries[i % len(countries)],
            )
            for i in range(count)
        ]
        # The first through the store's own use case; the rest in one transaction with the same rows
        # (one transaction each would take a minute on SQLite for 5,000).
        first, first_grant = await store.register_attendee(event.id, registrations[0])
        people = [(first.id, first_grant)]
        now = store.clock()
        async with engine.begin() as connection:
            for registration in registrations[1:]:
                participant_id = await connection.scalar(
                    insert(m.Participant)
                    .values(
                        event_id=event.id,
                        display_name=registration.display_name,
                        affiliation=registration.affiliation,
                        stakeholder_group=registration.stakeholder_group.value,
                        country=registration.country,
                        consent_demographics=False,
                        role=Role.ATTENDEE.value,
                        created_at=now,
                    )
                    .returning(m.Participant.id)
                )
                grant_id = await connection.scalar(
                    insert(m.RoleGrant)
                    .values(
                        event_id=event.id,
                        session_id=None,
                        participant_id=participant_id,
                        role=Role.ATTENDEE.value,
                        created_at=now,
                    )
                    .returning(m.RoleGrant.id)
                )
                if participant_id is None or grant_id is None:
                    raise BenchError("the database returned no id for a new attendee")
                people.append((int(participant_id), int(grant_id)))
        attendees = []
        for participant_id, grant_id in people:
            token, _ = tokens.issue(
                grant_id=grant_id,
                participant_id=participant_id,
                role=Role.ATTENDEE,
                event_id=event.id,
                session_id=None,
                ttl=ttl,
            )
            attendees.append((participant_id, token))
        return Fixture(data_dir, database_url, secret, event.id, session.id, moderator_token, attendees)
    finally:
        await engine.dispose()


def server_env(fixture: Fixture, data_dir: Path) -> dict[str, str]:
    """The environment of a benchmarked `hemicycle serve`: the prepared database and secret, a generous event
    allowance, and no Redis unless the caller adds it."""
    env = {
        **os.environ,
        "HEMICYCLE_SECRET": fixture.secret,
        "HEMICYCLE_DATA_DIR": str(data_dir),
        "DATABASE_URL": fixture.database_url,
        "HEMICYCLE_EVENTS_PER_SECOND": "1000",
        "HEMICYCLE_LOG_LEVEL": "WARNING",
        # Attendees join straight away: the benchmark measures fan-out, not the waiting room.
        "HEMICYCLE_WAITING_ROOM": "off",
    }
    env.pop("REDIS_URL", None)
    return env


def launch(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, *args],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C reaches this script, which then stops the servers in order
        )
    CHILDREN.popens.append(popen)
    return popen


async def wait_healthy(url: str, popen: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if popen.poll() is not None:
                raise BenchError(f"{url} exited with {popen.returncode}:\n{tail(log)}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/api/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BenchError(f"{url} did not become healthy within {timeout:.0f} s")


def tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:]


def stop(popen: subprocess.Popen[bytes], grace: float = 15) -> None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=5)


class Moderator:
    """The moderator's client, in the main process."""

    def __init__(self, target: str, url: str, fixture: Fixture) -> None:
        self.target = target
        self.url = url
        self.fixture = fixture
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.welcomed = asyncio.Event()
        self._next_key = 1_000_000 * (1 + int(time.time()) % 1000)

        self.refusals: list[Any] = []

        async def on_welcome(_data: Any) -> None:
            self.welcomed.set()

        async def on_connect_error(data: Any) -> None:
            self.refusals.append(data)

        self.sio.on("welcome", on_welcome)
        self.sio.on("connect_error", on_connect_error)

    async def connect(self) -> None:
        auth = (
            {"token": self.fixture.moderator_token, "session_id": self.fixture.session_id}
            if self.target == HEMICYCLE
            else {}
        )
        problem = ""
        for attempt in range(3):
            try:
                await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=60)
                await asyncio.wait_for(self.welcomed.wait(), 60)
                return
            except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
                refusal = self.refusals[-1] if self.refusals else None
                problem = f"{type(exc).__name__}: {exc} (refusal: {refusal!r})"
                say(f"  ! the moderator could not connect (attempt {attempt + 1}): {problem}")
                with contextlib.suppress(Exception):
                    await self.sio.disconnect()
                await asyncio.sleep(5)
        raise BenchError(f"the moderator could not connect to the {self.target} server: {problem}")

    async def call(self, event: str, payload: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, payload, timeout=timeout)
        return reply

    async def speakers(self, count: int) -> list[int]:
        """Keys of the speakers the actions will give the floor to (Hemicycle: in-room requests)."""
        if self.target == BASELINE:
            keys = list(range(self._next_key, self._next_key + count))
            self._next_key += count
            return keys
        keys = []
        for i in range(count):
            reply = await self.call(
                "queue:add_in_room",
                {
                    "display_name": f"Speaker {i + 1}",
                    "affiliation": "Delegation of the benchmark",
                    "stakeholder_group": "government",
                    "country": "CH",
                    "type": "statement",
                    "language": "en",
                },
            )
            if not reply.get("ok"):
                raise BenchError(f"queue:add_in_room was refused: {reply}")
            keys.append(int(reply["data"]["entry"]["id"]))
        return keys

    async def act(self, key: int) -> Action:
        """Give the floor to `key`: the action whose delivery is measured."""
        event, payload = (
            ("trigger", {"key": key}) if self.target == BASELINE else ("floor:grant", {"entry_id": key})
        )
        sent = time.time()
        try:
            reply = await self.call(event, payload)
            ok = bool(reply.get("ok"))
            if not ok:
                say(f"  ! {event} refused: {reply.get('error')}")
        except Exception as exc:
            say(f"  ! {event} failed: {type(exc).__name__}: {exc}")
            ok = False
        return Action(key, sent, time.time() - sent, ok)

    async def version(self) -> int:
        reply = await self.call("queue:get", {})
        return int(reply["data"]["floor"]["version"])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


@dataclass
class Workers:
    processes: list[BaseProcess]
    pipes: list[Connection]
    # Global attendee index i lives in worker i % len, at local index i // len.

    async def ask(self, message: tuple[Any, ...], expect: str, timeout: float = 60) -> list[Any]:
        for pipe in self.pipes:
            pipe.send(message)
        answers = []
        for pipe in self.pipes:
            while True:
                answer = await receive(pipe, timeout)
                if answer[0] == expect:
                    answers.append(answer)
                    break
        return answers

    async def status(self, key: int, version: int | None) -> dict[str, int]:
        total: Counter[str] = Counter()
        for answer in await self.ask(("status", key, version), "status"):
            total.update(answer[1])
        return dict(total)

    async def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send(("stop",))
        for _ in range(450):  # at most 45 s
            if not any(p.is_alive() for p in self.processes):
                break
            await asyncio.sleep(0.1)
        for process in self.processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


async def start_workers(
    opts: Options, target: str, url: str, fixture: Fixture, n: int, deadline: float
) -> tuple[Workers, dict[str, Any]]:
    context = mp.get_context("spawn")
    count = max(1, min(opts.workers, n))
    people = fixture.attendees[:n]
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    for index in range(count):
        ours, theirs = context.Pipe()
        spec = WorkerSpec(
            index=index,
            target=target,
            url=url,
            session_id=fixture.session_id,
            tokens=people[index::count],
            concurrency=opts.concurrency,
            deadline=deadline,
            client=opts.client,
        )
        process = context.Process(target=worker_main, args=(spec, theirs), daemon=True, name=f"bench-{index}")
        process.start()
        CHILDREN.processes.append(process)
        theirs.close()
        processes.append(process)
        pipes.append(ours)
    workers = Workers(processes, pipes)
    started = time.time()
    summary: dict[str, Any] = {"connected": 0, "failed": 0, "errors": Counter()}
    progress = [0] * count
    ready = [False] * count
    last_report = time.time()
    while not all(ready):
        for index, pipe in enumerate(pipes):
            if ready[index] or not pipe.poll():
                if not processes[index].is_alive() and not ready[index] and not pipe.poll():
                    raise BenchError(f"worker {index} died while connecting")
                continue
            try:
                kind, data = pipe.recv()
            except (EOFError, OSError):
                raise BenchError(f"worker {index} died while connecting") from None
            if kind == "progress":
                progress[index] = data
            elif kind == "ready":
                ready[index] = True
                progress[index] = data["connected"]
                summary["connected"] += data["connected"]
                summary["failed"] += data["failed"]
                summary["errors"].update(dict(data["errors"]))
        if time.time() - last_report > 10:
            say(f"  … {sum(progress)}/{n} connected after {time.time() - started:.0f} s")
            last_report = time.time()
        if time.time() > deadline:
            raise BenchError("out of time while connecting")
        await asyncio.sleep(0.05)
    summary["seconds"] = time.time() - started
    return workers, summary


async def wait_for(workers: Workers, key: int, version: int | None, timeout: float) -> dict[str, int]:
    """Until every live attendee has seen `key` (and holds `version`, when given), or the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        status = await workers.status(key, version)
        live = status["live"]
        done = status["seen"] >= live and (version is None or status["at_version"] >= live)
        if done or loop.time() > deadline:
            return status
        await asyncio.sleep(0.2)


def machine_busy_seconds() -> float | None:
    """CPU time every process of the machine has used (Linux /proc/stat), or None where unavailable."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used during a phase, in % of one core: the server measured, the attendee workers, and
    everything else on the machine (not this benchmark: other jobs make the figures noisy)."""

    def __init__(self, server_pid: int, worker_pids: list[int], own_pids: list[int]) -> None:
        self.groups = ([server_pid], worker_pids, [os.getpid(), *own_pids])
        self.start = time.time()
        self.before = self._read()

    def _read(self) -> list[float | None]:
        sums: list[float | None] = []
        for pids in self.groups:
            values = [cpu_seconds(p) for p in pids]
            sums.append(None if any(v is None for v in values) else sum(v or 0.0 for v in values))
        sums.append(machine_busy_seconds())
        return sums

    def percent(self) -> tuple[float | None, float | None, float | None]:
        """(server, clients, other processes)"""
        after = self._read()
        elapsed = max(1e-6, time.time() - self.start)
        used = [
            None if a is None or b is None else 100 * (a - b) / elapsed
            for a, b in zip(after, self.before, strict=True)
        ]
        server, clients, ours, machine = used
        other = None
        if None not in used:
            other = max(0.0, (machine or 0.0) - (server or 0.0) - (clients or 0.0) - (ours or 0.0))
        return server, clients, other


def measure(result: PhaseResult, actions: list[Action], attendees: list[AttendeeResult]) -> None:
    """Per attendee and action: the first arrival of that speaker or any later one, minus the send time."""
    result.actions = actions
    drops = [a.dropped_at for a in attendees if a.dropped_at is not None]
    result.dropped = len(drops)
    result.dropped_before = sum(at < result.started for at in drops)
    result.behind = sum(
        a.connected and a.dropped_at is None and a.floor_version < result.final_version for a in attendees
    )
    sent = [a for a in actions if a.ok]
    per_action: list[list[float]] = [[] for _ in sent]
    coalesced = [0] * len(sent)
    for attendee in attendees:
        if not attendee.connected or attendee.dropped_at is not None:  # drops are counted on their own
            continue
        best = math.inf
        for index in range(len(sent) - 1, -1, -1):
            action = sent[index]
            arrival = attendee.first.get(action.key)
            if arrival is not None:
                best = min(best, arrival)
                result.direct += 1
            elif best < math.inf:
                result.coalesced += 1
                coalesced[index] += 1
            if best == math.inf:
                result.missing += 1
                continue
            latency = best - action.sent
            result.latencies.append(latency)
            per_action[index].append(latency)
    result.reach_all = [max(values) for values in per_action if values]
    result.per_action = list(zip(sent, per_action, coalesced, strict=True))


def hand_summary(hands: list[HandResult]) -> str:
    if not hands:
        return "no hand actions"
    acks = sorted(h.done - h.sent for h in hands)
    ok = sum(h.ok for h in hands)
    return (
        f"{len(hands)} hand actions, {ok} accepted; ack p50 {percentile(acks, 50) * 1000:.0f} ms, "
        f"p99 {percentile(acks, 99) * 1000:.0f} ms, max {acks[-1] * 1000:.0f} ms"
    )


def details(result: PhaseResult) -> list[str]:
    start = result.per_action[0][0].sent if result.per_action else 0.0
    lines = [
        f"    t s from {datetime.fromtimestamp(start).strftime('%H:%M:%S.%f')[:-4]}",
        f"    {'t s':>6} {'ack ms':>7} {'p50':>6} {'max':>6} {'coal':>5}",
    ]
    for action, latencies, coalesced in result.per_action:
        ordered = sorted(latencies)
        lines.append(
            f"    {action.sent - start:>6.2f} {action.ack_seconds * 1000:>7.0f} "
            f"{percentile(ordered, 50) * 1000:>6.0f} {percentile(ordered, 100) * 1000:>6.0f} {coalesced:>5}"
        )
    return lines


async def last_request(fixture: Fixture) -> int:
    """The id of the session's last stored request for the floor (0 if none)."""
    from sqlalchemy import func, select

    from server.db import models as m
    from server.db.engine import create_engine

    engine = create_engine(fixture.database_url)
    try:
        async with engine.connect() as connection:
            last = await connection.scalar(
                select(func.max(m.Intervention.id)).where(m.Intervention.session_id == fixture.session_id)
            )
    finally:
        await engine.dispose()
    return int(last or 0)


async def check_hands(fixture: Fixture, result: PhaseResult, attendees: list[AttendeeResult]) -> None:
    """No lost hand: every accepted raise is stored exactly once, and every raiser's own view is final,
    place in line included."""
    from sqlalchemy import select

    from server.db import models as m
    from server.db.engine import create_engine

    by_person: dict[int, list[HandResult]] = {}
    for hand in sorted(result.hands, key=lambda h: h.sent):
        by_person.setdefault(hand.participant_id, []).append(hand)
    problems = result.hand_problems
    dropped = {a.participant_id for a in attendees if a.dropped_at is not None}
    # A dropped attendee's later hand actions fail on the client: a consequence of the drop, counted there.
    rejected = Counter(h.code for h in result.hands if not h.ok and h.participant_id not in dropped)
    if rejected:
        problems.append(f"hand actions refused: {dict(rejected)}")
    if result.target != HEMICYCLE:
        return  # the baseline keeps no record and sends no queue:mine: only refusals count
    engine = create_engine(fixture.database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(m.Intervention.id, m.Intervention.participant_id, m.Intervention.state).where(
                        m.Intervention.session_id == fixture.session_id,
                        m.Intervention.participant_id.in_(list(by_person)),
                    )
                )
            ).all()
            line = (
                await connection.execute(
                    select(m.Intervention.participant_id)
                    .where(
                        m.Intervention.session_id == fixture.session_id,
                        m.Intervention.state == "queued",
                    )
                    .order_by(m.Intervention.position, m.Intervention.id)
                )
            ).all()
    finally:
        await engine.dispose()
    places = {int(pid): index for index, (pid,) in enumerate(line, start=1) if pid is not None}
    stored: dict[int, dict[int, str]] = {}
    for entry_id, pid, state in rows:
        if pid is not None:
            stored.setdefault(int(pid), {})[int(entry_id)] = str(state)
    mine = {a.participant_id: a for a in attendees}
    for pid, hands in by_person.items():
        accepted = [h for h in hands if h.ok]
        raised = {h.entry_id for h in accepted if h.action == "raise" and h.entry_id is not None}
        # An earlier round's requests are not this case's (one still in line is, when raised again).
        rows_of = {
            entry: state
            for entry, state in stored.get(pid, {}).items()
            if entry > result.requests_before or entry in raised or state in ("queued", "speaking")
        }
        if set(rows_of) != raised:
            problems.append(
                f"participant {pid}: accepted raises {sorted(raised)} but stored {sorted(rows_of)}"
            )
            continue
        active = [e for e, state in rows_of.items() if state in ("queued", "speaking")]
        if len(active) > 1:
            problems.append(f"participant {pid}: {len(active)} active requests")
        if not accepted:
            continue
        last = accepted[-1]
        expected = last.entry_id if last.action == "raise" else None
        if (active[0] if active else None) != expected:
            problems.append(f"participant {pid}: stored state does not follow the last accepted action")
        if mine[pid].dropped_at is None and mine[pid].mine_entry != expected:
            problems.append(
                f"participant {pid}: last queue:mine shows {mine[pid].mine_entry}, expected {expected}"
            )
        elif mine[pid].dropped_at is None and mine[pid].place != places.get(pid):
            problems.append(f"participant {pid}: shows place {mine[pid].place}, stored {places.get(pid)}")


def hand_plan(opts: Options, n: int, workers: int) -> tuple[list[list[tuple[int, float, str]]], str]:
    """Raise/lower actions at opts.hand_rate per second, spread over enough attendees to stay within the
    server's per-participant limit; returned per worker as (local index, offset seconds, action)."""
    total = int(opts.hand_rate * opts.load_seconds)
    raisers = min(n, max(1, math.ceil(opts.hand_rate * HAND_SPACING_SECONDS * 2.5)))
    spacing = raisers / opts.hand_rate if opts.hand_rate > 0 else math.inf
    per_raiser = math.ceil(total / raisers) if raisers else 0
    note = f"{total} hand actions by {raisers} attendees, each one every {spacing:.1f} s"
    if spacing < HAND_SPACING_SECONDS and per_raiser > HAND_BURST:
        note += " (beyond the server's per-participant limit: expect rate_limited refusals)"
    plans: list[list[tuple[int, float, str]]] = [[] for _ in range(workers)]
    chosen = [math.floor(i * n / raisers) for i in range(raisers)]
    for j in range(total):
        index = chosen[j % raisers]
        action = "raise" if (j // raisers) % 2 == 0 else "lower"
        plans[index % workers].append((index // workers, j / opts.hand_rate, action))
    return plans, note


async def run_case(
    opts: Options,
    target: str,
    url: str,
    pids: dict[str, int],
    fixture: Fixture,
    n: int,
    load: bool,
    deadline: float,
    last: bool,
) -> list[PhaseResult]:
    say(f"\n[{target}] N = {n}")
    moderator = Moderator(target, url, fixture)
    await moderator.connect()
    workers: Workers | None = None
    results: list[PhaseResult] = []
    try:
        quiet_keys = await moderator.speakers(opts.actions)
        load_keys = await moderator.speakers(opts.actions) if load else []
        workers, summary = await start_workers(opts, target, url, fixture, n, deadline)
        connected = int(summary["connected"])
        say(
            f"  {connected}/{n} attendees connected in {summary['seconds']:.1f} s"
            + (f"; failures: {dict(summary['errors'])}" if summary["failed"] else "")
        )
        if connected == 0:
            raise BenchError("no attendee could connect")
        await asyncio.sleep(1.0)  # let the last presence broadcasts go out

        phases = [(QUIET, quiet_keys)] + ([(LOAD, load_keys)] if load else [])
        for phase, keys in phases:
            result = PhaseResult(target, n, phase, connected, summary["seconds"])
            idle = [pid for name, pid in pids.items() if name != target]  # the other server, idle
            meter = CpuMeter(pids[target], [p.pid or 0 for p in workers.processes], idle)
            actions: list[Action] = []
            if phase == QUIET:
                for key in keys:
                    actions.append(await moderator.act(key))
                    await asyncio.sleep(opts.interval)
            else:
                if target == HEMICYCLE:
                    result.requests_before = await last_request(fixture)
                plans, note = hand_plan(opts, n, len(workers.processes))
                say(f"  load: {note}, {len(keys)} floor actions during {opts.load_seconds:.0f} s")
                start = time.time() + 1.0
                for pipe, plan in zip(workers.pipes, plans, strict=True):
                    pipe.send(("load", start, plan))
                for pipe in workers.pipes:
                    await receive(pipe, 60)
                spacing = opts.load_seconds / max(1, len(keys))
                for index, key in enumerate(keys):
                    await asyncio.sleep(max(0.0, start + (index + 0.5) * spacing - time.time()))
                    actions.append(await moderator.act(key))
                await asyncio.sleep(max(0.0, start + opts.load_seconds - time.time()))
                for _ in range(600):  # the last hand acknowledgements, at most 2 min
                    if not (await workers.status(keys[-1], None))["hands_pending"]:
                        break
                    await asyncio.sleep(0.2)
            await wait_for(workers, keys[-1], None, opts.settle_seconds)
            await asyncio.sleep(0.5)
            result.final_version = await moderator.version()
            await wait_for(workers, keys[-1], result.final_version, opts.settle_seconds)
            result.server_cpu, result.client_cpu, result.other_cpu = meter.percent()
            answers = await workers.ask(("collect",), "collect", timeout=120)
            attendees = [a for answer in answers for a in answer[1]]
            measure(result, actions, attendees)
            if phase == LOAD:
                result.hands = [h for answer in answers for h in answer[2]]
                await check_hands(fixture, result, attendees)
            say(
                f"  {phase}: p50 {result.ms(50):.0f} ms, p99 {result.ms(99):.0f} ms, "
                f"missing {result.missing}, behind {result.behind}, "
                f"dropped connections {result.dropped} ({result.dropped_before} before this phase)"
                + (f", hand problems: {len(result.hand_problems)}" if result.hand_problems else "")
            )
            if phase == LOAD:
                say(f"  {hand_summary(result.hands)}")
            for problem in result.hand_problems[:5]:
                say(f"    ! {problem}")
            if opts.details:
                for line in details(result):
                    say(line)
            results.append(result)
    finally:
        if workers is not None:
            await workers.stop()
        await moderator.close()
    if target == HEMICYCLE and not last:
        await wait_gone(url, fixture)
    return results


async def wait_gone(url: str, fixture: Fixture, timeout: float = 180) -> None:
    """Let the server finish forgetting the last case's attendees before the next case is measured."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    headers = {"Authorization": f"Bearer {fixture.moderator_token}"}
    started = loop.time()
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError, KeyError):
                async with http.get(
                    f"{url}/api/sessions/{fixture.session_id}/presence", headers=headers
                ) as r:
                    summary = (await r.json())["summary"]
                    if summary["by_role"].get("attendee", 0) == 0:
                        if loop.time() - started > 2:
                            say(f"  (the server took {loop.time() - started:.0f} s to see everyone leave)")
                        return
            await asyncio.sleep(0.5)
    say("  ! attendees were still present after the case ended")


# ========================================================================================== the report


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def report(results: list[PhaseResult], opts: Options, started: float) -> list[str]:
    lines = [
        "",
        "Delivery latency of a moderator action to every attendee (ms; per attendee and action)",
        f"actions per case: {opts.actions}; workers: {opts.workers}; client: {opts.client}; "
        f"CPUs: {os.cpu_count()}; "
        f"load: {opts.hand_rate:g} hand actions/s for {opts.load_seconds:g} s at N = {opts.load_at}",
        "",
        f"{'N':>6} {'phase':<6} {'server':<10} {'conn s':>7} {'deliv':>7} {'coal':>5} {'miss':>5} "
        f"{'p50':>6} {'p90':>6} {'p99':>6} {'max':>6} {'all50':>6} {'ack50':>6} {'srvCPU':>6} "
        f"{'cliCPU':>6} {'other':>6} {'drop':>5} {'lost':>5}",
    ]
    for n, phase, turn in itertools.product(opts.sizes, (QUIET, LOAD), range(opts.rounds)):
        pair = {r.target: r for r in results if r.n == n and r.phase == phase and r.round == turn}
        for target in (BASELINE, HEMICYCLE):
            r = pair.get(target)
            if r is None:
                continue
            acks = sorted(a.ack_seconds for a in r.actions if a.ok)
            reach = sorted(r.reach_all)
            lines.append(
                f"{n:>6} {phase:<6} {target:<10} {r.connect_seconds:>7.1f} {len(r.latencies):>7} "
                f"{r.coalesced:>5} {r.missing:>5} {r.ms(50):>6.0f} {r.ms(90):>6.0f} {r.ms(99):>6.0f} "
                f"{r.ms(100):>6.0f} {_fmt(percentile(reach, 50) * 1000):>6} "
                f"{_fmt(percentile(acks, 50) * 1000):>6} "
                f"{_fmt(r.server_cpu):>5}% {_fmt(r.client_cpu):>5}% {_fmt(r.other_cpu):>5}% "
                f"{r.dropped:>5} {r.lost:>5}"
            )
        if BASELINE in pair and HEMICYCLE in pair:
            base, ours = pair[BASELINE], pair[HEMICYCLE]
            lines.append(
                f"{'':>6} {'':<6} {'ratio':<10} {'':>7} {'':>7} {'':>5} {'':>5} "
                + " ".join(
                    f"{_fmt(ours.ms(p) / base.ms(p) if base.ms(p) > 0 else math.nan, '.1f') + 'x':>6}"
                    for p in (50, 90, 99, 100)
                )
            )
    lines += [
        "",
        "conn s: time to connect all N; deliv: deliveries measured (attendees x actions); coal: of those,",
        "the attendee first saw a later speaker (the broadcast was coalesced); miss: never delivered;",
        "all50: median over actions of the time until the last attendee had it; ack50: median moderator",
        "round trip; CPU: % of one core during the phase, for the server, all client workers, and other",
        "processes on the machine (not this benchmark: a source of noise); drop: connections lost during",
        "the case (not counted elsewhere); lost: among connections that stayed up, missed deliveries +",
        "attendees not at the server's final version, + hand-raise inconsistencies. Hemicycle writes",
        "each change first, gathers changes for 5 ms and spaces broadcasts by audience (50 us per",
        "listener, at most 300 ms); the baseline emits at once, and coalesces hands over 50 ms.",
    ]
    loads = [r for r in results if r.phase == LOAD]
    if loads:
        lines.append("")
        lines.append(
            "Hand actions during the load case (acknowledgement round trip as seen by the attendee):"
        )
        for r in loads:
            lines.append(f"  {r.target:<10} N={r.n}: {hand_summary(r.hands)}")
    lines += [
        "",
        "Against the targets (informational; the same machine runs the clients):",
    ]
    quiet = {r.n: r for r in results if r.target == HEMICYCLE and r.phase == QUIET}
    if TARGET_QUIET_N in quiet:
        p99 = quiet[TARGET_QUIET_N].ms(99)
        clean = quiet[TARGET_QUIET_N].lost == 0 and quiet[TARGET_QUIET_N].dropped == 0
        verdict = "ok" if p99 <= TARGET_QUIET_P99_MS and clean else "over"
        target = f"target {TARGET_QUIET_P99_MS:.0f} ms"
        lines.append(f"  p99 at {TARGET_QUIET_N} attendees: {p99:.0f} ms ({target}) — {verdict}")
    else:
        lines.append(f"  p99 at {TARGET_QUIET_N} attendees: not measured (add {TARGET_QUIET_N} to --sizes)")
    lines += join_storm(opts, results)
    loaded = [r for r in results if r.target == HEMICYCLE and r.phase == LOAD]
    for r in loaded:
        p99 = r.ms(99)
        verdict = "ok" if p99 <= TARGET_LOAD_P99_MS and r.lost == 0 and r.dropped == 0 else "over"
        lines.append(
            f"  p99 at {r.n} attendees with {opts.hand_rate:g} hand actions/s: {p99:.0f} ms "
            f"(target {TARGET_LOAD_P99_MS:.0f} ms at {TARGET_LOAD_N} and {TARGET_LOAD_RATE:g}/s), "
            f"lost updates: {r.lost}, dropped connections: {r.dropped} — {verdict}"
        )
    if not loaded:
        lines.append("  load case: not measured" + (" (--load-seconds 0)" if opts.load_seconds <= 0 else ""))
    lines.append(f"\nTotal time {time.time() - started:.0f} s.")
    return lines


def join_storm(opts: Options, results: list[PhaseResult]) -> list[str]:
    """The join storm per size: the time until N attendees were connected and welcomed, Hemicycle against
    the bare server in the same run (each size's attendees arrive --concurrency at a time per worker). With
    --rounds, each round's pair, then the medians: the time's and the ratio's (of each round's pair)."""
    lines: list[str] = []
    for n in opts.sizes:
        pairs: list[tuple[PhaseResult, PhaseResult | None]] = []
        for turn in range(opts.rounds):
            joined = {r.target: r for r in results if r.n == n and r.phase == QUIET and r.round == turn}
            if HEMICYCLE in joined:
                pairs.append((joined[HEMICYCLE], joined.get(BASELINE)))
        if not pairs:
            continue
        ratios = [
            ours.connect_seconds / base.connect_seconds
            for ours, base in pairs
            if base is not None and base.connect_seconds > 0
        ]
        welcomed = min(ours.connected for ours, _ in pairs)
        seconds = statistics.median(ours.connect_seconds for ours, _ in pairs)
        bases = [base.connect_seconds for _, base in pairs if base is not None]
        ratio = statistics.median(ratios) if ratios else math.nan
        if len(pairs) > 1:
            for turn, (ours, base) in enumerate(pairs):
                figure = f"  join storm, round {turn + 1}: {ours.connected}/{n}, {ours.connect_seconds:.1f} s"
                if base is not None and base.connect_seconds > 0:
                    figure += (
                        f" (bare server {base.connect_seconds:.1f} s, "
                        f"{ours.connect_seconds / base.connect_seconds:.1f}x)"
                    )
                lines.append(figure)
        median = "median " if len(pairs) > 1 else ""
        figure = f"  join storm, {welcomed}/{n} welcomed: {median}{seconds:.1f} s"
        if bases:
            base_seconds = statistics.median(bases)
            figure += f" (bare server {median}{base_seconds:.1f} s, {median}{_fmt(ratio, '.1f')}x)"
        if n == TARGET_JOIN_N:
            in_ratio = not ratios or ratio <= TARGET_JOIN_RATIO
            ok = welcomed == n and seconds <= TARGET_JOIN_SECONDS and in_ratio
            verdict = "ok" if ok else "over"
            figure += f" (target {TARGET_JOIN_SECONDS:.0f} s and {TARGET_JOIN_RATIO:.0f}x) — {verdict}"
        lines.append(figure)
    return lines


# ============================================================================================ running


async def run(opts: Options, started: float, results: list[PhaseResult]) -> int:
    deadline = started + opts.max_seconds
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # SIGTERM: stop as cleanly as Ctrl+C
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    data_dir = Path(tempfile.mkdtemp(prefix="hemicycle-bench-"))
    servers: list[subprocess.Popen[bytes]] = []
    nginx: Nginx | None = None
    try:
        largest = max(opts.sizes)
        say(f"Preparing {largest} attendees in {opts.database_url or data_dir / 'hemicycle.db'} …")
        fixture = await prepare(opts, data_dir, largest)
        say(f"  done in {time.time() - started:.1f} s (session {fixture.session_id})")

        hemicycle_ports, baseline_port = [free_port() for _ in range(opts.processes)], free_port()
        env = server_env(fixture, data_dir)
        if opts.redis_url:
            env["REDIS_URL"] = opts.redis_url
        hemicycle_log, baseline_log = data_dir / "hemicycle.log", data_dir / "baseline.log"
        if opts.proxy == "nginx":
            # The operator's setting behind the shipped nginx configuration.
            env["HEMICYCLE_PROXY_HEADERS"] = "on"
        hemicycles = [
            launch(
                ["-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env,
                hemicycle_log if index == 0 else data_dir / f"hemicycle-{index + 1}.log",
            )
            for index, port in enumerate(hemicycle_ports)
        ]
        hemicycle = hemicycles[0]
        baseline = launch(
            [
                "-m",
                "bench.baseline_server",
                "--port",
                str(baseline_port),
                "--max-seconds",
                str(opts.max_seconds),
            ],
            env,
            baseline_log,
        )
        servers += [*hemicycles, baseline]
        urls = {
            HEMICYCLE: f"http://127.0.0.1:{hemicycle_ports[0]}",
            BASELINE: f"http://127.0.0.1:{baseline_port}",
        }
        # CPU is measured for the first Hemicycle process only.
        pids = {HEMICYCLE: hemicycle.pid, BASELINE: baseline.pid}
        for index, (port, popen) in enumerate(zip(hemicycle_ports, hemicycles, strict=True)):
            log = hemicycle_log if index == 0 else data_dir / f"hemicycle-{index + 1}.log"
            await wait_healthy(f"http://127.0.0.1:{port}", popen, log)
        await wait_healthy(urls[BASELINE], baseline, baseline_log)
        if opts.proxy == "nginx":
            binary = find_nginx()
            if binary is None:
                raise BenchError(
                    "--proxy nginx: no nginx binary (apt-get install nginx, or set HEMICYCLE_NGINX)"
                )
            proxy = Nginx(
                binary, data_dir / "nginx", free_port(), [f"127.0.0.1:{p}" for p in hemicycle_ports]
            )
            proxy.start()
            nginx = proxy
            urls[HEMICYCLE] = proxy.url
        say(
            f"Servers up: Hemicycle {urls[HEMICYCLE]} ({opts.processes} process(es)"
            f"{', behind nginx' if nginx else ''}), baseline {urls[BASELINE]}"
        )

        if opts.kill_one:
            from bench.failover import run_kill_one

            assert fixture.database_url is not None
            size = max(opts.sizes)
            say(f"Failover at {size} attendees …")
            lines = await run_kill_one(
                urls[HEMICYCLE],
                hemicycles,
                fixture.database_url,
                fixture.session_id,
                fixture.moderator_token,
                fixture.attendees[:size],
                say,
                hands=min(20, max(2, size // 10)),
                posters=min(10, max(2, size // 10)),
            )
            for line in lines:
                say(line)
            say(f"\nTotal time {time.time() - started:.0f} s.")
            return 0

        for turn in range(opts.rounds):
            # Each round the other server goes first: a machine slowing down or speeding up during the run
            # weighs on both alike.
            order = (BASELINE, HEMICYCLE) if turn % 2 == 0 else (HEMICYCLE, BASELINE)
            for n in opts.sizes:
                for target in order:
                    load = n == opts.load_at and opts.load_seconds > 0
                    last = n == opts.sizes[-1] and turn == opts.rounds - 1 and target == order[-1]
                    try:
                        case = await run_case(
                            opts, target, urls[target], pids, fixture, n, load, deadline, last
                        )
                    except Exception:
                        for name, popen, log in (
                            (HEMICYCLE, hemicycle, hemicycle_log),
                            (BASELINE, baseline, baseline_log),
                        ):
                            code = popen.poll()
                            state = "still running" if code is None else f"exited with {code}"
                            say(f"! the {name} server is {state}; the end of its log:\n{tail(log, 1500)}")
                        raise
                    for result in case:
                        result.round = turn
                    results += case
        for line in report(results, opts, started):
            say(line)
        for popen, log in ((hemicycle, hemicycle_log), (baseline, baseline_log)):
            if popen.poll() is not None:
                say(f"! {log.name}: the server exited with {popen.returncode}")
        errors = [
            line for line in hemicycle_log.read_text(errors="replace").splitlines() if " ERROR " in line
        ]
        if errors:
            say(f"! the Hemicycle server logged {len(errors)} errors, first: {errors[0][:300]}")
        return 0
    finally:
        if nginx is not None:
            nginx.stop()
        for popen in servers:
            stop(popen)
        if opts.keep:
            say(f"(kept {data_dir})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def parse(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes", default="100,200", help="attendee counts, comma-separated (default 100,200)"
    )
    parser.add_argument(
        "--actions", type=int, default=20, help="floor actions measured per case (default 20)"
    )
    parser.add_argument("--workers", type=int, default=2, help="attendee processes (default 2)")
    parser.add_argument(
        "--interval", type=float, default=0.3, help="pause between quiet actions, s (default 0.3)"
    )
    parser.add_argument(
        "--load-seconds", type=float, default=5, help="length of the load case, s (default 5; 0: skip it)"
    )
    parser.add_argument("--load-at", type=int, help="the size the load case runs at (default: the largest)")
    parser.add_argument(
        "--hand-rate", type=float, default=50, help="hand actions per second in the load case"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=25,
        help="connections being opened at once, per worker (default 25)",
    )
    parser.add_argument("--settle-seconds", type=float, default=30, help="wait for late deliveries, at most")
    parser.add_argument(
        "--database-url",
        "--database",
        help="a throwaway database for Hemicycle (default: SQLite in a temp dir); "
        "postgresql://... is taken as postgresql+asyncpg://...",
    )
    parser.add_argument("--redis-url", help="make Hemicycle fan out through Redis")
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="abort everything after this (default 600)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (database, server logs)"
    )
    parser.add_argument("--details", action="store_true", help="print every action's figures")
    parser.add_argument(
        "--client",
        choices=(LIGHT, SOCKETIO),
        default=LIGHT,
        help="the attendees' Socket.IO client: the lean one in bench/lightclient.py (default), or "
        "python-socketio's AsyncClient, several times heavier on the shared cores",
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="Hemicycle processes (default 1; more need --proxy nginx)"
    )
    parser.add_argument(
        "--proxy",
        choices=("none", "nginx"),
        default="none",
        help="put nginx (the system's binary, deploy/nginx/hemicycle.conf) in front of the processes",
    )
    parser.add_argument(
        "--kill-one",
        action="store_true",
        help="instead of the fan-out cases: kill -9 the process holding the speaker at the largest size "
        "and measure its attendees' return (needs --processes 2 or more behind --proxy nginx)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every case this many times, the two servers taking turns to go first; the join storm "
        "is then judged on the medians (default 1)",
    )
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes whole numbers separated by commas")
    if not sizes or min(sizes) < 1 or args.actions < 1 or args.workers < 1:
        parser.error("sizes, --actions and --workers must be at least 1")
    if args.load_at is not None and args.load_at not in sizes:
        parser.error("--load-at must be one of --sizes")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    if (args.database_url or "").startswith("postgresql://"):
        args.database_url = "postgresql+asyncpg://" + args.database_url.removeprefix("postgresql://")
    if args.processes > 1 and args.proxy != "nginx":
        parser.error("several processes need a proxy in front: --proxy nginx")
    if args.processes > 1 and not ((args.database_url or "").startswith("postgresql") and args.redis_url):
        parser.error(
            "several processes share one database and Redis: --database-url postgresql+asyncpg://... "
            "and --redis-url"
        )
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.kill_one and args.processes < 2:
        parser.error("--kill-one needs --processes 2 or more (and --proxy nginx)")
    return Options(
        sizes=sizes,
        actions=args.actions,
        workers=args.workers,
        interval=args.interval,
        load_seconds=args.load_seconds,
        load_at=args.load_at or max(sizes),
        hand_rate=args.hand_rate,
        concurrency=args.concurrency,
        settle_seconds=args.settle_seconds,
        database_url=args.database_url,
        redis_url=args.redis_url,
        max_seconds=args.max_seconds,
        keep=args.keep,
        details=args.details,
        client=args.client,
        processes=args.processes,
        proxy=args.proxy,
        kill_one=args.kill_one,
        rounds=args.rounds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(argv)
    started = time.time()
    say(f"fd limit: {raise_fd_limit()}")

    def hard_stop() -> None:  # the event loop is wedged: stop everything without it
        print(f"\nbench.fanout: still running after {opts.max_seconds + 30:.0f} s; killing", flush=True)
        CHILDREN.kill_all()
        os._exit(3)

    watchdog = threading.Timer(opts.max_seconds + 30, hard_stop)
    watchdog.daemon = True
    watchdog.start()
    results: list[PhaseResult] = []

    def partial() -> None:
        if results:
            say("What was measured before then:")
            for line in report(results, opts, started):
                say(line)

    try:
        return asyncio.run(asyncio.wait_for(run(opts, started, results), opts.max_seconds))
    except TimeoutError:
        say(f"\nbench.fanout: aborted after --max-seconds {opts.max_seconds:.0f}")
        partial()
        return 2
    except BenchError as exc:
        say(f"\nbench.fanout: {exc}")
        partial()
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("\nbench.fanout: interrupted")
        partial()
        return 130
    except Exception:
        traceback.print_exc()
        partial()
        return 1
    finally:
        CHILDREN.kill_all()
        watchdog.cancel()


if __name__ == "__main__":
    # Through the module's real name, so what workers send back unpickles here (spawn, not __main__).
    from bench import fanout

    raise SystemExit(fanout.main())
