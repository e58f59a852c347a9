"""The engine's two economies on PostgreSQL, and what they must still get right on both databases.

- `Among` (server/db/among.py): membership in a list as one statement whatever the list's length, with the
  same answers as a plain IN on either database, and one prepared statement on PostgreSQL.
- `_ping_after_idle` (server/db/engine.py): a pooled connection that died while idle is replaced before a
  request uses it; one used a moment ago is not checked first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import engine as engine_module
from server.db.among import Among, listed
from server.db.engine import create_engine

from .services import _asyncpg_dsn

metadata = MetaData()
seats = Table(
    "among_seats",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("row", String(8)),
    Column("number", Integer),
)
SEATS = [(i, row, number) for i, (row, number) in enumerate(((r, n) for r in "ABC" for n in range(1, 6)), 1)]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(insert(seats), [{"id": i, "row": r, "number": n} for i, r, n in SEATS])
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(
    "ids",
    [[], [3], [3, 3, 7], list(range(1, 16)), [99, 2]],
    ids=["none", "one", "repeated", "all", "unknown"],
)
async def test_values_among_a_list_match_an_in(engine: AsyncEngine, ids: list[int]) -> None:
    among = Among.of(engine)
    statement = select(seats.c.id).where(among.values(seats.c.id, "ids")).order_by(seats.c.id)
    async with engine.connect() as connection:
        found = list(await connection.scalars(statement, {"ids": listed(ids)}))
        plain = list(
            await connection.scalars(select(seats.c.id).where(seats.c.id.in_(ids)).order_by(seats.c.id))
        )
    assert found == plain == sorted(set(ids) & set(range(1, 16)))


@pytest.mark.parametrize(
    "pairs",
    [[], [("A", 1)], [("A", 1), ("B", 2), ("A", 1)], [("A", 2), ("C", 9), ("Z", 1)]],
    ids=["none", "one", "repeated", "some-unknown"],
)
async def test_pairs_among_a_list_are_matched_as_pairs(
    engine: AsyncEngine, pairs: list[tuple[str, int]]
) -> None:
    """(A, 2) and (C, 9) must not match (A, 9) or (C, 2): the two columns are taken in step."""
    among = Among.of(engine)
    statement = (
        select(seats.c.row, seats.c.number)
        .where(among.pairs((seats.c.row, seats.c.number), "seats"))
        .order_by(seats.c.id)
    )
    async with engine.connect() as connection:
        found = [tuple(row) for row in await connection.execute(statement, among.pair_values("seats", pairs))]
    assert found == sorted(set(pairs) & {(r, n) for _, r, n in SEATS})


async def test_on_postgresql_every_length_is_one_prepared_statement(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        among = Among.of(engine)
        assert among.arrays
        statement = select(seats.c.id).where(among.values(seats.c.id, "ids"))
        paired = select(seats.c.id).where(among.pairs((seats.c.row, seats.c.number), "seats"))
        texts: set[str] = set()

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
            texts.add(sql)

        async with engine.connect() as connection:
            for size in range(1, 30):
                await connection.execute(statement, {"ids": list(range(size))})
                await connection.execute(paired, among.pair_values("seats", [("A", n) for n in range(size)]))
        assert len(texts) == 2, texts
    finally:
        await engine.dispose()


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(url: str, pid: int) -> None:
    killer = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = create_engine(pg_database_url)
    try:
        first = await _backend(engine)
        await _terminate(pg_database_url, first)  # a database restarted, a firewall's idle timeout
        second = await _backend(engine)  # no error: checked, found dead, replaced
        assert second != first
        assert await _backend(engine) == second, "the new connection is pooled as usual"
    finally:
        await engine.dispose()


async def test_a_connection_used_a_moment_ago_is_not_checked_first(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price of skipping the check: a connection that dies between two close uses fails one request;
    the pool is then renewed, and the next one goes through."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = create_engine(pg_database_url)
    try:
        first = await _backend(engine)
        await _terminate(pg_database_url, first)
        with pytest.raises(DBAPIError) as failed:
            await _backend(engine)
        assert failed.value.connection_invalidated
        assert await _backend(engine) != first
    finally:
        await engine.dispose()
