"""The create bucket and the poll schedule: pure arithmetic over a clock passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import pytest

from kling_pipe.running.throttle import CreateBucket, PollSchedule


@dataclass
class ServerLimit:
    """The provider's side: a token bucket of `per_minute` with `burst`, answering 429 with
    the seconds until its next token, rounded up (as Replicate's "resets in ~Ns")."""

    per_minute: float
    burst: int = 1
    _tokens: float = 0.0
    _updated: float = 0.0

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)

    def create(self, now: float) -> float | None:
        """None: accepted; else the Retry-After of a 429."""
        rate = self.per_minute / 60.0
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return float(max(1, math.ceil((1.0 - self._tokens) / rate)))


def storm(bucket: CreateBucket, server: ServerLimit, minutes: float) -> tuple[int, list[float]]:
    """Creates sent back to back for `minutes`, as fast as the bucket lets them: the 429s and
    the times of the accepted ones."""
    now, throttled, accepted = 0.0, 0, []
    while now < minutes * 60:
        now += bucket.reserve(now)
        retry_after = server.create(now)
        if retry_after is None:
            bucket.accepted(now)
            accepted.append(now)
        else:
            throttled += 1
            bucket.throttled_by_server(now, retry_after)
    return throttled, accepted


def per_minute_over_the_last(accepted: list[float], minutes: float, end: float) -> float:
    return sum(1 for t in accepted if t >= end - minutes * 60) / minutes


# ---------------------------------------------------------------------- CreateBucket


def test_a_burst_goes_at_once_then_creates_are_spaced_at_the_rate() -> None:
    bucket = CreateBucket(60.0, burst=3)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.0) == pytest.approx(1.0)
    assert bucket.reserve(0.0) == pytest.approx(2.0)


def test_a_429_pauses_every_create_until_the_servers_reset() -> None:
    bucket = CreateBucket(600.0)
    bucket.throttled_by_server(10.0, 7.0)
    assert bucket.reserve(10.0) >= 7.0
    assert bucket.throttled == 1


def test_a_429_lowers_the_rate_to_a_little_under_what_the_server_accepted() -> None:
    bucket = CreateBucket(600.0)
    for second in range(0, 60, 2):  # one every two seconds accepted for a minute...
        bucket.reserve(float(second))
        bucket.accepted(float(second))
    bucket.throttled_by_server(60.0, 2.0)  # ...then refused
    assert bucket.rate_per_second * 60 == pytest.approx(30 * 0.95, rel=0.05)


def test_429s_of_one_volley_already_on_the_wire_cut_the_rate_once() -> None:
    bucket = CreateBucket(600.0)
    bucket.reserve(0.0)
    bucket.accepted(0.0)
    bucket.throttled_by_server(1.0, 5.0)
    after_first = bucket.rate_per_second
    bucket.throttled_by_server(1.1, 5.0)
    bucket.throttled_by_server(1.2, 5.0)
    assert bucket.rate_per_second == after_first and bucket.throttled == 3


def test_the_first_429_before_anything_was_accepted_does_not_stall_the_run() -> None:
    bucket = CreateBucket(600.0)
    bucket.reserve(0.0)
    bucket.throttled_by_server(0.0, 6.0)
    assert bucket.reserve(0.0) < 20.0  # one create per reset, not one an hour


def test_in_a_storm_the_rate_settles_near_the_servers_limit_instead_of_bouncing() -> None:
    # Configured for 60 a minute against an account allowed 10 (a low-credit account's burst
    # of 1): before, 46% of creates got a 429.
    throttled, accepted = storm(CreateBucket(60.0), ServerLimit(10.0), minutes=30)
    sent = throttled + len(accepted)
    assert throttled / sent < 0.05
    assert 8.0 <= per_minute_over_the_last(accepted, 10, end=30 * 60) <= 10.5


def test_after_a_quiet_spell_a_faster_rate_is_tried_and_found() -> None:
    bucket = CreateBucket(60.0)
    storm(bucket, ServerLimit(10.0), minutes=5)
    low = bucket.rate_per_second
    # The account's limit went up (credit added): the rate climbs back to the configured one.
    throttled, _ = storm(bucket, ServerLimit(600.0, burst=60), minutes=60)
    assert bucket.rate_per_second > low and bucket.rate_per_second == pytest.approx(1.0)
    assert throttled == 0


def test_a_probe_that_is_refused_waits_twice_as_long_before_the_next() -> None:
    bucket, server = CreateBucket(60.0), ServerLimit(10.0)
    now, refused = 0.0, []
    while now < 3600:
        now += bucket.reserve(now)
        retry_after = server.create(now)
        if retry_after is None:
            bucket.accepted(now)
        else:
            refused.append(now)
            bucket.throttled_by_server(now, retry_after)
    gaps = [b - a for a, b in pairwise(refused)]
    assert all(later >= 1.8 * earlier for earlier, later in pairwise(gaps[:4]))
    assert max(gaps) <= 700  # up to the ten-minute cap: a limit raised is still found
    assert len(refused) <= 10  # an hour at the limit: a handful of 429s, not one a minute


def test_the_rate_never_goes_above_the_configured_one() -> None:
    bucket = CreateBucket(30.0)
    throttled, accepted = storm(bucket, ServerLimit(600.0, burst=60), minutes=10)
    assert throttled == 0 and bucket.rate_per_second == pytest.approx(0.5)
    assert per_minute_over_the_last(accepted, 5, end=600) <= 30.5


# ---------------------------------------------------------------------- PollSchedule


def test_before_anything_is_learnt_polls_start_early_and_back_off_to_the_typical_time() -> None:
    points = PollSchedule(60.0).checkpoints()
    assert points[0] == 1.0 and points[-1] == 60.0
    assert all(b > a for a, b in pairwise(points))


def test_learnt_latencies_put_the_polls_on_their_quartiles() -> None:
    schedule = PollSchedule(60.0)
    for latency in (40.0, 50.0, 60.0, 70.0, 80.0):
        schedule.observe(latency)
    assert schedule.checkpoints() == [50.0, 60.0, 70.0, 80.0]
    assert schedule.next_poll(0.0, 0) == 50.0
    assert schedule.next_poll(50.0, 1) == pytest.approx(10.0)


def test_past_every_checkpoint_polls_back_off_up_to_the_cap() -> None:
    schedule = PollSchedule(60.0, max_step=30.0)
    steps = [schedule.next_poll(60.0 + i, i + 10) for i in range(10)]
    assert steps == sorted(steps) and steps[-1] == 30.0


def test_with_pushed_updates_a_poll_is_only_a_late_safety_net() -> None:
    schedule = PollSchedule(60.0, pushed=True)
    assert schedule.checkpoints() == [90.0]
    for latency in (20.0, 22.0, 25.0):
        schedule.observe(latency)
    # Twice the slowest seen: the first to finish are the fastest of their wave.
    assert schedule.checkpoints() == [50.0]
    assert schedule.next_poll(0.0, 0) == 50.0


def test_a_checkpoint_within_a_step_of_now_is_taken_as_this_poll() -> None:
    schedule = PollSchedule(10.0)
    for latency in (10.0, 10.0, 10.0):
        schedule.observe(latency)
    assert schedule.next_poll(9.9, 0) == 1.0  # not a second poll 0.1 s after this one
