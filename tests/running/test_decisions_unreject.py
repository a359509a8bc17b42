"""Withdrawing one rejection (the review app's "Unreject") keeps every other decision."""

from __future__ import annotations

from kling_pipe.campaign import Campaign
from kling_pipe.lock import read_lock
from kling_pipe.running.decisions import pick, reject, unreject
from tests.running.test_decisions import campaign  # noqa: F401  (the fixture)


def test_unreject_withdraws_one_rejection_and_keeps_the_pick_and_note(
    campaign: Campaign,  # noqa: F811
) -> None:
    reject(campaign, "hero/us", 1)
    pick(campaign, "hero/us", 2, note="warmer")
    state = unreject(campaign, "hero/us", 1)
    assert (state.picked, state.rejected, state.note) == (2, (), "warmer")
    entry = read_lock(campaign.lock_path, "demo").jobs["hero/us"]
    assert entry.rejected == () and entry.picked is not None and entry.picked.take == 2
    assert unreject(campaign, "hero/us", 2).picked == 2  # not rejected: nothing changes
