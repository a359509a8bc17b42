"""What a run will do, decided from the lock and the store before anything is spent.

`prepare_run` gives the `RunPlan` that `plan` shows, whose estimate the user confirms, and that
the run then executes: they agree because they are one object. Pure but for reading the lock,
the store's index and the journal.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kling_pipe.backends import describe_backend
from kling_pipe.backends.protocol import Request
from kling_pipe.campaign import Campaign
from kling_pipe.errors import BudgetError, KlingPipeError, LostOutputsError
from kling_pipe.models.spec import OutputKind
from kling_pipe.planning.diff import Plan, PlannedJob
from kling_pipe.planning.jobs import Job
from kling_pipe.planning.shards import Shard
from kling_pipe.running.decisions import pick_changes
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.selection import check_glob
from kling_pipe.running.store import Store, open_store
from kling_pipe.takes import take_key


@dataclass(frozen=True)
class UpstreamInput:
    """An input a unit takes from another job's output, uploaded once that output is stored."""

    input: str
    job_id: str
    key: str
    sha256: str | None = None
    """The output the lock records for that key, when it does (a job this run reuses)."""


@dataclass(frozen=True)
class Unit:
    """One generation: a key, the request, and the takes that share it."""

    key: str
    request: Request
    job_ids: tuple[str, ...]
    """Take ids (`kling_pipe.takes`): the job id for take 1, `job#k` for take k."""
    cost_usd: float
    aspect_ratio: str | None  # None: the shape comes from a start image
    has_audio: bool
    force: bool = False  # do not reuse the stored output (a journaled live prediction is kept)
    attach_to: str | None = None
    """A prediction made earlier (the lock's, for a lost output) to fetch before anything else."""
    may_create: bool = True
    """False: never pay for this unit (a lost output fetched for free, or not at all)."""
    upstream: tuple[UpstreamInput, ...] = ()
    """Inputs from other jobs' outputs: the unit is created only once they are stored."""
    output_kind: OutputKind = "video"
    """What the model makes: a clip, or a still (an image model as a stage)."""


# A lost output is asked for only while the provider surely still serves it.
SAFETY_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class RunOptions:
    """How to run; None means: take it from the manifest's `limits`."""

    backend: str = "replicate"
    only: str | None = None
    force: str | None = None
    concurrency: int | None = None
    creates_per_minute: float | None = None
    budget_usd: float | None = None
    regenerate_lost: bool = False
    """Pay again for outputs the lock records and no store holds (refused otherwise)."""
    run_what_fits: bool = False
    """Over the budget: run what fits instead of refusing before anything is submitted."""
    deadline_seconds: float = 15 * 60
    webhook_url: str | None = None
    webhook_listen: tuple[str, int] | None = None
    preview_height: int = 360
    shard: Shard | None = None
    """Only this shard's share of the jobs (`--shard K/N`): the lock records only those."""
    prepare_cuts: bool | None = None
    """Prepare the manifest's cuts for each clip as it arrives, in the background, so that
    `stitch` finds the clips normalised and the fades encoded (see `running.preparation`).
    None: when the backend makes real generations (a preview run has no waiting to fill)."""


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, decided before anything is spent: `plan` shows it, the user
    confirms its estimate, `run_campaign` executes it."""

    plan: Plan
    backend: str
    free: bool
    units: tuple[Unit, ...]
    reuse: tuple[PlannedJob, ...]
    """Jobs whose output (theirs, or another job's with the same key) the lock records and the
    store holds: placed, not generated."""
    recoverable: tuple[PlannedJob, ...]
    """Lost outputs that Replicate may still serve (under an hour old): fetched for free."""
    gone: tuple[PlannedJob, ...]
    """Lost outputs Replicate no longer serves: paid again only with `regenerate_lost`."""
    budget_usd: float | None
    regenerate_lost: bool
    estimate_usd: float
    """What this run will spend as planned: new and changed generations (and the gone outputs
    with `regenerate_lost`); zero on a free backend."""

    job_count: int
    """The jobs this run covers: the plan's, or with `--shard` that shard's share."""

    @property
    def gone_cost_usd(self) -> float:
        """What paying again for the gone outputs costs."""
        return round(sum(p.cost_usd for p in self.gone), 4)

    def refusal(self, *, run_what_fits: bool = False) -> KlingPipeError | None:
        """Why this run must not start (exit 3, nothing submitted), or None."""
        if self.gone and not self.regenerate_lost and not self.free:
            listing = "\n".join(f"  {p.job.id}: {p.reason}" for p in self.gone)
            return LostOutputsError(
                f"{len(self.gone)} output(s) the lock records as paid for are in no store and "
                f"no longer served by Replicate:\n{listing}\n"
                f"nothing was submitted: restore the store (--store, or the bucket), or pass "
                f"--regenerate-lost to pay ${self.gone_cost_usd:.2f} for them again"
            )
        budget = self.budget_usd
        if budget is not None and self.estimate_usd > budget + 1e-9 and not run_what_fits:
            return BudgetError(
                f"the estimated cost ${self.estimate_usd:.2f} exceeds the budget ${budget:.2f}; "
                "nothing was submitted (raise --budget, narrow with --only, or pass --yes to "
                "run what fits)"
            )
        return None


def current_plan(campaign: Campaign, only: str | None = None, backend: str = "replicate") -> Plan:
    """The campaign's jobs against its lock and what its store holds (verified), as a run on
    `backend` would see them: what `plan` shows. InputError if `only` selects nothing."""
    check_glob(campaign, only, "--only")
    facts = describe_backend(backend)
    store = open_store(campaign.workspace)
    store.holds_all(
        {
            out.output_sha256
            for out in campaign.lock().outputs().values()
            if out.output_sha256 is not None
        }
    )
    stored = stored_outputs(campaign, store, facts.name)
    plan = campaign.plan(only, stored_keys=stored.keys(), held=store.holds)
    return plan.with_picks(pick_changes(campaign))


def prepare_run(campaign: Campaign, options: RunOptions) -> RunPlan:
    """Decide what `options` would run: InputError if a glob selects nothing."""
    plan = current_plan(campaign, options.only, options.backend)
    check_glob(campaign, options.force, "--force")
    backend = describe_backend(options.backend)
    forced = {
        p.job.id
        for p in plan.jobs
        if options.force is not None and fnmatch.fnmatchcase(p.job.id, options.force)
    }
    reuse: list[PlannedJob] = []
    recoverable: list[PlannedJob] = []
    gone: list[PlannedJob] = []
    to_run: list[PlannedJob] = []
    now = datetime.now(UTC)
    # A whole graph (a master and its lip-syncs) is one shard's: placed among every job.
    mine = None if options.shard is None else options.shard.share(campaign.job_plan.jobs)
    job_count = 0
    for planned in plan.jobs:
        if mine is not None and planned.job.id not in mine:
            continue
        job_count += 1
        if not backend.records_to_lock or planned.job.id in forced:
            to_run.append(planned)
        elif planned.status == "unchanged" or planned.reuses is not None:
            reuse.append(planned)
        elif planned.status == "lost":
            served = _still_served(planned, now, backend.outputs_kept_for)
            (recoverable if served else gone).append(planned)
        else:
            to_run.append(planned)
    budget = options.budget_usd
    if budget is None:
        budget = campaign.loaded.manifest.limits.budget_usd
    paid = [*to_run, *(gone if options.regenerate_lost else ())]
    estimate = 0.0 if backend.free else round(sum(p.cost_usd for p in paid), 4)
    units = _units(campaign, to_run, forced, backend.free)
    units += _units(
        campaign,
        [*recoverable, *(gone if options.regenerate_lost else ())],
        forced,
        backend.free,
        may_create=options.regenerate_lost,
    )
    return RunPlan(
        plan=plan,
        backend=backend.name,
        free=backend.free,
        units=tuple(units),
        reuse=tuple(reuse),
        recoverable=tuple(recoverable),
        gone=tuple(gone),
        budget_usd=None if backend.free else budget,
        job_count=job_count,
        regenerate_lost=options.regenerate_lost,
        estimate_usd=estimate,
    )


def _wanted_keys(campaign: Campaign) -> dict[str, str]:
    """Every take key the campaign's jobs ask for (the manifest's takes and the lock's
    rerolls), each with the id of the job it belongs to."""
    lock = campaign.lock()
    wanted: dict[str, str] = {}
    for job in campaign.job_plan.jobs:
        entry = lock.jobs.get(job.id)
        for take in range(1, job.takes + (entry.rerolls if entry else 0) + 1):
            wanted[take_key(job.key, take)] = job.id
    return wanted


def stored_outputs(campaign: Campaign, store: Store, backend: str) -> dict[str, OutputRecord]:
    """Outputs of `backend` in the store by key, for the campaign's takes: the local journal's,
    then (a bucket store) those other machines recorded in the bucket."""
    wanted = _wanted_keys(campaign)
    found: dict[str, OutputRecord] = {}
    if campaign.workspace.journal.is_file():
        journal = Journal(campaign.workspace.journal)
        try:
            for key in wanted:
                record = journal.output(key, backend)
                if record is not None and store.holds(record.sha256):
                    found[key] = record
        finally:
            journal.close()
    # Only keys the lock does not already answer for: a no-op re-run reads no record.
    locked = campaign.lock().keys()
    missing = set(wanted) - locked - found.keys()
    for key, record in store.recorded_outputs(missing, backend).items():
        if store.holds(record.sha256):
            found[key] = record
    return found


def _still_served(planned: PlannedJob, now: datetime, kept_for: timedelta | None) -> bool:
    entry = planned.lost
    if entry is None or entry.prediction_id is None:
        return False
    stamp = entry.completed_at or entry.created_at
    if stamp is None:
        return False
    try:
        finished = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=UTC)
    return kept_for is None or now - finished < kept_for - SAFETY_MARGIN


def _local_files(campaign: Campaign, job: Job) -> dict[str, Path]:
    spec = campaign.registry.get(job.model)
    files: dict[str, Path] = {}
    for name in job.files:
        value = job.inputs.get(name)
        ispec = spec.inputs.get(name) if spec else None
        if isinstance(value, str) and ispec is not None and ispec.type == "uri":
            files[name] = campaign.sources.resolve(value)
    return files


def _units(
    campaign: Campaign,
    planned: Sequence[PlannedJob],
    forced: set[str],
    free: bool,
    *,
    may_create: bool = True,
) -> list[Unit]:
    """One unit per distinct key among `planned`, in plan order."""
    by_key: dict[str, list[PlannedJob]] = {}
    for p in planned:
        by_key.setdefault(p.job.key, []).append(p)
    locked = {
        output.key: output.output_sha256
        for output in campaign.lock().outputs().values()
        if output.output_sha256 is not None
    }
    units = []
    for key, group in by_key.items():
        job = group[0].job
        spec = campaign.registry.get(job.model)
        shaped_by_image = bool(job.inputs.get("start_image") or "start_image" in job.upstream) and (
            spec is None or spec.ignores_aspect_ratio_with_start_image
        )
        has_ratio = spec is not None and "aspect_ratio" in spec.inputs
        lost = next((p.lost for p in group if p.lost is not None), None)
        units.append(
            Unit(
                key=key,
                request=Request(
                    key=key,
                    model=job.model,
                    inputs={
                        k: v
                        for k, v in job.inputs.items()
                        if v is not None and k not in job.upstream
                    },
                    local_files=_local_files(campaign, job),
                    duration=job.duration,
                ),
                job_ids=tuple(p.take_id for p in group),
                cost_usd=0.0 if free else job.cost_usd,  # what a create costs
                aspect_ratio=job.aspect_ratio if has_ratio and not shaped_by_image else None,
                has_audio=job.has_audio,
                force=any(p.job.id in forced for p in group),
                attach_to=lost.prediction_id if lost is not None else None,
                may_create=may_create,
                upstream=tuple(
                    UpstreamInput(name, source.take_id, source.key, locked.get(source.key))
                    for name, source in sorted(job.upstream.items())
                ),
                output_kind=spec.output_kind if spec is not None else "video",
            )
        )
    return units
