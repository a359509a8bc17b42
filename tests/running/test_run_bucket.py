"""End-to-end: runners sharing a bucket store (moto's S3 server) and one emulator, through
the CLI as CI machines run it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from kling_pipe.emulator import Emulator, LatencyRange
from tests.bucket import ACCESS_KEY, SECRET_KEY, Bucket
from tests.conftest import kling, kling_command
from tests.emulated import env_for, wait_until

ALL_JOBS = ["pour/jp/16x9", "pour/jp/9x16", "pour/us/16x9", "pour/us/9x16"]


def machine(project: Path, name: str) -> Path:
    """A fresh clone of the project on another machine: the manifest, no store, no lock."""
    clone = project.parent / f"{project.name}-{name}"
    clone.mkdir()
    (clone / ".git").mkdir()
    shutil.copy(project / "campaign.yaml", clone / "campaign.yaml")
    return clone


def environment(emu: Emulator, bucket: Bucket, expiry: float = 30.0) -> dict[str, str]:
    return {**env_for(emu), **bucket.env(), "KLING_PIPE_CLAIM_EXPIRY": str(expiry)}


def run(
    where: Path, emu: Emulator, bucket: Bucket, *args: str, expiry: float = 30.0
) -> subprocess.CompletedProcess[str]:
    return kling(
        "run",
        "campaign.yaml",
        "--yes",
        "--store",
        bucket.url,
        *args,
        cwd=where,
        env=environment(emu, bucket, expiry),
    )


def start(
    where: Path, emu: Emulator, bucket: Bucket, *args: str, expiry: float = 30.0
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        kling_command("run", "campaign.yaml", "--yes", "--store", bucket.url, *args),
        cwd=where,
        env={**os.environ, **environment(emu, bucket, expiry)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def objects(bucket: Bucket) -> list[str]:
    return [k for k in bucket.names() if k.startswith("campaigns/objects/")]


def output_records(bucket: Bucket) -> list[str]:
    return [k for k in bucket.names() if k.startswith("campaigns/outputs/")]


def lock_of(where: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((where / "campaign.lock.json").read_text())
    return data


def test_a_run_on_a_bucket_stores_every_clip_there_and_a_rerun_only_reads_heads(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    first = run(project, emulator, bucket)
    assert first.returncode == 0, first.stderr
    assert len(output_records(bucket)) == 4
    assert len(objects(bucket)) == 2  # the emulator renders one clip per aspect ratio
    assert sorted(lock_of(project)["jobs"]) == ALL_JOBS
    assert not [k for k in bucket.names() if k.startswith("campaigns/claims/")]
    assert not (project / ".kling-pipe/objects").exists()  # the bucket holds them
    again = run(project, emulator, bucket)
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4


def claims(bucket: Bucket) -> list[dict[str, Any]]:
    client = bucket.client()
    found = []
    for key in bucket.names():
        if key.startswith("campaigns/claims/"):
            body = client.get_object(Bucket=bucket.name, Key=key)["Body"].read()
            found.append(json.loads(body))
    return found


def test_two_runners_started_together_on_one_bucket_create_each_clip_once(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    first, second = machine(project, "ci-1"), machine(project, "ci-2")
    runners = [start(where, emulator, bucket, expiry=2.0) for where in (first, second)]
    outputs = [runner.communicate(timeout=120) for runner in runners]
    for runner, (_, stderr) in zip(runners, outputs, strict=True):
        assert runner.returncode == 0, stderr
    stats = emulator.stats()
    assert stats["creates"] == 4
    assert stats["duplicate_creates"] == 0
    assert len(output_records(bucket)) == 4
    assert claims(bucket) == []
    for where in (first, second):  # both have every clip, and the same lock
        assert sorted(lock_of(where)["jobs"]) == ALL_JOBS
        assert len(list((where / "out/demo/pour").rglob("*.mp4"))) == 4
    assert lock_of(first) == lock_of(second)


def test_a_runner_killed_holding_claims_is_taken_over_and_its_predictions_adopted(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    emulator.configure(latency=LatencyRange(2.0, 3.0))
    doomed, survivor = machine(project, "ci-1"), machine(project, "ci-2")
    process = start(doomed, emulator, bucket, "--concurrency", "2", expiry=1.0)
    try:
        # Both slots busy: two claims in the bucket naming their predictions.
        wait_until(lambda: sum(1 for c in claims(bucket) if c["prediction_id"]) >= 2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert emulator.stats()["creates"] == 2

    finished = run(survivor, emulator, bucket, expiry=1.0)
    assert finished.returncode == 0, finished.stderr
    stats = emulator.stats()
    assert stats["creates"] == 4
    assert stats["duplicate_creates"] == 0
    record = json.loads((survivor / "out/demo/run.json").read_text())
    notes = [n for job in record["jobs"] for n in job["notes"]]
    assert sum("from the expired claim" in n for n in notes) == 2
    assert sorted(lock_of(survivor)["jobs"]) == ALL_JOBS
    assert claims(bucket) == []


def test_sharded_runs_create_each_key_once_and_their_merged_lock_is_what_one_run_writes(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    shards = [machine(project, f"shard-{k}") for k in (1, 2, 3)]
    runners = [  # a CI matrix: started together
        start(where, emulator, bucket, "--shard", f"{k}/3")
        for k, where in enumerate(shards, start=1)
    ]
    for runner in runners:
        _, stderr = runner.communicate(timeout=120)
        assert runner.returncode == 0, stderr
    fragments = [where / "campaign.lock.json" for where in shards]
    assert emulator.stats()["creates"] == 4
    assert emulator.stats()["duplicate_creates"] == 0
    shares = [set(json.loads(f.read_text())["jobs"]) for f in fragments]
    assert sorted(j for share in shares for j in share) == ALL_JOBS  # disjoint, complete

    merged = project.parent / "merged.lock.json"
    merging = kling("lock", "merge", *map(str, fragments), "--into", str(merged))
    assert merging.returncode == 0, merging.stderr

    whole = machine(project, "unsharded")
    result = run(whole, emulator, bucket)
    assert result.returncode == 0, result.stderr
    assert emulator.stats()["creates"] == 4  # created nothing
    assert (whole / "campaign.lock.json").read_bytes() == merged.read_bytes()


def test_lock_merge_refuses_fragments_that_disagree(tmp_path: Path) -> None:
    entry = {"key": "a" * 64, "material": {}, "output_sha256": "b" * 64}
    one = tmp_path / "one.lock.json"
    two = tmp_path / "two.lock.json"
    one.write_text(json.dumps({"version": 1, "manifest": "demo", "jobs": {"x": entry}}))
    other = {**entry, "output_sha256": "c" * 64}
    two.write_text(json.dumps({"version": 1, "manifest": "demo", "jobs": {"x": other}}))
    result = kling("lock", "merge", str(one), str(two), "--into", str(tmp_path / "m.json"))
    assert result.returncode == 2
    assert "x:" in result.stderr and "output_sha256" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.json").exists()


CUT = """
cuts:
  - id: spot
    shots: [pour]
"""


def test_a_fresh_clone_with_the_lock_and_the_bucket_regenerates_nothing_and_stitches(
    project: Path, emulator: Emulator, bucket: Bucket, tmp_path: Path
) -> None:
    with (project / "campaign.yaml").open("a") as manifest:
        manifest.write(CUT)
    outputs = []
    first = run(project, emulator, bucket)
    outputs.append(first)
    assert first.returncode == 0, first.stderr

    clone = machine(project, "fresh-clone")
    shutil.copy(project / "campaign.lock.json", clone / "campaign.lock.json")
    env = environment(emulator, bucket)
    plan = kling("plan", "campaign.yaml", "--json", "--store", bucket.url, cwd=clone, env=env)
    outputs.append(plan)
    assert plan.returncode == 0, plan.stderr
    statuses = {j["id"]: j["status"] for j in json.loads(plan.stdout)["jobs"]}
    assert set(statuses.values()) == {"unchanged"}
    again = run(clone, emulator, bucket)
    outputs.append(again)
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4
    stitched = kling("stitch", "campaign.yaml", "--store", bucket.url, cwd=clone, env=env)
    outputs.append(stitched)
    assert stitched.returncode == 0, stitched.stderr
    assert len(list((clone / "out/demo/cuts/spot").rglob("*.mp4"))) == 4
    assert (project / "campaign.lock.json").read_bytes() == (
        clone / "campaign.lock.json"
    ).read_bytes()

    # The credentials are in no file and no output.
    texts = [p.stdout + p.stderr for p in outputs]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert not [t for t in texts if secret in t]


def test_a_bucket_without_credentials_is_a_clear_error_not_a_traceback(
    project: Path, bucket: Bucket
) -> None:
    env = {k: v for k, v in bucket.env().items() if not k.startswith("AWS_SECRET")}
    env["AWS_ACCESS_KEY_ID"] = ""
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(project / "no-such-file")
    env["AWS_CONFIG_FILE"] = str(project / "no-such-file")
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    result = kling("plan", "campaign.yaml", "--store", bucket.url, cwd=project, env=env)
    assert result.returncode == 2, result.stderr
    assert f"store {bucket.url}: cannot reach it" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_manifest_can_name_its_bucket_store(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    manifest = project / "campaign.yaml"
    manifest.write_text(manifest.read_text() + f"store: {bucket.url}\n")
    env = environment(emulator, bucket)
    result = kling("run", "campaign.yaml", "--yes", "--only", "pour/us/*", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert len(output_records(bucket)) == 2
    status = kling("status", "campaign.yaml", cwd=project, env=env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("done") >= 2
