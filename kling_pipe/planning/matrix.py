"""GitHub Actions' `strategy.matrix` semantics, exactly.

1. The cartesian product of the axes, the first axis varying slowest.
2. `exclude` entries remove every combination they match partially (all of the entry's keys).
3. Each `include` entry is merged into every *original* combination none of whose original axis
   values it would overwrite (values added by earlier includes may be overwritten); when it fits
   no original combination it is appended as a new one. Appended combinations are never merge
   targets for later includes.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Combination = dict[str, Any]

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


def unmatched_excludes(matrix: Mapping[str, Any]) -> list[MatrixProblem]:
    """`exclude` entries that remove nothing, at the value no combination has (likely a typo).

    Assumes `matrix_problems` is empty. An entry matches part of the cartesian product exactly
    when each of its values is one of its axis's values.
    """
    axes = {k: v for k, v in matrix.items() if k not in RESERVED}
    problems: list[MatrixProblem] = []
    for i, entry in enumerate(matrix.get("exclude", [])):
        for key, value in entry.items():
            values = axes.get(key, [])
            if value in values:
                continue
            texts = [str(v) for v in values if isinstance(v, str | int | float)]
            guess = difflib.get_close_matches(str(value), texts, n=1, cutoff=0.6)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            problems.append(
                MatrixProblem(
                    ("exclude", i, key),
                    f"this exclude matches no combination: {value!r} is not a value of "
                    f"{key} ({', '.join(map(repr, values))}){hint}",
                )
            )
            break
    return problems


def _matches(combination: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    return all(k in combination and combination[k] == v for k, v in entry.items())


def expand_matrix(matrix: Mapping[str, Any]) -> list[Combination]:
    """Every combination of `matrix`, in GitHub's order. Assumes `matrix_problems` is empty."""
    axes = {k: v for k, v in matrix.items() if k not in RESERVED}
    excludes: Sequence[Mapping[str, Any]] = matrix.get("exclude", [])
    includes: Sequence[Mapping[str, Any]] = matrix.get("include", [])

    originals: list[Combination] = []
    if axes:
        names = list(axes)
        for values in itertools.product(*(axes[n] for n in names)):
            combination = dict(zip(names, values, strict=True))
            if not any(_matches(combination, ex) for ex in excludes):
                originals.append(combination)
    elif not includes:
        originals.append({})

    appended: list[Combination] = []
    for entry in includes:
        merged = False
        for combination in originals:
            overwrites_original = any(k in axes and combination[k] != v for k, v in entry.items())
            if not overwrites_original:
                combination.update(entry)
                merged = True
        if not merged:
            appended.append(dict(entry))
    return originals + appended
