"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def kling_command(*args: str | Path) -> list[str]:
    """The argv of `kling-pipe ARGS` run with this interpreter."""
    return [sys.executable, "-m", "kling_pipe", *map(str, args)]


def kling(
    *args: str | Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run `kling-pipe ARGS` as a user would, with `env` added to a clean environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    environment.update(env or {})
    return subprocess.run(
        kling_command(*args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Write a manifest (dedented) into a fresh project folder with a templates/ folder."""

    def write(text: str, name: str = "campaign.yaml", files: dict[str, str] | None = None) -> Path:
        (tmp_path / ".git").mkdir(exist_ok=True)
        (tmp_path / "templates").mkdir(exist_ok=True)
        for relative, content in (files or {}).items():
            target = tmp_path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, "utf-8")
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
        return path

    return write


pytest_plugins = ["tests.emulated", "tests.bucket"]
