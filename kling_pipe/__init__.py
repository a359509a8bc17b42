"""kling-pipe: declarative YAML pipelines for Kling video models on Replicate.

Use from Python::

    from kling_pipe import Campaign, RunOptions, run_campaign

    campaign = Campaign.open("pipelines/spring-launch.yaml")
    print(campaign.plan().summary)
    run_campaign(campaign, RunOptions(backend="preview"))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    from kling_pipe.models.registry import ModelRegistry, ModelSpec, bundled_registry
    from kling_pipe.plan.cuts import CutPlan, PlannedCut, plan_cuts
    from kling_pipe.plan.diff import Plan, PlannedJob, diff_plan
    from kling_pipe.plan.jobs import Job, JobPlan, plan_jobs
    from kling_pipe.plan.matrix import expand_matrix
    from kling_pipe.run.record import RunRecord
    from kling_pipe.run.runner import RunOptions, RunResult, run_campaign

# Imported on first use (PEP 562), so that `kling-pipe plan` and `import kling_pipe.cli` do not
# load the run core, backends and their HTTP clients for a command that needs none of them.
_EXPORTS = {
    "AccountError": "kling_pipe.errors",
    "BackendError": "kling_pipe.errors",
    "BudgetError": "kling_pipe.errors",
    "Campaign": "kling_pipe.campaign",
    "CutPlan": "kling_pipe.plan.cuts",
    "InputError": "kling_pipe.errors",
    "Job": "kling_pipe.plan.jobs",
    "JobPlan": "kling_pipe.plan.jobs",
    "JobRejectedError": "kling_pipe.errors",
    "KlingPipeError": "kling_pipe.errors",
    "LoadedManifest": "kling_pipe.manifest.loader",
    "LockEntry": "kling_pipe.lock",
    "LockFile": "kling_pipe.lock",
    "ManifestError": "kling_pipe.errors",
    "MediaError": "kling_pipe.errors",
    "ModelRegistry": "kling_pipe.models.registry",
    "ModelSpec": "kling_pipe.models.registry",
    "Plan": "kling_pipe.plan.diff",
    "PlannedCut": "kling_pipe.plan.cuts",
    "PlannedJob": "kling_pipe.plan.diff",
    "Problem": "kling_pipe.errors",
    "RunOptions": "kling_pipe.run.runner",
    "RunRecord": "kling_pipe.run.record",
    "RunResult": "kling_pipe.run.runner",
    "StoreLockedError": "kling_pipe.errors",
    "bundled_registry": "kling_pipe.models.registry",
    "diff_plan": "kling_pipe.plan.diff",
    "expand_matrix": "kling_pipe.plan.matrix",
    "load_manifest": "kling_pipe.manifest.loader",
    "plan_cuts": "kling_pipe.plan.cuts",
    "plan_jobs": "kling_pipe.plan.jobs",
    "read_lock": "kling_pipe.lock",
    "run_campaign": "kling_pipe.run.runner",
    "write_lock": "kling_pipe.lock",
}

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
