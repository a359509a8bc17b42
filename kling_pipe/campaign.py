"""A campaign: one manifest with its templates, input files, lock and workspace, planned as a
whole.

The entry point for Python users and the CLI alike: `Campaign.open(path).plan()`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from kling_pipe.lock import LockFile, read_lock
from kling_pipe.manifest.files import DiskSources
from kling_pipe.manifest.loader import LoadedManifest, load_manifest
from kling_pipe.models.local import local_registry
from kling_pipe.models.spec import ModelRegistry
from kling_pipe.planning.cuts import CutPlan, plan_cuts
from kling_pipe.planning.diff import Plan, diff_plan
from kling_pipe.planning.jobs import JobPlan, plan_jobs
from kling_pipe.workspace import Workspace


@dataclass(frozen=True)
class Campaign:
    """A loaded manifest, its jobs, the files around it, and where its record lives."""

    loaded: LoadedManifest
    registry: ModelRegistry
    job_plan: JobPlan
    sources: DiskSources
    workspace: Workspace

    @classmethod
    def open(
        cls,
        path: Path | str,
        registry: ModelRegistry | None = None,
        *,
        store: Path | str | None = None,
        output: Path | None = None,
        lock: Path | None = None,
    ) -> Campaign:
        """Load, validate and expand a manifest; ManifestError says what is wrong and where.

        `store`, `output` and `lock` override where the record lives (see `Workspace`).
        Models are validated against the bundled registry plus any pulled into the store
        (`kling-pipe models pull`).
        """
        loaded = load_manifest(path)
        manifest = loaded.manifest
        workspace = Workspace.locate(
            loaded.path,
            manifest.name,
            manifest_store=manifest.store,
            manifest_output=manifest.output,
            store=store,
            output=output,
            lock=lock,
        )
        registry = registry or local_registry(workspace.models)
        sources = DiskSources(loaded)
        entries = read_lock(workspace.lock_path, manifest.name).jobs
        picks = {
            job_id: (entry.picked.take, entry.picked.key)
            for job_id, entry in entries.items()
            if entry.picked is not None
        }
        rerolls = {job_id: entry.rerolls for job_id, entry in entries.items() if entry.rerolls}
        job_plan = plan_jobs(loaded, registry, sources, picks, rerolls)
        return cls(loaded, registry, job_plan, sources, workspace)

    @property
    def name(self) -> str:
        """The manifest's `name`."""
        return self.loaded.manifest.name

    @property
    def lock_path(self) -> Path:
        """Where the lock file lives (beside the manifest unless `lock` was given)."""
        return self.workspace.lock_path

    def lock(self) -> LockFile:
        """The lock as it is on disk (empty when there is none)."""
        return read_lock(self.lock_path, self.name)

    def holds(self, sha256: str) -> bool:
        """Whether the store folder has a file for the output with this hash (`Store.holds`
        also verifies it, and asks a bucket: pass it as `plan(held=…)`)."""
        return self.workspace.object_path(sha256).is_file()

    def plan(
        self,
        only: str | None = None,
        *,
        stored_keys: Collection[str] = (),
        held: Callable[[str], bool] | None = None,
    ) -> Plan:
        """The jobs compared with the lock and the store: new, changed (and why), unchanged,
        lost (paid for, no store holds it), removed. `held` says whether the store holds an
        output (default: its file exists); `stored_keys`: see `diff_plan`."""
        return diff_plan(
            self.name,
            self.job_plan.jobs,
            self.lock(),
            only=only,
            warnings=self.job_plan.warnings,
            held=held or self.holds,
            stored_keys=stored_keys,
        )

    def cut_plan(self) -> CutPlan:
        """The rough cuts: one per combination of the axes each cut spans, clips in order."""
        return plan_cuts(self.loaded, self.job_plan.jobs, self.sources.template)
