"""The prediction lifecycle as a pure state machine over an explicit clock."""

from __future__ import annotations

from kling_pipe.emulator.lifecycle import (
    CONTENT_POLICY_ERROR,
    MODEL_ERROR,
    PredictionState,
    Schedule,
    advance,
    cancel,
    next_wakeup,
)


def _state(outcome: str = "succeeded", deadline: float | None = None) -> PredictionState:
    # Created at 100, queued until 102, finishes at 110.
    return PredictionState(Schedule.plan(100.0, 10.0, 0.2, outcome, deadline))  # type: ignore[arg-type]


def test_prediction_is_starting_until_its_queue_time_has_passed() -> None:
    state, events = advance(_state(), 101.9, output_ready_at=50.0)
    assert state.status == "starting"
    assert events == ()
    assert next_wakeup(state) == 102.0


def test_prediction_starts_processing_at_its_planned_start() -> None:
    state, events = advance(_state(), 105.0, output_ready_at=50.0)
    assert (state.status, state.started_at, events) == ("processing", 102.0, ("start",))


def test_success_completes_at_planned_finish_with_output_events() -> None:
    state, events = advance(_state(), 200.0, output_ready_at=50.0)
    assert state.status == "succeeded"
    assert state.completed_at == 110.0
    assert events == ("start", "output", "completed")
    assert state.has_output


def test_success_waits_for_a_render_that_is_not_ready() -> None:
    state, _ = advance(_state(), 120.0, output_ready_at=None)
    assert state.status == "processing"
    assert next_wakeup(state) is None
    state, events = advance(state, 125.0, output_ready_at=123.0)
    assert (state.status, state.completed_at, events) == (
        "succeeded",
        123.0,
        ("output", "completed"),
    )


def test_model_and_content_policy_failures_set_the_error_string() -> None:
    failed, _ = advance(_state("model_error"), 111.0)
    flagged, _ = advance(_state("content_policy"), 111.0)
    assert (failed.status, failed.error) == ("failed", MODEL_ERROR)
    assert (flagged.status, flagged.error) == ("failed", CONTENT_POLICY_ERROR)
    assert "E005" in CONTENT_POLICY_ERROR
    assert not failed.has_output


def test_aborted_outcome_never_starts() -> None:
    state, events = advance(_state("aborted"), 150.0)
    assert (state.status, state.started_at, state.completed_at) == ("aborted", None, 102.0)
    assert events == ("completed",)


def test_deadline_before_start_aborts_and_during_processing_cancels() -> None:
    early, _ = advance(_state(deadline=101.0), 150.0, output_ready_at=0.0)
    late, events = advance(_state(deadline=105.0), 150.0, output_ready_at=0.0)
    after, _ = advance(_state(deadline=120.0), 150.0, output_ready_at=0.0)
    assert (early.status, early.completed_at) == ("aborted", 101.0)
    assert (late.status, late.started_at, late.completed_at) == ("canceled", 102.0, 105.0)
    assert events == ("start", "completed")
    assert after.status == "succeeded"


def test_cancel_ends_a_running_prediction_and_leaves_a_finished_one_alone() -> None:
    running, _ = advance(_state(), 104.0, output_ready_at=0.0)
    canceled, events = cancel(running, 104.0)
    assert (canceled.status, canceled.completed_at, events) == ("canceled", 104.0, ("completed",))
    done, _ = advance(_state(), 111.0, output_ready_at=0.0)
    assert cancel(done, 112.0) == (done, ())


def test_output_is_removed_after_retention() -> None:
    done, _ = advance(_state(), 111.0, output_ready_at=0.0, retention_s=60.0)
    assert next_wakeup(done, output_ready_at=0.0, retention_s=60.0) == 170.0
    kept, _ = advance(done, 169.9, output_ready_at=0.0, retention_s=60.0)
    removed, events = advance(done, 170.0, output_ready_at=0.0, retention_s=60.0)
    assert kept.has_output and not kept.data_removed
    assert removed.data_removed and not removed.has_output
    assert events == ("removed",)
    assert removed.status == "succeeded"
