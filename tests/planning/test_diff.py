from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.lock import LockEntry, LockFile, write_lock

Write = Callable[..., Path]

BASE = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5}
markets:
  us: {line: "Hello."}
  jp: {line: "こんにちは。"}
matrix:
  market: [us, jp]
shots:
  - id: hero
    prompt: 'Someone says "{{ line }}"'
"""


def lock_everything(campaign: Campaign, *, stored: bool = True) -> None:
    """Lock every job with an output; `stored`: the store holds it too."""
    entries = {
        j.id: LockEntry(
            key=j.key,
            material=j.key_material(),
            output_sha256=j.key,  # any hash will do: the plan only asks whether it is stored
            prediction_id=f"p-{j.key[:6]}",
            completed_at="2026-11-20T10:00:00Z",
            cost_usd=j.cost_usd,
        )
        for j in campaign.job_plan.jobs
    }
    write_lock(campaign.lock_path, LockFile(manifest=campaign.name, jobs=entries))
    if stored:
        for job in campaign.job_plan.jobs:
            path = campaign.workspace.object_path(job.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"clip")


def test_a_locked_output_that_no_store_holds_is_lost_with_where_it_was_made(
    write_manifest: Write,
) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path), stored=False)
    plan = Campaign.open(path).plan()
    assert {p.status for p in plan.jobs} == {"lost"}
    us = plan.jobs[0]
    assert us.lost is not None and us.lost.prediction_id is not None
    assert us.lost.prediction_id in us.reason and "2026-11-20" in us.reason
    assert plan.summary.lost == 2
    assert plan.summary.cost_usd == 0  # never counted as new spending...
    assert plan.summary.lost_cost_usd == pytest.approx(2 * 5 * 0.14)  # ...but priced


def test_a_lost_output_found_in_another_store_is_unchanged(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path), stored=False)
    other = path.parent / "elsewhere"
    campaign = Campaign.open(path, store=other)
    for job in campaign.job_plan.jobs:
        target = campaign.workspace.object_path(job.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"clip")
    assert {p.status for p in Campaign.open(path, store=other).plan().jobs} == {"unchanged"}
    assert {p.status for p in Campaign.open(path).plan().jobs} == {"lost"}


def test_without_a_lock_everything_is_new(write_manifest: Write) -> None:
    plan = Campaign.open(write_manifest(BASE)).plan()
    assert [(p.job.id, p.status) for p in plan.jobs] == [("hero/us", "new"), ("hero/jp", "new")]
    assert plan.summary.generations == 2
    assert plan.summary.cost_usd == pytest.approx(2 * 5 * 0.14)


def test_a_locked_manifest_plans_nothing(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    plan = Campaign.open(path).plan()
    assert {p.status for p in plan.jobs} == {"unchanged"}
    assert plan.summary.cost_usd == 0


def test_changing_one_markets_line_changes_exactly_that_job_and_says_why(
    write_manifest: Write,
) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    write_manifest(BASE.replace("こんにちは。", "やあ。"))
    plan = Campaign.open(path).plan()
    assert [(p.job.id, p.status, p.reason) for p in plan.jobs] == [
        ("hero/us", "unchanged", ""),
        ("hero/jp", "changed", "prompt changed"),
    ]
    assert plan.summary.cost_usd == 0.7


def test_changed_input_reason_shows_old_and_new_values(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    write_manifest(BASE.replace("{duration: 5}", "{duration: 10}"))
    plan = Campaign.open(path).plan()
    assert {p.reason for p in plan.jobs} == {"duration 5 → 10"}


def test_changed_model_is_the_reason(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    text = BASE.replace("kwaivgi/kling-v2.6", "kwaivgi/kling-v2.5-turbo-pro").replace(
        "{duration: 5}", "{duration: 5}"
    )
    write_manifest(text)
    reasons = {p.reason for p in Campaign.open(path).plan().jobs}
    expected = "model kwaivgi/kling-v2.6 → kwaivgi/kling-v2.5-turbo-pro"
    assert all(r.startswith(expected) for r in reasons)


def test_jobs_gone_from_the_manifest_are_listed_as_removed(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    text = BASE.replace("market: [us, jp]", "market: [us]")
    write_manifest(text.replace('  jp: {line: "こんにちは。"}\n', ""))
    plan = Campaign.open(path).plan()
    assert plan.removed == ("hero/jp",)


def test_a_renamed_market_reuses_the_locked_output_at_no_cost(write_manifest: Write) -> None:
    path = write_manifest(BASE)
    lock_everything(Campaign.open(path))
    write_manifest(BASE.replace("us:", "usa:").replace("[us, jp]", "[usa, jp]"))
    plan = Campaign.open(path).plan()
    renamed = plan.jobs[0]
    assert (renamed.job.id, renamed.status, renamed.cost_usd) == ("hero/usa", "new", 0.0)
    assert "same output as hero/us in the lock" in renamed.reason
    assert plan.summary.generations == 0


def test_only_limits_the_plan_to_matching_ids(write_manifest: Write) -> None:
    plan = Campaign.open(write_manifest(BASE)).plan(only="*/jp")
    assert [p.job.id for p in plan.jobs] == ["hero/jp"]
