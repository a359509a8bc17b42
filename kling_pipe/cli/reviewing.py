"""The `review` command: serve the review page of a campaign until interrupted."""

from __future__ import annotations

import asyncio
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from kling_pipe.campaign import Campaign
from kling_pipe.cli.app import LockOption, OutOption, StoreOption, app, err, out, user_errors
from kling_pipe.review.server import is_loopback, start_review
from kling_pipe.review.session import ReviewSession


async def _serve(session: ReviewSession, host: str, port: int, open_browser: bool) -> None:
    running = await start_review(session, host=host, port=port)
    try:
        out.print(f"reviewing {session.campaign.name} at {running.url}", markup=False)
        if not is_loopback(host):
            err.print(
                "bound beyond this machine: anyone with the URL (and its token) can decide",
                style="yellow",
            )
        out.print("Ctrl-C stops", markup=False)
        if open_browser:
            webbrowser.open(running.url)
        await asyncio.Event().wait()
    finally:
        await running.close()


@app.command()
def review(
    file: Annotated[Path, typer.Argument(help="The manifest.")],
    host: Annotated[
        str,
        typer.Option(help="Address to bind; anything but loopback requires the printed token."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (default: a free one).")] = 0,
    no_open: Annotated[bool, typer.Option("--no-open", help="Do not open a browser.")] = False,
    out_dir: OutOption = None,
    store: StoreOption = None,
    lock: LockOption = None,
) -> None:
    """Serve a local page to review every job's takes side by side, in sync, and pick, reject,
    reroll or annotate them from the keyboard; each decision is written to the lock at once."""
    with user_errors():
        campaign = Campaign.open(file, store=store, output=out_dir, lock=lock)
        session = ReviewSession(campaign)
    try:
        asyncio.run(_serve(session, host, port, not no_open))
    except KeyboardInterrupt:
        out.print("review stopped", markup=False)
