"""Running the emulator: on the caller's event loop, from the command line, at volume."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import replicate

from kling_pipe.emulator import EmulatorConfig, LatencyRange, serve
from kling_pipe.emulator.runtime import Emulator

MODEL = "kwaivgi/kling-v2.6"
AUTH = {"Authorization": "Bearer r8_test"}


def test_serve_runs_on_the_callers_loop_with_the_async_client(fast_config: EmulatorConfig) -> None:
    async def scenario() -> tuple[str, str | None]:
        async with serve(fast_config) as server:
            client = replicate.Client(api_token="r8_test", base_url=server.base_url)
            prediction = await client.models.predictions.async_create(MODEL, input={"prompt": "x"})
            deadline = time.monotonic() + 10
            while prediction.status not in ("succeeded", "failed") and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                await prediction.async_reload()
            return prediction.status, prediction.output

    status, output = asyncio.run(scenario())
    assert status == "succeeded"
    assert output is not None and output.endswith("/output.mp4")


def test_thousands_of_predictions_share_a_handful_of_renders(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencyRange(0, 0), data_dir=tmp_path, render_height=32)
    with Emulator(config) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        ids = []
        for index in range(1000):
            inputs = {"prompt": f"take {index}", "aspect_ratio": ("16:9", "1:1")[index % 2]}
            created = http.post(f"/v1/models/{MODEL}/predictions", json={"input": inputs})
            assert created.status_code == 201
            ids.append(created.json()["id"])
        last = http.get(f"/v1/predictions/{ids[-1]}").json()
        deadline = time.monotonic() + 20
        while last["status"] != "succeeded" and time.monotonic() < deadline:
            last = http.get(f"/v1/predictions/{ids[-1]}").json()
        stats = emu.stats()
    assert last["status"] == "succeeded"
    assert (stats["creates"], stats["duplicate_creates"]) == (1000, 0)
    assert stats["renders"] == 2


def test_api_answers_while_a_large_render_is_running(tmp_path: Path) -> None:
    config = EmulatorConfig(latency=LatencyRange(0, 0), data_dir=tmp_path, render_height=1080)
    inputs = {"prompt": "x", "duration": 10, "generate_audio": True}
    with Emulator(config) as emu, httpx.Client(base_url=emu.base_url, headers=AUTH) as http:
        created = http.post(f"/v1/models/{MODEL}/predictions", json={"input": inputs}).json()
        started = time.monotonic()
        polled = http.get(f"/v1/predictions/{created['id']}").json()
        answered_in = time.monotonic() - started
    assert polled["status"] == "processing"  # still waiting for its render
    assert answered_in < 0.5


def test_emulate_command_serves_until_terminated(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "kling_pipe", "emulate", "--port", "0", "--latency", "1-2",
        "--creates-per-minute", "60", "--create-burst", "1", "--no-retry-after-header",
        "--server-errors", "models.get=1", "--data-dir", str(tmp_path),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in first
        base_url = first.split("listening on ", 1)[1].strip()
        url = f"{base_url}/v1/models/{MODEL}/predictions"
        accepted = httpx.post(url, headers=AUTH, json={"input": {"prompt": "x"}})
        throttled = httpx.post(url, headers=AUTH, json={"input": {"prompt": "y"}})
        faulty = httpx.get(f"{base_url}/v1/models/{MODEL}", headers=AUTH)
        assert accepted.status_code == 201
        assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
        assert faulty.status_code in (500, 502, 503)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    assert process.returncode == 130
    assert "stopping the emulator" in (process.stderr.read() if process.stderr else "")


def test_emulate_command_rejects_bad_options_with_status_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kling_pipe", "emulate", "--latency", "9-3"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "latency 9-3" in result.stderr
