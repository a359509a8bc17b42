"""The plan: the manifest's jobs compared with its lock, and what running them would cost."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kling_pipe.errors import Problem
from kling_pipe.lock import LockedOutput, LockEntry, LockFile
from kling_pipe.planning.jobs import Job

Status = Literal["new", "changed", "unchanged", "lost"]


@dataclass(frozen=True)
class PlannedJob:
    """A take of a job (take 1: the job itself), whether it needs generating, why, and what
    that would cost. `job.take` says which take; `job.key` is the take's key."""

    job: Job
    status: Status
    reason: str
    cost_usd: float  # to spend: zero unless this job is the one that generates its key
    generates: bool = False
    lost: LockedOutput | None = None
    """For a `lost` job: the lock's record of the output that was paid for and no store
    holds."""
    reuses: str | None = None
    """For a new or changed job: the take (id) whose locked, stored output has the same key."""

    @property
    def take_id(self) -> str:
        """The planned take's id (`hero/jp/9x16`, or `hero/jp/9x16#2` for take 2)."""
        return self.job.take_id


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
    lost: int = 0
    lost_cost_usd: float = 0.0
    """What generating the lost outputs again would cost (only with `--regenerate-lost`)."""
    takes: int = 0
    """Takes planned: `jobs` when every job has one take; new, changed, unchanged and lost
    count takes."""
    picks: int = 0
    """Jobs whose cuts will use another take than they were made with (`Plan.picks`)."""


@dataclass(frozen=True)
class PickChange:
    """A job whose cuts will use another take than the cuts made so far: a pick, an unpick or a
    rejection changed it. Re-cuts `cuts`; generates nothing."""

    job_id: str
    before: int | None
    """The take the cuts were made with (None: not in a cut yet)."""
    after: int | None
    """The take they will use (None: no take to use)."""
    cuts: tuple[str, ...]
    """Ids of the cuts made with the job (`spot/jp/9x16`), which are made again."""

    def describe(self) -> str:
        """`pick hero/jp/9x16: take 1 → 3 re-cuts spot/jp/9x16`."""

        def name(take: int | None) -> str:
            return "none" if take is None else f"take {take}"

        after = (
            name(self.after).removeprefix("take ")
            if self.before and self.after
            else (name(self.after))
        )
        recuts = f" re-cuts {', '.join(self.cuts)}" if self.cuts else ""
        return f"pick {self.job_id}: {name(self.before)} → {after}{recuts}"


@dataclass(frozen=True)
class Plan:
    """What a run of the manifest would do."""

    manifest: str
    jobs: tuple[PlannedJob, ...]
    removed: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()
    picks: tuple[PickChange, ...] = ()
    """Jobs whose cuts will use another take (set by `current_plan`, which knows the cuts)."""

    def to_generate(self) -> list[PlannedJob]:
        """The jobs a run would generate: one per distinct key without an output yet."""
        return [p for p in self.jobs if p.generates]

    def lost(self) -> list[PlannedJob]:
        """Jobs whose paid-for output no store holds: one per distinct key (the one that
        carries the cost of making it again)."""
        return [p for p in self.jobs if p.status == "lost" and p.cost_usd > 0]

    def with_picks(self, picks: Sequence[PickChange]) -> Plan:
        """The same plan with `picks` (those of its jobs), which only the caller that knows
        the cuts made so far can tell."""
        ids = {p.job.id for p in self.jobs}
        mine = tuple(p for p in picks if p.job_id in ids)
        return Plan(self.manifest, self.jobs, self.removed, self.warnings, mine)

    def select(self, job_ids: set[str]) -> Plan:
        """The same plan limited to some jobs."""
        jobs = tuple(p for p in self.jobs if p.job.id in job_ids)
        picks = tuple(p for p in self.picks if p.job_id in job_ids)
        return Plan(self.manifest, jobs, self.removed, self.warnings, picks)

    @property
    def summary(self) -> PlanSummary:
        """Counts by status, distinct generations and their estimated cost."""
        counts = {
            s: sum(1 for p in self.jobs if p.status == s)
            for s in ("new", "changed", "unchanged", "lost")
        }
        generating = self.to_generate()
        return PlanSummary(
            lost=counts["lost"],
            lost_cost_usd=round(sum(p.cost_usd for p in self.lost()), 4),
            jobs=len({p.job.id for p in self.jobs}),
            takes=len(self.jobs),
            picks=len(self.picks),
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


def change_reasons(
    old: Mapping[str, Any], new: Mapping[str, Any], upstream: Mapping[str, str] | None = None
) -> list[str]:
    """Why two key materials differ, in words: model, each input or file, the salt.

    `upstream` names the job feeding each input taken from another shot, for the words
    `upstream master/16x9 changed`."""
    reasons: list[str] = []
    if old.get("model") != new.get("model"):
        reasons.append(f"model {old.get('model')} → {new.get('model')}")
    old_inputs: Mapping[str, Any] = old.get("inputs", {})
    new_inputs: Mapping[str, Any] = new.get("inputs", {})
    for name in sorted(set(old_inputs) | set(new_inputs)):
        before, after = old_inputs.get(name), new_inputs.get(name)
        if before == after:
            continue
        if isinstance(after, Mapping) and "upstream" in after:
            source = (upstream or {}).get(name, "job")
            if isinstance(before, Mapping) and before.get("upstream") == after["upstream"]:
                before_take, after_take = before.get("take", 1), after.get("take", 1)
                reasons.append(f"upstream {source} take {before_take} → {after_take}")
            else:
                reasons.append(f"upstream {source} changed")
        elif any(isinstance(v, str) and v.startswith("sha256:") for v in (before, after)):
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
    held: Callable[[str], bool] | None = None,
    stored_keys: Collection[str] = (),
) -> Plan:
    """Compare jobs with the lock. `only` is a glob over job ids that limits the plan.

    `held(sha256)` says whether a reachable store holds an output; a lock entry whose output
    no store holds is `lost` (paid for, gone). Without `held` every output counts as held.
    `stored_keys` are keys whose output the store holds though the lock does not record it
    (an earlier run ended before writing the lock): a run records them at no cost.
    """
    selected = [j for j in jobs if only is None or fnmatch.fnmatchcase(j.id, only)]
    recorded = lock.outputs()
    held_keys: dict[str, str] = {}
    lost_keys: dict[str, tuple[str, LockedOutput]] = {}
    for made_as, output in sorted(recorded.items()):
        sha = output.output_sha256
        if held is None or sha is None or held(sha):
            held_keys.setdefault(output.key, made_as)
        else:
            lost_keys.setdefault(output.key, (made_as, output))
    first_with_key: dict[str, str] = {}
    planned: list[PlannedJob] = []
    for base in selected:
        entry = lock.jobs.get(base.id)
        for take in range(1, base.takes + (entry.rerolls if entry else 0) + 1):
            job = base.for_take(take)
            out = recorded.get(job.take_id)
            if out is not None and out.key == job.key and job.key in held_keys:
                planned.append(PlannedJob(job, "unchanged", "", 0.0))
                continue
            if job.key not in held_keys and job.key in lost_keys:
                made_by, paid = lost_keys[job.key]
                cost = 0.0 if job.key in first_with_key else job.cost_usd
                first_with_key.setdefault(job.key, job.take_id)
                planned.append(
                    PlannedJob(
                        job, "lost", _lost_reason(paid, made_by, job.take_id), cost, False, paid
                    )
                )
                continue
            status, reason = _why(job, entry, out)
            cost = job.cost_usd
            if job.key in held_keys:
                reason += f"; same output as {held_keys[job.key]} in the lock, reused at no cost"
                cost = 0.0
            elif job.key in first_with_key:
                reason += f"; same key as {first_with_key[job.key]}, generated once"
                cost = 0.0
            elif job.key in stored_keys:
                reason += "; already in the store from an earlier run, recorded at no cost"
                cost = 0.0
            generates = (
                job.key not in held_keys
                and job.key not in first_with_key
                and job.key not in stored_keys
            )
            first_with_key.setdefault(job.key, job.take_id)
            reuses = held_keys.get(job.key)
            planned.append(PlannedJob(job, status, reason, cost, generates, reuses=reuses))
    current = {j.id for j in jobs}
    removed = tuple(
        sorted(
            i
            for i in lock.jobs
            if i not in current and (only is None or fnmatch.fnmatchcase(i, only))
        )
    )
    return Plan(manifest, tuple(planned), removed, tuple(warnings))


def _why(job: Job, entry: LockEntry | None, out: LockedOutput | None) -> tuple[Status, str]:
    """Whether a take that is not unchanged is new or changed, and why, in words."""
    if entry is None:
        return "new", "not in the lock"
    if entry.key != job.job_key:
        upstream = {name: source.job_id for name, source in job.upstream.items()}
        reasons = change_reasons(entry.material, job.key_material(), upstream)
        return "changed", ", ".join(reasons) or "key changed"
    if out is not None:  # recorded under another key: a lock edited by hand
        return "changed", "key changed"
    if job.take > job.takes:
        return "new", f"take {job.take}: asked for by a reroll"
    return "new", f"take {job.take} not made yet"


def _lost_reason(entry: LockedOutput, made_by: str, job_id: str) -> str:
    where = [f"prediction {entry.prediction_id}" if entry.prediction_id else "a prediction"]
    if entry.completed_at or entry.created_at:
        where.append(f"on {entry.completed_at or entry.created_at}")
    if entry.cost_usd is not None:
        where.append(f"for ${entry.cost_usd:.2f}")
    owner = "" if made_by == job_id else f" (as {made_by})"
    return f"paid for{owner} by {' '.join(where)}, but no store holds its output"
