"""Running a campaign: decide from the lock and the store what to generate, check the money
rules, schedule, place the clips, write the lock as each clip lands, record the run.

    run_plan = prepare_run(campaign, RunOptions(backend="preview"))
    result = await run_campaign(campaign, options, on_event=print)

`prepare_run` is what `plan` shows and the estimate the user confirms: it and the run agree,
because the run executes exactly the `RunPlan` it was given.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio

from kling_pipe.backends import make_backend
from kling_pipe.backends.protocol import Backend
from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError
from kling_pipe.lock import LockedOutput, keep_only
from kling_pipe.media.probe import image_suffix
from kling_pipe.planning.jobs import Job
from kling_pipe.running.claims import ClaimCoordinator
from kling_pipe.running.events import Notice, RunEvent, RunFinished, RunStarted, UnitFinished
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.lock_writer import LockWriter
from kling_pipe.running.preparation import CutPreparation
from kling_pipe.running.record import JobRun, RunRecord, RunSummary, write_record
from kling_pipe.running.run_plan import RunOptions, RunPlan, prepare_run
from kling_pipe.running.scheduler import Scheduler, SchedulerOptions, UnitResult
from kling_pipe.running.store import ObjectStore, Store, StoreClaim, open_store
from kling_pipe.takes import split_take_id


@dataclass
class RunResult:
    """The record written to run.json, and where things went."""

    record: RunRecord
    run_json: Path
    output_dir: Path
    warnings: list[str] = field(default_factory=list)


def _backend(campaign: Campaign, options: RunOptions) -> Backend:
    return make_backend(
        options.backend,
        previews=campaign.workspace.previews,
        preview_height=options.preview_height,
        webhook_url=options.webhook_url,
        webhook_listen=options.webhook_listen,
        registry=campaign.registry,
    )


async def run_campaign(
    campaign: Campaign,
    options: RunOptions,
    *,
    run_plan: RunPlan | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> RunResult:
    """Generate what `run_plan` (by default `prepare_run(campaign, options)`) says; place clips
    in the output folder, write the lock as each lands, record the run in run.json.

    Refuses before anything is submitted (BudgetError, LostOutputsError: exit 3) when the
    money rules say so. Cancellation is the caller's: cancel the scope around this call and the
    predictions in flight are canceled on the provider, the journal and run.json record it,
    a `RunFinished` event carries the record, and the cancellation propagates.
    """
    emit = on_event or (lambda event: None)
    started = time.monotonic()
    workspace = campaign.workspace
    if run_plan is None:
        run_plan = prepare_run(campaign, options)
    refusal = run_plan.refusal(run_what_fits=options.run_what_fits)
    if refusal is not None:
        raise refusal
    _check_writable(workspace.writable_places())
    backend = _backend(campaign, options)

    limits = campaign.loaded.manifest.limits
    sched_options = SchedulerOptions(
        concurrency=options.concurrency or limits.concurrency,
        creates_per_minute=options.creates_per_minute or limits.creates_per_minute,
        budget_usd=run_plan.budget_usd,
        deadline_seconds=options.deadline_seconds,
        manifest=campaign.name,
    )
    takes_by_id = {p.take_id: p.job for p in run_plan.plan.jobs}
    placed: dict[str, str] = {}  # take id → where its output was placed this run (relative)
    warnings = [str(w) for w in run_plan.plan.warnings]

    def notice(message: str) -> None:
        warnings.append(message)
        emit(Notice(message))

    preparation = None
    prepare = options.prepare_cuts
    if campaign.loaded.manifest.cuts and (backend.records_to_lock if prepare is None else prepare):
        preparation = CutPreparation(campaign, notice)  # the cuts' clip work, while waiting

    with StoreClaim(workspace.run_lock, f"kling-pipe run {workspace.manifest_path}"):
        store = open_store(workspace)
        store.clean_tmp()
        journal = Journal(workspace.journal)
        if options.shard is not None and backend.records_to_lock:
            # A shard's lock is a fragment naming its share only (`kling-pipe lock merge`).
            mine = options.shard.share(campaign.job_plan.jobs)
            keep_only(workspace.lock_path, campaign.name, sorted(mine))
        recorded = campaign.lock().outputs()
        lock_writer = LockWriter(workspace.lock_path, campaign.name)
        try:
            lock_writer.start()
            # What other machines sharing the store made is taken, not made again.
            keys = {unit.key for unit in run_plan.units}
            for key, shared in store.recorded_outputs(keys, backend.name).items():
                if journal.output(key, backend.name) is None:
                    journal.record_output(shared)
            dangling = journal.dangling_intents(backend.name)
            if dangling:
                notice(
                    f"a previous run died while creating {len(dangling)} prediction(s) "
                    f"({', '.join(dangling[:5])}); they are looked for on the provider and "
                    "adopted rather than created again"
                )
            for planned in run_plan.reuse:
                made = recorded.get(planned.reuses or planned.take_id)
                if made is None or made.output_sha256 is None:
                    continue
                _place(campaign, store, made.output_sha256, planned.take_id, placed, planned.job)
                if preparation is not None:
                    preparation.known(
                        planned.take_id, workspace.output_dir / placed[planned.take_id]
                    )
                if planned.reuses is not None:  # same key as a locked take: record it too
                    job = planned.job
                    lock_writer.add({(job.id, job.take): (job.job_key, job.key_material(), made)})

            def on_scheduler_event(event: RunEvent) -> None:
                if isinstance(event, UnitFinished):
                    _landed(event.result)
                emit(event)

            def _landed(result: UnitResult) -> None:
                output = result.output
                if output is None or result.status not in ("done", "cached"):
                    return
                if backend.records_to_lock:  # with the next batch (the journal holds it now)
                    lock_writer.add(_entries(result, output, takes_by_id))
                for job_id in result.unit.job_ids:
                    try:
                        _place(campaign, store, output.sha256, job_id, placed, takes_by_id[job_id])
                    except OSError as exc:
                        notice(
                            f"{job_id}: stored, but not placed in {workspace.output_dir} "
                            f"({exc.strerror}); `kling-pipe run` again places it for free"
                        )
                        continue
                    if preparation is not None:
                        preparation.arrived(job_id, workspace.output_dir / placed[job_id])

            emit(
                RunStarted(
                    manifest=campaign.name,
                    backend=backend.name,
                    jobs=run_plan.job_count,
                    units=len(run_plan.units),
                    estimate_usd=run_plan.estimate_usd,
                    free=run_plan.free,
                )
            )
            coordinator = _coordinator(store, backend.name, notice)
            scheduler = Scheduler(
                backend,
                store,
                journal,
                sched_options,
                on_scheduler_event,
                coordinator=coordinator,
            )
            try:
                async with (
                    backend,
                    coordinator or contextlib.nullcontext(),
                    preparation or contextlib.nullcontext(),
                ):
                    await scheduler.run(run_plan.units)
            finally:
                with anyio.CancelScope(shield=True):
                    lock_writer.flush()
                    record = _record(campaign, run_plan, backend.name, scheduler, warnings, placed)
                    record.summary.seconds = round(time.monotonic() - started, 3)
                    record = write_record(workspace.run_json, record, campaign.job_plan.jobs)
                    emit(RunFinished(record, tuple(warnings)))
        finally:
            try:
                lock_writer.close()
            finally:
                journal.close()
    return RunResult(record, workspace.run_json, workspace.output_dir, warnings)


def _place(
    campaign: Campaign, store: Store, sha256: str, take_id: str, placed: dict[str, str], job: Job
) -> None:
    """Place a stored output in the output folder: a clip as `.mp4`, an image model's still
    with the suffix its bytes call for (`.png`, `.jpg`, `.webp`)."""
    suffix = ".mp4"
    spec = campaign.registry.get(job.model)
    if spec is not None and spec.output_kind == "image":
        local = store.local_copy(sha256)
        suffix = (image_suffix(local) if local is not None else None) or ".png"
    path = store.materialise(sha256, campaign.workspace.clip_path(take_id, suffix))
    placed[take_id] = _relative(path, campaign.workspace.output_dir)  # a str: 10,000 stay small


def _coordinator(
    store: Store, backend: str, notice: Callable[[str], None]
) -> ClaimCoordinator | None:
    """Claims in the bucket when other machines may share the store; none for a folder (its
    run.lock keeps a second run out)."""
    if isinstance(store, ObjectStore):
        return None
    from kling_pipe.running.remote_store import BucketStore

    assert isinstance(store, BucketStore)
    return ClaimCoordinator(store, backend, on_notice=notice)


def _check_writable(places: Sequence[Path]) -> None:
    """Every place the run writes must be writable before the first create is paid for."""
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{place}: cannot create this folder ({exc.strerror})") from None
        if not os.access(place, os.W_OK | os.X_OK):
            raise InputError(f"{place}: not writable; nothing was submitted")


def _entries(
    result: UnitResult, output: OutputRecord, takes_by_id: dict[str, Job]
) -> dict[tuple[str, int], tuple[str, dict[str, Any], LockedOutput]]:
    made = LockedOutput(
        key=result.unit.key,
        output_sha256=output.sha256,
        bytes=output.bytes,
        duration=round(output.duration, 3),
        prediction_id=output.prediction_id,
        model_version=output.model_version,
        cost_usd=output.cost_usd,
        created_at=output.created_at,
        completed_at=output.completed_at,
    )
    entries = {}
    for take_id in result.unit.job_ids:
        job = takes_by_id[take_id]
        entries[(job.id, job.take)] = (job.job_key, job.key_material(), made)
    return entries


def _record(
    campaign: Campaign,
    run_plan: RunPlan,
    backend_name: str,
    scheduler: Scheduler,
    warnings: list[str],
    placed: dict[str, str],
) -> RunRecord:
    workspace = campaign.workspace

    def output_of(take_id: str) -> str:
        found = placed.get(take_id)
        return (
            found
            if found is not None
            else _relative(workspace.clip_path(take_id), workspace.output_dir)
        )

    jobs: list[JobRun] = []
    for planned in run_plan.reuse:
        jobs.append(
            JobRun(
                id=planned.job.id,
                take=planned.job.take,
                key=planned.job.key,
                status="cached",
                output=output_of(planned.take_id),
                notes=[
                    f"same output as {planned.reuses}: placed from the store"
                    if planned.reuses
                    else "unchanged: placed from the store"
                ],
            )
        )
    results = scheduler.results
    for result in results:
        for take_id in result.unit.job_ids:
            job_id, take = split_take_id(take_id)
            jobs.append(
                JobRun(
                    id=job_id,
                    take=take,
                    key=result.unit.key,
                    status=result.status,
                    prediction_id=result.prediction_id,
                    attempts=result.attempts,
                    seconds=round(result.seconds, 3),
                    cost_usd=result.cost_usd if take_id == result.unit.job_ids[0] else 0.0,
                    output=output_of(take_id) if result.output else None,
                    error=result.error if result.status != "done" else None,
                    notes=result.notes,
                )
            )
    jobs.sort(key=lambda j: (j.id, j.take))
    count = {
        s: sum(1 for j in jobs if j.status == s)
        for s in ("done", "cached", "failed", "refused", "canceled")
    }
    status: Literal["ok", "failed", "refused", "interrupted"]
    if scheduler.cancelled:
        status, code = "interrupted", 130
    elif count["refused"] and not scheduler.account_error:
        status, code = "refused", 3
    elif count["failed"] or count["refused"]:
        status, code = "failed", 1
    else:
        status, code = "ok", 0
    if scheduler.account_error:
        warnings.append(scheduler.account_error)
    return RunRecord(
        manifest=campaign.name,
        backend=backend_name,
        status=status,
        exit_code=code,
        jobs=jobs,
        summary=RunSummary(
            jobs=len(jobs),
            done=count["done"],
            cached=count["cached"],
            failed=count["failed"],
            refused=count["refused"],
            canceled=count["canceled"],
            canceled_remote=sum(
                1 for r in results if r.status == "canceled" and r.prediction_id is not None
            ),
            generations=sum(1 for r in results if r.status == "done"),
            spent_usd=round(scheduler.spent_usd, 4),
            unresolved_usd=round(scheduler.unresolved_usd, 4),
            estimate_usd=run_plan.estimate_usd,
            seconds=0.0,
        ),
        warnings=warnings,
    )


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path, folder)).as_posix()
