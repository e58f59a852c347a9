"""Batches of changes per session: order, priority, refusals, rollback, callers who go away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.db.batches import ATTENDEE, STAFF, Batches
from server.domain.errors import Conflict


@dataclass
class Ledger:
    """Stands in for the database: what was committed, and each transaction's changes."""

    committed: list[Any] = field(default_factory=list)
    transactions: list[list[Any]] = field(default_factory=list)
    rolled_back: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    @asynccontextmanager
    async def open(self, key: int) -> AsyncIterator[list[Any]]:
        await self.gate.wait()
        pending: list[Any] = []
        try:
            yield pending
        except BaseException:
            self.rolled_back += 1
            raise
        self.transactions.append(pending)
        self.committed.extend(pending)


def writes(value: Any) -> Any:
    async def change(tx: list[Any]) -> Any:
        tx.append(value)
        return value

    return change


def refuses(code: str) -> Any:
    async def change(_tx: list[Any]) -> Any:
        raise Conflict("no", code=code)

    return change


async def test_waiting_changes_go_in_one_batch_staff_first() -> None:
    ledger = Ledger()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,))
    first = asyncio.create_task(batches.submit(1, ATTENDEE, writes("first hand")))
    await asyncio.sleep(0)  # the first batch opens and waits at the gate
    later = [asyncio.create_task(batches.submit(1, ATTENDEE, writes(f"hand {i}"))) for i in range(3)]
    grant = asyncio.create_task(batches.submit(1, STAFF, writes("grant")))
    await asyncio.sleep(0)
    ledger.gate.set()
    results = await asyncio.gather(first, *later, grant)
    assert results == ["first hand", "hand 0", "hand 1", "hand 2", "grant"]
    assert ledger.transactions == [["first hand"], ["grant", "hand 0", "hand 1", "hand 2"]]


async def test_a_refusal_is_answered_alone_and_the_rest_commit() -> None:
    ledger = Ledger()
    ledger.gate.set()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,))
    outcomes = await asyncio.gather(
        batches.submit(1, ATTENDEE, writes("a")),
        batches.submit(1, ATTENDEE, refuses("stale_entry")),
        batches.submit(1, ATTENDEE, writes("b")),
        return_exceptions=True,
    )
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], Conflict) and outcomes[1].code == "stale_entry"
    assert ledger.committed == ["a", "b"] and ledger.rolled_back == 0


async def test_a_batch_of_refusals_rolls_back() -> None:
    ledger = Ledger()
    ledger.gate.set()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,))
    with pytest.raises(Conflict):
        await batches.submit(1, ATTENDEE, refuses("not_queued"))
    assert ledger.committed == [] and ledger.rolled_back == 1


async def test_a_failure_fails_the_whole_batch_and_nothing_is_kept() -> None:
    ledger = Ledger()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,))

    async def breaks(tx: list[Any]) -> None:
        tx.append("half")
        raise RuntimeError("database went away")

    tasks = [
        asyncio.create_task(batches.submit(1, ATTENDEE, writes("a"))),
        asyncio.create_task(batches.submit(1, ATTENDEE, breaks)),
    ]
    await asyncio.sleep(0)
    ledger.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes), outcomes
    assert ledger.committed == [] and ledger.rolled_back == 1
    # The next change goes on as usual.
    assert await batches.submit(1, ATTENDEE, writes("c")) == "c"


async def test_sessions_do_not_wait_for_each_other_and_a_caller_may_leave() -> None:
    ledger = Ledger()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,))
    gone = asyncio.create_task(batches.submit(1, ATTENDEE, writes("never seen")))
    await asyncio.sleep(0)
    gone.cancel()
    other = asyncio.create_task(batches.submit(2, ATTENDEE, writes("other session")))
    await asyncio.sleep(0)
    ledger.gate.set()
    assert await other == "other session"
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await batches.submit(1, ATTENDEE, writes("after")) == "after"


async def test_batches_are_bounded() -> None:
    ledger = Ledger()
    batches: Batches[list[Any]] = Batches(ledger.open, (Conflict,), max_batch=4)
    tasks = [asyncio.create_task(batches.submit(1, ATTENDEE, writes(i))) for i in range(10)]
    await asyncio.sleep(0)
    ledger.gate.set()
    assert await asyncio.gather(*tasks) == list(range(10))
    assert [len(t) for t in ledger.transactions] == [4, 4, 2]
