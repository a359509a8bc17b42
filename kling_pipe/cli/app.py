"""The typer application, its shared consoles and how errors become exit statuses."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from kling_pipe.errors import KlingPipeError, ManifestError

# The module that defines each command, in the order `--help` lists them. A command imports its
# own module only: `plan` must not pay for the run core, the backends and their HTTP clients.
_COMMAND_MODULES = {
    "validate": "planning",
    "plan": "planning",
    "schema": "planning",
    "init": "planning",
    "report": "reporting",
    "review": "reviewing",
    "stitch": "stitching",
    "run": "running",
    "status": "running",
    "pick": "decisions",
    "reject": "decisions",
    "unpick": "decisions",
    "reroll": "decisions",
    "emulate": "emulate",
    "models": "models",
    "store": "store",
    "lock": "store",
}


class _LazyCommands(TyperGroup):
    """The command group, importing a command's module when the command is looked up."""

    def list_commands(self, ctx: Any) -> list[str]:
        self._register(dict.fromkeys(_COMMAND_MODULES.values()))
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            # An unknown name loads every command, so the did-you-mean sees them all.
            module = _COMMAND_MODULES.get(cmd_name)
            self._register([module] if module else dict.fromkeys(_COMMAND_MODULES.values()))
        return super().get_command(ctx, cmd_name)

    def _register(self, modules: Iterable[str]) -> None:
        for module in modules:
            if module == "emulate":
                _register_optional_commands()
            else:
                importlib.import_module(f"kling_pipe.cli.{module}")
        built = typer.main.get_command(app)
        assert isinstance(built, TyperGroup)
        self.commands = built.commands


app = typer.Typer(
    cls=_LazyCommands,
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
    """Options that come before the command (and, while no command module is imported yet,
    what keeps `app` a group of subcommands)."""


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store folder, or bucket URL (s3://bucket/prefix, gs://…, file:///…) (default: "
        "KLING_PIPE_STORE, else the manifest's `store:`, else the nearest .kling-pipe/ up to "
        "the repository root).",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Output folder (default: KLING_PIPE_OUT, else the manifest's `output:`, else out/ "
        "at the repository root).",
    ),
]
LockOption = Annotated[
    Path | None,
    typer.Option("--lock", help="Lock file (default: <manifest>.lock.json beside it)."),
]


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
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def _register_optional_commands() -> None:
    if any(command.name == "emulate" for command in app.registered_commands):
        return
    try:
        from kling_pipe.cli.emulate import emulate
    except ImportError:
        return
    app.command("emulate")(emulate)
