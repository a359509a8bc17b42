"""The `report` command: the HTML gallery of a campaign's clips, cuts, costs and changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.reporting.junit import write_junit
from kling_pipe.reporting.writing import (
    DEFAULT_LINK_EXPIRY_HOURS,
    plan_since,
    read_run_json,
    write_report,
)


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    out_dir: OutOption = None,
    store: StoreOption = None,
    lock: LockOption = None,
    since: Annotated[
        Path | None,
        typer.Option(
            help="Show what changed since this older lock file (e.g. the main branch's, from "
            "`git show main:pipelines/x.lock.json`), not since the lock beside the manifest."
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(help="Also write the run as JUnit XML here, a test case per job (and cut)."),
    ] = None,
    link_store: Annotated[
        bool,
        typer.Option(
            "--link-store",
            help="Link each clip to a signed URL of its object in the bucket store instead of "
            "a copy in out/<name>/ (the page then needs the network; a folder store refuses).",
        ),
    ] = False,
    link_expiry: Annotated[
        float,
        typer.Option(
            metavar="HOURS", help="How long the --link-store links work (at most 168 hours)."
        ),
    ] = DEFAULT_LINK_EXPIRY_HOURS,
) -> None:
    """Write out/<name>/report.html: every clip in a grid per shot (markets × ratios) with its
    prompt, status, cost, prediction id and what changed; the rough cuts; the failures. It works
    from disk with no network; filter by market, ratio and status. With --junit, also the JUnit
    XML of the last run for a CI server. With --link-store the clips are signed links to the
    bucket store (valid --link-expiry hours), so the page and its posters are all that need
    uploading."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        for warning in campaign.job_plan.warnings:
            err.print(str(warning), style="yellow", markup=False)
        run_json = campaign.workspace.run_json
        if since is not None and not since.is_file():
            err.print(f"--since {since}: no such lock file", style="red", markup=False)
            raise typer.Exit(2)
        plan = plan_since(campaign, since) if since is not None else None
        path = write_report(
            campaign, plan=plan, link_expiry_hours=link_expiry if link_store else None
        )
        if junit is not None:
            record, _ = read_run_json(run_json)
            if record is None:
                err.print(
                    f"--junit: no {run_json}; run the manifest first",
                    style="red",
                    markup=False,
                )
                raise typer.Exit(2)
            write_junit(record, junit)
            out.print(f"JUnit XML in {junit}", markup=False)
    out.print(f"report in {path}", markup=False)
    if link_store:
        until = datetime.now(UTC) + timedelta(hours=link_expiry)
        out.print(
            f"clips linked to {campaign.workspace.store_url}, links valid until "
            f"{until:%Y-%m-%d %H:%M} UTC",
            markup=False,
        )
