"""Commands that need no network and spend nothing: validate, plan, schema, init."""

from __future__ import annotations

import json
import shutil
import sys
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.errors import InputError, Problem
from kling_pipe.manifest.schema import manifest_json_schema
from kling_pipe.planning.cuts import CutChange, cut_changes
from kling_pipe.planning.diff import Plan
from kling_pipe.planning.formats import plan_json, plan_markdown, plan_summary_line, prices_note
from kling_pipe.running.run_plan import current_plan

Strict = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 2).")]


def _print_warnings(
    warnings: tuple[Problem, ...] | list[Problem], strict: bool, file: Path | None = None
) -> None:
    """Print each warning at its location; with --strict, then fail saying that they did it."""
    for warning in warnings:
        err.print(str(warning), style="yellow", markup=False)
    if strict and warnings:
        count = len(warnings)
        what = "1 warning is an error" if count == 1 else f"{count} warnings are errors"
        prefix = f"{file}: " if file else ""
        err.print(f"{prefix}failed: {what} with --strict (listed above)", style="red")
        raise typer.Exit(2)


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Manifest files to check.")],
    strict: Strict = False,
) -> None:
    """Check manifests, their templates and model inputs; print every problem with its location."""
    failed = False
    for path in files:
        try:
            with user_errors():
                campaign = Campaign.open(path)
                _print_warnings(campaign.job_plan.warnings, strict, path)
                out.print(f"{path}: ok, {len(campaign.job_plan.jobs)} jobs", markup=False)
        except typer.Exit:
            failed = True
    if failed:
        raise typer.Exit(2)


class PlanFormat(StrEnum):
    """How `plan` prints the plan."""

    table = "table"
    json = "json"
    markdown = "markdown"


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output_format: Annotated[
        PlanFormat, typer.Option("--format", help="table, json, or markdown (for PR comments).")
    ] = PlanFormat.table,
    only: Annotated[
        str | None, typer.Option("--only", help="Only jobs whose id matches this glob.")
    ] = None,
    strict: Strict = False,
    since: Annotated[
        Path | None,
        typer.Option(
            help="Compare picks with this older lock (e.g. the main branch's, from `git show "
            "main:pipelines/x.lock.json`) rather than with the cuts last made (run.json): "
            "for pull requests.",
        ),
    ] = None,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Show what `run` would do: new, changed (and why), unchanged, lost (paid for, in no
    store), removed, and the estimated cost; takes as JOB#2, …; and the picks that change
    which take a cut uses (`pick hero/jp/9x16: take 1 → 3 re-cuts spot/jp/9x16`), which
    `stitch` re-cuts and nothing generates."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        _print_warnings(campaign.job_plan.warnings, strict)
        the_plan = current_plan(campaign, only)
        if since is not None:
            from kling_pipe.lock import read_lock
            from kling_pipe.running.decisions import pick_changes_since

            if not since.is_file():
                raise InputError(f"--since {since}: no such lock file")
            old = read_lock(since, campaign.name)
            the_plan = the_plan.with_picks(pick_changes_since(campaign, old))
    cuts: list[CutChange] = []
    if only is None and campaign.loaded.manifest.cuts:
        statuses = {p.job.id: p.status for p in the_plan.jobs if p.job.take == 1}
        cuts = cut_changes(campaign.cut_plan().cuts, statuses)
    if json_output or output_format is PlanFormat.json:
        # Machine output bypasses rich: its JSON highlighter was 95% of `plan --json` at 10k jobs.
        sys.stdout.write(json.dumps(plan_json(the_plan, cuts), indent=2, ensure_ascii=False) + "\n")
    elif output_format is PlanFormat.markdown:
        sys.stdout.write(plan_markdown(the_plan) + "\n")
    else:
        print_plan_table(the_plan)
        remade = [c for c in cuts if c.status != "unchanged"]
        if remade:
            out.print(
                f"{len(remade)} cut(s) to make again: {', '.join(c.id for c in remade)}",
                markup=False,
            )


def print_plan_table(the_plan: Plan) -> None:
    table = Table(title=f"plan: {the_plan.manifest}", title_justify="left")
    for column, justify in [
        ("job", "left"),
        ("model", "left"),
        ("sec", "right"),
        ("ratio", "left"),
        ("audio", "left"),
        ("status", "left"),
        ("est. $", "right"),
        ("reason", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column != "reason")  # type: ignore[arg-type]
    colours = {"new": "green", "changed": "yellow", "unchanged": "dim", "lost": "red"}
    for p in the_plan.jobs:
        table.add_row(
            p.take_id,
            p.job.model,
            f"{p.job.duration:g}",
            p.job.aspect_ratio,
            "yes" if p.job.has_audio else "no",
            Text(p.status, style=colours[p.status]),
            f"{p.cost_usd:.2f}",
            p.reason,
        )
    for removed in the_plan.removed:
        table.add_row(
            removed, "", "", "", "", Text("removed", style="red"), "", "gone from the manifest"
        )
    out.print(table)
    for change in the_plan.picks:
        out.print(change.describe(), markup=False)
    out.print(plan_summary_line(the_plan), markup=False)
    if note := prices_note(the_plan):
        out.print(note, markup=False, style="dim")


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the manifest's JSON Schema, for editors (`# yaml-language-server: $schema=…`)."""
    text = manifest_json_schema()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, "utf-8")
        err.print(f"wrote {output}")


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the starter.")] = Path("."),
) -> None:
    """Create a working starter manifest and prompt template in DIRECTORY.

    The manifest's JSON Schema is written beside them, as manifest.schema.json, and the starter
    points its `# yaml-language-server: $schema=` comment at it, so editors validate offline.
    """
    starter = resources.files("kling_pipe") / "starter"
    targets = {
        "pipelines/starter.yaml": "starter.yaml",
        "templates/starter_shot.j2": "starter_shot.j2",
    }
    existing = [name for name in targets if (directory / name).exists()]
    if existing:
        err.print(f"refusing to overwrite: {', '.join(existing)}", style="red")
        raise typer.Exit(2)
    for name, source in targets.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with resources.as_file(starter / source) as src:
            shutil.copyfile(src, target)
        out.print(f"created {target}")
    schema_file = directory / "manifest.schema.json"
    done = "updated" if schema_file.exists() else "created"
    schema_file.write_text(manifest_json_schema(), "utf-8")
    out.print(f"{done} {schema_file}")
    out.print(f"next: kling-pipe plan {directory / 'pipelines/starter.yaml'}")
