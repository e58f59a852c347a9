"""Real `hemicycle serve` processes for multi-process tests: one database, one Redis, a seeded demo event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from server.db.engine import create_engine, migrate
from server.db.store import Store
from server.demo import seed_demo
from server.domain.sessions import SessionState
from server.service import Hemicycle
from server.tokens import TokenService

from .conftest import make_settings
from .helpers import SECRET, die_with_parent, free_port


async def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the process answers its health route, failing at once if it exits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited early with {process.returncode}")
            try:
                async with http.get(f"{url}/api/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not become healthy within {timeout}s")


@dataclass
class Servers:
    """Running processes, their URLs (in the same order), and an in-test core on their database."""

    urls: list[str]
    processes: list[subprocess.Popen[bytes]]
    core: Hemicycle
    event_id: int
    live_session_id: int


def _preexec(prepare: Callable[[], None] | None) -> Callable[[], None] | None:
    dying = die_with_parent(signal.SIGTERM)
    if prepare is None:
        return dying

    def both() -> None:
        if dying is not None:
            dying()
        prepare()

    return both


@asynccontextmanager
async def server_processes(
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    overrides: list[dict[str, str]],
    ports: list[int] | None = None,
    prepare: Callable[[], None] | None = None,
) -> AsyncIterator[Servers]:
    """One process per entry of `overrides` (its environment on top of the common one), on `ports` or free
        ones; the database migrated and seeded with the demo event first. Every process is stopped at the end,
        killed if it does not stop within 15 s; each one's output is in tmp_path/server-N.log.
    ``prepare`` runs in each child before it starts (a resource limit, for a test of what the server does
    when it hits it)."""
    engine = create_engine(database_url)
    await migrate(engine)
    settings = make_settings(tmp_path, database_url).resolved()
    core = Hemicycle(settings, Store(engine), TokenService(SECRET))
    await seed_demo(core.store)
    event = (await core.store.list_events())[0]
    live = next(s for s in await core.store.list_sessions(event.id) if s.state is SessionState.LIVE)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HEMICYCLE_SECRET": SECRET,
        "HEMICYCLE_DATA_DIR": str(tmp_path),
        "HEMICYCLE_HEARTBEAT_SECONDS": "1",
        "HEMICYCLE_LOG_LEVEL": "WARNING",
        "HEMICYCLE_WAITING_ROOM": "off",
        # Every message sent is checked against signaling/messages.py; a mismatch is logged (read below).
        "HEMICYCLE_CHECK_MESSAGES": "on",
    }
    ports = ports or [free_port() for _ in overrides]
    processes: list[subprocess.Popen[bytes]] = []
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for index, (port, extra) in enumerate(zip(ports, overrides, strict=True)):
            with (tmp_path / f"server-{index}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port)],
                        env={**env, **extra},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_preexec(prepare),
                    )
                )
        for url, process in zip(urls, processes, strict=True):
            await wait_healthy(url, process)
        yield Servers(urls, processes, core, event.id, live.id)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        await engine.dispose()
    logs = [(tmp_path / f"server-{index}.log").read_text(errors="replace") for index in range(len(processes))]
    mismatches = [line for log in logs for line in log.splitlines() if "protocol mismatch" in line]
    assert not mismatches, "\n".join(mismatches)
