"""The campaign's record is one thing: the lock says what was paid for, the store holds it, and
every command agrees on both from any working directory. Through the CLI, against the emulator.

Each row of the lock/store table: an output the lock records and the store holds is unchanged
and free; one no store holds is `lost`, fetched for free while Replicate still serves it, else
refused (exit 3, with the list) unless `--regenerate-lost`, which pays exactly that list. In
every case the estimate equals what is spent, and nothing is created twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kling_pipe.emulator import Emulator
from tests.conftest import kling, kling_command
from tests.emulated import CAMPAIGN, TOKEN, env_for, wait_until
from tests.reporting.test_report_contents import shown

JOBS = ["pour/jp/16x9", "pour/jp/9x16", "pour/us/16x9", "pour/us/9x16"]
PRICE = 5 * 0.14  # 5 s with audio on kling-v2.6


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the campaign in a subfolder, as teams keep them."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "pipelines/launch.yaml").write_text(CAMPAIGN.lstrip(), "utf-8")
    return root


def where(repo: Path, tmp_path: Path, name: str) -> tuple[Path, str]:
    """A working directory and the manifest's path as a user there would type it."""
    if name == "root":
        return repo, "pipelines/launch.yaml"
    if name == "manifest folder":
        return repo / "pipelines", "launch.yaml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    return elsewhere, str(repo / "pipelines/launch.yaml")


def plan_json(cwd: Path, manifest: str) -> dict[str, Any]:
    result = kling("plan", manifest, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def run_json(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "out/demo/run.json").read_text())
    return data


def run(emu: Emulator, cwd: Path, manifest: str, *args: str) -> Any:
    return kling("run", manifest, "--yes", *args, cwd=cwd, env=env_for(emu))


@pytest.mark.parametrize("second", ["root", "manifest folder", "elsewhere"])
def test_every_working_directory_sees_one_record_and_nothing_is_paid_twice(
    repo: Path, tmp_path: Path, emulator: Emulator, second: str
) -> None:
    cwd, manifest = where(repo, tmp_path, "elsewhere" if second == "root" else "root")
    first = run(emulator, cwd, manifest)
    assert first.returncode == 0, first.stderr
    assert emulator.stats()["creates"] == 4
    assert run_json(repo)["summary"]["spent_usd"] == pytest.approx(4 * PRICE)
    assert run_json(repo)["summary"]["estimate_usd"] == pytest.approx(4 * PRICE)
    assert (repo / ".kling-pipe/objects").is_dir()
    assert (repo / "pipelines/launch.lock.json").is_file()
    assert not (cwd / "out").exists() or cwd == repo

    cwd, manifest = where(repo, tmp_path, second)
    plan = plan_json(cwd, manifest)
    assert plan["summary"]["generations"] == 0 and plan["summary"]["cost_usd"] == 0
    again = run(emulator, cwd, manifest)
    assert again.returncode == 0, again.stderr
    assert "estimated $0.00" in again.stderr
    assert emulator.stats()["creates"] == 4
    assert run_json(repo)["summary"]["spent_usd"] == 0
    assert {j["status"] for j in run_json(repo)["jobs"]} == {"cached"}


def test_a_wiped_journal_pays_for_nothing_the_lock_and_the_store_hold(
    repo: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    (repo / ".kling-pipe/journal.sqlite").unlink()
    plan = plan_json(repo, "pipelines/launch.yaml")
    assert {j["status"] for j in plan["jobs"]} == {"unchanged"}
    again = run(emulator, repo / "pipelines", "launch.yaml")
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4
    assert run_json(repo)["summary"]["spent_usd"] == 0


def fresh_clone(repo: Path, tmp_path: Path) -> Path:
    """The manifest and its lock in a new repository, without the store: a colleague's clone,
    or a CI runner whose cache missed."""
    clone = tmp_path / "clone"
    (clone / "pipelines").mkdir(parents=True)
    (clone / ".git").mkdir()
    for name in ("launch.yaml", "launch.lock.json"):
        shutil.copy(repo / "pipelines" / name, clone / "pipelines" / name)
    return clone


def test_a_fresh_clone_fetches_outputs_replicate_still_serves_for_free(
    repo: Path, tmp_path: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    clone = fresh_clone(repo, tmp_path)
    plan = plan_json(clone, "pipelines/launch.yaml")
    assert {j["status"] for j in plan["jobs"]} == {"lost"}
    assert plan["summary"]["cost_usd"] == 0
    assert plan["summary"]["lost_cost_usd"] == pytest.approx(4 * PRICE)
    lock = json.loads((clone / "pipelines/launch.lock.json").read_text())

    fetched = run(emulator, clone, "pipelines/launch.yaml")
    assert fetched.returncode == 0, fetched.stderr
    assert emulator.stats()["creates"] == 4
    assert run_json(clone)["summary"]["spent_usd"] == 0
    for job_id in JOBS:
        entry = lock["jobs"][job_id]
        clip = clone / "out/demo" / f"{job_id}.mp4"
        assert clip.stat().st_size == entry["bytes"]
    assert json.loads((clone / "pipelines/launch.lock.json").read_text()) == lock
    assert {j["status"] for j in plan_json(clone, "pipelines/launch.yaml")["jobs"]} == {"unchanged"}


def outlive_retention(emu: Emulator, repo: Path) -> None:
    """Shorten the emulator's output retention (Replicate's hour) to seconds and wait until
    the outputs the lock names are deleted, as they would be an hour later."""
    emu.configure(retention_s=3.0)
    lock = json.loads((repo / "pipelines/launch.lock.json").read_text())
    ids = [entry["prediction_id"] for entry in lock["jobs"].values()]
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def deleted() -> bool:
        for prediction_id in ids:
            got = httpx.get(f"{emu.base_url}/v1/predictions/{prediction_id}", headers=headers)
            if got.json().get("output") is not None:
                return False
        return True

    wait_until(deleted, timeout=20)


def age_lock(path: Path, hours: float) -> None:
    """Make every output in the lock `hours` older, past Replicate's one-hour retention."""
    lock = json.loads(path.read_text())
    for entry in lock["jobs"].values():
        for field in ("created_at", "completed_at"):
            stamp = datetime.fromisoformat(entry[field].replace("Z", "+00:00"))
            entry[field] = (stamp - timedelta(hours=hours)).astimezone(UTC).isoformat()
    path.write_text(json.dumps(lock, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def test_a_fresh_clone_refuses_to_pay_again_for_gone_outputs_then_pays_exactly_that_list(
    repo: Path, tmp_path: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    outlive_retention(emulator, repo)
    clone = fresh_clone(repo, tmp_path)
    lock_path = clone / "pipelines/launch.lock.json"
    age_lock(lock_path, hours=3)
    manifest = clone / "pipelines/launch.yaml"
    manifest.write_text(manifest.read_text().replace("Boils fast.", "Boils in a minute."))

    refused = run(emulator, clone, "pipelines/launch.yaml")
    assert refused.returncode == 3, refused.stderr
    for job_id in ("pour/jp/16x9", "pour/jp/9x16"):
        assert job_id in refused.stderr
    assert "--regenerate-lost" in refused.stderr and "$1.40" in refused.stderr
    assert emulator.stats()["creates"] == 4  # nothing submitted, not even the changed jobs

    paid = run(emulator, clone, "pipelines/launch.yaml", "--regenerate-lost")
    assert paid.returncode == 0, paid.stderr
    stats = emulator.stats()
    assert stats["creates"] == 4 + 4
    assert stats["duplicate_creates"] == 2  # the two lost outputs, paid again with consent
    summary = run_json(clone)["summary"]
    assert summary["spent_usd"] == pytest.approx(4 * PRICE) == summary["estimate_usd"]
    assert {j["id"] for j in run_json(clone)["jobs"] if j["status"] == "done"} == set(JOBS)


def test_a_partial_run_keeps_the_rest_of_the_record_and_the_cuts(
    repo: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    record = run_json(repo)
    record["cuts"] = [
        {"id": "spot/us/16x9", "cut": "spot", "status": "missing", "missing": ["pour/us/16x9"]}
    ]
    (repo / "out/demo/run.json").write_text(json.dumps(record))
    manifest = repo / "pipelines/launch.yaml"
    manifest.write_text(manifest.read_text().replace("Boils fast.", "Boils in a minute."))

    partial = run(emulator, repo, "pipelines/launch.yaml", "--only", "pour/us/16x9")
    assert partial.returncode == 0, partial.stderr
    after = run_json(repo)
    statuses = {j["id"]: j["status"] for j in after["jobs"]}
    assert statuses == {
        "pour/us/16x9": "done",
        "pour/us/9x16": "done",  # kept from the first run, though it changed since
        "pour/jp/16x9": "done",
        "pour/jp/9x16": "done",
    }
    assert [c["id"] for c in after["cuts"]] == ["spot/us/16x9"]
    assert after["summary"]["done"] == 1
    page = shown((repo / "out/demo/report.html").read_text())  # every card, as the page shows them
    for job_id in JOBS:
        assert f'{job_id}.mp4"' in page


def test_a_glob_that_matches_no_job_names_close_ids(repo: Path, emulator: Emulator) -> None:
    typo = run(emulator, repo, "pipelines/launch.yaml", "--only", "pour/jpn/*")
    assert typo.returncode == 2
    assert "matches no job" in typo.stderr and "pour/jp/16x9" in typo.stderr
    planned = kling("plan", "pipelines/launch.yaml", "--only", "pour/us/4x3", cwd=repo)
    assert planned.returncode == 2 and "pour/us/16x9" in planned.stderr
    assert emulator.stats()["creates"] == 0


def test_an_output_expired_sooner_than_its_date_says_is_refused_not_repaid(
    repo: Path, tmp_path: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    outlive_retention(emulator, repo)
    clone = fresh_clone(repo, tmp_path)
    expired = run(emulator, clone, "pipelines/launch.yaml")
    assert expired.returncode == 3, expired.stderr
    assert emulator.stats()["creates"] == 4
    record = run_json(clone)
    assert {j["status"] for j in record["jobs"]} == {"refused"}
    assert all("--regenerate-lost" in j["error"] for j in record["jobs"])
    assert record["summary"]["spent_usd"] == 0


def test_a_damaged_store_object_is_planned_as_lost_and_fetched_again_not_served(
    repo: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    lock = json.loads((repo / "pipelines/launch.lock.json").read_text())
    damaged = lock["jobs"]["pour/jp/16x9"]["output_sha256"]
    obj = next((repo / ".kling-pipe/objects").glob(f"*/{damaged}.mp4"))
    obj.chmod(0o644)
    data = bytearray(obj.read_bytes())
    data[len(data) // 2] ^= 0xFF
    obj.write_bytes(bytes(data))

    sharing = {i for i, e in lock["jobs"].items() if e["output_sha256"] == damaged}
    plan = plan_json(repo, "pipelines/launch.yaml")
    assert {j["id"] for j in plan["jobs"] if j["status"] == "lost"} == sharing
    again = run(emulator, repo, "pipelines/launch.yaml")
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4  # fetched again from Replicate, not paid again
    for job_id in sharing:
        clip = repo / "out/demo" / f"{job_id}.mp4"
        assert hashlib.sha256(clip.read_bytes()).hexdigest() == damaged


def test_an_output_folder_that_cannot_be_written_is_found_before_anything_is_paid(
    repo: Path, emulator: Emulator
) -> None:
    blocked = repo / "out"
    blocked.write_text("a file where the output folder should be")
    refused = run(emulator, repo, "pipelines/launch.yaml")
    assert refused.returncode == 2, refused.stderr
    assert "out" in refused.stderr and "Traceback" not in refused.stderr
    assert emulator.stats()["creates"] == 0


def test_on_a_terminal_the_prompt_names_the_lost_outputs_and_what_paying_again_costs(
    repo: Path, tmp_path: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    clone = fresh_clone(repo, tmp_path)
    age_lock(clone / "pipelines/launch.lock.json", hours=3)
    terminal, user = pty.openpty()
    process = subprocess.Popen(
        kling_command("run", "pipelines/launch.yaml"),
        cwd=clone,
        stdin=user,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env_for(emulator)},
        text=True,
    )
    os.close(user)
    os.write(terminal, b"n\n")  # the user declines
    _, stderr = process.communicate(timeout=120)
    os.close(terminal)
    assert process.returncode == 3, stderr
    assert "4 output(s) paid for earlier are in no store; pay $2.80" in stderr
    for job_id in JOBS:
        assert f"lost: {job_id}" in stderr
    assert emulator.stats()["creates"] == 4


def test_status_reads_the_record_from_any_directory(
    repo: Path, tmp_path: Path, emulator: Emulator
) -> None:
    preview = kling("run", "pipelines/launch.yaml", "--backend", "preview", cwd=repo)
    assert preview.returncode == 0, preview.stderr
    cwd, manifest = where(repo, tmp_path, "elsewhere")
    assert kling("status", manifest, cwd=cwd).stdout.splitlines()[-1] == "4 previewed"
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    assert kling("status", manifest, cwd=cwd).stdout.splitlines()[-1] == "4 done"
    shutil.rmtree(repo / ".kling-pipe/objects")
    assert kling("status", manifest, cwd=cwd).stdout.splitlines()[-1] == "4 lost"


def test_a_renamed_market_reuses_the_locked_outputs_even_without_the_journal(
    repo: Path, emulator: Emulator
) -> None:
    assert run(emulator, repo, "pipelines/launch.yaml").returncode == 0
    manifest = repo / "pipelines/launch.yaml"
    manifest.write_text(manifest.read_text().replace("jp:", "ja:").replace("[us, jp]", "[us, ja]"))
    (repo / ".kling-pipe/journal.sqlite").unlink()
    plan = plan_json(repo, "pipelines/launch.yaml")
    assert plan["summary"]["cost_usd"] == 0 and plan["summary"]["generations"] == 0
    again = run(emulator, repo, "pipelines/launch.yaml")
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4
    lock = json.loads((repo / "pipelines/launch.lock.json").read_text())
    for ratio in ("16x9", "9x16"):
        moved = lock["jobs"][f"pour/ja/{ratio}"]
        assert moved["output_sha256"] == lock["jobs"][f"pour/jp/{ratio}"]["output_sha256"]
        assert (repo / f"out/demo/pour/ja/{ratio}.mp4").stat().st_size == moved["bytes"]
    assert {p["status"] for p in plan_json(repo, "pipelines/launch.yaml")["jobs"]} == {"unchanged"}
