"""Off a terminal (CI), `run` never prompts: it spends within the budget or refuses at once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange
from tests.conftest import kling_command
from tests.reporting.conftest import two_market_campaign

TOKEN = "r8_ci_token_not_real"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(latency=LatencyRange(0.1, 0.3), render_height=144, token=TOKEN)
    with Emulator(config) as emu:
        yield emu


def run_in_ci(project: Path, emu: Emulator, budget: float) -> subprocess.CompletedProcess[str]:
    (project / ".git").mkdir(exist_ok=True)
    (project / "campaign.yaml").write_text(two_market_campaign("ci-demo", budget), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(REPLICATE_API_TOKEN=TOKEN, REPLICATE_BASE_URL=emu.base_url)
    return subprocess.run(
        kling_command("run", "campaign.yaml"),
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,  # not a terminal, as on a CI runner
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_terminal_a_run_within_budget_proceeds_without_asking(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run_in_ci(tmp_path, emulator, budget=50)
    assert result.returncode == 0, result.stderr
    assert "Spend up to" not in result.stderr
    assert emulator.stats()["creates"] == 2


def test_without_a_terminal_a_run_over_budget_is_refused_before_anything_is_sent(
    tmp_path: Path, emulator: Emulator
) -> None:
    result = run_in_ci(tmp_path, emulator, budget=0.5)
    assert result.returncode == 3, result.stderr
    assert "Spend up to" not in result.stderr
    assert "nothing was submitted" in result.stderr
    assert emulator.stats()["creates"] == 0
