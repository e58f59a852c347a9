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
    """Refuse messages beyond the allowed rate; report flooding when even ten times that is exceeded.

    The allowance may be shared (`FloodGuard.allowance`): an attendee's tabs then draw on one allowance, so
    opening more tabs buys no more messages; flooding is still judged per connection, which it closes.
    """

    per_second: float
    shared: TokenBucket | None = None
    allowed: TokenBucket = field(init=False)
    hard: TokenBucket = field(init=False)

    def __post_init__(self) -> None:
        self.allowed = self.shared if self.shared is not None else self.allowance(self.per_second)
        self.hard = TokenBucket(10 * self.per_second, 20 * self.per_second)

    @staticmethod
    def allowance(per_second: float) -> TokenBucket:
        """`per_second` messages a second, bursts up to four times that."""
        return TokenBucket(per_second, 4 * per_second)

    def check(self, now: float) -> str:
        """'ok', 'limited' (refuse this message) or 'flood' (drop the connection)."""
        if not self.hard.take(now):
            return "flood"
        return "ok" if self.allowed.take(now) else "limited"


@dataclass(frozen=True)
class WindowRule:
    """At most `limit` hits in any `seconds`, shared by every process (registrations, votes, hands).

    The count is a sliding-window estimate from two fixed windows: the current one's count plus the previous
    one's, weighted by how much of it still lies within the last `seconds`. Two counters per key are all a
    store has to keep (atomic increments in Redis), and a burst at a window's edge cannot pass twice the limit
    as it could with fixed windows alone.
    """

    limit: int
    seconds: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds <= 0:
            raise ValueError("a window rule needs a limit of at least 1 and a positive length")

    def window(self, now: float) -> int:
        """The number of the fixed window `now` falls in."""
        return int(now // self.seconds)

    def _elapsed(self, now: float) -> float:
        """How far into its window `now` is, from 0 to 1."""
        return (now - self.window(now) * self.seconds) / self.seconds

    def allows(self, current: int, previous: int, now: float) -> bool:
        """Whether the hit just counted fits: `current` includes it, `previous` is the last window's count."""
        return previous * (1 - self._elapsed(now)) + current <= self.limit

    def retry_after(self, current: int, previous: int, now: float) -> float:
        """Seconds until a hit would be allowed again, the refused one (counted in `current`) not kept."""
        elapsed = self._elapsed(now)
        room = self.limit - current
        if room >= 0 and previous > 0:  # this window, once enough of the previous one has slid out
            return max(0.0, (1 - room / previous - elapsed) * self.seconds)
        kept = current - 1  # in the next window, this one's hits weigh less and less
        later = max(0.0, 1 - (self.limit - 1) / kept) if kept > 0 else 0.0
        return (1 - elapsed + later) * self.seconds
