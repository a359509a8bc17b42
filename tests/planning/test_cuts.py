from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kling_pipe.campaign import Campaign
from kling_pipe.planning.cuts import plan_cuts

Write = Callable[..., Path]

BASE = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
markets:
  us: {tagline: "Go."}
  jp: {tagline: "行こう。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
  exclude: [{market: jp, aspect_ratio: "9:16"}]
shots:
  - {id: a, prompt: 'Someone says "{{ tagline }}"'}
  - {id: b, prompt: "a kettle"}
cuts:
  - id: spot
    shots: [b, a]
    end_card: {text: "{{ tagline }}"}
"""


def cuts_of(path: Path) -> tuple[list[tuple[str, list[str], str]], list[str]]:
    campaign = Campaign.open(path)
    plan = plan_cuts(campaign.loaded, campaign.job_plan.jobs, campaign.sources.template)
    cuts = [
        (str(c.output), [clip.job.id for clip in c.clips], c.end_card.text if c.end_card else "")
        for c in plan.cuts
    ]
    return cuts, [str(w) for w in plan.warnings]


def test_one_cut_per_market_and_ratio_in_the_cuts_shot_order(write_manifest: Write) -> None:
    cuts, warnings = cuts_of(write_manifest(BASE))
    assert cuts == [
        ("cuts/spot/us/16x9.mp4", ["b/us/16x9", "a/us/16x9"], "Go."),
        ("cuts/spot/us/9x16.mp4", ["b/us/9x16", "a/us/9x16"], "Go."),
        ("cuts/spot/jp/16x9.mp4", ["b/jp/16x9", "a/jp/16x9"], "行こう。"),
    ]
    assert warnings == []


def test_dialogue_of_each_clip_comes_from_its_prompt(write_manifest: Write) -> None:
    campaign = Campaign.open(write_manifest(BASE))
    plan = plan_cuts(campaign.loaded, campaign.job_plan.jobs, campaign.sources.template)
    assert [clip.dialogue for clip in plan.cuts[2].clips] == [(), ("行こう。",)]


def test_a_cut_spanning_only_markets_with_several_ratios_is_ambiguous(
    write_manifest: Write,
) -> None:
    cuts, warnings = cuts_of(write_manifest(BASE + "    per: [market]\n"))
    assert ("cuts/spot/jp.mp4", ["b/jp/16x9", "a/jp/16x9"], "行こう。") in cuts
    assert any("shot b has 2 jobs differing in aspect_ratio" in w for w in warnings)


def test_a_shot_missing_for_a_combination_skips_that_cut_with_a_warning(
    write_manifest: Write,
) -> None:
    campaign = Campaign.open(write_manifest(BASE))
    jobs = [j for j in campaign.job_plan.jobs if j.id != "a/us/9x16"]
    plan = plan_cuts(campaign.loaded, jobs, campaign.sources.template)
    assert [str(c.output) for c in plan.cuts] == ["cuts/spot/us/16x9.mp4", "cuts/spot/jp/16x9.mp4"]
    (warning,) = plan.warnings
    assert "no cut spot for us/9:16: shot(s) a have no job there" in str(warning)
