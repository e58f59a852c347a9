"""Token buckets: how many messages a connection may send, and when it is flooding."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. Time comes from the caller (testable)."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a bucket needs a positive rate and a burst of at least 1")
        self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False


@dataclass
class FloodGuard:
    """Refuse messages beyond the allowed rate; report flooding when even ten times that is exceeded."""

    per_second: float
    allowed: TokenBucket = field(init=False)
    hard: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self.allowed = TokenBucket(self.per_second, 4 * self.per_second)
        self.hard = TokenBucket(10 * self.per_second, 20 * self.per_second)

    def check(self, now: float) -> str:
        """'ok', 'limited' (refuse this message) or 'flood' (drop the connection)."""
        if not self.hard.take(now):
            return "flood"
        return "ok" if self.allowed.take(now) else "limited"
