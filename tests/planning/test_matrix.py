"""Golden cases from GitHub's documentation of `strategy.matrix`."""

from __future__ import annotations

from kling_pipe.manifest.matrix import MatrixProblem, matrix_problems
from kling_pipe.planning.matrix import expand_matrix, unmatched_excludes


def test_single_dimension() -> None:
    assert expand_matrix({"version": [10, 12, 14]}) == [
        {"version": 10},
        {"version": 12},
        {"version": 14},
    ]


def test_multi_dimension_first_axis_varies_slowest() -> None:
    matrix = {"os": ["ubuntu-22.04", "ubuntu-20.04"], "version": [10, 12, 14]}
    assert expand_matrix(matrix) == [
        {"os": "ubuntu-22.04", "version": 10},
        {"os": "ubuntu-22.04", "version": 12},
        {"os": "ubuntu-22.04", "version": 14},
        {"os": "ubuntu-20.04", "version": 10},
        {"os": "ubuntu-20.04", "version": 12},
        {"os": "ubuntu-20.04", "version": 14},
    ]


def test_expanding_configurations_with_include_docs_example() -> None:
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand_matrix(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_include_adds_a_value_only_where_it_overwrites_no_original_value() -> None:
    matrix = {
        "os": ["windows-latest", "ubuntu-latest"],
        "node": [14, 16],
        "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
    }
    assert expand_matrix(matrix) == [
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16},
    ]


def test_include_entry_that_overwrites_original_value_adds_a_job() -> None:
    matrix = {
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "include": [{"os": "windows-latest", "version": 17}],
    }
    combos = expand_matrix(matrix)
    assert len(combos) == 13
    assert combos[-1] == {"os": "windows-latest", "version": 17}


def test_include_only_matrix_is_its_entries() -> None:
    matrix = {
        "include": [
            {"site": "production", "datacenter": "site-a"},
            {"site": "staging", "datacenter": "site-b"},
        ]
    }
    assert expand_matrix(matrix) == matrix["include"]


def test_exclude_is_a_partial_match_and_is_applied_before_include() -> None:
    matrix = {
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16},
        ],
        "include": [{"os": "windows-latest", "version": 16}],
    }
    combos = expand_matrix(matrix)
    # 12 combinations, one fully-specified exclusion, two by the partial one; then the include,
    # which overwrites every remaining original windows value, comes back as a new job.
    assert len(combos) == 12 - 1 - 2 + 1
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in combos
    assert combos[-1] == {"os": "windows-latest", "version": 16}


def test_values_added_by_an_include_may_be_overwritten_by_a_later_one() -> None:
    matrix = {"a": [1, 2], "include": [{"extra": "x"}, {"a": 1, "extra": "y"}]}
    assert expand_matrix(matrix) == [{"a": 1, "extra": "y"}, {"a": 2, "extra": "x"}]


def test_an_empty_matrix_is_one_empty_combination() -> None:
    assert expand_matrix({}) == [{}]


def test_structural_problems_are_located_by_path() -> None:
    problems = matrix_problems({"a": [], "b": "x", "include": [{}], "exclude": [{"zz": 1}]})
    assert [p.path for p in problems] == [("a",), ("b",), ("include", 0), ("exclude", 0, "zz")]


def test_an_exclude_that_matches_a_combination_is_not_reported() -> None:
    matrix = {"os": ["macos", "windows"], "version": [12, 14], "exclude": [{"version": 12}]}
    assert unmatched_excludes(matrix) == []


def test_an_exclude_naming_a_value_no_axis_has_is_reported_at_that_value() -> None:
    matrix = {
        "os": ["macos", "windows"],
        "version": [12, 14],
        "exclude": [{"os": "macos", "version": 12}, {"os": "windwos", "version": 14}],
    }
    assert unmatched_excludes(matrix) == [
        MatrixProblem(
            ("exclude", 1, "os"),
            "this exclude matches no combination: 'windwos' is not a value of os "
            "('macos', 'windows'); did you mean 'windows'?",
        )
    ]


def test_an_exclude_value_of_another_type_matches_nothing() -> None:
    (problem,) = unmatched_excludes({"version": [12, 14], "exclude": [{"version": "12"}]})
    assert problem.message == (
        "this exclude matches no combination: '12' is not a value of version (12, 14); "
        "did you mean '12'?"
    )
