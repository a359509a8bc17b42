"""The plan: the manifest's jobs compared with its lock, and what running them would cost."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kling_pipe.errors import Problem
from kling_pipe.lock import LockFile
from kling_pipe.plan.jobs import Job

Status = Literal["new", "changed", "unchanged"]


@dataclass(frozen=True)
class PlannedJob:
    """A job, whether it needs generating, why, and what that would cost."""

    job: Job
    status: Status
    reason: str
    cost_usd: float  # to spend: zero unless this job is the one that generates its key
    generates: bool = False


@dataclass(frozen=True)
class PlanSummary:
    """Counts and the estimated cost of a plan."""

    jobs: int
    new: int
    changed: int
    unchanged: int
    removed: int
    generations: int
    cost_usd: float


@dataclass(frozen=True)
class Plan:
    """What a run of the manifest would do."""

    manifest: str
    jobs: tuple[PlannedJob, ...]
    removed: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()

    def to_generate(self) -> list[PlannedJob]:
        """The jobs a run would generate: one per distinct key without an output yet."""
        return [p for p in self.jobs if p.generates]

    @property
    def summary(self) -> PlanSummary:
        """Counts by status, distinct generations and their estimated cost."""
        counts = {
            s: sum(1 for p in self.jobs if p.status == s) for s in ("new", "changed", "unchanged")
        }
        generating = self.to_generate()
        return PlanSummary(
            jobs=len(self.jobs),
            new=counts["new"],
            changed=counts["changed"],
            unchanged=counts["unchanged"],
            removed=len(self.removed),
            generations=len(generating),
            cost_usd=round(sum(p.cost_usd for p in generating), 4),
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…'"


def change_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why two key materials differ, in words: model, each input or file, the salt."""
    reasons: list[str] = []
    if old.get("model") != new.get("model"):
        reasons.append(f"model {old.get('model')} → {new.get('model')}")
    old_inputs: Mapping[str, Any] = old.get("inputs", {})
    new_inputs: Mapping[str, Any] = new.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        before, after = old_inputs.get(name), new_inputs.get(name)
        if before == after:
            continue
        if any(isinstance(v, str) and v.startswith("sha256:") for v in (before, after)):
            reasons.append(f"file {name} changed")
        elif name in ("prompt", "negative_prompt") and before is not None and after is not None:
            reasons.append(f"{name} changed")
        else:
            reasons.append(f"{name} {_short(before)} → {_short(after)}")
    if old.get("salt", "") != new.get("salt", ""):
        reasons.append("salt changed")
    return reasons


def diff_plan(
    manifest: str,
    jobs: Sequence[Job],
    lock: LockFile,
    *,
    only: str | None = None,
    warnings: Sequence[Problem] = (),
) -> Plan:
    """Compare jobs with the lock. `only` is a glob over job ids that limits the plan."""
    selected = [j for j in jobs if only is None or fnmatch.fnmatchcase(j.id, only)]
    done_keys = lock.keys()
    first_with_key: dict[str, str] = {}
    planned: list[PlannedJob] = []
    for job in selected:
        entry = lock.jobs.get(job.id)
        if entry is not None and entry.key == job.key:
            planned.append(PlannedJob(job, "unchanged", "", 0.0))
            continue
        status: Status = "new" if entry is None else "changed"
        reason = (
            "not in the lock"
            if entry is None
            else ", ".join(change_reasons(entry.material, job.key_material())) or "key changed"
        )
        cost = job.cost_usd
        if job.key in done_keys:
            other = next(i for i, e in sorted(lock.jobs.items()) if e.key == job.key)
            reason += f"; same output as {other} in the lock, reused at no cost"
            cost = 0.0
        elif job.key in first_with_key:
            reason += f"; same key as {first_with_key[job.key]}, generated once"
            cost = 0.0
        generates = job.key not in done_keys and job.key not in first_with_key
        first_with_key.setdefault(job.key, job.id)
        planned.append(PlannedJob(job, status, reason, cost, generates))
    current = {j.id for j in jobs}
    removed = tuple(
        sorted(
            i
            for i in lock.jobs
            if i not in current and (only is None or fnmatch.fnmatchcase(i, only))
        )
    )
    return Plan(manifest, tuple(planned), removed, tuple(warnings))
