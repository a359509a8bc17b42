"""Takes, rerolls and picks through the CLI: generated on the emulator, cut from previews."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kling_pipe.emulator import Emulator
from tests.conftest import kling, kling_command
from tests.emulated import env_for

MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: false}
markets:
  us: {line: "Boils fast."}
  jp: {line: "すぐ沸く。"}
matrix:
  market: [us, jp]
shots:
  - id: hero
    prompt: 'A kettle on a counter in a {{ market }} kitchen, slow push-in.'
  - id: pour
    prompt: 'A barista pours. Caption: {{ line }}'
cuts:
  - id: spot
    shots: [hero, pour]
    fps: 12
    sizes: {"16:9": 320x180}
limits: {concurrency: 4, creates_per_minute: 600, budget_usd: 50}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(MANIFEST.lstrip(), "utf-8")
    return tmp_path


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def plan_json(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        ok(kling("plan", "campaign.yaml", "--json", cwd=project)).stdout
    )
    return data


def lock(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project / "campaign.lock.json").read_text("utf-8"))
    return data


def cuts(project: Path) -> dict[str, dict[str, Any]]:
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    return {cut["id"]: cut for cut in record["cuts"]}


def test_takes_are_counted_in_the_plan_and_its_cost(project: Path) -> None:
    one = plan_json(project)["summary"]
    manifest = project / "campaign.yaml"
    manifest.write_text(
        manifest.read_text("utf-8").replace(
            "generate_audio: false}", "generate_audio: false, takes: 3}"
        ),
        "utf-8",
    )
    three = plan_json(project)
    summary = three["summary"]
    assert (summary["jobs"], summary["takes"], summary["generations"]) == (4, 12, 12)
    assert summary["cost_usd"] == pytest.approx(3 * one["cost_usd"])
    assert [(j["id"], j["take"]) for j in three["jobs"][:3]] == [
        ("hero/us", 1), ("hero/us", 2), ("hero/us", 3),
    ]  # fmt: skip
    table = ok(kling("plan", "campaign.yaml", cwd=project)).stdout
    assert "hero/us#3" in table and "4 jobs (12 takes)" in table


def test_a_reroll_generates_exactly_one_prediction_and_picks_survive_reruns_and_edits(
    project: Path, emulator: Emulator
) -> None:
    env = env_for(emulator)
    ok(kling("run", "campaign.yaml", "--yes", cwd=project, env=env))
    assert emulator.stats()["creates"] == 4
    before = lock(project)
    assert before["version"] == 1  # no takes or decisions yet: the lock as before takes

    rerolled = ok(kling("reroll", "campaign.yaml", "hero/jp", cwd=project))
    assert rerolled.stdout.strip() == "hero/jp: take 2 to make"
    after = lock(project)
    assert after["version"] == 2 and after["jobs"]["hero/jp"]["rerolls"] == 1
    assert {k: v for k, v in after["jobs"].items() if k != "hero/jp"} == {
        k: v for k, v in before["jobs"].items() if k != "hero/jp"
    }
    planned = plan_json(project)
    assert [(j["id"], j["take"]) for j in planned["jobs"] if j["generates"]] == [("hero/jp", 2)]
    assert planned["summary"]["generations"] == 1

    ok(kling("run", "campaign.yaml", "--yes", cwd=project, env=env))
    assert emulator.stats()["creates"] == 5  # exactly one prediction for the reroll
    takes = lock(project)["jobs"]["hero/jp"]["takes"]
    assert [t["take"] for t in takes] == [2] and takes[0]["prediction_id"]
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    assert {(j["id"], j["take"], j["status"]) for j in record["jobs"]} >= {("hero/jp", 2, "done")}
    assert (project / "out/demo/hero/jp.take2.mp4").is_file()

    ok(kling("pick", "campaign.yaml", "hero/jp", "2", "--note", "better steam", cwd=project))
    ok(kling("run", "campaign.yaml", "--yes", cwd=project, env=env))  # a re-run: nothing to do
    assert emulator.stats()["creates"] == 5
    manifest = project / "campaign.yaml"
    manifest.write_text(
        manifest.read_text("utf-8").replace("Boils fast.", "Boils faster."), "utf-8"
    )  # a change elsewhere: the us pour
    ok(kling("run", "campaign.yaml", "--yes", cwd=project, env=env))
    assert emulator.stats()["creates"] == 6
    entry = lock(project)["jobs"]["hero/jp"]
    assert entry["picked"]["take"] == 2 and entry["note"] == "better steam"
    status = ok(kling("status", "campaign.yaml", cwd=project)).stdout
    assert "hero/jp#2 (picked)" in status


def test_a_pick_change_recuts_exactly_the_cuts_with_that_job_and_generates_nothing(
    project: Path,
) -> None:
    preview = ("--backend", "preview", "--preview-height", "144")
    ok(kling("run", "campaign.yaml", *preview, cwd=project))
    ok(kling("stitch", "campaign.yaml", cwd=project))
    assert {c["id"]: c["takes"] for c in cuts(project).values()} == {
        "spot/jp": [1, 1],
        "spot/us": [1, 1],
    }
    ok(kling("reroll", "campaign.yaml", "hero/jp", "--run", "--backend", "preview", cwd=project))
    assert (project / "out/demo/hero/jp.take2.mp4").is_file()
    renders = sorted((project / ".kling-pipe").rglob("*.mp4"))
    generations = plan_json(project)["summary"]["generations"]  # of a real run: none locked
    (project / "main.lock.json").write_bytes((project / "campaign.lock.json").read_bytes())

    picked = ok(kling("pick", "campaign.yaml", "hero/jp", "2", cwd=project))
    assert "take 2 picked" in picked.stdout
    text = ok(kling("plan", "campaign.yaml", cwd=project)).stdout
    assert "pick hero/jp: take 1 → 2 re-cuts spot/jp" in text
    markdown = ok(kling("plan", "campaign.yaml", "--format", "markdown", cwd=project)).stdout
    assert "pick `hero/jp`: take 1 → 2 re-cuts `spot/jp`" in markdown
    for_pr = ok(
        kling(
            "plan", "campaign.yaml", "--format", "markdown", "--since", "main.lock.json",
            cwd=project,
        )
    ).stdout  # fmt: skip
    assert "pick `hero/jp`: take 1 → 2 re-cuts `spot/jp`" in for_pr  # from the locks alone
    picks = plan_json(project)
    assert picks["picks"] == [{"job": "hero/jp", "before": 1, "after": 2, "cuts": ["spot/jp"]}]
    assert picks["summary"]["generations"] == generations  # a pick generates nothing

    stitched = ok(kling("stitch", "campaign.yaml", cwd=project))
    made = cuts(project)
    assert (made["spot/jp"]["reused"], made["spot/us"]["reused"]) == (False, True)
    assert made["spot/jp"]["takes"] == [2, 1]
    assert "cut spot/us" in stitched.stdout and "unchanged, kept" in stitched.stdout
    new_renders = sorted((project / ".kling-pipe/previews").rglob("*.mp4"))
    assert [r for r in new_renders if r not in renders] == []  # nothing generated
    assert plan_json(project)["picks"] == []  # the cut now is what the picks say

    refused = kling("stitch", "campaign.yaml", "--picked-only", cwd=project)
    assert refused.returncode == 1
    assert "without a pick: hero/us, pour/jp, pour/us" in refused.stderr
    assert {c["id"]: c["status"] for c in cuts(project).values()} == {
        "spot/jp": "unpicked",
        "spot/us": "unpicked",
    }
    for job in ("hero/us", "pour/jp", "pour/us"):
        ok(kling("pick", "campaign.yaml", job, "1", cwd=project))
    ok(kling("stitch", "campaign.yaml", "--picked-only", cwd=project))


def test_picks_from_concurrent_processes_are_all_kept(project: Path) -> None:
    ok(
        kling(
            "run", "campaign.yaml", "--backend", "preview", "--preview-height", "144", cwd=project
        )
    )
    jobs = ["hero/us", "hero/jp", "pour/us", "pour/jp"]
    procs = [
        subprocess.Popen(
            kling_command("pick", "campaign.yaml", job, "1", "--note", f"from {job}"),
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in jobs
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
    entries = lock(project)["jobs"]
    assert {job: (entries[job]["picked"]["take"], entries[job]["note"]) for job in jobs} == {
        job: (1, f"from {job}") for job in jobs
    }


def test_unknown_jobs_and_takes_are_usage_errors_with_close_ids(project: Path) -> None:
    unknown = kling("pick", "campaign.yaml", "hero/jq", "1", cwd=project)
    assert unknown.returncode == 2
    assert "no job 'hero/jq'" in unknown.stderr and "'hero/jp'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    nothing = kling("reroll", "campaign.yaml", "hreo/*", cwd=project)
    assert nothing.returncode == 2 and "matches no job" in nothing.stderr
    unmade = kling("reject", "campaign.yaml", "hero/jp", "1", cwd=project)
    assert unmade.returncode == 2 and "take 1 is not made yet" in unmade.stderr
    assert not (project / "campaign.lock.json").exists()
