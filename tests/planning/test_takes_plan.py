"""Takes in the plan: counted, keyed, costed; rerolls in the lock add takes; a lock from
before takes plans as unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError
from kling_pipe.lock import LockEntry, LockFile, lock_bytes, read_lock, write_lock
from kling_pipe.takes import take_key

Write = Callable[..., Path]

BASE = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5{defaults}}
markets:
  us: {line: "Hello."}
  jp: {line: "こんにちは。"}
matrix:
  market: [us, jp]{include}
shots:
  - id: hero
    prompt: 'Someone says "{{ line }}"'{shot}
"""


def manifest(defaults: str = "", include: str = "", shot: str = "") -> str:
    return (
        BASE.replace("{defaults}", defaults).replace("{include}", include).replace("{shot}", shot)
    )


def store(campaign: Campaign, key: str) -> None:
    path = campaign.workspace.object_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"clip")


def test_takes_in_defaults_plans_each_take_with_its_own_key_and_cost(write_manifest: Write) -> None:
    plan = Campaign.open(write_manifest(manifest(defaults=", takes: 3"))).plan()
    assert [p.take_id for p in plan.jobs] == [
        "hero/us", "hero/us#2", "hero/us#3", "hero/jp", "hero/jp#2", "hero/jp#3",
    ]  # fmt: skip
    us = [p for p in plan.jobs if p.job.id == "hero/us"]
    assert us[1].job.key == take_key(us[0].job.key, 2)
    summary = plan.summary
    assert (summary.jobs, summary.takes, summary.generations) == (2, 6, 6)
    assert summary.cost_usd == pytest.approx(6 * us[0].job.cost_usd)


def test_takes_per_combination_and_on_a_shot_with_the_shot_winning(write_manifest: Write) -> None:
    text = manifest(include="\n  include: [{market: jp, takes: 2}]")
    plan = Campaign.open(write_manifest(text)).plan()
    assert [p.take_id for p in plan.jobs] == ["hero/us", "hero/jp", "hero/jp#2"]
    text = manifest(defaults=", takes: 2", shot="\n    takes: 1")
    assert len(Campaign.open(write_manifest(text)).plan().jobs) == 2


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (manifest(defaults=", takes: 0"), ":4:"),
        (manifest(defaults=", takes: 'two'"), ":4:"),
        (manifest(include="\n  include: [{market: jp, takes: 99}]"), ":10:"),
        (manifest(shot="\n    takes: 0"), ":13:"),
    ],
)
def test_a_bad_takes_is_a_located_error(write_manifest: Write, text: str, where: str) -> None:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(write_manifest(text))
    message = str(caught.value)
    assert "takes" in message and where in message, message


def test_takes_is_not_a_matrix_axis(write_manifest: Write) -> None:
    text = manifest().replace("market: [us, jp]", "market: [us, jp]\n  takes: [1, 2]")
    with pytest.raises(ManifestError, match="takes is not a matrix axis"):
        Campaign.open(write_manifest(text))


def test_a_lock_written_before_takes_plans_as_unchanged_and_is_not_rewritten(
    write_manifest: Write,
) -> None:
    path = write_manifest(manifest())
    campaign = Campaign.open(path)
    entries = {
        j.id: LockEntry(key=j.key, material=j.key_material(), output_sha256=j.key, bytes=4)
        for j in campaign.job_plan.jobs
    }
    write_lock(campaign.lock_path, LockFile(manifest="demo", jobs=entries))
    before = campaign.lock_path.read_bytes()
    assert b'"version": 1' in before
    for job in campaign.job_plan.jobs:
        store(campaign, job.key)
    plan = Campaign.open(path).plan()
    assert {p.status for p in plan.jobs} == {"unchanged"}
    assert plan.summary.generations == 0
    assert lock_bytes(read_lock(campaign.lock_path, "demo")) == before


def test_more_takes_in_the_manifest_plan_only_the_new_takes(write_manifest: Write) -> None:
    path = write_manifest(manifest())
    campaign = Campaign.open(path)
    entries = {
        j.id: LockEntry(key=j.key, material=j.key_material(), output_sha256=j.key)
        for j in campaign.job_plan.jobs
    }
    write_lock(campaign.lock_path, LockFile(manifest="demo", jobs=entries))
    for job in campaign.job_plan.jobs:
        store(campaign, job.key)
    plan = Campaign.open(write_manifest(manifest(defaults=", takes: 2"))).plan()
    statuses = {p.take_id: (p.status, p.reason) for p in plan.jobs}
    assert statuses["hero/us"] == ("unchanged", "")
    assert statuses["hero/us#2"] == ("new", "take 2 not made yet")
    assert plan.summary.generations == 2


def test_a_reroll_in_the_lock_adds_one_take_to_that_job_only(write_manifest: Write) -> None:
    path = write_manifest(manifest())
    campaign = Campaign.open(path)
    entries = {
        j.id: LockEntry(
            key=j.key,
            material=j.key_material(),
            output_sha256=j.key,
            rerolls=1 if j.id == "hero/jp" else 0,
        )
        for j in campaign.job_plan.jobs
    }
    write_lock(campaign.lock_path, LockFile(manifest="demo", jobs=entries))
    for job in campaign.job_plan.jobs:
        store(campaign, job.key)
    plan = Campaign.open(path).plan()
    todo = [(p.take_id, p.reason) for p in plan.to_generate()]
    assert todo == [("hero/jp#2", "take 2: asked for by a reroll")]


def test_take_one_of_a_shipped_job_keeps_the_key_it_had_before_takes() -> None:
    """The key kling-pipe gave this job before takes existed: stores and locks stay valid."""
    repo = Path(__file__).resolve().parents[2]
    campaign = Campaign.open(repo / "pipelines/spring-launch.yaml")
    job = next(j for j in campaign.job_plan.jobs if j.id == "pour/jp/9x16")
    assert job.key == "8bdd408d774bea9ee60f62c4f3594b8bc14d81c90bffa66d2523ab350abe1944"
    assert job.for_take(1).key == job.key


def test_takes_among_a_shots_inputs_says_where_it_goes(write_manifest: Write) -> None:
    text = manifest(shot="\n    inputs: {takes: 2}")
    with pytest.raises(ManifestError, match="takes is not a model input: write it on the shot"):
        Campaign.open(write_manifest(text))
