"""kling-pipe: declarative YAML pipelines for Kling video models on Replicate.

Use from Python::

    from kling_pipe import Campaign, RunOptions, run_campaign

    campaign = Campaign.open("pipelines/spring-launch.yaml")
    print(campaign.plan().summary)
    run_campaign(campaign, RunOptions(backend="preview"))
"""

from kling_pipe.campaign import Campaign
from kling_pipe.errors import (
    AccountError,
    BackendError,
    BudgetError,
    InputError,
    JobRejectedError,
    KlingPipeError,
    ManifestError,
    MediaError,
    Problem,
    StoreLockedError,
)
from kling_pipe.lock import LockEntry, LockFile, read_lock, write_lock
from kling_pipe.manifest.loader import LoadedManifest, load_manifest
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.spec import ModelRegistry, ModelSpec
from kling_pipe.plan.cuts import CutPlan, PlannedCut, plan_cuts
from kling_pipe.plan.diff import Plan, PlannedJob, diff_plan
from kling_pipe.plan.jobs import Job, JobPlan, plan_jobs
from kling_pipe.plan.matrix import expand_matrix
from kling_pipe.run.record import RunRecord
from kling_pipe.run.runner import RunOptions, RunResult, run_campaign

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
    "KlingPipeError",
    "LoadedManifest",
    "LockEntry",
    "LockFile",
    "ManifestError",
    "MediaError",
    "ModelRegistry",
    "ModelSpec",
    "Plan",
    "PlannedCut",
    "PlannedJob",
    "Problem",
    "RunOptions",
    "RunRecord",
    "RunResult",
    "StoreLockedError",
    "bundled_registry",
    "diff_plan",
    "expand_matrix",
    "load_manifest",
    "plan_cuts",
    "plan_jobs",
    "read_lock",
    "run_campaign",
    "write_lock",
]
