from __future__ import annotations

import pytest

from kling_pipe.errors import ManifestError, SourceLocation
from kling_pipe.manifest.yaml_source import parse_yaml


def test_aspect_ratios_stay_strings_instead_of_base_60_numbers() -> None:
    doc = parse_yaml("r: [16:9, 9:16, 1:1, 12, 1.5, 0x10]\n", "m.yaml")
    assert doc.data == {"r": ["16:9", "9:16", "1:1", 12, 1.5, 16]}


def test_every_value_and_key_has_its_own_line_and_column() -> None:
    doc = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n", "m.yaml")
    assert doc.value_positions[("a", "b")] == (2, 6)
    assert doc.key_positions[("a", "c")] == (3, 3)
    assert doc.value_positions[("a", "c", 1)] == (5, 7)
    assert str(doc.location(("a", "c", 1))) == "m.yaml:5:7"


def test_location_of_a_missing_path_falls_back_to_the_nearest_written_parent() -> None:
    doc = parse_yaml("a:\n  b: 1\n", "m.yaml")
    assert str(doc.location(("a", "zzz", 3))) == "m.yaml:2:3"


def test_duplicate_key_is_an_error_at_the_second_occurrence() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml("name: a\nmodel: x\nname: b\n", "m.yaml")
    assert str(caught.value) == "m.yaml:3:1: name: duplicate key 'name' (first given on line 1)"


def test_anchors_and_merge_keys_work_and_own_keys_win() -> None:
    doc = parse_yaml("base: &b {duration: 5, audio: true}\nshot:\n  <<: *b\n  duration: 10\n", "m")
    assert doc.data["shot"] == {"duration": 10, "audio": True}
    assert doc.value_positions[("shot", "duration")] == (4, 13)


def test_yaml_syntax_error_points_at_the_problem() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml("a: 1\nb: [1, 2\nc: 3\n", "m.yaml")
    problem = caught.value.problems[0]
    assert problem.location is not None and problem.location.line == 3
    assert problem.message.startswith("YAML syntax:")


def test_recursive_alias_is_refused_not_a_crash() -> None:
    with pytest.raises(ManifestError, match="recursive alias"):
        parse_yaml("a: &x [1, *x]\n", "m.yaml")


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00", b"", b"   \n"])
def test_undecodable_or_empty_input_is_a_product_error(raw: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_yaml(raw, "m.yaml")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("shots:\n  - id: hero\n     prompt: x\n", (3, 12)),  # deeper than its sibling
        ("shots:\n  - id: hero\n    prompt: x\n  model: y\n", (4, 3)),  # shallower
        ("shots:\n  - id: hero\n    prompt: x\n   model: y\n", (4, 4)),  # in between
        ("version: 1\n name: demo\n", (2, 6)),
    ],
)
def test_indentation_errors_say_to_check_the_indentation_at_their_line(
    text: str, where: tuple[int, int]
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml(text, "m.yaml")
    (problem,) = caught.value.problems
    assert problem.location == SourceLocation("m.yaml", *where)
    assert f"check the indentation at line {where[0]}" in problem.message


def test_a_tab_used_for_indentation_is_named() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml("vars:\n\tbrand: Acme\n", "m.yaml")
    assert str(caught.value) == (
        "m.yaml:2:1: YAML syntax: found character '\\t' that cannot start any token "
        "(while scanning for the next token); YAML is indented with spaces, never tabs"
    )


def test_a_control_character_is_located() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml("a: 1\nb: x\x01y\n", "m.yaml")
    assert str(caught.value) == (
        "m.yaml:2:5: not YAML text: special characters are not allowed (character U+0001)"
    )


@pytest.mark.parametrize("text", ['a: 1\nb: "say "hi" now"\n', "a: 1\nb: 'it's here'\n"])
def test_text_after_a_closing_quote_is_explained_not_blamed_on_indentation(text: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml(text, "m.yaml")
    (problem,) = caught.value.problems
    assert problem.location is not None and problem.location.line == 2
    assert "text follows a quoted value" in problem.message
    assert "indentation" not in problem.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'a: 1\nb: "unclosed\nc: 2\n',
            "m.yaml:2:4: YAML syntax: this quoted value is never closed: add the closing quote",
        ),
        (
            "a:\n  b: 1\n  c 2\n  d: 3\n",
            "m.yaml:3:3: YAML syntax: could not find expected ':' after this key: write "
            "`key: value`, a colon and a space after it",
        ),
        (
            "a: [1, 2\nb: 3\n",
            "m.yaml:2:2: YAML syntax: expected ',' or ']', but got ':' (while parsing a flow "
            "sequence); the '[' opened at line 1 column 4 is not closed before this",
        ),
        (
            'a: "C:\\path"\n',
            "m.yaml:1:8: YAML syntax: found unknown escape character 'p' (while scanning a "
            "double-quoted scalar); inside double quotes a backslash starts an escape: use "
            "single quotes",
        ),
        (
            "a: @me\n",
            "m.yaml:1:4: YAML syntax: found character '@' that cannot start any token (while "
            "scanning for the next token); quote a value that starts with this character",
        ),
    ],
)
def test_syntax_errors_are_located_where_the_mistake_is_and_say_what_to_do(
    text: str, expected: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_yaml(text, "m.yaml")
    assert str(caught.value) == expected
