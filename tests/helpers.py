"""Test helpers: a real server on a real socket, real Socket.IO clients, waiting with deadlines."""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from server.db.caption_store import CaptionStore
from server.db.question_store import QuestionStore
from server.db.queue_store import QueueStore
from server.db.recording_store import RecordingStore
from server.db.snapshot_store import SnapshotStore
from server.db.store import Store
from server.domain.captions import RECENT_LINES
from server.domain.roles import Role
from server.service import Hemicycle
from server.settings import Settings

SECRET = "test-secret-" + "x" * 40

REGISTRATION = {
    "display_name": "Amina Diallo",
    "affiliation": "Ministry of Communication",
    "stakeholder_group": "government",
    "country": "SN",
}


def serve_output(process: subprocess.Popen[str], deadline: float) -> str:
    """What a `hemicycle serve` process printed until it said it is running (or stopped, or `deadline`, a
    time.monotonic() value, passed): its links and addresses."""
    assert process.stdout is not None
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Hemicycle is running on" in line:
            break
    return "".join(lines)


def die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send ``sig`` to the child when the test run dies, even by SIGKILL.

    Fixture teardown and atexit cover every ending but a hard kill; this covers that one, so no
    server, browser or other child outlives the run.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)

    return preexec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until check() returns something truthy, or fail with the last value after the deadline. An
    asynchronous check is awaited (a coroutine object itself would always be truthy)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


@dataclass
class Client:
    """A python-socketio client that records every event it receives."""

    url: str
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    events: list[tuple[str, Any]] = field(default_factory=list)
    connect_error: Any = None

    def __post_init__(self) -> None:
        @self.sio.on("*")
        async def _record(event: str, *args: Any) -> None:
            self.events.append((event, args[0] if args else None))

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

    async def connect(self, token: str | None, session_id: Any, **auth: Any) -> None:
        payload = {"token": token, "session_id": session_id, **auth}
        await self.sio.connect(self.url, auth=payload, transports=["websocket"], wait_timeout=10)

    async def try_connect(self, auth: Any) -> Any:
        """Connect expecting a refusal; returns the refusal's data."""
        try:
            await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            return self.connect_error
        await self.sio.disconnect()
        raise AssertionError("the connection was accepted")

    def received(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def last(self, name: str) -> Any:
        found = self.received(name)
        return found[-1] if found else None

    async def wait_for(
        self, name: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 5.0
    ) -> Any:
        def find() -> Any:
            for data in reversed(self.received(name)):
                if predicate(data):
                    return {"found": data}
            return None

        return (await eventually(find, timeout))["found"]

    def public_questions(self) -> dict[str, Any] | None:
        """The approved questions as a page shows them: the welcome's list, then each `questions:changed`."""
        return fold_questions(self.events)

    def moderation(self) -> dict[str, Any] | None:
        """Every question as staff see them: the welcome's list, then each `questions:staff_changed`."""
        return fold_questions(self.events, staff=True)

    async def wait_questions(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0, *, staff: bool = False
    ) -> dict[str, Any]:
        """Wait until the approved questions (or, `staff`, all of them), folded from the welcome and the
        deltas, satisfy predicate."""

        def check() -> dict[str, Any] | None:
            view = self.moderation() if staff else self.public_questions()
            return view if view is not None and predicate(view) else None

        return dict(await eventually(check, timeout))

    async def wait_moderation(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        return await self.wait_questions(predicate, timeout, staff=True)

    async def wait_place(self, entry_id: int, place: int, timeout: float = 5.0) -> Any:
        """Wait for a `queue:line` that has this entry at this place (1 = next), as the page reads it."""
        return await self.wait_for("queue:line", lambda line: place_in(line, entry_id) == place, timeout)

    async def call(self, event: str, payload: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, payload, timeout=timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def fold_questions(events: list[tuple[str, Any]], staff: bool = False) -> dict[str, Any] | None:
    """PublicQuestions (or, `staff`, Moderation) from the last welcome and the deltas after it, as
    web/js/protocol/questions.js applies them: each question's content and votes are taken only from an
    update at least as new as the one they came from (deltas from several processes may arrive out of
    order)."""
    key, delta_event = (
        ("moderation", "questions:staff_changed") if staff else ("questions", "questions:changed")
    )
    meta_keys = ("premoderated", "counts") if staff else ("premoderated", "reading_id")
    view: dict[str, Any] | None = None
    held: dict[int, dict[str, Any]] = {}
    labels: dict[int, list[int]] = {}  # question id -> [content version, votes version]
    for name, data in events:
        if name == "welcome":
            full = data.get(key)
            if full is None:
                view = None
                continue
            view = {k: v for k, v in full.items() if k not in ("questions", "reading")}
            if not staff:
                view["reading_id"] = full["reading"]["id"] if full["reading"] else None
            held = {q["id"]: dict(q) for q in full["questions"]}
            labels = {q["id"]: [full["version"], full["version"]] for q in full["questions"]}
        elif name == delta_event and view is not None:
            version = data["version"]
            for q in data["questions"]:
                content, votes = labels.setdefault(q["id"], [-1, -1])
                if "text" in q and version >= content:
                    held[q["id"]] = {**q, "votes": held.get(q["id"], q)["votes"]}
                    labels[q["id"]][0] = version
                if version >= votes and q["id"] in held:
                    held[q["id"]]["votes"] = q["votes"]
                    labels[q["id"]][1] = version
            for question_id in data.get("removed", []):
                if version >= labels.setdefault(question_id, [-1, -1])[0]:
                    held.pop(question_id, None)
                    labels[question_id][0] = version
            if version >= view["version"]:
                view.update({k: data[k] for k in meta_keys}, version=version)
    if view is None:
        return None
    questions = [held[i] for i in sorted(held)]
    if staff:
        return {**view, "questions": questions}
    reading = next((q for q in questions if q["id"] == view["reading_id"]), None)
    return {**view, "questions": questions, "reading": reading}


def place_in(line: dict[str, Any], entry_id: int) -> int | None:
    """An entry's place in a `queue:line` (1 = next), or None when it is not queued."""
    order = line["order"]
    return order.index(entry_id) + 1 if entry_id in order else None


async def register_at(url: str, event_id: int, **fields: Any) -> dict[str, Any]:
    """Register an attendee over HTTP at `url`: the sample registration, with `fields` over it."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/events/{event_id}/participants", json={**REGISTRATION, **fields}) as response,
    ):
        assert response.status == 201, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def mint(
    core: Hemicycle,
    role: Role,
    session_id: int | None,
    event_id: int | None = None,
    ttl: timedelta = timedelta(hours=1),
) -> str:
    """A staff link's token for a role, in a session (or event-wide, with session_id None), valid an hour
    unless `ttl` says otherwise (a negative one gives an expired link)."""
    if session_id is not None:
        event_id = (await core.store.get_session(session_id)).event_id
    assert event_id is not None, "an event-wide grant needs its event"
    person, grant = await core.store.staff_grant(event_id, session_id, role)
    token, _ = core.tokens.issue(
        grant_id=grant,
        participant_id=person.id,
        role=role,
        event_id=event_id,
        session_id=session_id,
        ttl=ttl,
    )
    return token


@dataclass
class Running:
    """A Hemicycle app on a real port, with the demo event seeded."""

    server: TestServer
    core: Hemicycle
    event_id: int
    live_session: int
    scheduled_session: int
    clients: list[Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def staff_token(self, role: Role, session_id: int | None = None) -> str:
        session_id = self.live_session if session_id is None else session_id
        return await mint(self.core, role, None if role is Role.ADMIN else session_id, self.event_id)

    async def register(self, **fields: Any) -> dict[str, Any]:
        return await register_at(self.url, self.event_id, **fields)

    def client(self) -> Client:
        client = Client(self.url)
        self.clients.append(client)
        return client

    async def join_many(self, tokens: list[str], at_once: int = 25) -> list[Client]:
        """Connect many clients, a few at a time, as a crowd arriving rather than one thundering herd."""
        gate = asyncio.Semaphore(at_once)

        async def one(token: str) -> Client:
            async with gate:
                return await self.join(token)

        return list(await asyncio.gather(*(one(t) for t in tokens)))

    async def join(self, token: str, session_id: int | None = None) -> Client:
        client = self.client()
        await client.connect(token, self.live_session if session_id is None else session_id)
        await client.wait_for("welcome")
        return client


async def start(app: web.Application, port: int | None = None, shutdown_timeout: float = 60.0) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=port or free_port())
    await server.start_server(shutdown_timeout=shutdown_timeout)
    return server


def snapshots_of(store: Store, per_participant: int | None = None) -> SnapshotStore:
    """A welcome's reads and a joining connection's record over `store`, as the server makes them (with
    the default bound on a participant's connections unless `per_participant`)."""
    queue, questions, captions = QueueStore(store), QuestionStore(store), CaptionStore(store)
    defaults = Settings()
    return SnapshotStore(
        store,
        queue,
        questions,
        captions,
        RecordingStore(store),
        RECENT_LINES,
        per_participant=per_participant or defaults.connections_per_participant,
        live_within=timedelta(seconds=3 * defaults.heartbeat_seconds),
    )
