"""The library's entry points: what the CLI does, callable from Python.

Async functions work inside a running event loop (a web service, a notebook); the `*_sync`
wrappers run one in a fresh event loop (a script, a worker thread). Nothing here prints,
exits or installs a signal handler: progress arrives as events (`on_event`), cancellation is
the caller's cancel scope.

    import kling_pipe
    result = await kling_pipe.run("pipelines/spring-launch.yaml", backend="preview")
    result = kling_pipe.run_sync("pipelines/spring-launch.yaml", backend="preview")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from kling_pipe.campaign import Campaign
from kling_pipe.planning.diff import Plan
from kling_pipe.reporting.writing import ReportOptions, plan_since, write_report
from kling_pipe.running.events import RunEvent
from kling_pipe.running.record import CutRun
from kling_pipe.running.run_plan import RunOptions, RunPlan, current_plan, prepare_run
from kling_pipe.running.runner import RunResult, run_campaign
from kling_pipe.running.status import JobState, job_states
from kling_pipe.running.stitching import StitchOptions, StitchResult, stitch_campaign
from kling_pipe.running.store import open_store

Manifest = Campaign | str | Path


def open_campaign(
    manifest: Manifest,
    *,
    store: Path | str | None = None,
    output: Path | None = None,
    lock: Path | None = None,
) -> Campaign:
    """`manifest` as a Campaign: opened from its path (with the workspace options), or as is."""
    if isinstance(manifest, Campaign):
        return manifest
    return Campaign.open(Path(manifest), store=store, output=output, lock=lock)


async def plan(manifest: Manifest, *, only: str | None = None, **where: Any) -> Plan:
    """What a run would generate: new, changed (and why), unchanged, lost (paid for, in no
    store), removed, and cost."""
    return current_plan(open_campaign(manifest, **where), only)


async def run(
    manifest: Manifest,
    options: RunOptions | None = None,
    *,
    run_plan: RunPlan | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    store: Path | str | None = None,
    output: Path | None = None,
    lock: Path | None = None,
    **option_fields: Any,
) -> RunResult:
    """Generate what has no output yet, then write the report.

    Options come as a `RunOptions` or as its fields (`backend="preview"`). Raises BudgetError
    or LostOutputsError before anything is submitted when the money rules refuse the run.
    """
    campaign = open_campaign(manifest, store=store, output=output, lock=lock)
    options = dataclasses.replace(options or RunOptions(), **option_fields)
    before = campaign.plan(held=open_store(campaign.workspace).holds)
    result = await run_campaign(campaign, options, run_plan=run_plan, on_event=on_event)
    await anyio.to_thread.run_sync(partial(write_report, campaign, plan=before))
    return result


async def stitch(
    manifest: Manifest,
    options: StitchOptions | None = None,
    *,
    on_cut: Callable[[CutRun], None] | None = None,
    store: Path | str | None = None,
    output: Path | None = None,
    lock: Path | None = None,
    **option_fields: Any,
) -> StitchResult:
    """Make the rough cuts from the clips in the store (in a worker thread), record them in
    run.json and refresh the report."""
    campaign = open_campaign(manifest, store=store, output=output, lock=lock)
    options = dataclasses.replace(options or StitchOptions(), **option_fields)
    result = await anyio.to_thread.run_sync(
        partial(stitch_campaign, campaign, options, on_cut=on_cut)
    )
    await anyio.to_thread.run_sync(partial(write_report, campaign))
    return result


async def report(
    manifest: Manifest,
    options: ReportOptions | None = None,
    *,
    store: Path | str | None = None,
    output: Path | None = None,
    lock: Path | None = None,
    **option_fields: Any,
) -> Path:
    """Write report.html again. Options come as a `ReportOptions` or as its fields: `since`
    (compare with an older lock, e.g. the main branch's), `link_store` (link the clips to
    signed URLs of the bucket store instead of copies), `link_expiry_hours`."""
    campaign = open_campaign(manifest, store=store, output=output, lock=lock)
    options = dataclasses.replace(options or ReportOptions(), **option_fields)
    the_plan = plan_since(campaign, options.since) if options.since is not None else None
    return await anyio.to_thread.run_sync(
        partial(
            write_report,
            campaign,
            plan=the_plan,
            link_expiry_hours=options.link_expiry_hours if options.link_store else None,
        )
    )


async def status(manifest: Manifest, **where: Any) -> list[JobState]:
    """Each job's state from the lock, the store and the journal."""
    return job_states(open_campaign(manifest, **where))


def plan_sync(manifest: Manifest, **kwargs: Any) -> Plan:
    """`plan` in a fresh event loop."""
    return anyio.run(partial(plan, manifest, **kwargs))


def run_sync(manifest: Manifest, options: RunOptions | None = None, **kwargs: Any) -> RunResult:
    """`run` in a fresh event loop (a script, or a worker thread of your own)."""
    return anyio.run(partial(run, manifest, options, **kwargs))


def stitch_sync(
    manifest: Manifest, options: StitchOptions | None = None, **kwargs: Any
) -> StitchResult:
    """`stitch` in a fresh event loop."""
    return anyio.run(partial(stitch, manifest, options, **kwargs))


def report_sync(manifest: Manifest, options: ReportOptions | None = None, **kwargs: Any) -> Path:
    """`report` in a fresh event loop."""
    return anyio.run(partial(report, manifest, options, **kwargs))


def status_sync(manifest: Manifest, **kwargs: Any) -> list[JobState]:
    """`status` without an event loop."""
    return job_states(open_campaign(manifest, **kwargs))


__all__ = [
    "open_campaign",
    "plan",
    "plan_sync",
    "prepare_run",
    "report",
    "report_sync",
    "run",
    "run_sync",
    "status",
    "status_sync",
    "stitch",
    "stitch_sync",
]
