"""A running emulator and a small campaign to run against it: fixtures for every test that
generates (registered in tests/conftest.py), and the helpers those tests share."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

TOKEN = "r8_test_token_not_real"

CAMPAIGN = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: true}
markets:
  us: {product: "Acme Kettle", line: "Boils fast."}
  jp: {product: "アクメケトル", line: "すぐ沸く。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: pour
    prompt: 'The {{ product }} pours, slow push-in. A barista says "{{ line }}"'
limits: {concurrency: 4, creates_per_minute: 600, budget_usd: 50}
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator with short, realistic-looking latencies and tiny renders."""
    config = EmulatorConfig(latency=LatencyRange(0.3, 0.8), render_height=144, token=TOKEN, seed=7)
    with Emulator(config) as emu:
        yield emu


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with the demo campaign at campaign.yaml."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(CAMPAIGN.lstrip(), "utf-8")
    return tmp_path


def env_for(emu: Emulator, token: str = TOKEN) -> dict[str, str]:
    """The environment a user sets to point kling-pipe at the emulator."""
    return {"REPLICATE_API_TOKEN": token, "REPLICATE_BASE_URL": emu.base_url}


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds (a deadline, not a sleep as synchronisation)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
