"""The typer application, its shared consoles and how errors become exit statuses."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from kling_pipe.errors import KlingPipeError, ManifestError

app = typer.Typer(
    name="kling-pipe",
    help=(
        "Declarative YAML pipelines for Kling video models on Replicate: validate and plan "
        "manifests, generate clips under rate limits without paying twice, stitch rough cuts.\n\n"
        "Exit status: 0 done, 1 some jobs failed, 2 invalid input or usage, 3 refused by the "
        "budget, 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Off a terminal (CI logs, pipes) tables get room instead of the 80 columns rich assumes.
# Emoji codes and markup are off: user and error text (":x:", "[red]") is printed verbatim;
# styling is given with `style=` or rich Text, never inside the printed string.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200, emoji=False, markup=False)
err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False, markup=False)


def _print_version(requested: bool) -> None:
    if not requested:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("kling-pipe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from kling_pipe import __version__ as installed
    out.print(f"kling-pipe {installed}", markup=False, highlight=False)
    raise typer.Exit()


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options that come before the command."""


@contextmanager
def user_errors(strict_warnings: bool = False) -> Iterator[None]:
    """Turn kling-pipe's own errors into a message on stderr and their exit status."""
    try:
        yield
    except ManifestError as exc:
        for problem in exc.problems:
            style = "yellow" if problem.severity == "warning" else "red"
            err.print(str(problem), style=style, markup=False)
        errors = sum(1 for p in exc.problems if p.severity == "error")
        err.print(f"{errors} error(s)", style="bold red")
        raise typer.Exit(exc.exit_code) from None
    except KlingPipeError as exc:
        err.print(f"error: {exc}", style="red", markup=False)
        raise typer.Exit(exc.exit_code) from None


def main() -> None:
    """Entry point of the `kling-pipe` console script."""
    # Importing the command modules registers their commands.
    from kling_pipe.cli import models, planning, reporting, running, stitching  # noqa: F401

    _register_optional_commands()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def _register_optional_commands() -> None:
    try:
        from kling_pipe.cli.emulate import emulate
    except ImportError:
        return
    app.command("emulate")(emulate)
