"""pipelines/dubbed-launch.yaml, planned: a master per ratio, a lip-sync per market and ratio,
and a change to one market touching exactly that market's lip-syncs and cuts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.lock import LockEntry, LockFile
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.planning.cuts import cut_changes
from kling_pipe.planning.diff import diff_plan

REPO = Path(__file__).resolve().parents[2]
MARKETS = ("us", "cn", "de")
RATIOS = ("16x9", "9x16")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The pipeline and the asset it names, in a project of their own."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "pipelines").mkdir()
    shutil.copy(REPO / "pipelines/dubbed-launch.yaml", tmp_path / "pipelines")
    (tmp_path / "examples/assets").mkdir(parents=True)
    shutil.copy(REPO / "examples/assets/line_de.m4a", tmp_path / "examples/assets")
    return tmp_path / "pipelines/dubbed-launch.yaml"


def test_the_plan_costs_a_master_per_ratio_and_a_lip_sync_per_market_and_ratio() -> None:
    campaign = Campaign.open(REPO / "pipelines/dubbed-launch.yaml")
    jobs = {j.id: j for j in campaign.job_plan.jobs}
    registry = bundled_registry()
    master_spec = registry.get("kwaivgi/kling-v2.6")
    lip_sync = registry.get("kwaivgi/kling-lip-sync")
    assert master_spec is not None and lip_sync is not None
    masters = [j for j in jobs if j.startswith("master/")]
    dubs = [j for j in jobs if j.startswith("dub/")]
    assert masters == [f"master/{r}" for r in RATIOS]
    assert sorted(dubs) == sorted(f"dub/{m}/{r}" for m in MARKETS for r in RATIOS)
    # A master: 5 s with audio; a lip-sync: billed on its master's 5 s.
    assert jobs["master/16x9"].cost_usd == pytest.approx(
        5 * master_spec.price_per_second_with_audio
    )
    for dub in dubs:
        assert jobs[dub].duration == 5
        assert jobs[dub].cost_usd == pytest.approx(5 * lip_sync.price_per_second)
        assert jobs[dub].has_audio
    plan = campaign.plan()
    generating = {p.job.id for p in plan.to_generate()}
    assert {*masters, *dubs} <= generating
    expected = sum(jobs[j].cost_usd for j in generating)
    assert plan.summary.cost_usd == pytest.approx(expected)
    assert plan.summary.generations == 2 + 6 + 2  # masters, lip-syncs, pack shots


def test_each_market_speaks_its_line_with_a_voice_or_from_an_audio_file() -> None:
    jobs = {j.id: j for j in Campaign.open(REPO / "pipelines/dubbed-launch.yaml").job_plan.jobs}
    us, de = jobs["dub/us/9x16"], jobs["dub/de/9x16"]
    assert us.inputs["text"].startswith("Meet the Acme Kettle")
    assert us.inputs["voice_id"].startswith("en_")
    assert "audio_file" not in us.inputs
    assert "text" not in de.inputs and "voice_id" not in de.inputs
    assert de.inputs["audio_file"] == "../examples/assets/line_de.m4a"
    assert "audio_file" in de.files
    assert us.upstream["video_url"].job_id == "master/9x16"


def locked(path: Path) -> LockFile:
    jobs = Campaign.open(path).job_plan.jobs
    return LockFile(
        manifest="dubbed-launch",
        jobs={j.id: LockEntry(key=j.key, material=j.key_material()) for j in jobs},
    )


def changes_after(path: Path, old: str, new: str) -> tuple[dict[str, str], dict[str, str]]:
    lock = locked(path)
    path.write_text(path.read_text().replace(old, new))
    campaign = Campaign.open(path)
    plan = diff_plan("dubbed-launch", campaign.job_plan.jobs, lock)
    statuses = {p.job.id: p.status for p in plan.jobs}
    cuts = {c.id: c.status for c in cut_changes(campaign.cut_plan().cuts, statuses)}
    changed_jobs = {p.job.id: p.reason for p in plan.jobs if p.status != "unchanged"}
    changed_cuts = {cut: status for cut, status in cuts.items() if status != "unchanged"}
    return changed_jobs, changed_cuts


def test_a_change_of_one_markets_line_marks_exactly_its_lip_syncs_and_cuts(project: Path) -> None:
    jobs, cuts = changes_after(project, "六十秒就能烧开。", "一分钟就能烧开。")
    line = "text '认识Acme电水壶，六十秒就能烧开。' → '认识Acme电水壶，一分钟就能烧开。'"
    assert jobs == {"dub/cn/16x9": line, "dub/cn/9x16": line}
    assert cuts == {"spot/cn/16x9": "changed", "spot/cn/9x16": "changed"}


def test_a_change_of_one_markets_audio_file_marks_exactly_its_lip_syncs(project: Path) -> None:
    asset = project.parent.parent / "examples/assets/line_de.m4a"
    lock = locked(project)
    asset.write_bytes(asset.read_bytes() + b"\0")
    plan = diff_plan("dubbed-launch", Campaign.open(project).job_plan.jobs, lock)
    changed = {p.job.id: p.reason for p in plan.jobs if p.status != "unchanged"}
    assert changed == {
        "dub/de/16x9": "file audio_file changed",
        "dub/de/9x16": "file audio_file changed",
    }


def test_a_change_of_the_master_marks_every_lip_sync_below_it(project: Path) -> None:
    jobs, cuts = changes_after(project, "bright kitchen studio", "sunny kitchen studio")
    assert set(jobs) == {f"master/{r}" for r in RATIOS} | {
        f"dub/{m}/{r}" for m in MARKETS for r in RATIOS
    }
    for market in MARKETS:
        for ratio in RATIOS:
            assert jobs[f"dub/{market}/{ratio}"] == f"upstream master/{ratio} changed"
    assert len(cuts) == 6
