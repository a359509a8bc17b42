"""The `kling-pipe` process: a command imports only what it needs, and every command is found."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, kling, kling_command

SPRING = REPO / "pipelines/spring-launch.yaml"

# What planning never needs: HTTP clients, the run core, ffmpeg, the emulator, the report.
HEAVY = (
    "replicate",
    "httpx",
    "aiohttp",
    "anyio",
    "ffmpeg",
    "imageio_ffmpeg",
    "rich.live",
    "kling_pipe.backends.replicate",
    "kling_pipe.backends.preview",
    "kling_pipe.emulator",
    "kling_pipe.media",
    "kling_pipe.reporting",
    "kling_pipe.running.scheduler",
    "kling_pipe.running.runner",
)

COMMANDS = [
    "validate",
    "plan",
    "schema",
    "init",
    "report",
    "review",
    "stitch",
    "run",
    "status",
    "pick",
    "reject",
    "unpick",
    "reroll",
    "emulate",
    "models",
    "store",
    "lock",
]


def imported_modules(*python_args: str) -> set[str]:
    """The modules a `python PYTHON_ARGS` process imports, read from `-X importtime`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *python_args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def heavy(modules: set[str]) -> list[str]:
    """The modules of `HEAVY` (or inside them) among `modules`."""
    return sorted(m for m in modules if any(m == h or m.startswith(f"{h}.") for h in HEAVY))


@pytest.mark.parametrize(
    "args",
    [
        ["plan", str(SPRING), "--json"],
        ["plan", str(SPRING), "--format", "markdown"],
        ["plan", str(SPRING)],
        ["validate", str(SPRING)],
        ["schema"],
    ],
    ids=["plan-json", "plan-markdown", "plan-table", "validate", "schema"],
)
def test_planning_commands_import_no_http_client_run_core_or_media(args: list[str]) -> None:
    assert heavy(imported_modules(*kling_command(*args)[1:])) == []


def test_importing_the_package_and_the_cli_imports_no_command() -> None:
    modules = imported_modules("-c", "import kling_pipe, kling_pipe.cli")
    assert heavy(modules) == []
    assert "kling_pipe.campaign" not in modules
    assert not any(m.startswith("kling_pipe.cli.") and m != "kling_pipe.cli.app" for m in modules)


def test_help_lists_every_command_in_order() -> None:
    result = kling("--help")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.split("Commands:")[1].splitlines()
    assert [row.split()[0] for row in rows if row.strip()] == COMMANDS


@pytest.mark.parametrize("command", ["report", "stitch", "run", "status", "emulate", "models"])
def test_each_command_is_found_on_its_own(command: str) -> None:
    result = kling(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_a_mistyped_command_exits_2_and_suggests_the_right_one() -> None:
    result = kling("stich", str(SPRING))
    assert result.returncode == 2
    assert "Did you mean 'stitch'?" in result.stderr


def test_plan_json_is_indented_unescaped_json_with_nothing_else_on_stdout() -> None:
    result = kling("plan", SPRING, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert "アクメ" in result.stdout
    assert "\x1b" not in result.stdout
