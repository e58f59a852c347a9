"""The cycle collector's pacing (server/collector.py): survivors frozen, frozen garbage reclaimed."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from server import collector
from server.collector import CollectorPacing


class Cycle:
    """An object in a reference cycle with itself: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """The collector's state is the whole test process's: leave it as it was found."""
    yield
    gc.unfreeze()


def is_walked(thing: Any) -> bool:
    """Whether the collector still looks at `thing` (frozen objects are out of every generation)."""
    return any(o is thing for o in gc.get_objects())


def test_freeze_moves_survivors_out_of_the_collectors_walk() -> None:
    pacing = CollectorPacing(10, 3600)
    survivor: list[Any] = [object()]
    garbage = Cycle()
    gone = weakref.ref(garbage)
    del garbage
    assert is_walked(survivor)

    before = gc.get_freeze_count()
    pacing.freeze()

    assert gone() is None, "what was already garbage is collected first, not frozen"
    assert gc.get_freeze_count() > before and pacing.freezes_since_reclaim == 1
    assert not is_walked(survivor)


def test_garbage_frozen_while_alive_waits_for_the_reclaim() -> None:
    pacing = CollectorPacing(10, 3600)
    cycle = Cycle()
    gone = weakref.ref(cycle)
    pacing.freeze()
    del cycle  # now garbage, but frozen: ordinary collections do not see it
    gc.collect()
    assert gone() is not None

    freed = pacing.reclaim()

    assert gone() is None and freed >= 1
    assert pacing.freezes_since_reclaim == 0
    assert gc.get_freeze_count() > 0, "the survivors of the full collection are frozen again"


def test_tick_freezes_until_the_reclaim_is_due_or_the_process_is_idle() -> None:
    clock = Clock()
    idle = False
    pacing = CollectorPacing(10, 600, idle=lambda: idle, clock=clock)
    steps: list[str] = []

    def freeze() -> None:
        steps.append("freeze")
        pacing.freezes_since_reclaim += 1

    def reclaim() -> int:
        steps.append("reclaim")
        pacing.reclaimed_at, pacing.freezes_since_reclaim = clock(), 0
        return 0

    # The steps themselves are tested above; here only which one each period takes.
    pacing.freeze = freeze  # type: ignore[method-assign]
    pacing.reclaim = reclaim  # type: ignore[method-assign]

    pacing.tick()
    clock.now += 599
    pacing.tick()
    assert steps == ["freeze", "freeze"]
    clock.now += 1
    pacing.tick()
    assert steps[-1] == "reclaim", "every reclaim_seconds, however busy"

    pacing.tick()
    assert steps[-1] == "freeze"
    idle = True
    pacing.tick()
    assert steps[-1] == "reclaim", "on becoming idle with objects frozen since: free them now, nobody waits"
    done = len(steps)
    pacing.tick()
    pacing.tick()
    assert len(steps) == done, "idle: nothing frozen, nothing to reclaim, Python's collector as it is"
    idle = False
    pacing.tick()
    assert steps[-1] == "freeze"


def test_a_long_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    pacing = CollectorPacing(10, 3600)
    pacing._watch("start", {"generation": 2})
    time.sleep(collector.SLOW_PAUSE_SECONDS + 0.01)
    with caplog.at_level(logging.WARNING, logger="server.collector"):
        pacing._watch("stop", {"generation": 2, "collected": 7})
    assert pacing.longest_pause >= collector.SLOW_PAUSE_SECONDS
    assert "held the event loop" in caplog.text and "generation 2, 7 objects freed" in caplog.text

    pacing._watch("start", {"generation": 0})
    with caplog.at_level(logging.WARNING, logger="server.collector"):
        caplog.clear()
        pacing._watch("stop", {"generation": 0, "collected": 0})
    assert caplog.text == "", "short collections are not logged"


async def test_runs_with_the_loop_and_stops_clean() -> None:
    pacing = CollectorPacing(0.01, 3600)
    pacing.start()
    try:
        assert pacing._watch in gc.callbacks
        assert gc.get_freeze_count() > 0, "what the start-up made is frozen at once"
        kept = [Cycle() for _ in range(100)]
        for _ in range(200):
            if pacing.freezes_since_reclaim:
                break
            await asyncio.sleep(0.01)
        assert pacing.freezes_since_reclaim and not is_walked(kept[0])
    finally:
        await pacing.stop()
    assert gc.get_freeze_count() == 0 and pacing._watch not in gc.callbacks
