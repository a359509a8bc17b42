"""The create rate limit: a token bucket over a caller-supplied monotonic clock."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class CreateBucket:
    """`per_minute` creates a minute, up to `burst` at once; `tokens` left at time `updated`."""

    per_minute: float
    burst: int
    tokens: float
    updated: float

    @classmethod
    def full(cls, per_minute: float, burst: int, now: float) -> CreateBucket:
        """A bucket with its whole burst available at `now`."""
        return cls(per_minute=per_minute, burst=burst, tokens=float(burst), updated=now)

    def take(self, now: float) -> tuple[CreateBucket, float]:
        """Spend one create at `now`: the new bucket and 0.0, or this one refilled and the wait.

        The wait is the number of seconds until a token is available again.
        """
        rate = self.per_minute / 60.0
        tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * rate)
        if tokens >= 1.0:
            return replace(self, tokens=tokens - 1.0, updated=now), 0.0
        return replace(self, tokens=tokens, updated=now), (1.0 - tokens) / rate
