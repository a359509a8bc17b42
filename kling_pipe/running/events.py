"""What a run tells its caller while it works: typed events, never printed.

The library emits them through an `on_event` callback; the CLI renders them (a live line on a
terminal, plain lines in CI) and a Python caller may consume them however it likes. Every
counter a display needs is in `ProgressChanged.progress`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kling_pipe.running.record import RunRecord
    from kling_pipe.running.scheduler import UnitResult


@dataclass(frozen=True)
class RunProgress:
    """The scheduler's counters at one moment (units: one per distinct key)."""

    total: int = 0
    done: int = 0
    cached: int = 0
    failed: int = 0
    refused: int = 0
    canceled: int = 0
    running: int = 0
    created: int = 0
    spent_usd: float = 0.0
    throttled: int = 0
    elapsed: float = 0.0

    @property
    def finished(self) -> int:
        """Units that ended, however they ended."""
        return self.done + self.cached + self.failed + self.refused + self.canceled

    @property
    def queued(self) -> int:
        """Units neither running nor finished."""
        return max(0, self.total - self.finished - self.running)


@dataclass(frozen=True)
class RunStarted:
    """The run is about to schedule `units` generations for `jobs` jobs."""

    manifest: str
    backend: str
    jobs: int
    units: int
    estimate_usd: float
    free: bool


@dataclass(frozen=True)
class PredictionCreated:
    """A prediction was created (or adopted) and journaled; a created one is being paid for."""

    key: str
    job_ids: tuple[str, ...]
    prediction_id: str
    cost_usd: float
    adopted: bool = False


@dataclass(frozen=True)
class Throttled:
    """The provider answered a create with 429: every create waits `seconds`."""

    seconds: float


@dataclass(frozen=True)
class UnitFinished:
    """A unit ended: done, cached, failed, refused or canceled."""

    result: UnitResult


@dataclass(frozen=True)
class ProgressChanged:
    """The counters changed."""

    progress: RunProgress


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not a failure (a warning, a recovery)."""

    message: str


@dataclass(frozen=True)
class RunFinished:
    """The run ended (also when it was cancelled): its record, as written to run.json."""

    record: RunRecord
    notes: tuple[str, ...] = field(default_factory=tuple)


RunEvent = (
    RunStarted
    | PredictionCreated
    | Throttled
    | UnitFinished
    | ProgressChanged
    | Notice
    | RunFinished
)
