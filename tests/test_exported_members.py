"""The public surface is deliberate: `kling_pipe.__all__` lists it, and changing it is a
decision this test makes visible (as httpx's test_exported_members does)."""

from __future__ import annotations

import pytest

import kling_pipe

PUBLIC = {
    # the library's entry points (async, and their sync wrappers)
    "plan", "plan_sync", "run", "run_sync", "stitch", "stitch_sync", "report", "report_sync",
    "status", "status_sync", "prepare_run", "run_campaign",
    # campaigns, plans, records
    "Campaign", "Workspace", "LoadedManifest", "load_manifest", "Job", "JobPlan", "plan_jobs",
    "expand_matrix", "Plan", "PlannedJob", "diff_plan", "CutPlan", "PlannedCut", "plan_cuts",
    "LockEntry", "LockFile", "read_lock", "write_lock", "ModelRegistry", "ModelSpec",
    "bundled_registry", "RunOptions", "RunPlan", "RunResult", "RunRecord", "JobState",
    "StitchOptions", "StitchResult", "Shard", "merge_locks", "ReportOptions",
    # takes and review decisions (in the lock)
    "pick", "reject", "unpick", "annotate", "reroll", "review_states", "job_review",
    "ReviewState", "TakeState", "PickChange", "Decision", "take_key", "unreject",
    # the review app
    "ReviewSession", "start_review",
    # run events
    "RunEvent", "RunStarted", "PredictionCreated", "Throttled", "UnitFinished",
    "ProgressChanged", "RunProgress", "Notice", "RunFinished",
    # errors
    "KlingPipeError", "InputError", "ManifestError", "Problem", "MediaError", "BackendError",
    "JobRejectedError", "AccountError", "BudgetError", "LostOutputsError", "StoreLockedError",
}  # fmt: skip


def test_all_lists_exactly_the_public_surface() -> None:
    assert set(kling_pipe.__all__) == PUBLIC
    assert len(kling_pipe.__all__) == len(PUBLIC)


def test_every_public_name_resolves_on_first_use_and_is_documented() -> None:
    for name in kling_pipe.__all__:
        member = getattr(kling_pipe, name)
        if name == "RunEvent":  # a union of the event types
            continue
        assert member.__name__ == name, f"kling_pipe.{name} is {member!r}"
        assert member.__doc__, f"kling_pipe.{name} has no docstring"
    assert set(kling_pipe.__all__) <= set(dir(kling_pipe))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        kling_pipe.no_such_name  # type: ignore[attr-defined]  # noqa: B018
