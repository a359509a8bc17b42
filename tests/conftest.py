"""Fixtures shared by the whole suite."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
