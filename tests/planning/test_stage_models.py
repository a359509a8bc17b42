"""Kling v3 storyboards, omni references and lip-sync lines in a manifest: each error at its
line, and the prices in the plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError, Problem

Write = Callable[..., Path]

V3 = """\
version: 1
name: board
model: kwaivgi/kling-v3-video
defaults: {duration: 6, mode: standard}
vars: {brand: Acme}
markets:
  us: {product: Kettle}
  jp: {product: ケトル}
matrix:
  market: [us, jp]
shots:
  - id: story
    prompt: "{{ brand }} {{ product }} story"
    storyboard:
      - prompt: "Wide: the {{ product }} on a counter"
        duration: 2
      - prompt: "Close: steam from the {{ product }}"
        duration: 4
"""


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    return [p for p in caught.value.problems if p.severity == "error"]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_storyboard_renders_to_multi_prompt_exactly_as_the_model_takes_it(
    write_manifest: Write,
) -> None:
    jobs = {j.id: j for j in Campaign.open(write_manifest(V3)).job_plan.jobs}
    job = jobs["story/jp"]
    assert job.inputs["multi_prompt"] == (
        '[{"prompt":"Wide: the ケトル on a counter","duration":2},'
        '{"prompt":"Close: steam from the ケトル","duration":4}]'
    )
    assert json.loads(str(job.inputs["multi_prompt"]))[1]["duration"] == 4
    # the storyboard is part of what the job makes: a change to it changes the key
    other = {
        j.id: j
        for j in Campaign.open(write_manifest(V3.replace("steam from", "steam off"))).job_plan.jobs
    }
    assert other["story/jp"].key != job.key


def test_storyboard_that_does_not_add_up_is_an_error_at_the_storyboard(
    write_manifest: Write,
) -> None:
    text = V3.replace("duration: 4", "duration: 3")
    found = problems_of(write_manifest(text))
    assert {p.location.line for p in found if p.location} == {line_of(text, "storyboard:")}
    assert "the shots last 5 s in all but the clip's duration is 6 s" in found[0].message
    assert f"campaign.yaml:{line_of(text, 'defaults:')}" in found[0].message


def test_a_seventh_storyboard_shot_is_an_error_at_that_entry(write_manifest: Write) -> None:
    entries = "".join(f'      - prompt: "beat {i}"\n        duration: 1\n' for i in range(7))
    text = V3.split("    storyboard:\n")[0] + "    storyboard:\n" + entries
    text = text.replace("duration: 6,", "duration: 7,")
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None
    assert problem.location.line == line_of(text, 'prompt: "beat 6"')
    assert "shot 7 is one too many" in problem.message
    assert problem.field_path == "shots[0].storyboard[6]"


def test_a_storyboard_shot_under_one_second_is_an_error_at_its_duration(
    write_manifest: Write,
) -> None:
    text = V3.replace("duration: 2", "duration: 0")
    found = problems_of(write_manifest(text))
    assert found[0].location is not None
    assert found[0].location.line == line_of(text, "duration: 0")
    assert "greater than or equal to 1" in found[0].message


def test_storyboard_on_a_model_without_one_is_an_error(write_manifest: Write) -> None:
    text = V3.replace("kwaivgi/kling-v3-video", "kwaivgi/kling-v2.6").replace(
        "duration: 6, mode: standard", "duration: 5"
    )
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None and problem.location.line == line_of(text, "storyboard:")
    assert "kwaivgi/kling-v2.6 takes no storyboard" in problem.message
    assert "kwaivgi/kling-v3-video" in problem.message


def test_storyboard_template_errors_point_at_the_entry(write_manifest: Write) -> None:
    text = V3.replace("steam from the {{ product }}", "steam from {{ produkt }}")
    found = problems_of(write_manifest(text))
    assert found[0].location is not None
    assert found[0].location.line == line_of(text, "produkt")


OMNI = """\
version: 1
name: refs
model: kwaivgi/kling-v3-omni-video
shots:
  - id: meet
    prompt: "<<<image_1>>> meets <<<image_2>>>"
    inputs:
      reference_images: [a.png]
"""


def test_omni_prompt_reference_beyond_the_images_is_an_error_at_the_prompt(
    write_manifest: Write, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    (problem,) = problems_of(write_manifest(OMNI))
    assert problem.location is not None and problem.location.line == line_of(OMNI, "prompt:")
    assert "<<<image_2>>> names image 2 but reference_images has 1" in problem.message


def test_omni_storyboard_references_are_checked_per_entry(
    write_manifest: Write, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    text = OMNI.replace("meets <<<image_2>>>", "waves") + (
        "    storyboard:\n"
        '      - prompt: "<<<image_1>>> waves"\n'
        "        duration: 2\n"
        '      - prompt: "<<<video_1>>> plays"\n'
        "        duration: 3\n"
    )
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None and problem.location.line == line_of(text, "<<<video_1>>>")
    assert "shot 2: <<<video_1>>> names video 1 but reference_video has none" in problem.message


def test_omni_audio_with_reference_video_and_too_many_images_are_errors_at_their_lines(
    write_manifest: Write, tmp_path: Path
) -> None:
    for name in "abcde":
        (tmp_path / f"{name}.png").write_bytes(name.encode())
    text = (
        OMNI.replace("meets <<<image_2>>>", "dances")
        .replace("[a.png]", "[a.png, b.png, c.png, d.png, e.png]")
        .replace(
            "    inputs:\n",
            "    inputs:\n      reference_video: https://x/v.mp4\n      generate_audio: true\n",
        )
    )
    found = {p.field_path: p for p in problems_of(write_manifest(text))}
    images = found["shots[0].inputs.reference_images"]
    assert images.location is not None
    assert images.location.line == line_of(text, "reference_images")
    assert "has 5 items" in images.message and "at most 4 with a reference_video" in images.message
    audio = found["shots[0].inputs.generate_audio"]
    assert audio.location is not None and audio.location.line == line_of(text, "generate_audio")


def test_end_image_without_start_image_is_an_error_at_its_line(write_manifest: Write) -> None:
    text = V3.replace(
        "    storyboard:", "    inputs: {end_image: https://x/end.png}\n    storyboard:"
    )
    found = problems_of(write_manifest(text))
    assert {p.field_path for p in found} == {"shots[0].inputs.end_image"}
    assert found[0].location is not None
    assert found[0].location.line == line_of(text, "end_image")
    assert "needs start_image" in found[0].message


LIP = """\
version: 1
name: dub
model: kwaivgi/kling-lip-sync
markets:
  us: {line: "Boils in sixty seconds.", voice: en_AOT}
  de: {line: "%s", voice: en_uk_man2}
matrix:
  market: [us, de]
shots:
  - id: dub
    inputs:
      video_url: https://x/master.mp4
      text: "{{ line }}"
      voice_id: "{{ voice }}"
"""


def test_lip_sync_line_over_120_characters_names_the_market_and_its_length(
    write_manifest: Write,
) -> None:
    text = LIP % ("Kocht in sechzig Sekunden. " * 5).strip()
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None and problem.location.line == line_of(text, "text:")
    assert "is 134 characters long" in problem.message
    assert "at most 120" in problem.message and "(market de)" in problem.message
    assert problem.job == "dub/de"


def test_lip_sync_priced_on_the_longest_input_when_its_length_is_unknown(
    write_manifest: Write,
) -> None:
    jobs = Campaign.open(write_manifest(LIP % "Kocht schnell.")).job_plan.jobs
    assert [j.cost_usd for j in jobs] == [pytest.approx(0.14), pytest.approx(0.14)]


def test_v3_plan_costs_follow_mode_and_audio(write_manifest: Write) -> None:
    text = V3.replace(
        "matrix:\n  market: [us, jp]", "matrix:\n  market: [us]\n  mode: [standard, pro]"
    )
    text = text.replace("mode: standard", "generate_audio: true")
    jobs = {j.id: j for j in Campaign.open(write_manifest(text)).job_plan.jobs}
    assert jobs["story/us/standard"].cost_usd == pytest.approx(6 * 0.252)
    assert jobs["story/us/pro"].cost_usd == pytest.approx(6 * 0.336)


def test_a_prompt_on_a_model_without_one_is_an_error_at_its_line(write_manifest: Write) -> None:
    text = (LIP % "Kocht schnell.").replace("  - id: dub\n", '  - id: dub\n    prompt: "say it"\n')
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None and problem.location.line == line_of(text, "say it")
    assert "kwaivgi/kling-lip-sync takes no prompt" in problem.message


def test_a_shot_without_a_prompt_for_a_model_that_needs_one_is_an_error(
    write_manifest: Write,
) -> None:
    text = V3.replace('    prompt: "{{ brand }} {{ product }} story"\n', "")
    (problem,) = problems_of(write_manifest(text))
    assert problem.location is not None and problem.location.line == line_of(text, "- id: story")
    assert "needs a prompt" in problem.message


def test_a_shot_of_another_model_takes_only_the_defaults_it_has(write_manifest: Write) -> None:
    text = V3.replace("matrix:\n  market: [us, jp]", "matrix:\n  market: [us]") + (
        "  - id: dub\n"
        "    model: kwaivgi/kling-lip-sync\n"
        "    inputs: {video_url: https://x/master.mp4, text: Hi}\n"
    )
    jobs = {j.id: j for j in Campaign.open(write_manifest(text)).job_plan.jobs}
    assert "mode" not in jobs["dub/us"].inputs and "duration" not in jobs["dub/us"].inputs
    assert jobs["story/us"].inputs["mode"] == "standard"


def test_a_rule_error_names_the_market_only_when_the_value_varies_by_market(
    write_manifest: Write,
) -> None:
    text = V3.replace(
        "    storyboard:", "    inputs: {end_image: https://x/end.png}\n    storyboard:"
    )
    messages = [p.message for p in problems_of(write_manifest(text))]
    assert len(messages) == 1 and "(market" not in messages[0]  # one error, for every market
