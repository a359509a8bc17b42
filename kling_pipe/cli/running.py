"""Commands that generate: run, status."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import app, err, out, user_errors
from kling_pipe.cli.planning import _print_plan_table, _summary_line
from kling_pipe.cli.stitching import stitch_and_tell
from kling_pipe.errors import BudgetError
from kling_pipe.report import write_junit, write_report
from kling_pipe.run.journal import Journal
from kling_pipe.run.record import RunRecord
from kling_pipe.run.runner import BackendName, RunOptions, run_campaign, store_root
from kling_pipe.run.stitching import StitchOptions


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
    store: Annotated[
        Path | None, typer.Option(help="Store folder (default: the manifest's, .kling-pipe).")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default: the manifest's, out).")
    ] = None,
    lock: Annotated[
        Path | None,
        typer.Option(help="Lock file to update (default: <manifest>.lock.json beside it)."),
    ] = None,
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
    junit: Annotated[
        Path | None,
        typer.Option(help="Also write JUnit XML here: a test case per job (and cut) for CI."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and cost; run nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending.")] = False,
) -> None:
    """Generate every job without an output, concurrently under the limits; write clips to
    out/<name>/, update the lock, write run.json and report.html; with --stitch, then make the
    rough cuts.
    Exit 0 all done, 1 some failed (or a cut missing), 2 invalid input, 3 refused by the
    budget, 130 interrupted."""
    if backend not in ("replicate", "preview"):
        err.print(f"--backend must be replicate or preview, not {backend!r}", style="red")
        raise typer.Exit(2)
    backend_name: BackendName = "preview" if backend == "preview" else "replicate"
    with user_errors():
        campaign = Campaign.open(file, store=store)
        for warning in campaign.job_plan.warnings:
            err.print(str(warning), style="yellow", markup=False)
        the_plan = campaign.plan(only)
        limit = budget if budget is not None else campaign.loaded.manifest.limits.budget_usd
        cost = 0.0 if backend_name == "preview" else the_plan.summary.cost_usd
        err.print(_summary_line(the_plan) + f" (backend {backend_name})", markup=False)
        if dry_run:
            _print_plan_table(the_plan)
            return
        if cost > 0 and not yes:
            over = limit is not None and cost > limit
            if sys.stdin.isatty():
                note = f" (over the ${limit:.2f} budget: only part will run)" if over else ""
                if not typer.confirm(f"Spend up to ${cost:.2f}{note}?", default=False, err=True):
                    raise typer.Exit(3)
            elif over:
                raise BudgetError(
                    f"the plan's estimated cost ${cost:.2f} exceeds the budget ${limit:.2f}; "
                    "nothing was submitted (raise --budget, narrow with --only, or pass --yes "
                    "to run what fits)"
                )
        result = run_campaign(
            campaign,
            RunOptions(
                backend=backend_name,
                only=only,
                force=force,
                concurrency=concurrency,
                creates_per_minute=creates_per_minute,
                budget_usd=budget,
                store=store,
                output=out_dir,
                lock=lock,
                deadline_seconds=deadline,
                webhook_url=webhook_url,
                webhook_listen=_host_port(webhook_listen) if webhook_listen else None,
                preview_height=preview_height,
            ),
        )
    record = result.record
    for note in result.warnings:
        err.print(f"warning: {note}", style="yellow", markup=False)
    for job in record.jobs:
        if job.status in ("failed", "refused"):
            err.print(f"{job.status}: {job.id}: {job.error}", style="red", markup=False)
    s = record.summary
    out.print(
        f"{record.status}: {s.done} generated, {s.cached} already stored, {s.failed} failed, "
        f"{s.refused} refused, {s.canceled} canceled; spent ${s.spent_usd:.2f} in {s.seconds:.1f}s",
        markup=False,
    )
    out.print(f"clips in {result.output_dir}/, record in {result.run_json}", markup=False)
    exit_code = record.exit_code
    if stitch and exit_code in (0, 1):
        with user_errors():
            stitched = stitch_and_tell(
                campaign,
                StitchOptions(
                    backend=backend_name, store=store, output=out_dir, only=None, cut=None
                ),
            )
        exit_code = max(exit_code, stitched.exit_code)
    with user_errors():
        report = write_report(campaign, result.output_dir, plan=the_plan)
        out.print(f"report: {report}", markup=False)
        if junit is not None:
            final = RunRecord.model_validate_json(result.run_json.read_bytes())
            write_junit(final, junit)
            out.print(f"junit: {junit}", markup=False)
    raise typer.Exit(exit_code)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"{text!r}: write HOST:PORT, e.g. 0.0.0.0:8765")
    return host, int(port)


@app.command()
def status(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    store: Annotated[Path | None, typer.Option(help="Store folder.")] = None,
) -> None:
    """Show each job's state from the journal: done, in flight, failed and why."""
    with user_errors():
        campaign = Campaign.open(file)
        root = store_root(campaign, RunOptions(store=store))
        journal_path = root / "journal.sqlite"
        if not journal_path.is_file():
            out.print(f"nothing has run yet (no journal in {root})")
            return
        journal = Journal(journal_path)
        try:
            records = {r.job_id: r for r in journal.jobs(campaign.name)}
        finally:
            journal.close()
    table = Table(title=f"status: {campaign.name}", title_justify="left")
    for column in ("job", "status", "prediction", "attempts", "error"):
        table.add_column(column, no_wrap=column != "error")
    colours = {"done": "green", "cached": "green", "failed": "red", "refused": "yellow"}
    counts: dict[str, int] = {}
    for job in campaign.job_plan.jobs:
        rec = records.get(job.id)
        state = "not run" if rec is None else rec.status
        if rec is not None and rec.key != job.key:
            state = "changed since"
        if rec is not None and rec.prediction_status in ("starting", "processing"):
            state = f"in flight ({rec.prediction_status})"
        counts[state] = counts.get(state, 0) + 1
        table.add_row(
            job.id,
            Text(state, style=colours.get(state, "white")),
            (rec.prediction_id or "") if rec else "",
            str(rec.attempts) if rec else "",
            (rec.error or "") if rec else "",
        )
    out.print(table)
    out.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())), markup=False)
