"""Gathered reads (server/db/gathered.py): one query for the callers of a moment, never an older answer."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from server.db.gathered import GatheredCalls, GatheredReads
from server.domain.errors import NotFound


class Table:
    """A stand-in for a row: reads are slow, so that callers arrive while one runs."""

    def __init__(self) -> None:
        self.value = 0
        self.reads: list[int] = []  # the value each read saw when it started
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.fail = False

    async def read(self, key: str) -> int:
        seen = self.value
        self.reads.append(seen)
        self.started.set()
        await self.release.wait()
        if self.fail:
            raise NotFound(f"there is no {key}", code="unknown_session")
        return seen


async def test_callers_of_a_moment_share_one_read() -> None:
    table = Table()
    reads = GatheredReads(table.read)
    callers = [asyncio.ensure_future(reads.get("s")) for _ in range(20)]
    await asyncio.sleep(0)
    table.release.set()
    assert await asyncio.gather(*callers) == [0] * 20
    assert table.reads == [0], "one query for twenty callers"


async def test_a_caller_arriving_during_a_read_gets_the_next_one() -> None:
    table = Table()
    reads = GatheredReads(table.read)
    first = asyncio.ensure_future(reads.get("s"))
    await table.started.wait()  # the first read has started, and seen 0
    table.value = 1  # committed after that read started: callers from now on must see it
    later = [asyncio.ensure_future(reads.get("s")) for _ in range(5)]
    await asyncio.sleep(0)
    table.release.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 5, "never the answer of a read older than the call"
    assert table.reads == [0, 1]
    assert await reads.get("s") == 1 and table.reads == [0, 1, 1], "once idle, each call reads again"


async def test_keys_are_read_apart() -> None:
    table = Table()
    table.release.set()
    reads = GatheredReads(table.read)
    assert await asyncio.gather(reads.get("a"), reads.get("b")) == [0, 0]
    assert len(table.reads) == 2


async def test_an_error_reaches_every_caller_of_that_read_only() -> None:
    table = Table()
    table.fail = True
    reads = GatheredReads(table.read)
    callers = [asyncio.ensure_future(reads.get("s")) for _ in range(3)]
    await asyncio.sleep(0)
    table.release.set()
    for outcome in await asyncio.gather(*callers, return_exceptions=True):
        assert isinstance(outcome, NotFound) and outcome.code == "unknown_session"
    table.fail = False
    assert await reads.get("s") == 0, "the next read is a new one"


async def test_a_caller_giving_up_leaves_the_read_to_the_others() -> None:
    table = Table()
    reads = GatheredReads(table.read)
    impatient = asyncio.ensure_future(reads.get("s"))
    patient = asyncio.ensure_future(reads.get("s"))
    await asyncio.sleep(0)
    impatient.cancel()
    await asyncio.sleep(0)
    table.release.set()
    assert await patient == 0
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert table.reads == [0]


class Batches:
    """A stand-in for a table answering many callers per query; each query waits to be released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.fail = False

    async def run(self, args: list[int]) -> list[int | BaseException]:
        self.batches.append(list(args))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the database went away")
        return [NotFound(f"no {a}", code="not_found") if a < 0 else a * 10 for a in args]


async def test_calls_arriving_during_a_batch_go_together_in_the_next() -> None:
    table = Batches()
    calls = GatheredCalls(table.run, "test")
    first = asyncio.ensure_future(calls.call(1))
    for _ in range(3):  # the caller's task, then the batch's
        await asyncio.sleep(0)
    assert table.batches == [[1]], "the first call is not held back waiting for company"
    crowd = [asyncio.ensure_future(calls.call(n)) for n in range(2, 12)]
    await asyncio.sleep(0)
    table.release.set()
    assert await first == 10
    assert await asyncio.gather(*crowd) == [n * 10 for n in range(2, 12)]
    assert table.batches == [[1], list(range(2, 12))]


async def test_a_refusal_reaches_its_caller_only_and_a_failure_the_whole_batch() -> None:
    table = Batches()
    calls = GatheredCalls(table.run, "test")
    table.release.set()
    answers = await asyncio.gather(calls.call(3), calls.call(-1), calls.call(4), return_exceptions=True)
    assert answers[0] == 30 and answers[2] == 40
    assert isinstance(answers[1], NotFound)
    table.fail = True
    failed = await asyncio.gather(calls.call(5), calls.call(6), return_exceptions=True)
    assert all(isinstance(f, RuntimeError) for f in failed)
    table.fail = False
    assert await calls.call(7) == 70, "a failed batch does not stop the next"


async def test_batches_are_bounded() -> None:
    table = Batches()
    calls = GatheredCalls(table.run, "test", max_batch=4)
    table.release.set()
    assert await asyncio.gather(*(calls.call(n) for n in range(10))) == [n * 10 for n in range(10)]
    assert max(len(b) for b in table.batches) == 4
    assert sorted(a for b in table.batches for a in b) == list(range(10))


class Instant:
    """A batch that never waits (as SQLite's transactions on the loop): over before anyone else calls."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.batches: list[tuple[float, list[int]]] = []

    async def run(self, args: list[int]) -> list[int | BaseException]:
        self.batches.append((self.loop.time(), list(args)))
        return [a * 10 for a in args]


async def test_spaced_batches_gather_a_crowd_and_a_lone_caller_goes_at_once() -> None:
    loop = asyncio.get_running_loop()
    spaced, unspaced = Instant(loop), Instant(loop)
    gathered = GatheredCalls(spaced.run, "spaced", spacing=0.05)
    at_once = GatheredCalls(unspaced.run, "unspaced")

    async def crowd(calls: GatheredCalls[int, int]) -> list[int]:
        """Forty callers, four per turn of the loop."""
        asked = []
        for n in range(40):
            asked.append(asyncio.ensure_future(calls.call(n)))
            if n % 4 == 3:
                await asyncio.sleep(0)
        return await asyncio.gather(*asked)

    started = loop.time()
    assert await gathered.call(-1) == -10
    assert loop.time() - started < 0.04, "the first caller does not wait"
    assert await crowd(at_once) == [n * 10 for n in range(40)]
    assert len(unspaced.batches) == 10  # one per turn
    assert await crowd(gathered) == [n * 10 for n in range(40)]
    batches = spaced.batches[1:]
    # The crowd waits for the spacing once, then is answered together (bounded by the turns of the loop the
    # spacing lasted, not by one each).
    assert len(batches) <= 2 and sorted(a for _, b in batches for a in b) == list(range(40))
    assert all(later - earlier >= 0.049 for (earlier, _), (later, _) in itertools.pairwise(spaced.batches))
    await asyncio.sleep(0.06)
    lone = loop.time()
    assert await gathered.call(99) == 990
    assert loop.time() - lone < 0.04, "a caller after a quiet spell goes at once"


async def test_callers_waiting_for_a_stopped_drain_are_not_left_hanging() -> None:
    loop = asyncio.get_running_loop()
    table = Instant(loop)
    calls = GatheredCalls(table.run, "stopping", spacing=10.0)
    assert await calls.call(1) == 10
    waiting = [asyncio.ensure_future(calls.call(n)) for n in range(2, 5)]
    await asyncio.sleep(0.01)
    assert calls._running is not None
    calls._running.cancel()
    for one in waiting:
        with pytest.raises(asyncio.CancelledError):
            await one
    assert len(table.batches) == 1


async def test_a_caller_gone_during_a_write_is_told_what_the_batch_did_for_it() -> None:
    """With `abandoned`, a cancelled caller's call still runs, and it hears of the result once the batch is
    done: its cleanup comes after the write (a presence row recorded for a client gone meanwhile)."""
    table = Batches()
    calls = GatheredCalls(table.run, "writes")
    told: list[int] = []
    first = asyncio.ensure_future(calls.call(1))
    await asyncio.sleep(0)
    gone = asyncio.ensure_future(calls.call(2, told.append))
    stays = asyncio.ensure_future(calls.call(3, told.append))
    await asyncio.sleep(0)
    gone.cancel()
    table.release.set()
    assert await first == 10 and await stays == 30
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0)
    assert table.batches == [[1], [2, 3]] and told == [20]
    # A failed batch has nothing to tell.
    table.fail, table.release = True, asyncio.Event()
    failing = asyncio.ensure_future(calls.call(4, told.append))
    await asyncio.sleep(0)
    failing.cancel()
    table.release.set()
    with pytest.raises(asyncio.CancelledError):
        await failing
    for _ in range(3):
        await asyncio.sleep(0)
    assert told == [20]
