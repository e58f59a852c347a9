"""Poll benchmark: thousands of attendees answer one poll within seconds.

    python -m bench.polls                                    # 500 attendees over 5 s: a minute or two
    python -m bench.polls --attendees 5000 --answer-seconds 10 --max-seconds 1800   # see README.md

The script seeds a database (as bench.fanout does: the demo event and N attendees with their tokens), starts
one Hemicycle server (`python -m server serve`), connects a moderator from this process and N attendees from
--workers processes (the lean client, bench/lightclient.py), each counting every byte the server sends it.
Then:

1. **idle** (the baseline, in the same run): for --idle-seconds nothing happens; the bytes each attendee
   receives (presence, pings) are what a session costs them without a poll;
2. the moderator prepares a single-choice poll of four options, opens it and shows its results (the worst
   case for attendees: every change then reaches them too);
3. **one answer** (the baseline of the staff's delay): one attendee answers; the time until the moderator's
   `polls:staff_changed` counts it;
4. **burst**: every other attendee answers once, at a moment spread evenly over --answer-seconds. Each
   answer's acknowledgement time is recorded (wall clock, shared by every process of the machine). For each
   accepted answer k (in order of acknowledgement), its staff delay is the first `polls:staff_changed` that
   counts at least k answers, minus the moment answer k was acknowledged: how long the staff's results lag
   behind a change. The bytes every attendee receives over the burst and --settle-seconds after it give the
   bytes per attendee per second, beside the idle baseline;
5. **checks**: the staff's final count equals the accepted answers, and so do the rows stored (one per
   attendee: no answer counted twice).

It prints the figures and, informationally, how they compare with the targets (staff within 1 s of each
change; attendee broadcasts bounded). It never asserts a time. Everything runs on loopback, is bounded in
count and time (--max-seconds), and stops by itself: subprocesses are killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from bench.fanout import (
    CHILDREN,
    BenchError,
    Options,
    free_port,
    launch,
    percentile,
    prepare,
    raise_fd_limit,
    receive,
    say,
    server_env,
    stop,
    wait_healthy,
)
from bench.lightclient import LightClient

TARGET_STAFF_SECONDS = 1.0
OPTIONS = ["Access", "Skills", "Finance", "Rights"]


# ===================================================================================== worker processes


class CountingClient(LightClient):
    """The lean client, counting the bytes of every Socket.IO packet the server sends it."""

    received_bytes = 0

    async def _packet(self, text: str) -> None:
        self.received_bytes += len(text.encode())
        await super()._packet(text)


@dataclass
class Spec:
    index: int
    url: str
    session_id: int
    tokens: list[tuple[int, str]]
    concurrency: int
    deadline: float


@dataclass
class Answered:
    sent: float
    acked: float
    ok: bool
    code: str | None


@dataclass
class Person:
    participant_id: int
    client: CountingClient
    connected: bool = False
    answers: list[Answered] = field(default_factory=list)


async def _answer(person: Person, poll_id: int, choice: int, at: float) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))
    sent = time.time()
    try:
        reply = await person.client.call("poll:answer", {"poll_id": poll_id, "choices": [choice]}, timeout=60)
    except Exception as exc:  # a dropped connection or a timeout: refused, as far as the bench knows
        person.answers.append(Answered(sent, time.time(), False, type(exc).__name__))
        return
    ok = bool(reply and reply.get("ok"))
    code = None if ok else str((reply or {}).get("error", {}).get("code"))
    person.answers.append(Answered(sent, time.time(), ok, code))


async def _worker(spec: Spec, conn: Connection) -> None:
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    people = [Person(pid, CountingClient(http)) for pid, _ in spec.tokens]
    gate = asyncio.Semaphore(spec.concurrency)

    async def join(person: Person, token: str) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await person.client.connect(spec.url, auth={"token": token, "session_id": spec.session_id})
                person.connected = True

    await asyncio.gather(*(join(p, token) for p, (_, token) in zip(people, spec.tokens, strict=True)))
    gc.collect()
    gc.freeze()
    conn.send(("ready", sum(p.connected for p in people)))
    tasks: list[asyncio.Task[None]] = []
    while time.time() < spec.deadline:
        if not conn.poll():
            await asyncio.sleep(0.02)
            continue
        command, *args = conn.recv()
        if command == "bytes":
            live = [p for p in people if p.client.connected]
            conn.send(("bytes", [p.client.received_bytes for p in live]))
        elif command == "answer":
            poll_id, plan = args  # [(local index, choice, at)]
            for local, choice, at in plan:
                if people[local].connected:
                    tasks.append(asyncio.create_task(_answer(people[local], poll_id, choice, at)))
            conn.send(("answer", len(tasks)))
        elif command == "collect":
            await asyncio.gather(*tasks, return_exceptions=True)
            conn.send(("collect", [a for p in people for a in p.answers]))
        elif command == "stop":
            break
    await asyncio.gather(*(p.client.disconnect() for p in people), return_exceptions=True)
    await http.close()


def worker_main(spec: Spec, conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    parent = os.getppid()

    def watchdog() -> None:
        while time.time() < spec.deadline + 5 and os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    asyncio.run(_worker(spec, conn))
    os._exit(0)


# ======================================================================================= the main process


@dataclass
class Settings:
    attendees: int
    answer_seconds: float
    idle_seconds: float
    settle_seconds: float
    workers: int
    concurrency: int
    database_url: str | None
    max_seconds: float


class Staff:
    """The moderator: prepares the poll and records each `polls:staff_changed` (when, how many answers)."""

    def __init__(self, url: str, token: str, session_id: int) -> None:
        self.url, self.token, self.session_id = url, token, session_id
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.seen: list[tuple[float, int]] = []
        self.welcomed = asyncio.Event()
        self.changed = asyncio.Event()

        async def on_welcome(_data: Any) -> None:
            self.welcomed.set()

        async def on_staff(data: dict[str, Any]) -> None:
            polls = data.get("polls") or []
            if polls and polls[-1].get("results"):
                self.seen.append((time.time(), int(polls[-1]["results"]["total"]["respondents"])))
                self.changed.set()

        self.sio.on("welcome", on_welcome)
        self.sio.on("polls:staff_changed", on_staff)

    async def connect(self) -> None:
        auth = {"token": self.token, "session_id": self.session_id}
        await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=30)
        await asyncio.wait_for(self.welcomed.wait(), 30)

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = await self.sio.call(event, payload, timeout=60)
        if not reply.get("ok"):
            raise BenchError(f"{event} was refused: {reply}")
        data: dict[str, Any] = reply["data"]
        return data

    def first_counting(self, count: int, after: float = 0.0) -> float | None:
        return next((at for at, n in self.seen if n >= count and at >= after), None)

    async def wait_counting(self, count: int, until: float) -> None:
        """Until an update counts `count` answers, or the wall clock reaches `until`."""
        while self.first_counting(count) is None and time.time() < until:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), until - time.time())


async def ask_all(pipes: list[Connection], message: tuple[Any, ...], timeout: float) -> list[Any]:
    for pipe in pipes:
        pipe.send(message)
    return [await receive(pipe, timeout) for pipe in pipes]


async def stored_answers(database_url: str, poll_id: int) -> int:
    from sqlalchemy import func, select

    from server.db import models as m
    from server.db.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(m.PollAnswer).where(m.PollAnswer.poll_id == poll_id)
            )
            return int(count or 0)
    finally:
        await engine.dispose()


def kib(value: float) -> str:
    """Bytes, with enough digits for an idle session's few bytes a second."""
    return f"{value:.1f} B" if value < 1024 else f"{value / 1024:.2f} KiB"


async def run(opts: Settings, started: float) -> int:
    deadline = started + opts.max_seconds
    data_dir = Path(tempfile.mkdtemp(prefix="hemicycle-bench-polls-"))
    server: subprocess.Popen[bytes] | None = None
    pipes: list[Connection] = []
    staff: Staff | None = None
    try:
        say(f"Preparing {opts.attendees} attendees in {opts.database_url or data_dir / 'hemicycle.db'} …")
        fixture = await prepare(
            Options(
                sizes=[opts.attendees], actions=0, workers=opts.workers, interval=0, load_seconds=0,
                load_at=0, hand_rate=0, concurrency=opts.concurrency, settle_seconds=0,
                database_url=opts.database_url, redis_url=None, max_seconds=opts.max_seconds, keep=False,
                details=False,
            ),
            data_dir,
            opts.attendees,
        )  # fmt: skip
        port = free_port()
        env = server_env(fixture, data_dir)
        log = data_dir / "hemicycle.log"
        server = launch(["-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
        url = f"http://127.0.0.1:{port}"
        await wait_healthy(url, server, log)
        staff = Staff(url, fixture.moderator_token, fixture.session_id)
        await staff.connect()

        context = mp.get_context("spawn")
        count = max(1, min(opts.workers, opts.attendees))
        for index in range(count):
            ours, theirs = context.Pipe()
            spec = Spec(
                index, url, fixture.session_id, fixture.attendees[index::count], opts.concurrency, deadline
            )
            process = context.Process(target=worker_main, args=(spec, theirs), daemon=True)
            process.start()
            CHILDREN.processes.append(process)
            theirs.close()
            pipes.append(ours)
        joined = time.time()
        connected = 0
        for pipe in pipes:
            _kind, n = await receive(pipe, max(1.0, deadline - time.time()))
            connected += n
        say(f"{connected}/{opts.attendees} attendees connected in {time.time() - joined:.0f} s")
        if connected < opts.attendees:
            raise BenchError(
                f"only {connected} of {opts.attendees} attendees connected:\n{log.read_text()[-2000:]}"
            )

        # 1. Idle: what a session costs an attendee without a poll.
        before = [b for _k, sizes in await ask_all(pipes, ("bytes",), 30) for b in sizes]
        await asyncio.sleep(opts.idle_seconds)
        after = [b for _k, sizes in await ask_all(pipes, ("bytes",), 30) for b in sizes]
        idle_rate = (sum(after) - sum(before)) / max(1, len(after)) / opts.idle_seconds

        # 2. The poll, opened and shown.
        poll = (
            await staff.call(
                "poll:create", {"kind": "single", "question": "Which first?", "options": OPTIONS}
            )
        )["poll"]
        await staff.call("poll:open", {"poll_id": poll["id"]})
        await staff.call("poll:results", {"poll_id": poll["id"], "shown": True})
        await asyncio.sleep(1.5)  # the room's broadcast of the opening is not part of the burst

        # 3. One answer, alone: the staff's delay with nothing else going on.
        first_at = time.time()
        await ask_all(pipes[:1], ("answer", poll["id"], [(0, 0, first_at)]), 30)
        single = await ask_all(pipes[:1], ("collect",), 60)
        (one,) = single[0][1]
        await staff.wait_counting(1, first_at + 10)
        seen_one = staff.first_counting(1)
        quiet_delay = None if seen_one is None or not one.ok else seen_one - one.acked

        # 4. The burst: everyone else, spread evenly over answer_seconds.
        start = time.time() + 1.0
        others = opts.attendees - 1
        before = [b for _k, sizes in await ask_all(pipes, ("bytes",), 30) for b in sizes]
        for index, pipe in enumerate(pipes):
            plan = []
            people = len(fixture.attendees[index::count])
            for local in range(people):
                global_index = index + local * count
                if global_index == 0:
                    continue  # answered alone, above
                at = start + opts.answer_seconds * (global_index - 1) / max(1, others)
                plan.append((local, global_index % len(OPTIONS), at))
            pipe.send(("answer", poll["id"], plan))
        for pipe in pipes:
            await receive(pipe, 30)
        collected = await ask_all(pipes, ("collect",), max(60.0, deadline - time.time()))
        # The answer given alone, above, is collected again with its worker's: only the burst's are kept.
        answers = sorted(
            (a for _kind, found in collected for a in found if a.sent >= start), key=lambda a: a.acked
        )
        accepted = [a for a in answers if a.ok]
        finished = time.time()
        total = 1 + len(accepted) if one.ok else len(accepted)
        await staff.wait_counting(total, finished + opts.settle_seconds)
        settle_end = max(time.time(), (answers[-1].acked if answers else start) + opts.settle_seconds)
        await asyncio.sleep(max(0.0, settle_end - time.time()))
        after = [b for _k, sizes in await ask_all(pipes, ("bytes",), 30) for b in sizes]
        window = settle_end - start
        spent = [a - b for a, b in zip(after, before, strict=False)]
        burst_rate = sum(spent) / max(1, len(spent)) / window
        worst_rate = max(spent, default=0) / window

        delays = []
        for k, answer in enumerate(accepted, start=2 if one.ok else 1):
            shown = staff.first_counting(k, after=0.0)
            delays.append(float("inf") if shown is None else max(0.0, shown - answer.acked))
        delays.sort()
        acks = sorted(a.acked - a.sent for a in answers)
        stored = await stored_answers(fixture.database_url, poll["id"])
        final = staff.seen[-1][1] if staff.seen else 0
        refused: dict[str, int] = {}
        for a in answers:
            if not a.ok:
                refused[str(a.code)] = refused.get(str(a.code), 0) + 1

        say("")
        say(f"Poll benchmark: {opts.attendees} attendees, answers over {opts.answer_seconds:.0f} s")
        say(f"  answers sent {len(answers) + 1}, accepted {total}, refused {refused or 0}")
        say(f"  answer acknowledgement p50 {percentile(acks, 50) * 1000:.0f} ms, "
            f"p99 {percentile(acks, 99) * 1000:.0f} ms, "
            f"max {max(acks, default=0) * 1000:.0f} ms")  # fmt: skip
        if quiet_delay is not None:
            say(f"  staff delay, one answer alone (baseline): {quiet_delay * 1000:.0f} ms")
        if delays:
            say(f"  staff delay per change during the burst: p50 {percentile(delays, 50) * 1000:.0f} ms, "
                f"p99 {percentile(delays, 99) * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")  # fmt: skip
        caught = staff.first_counting(total)
        last_ack = accepted[-1].acked if accepted else start
        late = "never" if caught is None else f"{(caught - last_ack) * 1000:.0f} ms after the last was stored"
        say(f"  staff results show all {total} answers {late}")
        say(f"  staff updates received: {len(staff.seen)}")
        say(f"  bytes per attendee per second: idle (baseline) {kib(idle_rate)}/s, "
            f"burst with results shown {kib(burst_rate)}/s "
            f"(the most any attendee got: {kib(worst_rate)}/s)")  # fmt: skip
        say(f"  stored answers {stored}, staff's final count {final}, accepted {total}: "
            f"{'consistent' if stored == final == total else 'INCONSISTENT'}")  # fmt: skip
        within = bool(delays) and delays[-1] <= TARGET_STAFF_SECONDS
        verdict = "met" if within else "not met"
        say(f"  target (staff within {TARGET_STAFF_SECONDS:.0f} s of each change): {verdict}")
        return 0 if stored == final == total else 1
    finally:
        for pipe in pipes:
            with contextlib.suppress(Exception):
                pipe.send(("stop",))
        if staff is not None:
            with contextlib.suppress(Exception):
                await staff.sio.disconnect()
        await asyncio.sleep(0.5)
        if server is not None:
            stop(server)
        for process in CHILDREN.processes:
            with contextlib.suppress(Exception):
                process.join(timeout=5)
        CHILDREN.kill_all()
        shutil.rmtree(data_dir, ignore_errors=True)


def parse(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="python -m bench.polls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--attendees", type=int, default=500, help="attendees who answer (default 500)")
    parser.add_argument(
        "--answer-seconds", type=float, default=5, help="the answers spread over, s (default 5)"
    )
    parser.add_argument("--idle-seconds", type=float, default=3, help="the idle baseline, s (default 3)")
    parser.add_argument("--settle-seconds", type=float, default=5, help="wait after the last answer, s")
    parser.add_argument("--workers", type=int, default=2, help="attendee processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=25, help="connections opened at once, per worker")
    parser.add_argument("--database-url", help="a throwaway database (default: SQLite in a temp dir)")
    parser.add_argument("--max-seconds", type=float, default=600, help="abort everything after this")
    args = parser.parse_args(argv)
    if args.attendees < 2:
        parser.error("--attendees must be at least 2")
    return Settings(
        args.attendees, args.answer_seconds, args.idle_seconds, args.settle_seconds, args.workers,
        args.concurrency, args.database_url, args.max_seconds,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse(argv)
    raise_fd_limit()
    started = time.time()
    try:
        return asyncio.run(asyncio.wait_for(run(opts, started), opts.max_seconds + 60))
    except (BenchError, TimeoutError) as exc:
        say(f"benchmark failed: {exc}")
        CHILDREN.kill_all()
        return 2
    except KeyboardInterrupt:
        CHILDREN.kill_all()
        return 130


if __name__ == "__main__":
    sys.exit(main())
