"""Limits that hold across processes: counters in Redis when it is configured, in memory otherwise.

The rule (how many per window) is `WindowRule` in server/domain/ratelimit.py; a store here only counts hits
atomically. With Redis, every process of a deployment counts into the same keys, so a person cannot multiply
an allowance by spreading their requests over processes.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .domain.errors import RateLimited
from .domain.ratelimit import WindowRule
from .settings import Settings

log = logging.getLogger(__name__)

# A limiter must not hold a registration or a vote up when Redis is slow: give up after this long, without
# retrying, and count in this process's memory for a while before trying Redis again.
REDIS_TIMEOUT_SECONDS = 1.0
REDIS_RETRY_AFTER_SECONDS = 5.0
OUTAGE_LOG_SECONDS = 60.0


class Counters(Protocol):
    """Atomic hit counters per key and fixed window."""

    async def hit(self, key: str, window: int, seconds: float) -> tuple[int, int]:
        """Count one hit in `window`; return (the count in `window`, the count in `window - 1`)."""

    async def undo(self, key: str, window: int) -> None:
        """Take back one hit that was refused, so refusals do not prolong a lock-out."""

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        """The counts in `window` and `window - 1`, without counting a hit."""

    async def close(self) -> None: ...


class MemoryCounters:
    """One process's counters: enough when one process serves the event (no REDIS_URL)."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[int, int]] = {}
        self._hits = 0

    async def hit(self, key: str, window: int, seconds: float) -> tuple[int, int]:
        windows = self._counts.setdefault(key, {})
        windows[window] = windows.get(window, 0) + 1
        for old in [w for w in windows if w < window - 1]:
            del windows[old]
        self._hits += 1
        if self._hits % 4096 == 0:
            self._prune(window)
        return windows[window], windows.get(window - 1, 0)

    def _prune(self, window: int) -> None:
        """Forget keys not hit lately (window numbers differ by rule: keep anything that may be recent)."""
        for key in [k for k, w in self._counts.items() if not w or max(w) < window - 1]:
            del self._counts[key]

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        windows = self._counts.get(key) or {}
        return windows.get(window, 0), windows.get(window - 1, 0)

    async def undo(self, key: str, window: int) -> None:
        windows = self._counts.get(key)
        if windows and windows.get(window, 0) > 0:
            windows[window] -= 1

    async def close(self) -> None:
        self._counts.clear()


class RedisHooks:
    """What a Redis client tells whoever watches it (server/metrics.py): each round trip, each error, each
    time it is subscribed again after losing Redis. `client` names the client: "limits" or "fanout". By
    default nobody watches."""

    def round_trip(self, client: str, seconds: float) -> None:
        pass

    def error(self, client: str) -> None:
        pass

    def reconnect(self, client: str) -> None:
        pass


class RedisCounters:
    """Counters every process shares: INCR, EXPIRE and GET of the previous window in one MULTI/EXEC.

    If Redis does not answer, this process counts in memory until it does: the limits then hold per
    process, and registrations and votes go on.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
        self._prefix = prefix
        self._fallback = MemoryCounters()
        self._warned = float("-inf")
        self._down_until = float("-inf")
        self.hooks = RedisHooks()

    def _key(self, key: str, window: int) -> str:
        return f"{self._prefix}:{key}:{window}"

    async def hit(self, key: str, window: int, seconds: float) -> tuple[int, int]:
        if time.monotonic() < self._down_until:
            return await self._fallback.hit(key, window, seconds)
        current = self._key(key, window)
        started = time.perf_counter()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(current)
                pipe.expire(current, int(2 * seconds) + 1)
                pipe.get(self._key(key, window - 1))
                count, _, previous = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._outage(exc)
            return await self._fallback.hit(key, window, seconds)
        self.hooks.round_trip("limits", time.perf_counter() - started)
        return int(count), int(previous or 0)

    async def peek(self, key: str, window: int) -> tuple[int, int]:
        if time.monotonic() < self._down_until:
            return await self._fallback.peek(key, window)
        started = time.perf_counter()
        try:
            current, previous = await self._redis.mget(self._key(key, window), self._key(key, window - 1))
        except (RedisError, OSError) as exc:
            self._outage(exc)
            return await self._fallback.peek(key, window)
        self.hooks.round_trip("limits", time.perf_counter() - started)
        return int(current or 0), int(previous or 0)

    async def undo(self, key: str, window: int) -> None:
        if time.monotonic() < self._down_until:
            await self._fallback.undo(key, window)
            return
        started = time.perf_counter()
        try:
            await self._redis.decr(self._key(key, window))
        except (RedisError, OSError) as exc:
            self._outage(exc)
            await self._fallback.undo(key, window)
            return
        self.hooks.round_trip("limits", time.perf_counter() - started)

    def _outage(self, exc: Exception) -> None:
        self.hooks.error("limits")
        now = time.monotonic()
        self._down_until = now + REDIS_RETRY_AFTER_SECONDS
        if now - self._warned >= OUTAGE_LOG_SECONDS:
            self._warned = now
            log.warning("rate limits counted per process: Redis is not answering (%s)", exc)

    async def close(self) -> None:
        await self._redis.aclose()


def counters_for(redis_url: str | None, prefix: str) -> Counters:
    return RedisCounters(redis_url, prefix) if redis_url else MemoryCounters()


@dataclass(frozen=True)
class Hit:
    """One counted hit: whether it fits the rule, and where it was counted (to give it back)."""

    allowed: bool
    retry_after: float
    key: str
    window: int


class Limiter:
    """One named rule over shared counters: `take` counts a hit for a subject (an address, a participant)."""

    def __init__(
        self, counters: Counters, name: str, rule: WindowRule, clock: Callable[[], float] = time.time
    ) -> None:
        self.counters = counters
        self.name = name
        self.rule = rule
        self._clock = clock  # wall-clock time: every process must agree on the window

    async def take(self, subject: str) -> Hit:
        """Count a hit; a refused one is taken back at once, so hammering does not extend the wait."""
        now = self._clock()
        window = self.rule.window(now)
        key = f"{self.name}:{subject}"
        current, previous = await self.counters.hit(key, window, self.rule.seconds)
        if self.rule.allows(current, previous, now):
            return Hit(True, 0.0, key, window)
        await self.counters.undo(key, window)
        return Hit(False, self.rule.retry_after(current, previous, now), key, window)

    async def full(self, subject: str) -> Hit | None:
        """Whether one more hit would be refused, counting nothing: the refusal's Hit, or None."""
        now = self._clock()
        window = self.rule.window(now)
        key = f"{self.name}:{subject}"
        current, previous = await self.counters.peek(key, window)
        if self.rule.allows(current + 1, previous, now):
            return None
        return Hit(False, self.rule.retry_after(current + 1, previous, now), key, window)

    async def give_back(self, hit: Hit) -> None:
        """Undo an allowed hit whose action was refused by another limit."""
        if hit.allowed:
            await self.counters.undo(hit.key, hit.window)


def refusal(message: str, hit: Hit) -> RateLimited:
    """The `rate_limited` error, with the whole seconds to wait in `details.retry_after`."""
    seconds = max(1, int(hit.retry_after + 0.999))
    return RateLimited(f"{message}: try again in {seconds} s", details={"retry_after": seconds})


def address_subject(address: str | None) -> str:
    """What an address limit counts: an IPv4 address, or an IPv6 /64 (one household or device picks freely
    among the addresses of its /64, so counting single IPv6 addresses would count nothing)."""
    try:
        parsed = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class Limits:
    """The shared counters of one process, and the registration limits (per address, per browser)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters_for(settings.redis_url, f"{settings.redis_channel}:limits")
        window = settings.registration_window_minutes * 60.0
        self.by_address = Limiter(
            self.counters, "register:address", WindowRule(settings.registrations_per_address, window), clock
        )
        self.by_browser = Limiter(
            self.counters, "register:browser", WindowRule(settings.registrations_per_browser, window), clock
        )

    async def registration(self, address: str | None, browser_id: str | None) -> list[Hit]:
        """Count a registration against both limits, or raise `rate_limited` and count nothing."""
        hits: list[Hit] = []
        checks = [(self.by_address, address_subject(address), "network")]
        if browser_id:
            checks.insert(0, (self.by_browser, browser_id, "browser"))  # the tighter one first
        for limiter, subject, what in checks:
            hit = await limiter.take(subject)
            if not hit.allowed:
                await self.give_back(hits)
                raise refusal(f"too many registrations from this {what}", hit)
            hits.append(hit)
        return hits

    async def give_back(self, hits: list[Hit]) -> None:
        """A registration that failed (invalid input) does not use up the allowance."""
        for hit in hits:
            await self.counters.undo(hit.key, hit.window)

    def limiter(self, name: str, rule: WindowRule) -> Limiter:
        """Another limit over the same counters (per-participant writes: signaling/hub.py)."""
        return Limiter(self.counters, name, rule)

    async def close(self) -> None:
        await self.counters.close()
