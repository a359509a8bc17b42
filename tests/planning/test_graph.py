"""Stages in planning: shots over fewer axes, inputs from other shots, and every mistake in
them reported at its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError
from kling_pipe.lock import Decision, LockEntry, LockFile, write_lock
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.spec import InputSpec, ModelSpec
from kling_pipe.planning.diff import diff_plan
from kling_pipe.planning.jobs import Job
from kling_pipe.takes import take_key

Write = Callable[..., Path]

GRAPH = """
version: 1
name: graph
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: false}
markets:
  us: {line: "Boils fast."}
  jp: {line: "すぐ沸く。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: master
    per: [aspect_ratio]
    prompt: "A presenter at {{ aspect_ratio }}"
  - id: local
    model: kwaivgi/kling-v3-omni-video
    prompt: "The presenter says {{ line }}"
    inputs:
      reference_video: {from: master}
cuts:
  - id: spot
    shots: [master, local]
"""


def jobs_of(path: Path) -> dict[str, Job]:
    return {j.id: j for j in Campaign.open(path).job_plan.jobs}


def at(error: str) -> str:
    """An error without its file name: `LINE:COL: field: message`."""
    return error.split("campaign.yaml:", 1)[1]


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    return [str(p) for p in caught.value.problems if p.severity == "error"]


def test_a_shot_per_ratio_is_one_job_per_ratio_shared_by_every_market(
    write_manifest: Write,
) -> None:
    jobs = jobs_of(write_manifest(GRAPH))
    assert [j for j in jobs if j.startswith("master/")] == ["master/16x9", "master/9x16"]
    assert jobs["master/9x16"].values == {"aspect_ratio": "9:16"}
    assert jobs["master/9x16"].inputs["aspect_ratio"] == "9:16"
    assert sorted(j for j in jobs if j.startswith("local/")) == [
        "local/jp/16x9",
        "local/jp/9x16",
        "local/us/16x9",
        "local/us/9x16",
    ]


def test_an_input_from_a_shot_is_that_shots_job_for_the_shared_axes(
    write_manifest: Write,
) -> None:
    jobs = jobs_of(write_manifest(GRAPH))
    local = jobs["local/jp/9x16"]
    assert local.upstream["reference_video"].job_id == "master/9x16"
    assert local.upstream["reference_video"].key == jobs["master/9x16"].key
    assert local.inputs["reference_video"] == {"from": "master/9x16"}
    assert local.key_material()["inputs"]["reference_video"] == {
        "upstream": jobs["master/9x16"].key
    }


def test_the_downstream_key_follows_the_upstream_key(write_manifest: Write) -> None:
    before = jobs_of(write_manifest(GRAPH))
    after = jobs_of(write_manifest(GRAPH.replace("A presenter at", "A host at")))
    assert before["master/16x9"].key != after["master/16x9"].key
    for market in ("us", "jp"):
        for ratio in ("16x9", "9x16"):
            assert before[f"local/{market}/{ratio}"].key != after[f"local/{market}/{ratio}"].key


def test_a_take_of_the_upstream_is_fed_by_its_own_key(write_manifest: Write) -> None:
    first = jobs_of(
        write_manifest(GRAPH.replace("per: [aspect_ratio]", "per: [aspect_ratio]\n    takes: 2"))
    )
    second = jobs_of(
        write_manifest(
            GRAPH.replace("per: [aspect_ratio]", "per: [aspect_ratio]\n    takes: 2").replace(
                "{from: master}", "{from: master, take: 2}"
            )
        )
    )
    master = second["master/16x9"]
    source = second["local/us/16x9"].upstream["reference_video"]
    assert (source.take, source.key, source.take_id) == (
        2,
        take_key(master.key, 2),
        "master/16x9#2",
    )
    assert first["local/us/16x9"].key != second["local/us/16x9"].key
    assert second["local/us/16x9"].key_material()["inputs"]["reference_video"] == {
        "upstream": master.key,
        "take": 2,
    }


def test_a_take_the_upstream_does_not_have_is_an_error_at_it(write_manifest: Write) -> None:
    errors = errors_of(write_manifest(GRAPH.replace("{from: master}", "{from: master, take: 3}")))
    assert errors and all(at(e).startswith("19:45: ") for e in errors)
    assert "master/16x9 has 1 take(s), not 3: raise `takes:` on master" in errors[0]


def test_a_take_made_by_a_reroll_may_feed_a_downstream(write_manifest: Write) -> None:
    path = write_manifest(GRAPH.replace("{from: master}", "{from: master, take: 2}"))
    assert any("master/16x9 has 1 take(s), not 2" in e for e in errors_of(path))
    master = LockEntry(key="k", material={}, rerolls=1)
    lock = path.with_suffix(".lock.json")
    write_lock(lock, LockFile(manifest="graph", jobs={"master/16x9": master}))
    errors = errors_of(path)  # the 9:16 master was not rerolled
    assert errors and all("master/9x16 has 1 take(s), not 2" in e for e in errors)
    locked = {"master/16x9": master, "master/9x16": master}
    write_lock(lock, LockFile(manifest="graph", jobs=locked))
    jobs = jobs_of(path)
    source = jobs["local/us/16x9"].upstream["reference_video"]
    assert (source.take, source.take_id) == (2, "master/16x9#2")


def test_without_a_take_the_upstream_pick_feeds_the_downstream(write_manifest: Write) -> None:
    text = GRAPH.replace("per: [aspect_ratio]", "per: [aspect_ratio]\n    takes: 2")
    path = write_manifest(text)
    before = Campaign.open(path)
    master = {j.id: j for j in before.job_plan.jobs}["master/16x9"]
    lock = LockFile(
        manifest="graph",
        jobs={j.id: LockEntry(key=j.key, material=j.key_material()) for j in before.job_plan.jobs},
    )
    picked = lock.jobs["master/16x9"].model_copy(
        update={"picked": Decision(take=2, key=take_key(master.key, 2))}
    )
    lock = lock.model_copy(update={"jobs": {**lock.jobs, "master/16x9": picked}})
    write_lock(path.with_name("campaign.lock.json"), lock)
    after = Campaign.open(path)
    jobs = {j.id: j for j in after.job_plan.jobs}
    source = jobs["local/jp/16x9"].upstream["reference_video"]
    assert (source.take, source.picked) == (2, True)
    assert jobs["local/jp/9x16"].upstream["reference_video"].take == 1  # not picked: take 1
    plan = diff_plan("graph", after.job_plan.jobs, lock)
    reasons = {p.job.id: p.reason for p in plan.jobs if p.status == "changed"}
    assert reasons == {
        "local/us/16x9": "upstream master/16x9 take 1 → 2",
        "local/jp/16x9": "upstream master/16x9 take 1 → 2",
    }


def test_plan_says_every_job_below_a_change_changed_because_of_its_upstream(
    write_manifest: Write,
) -> None:
    old = Campaign.open(write_manifest(GRAPH)).job_plan.jobs
    lock = LockFile(
        manifest="graph",
        jobs={j.id: LockEntry(key=j.key, material=j.key_material()) for j in old},
    )
    changed = GRAPH.replace("A presenter at", "A host at")
    new = Campaign.open(write_manifest(changed)).job_plan.jobs
    plan = diff_plan("graph", new, lock)
    reasons = {p.job.id: (p.status, p.reason) for p in plan.jobs}
    assert reasons["master/16x9"] == ("changed", "prompt changed")
    assert reasons["local/jp/16x9"] == ("changed", "upstream master/16x9 changed")
    assert reasons["local/us/9x16"] == ("changed", "upstream master/9x16 changed")


def test_a_cut_of_a_master_and_its_local_versions_is_made_per_market_and_ratio(
    write_manifest: Write,
) -> None:
    campaign = Campaign.open(write_manifest(GRAPH))
    cuts = {str(c.output): [clip.job.id for clip in c.clips] for c in campaign.cut_plan().cuts}
    assert cuts["cuts/spot/jp/9x16.mp4"] == ["master/9x16", "local/jp/9x16"]
    assert len(cuts) == 4


# ---------------------------------------------------------------------- errors at their line


def test_an_unknown_shot_is_an_error_at_its_from_with_a_close_name(write_manifest: Write) -> None:
    errors = errors_of(write_manifest(GRAPH.replace("{from: master}", "{from: mastr}")))
    assert [at(e) for e in errors] == [
        "19:31: shots[1].inputs.reference_video.from: unknown shot 'mastr'; did you mean 'master'?"
    ]


def test_a_cycle_is_an_error_that_names_it(write_manifest: Write) -> None:
    text = GRAPH.replace(
        '    prompt: "A presenter at {{ aspect_ratio }}"',
        '    prompt: "A presenter at {{ aspect_ratio }}"\n'
        "    model: kwaivgi/kling-v3-omni-video\n"
        "    inputs: {reference_video: {from: local}}",
    ).replace("per: [aspect_ratio]", "per: [market, aspect_ratio]")
    errors = errors_of(write_manifest(text))
    assert len(errors) == 1, errors
    assert at(errors[0]).startswith("21:31: shots[1].inputs.reference_video.from: ")
    assert "in a cycle: master → local → master" in errors[0]


def test_a_shot_taking_its_own_output_is_a_cycle(write_manifest: Write) -> None:
    text = GRAPH.replace("{from: master}", "{from: local}")
    errors = errors_of(write_manifest(text))
    assert len(errors) == 1 and "in a cycle: local → local" in errors[0]
    assert at(errors[0]).startswith("19:31: ")


def test_an_image_into_a_video_input_is_an_error_at_its_from(write_manifest: Write) -> None:
    # A video model's output given as a start image: the kinds differ.
    text = GRAPH.replace("reference_video: {from: master}", "start_image: {from: master}")
    errors = errors_of(write_manifest(text))
    assert len(errors) == 1, errors
    assert at(errors[0]).startswith("19:27: shots[1].inputs.start_image.from: ")
    assert "master makes a video (kwaivgi/kling-v2.6)" in errors[0]
    assert "start_image takes an image" in errors[0]


def test_a_shot_output_into_an_input_that_is_no_file_is_an_error(write_manifest: Write) -> None:
    text = GRAPH.replace("reference_video: {from: master}", "prompt_extra: {from: master}")
    errors = errors_of(write_manifest(text))
    assert len(errors) == 1 and at(errors[0]).startswith("19:7: shots[1].inputs.prompt_extra: ")
    assert "unknown input" in errors[0]


def test_an_upstream_spanning_an_axis_the_downstream_does_not_is_an_error(
    write_manifest: Write,
) -> None:
    text = GRAPH.replace("  - id: master\n    per: [aspect_ratio]\n", "  - id: master\n").replace(
        '    prompt: "The presenter says',
        '    per: [aspect_ratio]\n    prompt: "The presenter says',
    )
    text = text.replace("The presenter says {{ line }}", "The presenter")
    errors = errors_of(write_manifest(text))
    assert len(errors) == 1, errors
    assert at(errors[0]).startswith("19:31: ")
    assert "master spans market, which local does not (per: [aspect_ratio])" in errors[0]


def test_per_naming_no_axis_is_an_error_at_it(write_manifest: Write) -> None:
    errors = errors_of(write_manifest(GRAPH.replace("per: [aspect_ratio]", "per: [ratio]")))
    assert len(errors) == 1, errors
    assert (
        at(errors[0]).startswith("13:11: shots[0].per[0]: ")
        and "'ratio' is not a matrix axis" in errors[0]
    )


def test_a_bad_take_and_an_unknown_key_are_errors_at_them(write_manifest: Write) -> None:
    errors = errors_of(write_manifest(GRAPH.replace("{from: master}", "{from: master, take: 0}")))
    assert len(errors) == 1 and at(errors[0]).startswith("19:45: ") and "take must be" in errors[0]
    errors = errors_of(write_manifest(GRAPH.replace("{from: master}", "{from: master, tak: 2}")))
    assert (
        len(errors) == 1 and "unknown key 'tak'" in errors[0] and "did you mean 'take'" in errors[0]
    )


STILLS = ModelSpec(
    ref="acme/stills",
    inputs={
        "prompt": InputSpec("prompt", "string", required=True),
        "aspect_ratio": InputSpec(
            "aspect_ratio", "string", default="1:1", choices=("16:9", "9:16")
        ),
    },
    price_per_second=0.03,
    output_kind="image",
)

KEYFRAMES = """
version: 1
name: keys
model: kwaivgi/kling-v2.1
matrix:
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: keyframe
    model: acme/stills
    prompt: "A kettle on white"
  - id: animate
    prompt: "The kettle steams"
    inputs: {start_image: {from: keyframe}, duration: 5}
cuts:
  - id: spot
    shots: [animate, keyframe]
"""


def test_a_cut_naming_an_image_shot_is_an_error_at_that_entry_naming_its_animation(
    write_manifest: Write,
) -> None:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(write_manifest(KEYFRAMES), bundled_registry().with_specs([STILLS]))
    errors = [str(p) for p in caught.value.problems if p.severity == "error"]
    assert len(errors) == 1, errors
    assert at(errors[0]).startswith("15:22: cuts[0].shots[1]: ")
    assert "shot 'keyframe' makes images (acme/stills)" in errors[0]
    assert "name the shot that animates it (animate)" in errors[0]
    # Naming the animation alone plans a cut per ratio.
    fixed = write_manifest(KEYFRAMES.replace("[animate, keyframe]", "[animate]"))
    cuts = Campaign.open(fixed, bundled_registry().with_specs([STILLS])).cut_plan().cuts
    assert [c.output.as_posix() for c in cuts] == ["cuts/spot/16x9.mp4", "cuts/spot/9x16.mp4"]
