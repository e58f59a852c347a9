"""`bench.fanout --kill-one`: kill -9 one of several Hemicycle processes behind nginx, and measure how long
its attendees take to be back, and whether anything they did was lost or doubled.

The attendees are the lean clients of bench/lightclient.py, in this process, each reconnecting by itself
with the web client's back-off (web/js/protocol.js: 1 s ± 90%, doubling up to 8 s). Before the kill, some
attendees have their hand up and one of them holds the floor; during it, some attendees on both processes
keep posting questions, each sent once and never retried. Afterwards:

- **back**: for every attendee of the killed process, the time from the kill to its next `welcome`;
- **places**: every hand still in line at the same place, the speaker still holding the floor (the floor's
  grace period, HEMICYCLE_FLOOR_GRACE_SECONDS, is longer than the return);
- **lost**: questions or raised hands acknowledged but not in the database; **doubled**: a question stored
  twice, or more requests stored for someone than they sent.
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


HAND = {"type": "statement", "language": "en"}


@dataclass
class HandLoad:
    """The hand actions sent during the failover: raises sent per participant, and each one's last action."""

    raises_sent: Counter[int] = field(default_factory=Counter)
    # participant -> (their last action's number, raised?, acknowledged?: None while unanswered)
    last: dict[int, tuple[int, bool, bool | None]] = field(default_factory=dict)
    actions: int = 0
    acknowledged: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # error codes, and calls that got no answer
    acks: list[float] = field(default_factory=list)  # seconds, acknowledged actions

    def expected_in_line(self) -> dict[int, bool]:
        """Whether each participant should be in line now, for those whose last action was acknowledged."""
        return {pid: raised for pid, (_n, raised, ok) in self.last.items() if ok}


async def _hand_action(person: Person, client: Any, up: set[int], load: HandLoad) -> None:
    pid = person.participant_id
    raising = pid not in up
    if raising:
        up.add(pid)
        load.raises_sent[pid] += 1
    else:
        up.discard(pid)
    load.actions += 1
    number = load.actions
    load.last[pid] = (number, raising, None)
    sent = time.time()
    event, payload = ("hand:raise", HAND) if raising else ("hand:lower", {})
    try:
        reply = await client.call(event, payload, timeout=10)
    except Exception as exc:  # no answer: the connection went with its process
        load.refused[type(exc).__name__] += 1
        return
    ok = bool(reply.get("ok"))
    if load.last[pid][0] == number:
        load.last[pid] = (number, raising, ok)
    if ok:
        load.acknowledged += 1
        load.acks.append(time.time() - sent)
    else:
        load.refused[str(reply.get("error", {}).get("code"))] += 1


async def _hands(people: list[Person], crowd: Crowd, rate: float, load: HandLoad) -> None:
    """`rate` hand actions a second in all, taking the people in turn (each raises, then lowers)."""
    if not people:
        return  # a crowd small enough to be all in line or posting
    up: set[int] = set()
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    actions: set[asyncio.Future[None]] = set()
    turn = 0
    while not crowd.stopping:
        person = people[turn % len(people)]
        turn += 1
        client = person.client
        if client is not None and client.connected:
            action = asyncio.ensure_future(_hand_action(person, client, up, load))
            actions.add(action)
            action.add_done_callback(actions.discard)
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - loop.time()))
    await asyncio.gather(*actions, return_exceptions=True)


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
    hand_rate: float = 50.0,
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
        # Hands up and down at `hand_rate`, from people on both processes (not those in line, nor the
        # posters): each acts every few seconds, within the allowance for hands (signaling/hub.py).
        busy = {p.participant_id for p in (*raisers, *chosen)}
        load = HandLoad()
        lifters = [p for p in moved if p.participant_id not in busy][:100]
        lifters += [p for p in stayed if p.participant_id not in busy][: 200 - len(lifters)]
        posting.append(asyncio.ensure_future(_hands(lifters, crowd, hand_rate, load)))
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
        # The 20 who were in line before, in the same order (the load's hands come and go around them).
        order_after = [e["id"] for e in after.get("queue", []) if e["id"] in set(order_before)]
        floor_kept = (after.get("speaking") or {}).get("id") == entries[speaker]
        hands_stored, questions = await _stored(database_url, session_id)
        texts = Counter(questions.values())
        lost = [i for i in acknowledged if i not in questions]
        doubled_questions = sum(c - 1 for c in texts.values() if c > 1)
        # Everyone's requests: no more stored than they sent (each sent once), none acknowledged and missing.
        sent_raises = Counter({p.participant_id: 1 for p in raisers}) + load.raises_sent
        doubled_hands = sum(max(0, hands_stored[pid] - sent_raises[pid]) for pid in hands_stored)
        # Whoever's last action was acknowledged is in line, or not, as it said.
        in_line = {e.get("participant_id") for e in after.get("queue", [])}
        lost_hands = sum((pid in in_line) != raised for pid, raised in load.expected_in_line().items())
        hand_acks = sorted(a * 1000 for a in load.acks)
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
            f"{len(lost)} acknowledged but lost, {doubled_questions} stored twice",
            f"  hand actions: {load.actions} sent at {hand_rate:.0f}/s by {len(lifters)} attendees, "
            f"{load.acknowledged} acknowledged (p50 {percentile(hand_acks, 50):.0f} ms, p99 "
            f"{percentile(hand_acks, 99):.0f} ms), refused or unanswered: {dict(load.refused) or 0}; "
            f"in line or not other than last acknowledged: {lost_hands}, requests stored beyond those sent: "
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
