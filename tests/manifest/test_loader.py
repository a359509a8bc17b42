from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.errors import ManifestError
from kling_pipe.manifest.loader import load_manifest

Write = Callable[..., Path]

VALID = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
markets:
  us: {product: Kettle}
matrix:
  market: [us]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: hero
    prompt: "A {{ product }}"
cuts:
  - id: spot
    shots: [hero]
"""


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    return [str(p) for p in caught.value.problems]


def test_a_valid_manifest_loads_with_defaults_filled_in(write_manifest: Write) -> None:
    loaded = load_manifest(write_manifest(VALID))
    assert loaded.manifest.name == "demo"
    assert loaded.manifest.limits.concurrency == 8
    assert loaded.lock_path.name == "campaign.lock.json"


def test_unknown_key_deep_in_a_shot_is_reported_at_its_line_with_a_suggestion(
    write_manifest: Write,
) -> None:
    path = write_manifest(VALID.replace("    prompt:", "    promt: x\n    prompt:"))
    assert problems_of(path) == [
        f"{path}:11:5: shots[0].promt: unknown key 'promt'; did you mean 'prompt'?"
    ]


def test_wrong_enum_deep_in_a_cut_names_the_allowed_values_at_the_values_line(
    write_manifest: Write,
) -> None:
    path = write_manifest(VALID + "    transition: {kind: wobble, seconds: 1}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:15:24: cuts[0].transition.kind: Input should be 'cut'")
    assert "got 'wobble'" in problem


def test_independent_problems_are_reported_together(write_manifest: Write) -> None:
    text = VALID.replace("version: 1", "version: 2").replace("id: hero", "id: 'bad id!'")
    found = problems_of(write_manifest(text))
    assert len(found) == 2
    assert ":1:10: version:" in found[0]
    assert found[1].endswith(
        ":10:9: shots[0].id: must be letters, digits, '_', '.' or '-', starting with a letter "
        "or digit, got 'bad id!'"
    )


def test_missing_required_key_is_reported_at_its_parent(write_manifest: Write) -> None:
    path = write_manifest(VALID.replace("model: kwaivgi/kling-v2.6\n", ""))
    assert problems_of(path) == [f"{path}:1:1: model: required key 'model' is missing"]


def test_matrix_naming_an_unknown_market_is_an_error_at_that_value(write_manifest: Write) -> None:
    path = write_manifest(VALID.replace("market: [us]", "market: [us, fr]"))
    assert problems_of(path) == [
        f"{path}:7:16: matrix.market[1]: unknown market 'fr' (markets: us)"
    ]


def test_exclude_naming_a_key_that_is_not_an_axis_is_an_error(write_manifest: Write) -> None:
    path = write_manifest(VALID.replace("shots:\n", "  exclude: [{ratio: '1:1'}]\nshots:\n", 1))
    (problem,) = problems_of(path)
    assert "matrix.exclude[0].ratio: exclude names 'ratio', which is not a matrix axis" in problem


def test_cut_naming_an_unknown_shot_suggests_the_closest(write_manifest: Write) -> None:
    path = write_manifest(VALID.replace("shots: [hero]", "shots: [heroo]"))
    assert problems_of(path) == [
        f"{path}:14:13: cuts[0].shots[0]: unknown shot 'heroo'; did you mean 'hero'?"
    ]


def test_a_manifest_that_is_not_a_mapping_is_refused(write_manifest: Write) -> None:
    assert "a manifest is a mapping" in problems_of(write_manifest("- 1\n- 2\n"))[0]


def test_missing_file_is_a_product_error(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_a_misspelt_required_key_is_one_error_at_the_misspelling(write_manifest: Write) -> None:
    path = write_manifest(VALID.replace("    prompt:", "    promt:"))
    assert problems_of(path) == [
        f"{path}:11:5: shots[0].promt: unknown key 'promt'; did you mean 'prompt'?"
    ]


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (("model:", "modle:"), "3:1: modle: unknown key 'modle'; did you mean 'model'?"),
        (
            ("  - id: spot", "  - idd: spot"),
            "13:5: cuts[0].idd: unknown key 'idd'; did you mean 'id'?",
        ),
        (
            ("version: 1\n", "version: 1\nprices:\n  a/b: {per_secnd: 1}\n"),
            "3:9: prices.a/b.per_secnd: unknown key 'per_secnd'; did you mean 'per_second'?",
        ),
    ],
)
def test_every_model_merges_a_missing_field_with_its_misspelling(
    write_manifest: Write, replace: tuple[str, str], expected: str
) -> None:
    path = write_manifest(VALID.replace(*replace, 1))
    assert problems_of(path) == [f"{path}:{expected}"]


def test_unknown_key_suggests_a_field_of_its_own_section(write_manifest: Write) -> None:
    path = write_manifest(VALID + "    transition: {knd: fade}\n")
    assert problems_of(path) == [
        f"{path}:15:18: cuts[0].transition.knd: unknown key 'knd'; did you mean 'kind'?"
    ]


def test_a_missing_field_beside_an_unrelated_unknown_key_stays_two_errors(
    write_manifest: Write,
) -> None:
    path = write_manifest(VALID.replace("  - id: spot", "  - colour: spot"))
    found = problems_of(path)
    assert [p.split(": ", 1)[1] for p in found] == [
        "cuts[0].id: required key 'id' is missing",
        "cuts[0].colour: unknown key 'colour'",
    ]


def test_a_required_key_indented_into_the_wrong_mapping_is_one_error_at_it(
    write_manifest: Write,
) -> None:
    path = write_manifest(
        VALID.replace("  - id: spot\n    shots: [hero]", "  - shots: [hero]\nid: spot")
    )
    assert problems_of(path) == [
        f"{path}:14:1: id: unknown key 'id'; cuts[0] is missing 'id': check the "
        "indentation of this line"
    ]


def test_a_missing_key_written_deeper_in_the_file_points_at_it(write_manifest: Write) -> None:
    text = VALID.replace("model: kwaivgi/kling-v2.6\n", "")
    path = write_manifest(text.replace("    prompt:", "    model: kwaivgi/kling-v2.6\n    prompt:"))
    assert problems_of(path) == [
        f"{path}:1:1: model: required key 'model' is missing (there is one in shots[0] at "
        "line 10: check its indentation)"
    ]


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            ("  - id: hero\n    prompt:", "    id: hero\n    prompt:"),
            "10:5: shots: must be a list, one item per '- ' line; got a mapping",
        ),
        (
            ("markets:\n  us: {product: Kettle}", "markets:\n  - us: {product: Kettle}"),
            "5:3: markets: must be a mapping of `key: value` lines; got a list (remove the '- ')",
        ),
        (
            ("  us: {product: Kettle}", "  us: Kettle"),
            "5:7: markets.us: must be a mapping of `key: value` lines; got the text 'Kettle'",
        ),
    ],
)
def test_a_list_where_a_mapping_belongs_or_the_reverse_says_how_to_write_it(
    write_manifest: Write, replace: tuple[str, str], expected: str
) -> None:
    path = write_manifest(VALID.replace(*replace))
    assert problems_of(path) == [f"{path}:{expected}"]
