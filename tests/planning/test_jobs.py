from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError

Write = Callable[..., Path]

BASE = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: false, negative_prompt: "blurry {{ brand }}"}
vars: {brand: Acme}
markets:
  us: {product: Kettle, line: "Boils fast."}
  jp: {product: ケトル, line: "すぐ沸く。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: hero
    prompt: "{{ brand }} {{ product }} at {{ aspect_ratio }}"
"""


PROMPT = '    prompt: "{{ brand }} {{ product }} at {{ aspect_ratio }}"'


def jobs_of(path: Path) -> dict[str, object]:
    return {j.id: j for j in Campaign.open(path).job_plan.jobs}


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    return [str(p) for p in caught.value.problems if p.severity == "error"]


def test_jobs_are_shots_times_combinations_with_readable_ids(write_manifest: Write) -> None:
    campaign = Campaign.open(write_manifest(BASE))
    assert [j.id for j in campaign.job_plan.jobs] == [
        "hero/us/16x9",
        "hero/us/9x16",
        "hero/jp/16x9",
        "hero/jp/9x16",
    ]
    job = campaign.job_plan.jobs[2]
    assert job.inputs["prompt"] == "Acme ケトル at 16:9"
    assert job.inputs["negative_prompt"] == "blurry Acme"
    assert job.values == {"market": "jp", "aspect_ratio": "16:9"}
    assert job.cost_usd == pytest.approx(0.35)


def test_input_precedence_is_model_then_defaults_then_matrix_then_shot(
    write_manifest: Write,
) -> None:
    text = BASE.replace("defaults: {", "defaults: {aspect_ratio: '1:1', ") + (
        "    inputs: {duration: 10}\n"
    )
    job = Campaign.open(write_manifest(text)).job_plan.jobs[1]
    assert job.inputs["aspect_ratio"] == "9:16"  # matrix beats defaults
    assert job.inputs["duration"] == 10  # shot beats defaults
    assert job.inputs["generate_audio"] is False  # defaults beat the model
    assert "start_image" not in job.inputs  # no default for it anywhere


def test_matrix_values_are_data_and_never_rendered(write_manifest: Write) -> None:
    text = BASE.replace('line: "Boils fast."', 'line: "{{ brand }} raw"').replace(
        "at {{ aspect_ratio }}", "says {{ line }}"
    )
    job = jobs_of(write_manifest(text))["hero/us/16x9"]
    assert job.inputs["prompt"].endswith("says {{ brand }} raw")  # type: ignore[attr-defined]


def test_key_ignores_yaml_order_market_names_and_comments(write_manifest: Write) -> None:
    first = jobs_of(write_manifest(BASE))
    reordered = (
        BASE.replace("us: {product: Kettle", "usa: {product: Kettle")
        .replace("market: [us, jp]", "market: [jp, usa]  # renamed")
        .replace("vars: {brand: Acme}", "# brand\nvars: {brand: Acme}")
        .replace("{duration: 5, generate_audio: false,", "{generate_audio: false, duration: 5,")
    )
    second = jobs_of(write_manifest(reordered, name="other.yaml"))
    assert first["hero/us/16x9"].key == second["hero/usa/16x9"].key  # type: ignore[attr-defined]
    assert first["hero/jp/9x16"].key == second["hero/jp/9x16"].key  # type: ignore[attr-defined]


def test_identical_inputs_share_one_key(write_manifest: Write) -> None:
    text = BASE.replace("{{ brand }} {{ product }} at {{ aspect_ratio }}", "{{ brand }}")
    keys = {j.key for j in Campaign.open(write_manifest(text)).job_plan.jobs}  # type: ignore[attr-defined]
    assert len(keys) == 2  # one per aspect ratio; markets do not enter the key


def test_salt_changes_every_key(write_manifest: Write) -> None:
    plain = jobs_of(write_manifest(BASE))
    salted = jobs_of(write_manifest(BASE + 'salt: "take-2"\n', name="salted.yaml"))
    assert all(plain[i].key != salted[i].key for i in plain)  # type: ignore[attr-defined]


def test_local_file_content_enters_the_key_but_its_path_does_not(
    write_manifest: Write, tmp_path: Path
) -> None:
    shot = "    inputs: {start_image: assets/a.png}\n"
    path = write_manifest(BASE + shot, files={"assets/a.png": "one"})
    first = jobs_of(path)["hero/us/16x9"]
    (tmp_path / "assets" / "b.png").write_text("one")
    moved = jobs_of(write_manifest(BASE + shot.replace("a.png", "b.png"), name="m2.yaml"))
    (tmp_path / "assets" / "a.png").write_text("two")
    changed = jobs_of(path)["hero/us/16x9"]
    assert first.key == moved["hero/us/16x9"].key  # type: ignore[attr-defined]
    assert first.key != changed.key  # type: ignore[attr-defined]
    assert first.files["start_image"] != changed.files["start_image"]  # type: ignore[attr-defined]


def test_missing_local_file_is_an_error_at_its_line(write_manifest: Write) -> None:
    path = write_manifest(BASE + "    inputs: {start_image: assets/nope.png}\n")
    assert errors_of(path) == [
        f"{path}:15:27: shots[0].inputs.start_image: file 'assets/nope.png' does not exist "
        "(paths are relative to the manifest's folder) (job hero/us/16x9)"
    ]


def test_unknown_input_gets_did_you_mean(write_manifest: Write) -> None:
    path = write_manifest(BASE + "    inputs: {audio: true}\n")
    (error,) = errors_of(path)
    assert error.startswith(
        f"{path}:15:14: shots[0].inputs.audio: unknown input for kwaivgi/kling-v2.6; "
        "did you mean 'generate_audio'?"
    )


def test_image_suggests_start_image(write_manifest: Write) -> None:
    (error,) = errors_of(write_manifest(BASE + "    inputs: {image: x.png}\n"))
    assert "did you mean 'start_image'?" in error


def test_out_of_range_value_names_the_allowed_ones(write_manifest: Write) -> None:
    path = write_manifest(BASE.replace("duration: 5,", "duration: 7,"))
    assert errors_of(path) == [
        f"{path}:4:22: defaults.duration: 7 is not allowed; use one of 5, 10 (job hero/us/16x9)"
    ]


def test_matrix_value_that_sets_an_input_is_checked_at_the_matrix(write_manifest: Write) -> None:
    path = write_manifest(BASE.replace('["16:9", "9:16"]', '["16:9", "4:3"]'))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:11:26: matrix.aspect_ratio[1]: '4:3' is not allowed")


def test_wrong_type_is_reported(write_manifest: Write) -> None:
    (error,) = errors_of(write_manifest(BASE.replace("generate_audio: false", "generate_audio: 1")))
    assert "generate_audio: must be true or false, got int 1" in error


def test_missing_required_input_is_reported_at_the_shot(write_manifest: Write) -> None:
    text = (
        BASE.replace("kwaivgi/kling-v2.6", "kwaivgi/kling-v2.1")
        .replace('  aspect_ratio: ["16:9", "9:16"]\n', "")
        .replace("defaults: {duration: 5, generate_audio: false, ", "defaults: {duration: 5, ")
        .replace(" at {{ aspect_ratio }}", "")
    )
    errors = errors_of(write_manifest(text))
    assert errors and all("start_image: is required by kwaivgi/kling-v2.1" in e for e in errors)


def test_unknown_model_lists_the_known_ones(write_manifest: Write) -> None:
    (error,) = errors_of(write_manifest(BASE.replace("kwaivgi/kling-v2.6", "kwaivgi/kling-v9")))
    assert "unknown model 'kwaivgi/kling-v9'; known models: kwaivgi/kling-lip-sync" in error


def test_render_error_names_the_job_and_the_template_file_and_line(
    write_manifest: Write,
) -> None:
    text = BASE.replace(PROMPT, "    prompt: \"{% include 'h.j2' %}\"")
    path = write_manifest(text, files={"templates/h.j2": "line one\n{{ missing_var }}\n"})
    (error,) = errors_of(path)
    assert error == (
        f"{path.parent}/templates/h.j2:2:4: shots[0].prompt: undefined variable 'missing_var' "
        "(defined: aspect_ratio, brand, line, market, product, shot) "
        f"(included at {path}:14:13) (job hero/us/16x9)"
    )


def test_render_error_in_a_block_prompt_points_at_the_manifest_line(write_manifest: Write) -> None:
    text = BASE.replace(
        '    prompt: "{{ brand }} {{ product }} at {{ aspect_ratio }}"',
        "    prompt: |\n      first line\n      {{ nope }}",
    )
    path = write_manifest(text)
    assert errors_of(path) == [
        f"{path}:16:10: shots[0].prompt: undefined variable 'nope' "
        "(defined: aspect_ratio, brand, line, market, product, shot) (job hero/us/16x9)"
    ]


def test_sandbox_escape_is_refused(write_manifest: Write) -> None:
    text = BASE.replace(
        '"{{ brand }} {{ product }} at {{ aspect_ratio }}"',
        "\"{{ ''.__class__.__mro__[1].__subclasses__() }}\"",
    )
    (error,) = errors_of(write_manifest(text))
    assert "refused by the template sandbox" in error


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/passwd"])
def test_includes_outside_templates_folders_are_refused(write_manifest: Write, name: str) -> None:
    text = BASE.replace(
        '"{{ brand }} {{ product }} at {{ aspect_ratio }}"', f"\"{{% include '{name}' %}}\""
    )
    (error,) = errors_of(write_manifest(text, files={"secret.txt": "top secret"}))
    assert "template not found" in error
    assert "top secret" not in error


def test_filters_for_prompt_writers(write_manifest: Write) -> None:
    text = BASE.replace(
        '"{{ brand }} {{ product }} at {{ aspect_ratio }}"',
        '\'{{ aspect_ratio | ratio_slug }} {{ "say \\"hi\\"" | dialogue }}\'',
    )
    job = Campaign.open(write_manifest(text)).job_plan.jobs[1]
    assert job.inputs["prompt"] == "9x16 \"say 'hi'\""


def test_dialogue_with_audio_off_is_a_warning(write_manifest: Write) -> None:
    text = BASE.replace(PROMPT, "    prompt: '{{ product }} says \"{{ line }}\"'")
    warnings = [str(w) for w in Campaign.open(write_manifest(text)).job_plan.warnings]
    expected = "quoted dialogue but kwaivgi/kling-v2.6 runs with generate_audio off"
    assert any(expected in w for w in warnings)


def test_dialogue_longer_than_the_clip_is_a_warning(write_manifest: Write) -> None:
    long_line = " ".join(["word"] * 30)
    text = BASE.replace("generate_audio: false", "generate_audio: true").replace(
        PROMPT, f"    prompt: 'A man says \"{long_line}\"'"
    )
    warnings = [str(w) for w in Campaign.open(write_manifest(text)).job_plan.warnings]
    assert any("the dialogue needs about 12.0 s to say but the clip is 5 s" in w for w in warnings)


def test_cjk_dialogue_is_budgeted_in_characters(write_manifest: Write) -> None:
    text = BASE.replace("generate_audio: false", "generate_audio: true").replace(
        "at {{ aspect_ratio }}", "says 「" + "沸" * 40 + "」"
    )
    warnings = [str(w) for w in Campaign.open(write_manifest(text)).job_plan.warnings]
    assert any("needs about 8.0 s" in w for w in warnings)


def test_one_start_image_for_several_ratios_is_a_warning(write_manifest: Write) -> None:
    path = write_manifest(BASE + "    inputs: {start_image: a.png}\n", files={"a.png": "x"})
    (warning,) = Campaign.open(path).job_plan.warnings
    assert "ignores aspect_ratio when start_image is set" in str(warning)
    assert str(warning).startswith(f"{path}:15:27: warning: shots[0].inputs.start_image")


def test_a_start_image_per_ratio_is_not_warned_about(write_manifest: Write) -> None:
    shot = "    inputs: {start_image: 'a_{{ aspect_ratio | ratio_slug }}.png'}\n"
    path = write_manifest(BASE + shot, files={"a_16x9.png": "x", "a_9x16.png": "y"})
    assert Campaign.open(path).job_plan.warnings == ()


def test_colliding_job_ids_are_an_error(write_manifest: Write) -> None:
    text = BASE.replace('["16:9", "9:16"]', '["16:9", "16x9"]')
    errors = errors_of(write_manifest(text))
    assert any("two combinations give the job id 'hero/us/16x9'" in e for e in errors)


@pytest.mark.parametrize(
    ("prompt", "where"),
    [
        ("prompt: A {{ brand }} {{ prodcut }}", "14:30"),
        ("prompt: 'it''s {{ prodcut }}'", "14:23"),
        ('prompt: "A \\"{{ brand }}\\" and\n      then {{ prodcut }}"', "15:15"),
        ("prompt: |  # prodcut\n      A prodcut {{ brand }}\n        and {{ prodcut }}", "16:16"),
        ("prompt: >-\n      A {{ brand }}\n      and {{ prodcut }}", "16:14"),
    ],
)
def test_an_undefined_variable_in_a_manifest_prompt_points_at_its_line_and_column(
    write_manifest: Write, prompt: str, where: str
) -> None:
    path = write_manifest(BASE.replace(PROMPT, f"    {prompt}"))
    assert errors_of(path) == [
        f"{path}:{where}: shots[0].prompt: undefined variable 'prodcut'; did you mean 'product'? "
        "(job hero/us/16x9)"
    ]


def test_an_undefined_variable_in_a_default_input_is_located_once(write_manifest: Write) -> None:
    path = write_manifest(BASE.replace("blurry {{ brand }}", "blurry {{ bran }}"))
    assert errors_of(path) == [
        f"{path}:4:76: defaults.negative_prompt: undefined variable 'bran'; "
        "did you mean 'brand'? (job hero/us/16x9)"
    ]


def test_an_exclude_that_matches_no_combination_is_a_warning_at_its_value(
    write_manifest: Write,
) -> None:
    text = BASE.replace(
        '  aspect_ratio: ["16:9", "9:16"]\n',
        '  aspect_ratio: ["16:9", "9:16"]\n  exclude: [{market: jp, aspect_ratio: "1:1"}]\n',
    )
    path = write_manifest(text)
    plan = Campaign.open(path).job_plan
    assert len(plan.jobs) == 4
    assert [str(w) for w in plan.warnings] == [
        f"{path}:12:40: warning: matrix.exclude[0].aspect_ratio: this exclude matches no "
        "combination: '1:1' is not a value of aspect_ratio ('16:9', '9:16')"
    ]


def test_a_variable_only_some_markets_define_says_where_to_add_it(write_manifest: Write) -> None:
    text = BASE.replace('  jp: {product: ケトル, line: "すぐ沸く。"}', "  jp: {product: ケトル}")
    path = write_manifest(text.replace(" at {{ aspect_ratio }}", " says {{ line }}"))
    assert errors_of(path) == [
        f"{path}:14:48: shots[0].prompt: undefined variable 'line' "
        "(defined: aspect_ratio, brand, market, product, shot); add it to markets.jp "
        "(as in markets.us) (job hero/jp/16x9)"
    ]


def test_an_unknown_filter_in_a_template_file_points_into_that_file(write_manifest: Write) -> None:
    text = BASE.replace(PROMPT, "    prompt: \"{% include 'h.j2' %}\"")
    path = write_manifest(text, files={"templates/h.j2": "A {{ product | uppr }}\n"})
    (error,) = errors_of(path)
    assert error.startswith(
        f"{path.parent}/templates/h.j2:1:16: shots[0].prompt: unknown filter 'uppr'; "
        "did you mean 'upper'?"
    )


def test_a_misspelt_required_input_is_one_error_at_the_misspelling(write_manifest: Write) -> None:
    text = (
        BASE.replace("kwaivgi/kling-v2.6", "kwaivgi/kling-v2.1")
        .replace('  aspect_ratio: ["16:9", "9:16"]\n', "")
        .replace("defaults: {duration: 5, generate_audio: false, ", "defaults: {duration: 5, ")
        .replace(" at {{ aspect_ratio }}", "")
    )
    path = write_manifest(text + "    inputs: {start_imag: a.png}\n")
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:14:14: shots[0].inputs.start_imag: unknown input")
    assert "did you mean 'start_image'?" in error
