"""Stages: shots that span fewer axes (`per:`) and take inputs from other shots (`{from: SHOT}`).

A campaign is a graph of shots. `stage_graph` reads it from the manifest and checks what needs
no model: each `{from: …}` names a known shot, the graph has no cycle, and an upstream spans no
axis its downstream does not (so each downstream job has exactly one upstream job). It gives
the order to plan shots in, upstream first, so each downstream key is derived from its
upstream's key. What needs the models (an image into a video input) is checked by the planner
with `input_kind` and `output_kind`. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kling_pipe.errors import ManifestError, Problem
from kling_pipe.manifest.loader import LoadedManifest, dotted
from kling_pipe.manifest.matrix import RESERVED
from kling_pipe.manifest.yaml_source import Path_
from kling_pipe.models.spec import InputSpec, ModelSpec
from kling_pipe.spelling import did_you_mean

MediaKind = Literal["image", "video", "audio"]
_FROM_KEYS = ("from", "take")
_NOT_AXES = ("takes",)  # a job's take count, set per combination by `include`


@dataclass(frozen=True)
class InputSource:
    """An input fed by another shot's output."""

    input: str
    shot: str  # the upstream shot's id
    take: int | None  # None: the reviewed pick where there is one, else the first take
    path: Path_  # where `{from: …}` is written (`shots[i].inputs.NAME`)


@dataclass(frozen=True)
class StageGraph:
    """The shots in planning order (upstream first), the axes each spans, their sources."""

    order: tuple[int, ...]
    axes: Mapping[str, tuple[str, ...]]
    sources: Mapping[str, tuple[InputSource, ...]]

    def downstream_of(self, shot: str) -> list[str]:
        """The shots that take an input from `shot`."""
        return [s for s, inputs in self.sources.items() if any(i.shot == shot for i in inputs)]


def matrix_axes(matrix: Mapping[str, Any]) -> list[str]:
    """The matrix's axes: its keys, then keys only `include` entries add."""
    axes = [k for k in matrix if k not in RESERVED and k not in _NOT_AXES]
    for entry in matrix.get("include", []):
        if isinstance(entry, dict):
            axes += [k for k in entry if k not in axes and k not in _NOT_AXES]
    return axes


def is_source(value: Any) -> bool:
    """Whether an input's value is `{from: SHOT, …}`."""
    return isinstance(value, Mapping) and "from" in value


def stage_graph(loaded: LoadedManifest) -> StageGraph:
    """The manifest's shots as a graph; ManifestError lists every problem at its line."""
    m = loaded.manifest
    problems: list[Problem] = []

    def at(path: Path_, message: str, *, key: bool = False) -> None:
        problems.append(Problem(message, loaded.location(path, key=key), dotted(path)))

    all_axes = matrix_axes(m.matrix)
    ids = {shot.id: i for i, shot in enumerate(m.shots)}
    axes: dict[str, tuple[str, ...]] = {}
    for i, shot in enumerate(m.shots):
        if shot.per is None:
            axes[shot.id] = tuple(all_axes)
            continue
        for j, axis in enumerate(shot.per):
            if axis not in all_axes:
                guess = did_you_mean(axis, all_axes)
                hint = f"; did you mean {guess!r}?" if guess else ""
                at(
                    ("shots", i, "per", j),
                    f"{axis!r} is not a matrix axis (axes: {', '.join(all_axes) or 'none'}){hint}",
                )
        axes[shot.id] = tuple(a for a in all_axes if a in shot.per)

    sources: dict[str, list[InputSource]] = {}
    for i, shot in enumerate(m.shots):
        for name, value in shot.inputs.items():
            if not is_source(value):
                continue
            path: Path_ = ("shots", i, "inputs", name)
            source = _read_source(name, value, path, at)
            if source is None:
                continue
            if source.shot not in ids:
                guess = did_you_mean(source.shot, list(ids))
                hint = f"; did you mean {guess!r}?" if guess else f" (shots: {', '.join(ids)})"
                at((*path, "from"), f"unknown shot {source.shot!r}{hint}")
                continue
            sources.setdefault(shot.id, []).append(source)
            extra = [a for a in axes.get(source.shot, ()) if a not in axes[shot.id]]
            if extra and source.shot != shot.id:
                at(
                    (*path, "from"),
                    f"{source.shot} spans {', '.join(extra)}, which {shot.id} does not "
                    f"(per: [{', '.join(axes[shot.id])}]): each {shot.id} job would have several "
                    f"{source.shot} outputs to choose from; add {', '.join(extra)} to "
                    f"{shot.id}'s `per`, or take it out of {source.shot}'s",
                )

    order = _upstream_first(m.shots, ids, sources, at)
    if problems:
        raise ManifestError(problems)
    return StageGraph(
        order=tuple(order),
        axes=axes,
        sources={s: tuple(v) for s, v in sources.items()},
    )


def _read_source(name: str, value: Mapping[str, Any], path: Path_, at: Any) -> InputSource | None:
    unknown = [k for k in value if k not in _FROM_KEYS]
    if unknown:
        guess = did_you_mean(str(unknown[0]), list(_FROM_KEYS))
        hint = f"; did you mean {guess!r}?" if guess else ""
        at(
            (*path, unknown[0]),
            f"unknown key {unknown[0]!r} in an input from another shot "
            f"(write {{from: SHOT}} or {{from: SHOT, take: N}}){hint}",
            key=True,
        )
        return None
    shot, take = value.get("from"), value.get("take")
    if not isinstance(shot, str) or not shot:
        at((*path, "from"), "`from` names a shot id")
        return None
    if take is not None and (isinstance(take, bool) or not isinstance(take, int) or take < 1):
        at((*path, "take"), f"take must be a take number, 1 or more (not {take!r})")
        return None
    return InputSource(name, shot, take, path)


def _upstream_first(
    shots: Sequence[Any],
    ids: Mapping[str, int],
    sources: Mapping[str, Sequence[InputSource]],
    at: Any,
) -> list[int]:
    """Shot indexes with every upstream before its downstream, else the manifest's order; a
    cycle is reported at the first `from` of it, naming every shot in it."""
    order: list[int] = []
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(shot: str, trail: list[str]) -> None:
        if state.get(shot) == "done":
            return
        state[shot] = "open"
        for source in sources.get(shot, ()):
            if state.get(source.shot) == "open":
                path = [*trail, shot]
                cycle = [*path[path.index(source.shot) :], source.shot]
                at(
                    (*source.path, "from"),
                    f"shots take inputs from each other in a cycle: {' → '.join(cycle)}; a "
                    "shot can only use the output of one made before it",
                )
                continue
            visit(source.shot, [*trail, shot])
        state[shot] = "done"
        order.append(ids[shot])

    for shot in shots:
        visit(shot.id, [])
    return order


def input_kind(spec: InputSpec) -> MediaKind | None:
    """What a file input takes, read from its name and description (None: not a file, or not
    said)."""
    if not spec.is_file:
        return None
    kinds: tuple[MediaKind, ...] = ("video", "audio", "image")
    for words in (spec.name.lower(), spec.description.lower()):
        for kind in kinds:
            if kind in words:
                return kind
    return None


def voices(spec: ModelSpec) -> bool:
    """Whether the model's clips always have a voice: it re-voices a video (lip-sync) from an
    audio input or a voice, with no `generate_audio` switch."""
    if "generate_audio" in spec.inputs or spec.output_kind != "video":
        return False
    return "voice_id" in spec.inputs or any(input_kind(i) == "audio" for i in spec.inputs.values())


def output_kind(spec: ModelSpec) -> MediaKind:
    """What a model makes: a video or an image, from its schema."""
    return spec.output_kind
