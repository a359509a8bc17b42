"""`kling-pipe emulate`: serve a local Replicate emulator until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from kling_pipe.emulator import Emulator, EmulatorConfig, Faults, LatencyRange, parse_route_shares
from kling_pipe.errors import InputError


def emulate(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    latency: Annotated[
        str, typer.Option(help="Seconds from create to finish, drawn uniformly: A-B or N.")
    ] = "30-90",
    time_scale: Annotated[
        float, typer.Option(help="Multiply latency, deadlines and retention (0.01 = 100x).")
    ] = 1.0,
    creates_per_minute: Annotated[
        float | None, typer.Option(help="Create rate limit, answered with 429s. Default: none.")
    ] = None,
    create_burst: Annotated[
        int | None, typer.Option(help="Creates allowed at once (default: a tenth of the rate).")
    ] = None,
    retry_after_header: Annotated[
        bool, typer.Option(help="Send a Retry-After header with 429s (the body always says).")
    ] = True,
    retention: Annotated[
        float, typer.Option(help="Seconds before outputs are removed (Replicate: 3600).")
    ] = 3600.0,
    token: Annotated[
        str | None, typer.Option(help="Accept only this API token (default: any token).")
    ] = None,
    server_errors: Annotated[
        list[str] | None,
        typer.Option(help="ROUTE=SHARE of 500/502/503 answers; route '*' for all. Repeatable."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(help="ROUTE=SHARE of connections cut without an answer. Repeatable."),
    ] = None,
    model_errors: Annotated[
        float, typer.Option(help="Share of predictions that fail with a model error.")
    ] = 0.0,
    content_policy: Annotated[
        float, typer.Option(help="Share of predictions that fail as flagged content (E005).")
    ] = 0.0,
    aborted: Annotated[float, typer.Option(help="Share of predictions aborted.")] = 0.0,
    failing_model: Annotated[
        list[str] | None,
        typer.Option(
            help="Every prediction of this model (owner/name) fails with a model error: a "
            "stage of a graph failing. Repeatable."
        ),
    ] = None,
    truncated_downloads: Annotated[
        float, typer.Option(help="Share of output downloads cut short.")
    ] = 0.0,
    lost_create_responses: Annotated[
        float,
        typer.Option(help="Share of creates accepted whose answer is then cut (never sent)."),
    ] = 0.0,
    download_rate: Annotated[
        float | None, typer.Option(help="Serve output downloads at this many bytes a second.")
    ] = None,
    render_height: Annotated[
        int, typer.Option(help="Short side of the rendered output clips, in lines.")
    ] = 240,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep renders and uploads here (default: a temp folder).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random draw (faults, latency).")] = 0,
) -> None:
    """Serve Replicate's predictions API locally, with latency, rate limits and faults."""
    from kling_pipe.cli.app import err, out, user_errors

    with user_errors():
        config = EmulatorConfig(
            host=host,
            port=port,
            token=token,
            latency=LatencyRange.parse(latency),
            time_scale=time_scale,
            creates_per_minute=creates_per_minute,
            create_burst=create_burst,
            retry_after_header=retry_after_header,
            retention_s=retention,
            faults=Faults(
                server_errors=parse_route_shares(server_errors or []),
                dropped_connections=parse_route_shares(drop or []),
                model_errors=model_errors,
                content_policy_errors=content_policy,
                aborted=aborted,
                truncated_downloads=truncated_downloads,
                lost_create_responses=lost_create_responses,
                download_bytes_per_s=download_rate,
                failing_models=tuple(failing_model or ()),
            ),
            seed=seed,
            data_dir=data_dir,
            render_height=render_height,
        )
        emulator = Emulator(config)
        try:
            emulator.start()
        except OSError as exc:
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        out.print(f"Replicate emulator listening on {emulator.base_url}", markup=False)
        out.print(f"  export REPLICATE_BASE_URL={emulator.base_url}", markup=False)
        out.print(f"  stats: {emulator.base_url}/_emulator/stats", markup=False)
        out.file.flush()  # scripts wait for the address on a pipe
        # SIGTERM stops like Ctrl-C: the emulator's tasks end and its temp folder goes.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            threading.Event().wait()
        finally:
            err.print("stopping the emulator")
            emulator.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
