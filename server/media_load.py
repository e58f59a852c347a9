"""Where processes publish their media load for each other's placement decisions: Redis when processes share
one, else this process alone.

One Redis hash per deployment (``<channel>:media:load``), a field per process holding its viewers, capacity,
address and the time it wrote them; a field older than three heartbeats is a process that stopped and is
ignored (and removed by whoever reads it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .media.placement import Load

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 0.5


class RedisLoads:
    """Loads shared through Redis; if Redis does not answer, this process places on itself alone."""

    def __init__(self, url: str, channel: str, stale_after: float, clock: Callable[[], float] = time.time):
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        self._key = f"{channel}:media:load"
        self._stale_after = stale_after
        self._clock = clock

    async def report(self, load: Load) -> None:
        value = {"base_url": load.base_url, "viewers": load.viewers, "capacity": load.capacity}
        try:
            await self._redis.hset(self._key, load.instance_id, json.dumps({**value, "at": self._clock()}))
        except (RedisError, OSError) as exc:
            log.warning("could not publish this process's media load: %s", exc)

    async def others(self) -> list[Load]:
        try:
            raw = await self._redis.hgetall(self._key)
        except (RedisError, OSError) as exc:
            log.warning("could not read the processes' media loads: %s", exc)
            return []
        loads, stale = [], []
        now = self._clock()
        for field, value in raw.items():
            instance_id = field.decode() if isinstance(field, bytes) else str(field)
            try:
                data = json.loads(value)
                if now - float(data["at"]) > self._stale_after:
                    stale.append(instance_id)
                    continue
                loads.append(
                    Load(instance_id, str(data["base_url"]), int(data["viewers"]), int(data["capacity"]))
                )
            except (ValueError, KeyError, TypeError):
                stale.append(instance_id)
        if stale:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.hdel(self._key, *stale)
        return loads

    async def forget(self, instance_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.hdel(self._key, instance_id)

    async def close(self) -> None:
        await self._redis.aclose()
