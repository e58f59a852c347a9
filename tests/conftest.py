"""Fixtures: a real Hemicycle server per test, on SQLite by default and PostgreSQL where asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import pytest

from server.app import create_app
from server.demo import seed_demo
from server.domain.sessions import SessionState
from server.keys import CORE_KEY, HUB_KEY
from server.settings import Settings

from .helpers import SECRET, Running, start

pytest_plugins = ["tests.services"]


def make_settings(tmp_path: Path, database_url: str = "", **overrides: object) -> Settings:
    # Attendees go straight in unless a test is about the waiting room (tests/test_moderation*.py).
    overrides.setdefault("waiting_room", "off")
    # Tests register hundreds of people from one address; tests/test_trust_identity.py sets real limits.
    overrides.setdefault("registrations_per_address", 100_000)
    overrides.setdefault("registrations_per_browser", 10_000)
    # Every message the server sends is checked against signaling/messages.py: a mismatch fails the send.
    overrides.setdefault("check_messages", True)
    overrides.setdefault("events_per_second", 50)
    return Settings(
        secret=SECRET,
        data_dir=tmp_path,
        database_url=database_url,
        heartbeat_seconds=1.0,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'hemicycle.db'}"
    url: str = request.getfixturevalue("pg_database_url")
    return url


async def run_app(
    settings: Settings,
    clock: Callable[[], datetime] | None = None,
    port: int | None = None,
    shutdown_timeout: float = 60.0,
) -> AsyncIterator[Running]:
    """The app on a real port: a given one to restart a server where its clients expect it, with a short
    `shutdown_timeout` to stop it the way a crash or a deployment does, without waiting for its clients."""
    app = create_app(settings, clock=clock) if clock else create_app(settings)
    server = await start(app, port, shutdown_timeout)
    core = app[CORE_KEY]
    event = await seed_demo(core.store)
    sessions = await core.store.list_sessions(event.id)
    live = next(s.id for s in sessions if s.state is SessionState.LIVE)
    scheduled = next(s.id for s in sessions if s.state is SessionState.SCHEDULED)
    running = Running(server, core, event.id, live, scheduled)
    try:
        yield running
    finally:
        for client in running.clients:
            await client.close()
        await server.close()
    contract = app[HUB_KEY].sio.contract
    assert contract is None or not contract.mismatches, "\n".join(contract.mismatches)


@pytest.fixture
async def hemicycle(tmp_path: Path) -> AsyncIterator[Running]:
    """A server on SQLite with the demo event."""
    async for running in run_app(make_settings(tmp_path)):
        yield running
