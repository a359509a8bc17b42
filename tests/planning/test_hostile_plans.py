"""Planning a hostile manifest: ids that are safe paths, a job cap, values of the wrong type."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError
from kling_pipe.planning.jobs import job_id

Write = Callable[..., Path]

values = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", ".", "..", "...", "/", "\\", "\0", "../..", "./.", " .. ", "a/../b"]),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dictionaries(st.sampled_from(["id", "name", "x"]), st.text(max_size=20), max_size=2),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(values, min_size=1, max_size=6))
def test_job_ids_are_safe_relative_paths_whatever_the_values(combination: list[Any]) -> None:
    jid = job_id("hero", {f"axis{i}": v for i, v in enumerate(combination)})
    parts = jid.split("/")
    assert len(parts) == len(combination) + 1
    for part in parts:
        assert part not in ("", ".", "..")
        assert "\\" not in part and "\0" not in part
        assert len(part) <= 64
    assert posixpath.normpath(posixpath.join("out", jid)).startswith("out/hero/")


def test_ids_of_ordinary_values_are_what_they_always_were() -> None:
    assert job_id("hero", {"market": "jp", "aspect_ratio": "9:16"}) == "hero/jp/9x16"
    assert job_id("pour", {"variant": {"id": "v01-push-in"}, "n": 2}) == "pour/v01-push-in/2"
    assert job_id("s", {"v": "1.5", "w": True}) == "s/1.5/true"


def test_dot_dot_values_cannot_climb_out_of_the_output_folder() -> None:
    jid = job_id("s", {"a": "..", "b": "..", "c": ".."})
    assert jid == "s/__/__/__"


def test_a_value_longer_than_a_file_name_keeps_its_start_and_a_hash() -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    a, b = job_id("s", {"v": long_a}), job_id("s", {"v": long_b})
    assert a != b and len(a.split("/")[1]) == 64 and a.startswith("s/aaaa")


MATRIX = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: false}
matrix:
AXES
shots:
  - id: hero
    prompt: a kettle
LIMITS
"""


def matrix_manifest(axes: int, per_axis: int, limits: str = "") -> str:
    lines = "\n".join(
        f"  a{i}: [{', '.join(str(v) for v in range(per_axis))}]" for i in range(axes)
    )
    return MATRIX.replace("AXES", lines).replace("LIMITS", limits)


def test_a_matrix_of_eight_axes_of_ten_is_refused_with_its_count(write_manifest: Write) -> None:
    path = write_manifest(matrix_manifest(8, 10))
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    (problem,) = caught.value.problems
    assert str(problem.location) == f"{path}:5:1"
    assert "100,000,000 combinations" in problem.message
    assert "limits.max_jobs (10,000)" in problem.message


def test_a_matrix_over_max_jobs_names_its_exact_count(write_manifest: Write) -> None:
    path = write_manifest(matrix_manifest(2, 10, "limits: {max_jobs: 50}"))
    with pytest.raises(ManifestError, match=r"expands to 100 jobs \(100 combinations × 1 shot"):
        Campaign.open(path)


def test_max_jobs_can_be_raised_for_a_larger_campaign(write_manifest: Write) -> None:
    path = write_manifest(matrix_manifest(2, 110, "limits: {max_jobs: 20000}"))
    assert len(Campaign.open(path).job_plan.jobs) == 12_100


WRONG_TYPE = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: DEFAULTS
shots:
  - id: hero
    prompt: 'A barista says "hello there"'
"""


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        ("{duration: [5], generate_audio: true}", "defaults.duration: must be a whole number"),
        ("{duration: {a: 1}}", "defaults.duration: must be a whole number"),
        ("{duration: 5, generate_audio: [true]}", "defaults.generate_audio: must be true or"),
        ("{duration: '5'}", "defaults.duration: must be a whole number"),
    ],
)
def test_values_of_the_wrong_type_are_located_errors_not_crashes_in_pricing(
    write_manifest: Write, defaults: str, expected: str
) -> None:
    path = write_manifest(WRONG_TYPE.replace("DEFAULTS", defaults))
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    errors = [str(p) for p in caught.value.problems if p.severity == "error"]
    assert len(errors) == 1 and expected in errors[0]
    assert errors[0].startswith(f"{path}:4:")
