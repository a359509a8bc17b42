"""Hostile manifests through the real `kling-pipe` process: exit 2, located, no traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import kling

Write = Callable[..., Path]


def test_an_alias_bomb_exits_2_with_a_located_error_and_no_traceback(
    write_manifest: Write,
) -> None:
    bomb = "\n".join(
        ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    )
    path = write_manifest(bomb + "\nversion: 1\n")
    result = kling("validate", path, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:1:" in result.stderr and "expands to more than 100,000 values" in result.stderr


def test_a_prompt_including_the_environment_exits_2_without_printing_it(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(
        """
        version: 1
        name: demo
        model: kwaivgi/kling-v2.6
        defaults: {duration: 5, generate_audio: false}
        shots:
          - id: hero
            prompt: "{% include 'environ.j2' %} {{ 9**(9**9) }}"
        """
    )
    os.symlink("/proc/self/environ", tmp_path / "templates" / "environ.j2")
    result = kling("plan", path, "--json", env={"REPLICATE_API_TOKEN": "r8_do_not_print"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:7:13: shots[0].prompt: template 'environ.j2' is a link" in result.stderr
    assert "r8_do_not_print" not in result.stdout + result.stderr
