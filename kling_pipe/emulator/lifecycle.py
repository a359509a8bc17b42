"""A prediction's lifecycle as a pure state machine over a caller-supplied monotonic clock.

    starting ──start──▶ processing ──finish──▶ succeeded | failed
        │                   │
        ├─deadline─▶ aborted└─cancel/deadline─▶ canceled
        └─cancel──▶ canceled

Everything is decided at create time (`Schedule`); `advance` only reads the clock. A succeeded
prediction also waits for its output file: it completes at the later of its planned finish and
the moment its render was ready, so a slow render looks like a slow model, never like a lie.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Status = Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
Outcome = Literal["succeeded", "model_error", "content_policy", "interrupted", "aborted"]
Event = Literal["start", "output", "completed", "removed"]

TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "aborted"})

MODEL_ERROR = "Prediction failed: the model raised an error while generating the video (emulated)."
CONTENT_POLICY_ERROR = (
    "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"
)
INTERRUPTED_ERROR = "Prediction interrupted; please retry (code: PA)"
"""Replicate's answer when the machine running a prediction was taken away: not the inputs'
fault, the same prediction created again usually succeeds."""
FAILURE_ERRORS: dict[str, str] = {
    "model_error": MODEL_ERROR,
    "content_policy": CONTENT_POLICY_ERROR,
    "interrupted": INTERRUPTED_ERROR,
}


@dataclass(frozen=True)
class Schedule:
    """When a prediction starts and finishes, and how it ends, decided when it is created."""

    created: float
    start: float
    finish: float
    outcome: Outcome
    deadline: float | None = None
    error: str | None = None
    """The failure's message when the outcome is one, if not the outcome's usual one."""

    @classmethod
    def plan(
        cls,
        created: float,
        latency_s: float,
        queue_share: float,
        outcome: Outcome,
        deadline: float | None = None,
    ) -> Schedule:
        """A schedule whose first `queue_share` of `latency_s` is spent queued (`starting`)."""
        return cls(
            created=created,
            start=created + latency_s * queue_share,
            finish=created + latency_s,
            outcome=outcome,
            deadline=deadline,
        )


@dataclass(frozen=True)
class PredictionState:
    """Where a prediction is: its status and the monotonic times of its transitions."""

    schedule: Schedule
    status: Status = "starting"
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    data_removed: bool = False

    @property
    def is_terminal(self) -> bool:
        """Whether the prediction will change no more (apart from its data being removed)."""
        return self.status in TERMINAL

    @property
    def has_output(self) -> bool:
        """Whether the prediction currently shows its output."""
        return self.status == "succeeded" and not self.data_removed


def _finish_time(state: PredictionState, output_ready_at: float | None) -> float | None:
    schedule = state.schedule
    if schedule.outcome != "succeeded":
        return schedule.finish
    if output_ready_at is None:
        return None
    return max(schedule.finish, output_ready_at)


def advance(
    state: PredictionState,
    now: float,
    *,
    output_ready_at: float | None = None,
    retention_s: float | None = None,
) -> tuple[PredictionState, tuple[Event, ...]]:
    """The state at `now` and the events crossed on the way, in order."""
    events: list[Event] = []
    schedule = state.schedule
    if state.status == "starting":
        deadline = schedule.deadline
        if deadline is not None and deadline <= now and deadline < schedule.start:
            state = replace(state, status="aborted", completed_at=deadline)
            events.append("completed")
        elif now >= schedule.start and schedule.outcome == "aborted":
            state = replace(state, status="aborted", completed_at=schedule.start)
            events.append("completed")
        elif now >= schedule.start:
            state = replace(state, status="processing", started_at=schedule.start)
            events.append("start")
    if state.status == "processing":
        done = _finish_time(state, output_ready_at)
        deadline = schedule.deadline
        if deadline is not None and deadline <= now and (done is None or deadline < done):
            state = replace(state, status="canceled", completed_at=deadline)
            events.append("completed")
        elif done is not None and now >= done:
            if schedule.outcome == "succeeded":
                state = replace(state, status="succeeded", completed_at=done)
                events.extend(("output", "completed"))
            else:
                error = schedule.error or FAILURE_ERRORS[schedule.outcome]
                state = replace(state, status="failed", completed_at=done, error=error)
                events.append("completed")
    if (
        state.completed_at is not None
        and retention_s is not None
        and not state.data_removed
        and now >= state.completed_at + retention_s
    ):
        state = replace(state, data_removed=True)
        events.append("removed")
    return state, tuple(events)


def cancel(state: PredictionState, now: float) -> tuple[PredictionState, tuple[Event, ...]]:
    """Cancel at `now` (call `advance` first); a finished prediction is left as it is."""
    if state.is_terminal:
        return state, ()
    return replace(state, status="canceled", completed_at=now), ("completed",)


def next_wakeup(
    state: PredictionState,
    *,
    output_ready_at: float | None = None,
    retention_s: float | None = None,
) -> float | None:
    """The next time `advance` could change `state`; None when only a render can change it."""
    schedule = state.schedule
    candidates: list[float] = []
    if state.status == "starting":
        candidates.append(schedule.start)
    if not state.is_terminal and schedule.deadline is not None:
        candidates.append(schedule.deadline)
    if state.status == "processing":
        done = _finish_time(state, output_ready_at)
        if done is not None:
            candidates.append(done)
    if state.completed_at is not None and retention_s is not None and not state.data_removed:
        candidates.append(state.completed_at + retention_s)
    return min(candidates) if candidates else None
