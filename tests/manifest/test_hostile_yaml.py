"""YAML that a hostile or careless pull request can hold: every case is a located error, fast."""

from __future__ import annotations

import time

import pytest

from kling_pipe.errors import ManifestError
from kling_pipe.manifest.yaml_source import MAX_DOCUMENT_BYTES, MAX_VALUES, parse_yaml


def problem_of(text: str | bytes) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_yaml(text, "m.yaml")
    (problem,) = caught.value.problems
    assert problem.location is not None
    return str(problem)


def test_dates_stay_text_like_aspect_ratios() -> None:
    doc = parse_yaml("launch: 2024-03-01\nbad: 2024-02-30\n", "m.yaml")
    assert doc.data == {"launch": "2024-03-01", "bad": "2024-02-30"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!int abc\n", "m.yaml:1:4: 'abc' is not a valid !!int"),
        ("a: !!float xyz\n", "m.yaml:1:4: 'xyz' is not a valid !!float"),
        ("a: !!bool maybe\n", "m.yaml:1:4: 'maybe' is not a valid !!bool"),
        ("a: !!timestamp 2024-02-30\n", "m.yaml:1:4: '2024-02-30' is not a valid !!timestamp"),
        ("a: !!timestamp abc\n", "m.yaml:1:4: 'abc' is not a valid !!timestamp"),
    ],
)
def test_explicit_tags_that_do_not_fit_their_value_are_located_errors(
    text: str, expected: str
) -> None:
    assert problem_of(text) == expected


def test_explicit_tags_of_non_plain_types_are_refused() -> None:
    assert "not supported here" in problem_of("a: !!binary aGVsbG8=\n")
    assert "not supported here" in problem_of("a: !!timestamp 2024-03-01\n")


@pytest.mark.parametrize("digits", [20, 5_000])
def test_integers_beyond_64_bits_are_refused_at_their_position(digits: int) -> None:
    assert problem_of("x: 1\nd: " + "9" * digits + "\n") == (
        "m.yaml:2:4: integer out of range: at most 64 bits (19 digits)"
    )


def test_the_largest_64_bit_integers_are_kept() -> None:
    doc = parse_yaml(f"a: {2**63 - 1}\nb: {-(2**63)}\n", "m.yaml")
    assert doc.data == {"a": 2**63 - 1, "b": -(2**63)}


@pytest.mark.parametrize("value", ["1.0e999", ".inf", "-.inf", ".nan"])
def test_numbers_that_are_not_finite_are_refused(value: str) -> None:
    assert "is not a finite number" in problem_of(f"a: {value}\n")


def test_a_lone_surrogate_is_not_text() -> None:
    assert problem_of('a: "ok \\ud800"\n') == (
        "m.yaml:1:4: text contains a lone surrogate (\\ud800 at character 4), "
        "which is not a Unicode character"
    )


@pytest.mark.parametrize("opening", ["[", "{a: "])
def test_nesting_3000_deep_is_a_located_error_not_a_recursion_error(opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    message = problem_of("a: " + opening * 3000 + "1" + closing * 3000 + "\n")
    assert message.startswith("m.yaml:1:") and "nested more than 64 levels deep" in message


def test_billion_laughs_stops_at_the_value_limit() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*l{i - 1}"] * 10)
        lines.append(f"l{i}: &l{i} [{refs}]")
    message = problem_of("\n".join(lines) + "\n")
    assert f"expands to more than {MAX_VALUES:,} values" in message


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    message = problem_of("a: " + "x" * MAX_DOCUMENT_BYTES + "\n")
    assert "a manifest may be at most" in message


@pytest.mark.parametrize(
    ("text", "shown"), [("no: x\n", "'no'"), ("1: x\n", "'1'"), ("~: x\n", "'~'")]
)
def test_mapping_keys_must_be_text_and_the_error_says_how_to_quote_them(
    text: str, shown: str
) -> None:
    message = problem_of(text)
    assert message.startswith("m.yaml:1:1: a mapping key must be text")
    assert message.endswith(f"quote it to mean the text {shown}")


def test_a_document_of_opening_brackets_is_refused_where_it_nests_too_deep() -> None:
    # PyYAML's scanner looks ahead through flow collections at a cost that grows with their
    # depth on every token: unchecked, this document takes hours.
    started = time.monotonic()
    message = problem_of("a: " + "[" * (MAX_DOCUMENT_BYTES - 10))
    assert message == "m.yaml:1:67: YAML syntax: nested more than 64 levels deep"
    assert time.monotonic() - started < 5
