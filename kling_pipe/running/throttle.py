"""The two throttles and the poll schedule. Pure arithmetic over a clock the caller passes in.

- `CreateBucket`: creates per minute as a token bucket (short bursts allowed). A 429 pauses
  every create until the server's reset and settles the rate at what the server accepts;
  a faster rate is tried again only after a quiet spell.
- `PollSchedule`: when to look at a prediction again. Nothing is asked while a prediction
  cannot be done yet: the first poll waits for the typical completion time, learnt from the
  server's own timestamps as predictions finish, and later polls step through the upper
  quantiles of that distribution, then back off.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field


@dataclass
class CreateBucket:
    """A token bucket for creates that learns the server's limit.

    `rate_per_minute` is the configured ceiling, `burst` the creates allowed at once. A 429
    pauses every create until the server's reset (its Retry-After) and cuts the rate to what
    the server was seen to accept over the last minute, a little under it, with no more
    bursts: the rate then settles where the server lets creates through instead of bouncing
    off its limit (at a configured 60/min against a server allowing 10/min, nearly half the
    creates were answered 429 when the rate only dropped by a quarter and came straight back).
    Only after a quiet spell with no 429 is a tenth more tried; each probe that is refused
    doubles the next quiet spell, so a settled run pays a rare 429 for finding out whether the
    account's limit went up; each that holds halves it and doubles the next step, so a limit
    that did go up is found in minutes. The rate never goes above the configured one.
    """

    rate_per_minute: float
    burst: int = 0
    quiet_seconds: float = 60.0  # the first quiet spell before trying a faster rate
    max_quiet_seconds: float = 600.0
    window_seconds: float = 60.0  # how far back accepted creates are counted
    margin: float = 0.95  # settle this far under the rate the server was seen to accept
    _tokens: float = field(init=False)
    _updated: float | None = field(default=None, init=False)
    _paused_until: float = field(default=0.0, init=False)
    _rate: float = field(init=False)
    _started: float | None = field(default=None, init=False)
    _accepted: deque[float] = field(default_factory=deque, init=False)
    _last_cut: float | None = field(default=None, init=False)
    _quiet: float = field(init=False)
    _calm_since: float = field(default=0.0, init=False)
    _probing: bool = field(default=False, init=False)
    _streak: int = field(default=0, init=False)  # faster rates that held, in a row
    throttled: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.burst <= 0:
            self.burst = max(1, round(self.rate_per_minute / 20))
        self._tokens = float(self.burst)
        self._rate = self.rate_per_minute / 60.0
        self._quiet = self.quiet_seconds

    @property
    def rate_per_second(self) -> float:
        """The current rate: the configured one, or what the server was found to allow."""
        return self._rate

    @property
    def configured_per_second(self) -> float:
        """The configured ceiling."""
        return self.rate_per_minute / 60.0

    def reserve(self, now: float) -> float:
        """Take a token; return how many seconds to wait before using it (0: go now)."""
        if self._updated is None:
            self._updated = now
            self._started = now
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= 1.0
        wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        return max(wait, self._paused_until - now)

    def throttled_by_server(self, now: float, retry_after: float) -> None:
        """A 429: nobody creates before the server's reset, and the rate drops to what the
        server accepted. 429s answering creates sent before the first one's reset (a volley
        already on the wire) only extend the pause."""
        self.throttled += 1
        retry_after = max(0.0, retry_after)
        in_volley = self._last_cut is not None and now < self._paused_until
        self._paused_until = max(self._paused_until, now + retry_after)
        self._tokens = min(self._tokens, 0.0)
        self.burst = 1  # a throttled account gets no bursts
        if in_volley:
            return
        if self._probing:
            # The faster rate tried after the last quiet spell was refused: wait longer
            # before the next try.
            self._quiet = min(self.max_quiet_seconds, self._quiet * 2)
            self._probing = False
        self._streak = 0
        self._last_cut = now
        self._calm_since = now
        seen = self._accepted_rate(now, retry_after)
        floor = 1.0 / 3600.0  # one an hour: a rate of zero would never create again
        self._rate = max(floor, min(self._rate * 0.9, seen * self.margin))

    def _accepted_rate(self, now: float, retry_after: float) -> float:
        """Creates per second the server accepted lately: over the last window, or since the
        start, but never over less than the server's own reset (a burst is not a rate)."""
        while self._accepted and self._accepted[0] <= now - self.window_seconds:
            self._accepted.popleft()
        started = self._started if self._started is not None else now
        span = max(min(self.window_seconds, now - started), retry_after, 1.0)
        # With nothing accepted yet, the reset itself is the estimate: one create per reset.
        return max(len(self._accepted) / span, 1.0 / max(retry_after, 1.0))

    def accepted(self, now: float) -> None:
        """A create went through. After a quiet spell with no 429, try a tenth faster."""
        self._accepted.append(now)
        if self._rate >= self.configured_per_second:
            return
        if self._last_cut is None or now - self._calm_since >= self._quiet:
            if self._probing:
                # The last faster rate held through a quiet spell: the limit may have gone up
                # (credit added), so the next try comes sooner and goes further.
                self._quiet = max(self.quiet_seconds, self._quiet / 2)
                self._streak += 1
            self._rate = min(self.configured_per_second, self._rate * (1 + 0.1 * 2**self._streak))
            self._calm_since = now
            self._probing = self._last_cut is not None


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

    def typical(self) -> float | None:
        """The median latency seen, once three predictions finished; None before."""
        return self._quantile(0.5) if len(self._observed) >= 3 else None

    def _quantile(self, q: float) -> float:
        data = self._observed
        index = min(len(data) - 1, max(0, round(q * (len(data) - 1))))
        return data[index]

    def checkpoints(self) -> list[float]:
        """Seconds after the create at which to poll, before backing off."""
        if self.pushed:
            # A webhook is waited for until twice the slowest prediction seen: early in a run
            # the ones seen are the first of their wave to finish, the fastest, and half as
            # long again would poll the merely slower ones whose webhooks are on their way.
            if not self._observed:
                return [self.fallback_seconds * 1.5]
            return [self._observed[-1] * 2.0]
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
