"""The command that assembles rough cuts: stitch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kling_pipe.backends import describe_backend
from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.planning.shards import Shard
from kling_pipe.reporting import write_report
from kling_pipe.running.record import CutRun
from kling_pipe.running.stitching import StitchOptions, StitchResult, stitch_campaign


@app.command()
def stitch(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    cut: Annotated[str | None, typer.Option(help="Only this cut (its id in `cuts:`).")] = None,
    only: Annotated[
        str | None,
        typer.Option(help="Only cuts whose id matches this glob, e.g. 'spot/jp/*'."),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(help="Put a slate where a clip has not been generated yet."),
    ] = False,
    backend: Annotated[
        str | None,
        typer.Option(
            help="Cut with this backend's clips (replicate or preview); default: real "
            "generations where there are any, else previews."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="ffmpeg processes at once (default: cores).")
    ] = None,
    picked_only: Annotated[
        bool,
        typer.Option(
            "--picked-only",
            help="For finals: make only cuts whose every job has a picked take (`kling-pipe "
            "pick`); list the jobs without one. Otherwise a cut uses each job's picked take, "
            "else its first take not rejected.",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="K/N: only this machine's share of the cuts (by cut id)."),
    ] = None,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Assemble the manifest's rough cuts from the clips in the store: one per cut and per
    combination of its axes (market and ratio by default), at
    out/<name>/cuts/<cut>/<market>/<ratio>.mp4 with an .srt beside, recorded in run.json.
    Unchanged clips are not encoded again; report.html is refreshed. Exit 0 every cut made, 1
    some missing or failed."""
    with user_errors():
        if backend is not None:
            describe_backend(backend)  # an unknown name is a usage error
        chosen_shard = Shard.parse(shard) if shard else None
    options = StitchOptions(
        shard=chosen_shard,
        cut=cut,
        only=only,
        allow_missing=allow_missing,
        backend=backend,
        workers=workers,
        picked_only=picked_only,
    )
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        result = stitch_and_tell(campaign, options)
        out.print(f"report: {write_report(campaign)}", markup=False)
    raise typer.Exit(result.exit_code)


def stitch_and_tell(campaign: Campaign, options: StitchOptions) -> StitchResult:
    """Stitch, telling each cut as it is done, then what is missing and what to do about it."""
    planned = len(campaign.cut_plan().cuts)
    if planned == 0:
        err.print(f"{campaign.name} has no cuts to stitch (add `cuts:` to the manifest)")
    result = stitch_campaign(campaign, options, on_cut=_tell)
    for warning in result.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False)
    made = sum(1 for c in result.cuts if c.status == "done")
    missing = [c for c in result.cuts if c.status == "missing"]
    failed = sum(1 for c in result.cuts if c.status == "failed")
    out.print(
        f"{made} cut(s) made, {len(missing)} missing clips, {failed} failed; "
        f"record in {result.run_json}",
        markup=False,
    )
    if missing:
        jobs = sorted({job for c in missing for job in c.missing})
        err.print(
            f"{len(jobs)} clip(s) not generated yet: {', '.join(jobs)}\n"
            "run the manifest first, or pass --allow-missing to put slates in their place",
            style="yellow",
            markup=False,
        )
    unpicked = [c for c in result.cuts if c.status == "unpicked"]
    if unpicked:
        jobs = sorted({job for c in unpicked for job in c.unpicked})
        err.print(
            f"--picked-only: {len(unpicked)} cut(s) not made, {len(jobs)} job(s) without a "
            f"pick: {', '.join(jobs)}\npick a take of each (`kling-pipe pick FILE JOB TAKE`)",
            style="yellow",
            markup=False,
        )
    return result


def _tell(cut: CutRun) -> None:
    if cut.status == "done":
        slates = f" ({len(cut.slates)} slate(s))" if cut.slates else ""
        kept = " (unchanged, kept)" if cut.reused else ""
        sound = ""
        if cut.loudness_mode is not None and cut.integrated_lufs is not None:
            peak = f", peak {cut.true_peak_dbtp:.1f} dBTP" if cut.true_peak_dbtp is not None else ""
            sound = f", {cut.integrated_lufs:.1f} LUFS{peak} ({cut.loudness_mode})"
        out.print(
            f"cut {cut.id}: {cut.seconds:.2f} s, {cut.frames} frames{sound}{slates}{kept} "
            f"-> {cut.output}",
            markup=False,
        )
    else:
        err.print(f"cut {cut.id}: {cut.status}: {cut.error}", style="red", markup=False)
