"""Running a campaign: plan, group jobs by key, schedule, materialise, lock, record.

run_campaign(Campaign.open("pipelines/spring-launch.yaml"), RunOptions(backend="preview"))
"""

from __future__ import annotations

import fnmatch
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio

from kling_pipe.backends.preview import PreviewBackend
from kling_pipe.backends.protocol import Backend, Request
from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.campaign import Campaign
from kling_pipe.durable import write_atomically
from kling_pipe.lock import LockEntry, LockFile, read_lock, write_lock
from kling_pipe.plan.diff import Plan
from kling_pipe.plan.jobs import Job
from kling_pipe.run.events import ProgressChanged, RunEvent, UnitFinished
from kling_pipe.run.journal import Journal
from kling_pipe.run.progress import ProgressDisplay, RunProgress
from kling_pipe.run.record import JobRun, RunRecord, RunSummary
from kling_pipe.run.scheduler import Scheduler, SchedulerOptions, Unit, UnitResult
from kling_pipe.run.store import ObjectStore, RunLock

BackendName = Literal["preview", "replicate"]


@dataclass(frozen=True)
class RunOptions:
    """How to run; None means: take it from the manifest."""

    backend: BackendName = "replicate"
    only: str | None = None
    force: str | None = None
    concurrency: int | None = None
    creates_per_minute: float | None = None
    budget_usd: float | None = None
    store: Path | None = None
    output: Path | None = None
    lock: Path | None = None  # default: beside the manifest
    deadline_seconds: float = 15 * 60
    webhook_url: str | None = None
    webhook_listen: tuple[str, int] | None = None
    preview_height: int = 360
    progress_interval: float = 10.0
    show_progress: bool = True


@dataclass
class RunResult:
    """The record written to run.json, and where things went."""

    record: RunRecord
    run_json: Path
    output_dir: Path
    warnings: list[str] = field(default_factory=list)


def store_root(campaign: Campaign, options: RunOptions) -> Path:
    """The store folder: --store, else the manifest's `store` (relative to the working dir)."""
    return options.store or Path(campaign.loaded.manifest.store)


def output_dir(campaign: Campaign, options: RunOptions) -> Path:
    """Where clips, cuts and run.json go: `<output>/<manifest name>/`."""
    return (options.output or Path(campaign.loaded.manifest.output)) / campaign.name


def make_backend(options: RunOptions, store: Path) -> Backend:
    """The backend named in the options."""
    if options.backend == "preview":
        return PreviewBackend(store / "previews", height=options.preview_height)
    return ReplicateBackend(webhook_url=options.webhook_url, webhook_listen=options.webhook_listen)


def _local_files(campaign: Campaign, job: Job) -> dict[str, Path]:
    spec = campaign.registry.get(job.model)
    files: dict[str, Path] = {}
    for name in job.files:
        value = job.inputs.get(name)
        ispec = spec.inputs.get(name) if spec else None
        if isinstance(value, str) and ispec is not None and ispec.type == "uri":
            files[name] = campaign.sources.resolve(value)
    return files


def build_units(campaign: Campaign, plan: Plan, options: RunOptions) -> list[Unit]:
    """One unit per distinct key among the planned jobs, in plan order."""
    by_key: dict[str, list[Job]] = {}
    for planned in plan.jobs:
        by_key.setdefault(planned.job.key, []).append(planned.job)
    units = []
    free = options.backend == "preview"
    for key, jobs in by_key.items():
        job = jobs[0]
        files = _local_files(campaign, job)
        spec = campaign.registry.get(job.model)
        shaped_by_image = bool(job.inputs.get("start_image")) and (
            spec is None or spec.ignores_aspect_ratio_with_start_image
        )
        has_ratio = spec is not None and "aspect_ratio" in spec.inputs
        units.append(
            Unit(
                key=key,
                request=Request(
                    key=key,
                    model=job.model,
                    inputs={k: v for k, v in job.inputs.items() if v is not None},
                    local_files=files,
                    duration=job.duration,
                ),
                job_ids=tuple(j.id for j in jobs),
                cost_usd=0.0 if free else job.cost_usd,
                aspect_ratio=job.aspect_ratio if has_ratio and not shaped_by_image else None,
                has_audio=job.has_audio,
                force=options.force is not None
                and any(fnmatch.fnmatchcase(j.id, options.force) for j in jobs),
            )
        )
    return units


def run_campaign(
    campaign: Campaign,
    options: RunOptions,
    *,
    on_progress: Callable[[UnitResult], None] | None = None,
) -> RunResult:
    """Generate every planned job that has no output yet; write clips, lock and run.json."""
    started = time.monotonic()
    plan = campaign.plan(options.only)
    root = store_root(campaign, options)
    out_dir = output_dir(campaign, options)
    limits = campaign.loaded.manifest.limits
    budget = options.budget_usd if options.budget_usd is not None else limits.budget_usd
    sched_options = SchedulerOptions(
        concurrency=options.concurrency or limits.concurrency,
        creates_per_minute=options.creates_per_minute or limits.creates_per_minute,
        budget_usd=None if options.backend == "preview" else budget,
        deadline_seconds=options.deadline_seconds,
        manifest=campaign.name,
    )
    units = build_units(campaign, plan, options)
    jobs_by_id = {p.job.id: p.job for p in plan.jobs}
    warnings = [str(w) for w in plan.warnings]

    with RunLock(root, f"kling-pipe run {campaign.loaded.path}"):
        store = ObjectStore(root)
        journal = Journal(store.journal_path)
        try:
            backend = make_backend(options, root)
            dangling = journal.dangling_intents(backend.name)
            if dangling:
                warnings.append(
                    f"a previous run died while creating {len(dangling)} prediction(s) "
                    f"({', '.join(dangling[:5])}); they are looked for on the provider and "
                    "adopted rather than created again"
                )
            lock_path = options.lock or campaign.lock_path
            lock = campaign.lock() if options.lock is None else read_lock(lock_path, campaign.name)
            writes_lock = options.backend != "preview"

            def finished(result: UnitResult) -> None:
                nonlocal lock
                output = result.output
                if output is not None and result.status in ("done", "cached"):
                    for job_id in result.unit.job_ids:
                        store.materialise(output.sha256, out_dir / f"{job_id}.mp4")
                    if writes_lock:
                        entries = dict(lock.jobs)
                        for job_id in result.unit.job_ids:
                            job = jobs_by_id[job_id]
                            entries[job_id] = LockEntry(
                                key=job.key,
                                material=job.key_material(),
                                output_sha256=output.sha256,
                                bytes=output.bytes,
                                duration=round(output.duration, 3),
                                prediction_id=output.prediction_id,
                                model_version=output.model_version,
                                cost_usd=output.cost_usd,
                                created_at=output.created_at,
                                completed_at=output.completed_at,
                            )
                        lock = LockFile(manifest=campaign.name, jobs=entries)
                        write_lock(lock_path, lock)
                if on_progress is not None:
                    on_progress(result)

            shown = RunProgress(total=len(units))
            display = ProgressDisplay(shown, interval=options.progress_interval)

            def on_event(event: RunEvent) -> None:
                if isinstance(event, UnitFinished):
                    finished(event.result)
                elif isinstance(event, ProgressChanged) and options.show_progress:
                    p = event.progress
                    shown.done, shown.cached, shown.failed = p.done, p.cached, p.failed
                    shown.refused, shown.running = p.refused, p.running
                    shown.spent_usd, shown.throttled = p.spent_usd, p.throttled
                    display.refresh()

            scheduler = Scheduler(backend, store, journal, sched_options, on_event=on_event)

            async def cancel_on_signal(scope: anyio.CancelScope) -> None:
                # The scheduler installs no signal handler: Ctrl-C cancels its scope.
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        scope.cancel()
                        return

            async def go() -> list[UnitResult]:
                async with backend, anyio.create_task_group() as group:
                    group.start_soon(cancel_on_signal, group.cancel_scope)
                    if options.show_progress:
                        with display:
                            await scheduler.run(units)
                    else:
                        await scheduler.run(units)
                    group.cancel_scope.cancel()
                return scheduler.results

            results = anyio.run(go)
        finally:
            journal.close()

    record = _record(campaign, options, backend.name, results, out_dir, warnings, scheduler)
    record.summary.seconds = round(time.monotonic() - started, 3)
    run_json = out_dir / "run.json"
    text = json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    write_atomically(run_json, text.encode("utf-8"))
    return RunResult(record, run_json, out_dir, warnings)


def _record(
    campaign: Campaign,
    options: RunOptions,
    backend_name: str,
    results: list[UnitResult],
    out_dir: Path,
    warnings: list[str],
    scheduler: Scheduler,
) -> RunRecord:
    jobs: list[JobRun] = []
    for result in results:
        for job_id in result.unit.job_ids:
            jobs.append(
                JobRun(
                    id=job_id,
                    key=result.unit.key,
                    status=result.status,
                    prediction_id=result.prediction_id,
                    attempts=result.attempts,
                    seconds=round(result.seconds, 3),
                    cost_usd=result.cost_usd if job_id == result.unit.job_ids[0] else 0.0,
                    output=str(out_dir / f"{job_id}.mp4") if result.output else None,
                    error=result.error if result.status != "done" else None,
                    notes=result.notes,
                )
            )
    jobs.sort(key=lambda j: j.id)
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
            generations=sum(1 for r in results if r.status == "done"),
            spent_usd=round(scheduler.spent_usd, 4),
            seconds=0.0,
        ),
        warnings=warnings,
    )
