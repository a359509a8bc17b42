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


def lock_everything(campaign: Campaign) -> None:
    entries = {
        j.id: LockEntry(key=j.key, material=j.key_material(), output_sha256="0" * 64)
        for j in campaign.job_plan.jobs
    }
    write_lock(campaign.lock_path, LockFile(manifest=campaign.name, jobs=entries))


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
