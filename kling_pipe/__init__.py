"""kling-pipe: declarative YAML pipelines for Kling video models on Replicate.

Use from Python, in an event loop (a web service, a notebook)::

    import kling_pipe

    plan = await kling_pipe.plan("pipelines/spring-launch.yaml")
    result = await kling_pipe.run("pipelines/spring-launch.yaml", backend="preview",
                                  on_event=print)

or without one (a script, a worker thread): `kling_pipe.run_sync(...)`, `plan_sync`,
`stitch_sync`, `report_sync`, `status_sync`. Cancel a run with your own cancel scope.
"""

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
from kling_pipe.lock import LockEntry, LockFile, read_lock, write_lock
from kling_pipe.manifest.loader import LoadedManifest, load_manifest
from kling_pipe.models.registry import ModelRegistry, ModelSpec, bundled_registry
from kling_pipe.plan.cuts import CutPlan, PlannedCut, plan_cuts
from kling_pipe.plan.diff import Plan, PlannedJob, diff_plan
from kling_pipe.plan.jobs import Job, JobPlan, plan_jobs
from kling_pipe.plan.matrix import expand_matrix
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
from kling_pipe.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "AccountError",
    "BackendError",
    "BudgetError",
    "Campaign",
    "CutPlan",
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
    "Plan",
    "PlannedCut",
    "PlannedJob",
    "PredictionCreated",
    "Problem",
    "ProgressChanged",
    "RunEvent",
    "RunFinished",
    "RunOptions",
    "RunPlan",
    "RunProgress",
    "RunRecord",
    "RunResult",
    "RunStarted",
    "StitchOptions",
    "StitchResult",
    "StoreLockedError",
    "Throttled",
    "UnitFinished",
    "Workspace",
    "bundled_registry",
    "diff_plan",
    "expand_matrix",
    "load_manifest",
    "plan",
    "plan_cuts",
    "plan_jobs",
    "plan_sync",
    "prepare_run",
    "read_lock",
    "report",
    "report_sync",
    "run",
    "run_campaign",
    "run_sync",
    "status",
    "status_sync",
    "stitch",
    "stitch_sync",
    "write_lock",
]
