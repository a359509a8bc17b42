"""End-to-end: `kling-pipe run` against the emulator over real HTTP, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import replicate

from kling_pipe.emulator import Emulator, Faults, LatencyRange
from kling_pipe.media.probe import probe, scan_packets
from tests.conftest import kling, kling_command
from tests.emulated import TOKEN, env_for, wait_until

ALL_JOBS = ["pour/jp/16x9", "pour/jp/9x16", "pour/us/16x9", "pour/us/9x16"]


def run(
    project: Path, emu: Emulator, *args: str, token: str = TOKEN
) -> subprocess.CompletedProcess[str]:
    return kling("run", "campaign.yaml", "--yes", *args, cwd=project, env=env_for(emu, token))


def start_run(
    project: Path, emu: Emulator, *args: str, output: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    """`kling-pipe run` in the background, as a user starts it in a terminal."""
    return subprocess.Popen(
        kling_command("run", "campaign.yaml", "--yes", *args),
        cwd=project,
        env={**os.environ, **env_for(emu)},
        stdout=output,
        stderr=output,
        text=True,
    )


def run_json(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "out/demo/run.json").read_text())
    return data


def test_full_run_makes_every_clip_and_a_lock_and_a_rerun_creates_nothing(
    project: Path, emulator: Emulator
) -> None:
    first = run(project, emulator)
    assert first.returncode == 0, first.stderr
    assert emulator.stats()["creates"] == 4
    for job_id in ALL_JOBS:
        clip = project / "out/demo" / f"{job_id}.mp4"
        info = probe(clip)
        assert info.video is not None and info.audio is not None
        portrait = job_id.endswith("9x16")
        assert (info.video.display_height > info.video.display_width) == portrait
        assert scan_packets(clip)["video"].duration == 5.0
    lock = json.loads((project / "campaign.lock.json").read_text())
    assert sorted(lock["jobs"]) == ALL_JOBS
    assert all(e["prediction_id"] and len(e["output_sha256"]) == 64 for e in lock["jobs"].values())
    record = run_json(project)
    assert record["summary"]["done"] == 4 and record["status"] == "ok"
    requests_per_clip = sum(emulator.stats()["requests"].values()) / 4
    assert requests_per_clip <= 6

    again = run(project, emulator)
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4  # nothing created twice
    assert run_json(project)["summary"]["cached"] == 4
    assert (project / "campaign.lock.json").read_text() == json.dumps(
        lock, indent=2, ensure_ascii=False, sort_keys=True
    ) + "\n"


def test_changing_one_markets_line_recreates_exactly_that_markets_jobs(
    project: Path, emulator: Emulator
) -> None:
    assert run(project, emulator).returncode == 0
    manifest = project / "campaign.yaml"
    manifest.write_text(manifest.read_text().replace("すぐ沸く。", "一分で沸く。"))
    plan = json.loads(kling("plan", "campaign.yaml", "--json", cwd=project).stdout)
    assert {j["id"]: j["status"] for j in plan["jobs"]} == {
        "pour/us/16x9": "unchanged",
        "pour/us/9x16": "unchanged",
        "pour/jp/16x9": "changed",
        "pour/jp/9x16": "changed",
    }
    second = run(project, emulator)
    assert second.returncode == 0, second.stderr
    stats = emulator.stats()
    assert stats["creates"] == 6 and stats["duplicate_creates"] == 0
    statuses = {j["id"]: j["status"] for j in run_json(project)["jobs"]}
    assert statuses == {
        "pour/jp/16x9": "done",
        "pour/jp/9x16": "done",
        "pour/us/16x9": "cached",
        "pour/us/9x16": "cached",
    }


def journaled_predictions(project: Path) -> int:
    path = project / ".kling-pipe/journal.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])
        except sqlite3.OperationalError:  # the run is still creating its tables
            return 0


def test_a_run_killed_mid_flight_resumes_without_creating_anything_twice(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(latency=LatencyRange(2.0, 3.0))
    process = start_run(project, emulator, "--concurrency", "2")
    try:
        # Both slots busy and journaled: no create is on the wire until one finishes (2 s on).
        wait_until(lambda: journaled_predictions(project) >= 2)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    created_before_kill = emulator.stats()["creates"]
    assert created_before_kill == 2

    resumed = run(project, emulator)
    assert resumed.returncode == 0, resumed.stderr
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["creates"] == 4
    notes = [n for j in run_json(project)["jobs"] for n in j["notes"]]
    assert sum("re-attached" in n for n in notes) == 2
    assert sorted(json.loads((project / "campaign.lock.json").read_text())["jobs"]) == ALL_JOBS


def test_faults_end_with_every_clip_done_and_creates_within_the_rate(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(
        creates_per_minute=120,
        create_burst=1,
        faults=Faults(
            server_errors={"predictions.get": 0.3},
            dropped_connections={"predictions.get": 0.2, "output": 0.2},
            aborted=0.3,
            truncated_downloads=0.3,
        ),
    )
    result = run(project, emulator, "--creates-per-minute", "600")
    assert result.returncode == 0, result.stderr + result.stdout
    stats = emulator.stats()
    assert stats["duplicate_creates"] <= stats["creates"] - 4  # only re-creates of aborted ones
    assert stats["throttled"] > 0
    record = run_json(project)
    assert record["summary"]["done"] == 4
    for job_id in ALL_JOBS:
        assert scan_packets(project / "out/demo" / f"{job_id}.mp4")["video"].duration == 5.0


def test_creates_whose_answer_was_lost_are_found_not_sent_again(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(faults=Faults(lost_create_responses=0.5))
    result = run(project, emulator)
    assert result.returncode == 0, result.stderr
    stats = emulator.stats()
    assert stats["faults"], "the emulator cut no create answer: the test proves nothing"
    assert stats["duplicate_creates"] == 0
    assert stats["creates"] == 4
    notes = [n for j in run_json(project)["jobs"] for n in j["notes"]]
    assert any("create answer lost; found prediction" in n for n in notes)


def test_rejected_content_fails_that_job_with_the_servers_reason(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(faults=Faults(content_policy_errors=1.0))
    result = run(project, emulator, "--only", "pour/us/16x9")
    assert result.returncode == 1
    (job,) = run_json(project)["jobs"]
    assert job["status"] == "failed"
    assert "rejected by the provider" in job["error"]
    assert emulator.stats()["creates"] == 1  # not retried


def test_outputs_that_expired_while_the_run_was_down_are_generated_again_and_reported(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(latency=LatencyRange(1.0, 1.5), retention_s=0.2)
    process = start_run(project, emulator)
    try:
        wait_until(lambda: emulator.stats()["creates"] >= 4)
    finally:
        process.kill()
        process.wait()
    wait_until(lambda: emulator.stats()["removed"] >= 4)
    emulator.configure(retention_s=3600.0)  # Replicate's hour, for the regenerated ones

    resumed = run(project, emulator)
    assert resumed.returncode == 0, resumed.stderr
    record = run_json(project)
    assert record["summary"]["done"] == 4
    for job in record["jobs"]:
        assert any("expired on the server; generated again" in n for n in job["notes"])
    assert emulator.stats()["creates"] == 8  # each expired clip generated exactly once more


def test_creates_never_exceed_the_configured_rate(project: Path, emulator: Emulator) -> None:
    # 30 a minute: one every 2 s after a burst of 2.
    result = run(project, emulator, "--creates-per-minute", "30")
    assert result.returncode == 0, result.stderr
    journal = sqlite3.connect(project / ".kling-pipe/journal.sqlite")
    times = sorted(row[0] for row in journal.execute("SELECT created_at FROM predictions"))
    assert len(times) == 4
    for i in range(len(times)):
        for j in range(i + 1, len(times)):
            allowed = 2 + (times[j] - times[i]) * 30 / 60
            assert j - i + 1 <= allowed + 0.2, (i, j, times)
    assert emulator.stats()["throttled"] == 0


def test_budget_refusal_exits_3_without_spending_beyond_it(
    project: Path, emulator: Emulator
) -> None:
    # Each clip costs 5 s x $0.14 = $0.70; a $1.50 budget fits two.
    refused = kling("run", "campaign.yaml", "--budget", "1.5", cwd=project, env=env_for(emulator))
    assert refused.returncode == 3
    assert "exceeds the budget" in refused.stderr
    assert emulator.stats()["creates"] == 0

    partial = run(project, emulator, "--budget", "1.5")
    assert partial.returncode == 3
    record = run_json(project)
    assert record["summary"]["done"] == 2 and record["summary"]["refused"] == 2
    assert record["summary"]["spent_usd"] <= 1.5
    assert emulator.stats()["creates"] == 2


def test_sigint_cancels_the_predictions_in_flight_and_exits_130(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(latency=LatencyRange(20.0, 30.0))
    process = start_run(project, emulator, output=subprocess.PIPE)
    wait_until(lambda: emulator.stats()["creates"] >= 4)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert emulator.stats()["canceled"] == 4
    assert "4 prediction(s) canceled on the provider, 0 job(s) never submitted" in stderr
    assert "again to resume" in stderr
    journal = sqlite3.connect(project / ".kling-pipe/journal.sqlite")
    statuses = [row[0] for row in journal.execute("SELECT status FROM predictions")]
    assert statuses == ["canceled"] * 4
    assert run_json(project)["status"] == "interrupted"


def test_a_bad_token_stops_the_run_with_a_clear_message(project: Path, emulator: Emulator) -> None:
    result = run(project, emulator, token="wrong")
    assert result.returncode == 1
    assert "stopped submitting" in result.stderr and "401" in result.stderr
    assert emulator.stats()["creates"] == 0


def test_without_a_token_the_replicate_backend_says_how_to_get_one(project: Path) -> None:
    result = kling("run", "campaign.yaml", "--yes", cwd=project)
    assert result.returncode == 2
    assert "REPLICATE_API_TOKEN" in result.stderr and "--backend preview" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_second_run_on_the_same_store_is_told_who_holds_it(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(latency=LatencyRange(20.0, 30.0))
    first = start_run(project, emulator)
    try:
        wait_until(lambda: emulator.stats()["creates"] >= 1)
        second = run(project, emulator)
        assert second.returncode == 2
        assert f"in use by another run (pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_a_webhook_url_predictions_are_awaited_by_webhook_not_polled(
    project: Path, emulator: Emulator
) -> None:
    emulator.configure(latency=LatencyRange(1.0, 2.0))
    url = f"http://127.0.0.1:{free_port()}/hooks/replicate"
    result = run(project, emulator, "--webhook-url", url)
    assert result.returncode == 0, result.stderr
    stats = emulator.stats()
    assert stats["webhooks"] >= 4
    assert stats["requests"].get("predictions.get", 0) == 0
    assert run_json(project)["summary"]["done"] == 4


def test_a_create_sent_but_not_journaled_before_a_crash_is_adopted_not_paid_twice(
    project: Path, emulator: Emulator
) -> None:
    """The crash window between Replicate accepting a create and the journal recording it:
    the run left an intent; the prediction exists on the provider's side only."""
    from kling_pipe.campaign import Campaign
    from kling_pipe.running.journal import Journal

    emulator.configure(latency=LatencyRange(0.5, 1.0))
    job = next(
        j for j in Campaign.open(project / "campaign.yaml").job_plan.jobs if j.id == "pour/us/16x9"
    )
    client = replicate.Client(api_token=TOKEN, base_url=emulator.base_url)
    journal = Journal(project / ".kling-pipe/journal.sqlite")
    journal.record_intent(job.key, f"replicate@{emulator.base_url.split('//')[1]}", job.id)
    journal.close()
    orphan = client.models.predictions.create(model=job.model, input=dict(job.inputs))

    result = run(project, emulator)
    assert result.returncode == 0, result.stderr
    assert "looked for on the provider and adopted" in result.stderr
    stats = emulator.stats()
    assert stats["duplicate_creates"] == 0
    assert stats["creates"] == 4  # the orphan and three new ones
    record = {j["id"]: j for j in run_json(project)["jobs"]}
    assert record["pour/us/16x9"]["prediction_id"] == orphan.id
    assert any("adopted prediction" in n for n in record["pour/us/16x9"]["notes"])
