"""End-to-end: a campaign that is a graph (a master per ratio, lip-synced per market from it),
run by `kling-pipe run` against the emulator over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kling_pipe.emulator import Emulator, Faults
from tests.conftest import kling, kling_command
from tests.emulated import env_for, wait_until

MASTER_MODEL = "kwaivgi/kling-v2.6"
LOCAL_MODEL = "kwaivgi/kling-lip-sync"

GRAPH = f"""
version: 1
name: graph
model: {MASTER_MODEL}
markets:
  us: {{line: "Boils fast."}}
  jp: {{line: "すぐ沸く。"}}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: master
    per: [aspect_ratio]
    prompt: "A presenter in a studio, {{{{ aspect_ratio }}}}"
    inputs: {{duration: 5, generate_audio: false}}
  - id: local
    model: {LOCAL_MODEL}
    inputs: {{video_url: {{from: master}}, text: "{{{{ line }}}}"}}
limits: {{concurrency: 4, creates_per_minute: 600, budget_usd: 50}}
"""

MASTERS = ["master/16x9", "master/9x16"]
LOCALS = ["local/jp/16x9", "local/jp/9x16", "local/us/16x9", "local/us/9x16"]


@pytest.fixture
def graph_project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(GRAPH.lstrip(), "utf-8")
    return tmp_path


def run(project: Path, emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return kling("run", "campaign.yaml", "--yes", *args, cwd=project, env=env_for(emu))


def run_json(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "out/graph/run.json").read_text())
    return data


def lock_of(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "campaign.lock.json").read_text())["jobs"]
    return data


def test_the_graph_runs_upstream_first_and_uploads_the_stored_masters(
    graph_project: Path, emulator: Emulator
) -> None:
    result = run(graph_project, emulator)
    assert result.returncode == 0, result.stderr
    stats = emulator.stats()
    assert stats["creates"] == 6 and stats["duplicate_creates"] == 0
    lock = lock_of(graph_project)
    assert sorted(lock) == sorted(MASTERS + LOCALS)
    # What the emulator received for each upload is byte for byte a stored master.
    masters = {lock[m]["output_sha256"] for m in MASTERS}
    assert sorted(stats["uploads"]) == sorted(masters)
    store = graph_project / ".kling-pipe/objects"
    for sha in masters:
        assert (store / sha[:2] / f"{sha}.mp4").is_file()
    assert lock["local/jp/9x16"]["material"]["inputs"]["video_url"] == {
        "upstream": lock["master/9x16"]["key"]
    }
    again = run(graph_project, emulator)
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 6


def test_a_failed_master_fails_its_local_versions_with_the_reason_and_creates_none(
    graph_project: Path, emulator: Emulator
) -> None:
    emulator.configure(faults=Faults(failing_models=(MASTER_MODEL,)))
    result = run(graph_project, emulator)
    assert result.returncode == 1
    jobs = {j["id"]: j for j in run_json(graph_project)["jobs"]}
    for master in MASTERS:
        assert jobs[master]["status"] == "failed"
    for local in LOCALS:
        master = "master/" + local.rsplit("/", 1)[1]
        assert jobs[local]["status"] == "failed"
        assert jobs[local]["error"] == f"upstream {master} failed: {jobs[master]['error']}"
    stats = emulator.stats()
    assert stats["creates"] == 2 * 3  # each master tried three times, no local version ever
    assert "upstream master/16x9 failed" in result.stdout + result.stderr
    status = kling("status", "campaign.yaml", cwd=graph_project)
    assert "upstream master/9x16 failed" in status.stdout


def test_a_run_killed_between_a_master_and_its_local_versions_resumes_creating_each_once(
    graph_project: Path, emulator: Emulator
) -> None:
    # Local versions' creates are held open: the run is killed after both masters are stored
    # and while every local version's create is on the wire, unanswered.
    emulator.configure(faults=Faults(held_models=(LOCAL_MODEL,)))
    process = subprocess.Popen(
        kling_command("run", "campaign.yaml", "--yes"),
        cwd=graph_project,
        env={**os.environ, **env_for(emulator)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: emulator.stats()["held_creates"] == len(LOCALS))
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert emulator.stats()["creates"] == 2  # the masters only
    emulator.configure(faults=Faults())

    resumed = run(graph_project, emulator)
    assert resumed.returncode == 0, resumed.stderr
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["creates"] == 6
    statuses = {j["id"]: j["status"] for j in run_json(graph_project)["jobs"]}
    assert all(statuses[m] == "cached" for m in MASTERS), statuses
    assert all(statuses[local] == "done" for local in LOCALS)
