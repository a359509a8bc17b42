"""The two throttles and the poll schedule. Pure arithmetic over a clock the caller passes in.

- `CreateBucket`: creates per minute as a token bucket (short bursts allowed). A 429 pauses
  every create until the server's reset and lowers the rate; successes bring it back up.
- `PollSchedule`: when to look at a prediction again. Nothing is asked while a prediction
  cannot be done yet: the first poll waits for the typical completion time, learnt from the
  server's own timestamps as predictions finish, and later polls step through the upper
  quantiles of that distribution, then back off.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class CreateBucket:
    """A token bucket for creates: `rate_per_minute` on average, `burst` at once."""

    rate_per_minute: float
    burst: int = 0
    _tokens: float = field(init=False)
    _updated: float | None = field(default=None, init=False)
    _paused_until: float = field(default=0.0, init=False)
    _rate: float = field(init=False)
    throttled: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.burst <= 0:
            self.burst = max(1, round(self.rate_per_minute / 20))
        self._tokens = float(self.burst)
        self._rate = self.rate_per_minute / 60.0

    @property
    def rate_per_second(self) -> float:
        """The current rate, lowered after 429s."""
        return self._rate

    def reserve(self, now: float) -> float:
        """Take a token; return how many seconds to wait before using it (0: go now)."""
        if self._updated is None:
            self._updated = now
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1.0
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        return max(wait, self._paused_until - now)

    def throttled_by_server(self, now: float, retry_after: float) -> None:
        """A 429: nobody creates before the server's reset, and the rate drops by a quarter."""
        self.throttled += 1
        self._paused_until = max(self._paused_until, now + retry_after)
        self._rate = max(self._rate * 0.75, 1.0 / 60.0)
        self._tokens = min(self._tokens, 0.0)

    def accepted(self) -> None:
        """A create went through: recover a little of the configured rate."""
        configured = self.rate_per_minute / 60.0
        if self._rate < configured:
            self._rate = min(configured, self._rate + configured * 0.05)


@dataclass
class PollSchedule:
    """When to poll, from observed completion latencies (seconds from create to done)."""

    fallback_seconds: float
    pushed: bool = False  # updates arrive by webhook: polls are only a safety net
    min_step: float = 0.25
    max_step: float = 30.0
    _observed: list[float] = field(default_factory=list, init=False)

    def observe(self, latency: float) -> None:
        """A prediction finished `latency` seconds after it was created."""
        bisect.insort(self._observed, latency)

    def _quantile(self, q: float) -> float:
        data = self._observed
        index = min(len(data) - 1, max(0, round(q * (len(data) - 1))))
        return data[index]

    def checkpoints(self) -> list[float]:
        """Seconds after the create at which to poll, before backing off."""
        if self.pushed:
            slowest = self._observed[-1] if self._observed else self.fallback_seconds
            return [slowest * 1.5]
        if len(self._observed) < 3:
            # Nothing learnt yet: look early and back off geometrically up to the backend's
            # typical time, so a fast provider is not kept waiting by a slow guess.
            points, t = [], min(1.0, self.fallback_seconds)
            while t < self.fallback_seconds:
                points.append(t)
                t *= 1.6
            return [*points, self.fallback_seconds]
        # Quartiles: on average 2.5 polls a prediction, finishing within an eighth of the
        # latency spread of the moment it is done.
        return sorted({self._quantile(q) for q in (0.25, 0.5, 0.75, 1.0)})

    def next_poll(self, elapsed: float, polls_done: int) -> float:
        """Seconds to wait from `elapsed` (since the create) until the next poll."""
        points = self.checkpoints()
        for point in points:
            # A checkpoint within a step of now was this poll's (timers wake a little early).
            if point > elapsed + self.min_step:
                return point - elapsed
        # Past every checkpoint: back off geometrically from the last one.
        overdue = polls_done - len(points) + 1
        step = max(self.min_step, points[-1] * 0.1) * (1.5 ** max(0, overdue))
        return min(self.max_step, step)
