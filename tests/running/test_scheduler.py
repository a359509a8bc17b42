"""The scheduler's rules, one per test, on trio's fake clock with an in-memory provider.

A real `Journal` (SQLite) and a real `ObjectStore` in tmp_path; the provider is
`MemoryBackend`, whose predictions finish after simulated seconds. `MockClock(autojump_threshold=0)`
jumps the clock whenever every task waits, so a minute of provider time costs microseconds.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import TypeVar

import anyio
import pytest
from trio.testing import MockClock

from kling_pipe.backends.protocol import FailureKind, Request
from kling_pipe.errors import AccountError, JobRejectedError, MediaError, RateLimitedError
from kling_pipe.running.events import (
    Notice,
    PredictionCreated,
    ProgressChanged,
    RunEvent,
    Throttled,
    UnitFinished,
)
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.scheduler import Scheduler, SchedulerOptions, Unit, UnitResult
from kling_pipe.running.store import ObjectStore
from kling_pipe.workspace import Workspace
from tests.running.memory_backend import CreateFault, MemoryBackend, Outcome

COST = 0.70
E = TypeVar("E")


def unit(name: str = "a", *, force: bool = False) -> Unit:
    return Unit(
        key=f"key-{name}",
        request=Request(key=f"key-{name}", model="kwaivgi/kling-v2.6", inputs={"prompt": name}),
        job_ids=(f"shot/{name}",),
        cost_usd=COST,
        aspect_ratio="16:9",
        has_audio=True,
        force=force,
    )


def verify(unit: Unit, path: Path) -> float:
    """Stands in for ffmpeg: the memory backend's clips are a few bytes naming themselves."""
    if path.read_bytes() == b"damaged":
        raise MediaError(f"{path}: not a video")
    return unit.request.duration


@dataclass
class Run:
    """One scheduler run on the fake clock, and what it told its caller."""

    backend: MemoryBackend
    journal: Journal
    store: ObjectStore
    events: list[tuple[float, RunEvent]] = field(default_factory=list)
    scheduler: Scheduler | None = None
    cancelled_caught: bool = False
    on_event: Callable[[RunEvent], None] | None = None  # also told every event

    def __call__(
        self,
        *units: Unit,
        cancel_after: float | None = None,
        **options: float,
    ) -> list[UnitResult]:
        opts = SchedulerOptions(**{"creates_per_minute": 600.0, **options})  # type: ignore[arg-type]
        scheduler = Scheduler(
            self.backend, self.store, self.journal, opts, self._record, verify=verify, rng=Random(0)
        )
        self.scheduler = scheduler

        async def main() -> None:
            with anyio.CancelScope() as scope:
                if cancel_after is not None:
                    scope.deadline = anyio.current_time() + cancel_after
                await scheduler.run(list(units))
            self.cancelled_caught = scope.cancelled_caught

        clock = MockClock(autojump_threshold=0)
        anyio.run(main, backend="trio", backend_options={"clock": clock})
        return scheduler.results

    def _record(self, event: RunEvent) -> None:
        self.events.append((anyio.current_time(), event))
        if self.on_event is not None:
            self.on_event(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for _, e in self.events if isinstance(e, kind)]

    @property
    def spent(self) -> float:
        assert self.scheduler is not None
        return round(self.scheduler.spent_usd, 6)

    def journal_prediction(self, prediction_id: str, u: Unit, status: str = "processing") -> None:
        """What an earlier run left in the journal."""
        self.journal.record_prediction(
            prediction_id,
            key=u.key,
            backend=self.backend.name,
            job_id=u.job_ids[0],
            manifest="",
            status=status,
            cost_usd=u.cost_usd,
        )


@pytest.fixture
def store_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder for the store and its journal: in memory where the machine has a tmpfs, since
    SQLite's syncs on a busy disk cost more than the scheduler's whole run on the fake clock."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield request.getfixturevalue("tmp_path")
        return
    folder = Path(tempfile.mkdtemp(prefix="kling-pipe-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def run(store_dir: Path) -> Iterator[Run]:
    workspace = Workspace.locate(
        store_dir / "campaign.yaml", "demo", store=store_dir / "store", environ={}
    )
    store = ObjectStore(workspace)
    journal = Journal(workspace.journal)
    yield Run(MemoryBackend(duration=60.0), journal, store)
    journal.close()


# ---------------------------------------------------------------------- the happy path


def test_a_unit_is_created_once_polled_on_schedule_and_stored(run: Run) -> None:
    (result,) = run(unit())
    assert (result.status, result.attempts, run.backend.submits) == ("done", 1, 1)
    assert result.output is not None and run.store.holds(result.output.sha256)
    assert run.backend.polls <= 12  # nothing learnt yet: still not one every half second (120)
    assert result.seconds == pytest.approx(60.0, abs=15.0)


def test_a_stored_output_is_cached_without_asking_the_provider(run: Run) -> None:
    run(unit())
    (again,) = run(unit())
    assert again.status == "cached" and run.backend.submits == 1 and again.cost_usd == 0.0


def test_units_report_progress_and_finish_as_events(run: Run) -> None:
    results = run(unit("a"), unit("b"))
    finished = [e.result.unit.key for e in run.of(UnitFinished)]
    assert sorted(finished) == sorted(r.unit.key for r in results)
    last = run.of(ProgressChanged)[-1].progress
    assert (last.total, last.done, last.created, last.running) == (2, 2, 2, 0)
    assert last.spent_usd == pytest.approx(2 * COST)
    assert run.scheduler is not None and run.scheduler.progress == last  # readable afterwards


# ---------------------------------------------------------------------- never two live predictions


def test_an_open_journaled_prediction_is_reattached_not_created_again(run: Run) -> None:
    earlier = run.backend.make(unit().request, at=0.0)
    run.journal_prediction(earlier.id, unit())
    (result,) = run(unit())
    assert (result.status, result.prediction_id, run.backend.submits) == ("done", earlier.id, 0)
    (created,) = run.of(PredictionCreated)
    assert created.adopted


def test_force_reattaches_to_the_open_prediction_instead_of_creating_another(run: Run) -> None:
    run(unit())  # p1, stored
    forced_earlier = run.backend.make(unit().request, at=0.0)  # a forced run died waiting on p2
    run.journal_prediction(forced_earlier.id, unit())
    (result,) = run(unit(force=True))
    assert result.prediction_id == forced_earlier.id and run.backend.submits == 1


def test_force_makes_a_new_take_when_only_the_stored_output_exists(run: Run) -> None:
    (first,) = run(unit())
    (forced,) = run(unit(force=True))
    assert forced.status == "done" and forced.prediction_id != first.prediction_id
    assert run.backend.submits == 2


def test_a_lost_create_answer_is_found_on_the_provider_not_sent_again(run: Run) -> None:
    run.backend.script_creates("lost")
    (result,) = run(unit())
    assert result.status == "done" and len(run.backend.made_for(unit().key)) == 1
    assert any("create answer lost; found prediction" in n for n in result.notes)


def test_a_create_that_never_arrived_is_sent_again_after_a_complete_listing(run: Run) -> None:
    run.backend.script_creates("unsent")
    (result,) = run(unit())
    assert (result.status, run.backend.submits, len(run.backend.predictions)) == ("done", 2, 1)
    assert result.attempts == 1 and run.spent == COST


def test_a_create_that_keeps_failing_to_arrive_fails_the_job_after_the_retry_limit(
    run: Run,
) -> None:
    run.backend.script_creates(*["unsent"] * 10)
    (result,) = run(unit(), max_transient_retries=3)
    assert result.status == "failed" and result.error == "create kept failing: connection refused"
    assert run.backend.submits == 4 and run.backend.predictions == {} and run.spent == 0.0


def test_an_unreadable_listing_is_asked_again_until_it_answers(run: Run) -> None:
    run.backend.script_creates("lost")
    run.backend.script_recovers("transient", "transient", "transient")
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 1
    assert run.backend.paid_twice() == []


def test_an_unresolvable_create_fails_the_job_and_is_never_sent_blindly(run: Run) -> None:
    run.backend.script_creates("unsent")
    run.backend.script_recovers(*["transient"] * 10)
    (result,) = run(unit(), max_transient_retries=3)
    assert result.status == "failed" and run.backend.submits == 1
    assert "could not be listed" in (result.error or "")
    assert "not creating another" in (result.error or "")
    # It may have been created: held against the budget, left for the next run to look for,
    # and counted as spent by the run that finds it (so never counted twice).
    assert run.spent == 0.0
    assert run.scheduler is not None and run.scheduler.reserved_usd == COST
    assert run.journal.intent_since(unit().key, run.backend.name) is not None


def test_an_intent_left_by_a_dead_run_is_adopted_not_created_again(run: Run) -> None:
    run.journal.record_intent(unit().key, run.backend.name, "shot/a")
    orphan = run.backend.make(unit().request, at=0.0)
    (result,) = run(unit())
    assert (result.status, result.prediction_id, run.backend.submits) == ("done", orphan.id, 0)
    assert any("adopted prediction" in n for n in result.notes)
    assert [n.message for n in run.of(Notice)] == [f"shot/a: {result.notes[0]}"]
    # the dead run journaled only its intent: its payment is recorded by the run that adopts it
    assert run.spent == unit().cost_usd


def test_an_intent_whose_create_never_arrived_is_created_after_a_complete_listing(
    run: Run,
) -> None:
    run.journal.record_intent(unit().key, run.backend.name, "shot/a")
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 1
    assert run.journal.intent_since(unit().key, run.backend.name) is None


def test_an_intent_that_cannot_be_resolved_fails_the_job_without_creating(run: Run) -> None:
    run.journal.record_intent(unit().key, run.backend.name, "shot/a")
    run.backend.script_recovers(*["transient"] * 10)
    (result,) = run(unit(), max_transient_retries=2)
    assert result.status == "failed" and run.backend.submits == 0
    assert "could not be listed" in (result.error or "")


# ---------------------------------------------------------------------- spending


def test_a_create_counts_as_spent_from_the_moment_it_is_sent(run: Run) -> None:
    run(unit())
    spending = [t for t, e in run.events if isinstance(e, ProgressChanged) and e.progress.spent_usd]
    (finished, _), *_ = [(t, e) for t, e in run.events if isinstance(e, UnitFinished)]
    assert spending[0] < 1.0 and finished >= 60.0


def test_a_lost_answer_that_cannot_be_resolved_is_held_against_the_budget_not_spent(
    run: Run,
) -> None:
    run.backend.script_creates("lost")
    run.backend.script_recovers(*["transient"] * 10)
    (result,) = run(unit(), max_transient_retries=1)
    assert result.status == "failed" and run.spent == 0.0 and result.cost_usd == 0.0
    assert run.scheduler is not None and run.scheduler.reserved_usd == COST
    # the next run adopts it and records the payment; it was not spent twice by then


def test_the_run_that_adopts_an_unresolved_create_records_its_payment(run: Run) -> None:
    run.backend.script_creates("lost")
    run.backend.script_recovers("transient", "transient")  # every try of the first run
    run(unit(), max_transient_retries=1)
    (again,) = run(unit())
    assert again.status == "done" and run.backend.submits == 1
    assert run.spent == COST and run.backend.paid_twice() == []


def test_a_failed_prediction_is_not_billed_and_gives_its_budget_back(run: Run) -> None:
    run.backend.script_outcomes(Outcome("failed", failure="model_error", error="CUDA OOM"))
    (result,) = run(unit(), budget_usd=COST)  # the retry fits only if the failure is refunded
    assert (result.status, result.attempts, run.backend.submits) == ("done", 2, 2)
    assert run.spent == COST and result.cost_usd == COST


def test_an_expired_output_was_billed_and_its_regeneration_is_billed_too(run: Run) -> None:
    run.backend.script_outcomes(Outcome(expired=True))
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 2
    assert any("expired on the server; generated again" in n for n in result.notes)
    assert run.spent == pytest.approx(2 * COST)


def test_fetching_again_an_output_missing_from_the_store_is_not_spending(run: Run) -> None:
    earlier = run.backend.make(unit().request, at=0.0)
    run.journal_prediction(earlier.id, unit(), status="succeeded")
    run.journal.record_output(
        OutputRecord(unit().key, "0" * 64, 9, 5.0, earlier.id, None, COST, "memory", None, None)
    )
    (result,) = run(unit())
    assert (result.status, result.prediction_id, run.backend.submits) == ("done", earlier.id, 0)
    assert run.spent == 0.0 and result.cost_usd == 0.0


def test_nothing_is_sent_that_would_exceed_the_budget(run: Run) -> None:
    results = run(unit("a"), unit("b"), unit("c"), budget_usd=1.5, concurrency=3)
    assert sorted(r.status for r in results) == ["done", "done", "refused"]
    assert run.backend.submits == 2 and run.spent <= 1.5
    assert "budget" in next(r.error or "" for r in results if r.status == "refused")


# ---------------------------------------------------------------------- failures by kind


@pytest.mark.parametrize("kind", ["content_policy", "invalid_input"])
def test_a_rejected_prediction_fails_at_once_with_the_providers_reason(
    run: Run, kind: FailureKind
) -> None:
    run.backend.script_outcomes(Outcome("failed", failure=kind, error="flagged as sensitive"))
    (result,) = run(unit())
    assert result.status == "failed" and run.backend.submits == 1
    assert result.error == "rejected by the provider: flagged as sensitive"


@pytest.mark.parametrize("kind", ["model_error", "transient", None])
def test_a_model_failure_is_created_again_up_to_the_attempt_limit(
    run: Run, kind: FailureKind | None
) -> None:
    run.backend.script_outcomes(*[Outcome("failed", failure=kind, error="boom")] * 5)
    (result,) = run(unit(), max_generation_attempts=3)
    assert (result.status, result.attempts, run.backend.submits) == ("failed", 3, 3)
    assert result.error == "model error: boom" and run.spent == 0.0


def test_an_account_failure_stops_every_new_create(run: Run) -> None:
    run.backend.script_outcomes(Outcome("failed", failure="account", error="no credit"))
    results = run(unit("a"), unit("b"), concurrency=1)
    assert sorted(r.status for r in results) == ["failed", "refused"]
    assert run.backend.submits == 1 and all("no credit" in (r.error or "") for r in results)
    assert [n.message for n in run.of(Notice)] == ["stopped submitting: no credit"]


def test_an_account_error_on_create_refuses_the_rest(run: Run) -> None:
    run.backend.script_creates(AccountError("Replicate answered 402 Insufficient credit"))
    results = run(unit("a"), unit("b"), concurrency=1)
    assert [r.status for r in results] == ["refused", "refused"] and run.backend.submits == 1
    assert run.spent == 0.0


def test_a_create_refused_as_invalid_fails_without_spending(run: Run) -> None:
    run.backend.script_creates(JobRejectedError("422 input.duration: must be 5 or 10"))
    (result,) = run(unit())
    assert result.status == "failed" and "422" in (result.error or "") and run.spent == 0.0


def test_an_aborted_prediction_is_created_again(run: Run) -> None:
    run.backend.script_outcomes(Outcome("aborted", error="deadline passed before it started"))
    (result,) = run(unit())
    assert (result.status, run.backend.submits, run.spent) == ("done", 2, COST)


# ---------------------------------------------------------------------- waits and retries


def test_a_429_is_a_wait_never_a_failure_and_honours_retry_after(run: Run) -> None:
    run.backend.script_creates(RateLimitedError("throttled", 5.0), RateLimitedError("again", 5.0))
    (result,) = run(unit())
    assert result.status == "done" and result.attempts == 1 and run.spent == COST
    assert [e.seconds for e in run.of(Throttled)] == [5.0, 5.0]
    (when, _), *_ = [(t, e) for t, e in run.events if isinstance(e, PredictionCreated)]
    assert when >= 10.0


def test_transient_poll_errors_are_retried(run: Run) -> None:
    run.backend.script_polls("transient", "transient", "transient")
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 1


def test_a_prediction_that_cannot_be_read_fails_the_job_but_is_not_created_again(
    run: Run,
) -> None:
    run.backend.script_polls(*["transient"] * 20)
    (result,) = run(unit(), max_transient_retries=2)
    assert result.status == "failed" and run.backend.submits == 1
    assert "re-attaches" in (result.error or "")
    assert run.journal.open_prediction(unit().key, run.backend.name) == result.prediction_id


def test_a_stuck_prediction_is_canceled_at_its_deadline_and_created_again(run: Run) -> None:
    run.backend.script_outcomes(Outcome(never=True))
    (result,) = run(unit(), deadline_seconds=300.0)
    assert result.status == "done" and run.backend.submits == 2
    assert run.backend.canceled == ["p1"] and run.backend.paid_twice() == []


def test_a_stuck_prediction_that_does_not_stop_when_canceled_is_not_created_again(
    run: Run,
) -> None:
    run.backend.script_outcomes(Outcome(never=True))
    run.backend.ignores_cancels = True
    (result,) = run(unit(), deadline_seconds=300.0)
    assert result.status == "failed" and run.backend.submits == 1
    assert "did not stop when canceled" in (result.error or "")
    assert run.journal.open_prediction(unit().key, run.backend.name) == "p1"


def test_a_damaged_download_is_fetched_again_before_blaming_the_model(run: Run) -> None:
    run.backend.script_fetches("damaged", "transient")
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 1 and run.backend.fetches == 3


def test_an_output_that_is_never_a_valid_clip_is_generated_again(run: Run) -> None:
    run.backend.script_fetches("damaged", "damaged", "damaged")
    (result,) = run(unit())
    assert result.status == "done" and run.backend.submits == 2


# ---------------------------------------------------------------------- held creates


def seen_to_take(run: Run, seconds: float, times: int = 3) -> None:
    """History in the journal: this provider's last predictions took `seconds` each."""
    for i in range(times):
        run.journal.record_output(
            OutputRecord(
                key=f"earlier-{i}",
                sha256="0" * 64,
                bytes=1,
                duration=5.0,
                prediction_id=f"earlier-{i}",
                model_version=None,
                cost_usd=COST,
                backend=run.backend.name,
                created_at="2026-01-01T00:00:00+00:00",
                completed_at=f"2026-01-01T00:00:{seconds:06.3f}+00:00",
            )
        )


def finished_at(run: Run, u: Unit) -> float:
    return next(t for t, e in run.events if isinstance(e, UnitFinished) and e.result.unit == u)


def test_creates_are_held_only_once_predictions_are_seen_to_end_within_the_hold(
    run: Run,
) -> None:
    run.backend.hold_limit = 120.0
    units = [unit(name) for name in "abcde"]
    results = run(*units, concurrency=1)
    assert [r.status for r in results] == ["done"] * 5
    assert run.backend.held == [0.0, 0.0, 0.0, 120.0, 120.0]


def test_a_held_create_that_ends_within_the_hold_is_noticed_at_once_without_a_poll(
    run: Run,
) -> None:
    run.backend.hold_limit = 120.0
    seen_to_take(run, 50.0)
    (result,) = run(unit())
    assert result.status == "done" and run.backend.held == [120.0]
    assert run.backend.polls == 0
    # 60 s of generation, 0.1 s each for the create's round trip and the download.
    assert result.seconds == pytest.approx(60.2, abs=0.05)


def test_creates_are_not_held_when_predictions_run_longer_than_a_hold(run: Run) -> None:
    run.backend.hold_limit = 30.0
    seen_to_take(run, 55.0)
    (result,) = run(unit())
    assert result.status == "done" and run.backend.held == [0.0]


def test_creates_are_not_held_when_updates_are_pushed(run: Run) -> None:
    run.backend.hold_limit = 120.0
    run.backend.pushed = True
    seen_to_take(run, 50.0)
    (result,) = run(unit())
    assert result.status == "done" and run.backend.held == [0.0]


def test_with_pushed_updates_a_prediction_slower_than_the_first_seen_is_not_polled(
    run: Run,
) -> None:
    run.backend.pushed = True
    run.backend.script_outcomes(
        Outcome(after=20.0), Outcome(after=22.0), Outcome(after=25.0), Outcome(after=35.0)
    )
    results = run(*(unit(name) for name in "abcd"), concurrency=3)
    assert [r.status for r in results] == ["done"] * 4
    # "d" is sent when "a" ends, with only 20 s seen: its update, 35 s on, is waited for (a
    # poll at half as long again, 30 s, would ask for what is on its way).
    assert run.backend.polls == 0


def test_with_pushed_updates_a_lost_update_is_found_by_a_late_poll(run: Run) -> None:
    run.backend.pushed = True
    run.backend.loses_pushes = True
    (result,) = run(unit())
    assert result.status == "done" and run.backend.polls == 1
    assert result.seconds == pytest.approx(90.2, abs=0.1)  # 1.5 x the expected 60 s


def test_a_held_create_answered_while_running_is_polled_from_when_it_was_sent(
    run: Run,
) -> None:
    run.backend.hold_limit = 30.0
    seen_to_take(run, 20.0)
    run.backend.script_outcomes(Outcome(after=45.0))
    (result,) = run(unit())
    assert result.status == "done" and run.backend.held == [30.0]
    # Held 30 s, then past the only checkpoint (20 s from the send): polls step by 2 s.
    assert 1 <= run.backend.polls <= 8
    assert result.seconds == pytest.approx(45.0, abs=2.5)


def test_cancelled_during_a_held_create_the_run_stops_at_once_and_cancels_it(run: Run) -> None:
    run.backend.hold_limit = 60.0
    run.backend.duration = 50.0
    seen_to_take(run, 50.0)
    (result,) = run(unit(), cancel_after=10.0)
    assert run.cancelled_caught
    assert finished_at(run, unit()) < 11.0  # not when the hold would have ended
    assert (result.status, result.error, result.prediction_id) == ("canceled", "interrupted", "p1")
    assert run.backend.canceled == ["p1"] and run.backend.paid_twice() == []
    assert [j.prediction_status for j in run.journal.jobs("")] == ["canceled"]
    assert run.journal.intent_since(unit().key, run.backend.name) is None
    assert run.spent == COST  # canceled by us: it may have been billed


def test_a_held_create_abandoned_before_it_arrived_leaves_its_intent_for_the_next_run(
    run: Run,
) -> None:
    run.backend.hold_limit = 60.0
    seen_to_take(run, 50.0)
    (result,) = run(unit(), cancel_after=0.05)  # the create takes 0.1 s to arrive
    assert (result.status, result.prediction_id) == ("canceled", None)
    assert run.backend.predictions == {} and run.backend.canceled == []
    assert run.journal.intent_since(unit().key, run.backend.name) is not None
    assert run.scheduler is not None and run.scheduler.unresolved_usd == COST
    (again,) = run(unit())
    assert again.status == "done" and len(run.backend.predictions) == 1


# ---------------------------------------------------------------------- cancellation


def test_cancelling_the_callers_scope_cancels_live_predictions_and_ends_every_unit(
    run: Run,
) -> None:
    results = run(unit("a"), unit("b"), unit("c"), concurrency=2, cancel_after=10.0)
    assert run.cancelled_caught and run.scheduler is not None and run.scheduler.cancelled
    assert sorted(run.backend.canceled) == ["p1", "p2"]
    ended = sorted((r.status, r.error, r.prediction_id) for r in results)
    assert ended == [
        ("canceled", "interrupted", "p1"),
        ("canceled", "interrupted", "p2"),
        ("canceled", "not submitted", None),
    ]
    assert run.journal.open_prediction(unit("a").key, run.backend.name) is None
    assert len(run.of(UnitFinished)) == 3
    assert run.spent == 2 * COST  # canceled by us: they may have finished first, so they count


def test_a_create_on_the_wire_when_cancelled_is_journaled_then_canceled(run: Run) -> None:
    (result,) = run(unit(), cancel_after=0.05)  # the create takes 0.1 s
    assert (result.status, result.prediction_id) == ("canceled", "p1")
    assert run.backend.canceled == ["p1"]
    with_status = run.journal.jobs("")
    assert [j.prediction_status for j in with_status] == ["canceled"]


def test_a_reattached_prediction_waiting_for_a_slot_is_canceled_too(run: Run) -> None:
    run.backend.duration = 600.0
    for name in ("a", "b"):
        earlier = run.backend.make(unit(name).request, at=0.0)
        run.journal_prediction(earlier.id, unit(name))
    results = run(unit("a"), unit("b"), concurrency=1, cancel_after=10.0)  # one waits
    assert sorted(run.backend.canceled) == ["p1", "p2"] and run.backend.submits == 0
    assert [r.error for r in results] == ["interrupted", "interrupted"]
    assert run.spent == 0.0  # an earlier run's predictions


# ---------------------------------------------------------------------- at scale


def test_a_large_run_starts_units_as_room_frees_up_not_all_at_once(run: Run) -> None:
    run.backend.duration = 5.0
    units = [unit(f"u{i}") for i in range(400)]
    most = 0

    def count_running(event: RunEvent) -> None:
        nonlocal most
        if isinstance(event, PredictionCreated) and run.scheduler is not None:
            most = max(most, sum(r.started and not r.finished for r in run.scheduler.results))

    run.on_event = count_running
    results = run(*units, concurrency=4)
    assert [r.status for r in results] == ["done"] * 400
    assert len(run.backend.predictions) == 400 and run.backend.paid_twice() == []
    assert 4 <= most <= 2 * 4 + 16


def test_units_not_started_when_cancelled_still_have_their_earlier_prediction_canceled(
    run: Run,
) -> None:
    run.backend.duration = 600.0
    units = [unit(f"u{i}") for i in range(40)]
    earlier = run.backend.make(units[-1].request, at=0.0)
    run.journal_prediction(earlier.id, units[-1])
    results = run(*units, concurrency=1, cancel_after=10.0)
    assert not results[-1].started
    assert earlier.id in run.backend.canceled
    assert (results[-1].status, results[-1].prediction_id) == ("canceled", earlier.id)


# ---------------------------------------------------------------------- all at once


def test_in_a_storm_of_faults_nothing_is_paid_twice_and_spend_matches_the_bill(run: Run) -> None:
    rng = Random(7)
    creates: list[CreateFault] = ["lost", "unsent", RateLimitedError("slow", 3.0), "ok", "ok"]
    run.backend.script_creates(*rng.choices(creates, k=40))
    run.backend.script_recovers(*rng.choices(["ok", "transient"], k=40))
    run.backend.script_polls(*rng.choices(["ok", "ok", "transient"], k=100))
    endings = [Outcome(), Outcome(), Outcome("aborted"), Outcome("failed", error="boom")]
    run.backend.script_outcomes(*rng.choices(endings, k=40))
    units = [unit(str(i)) for i in range(12)]
    results = run(*units, concurrency=4, max_generation_attempts=10, max_transient_retries=10)
    assert [(r.status, r.error, r.attempts, r.notes) for r in results if r.status != "done"] == []
    assert run.backend.paid_twice() == []
    billed = [p for p in run.backend.predictions.values() if p.outcome.status == "succeeded"]
    assert run.spent == pytest.approx(COST * len(billed))
    assert sum(r.cost_usd for r in results) == pytest.approx(run.spent)


def test_the_budget_reserves_every_take_of_a_job(run: Run, tmp_path: Path) -> None:
    from kling_pipe.campaign import Campaign
    from kling_pipe.running.run_plan import RunOptions, prepare_run

    (tmp_path / ".git").mkdir()
    manifest = tmp_path / "takes.yaml"
    manifest.write_text(
        "version: 1\nname: takes\nmodel: kwaivgi/kling-v2.6\n"
        "defaults: {duration: 5, takes: 3}\nshots:\n  - id: hero\n    prompt: A kettle.\n",
        "utf-8",
    )
    units = prepare_run(Campaign.open(manifest), RunOptions()).units
    assert [u.job_ids for u in units] == [("hero",), ("hero#2",), ("hero#3",)]
    assert len({u.key for u in units}) == 3
    cost = units[0].cost_usd
    results = run(*units, budget_usd=2.5 * cost, concurrency=3)
    assert sorted(r.status for r in results) == ["done", "done", "refused"]
    assert run.backend.submits == 2 and run.spent <= 2.5 * cost
