"""A campaign: one manifest file with its templates, input files and lock, planned as a whole.

This is the entry point for Python users and the CLI alike: `Campaign.open(path).plan()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kling_pipe.lock import LockFile, read_lock
from kling_pipe.manifest.files import DiskSources
from kling_pipe.manifest.loader import LoadedManifest, load_manifest
from kling_pipe.models.local import local_registry
from kling_pipe.models.spec import ModelRegistry
from kling_pipe.plan.cuts import CutPlan, plan_cuts
from kling_pipe.plan.diff import Plan, diff_plan
from kling_pipe.plan.jobs import JobPlan, plan_jobs


@dataclass(frozen=True)
class Campaign:
    """A loaded manifest, its jobs, and the files around it."""

    loaded: LoadedManifest
    registry: ModelRegistry
    job_plan: JobPlan
    sources: DiskSources

    @classmethod
    def open(
        cls, path: Path | str, registry: ModelRegistry | None = None, store: Path | None = None
    ) -> Campaign:
        """Load, validate and expand a manifest; ManifestError says what is wrong and where.

        Models are validated against the bundled registry plus any pulled into the store
        (`kling-pipe models pull`): `store`, else the manifest's own store folder.
        """
        loaded = load_manifest(path)
        registry = registry or local_registry(store or Path(loaded.manifest.store))
        sources = DiskSources(loaded)
        return cls(loaded, registry, plan_jobs(loaded, registry, sources), sources)

    @property
    def name(self) -> str:
        """The manifest's `name`."""
        return self.loaded.manifest.name

    @property
    def lock_path(self) -> Path:
        """Where the lock file lives: `<manifest stem>.lock.json` beside the manifest."""
        return self.loaded.lock_path

    def lock(self) -> LockFile:
        """The lock as it is on disk (empty when there is none)."""
        return read_lock(self.lock_path, self.name)

    def plan(self, only: str | None = None) -> Plan:
        """The jobs compared with the lock: new, changed (and why), unchanged, removed."""
        return diff_plan(
            self.name, self.job_plan.jobs, self.lock(), only=only, warnings=self.job_plan.warnings
        )

    def cut_plan(self) -> CutPlan:
        """The rough cuts: one per combination of the axes each cut spans, clips in order."""
        return plan_cuts(self.loaded, self.job_plan.jobs, self.sources.template)
