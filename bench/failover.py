"""`bench.fanout --kill-one`: kill -9 one of several Hemicycle processes behind nginx, and measure how long
its attendees take to be back, and whether anything they did was lost or doubled.

The attendees are the lean clients of bench/lightclient.py, in this process, each reconnecting by itself
with the web client's back-off (web/js/protocol.js: 1 s ± 90%, doubling up to 8 s). Before the kill, some
attendees have their hand up and one of them holds the floor; during it, some attendees on both processes
keep posting questions, each sent once and never retried. Afterwards:

- **back**: for every attendee of the killed process, the time from the kill to its next `welcome`;
- **places**: every hand still in line at the same place, the speaker still holding the floor (the floor's
  grace period, HEMICYCLE_FLOOR_GRACE_SECONDS, is longer than the return);
- **lost**: questions acknowledged but not in the database; **doubled**: a question or a hand stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

from bench.lightclient import LightClient

# The web client's reconnection back-off (web/js/protocol.js).
RECONNECT_DELAY = 1.0
RECONNECT_JITTER = 0.9
RECONNECT_DELAY_MAX = 8.0


def backoff(attempt: int) -> float:
    base = min(RECONNECT_DELAY * 2**attempt, RECONNECT_DELAY_MAX)
    return max(0.0, base * (1 + RECONNECT_JITTER * random.uniform(-1, 1)))


def refusal_name(exc: BaseException) -> str:
    """A failed attempt as counted in the report: its kind, and the HTTP status of a refused handshake."""
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    index = max(0, -(-len(ordered) * p // 100) - 1)
    return ordered[min(int(index), len(ordered) - 1)]


@dataclass(eq=False)
class Person:
    participant_id: int
    token: str
    client: LightClient | None = None
    welcomes: list[float] = field(default_factory=list)
    gone: list[float] = field(default_factory=list)  # when each connection was lost
    reconnecting: bool = False


@dataclass
class Crowd:
    url: str
    session_id: int
    http: aiohttp.ClientSession
    people: list[Person]
    stopping: bool = False
    refusals: Counter[str] = field(default_factory=Counter)
    tasks: set[asyncio.Future[None]] = field(default_factory=set)

    async def connect(self, person: Person, timeout: float = 60) -> None:
        client = LightClient(self.http)

        async def on_welcome(_data: Any) -> None:
            person.welcomes.append(time.time())

        async def on_disconnect() -> None:
            person.gone.append(time.time())
            if not self.stopping and not person.reconnecting:
                task = asyncio.ensure_future(self.reconnect(person))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        client.on("welcome", on_welcome)
        client.on("disconnect", on_disconnect)
        welcomed = len(person.welcomes)
        url = f"{self.url}/?route=p{person.participant_id}"
        await client.connect(
            url, {"token": person.token, "session_id": self.session_id}, wait_timeout=timeout
        )
        person.client = client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(person.welcomes) == welcomed:
            if loop.time() > deadline or not client.connected:
                raise ConnectionError("no welcome")
            await asyncio.sleep(0.02)

    async def reconnect(self, person: Person) -> None:
        person.reconnecting = True
        try:
            attempt = 0
            while not self.stopping:
                await asyncio.sleep(backoff(attempt))
                try:
                    await self.connect(person)
                    return
                except Exception as exc:
                    self.refusals[refusal_name(exc)] += 1
                    attempt += 1
        finally:
            person.reconnecting = False

    async def close(self) -> None:
        self.stopping = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(
            *(p.client.disconnect() for p in self.people if p.client is not None), return_exceptions=True
        )


async def _presence(database_url: str, session_id: int) -> tuple[dict[int, str], dict[str, int]]:
    """(participant id -> instance id, instance id -> pid), read from the database the processes share."""
    from sqlalchemy import select

    from server.db import models as m
    from server.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(m.Presence.participant_id, m.Presence.instance_id).where(
                        m.Presence.session_id == session_id
                    )
                )
            ).all()
            instances = (await connection.execute(select(m.Instance.id, m.Instance.pid))).all()
        return {int(p): str(i) for p, i in rows}, {str(i): int(pid) for i, pid in instances}
    finally:
        await engine.dispose()


async def _stored(database_url: str, session_id: int) -> tuple[Counter[int], dict[int, str]]:
    """(interventions per participant, question id -> text) of the session."""
    from sqlalchemy import func, select

    from server.db import models as m
    from server.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            hands = (
                await connection.execute(
                    select(m.Intervention.participant_id, func.count())
                    .where(
                        m.Intervention.session_id == session_id, m.Intervention.participant_id.is_not(None)
                    )
                    .group_by(m.Intervention.participant_id)
                )
            ).all()
            questions = (
                await connection.execute(
                    select(m.Question.id, m.Question.text).where(m.Question.session_id == session_id)
                )
            ).all()
        return Counter({int(p): int(c) for p, c in hands}), {int(i): str(t) for i, t in questions}
    finally:
        await engine.dispose()


async def _post(person: Person, crowd: Crowd, acknowledged: dict[int, str], sent: list[str]) -> None:
    """One question a second, each sent once: a call that fails is not retried (as on the page)."""
    k = 0
    while not crowd.stopping:
        client = person.client
        if client is not None and client.connected:
            text = f"Failover question {k} of participant {person.participant_id}"
            k += 1
            sent.append(text)
            with contextlib.suppress(Exception):
                reply = await client.call("question:post", {"text": text}, timeout=10)
                if reply.get("ok"):
                    acknowledged[int(reply["data"]["question"]["id"])] = text
        await asyncio.sleep(1.0)


async def run_kill_one(
    url: str,
    processes: list[subprocess.Popen[bytes]],
    database_url: str,
    session_id: int,
    moderator_token: str,
    attendees: list[tuple[int, str]],
    say: Any,
    hands: int = 20,
    posters: int = 10,
    concurrency: int = 50,
    back_within: float = 60.0,
) -> list[str]:
    """Connect the attendees through `url`, kill -9 the process holding the speaker, and report."""
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    crowd = Crowd(url, session_id, http, [Person(pid, token) for pid, token in attendees])
    moderator = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5, handle_sigint=False)
    posting: list[asyncio.Future[None]] = []
    try:
        gate = asyncio.Semaphore(concurrency)
        started = time.time()

        async def join(person: Person) -> None:
            async with gate:
                for attempt in range(3):
                    try:
                        await crowd.connect(person)
                        return
                    except Exception as exc:
                        crowd.refusals[refusal_name(exc)] += 1
                        await asyncio.sleep(0.5 * (attempt + 1))

        await asyncio.gather(*(join(p) for p in crowd.people))
        joined = sum(bool(p.welcomes) for p in crowd.people)
        say(f"  {joined}/{len(crowd.people)} attendees joined through nginx in {time.time() - started:.1f} s")
        await moderator.connect(
            f"{url}/?route=moderator",
            auth={"token": moderator_token, "session_id": session_id},
            transports=["websocket"],
            wait_timeout=60,
        )

        raisers = [p for p in crowd.people if p.client is not None][:hands]
        entries: dict[int, int] = {}
        for person in raisers:
            assert person.client is not None
            reply = await person.client.call("hand:raise", {"type": "statement", "language": "en"})
            if reply.get("ok"):
                entries[person.participant_id] = int(reply["data"]["entry"]["id"])
        speaker = raisers[0].participant_id
        granted = await moderator.call("floor:grant", {"entry_id": entries[speaker]}, timeout=30)
        if not granted.get("ok"):
            return [f"  the moderator could not give the floor: {granted}"]
        before = (await moderator.call("queue:get", {}, timeout=30))["data"]["queue"]
        order_before = [e["id"] for e in before["queue"]]

        on, pids = await _presence(database_url, session_id)
        doomed = on[speaker]
        victim = next(p for p in processes if p.pid == pids[doomed])
        moved = [p for p in crowd.people if on.get(p.participant_id) == doomed]
        stayed = [p for p in crowd.people if p.participant_id in on and on[p.participant_id] != doomed]
        say(
            f"  {len(moved)} attendees on the process to kill (pid {victim.pid}), {len(stayed)} on the others"
        )

        acknowledged: dict[int, str] = {}
        sent: list[str] = []
        chosen = [p for p in raisers[1:] if p in moved][: posters // 2]
        chosen += [p for p in crowd.people if p in stayed and p not in chosen][: posters - len(chosen)]
        posting = [asyncio.ensure_future(_post(p, crowd, acknowledged, sent)) for p in chosen]
        await asyncio.sleep(1.5)

        killed_at = time.time()
        victim.kill()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + back_within
        while loop.time() < deadline:
            if all(p.welcomes and p.welcomes[-1] > killed_at for p in moved):
                break
            await asyncio.sleep(0.05)
        returns = sorted(
            next(t for t in p.welcomes if t > killed_at) - killed_at
            for p in moved
            if p.welcomes and p.welcomes[-1] > killed_at
        )
        await asyncio.sleep(2.0)  # the posters go on a moment on the other process
        crowd.stopping = True
        await asyncio.gather(*posting, return_exceptions=True)

        after: dict[str, Any] = {}
        for _ in range(30):  # the moderator may have been on the killed process too
            with contextlib.suppress(Exception):
                reply = await moderator.call("queue:get", {}, timeout=10)
                if reply.get("ok"):
                    after = reply["data"]["queue"]
                    break
            await asyncio.sleep(0.5)
        order_after = [e["id"] for e in after.get("queue", [])]
        floor_kept = (after.get("speaking") or {}).get("id") == entries[speaker]
        hands_stored, questions = await _stored(database_url, session_id)
        texts = Counter(questions.values())
        lost = [i for i in acknowledged if i not in questions]
        doubled_questions = sum(c - 1 for c in texts.values() if c > 1)
        doubled_hands = sum(c - 1 for c in hands_stored.values() if c > 1)
        rejoined_elsewhere = sum(1 for p in stayed if p.welcomes and p.welcomes[-1] > killed_at)
        ms = [r * 1000 for r in returns]
        noticed = sorted(
            (next(t for t in p.gone if t >= killed_at) - killed_at) * 1000
            for p in moved
            if any(t >= killed_at for t in p.gone)
        )
        return [
            f"Kill -9 of one of {len(processes)} processes behind nginx, {len(crowd.people)} attendees "
            f"({len(moved)} on the killed process), {len(entries)} hands up, one holding the floor:",
            f"  back: {len(returns)}/{len(moved)} within {back_within:.0f} s; time from the kill to the new "
            f"welcome p50 {percentile(ms, 50):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
            f"max {percentile(ms, 100):.0f} ms (connections lost after p50 "
            f"{percentile(noticed, 50):.0f} ms, max {percentile(noticed, 100):.0f} ms)",
            f"  queue order kept: {order_after == order_before} ({len(order_after)} in line), "
            f"floor kept: {floor_kept}",
            f"  questions: {len(sent)} sent during the failover, {len(acknowledged)} acknowledged, "
            f"{len(lost)} acknowledged but lost, {doubled_questions} stored twice; hands stored twice: "
            f"{doubled_hands}",
            f"  attendees of the surviving process that had to reconnect: {rejoined_elsewhere}; "
            f"failed connection attempts: {dict(crowd.refusals) or 0}",
        ]
    finally:
        crowd.stopping = True
        for task in posting:
            task.cancel()
        with contextlib.suppress(Exception):
            await moderator.disconnect()
        await crowd.close()
        await http.close()
