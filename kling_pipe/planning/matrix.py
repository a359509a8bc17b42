"""GitHub Actions' `strategy.matrix` semantics, exactly.

1. The cartesian product of the axes, the first axis varying slowest.
2. `exclude` entries remove every combination they match partially (all of the entry's keys).
3. Each `include` entry is merged into every *original* combination none of whose original axis
   values it would overwrite (values added by earlier includes may be overwritten); when it fits
   no original combination it is appended as a new one. Appended combinations are never merge
   targets for later includes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from kling_pipe.manifest.matrix import RESERVED, MatrixProblem
from kling_pipe.spelling import did_you_mean

Combination = dict[str, Any]


def combination_bound(matrix: Mapping[str, Any]) -> int:
    """How many combinations `matrix` gives at most: the product of its axes (before exclude)
    plus its includes. Cheap: nothing is expanded."""
    axes = [v for k, v in matrix.items() if k not in RESERVED and isinstance(v, list)]
    product = math.prod(len(values) for values in axes) if axes else 1
    includes = matrix.get("include", [])
    return product + (len(includes) if isinstance(includes, list) else 0)


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
            guess = did_you_mean(str(value), texts)
            hint = f"; did you mean {guess!r}?" if guess else ""
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
