"""`plan --format markdown`: the pull-request comment for a manifest change."""

from __future__ import annotations

import re
from pathlib import Path

from kling_pipe.campaign import Campaign
from tests.conftest import kling
from tests.reporting.conftest import lock_as_if_generated

ROW = re.compile(
    r"^\| `(?P<id>[^`]+)` \| (?P<status>\w+) \| (?P<reason>.*) \| \$(?P<cost>[\d.]+) \|$"
)


def test_a_change_to_one_market_lists_only_that_markets_jobs_with_reason_and_cost(
    project: Path,
) -> None:
    manifest = project / "campaign.yaml"
    lock_as_if_generated(manifest)
    manifest.write_text(manifest.read_text("utf-8").replace("すぐ沸く。", "一分で沸く。"), "utf-8")
    result = kling("plan", "campaign.yaml", "--format", "markdown", cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| job | status | reason | est. cost |" in lines
    rows = [m.groupdict() for line in lines if (m := ROW.match(line))]
    assert [r["id"] for r in rows] == ["pour/jp/16x9", "pour/jp/9x16"]
    assert {r["status"] for r in rows} == {"changed"}
    assert {r["reason"] for r in rows} == {"prompt changed"}
    estimates = {j.id: j.cost_usd for j in Campaign.open(manifest).job_plan.jobs}
    assert [float(r["cost"]) for r in rows] == [round(estimates[r["id"]], 2) for r in rows]
    total = sum(float(r["cost"]) for r in rows)
    summary = lines[-1]
    assert summary.startswith("**4 jobs: 0 new, 2 changed, 2 unchanged, 0 removed; 2 generations")
    assert summary.endswith(f"estimated ${total:.2f}**")


def test_an_unchanged_manifest_says_nothing_to_generate(project: Path) -> None:
    lock_as_if_generated(project / "campaign.yaml")
    result = kling("plan", "campaign.yaml", "--format", "markdown", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Nothing to generate: every job is unchanged." in result.stdout
    assert "| job |" not in result.stdout
    assert "estimated $0.00" in result.stdout
