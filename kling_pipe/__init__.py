"""kling-pipe: declarative YAML pipelines for Kling video models on Replicate.

Use from Python, in an event loop (a web service, a notebook)::

    import kling_pipe

    plan = await kling_pipe.plan("pipelines/spring-launch.yaml")
    result = await kling_pipe.run("pipelines/spring-launch.yaml", backend="preview",
                                  on_event=print)

or without one (a script, a worker thread): `kling_pipe.run_sync(...)`, `plan_sync`,
`stitch_sync`, `report_sync`, `status_sync`. Cancel a run with your own cancel scope.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kling_pipe.api import (
        plan,
        plan_sync,
        report,
        report_sync,
        run,
        run_sync,
        status,
        status_sync,
        stitch,
        stitch_sync,
    )
    from kling_pipe.campaign import Campaign
    from kling_pipe.errors import (
        AccountError,
        BackendError,
        BudgetError,
        InputError,
        JobRejectedError,
        KlingPipeError,
        LostOutputsError,
        ManifestError,
        MediaError,
        Problem,
        StoreLockedError,
    )
    from kling_pipe.lock import Decision, LockEntry, LockFile, merge_locks, read_lock, write_lock
    from kling_pipe.manifest.loader import LoadedManifest, load_manifest
    from kling_pipe.models.catalogue import bundled_registry
    from kling_pipe.models.spec import ModelRegistry, ModelSpec
    from kling_pipe.planning.cuts import CutPlan, PlannedCut, plan_cuts
    from kling_pipe.planning.diff import PickChange, Plan, PlannedJob, diff_plan
    from kling_pipe.planning.jobs import Job, JobPlan, plan_jobs
    from kling_pipe.planning.matrix import expand_matrix
    from kling_pipe.planning.picks import ReviewState, TakeState
    from kling_pipe.planning.shards import Shard
    from kling_pipe.reporting.writing import ReportOptions
    from kling_pipe.review.server import start_review
    from kling_pipe.review.session import ReviewSession
    from kling_pipe.running.decisions import (
        annotate,
        job_review,
        pick,
        reject,
        reroll,
        review_states,
        unpick,
        unreject,
    )
    from kling_pipe.running.events import (
        Notice,
        PredictionCreated,
        ProgressChanged,
        RunEvent,
        RunFinished,
        RunProgress,
        RunStarted,
        Throttled,
        UnitFinished,
    )
    from kling_pipe.running.record import RunRecord
    from kling_pipe.running.run_plan import RunOptions, RunPlan, prepare_run
    from kling_pipe.running.runner import RunResult, run_campaign
    from kling_pipe.running.status import JobState
    from kling_pipe.running.stitching import StitchOptions, StitchResult
    from kling_pipe.takes import take_key
    from kling_pipe.workspace import Workspace

# Imported on first use (PEP 562), so that `kling-pipe plan` and `import kling_pipe.cli` do not
# load the run core, backends and their HTTP clients for a command that needs none of them.
_EXPORTS = {
    "AccountError": "kling_pipe.errors",
    "BackendError": "kling_pipe.errors",
    "BudgetError": "kling_pipe.errors",
    "Campaign": "kling_pipe.campaign",
    "CutPlan": "kling_pipe.planning.cuts",
    "Decision": "kling_pipe.lock",
    "InputError": "kling_pipe.errors",
    "Job": "kling_pipe.planning.jobs",
    "JobPlan": "kling_pipe.planning.jobs",
    "JobRejectedError": "kling_pipe.errors",
    "JobState": "kling_pipe.running.status",
    "KlingPipeError": "kling_pipe.errors",
    "LoadedManifest": "kling_pipe.manifest.loader",
    "LockEntry": "kling_pipe.lock",
    "LockFile": "kling_pipe.lock",
    "LostOutputsError": "kling_pipe.errors",
    "ManifestError": "kling_pipe.errors",
    "MediaError": "kling_pipe.errors",
    "ModelRegistry": "kling_pipe.models.spec",
    "ModelSpec": "kling_pipe.models.spec",
    "Notice": "kling_pipe.running.events",
    "PickChange": "kling_pipe.planning.diff",
    "Plan": "kling_pipe.planning.diff",
    "PlannedCut": "kling_pipe.planning.cuts",
    "PlannedJob": "kling_pipe.planning.diff",
    "PredictionCreated": "kling_pipe.running.events",
    "Problem": "kling_pipe.errors",
    "ProgressChanged": "kling_pipe.running.events",
    "ReportOptions": "kling_pipe.reporting.writing",
    "ReviewState": "kling_pipe.planning.picks",
    "RunEvent": "kling_pipe.running.events",
    "RunFinished": "kling_pipe.running.events",
    "RunOptions": "kling_pipe.running.run_plan",
    "RunPlan": "kling_pipe.running.run_plan",
    "RunProgress": "kling_pipe.running.events",
    "RunRecord": "kling_pipe.running.record",
    "RunResult": "kling_pipe.running.runner",
    "RunStarted": "kling_pipe.running.events",
    "Shard": "kling_pipe.planning.shards",
    "StitchOptions": "kling_pipe.running.stitching",
    "StitchResult": "kling_pipe.running.stitching",
    "StoreLockedError": "kling_pipe.errors",
    "TakeState": "kling_pipe.planning.picks",
    "Throttled": "kling_pipe.running.events",
    "UnitFinished": "kling_pipe.running.events",
    "Workspace": "kling_pipe.workspace",
    "annotate": "kling_pipe.running.decisions",
    "bundled_registry": "kling_pipe.models.catalogue",
    "diff_plan": "kling_pipe.planning.diff",
    "expand_matrix": "kling_pipe.planning.matrix",
    "job_review": "kling_pipe.running.decisions",
    "load_manifest": "kling_pipe.manifest.loader",
    "pick": "kling_pipe.running.decisions",
    "merge_locks": "kling_pipe.lock",
    "plan": "kling_pipe.api",
    "plan_cuts": "kling_pipe.planning.cuts",
    "plan_jobs": "kling_pipe.planning.jobs",
    "plan_sync": "kling_pipe.api",
    "prepare_run": "kling_pipe.running.run_plan",
    "read_lock": "kling_pipe.lock",
    "reject": "kling_pipe.running.decisions",
    "report": "kling_pipe.api",
    "report_sync": "kling_pipe.api",
    "reroll": "kling_pipe.running.decisions",
    "review_states": "kling_pipe.running.decisions",
    "run": "kling_pipe.api",
    "run_campaign": "kling_pipe.running.runner",
    "run_sync": "kling_pipe.api",
    "status": "kling_pipe.api",
    "status_sync": "kling_pipe.api",
    "stitch": "kling_pipe.api",
    "stitch_sync": "kling_pipe.api",
    "take_key": "kling_pipe.takes",
    "unpick": "kling_pipe.running.decisions",
    "unreject": "kling_pipe.running.decisions",
    "start_review": "kling_pipe.review.server",
    "ReviewSession": "kling_pipe.review.session",
    "write_lock": "kling_pipe.lock",
}

__version__ = "0.1.0"

__all__ = [
    "AccountError",
    "BackendError",
    "BudgetError",
    "Campaign",
    "CutPlan",
    "Decision",
    "InputError",
    "Job",
    "JobPlan",
    "JobRejectedError",
    "JobState",
    "KlingPipeError",
    "LoadedManifest",
    "LockEntry",
    "LockFile",
    "LostOutputsError",
    "ManifestError",
    "MediaError",
    "ModelRegistry",
    "ModelSpec",
    "Notice",
    "PickChange",
    "Plan",
    "PlannedCut",
    "PlannedJob",
    "PredictionCreated",
    "Problem",
    "ProgressChanged",
    "ReportOptions",
    "ReviewSession",
    "ReviewState",
    "RunEvent",
    "RunFinished",
    "RunOptions",
    "RunPlan",
    "RunProgress",
    "RunRecord",
    "RunResult",
    "RunStarted",
    "Shard",
    "StitchOptions",
    "StitchResult",
    "StoreLockedError",
    "TakeState",
    "Throttled",
    "UnitFinished",
    "Workspace",
    "annotate",
    "bundled_registry",
    "diff_plan",
    "expand_matrix",
    "job_review",
    "load_manifest",
    "merge_locks",
    "pick",
    "plan",
    "plan_cuts",
    "plan_jobs",
    "plan_sync",
    "prepare_run",
    "read_lock",
    "reject",
    "report",
    "report_sync",
    "reroll",
    "review_states",
    "run",
    "run_campaign",
    "run_sync",
    "start_review",
    "status",
    "status_sync",
    "stitch",
    "stitch_sync",
    "take_key",
    "unpick",
    "unreject",
    "write_lock",
]


if not TYPE_CHECKING:  # mypy sees the imports above, so a misspelt name stays a type error

    def __getattr__(name: str) -> object:
        """Import a public name's module the first time the name is used."""
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The module's names, including the public names not imported yet."""
        return sorted({*globals(), *__all__})
