"""Commands that record review decisions in the lock: pick, reject, unpick, reroll."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.planning.picks import ReviewState
from kling_pipe.running import decisions

File = Annotated[Path, typer.Argument(help="The manifest.")]
JobArg = Annotated[
    str, typer.Argument(help="The job's id, as `plan` and `status` show it (hero/jp/9x16).")
]
TakeArg = Annotated[int, typer.Argument(min=1, help="The take's number (1, 2, …).")]
NoteOption = Annotated[
    str | None,
    typer.Option("--note", help="A note on the job for the team (replaces the job's note)."),
]


def _tell(state: ReviewState) -> None:
    takes = ", ".join(f"{t.take} {t.status}" for t in state.takes)
    picked = f"take {state.picked} picked" if state.picked else "no pick"
    note = f"; note: {state.note}" if state.note else ""
    out.print(f"{state.job.id}: {picked} (takes: {takes}){note}", markup=False)


@app.command()
def pick(
    file: File,
    job: JobArg,
    take: TakeArg,
    note: NoteOption = None,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Pick TAKE of JOB for its rough cuts, in the lock (commit it). The take must be made;
    a new pick replaces the old one. `plan` then shows which cuts it re-cuts; `stitch` re-cuts
    only those. When the job's inputs change, the pick stays as history and the job needs
    review again. Exit 2 for an unknown job or take."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        _tell(decisions.pick(campaign, job, take, note))


@app.command()
def reject(
    file: File,
    job: JobArg,
    take: TakeArg,
    note: NoteOption = None,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Reject TAKE of JOB, in the lock: cuts skip it (a rejected pick is withdrawn); use
    `reroll` to ask for another take."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        _tell(decisions.reject(campaign, job, take, note))


@app.command()
def unpick(
    file: File,
    job: JobArg,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Withdraw JOB's pick and rejections: its cuts use its first take made again."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        _tell(decisions.unpick(campaign, job))


@app.command()
def reroll(
    file: File,
    jobs: Annotated[
        list[str],
        typer.Argument(help="Job ids or globs ('hero/jp/*'); quote globs from the shell."),
    ],
    run: Annotated[
        bool, typer.Option("--run", help="Then run those jobs (`run --only` per glob).")
    ] = False,
    backend: Annotated[
        str, typer.Option(help="With --run: the backend (see `run`).")
    ] = "replicate",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --run: do not ask before spending.")
    ] = False,
    store: StoreOption = None,
    out_dir: OutOption = None,
    lock: LockOption = None,
) -> None:
    """Ask for one more take of each job matching JOBS, recorded in the lock (commit it), so
    the next `run` (yours, CI's) generates it, and nothing else. `salt` in the manifest still
    means all-new takes of every job. Exit 2 for a glob that matches no job."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        added = decisions.reroll(campaign, jobs)
    for job_id, take in added:
        out.print(f"{job_id}: take {take} to make", markup=False)
    if not run:
        err.print(f"`kling-pipe run {file}` makes {'it' if len(added) == 1 else 'them'}")
        return
    from kling_pipe.cli.running import run as run_command

    worst = 0
    for glob in jobs:
        try:
            run_command(
                file=file,
                backend=backend,
                only=glob,
                yes=yes,
                store=store,
                out_dir=out_dir,
                lock=lock,
            )
        except click.exceptions.Exit as done:
            worst = max(worst, done.exit_code)
            if done.exit_code not in (0, 1):
                break
    raise typer.Exit(worst)
