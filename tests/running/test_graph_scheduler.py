"""The scheduler's dependency rules, one per test, on the fake clock: a unit that takes another
unit's output waits for it to be stored, uploads it, and ends as its upstream did when that one
gives nothing, without paying for itself."""

from __future__ import annotations

import pytest

from kling_pipe.backends.protocol import Request
from kling_pipe.running.events import PredictionCreated, RunEvent, UnitFinished
from kling_pipe.running.run_plan import UpstreamInput
from kling_pipe.running.scheduler import Unit
from tests.running.memory_backend import Outcome
from tests.running.test_scheduler import COST, Run, run, store_dir, unit

__all__ = ["run", "store_dir"]  # the fixtures, shared with the scheduler's other rules


def lipsync(name: str = "dub", upstream: str = "a") -> Unit:
    """A unit whose `video` input is the output of `unit(upstream)`."""
    key = f"key-{name}"
    return Unit(
        key=key,
        request=Request(key=key, model="kwaivgi/kling-lip-sync", inputs={"text": name}),
        job_ids=(f"dub/{name}",),
        cost_usd=COST,
        aspect_ratio=None,
        has_audio=True,
        upstream=(UpstreamInput("video", f"shot/{upstream}", f"key-{upstream}"),),
    )


def test_a_downstream_is_created_only_once_its_upstream_output_is_stored(run: Run) -> None:
    master, dub = run(unit("a"), lipsync())
    assert (master.status, dub.status) == ("done", "done")
    finished_at = next(
        t for t, e in run.events if isinstance(e, UnitFinished) and e.result.unit.key == "key-a"
    )
    created_at = next(
        t for t, e in run.events if isinstance(e, PredictionCreated) and e.key == "key-dub"
    )
    assert created_at >= finished_at >= 60.0


def test_the_downstream_request_carries_the_stored_upstream_output(run: Run) -> None:
    master, _ = run(unit("a"), lipsync())
    assert master.output is not None
    (made,) = run.backend.made_for("key-dub")
    assert made.request.local_files["video"] == run.store.path_for(master.output.sha256)
    assert made.request.local_files["video"].read_bytes() == (
        run.store.path_for(master.output.sha256).read_bytes()
    )


def test_a_failed_upstream_fails_its_downstream_with_the_reason_and_creates_nothing(
    run: Run,
) -> None:
    run.backend.script_outcomes(Outcome("failed", failure="content_policy", error="E005 flagged"))
    master, dub, other = run(unit("a"), lipsync("dub"), lipsync("dub2"))
    assert master.status == "failed" and "E005 flagged" in (master.error or "")
    for downstream in (dub, other):
        assert downstream.status == "failed"
        assert downstream.error == f"upstream shot/a failed: {master.error}"
        assert downstream.attempts == 0 and downstream.cost_usd == 0.0
    assert run.backend.made_for("key-dub") == [] and run.backend.submits == 1
    assert run.spent == 0.0


def test_a_refused_upstream_refuses_its_downstream(run: Run) -> None:
    master, dub = run(unit("a"), lipsync(), budget_usd=COST / 2)
    assert master.status == "refused" and dub.status == "refused"
    assert run.backend.submits == 0


def test_a_waiting_downstream_holds_its_cost_against_the_budget(run: Run) -> None:
    held: list[float] = []
    record = run._record

    def watch(event: RunEvent) -> None:
        record(event)
        if isinstance(event, UnitFinished) and event.result.unit.key == "key-a":
            assert run.scheduler is not None
            held.append(run.scheduler.reserved_usd)

    run._record = watch  # type: ignore[method-assign]
    results = run(unit("a"), lipsync("dub"), lipsync("dub2"), budget_usd=10.0)
    assert [r.status for r in results] == ["done", "done", "done"]
    assert held == [
        pytest.approx(2 * COST)
    ]  # both lip-syncs, waiting on the master, held their cost


def test_a_downstream_over_the_budget_is_refused_before_its_upstream_is_paid_for_it(
    run: Run,
) -> None:
    # Room for the master and one lip-sync: the other is refused up front, not after the
    # master was made for it; the master and the one that fits are made.
    results = run(unit("a"), lipsync("dub"), lipsync("dub2"), budget_usd=2 * COST)
    statuses = sorted(r.status for r in results)
    assert statuses == ["done", "done", "refused"]
    (refused,) = [r for r in results if r.status == "refused"]
    assert refused.error is not None and refused.error.startswith("budget:")
    assert run.spent == pytest.approx(2 * COST)


def test_an_upstream_stored_by_an_earlier_run_feeds_the_downstream_at_once(run: Run) -> None:
    (master,) = run(unit("a"))
    (dub,) = run(lipsync())
    assert dub.status == "done" and master.output is not None
    (made,) = run.backend.made_for("key-dub")
    assert made.request.local_files["video"] == run.store.path_for(master.output.sha256)


def test_an_upstream_neither_stored_nor_in_the_run_fails_the_downstream(run: Run) -> None:
    (dub,) = run(lipsync())
    assert dub.status == "failed" and run.backend.submits == 0
    assert dub.error is not None and "upstream shot/a has no output in the store" in dub.error
