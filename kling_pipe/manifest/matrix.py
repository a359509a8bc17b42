"""A manifest's `matrix` as written: its reserved keys and the structural checks that must pass
before it can be expanded (expanding it is the planner's job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESERVED = ("include", "exclude")


@dataclass(frozen=True)
class MatrixProblem:
    """A problem at `path` inside the matrix (e.g. `("exclude", 0, "os")`)."""

    path: tuple[str | int, ...]
    message: str


def matrix_problems(matrix: Mapping[str, Any]) -> list[MatrixProblem]:
    """Structural problems with a matrix definition; empty when it can be expanded."""
    problems: list[MatrixProblem] = []
    axes = {k: v for k, v in matrix.items() if k not in RESERVED}
    for name, values in axes.items():
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(MatrixProblem((str(name),), "an axis name must be a valid identifier"))
        if not isinstance(values, list) or not values:
            problems.append(MatrixProblem((name,), "an axis must be a non-empty list of values"))
            continue
        for i, value in enumerate(values):
            if isinstance(value, list):
                problems.append(MatrixProblem((name, i), "an axis value cannot be a list"))
    for section in RESERVED:
        entries = matrix.get(section, [])
        if not isinstance(entries, list):
            problems.append(MatrixProblem((section,), f"{section} must be a list of mappings"))
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not entry:
                problems.append(MatrixProblem((section, i), "must be a non-empty mapping"))
                continue
            if section == "exclude":
                for key in entry:
                    if key not in axes:
                        known = ", ".join(axes) or "none"
                        problems.append(
                            MatrixProblem(
                                (section, i, key),
                                f"exclude names {key!r}, which is not a matrix axis "
                                f"(axes: {known})",
                            )
                        )
    return problems
