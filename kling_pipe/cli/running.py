"""Commands that generate: run, status."""

from __future__ import annotations

import dataclasses
import sys
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.cli.interrupt import run_until_interrupted
from kling_pipe.cli.planning import print_plan_table
from kling_pipe.cli.progress import RunDisplay
from kling_pipe.cli.stitching import stitch_and_tell
from kling_pipe.planning.shards import Shard
from kling_pipe.reporting import write_junit, write_report
from kling_pipe.running.record import RunRecord, read_record
from kling_pipe.running.run_plan import RunOptions, RunPlan, prepare_run
from kling_pipe.running.runner import run_campaign
from kling_pipe.running.status import job_states
from kling_pipe.running.stitching import StitchOptions
from kling_pipe.running.store import open_store
from kling_pipe.takes import take_id


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    backend: Annotated[
        str,
        typer.Option(
            help="replicate (REPLICATE_API_TOKEN; REPLICATE_BASE_URL honoured) or preview "
            "(local animatics, free, offline)."
        ),
    ] = "replicate",
    only: Annotated[str | None, typer.Option(help="Only jobs whose id matches this glob.")] = None,
    force: Annotated[
        str | None, typer.Option(help="Generate these jobs again (a new take) even if stored.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Predictions in flight (default: limits).")
    ] = None,
    creates_per_minute: Annotated[
        float | None, typer.Option(min=0.1, help="Creates per minute (default: limits).")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(min=0, help="USD this run may spend (default: limits).")
    ] = None,
    regenerate_lost: Annotated[
        bool,
        typer.Option(
            help="Pay again for outputs the lock records as paid for that no store holds "
            "(refused otherwise: exit 3 with the list)."
        ),
    ] = False,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
    deadline: Annotated[
        float, typer.Option(help="Seconds before a stuck prediction is canceled.")
    ] = 900.0,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Public URL that forwards Replicate's webhooks to this run: predictions are "
            "then awaited by webhook (signatures verified), with polls only as a safety net."
        ),
    ] = None,
    webhook_listen: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT the webhook receiver listens on (default: 127.0.0.1 and the "
            "webhook URL's port)."
        ),
    ] = None,
    preview_height: Annotated[
        int, typer.Option(help="Short side of preview renders, in pixels.")
    ] = 360,
    stitch: Annotated[
        bool, typer.Option(help="Then stitch the rough cuts from the clips (see `stitch`).")
    ] = False,
    prepare_cuts: Annotated[
        bool | None,
        typer.Option(
            help="While waiting on the provider, prepare the manifest's cuts for each clip as "
            "it arrives (normalised, fades encoded; one ffmpeg at low priority), so `stitch` "
            "only joins. Default: on for real generations, off for previews (they arrive at "
            "once: there is no wait to fill). --no-prepare-cuts saves that CPU when you will "
            "not stitch.",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(help="Also write JUnit XML here: a test case per job (and cut) for CI."),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: only this machine's share of the jobs (by key: stable under reordering); "
            "the lock written is that share's fragment (`kling-pipe lock merge`)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and cost; run nothing.")] = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", "-y", help="Do not ask before spending; over the budget, run what fits."
        ),
    ] = False,
) -> None:
    """Generate every job without an output, concurrently under the limits; write clips to
    out/<name>/, update the lock, write run.json and report.html; with --stitch, then make the
    rough cuts.
    Exit 0 all done, 1 some failed (or a cut missing), 2 invalid input, 3 refused by the
    budget (or lost outputs not paid again), 130 interrupted."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        for warning in campaign.job_plan.warnings:
            err.print(str(warning), style="yellow")
        options = RunOptions(
            backend=backend,
            only=only,
            force=force,
            concurrency=concurrency,
            creates_per_minute=creates_per_minute,
            budget_usd=budget,
            regenerate_lost=regenerate_lost,
            run_what_fits=yes,
            deadline_seconds=deadline,
            webhook_url=webhook_url,
            webhook_listen=_host_port(webhook_listen) if webhook_listen else None,
            preview_height=preview_height,
            shard=Shard.parse(shard) if shard else None,
            prepare_cuts=prepare_cuts,
        )
        run_plan = prepare_run(campaign, options)
        err.print(run_plan_line(run_plan))
        if dry_run:
            print_plan_table(run_plan.plan)
            return
        options = _confirm(run_plan, options, yes)
        if options.regenerate_lost != run_plan.regenerate_lost:
            run_plan = prepare_run(campaign, options)
        display = RunDisplay()
        before = campaign.plan(held=open_store(campaign.workspace).holds)
        result = run_until_interrupted(
            partial(run_campaign, campaign, options, run_plan=run_plan, on_event=display.on_event)
        )
        display.close()
    if result is None:
        finished = display.finished
        if finished is not None:
            _tell_interrupted(finished.record)
        raise typer.Exit(130)
    record = result.record
    for job in record.jobs:
        if job.status in ("failed", "refused"):
            err.print(f"{job.status}: {job.id}: {job.error}", style="red")
    s = record.summary
    spent = "" if run_plan.free else f"; spent ${s.spent_usd:.2f}"
    if s.unresolved_usd:
        spent += f" (and ${s.unresolved_usd:.2f} in creates not found yet: see the failures)"
    out.print(
        f"{record.status}: {s.done} generated, {s.cached} already stored, {s.failed} failed, "
        f"{s.refused} refused, {s.canceled} canceled{spent} in {s.seconds:.1f}s"
    )
    out.print(f"clips in {result.output_dir}/, record in {result.run_json}")
    exit_code = record.exit_code
    run_json = result.run_json
    # What the run held (its plan, the record of every job) is let go before the report
    # reads the lock and run.json again: at 10,000 jobs the two together were the peak.
    del display, result, record, run_plan
    if stitch and exit_code in (0, 1):
        with user_errors():
            stitched = stitch_and_tell(
                campaign, StitchOptions(backend=backend, shard=options.shard)
            )
        exit_code = max(exit_code, stitched.exit_code)
    with user_errors():
        report = write_report(campaign, plan=before)
        out.print(f"report: {report}")
        if junit is not None:
            final = read_record(run_json)
            if final is not None:
                write_junit(final, junit)
                out.print(f"junit: {junit}")
    raise typer.Exit(exit_code)


def run_plan_line(run_plan: RunPlan) -> str:
    """What the run will do, in one line; a free backend shows no cost."""
    s = run_plan.plan.summary
    head = (
        f"{s.jobs} jobs: {s.new} new, {s.changed} changed, {s.unchanged} unchanged"
        + (f", {s.lost} lost" if s.lost else "")
        + f"; {len(run_plan.units)} generation(s)"
    )
    if run_plan.free:
        return f"{head} with {run_plan.backend} (free)"
    return f"{head} with {run_plan.backend}, estimated ${run_plan.estimate_usd:.2f}"


def _confirm(run_plan: RunPlan, options: RunOptions, yes: bool) -> RunOptions:
    """On a terminal, ask before spending (naming lost outputs to pay again and the budget);
    off a terminal never ask: the library refuses what the money rules do not allow."""
    if yes or not sys.stdin.isatty() or run_plan.free:
        return options
    if run_plan.gone and not options.regenerate_lost:
        for planned in run_plan.gone:
            err.print(f"lost: {planned.job.id}: {planned.reason}", style="yellow")
        if typer.confirm(
            f"{len(run_plan.gone)} output(s) paid for earlier are in no store; pay "
            f"${run_plan.gone_cost_usd:.2f} to generate them again?",
            default=False,
            err=True,
        ):
            options = dataclasses.replace(options, regenerate_lost=True)
        else:
            raise typer.Exit(3)
    cost = run_plan.estimate_usd + (run_plan.gone_cost_usd if options.regenerate_lost else 0.0)
    if cost <= 0:
        return options
    limit = run_plan.budget_usd
    note = f" (over the ${limit:.2f} budget: only part will run)" if limit and cost > limit else ""
    if not typer.confirm(f"Spend up to ${cost:.2f}{note}?", default=False, err=True):
        raise typer.Exit(3)
    return dataclasses.replace(options, run_what_fits=True)


def _tell_interrupted(record: RunRecord) -> None:
    s = record.summary
    never = s.canceled - s.canceled_remote
    err.print(
        f"interrupted: {s.done} generated, {s.cached} already stored; "
        f"{s.canceled_remote} prediction(s) canceled on the provider, {never} job(s) never "
        f"submitted; spent ${s.spent_usd:.2f}. Run the same command again to resume: "
        "nothing done is paid for twice.",
        style="yellow",
    )


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{text!r}: write HOST:PORT, e.g. 0.0.0.0:8765")
    return host, int(port)


@app.command()
def status(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Show each job's state from the lock, the store and the journal: done, lost, in flight,
    failed and why, changed since, not run."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        states = job_states(campaign)
    table = Table(title=f"status: {campaign.name}", title_justify="left")
    for column in ("job", "status", "prediction", "attempts", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    colours = {"done": "green", "failed": "red", "refused": "yellow", "lost": "red"}
    counts: dict[str, int] = {}
    for state in states:
        counts[state.state] = counts.get(state.state, 0) + 1
        table.add_row(
            take_id(state.job_id, state.take) + (" (picked)" if state.picked else ""),
            Text(state.state, style=colours.get(state.state, "white")),
            state.prediction_id or "",
            str(state.attempts) if state.attempts else "",
            Text(state.detail),
        )
    out.print(table)
    out.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
