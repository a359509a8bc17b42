"""Review decisions in the lock: pick, reject, unpick, note, reroll, and the review state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError
from kling_pipe.lock import LockedOutput, read_lock, record_take
from kling_pipe.running.decisions import (
    annotate,
    job_review,
    pick,
    pick_changes_since,
    reject,
    reroll,
    review_states,
    unpick,
)

Write = Callable[..., Path]

MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, takes: 2}
markets:
  us: {line: "Hello."}
  jp: {line: "こんにちは。"}
matrix:
  market: [us, jp]
shots:
  - id: hero
    prompt: 'A kettle, {{ line }}'
"""


def made(campaign: Campaign, job_id: str, *takes: int) -> None:
    """Record `takes` of a job in the lock, with their outputs in the store."""
    job = next(j for j in campaign.job_plan.jobs if j.id == job_id)
    for take in takes:
        this = job.for_take(take)
        sha = this.key  # any hash will do
        path = campaign.workspace.object_path(sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"clip")
        output = LockedOutput(key=this.key, output_sha256=sha, bytes=4, cost_usd=0.35)
        record_take(
            campaign.lock_path,
            campaign.name,
            {(job.id, take): (job.key, job.key_material(), output)},
        )


@pytest.fixture
def campaign(write_manifest: Write) -> Campaign:
    opened = Campaign.open(write_manifest(MANIFEST))
    made(opened, "hero/us", 1, 2)
    made(opened, "hero/jp", 1, 2)
    return opened


def test_a_pick_is_recorded_with_its_take_key_and_note(campaign: Campaign) -> None:
    state = pick(campaign, "hero/jp", 2, note="best steam")
    assert (state.picked, state.note, state.needs_review, state.status) == (
        2,
        "best steam",
        False,
        "picked",
    )
    entry = read_lock(campaign.lock_path, "demo").jobs["hero/jp"]
    assert entry.picked is not None and entry.picked.key == state.takes[1].key
    assert [t.status for t in job_review(campaign, "hero/jp").takes] == ["unreviewed", "picked"]


def test_the_cut_uses_the_pick_else_the_first_take_not_rejected(campaign: Campaign) -> None:
    assert job_review(campaign, "hero/us").chosen() == 1
    assert reject(campaign, "hero/us", 1).chosen() == 2
    assert pick(campaign, "hero/us", 1).chosen() == 1  # picking withdraws the rejection
    state = reject(campaign, "hero/us", 1)  # rejecting the pick withdraws the pick
    assert (state.picked, state.rejected, state.chosen()) == (None, (1,), 2)
    state = unpick(campaign, "hero/us")
    assert (state.picked, state.rejected, state.chosen()) == (None, (), 1)


def test_unknown_jobs_and_takes_are_errors_that_say_what_there_is(campaign: Campaign) -> None:
    with pytest.raises(InputError, match=r"no job 'hero/jpn'.*did you mean 'hero/jp'"):
        pick(campaign, "hero/jpn", 1)
    with pytest.raises(InputError, match=r"hero/jp has no take 3: it has takes 1-2.*reroll"):
        pick(campaign, "hero/jp", 3)
    reroll(campaign, ["hero/jp"])
    with pytest.raises(InputError, match="take 3 is not made yet"):
        pick(campaign, "hero/jp", 3)
    with pytest.raises(InputError, match="matches no job"):
        reroll(campaign, ["shot/*"])


def test_a_reroll_adds_one_take_to_the_matching_jobs_only(campaign: Campaign) -> None:
    assert reroll(campaign, ["hero/j*"]) == [("hero/jp", 3)]
    assert reroll(campaign, ["hero/*"]) == [("hero/us", 3), ("hero/jp", 4)]
    lock = read_lock(campaign.lock_path, "demo")
    assert (lock.jobs["hero/jp"].rerolls, lock.jobs["hero/us"].rerolls) == (2, 1)
    plan = Campaign.open(campaign.loaded.path).plan()
    assert [p.take_id for p in plan.to_generate()] == ["hero/us#3", "hero/jp#3", "hero/jp#4"]
    assert job_review(campaign, "hero/jp").status == "rerolled"


def test_a_pick_of_inputs_that_changed_is_history_and_the_job_needs_review(
    campaign: Campaign, write_manifest: Write
) -> None:
    pick(campaign, "hero/jp", 2)
    changed = Campaign.open(write_manifest(MANIFEST.replace("こんにちは。", "やあ。")))
    state = job_review(changed, "hero/jp")
    assert state.picked is None and state.needs_review
    assert state.previous_pick is not None and state.previous_pick.take == 2
    assert [t.status for t in state.takes] == ["not made", "not made"]
    with pytest.raises(InputError, match="made for inputs that have changed"):
        pick(changed, "hero/jp", 2)
    assert job_review(changed, "hero/us").takes[0].status == "unreviewed"  # untouched


def test_notes_are_set_and_cleared(campaign: Campaign) -> None:
    assert annotate(campaign, "hero/us", "  too dark  ").note == "too dark"
    assert annotate(campaign, "hero/us", "").note is None


def test_concurrent_decisions_on_one_lock_are_all_kept(campaign: Campaign) -> None:
    """Each edit re-reads the lock under the folder's flock: none is lost to a stale read."""
    errors: list[BaseException] = []

    def decide(i: int) -> None:
        try:
            job = "hero/us" if i % 2 else "hero/jp"
            if i % 3:
                annotate(campaign, job, f"note {i}")
            else:
                reroll(campaign, [job])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    lock = read_lock(campaign.lock_path, "demo")
    rerolls = sum(1 for i in range(24) if i % 3 == 0)
    assert lock.jobs["hero/us"].rerolls + lock.jobs["hero/jp"].rerolls == rerolls
    assert lock.jobs["hero/us"].takes and lock.jobs["hero/jp"].takes  # outputs kept too


def test_review_states_list_every_job_in_plan_order(campaign: Campaign) -> None:
    assert [s.job.id for s in review_states(campaign)] == ["hero/us", "hero/jp"]


def test_picks_since_an_older_lock_name_the_take_before_and_after(campaign: Campaign) -> None:
    old = read_lock(campaign.lock_path, "demo")
    pick(campaign, "hero/jp", 2)
    reject(campaign, "hero/us", 1)
    changes = pick_changes_since(campaign, old)
    assert [(c.job_id, c.before, c.after) for c in changes] == [
        ("hero/us", 1, 2),
        ("hero/jp", 1, 2),
    ]
    assert changes[1].describe() == "pick hero/jp: take 1 → 2"  # the manifest has no cuts
    assert pick_changes_since(campaign, read_lock(campaign.lock_path, "demo")) == ()
