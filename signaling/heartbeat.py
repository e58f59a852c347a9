"""This process's heartbeat (its presence rows stay alive; those of a dead process are reaped) and the floor
sweeper (turns past their automatic end, or abandoned by a speaker who left, are ended by any process)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from server.floor import Floor
from server.service import Hemicycle

log = logging.getLogger(__name__)


class Heartbeat:
    """Owned by the Hub. ``presence_changed`` and ``queue_changed`` are the Notifier's: what a reap or a
    sweep changed is broadcast as any other change."""

    def __init__(
        self,
        core: Hemicycle,
        floor: Floor,
        presence_changed: Callable[[int], None],
        queue_changed: Callable[[int, set[int]], None],
    ) -> None:
        self.core = core
        self.floor = floor
        self._presence_changed = presence_changed
        self._queue_changed = queue_changed
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register this process, reap the dead ones' presence, then beat and sweep until stopped."""
        store = self.core.store
        await store.register_instance(self.core.instance_id, socket.gethostname(), os.getpid())
        for session_id in await store.reap_instances(self.core.presence_ttl, self.core.instance_id):
            self._presence_changed(session_id)
        self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="hemicycle-heartbeat")
        self._sweep_task = asyncio.create_task(self._sweeper(), name="hemicycle-floor-sweep")

    async def stop(self) -> None:
        for task in (self._heartbeat_task, self._sweep_task):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.core.settings.heartbeat_seconds)
            try:
                await self.core.store.heartbeat(self.core.instance_id)
                for session_id in await self.core.store.reap_instances(
                    self.core.presence_ttl, self.core.instance_id
                ):
                    self._presence_changed(session_id)
            except Exception:
                log.exception("heartbeat failed; retrying at the next beat")

    async def _sweeper(self) -> None:
        """End turns past their automatic end or abandoned by a disconnected speaker (any process may)."""
        interval = min(1.0, self.core.settings.heartbeat_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                for session_id, ended in (await self.floor.sweep()).items():
                    self._queue_changed(session_id, ended)
            except Exception:
                log.exception("floor sweep failed; retrying")
