"""Which requests and predictions go wrong: every decision drawn from one seeded RNG."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from kling_pipe.emulator.config import Faults, LatencyRange
from kling_pipe.emulator.lifecycle import Outcome

RouteFaultKind = Literal["server_error", "drop"]
SERVER_ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True)
class RouteFault:
    """A request to answer with a 5xx (`status`) or to cut without an answer (`drop`)."""

    kind: RouteFaultKind
    status: int = 0


@dataclass(frozen=True)
class DownloadPlan:
    """How one output download is served: in full or cut at `truncate_at` of its bytes."""

    truncate_at: float | None = None


class FaultDice:
    """Draws faults, outcomes and latencies; the same seed gives the same sequence of draws."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def route_fault(self, faults: Faults, route: str) -> RouteFault | None:
        """The fault to serve on this request to `route`, if any."""
        drop = faults.share(faults.dropped_connections, route)
        error = faults.share(faults.server_errors, route)
        if drop and self._rng.random() < drop:
            return RouteFault("drop")
        if error and self._rng.random() < error:
            return RouteFault("server_error", self._rng.choice(SERVER_ERROR_STATUSES))
        return None

    def loses_create_response(self, faults: Faults) -> bool:
        """Whether to cut the connection after a create was accepted (the crash-like case)."""
        share = faults.lost_create_responses
        return bool(share) and self._rng.random() < share

    def outcome(self, faults: Faults) -> Outcome:
        """How a new prediction will end."""
        draw = self._rng.random()
        shares: tuple[tuple[Outcome, float], ...] = (
            ("model_error", faults.model_errors),
            ("content_policy", faults.content_policy_errors),
            ("aborted", faults.aborted),
            ("interrupted", faults.interrupted),
        )
        for outcome, share in shares:
            if draw < share:
                return outcome
            draw -= share
        return "succeeded"

    def latency(self, latency: LatencyRange, time_scale: float) -> float:
        """Seconds from create to finish for a new prediction."""
        return self._rng.uniform(latency.low, latency.high) * time_scale

    def download(self, faults: Faults) -> DownloadPlan:
        """How to serve one output download."""
        if faults.truncated_downloads and self._rng.random() < faults.truncated_downloads:
            return DownloadPlan(truncate_at=self._rng.uniform(0.1, 0.9))
        return DownloadPlan()
