"""Loading a manifest: read the file, parse with positions, validate, check what spans fields.

Every problem is reported at `FILE:LINE:COL` with its field path, several at once.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic

from kling_pipe.errors import ManifestError, Problem, SourceLocation
from kling_pipe.manifest.matrix import RESERVED, matrix_problems
from kling_pipe.manifest.schema import (
    IDENTIFIER_PATTERN,
    MODEL_REF_PATTERN,
    SIZE_PATTERN,
    Card,
    Cut,
    Limits,
    Manifest,
    Price,
    Shot,
    StoryboardShot,
    Transition,
)
from kling_pipe.manifest.yaml_source import MAX_DOCUMENT_BYTES, Path_, YamlDocument, parse_yaml
from kling_pipe.spelling import did_you_mean

_KNOWN_FIELDS = sorted(
    {
        name
        for model in (Manifest, Shot, StoryboardShot, Cut, Card, Transition, Limits, Price)
        for name in model.model_fields
    }
)

_PATTERN_MESSAGES = {
    IDENTIFIER_PATTERN: "must be letters, digits, '_', '.' or '-', starting with a letter or digit",
    MODEL_REF_PATTERN: "must be owner/name, or owner/name:version (a hex version id)",
    SIZE_PATTERN: "must be WIDTHxHEIGHT, e.g. 1920x1080",
}


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest with where it came from and where each of its values is written."""

    manifest: Manifest
    document: YamlDocument
    path: Path
    template_dirs: tuple[Path, ...]

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the manifest are resolved from."""
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        """The lock file beside the manifest: `<stem>.lock.json`."""
        return self.path.with_name(f"{self.path.stem}.lock.json")

    def location(self, path: Path_, *, key: bool = False) -> SourceLocation:
        """Where the value (or key) at `path` is written in the manifest."""
        return self.document.location(path, key=key)


def dotted(path: Iterable[str | int]) -> str:
    """`("shots", 1, "inputs", "audio")` → `shots[1].inputs.audio`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def template_dirs_for(manifest_path: Path) -> tuple[Path, ...]:
    """The manifest's own `templates/` folder, then the repository's (nearest `.git` above)."""
    here = manifest_path.resolve().parent
    dirs = [here / "templates"]
    for parent in [here, *here.parents]:
        if (parent / ".git").exists() or (parent / "pyproject.toml").exists():
            if parent / "templates" not in dirs:
                dirs.append(parent / "templates")
            break
        if parent != here and (parent / "templates").is_dir() and parent / "templates" not in dirs:
            dirs.append(parent / "templates")
    return tuple(dirs)


def load_manifest(path: Path | str, *, display_name: str | None = None) -> LoadedManifest:
    """Read and validate a manifest file; ManifestError lists every problem found."""
    path = Path(path)
    shown = display_name or str(path)
    try:
        with path.open("rb") as handle:
            # One byte over the limit is enough for parse_yaml to refuse the size.
            raw = handle.read(MAX_DOCUMENT_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError([Problem("no such file", SourceLocation(shown))]) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ManifestError(
            [Problem(f"cannot read: {exc.strerror}", SourceLocation(shown))]
        ) from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop of links
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ManifestError([Problem(f"cannot read: {reason}", SourceLocation(shown))]) from None
    return load_manifest_text(raw, path, display_name=shown)


def load_manifest_text(
    text: str | bytes, path: Path, *, display_name: str | None = None
) -> LoadedManifest:
    """Validate manifest text as if read from `path` (which locates templates and files)."""
    document = parse_yaml(text, display_name or str(path))
    if not isinstance(document.data, dict):
        raise ManifestError(
            [
                Problem(
                    "a manifest is a mapping (version, name, model, shots, …)",
                    document.location(()),
                )
            ]
        )
    try:
        manifest = Manifest.model_validate(document.data)
    except pydantic.ValidationError as exc:
        raise ManifestError(_pydantic_problems(exc, document)) from None
    loaded = LoadedManifest(manifest, document, path, template_dirs_for(path))
    problems = _cross_field_problems(loaded)
    if problems:
        raise ManifestError(problems)
    return loaded


def _pydantic_problems(exc: pydantic.ValidationError, document: YamlDocument) -> list[Problem]:
    errors = exc.errors(include_url=False)
    hints, explained = _unknown_key_hints(
        [tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden"],
        {tuple(e["loc"]) for e in errors if e["type"] == "missing"},
    )
    problems: list[Problem] = []
    for error in errors:
        loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            message = f"unknown key {str(loc[-1])!r}{hints.get(loc, '')}"
            where = document.location(loc, key=True)
        elif kind == "missing" and loc in explained:
            continue  # reported once, at the unknown key that is misspelt or misplaced
        elif kind == "missing":
            message = f"required key {loc[-1]!r} is missing" + _written_elsewhere(loc, document)
            where = document.location(loc[:-1])
        elif kind == "list_type":
            message = f"must be a list, one item per '- ' line; got {_kind_of(error['input'])}"
            where = document.location(loc)
        elif kind in ("dict_type", "model_type"):
            message = f"must be a mapping of `key: value` lines; got {_kind_of(error['input'])}"
            if isinstance(error["input"], list):
                message += " (remove the '- ')"
            where = document.location(loc)
        elif kind == "string_pattern_mismatch":
            pattern = str((error.get("ctx") or {}).get("pattern", ""))
            message = _PATTERN_MESSAGES.get(pattern, error["msg"]) + f", got {error.get('input')!r}"
            where = document.location(loc)
        else:
            message = error["msg"]
            if kind.startswith(("literal_error", "enum")):
                message = f"{message}, got {error.get('input')!r}"
            where = document.location(loc)
        problems.append(Problem(message, where, dotted(loc)))
    return _dedupe(problems)


def _unknown_key_hints(
    unknown: list[tuple[Any, ...]], missing: set[tuple[Any, ...]]
) -> tuple[dict[tuple[Any, ...], str], set[tuple[Any, ...]]]:
    """What to add to each unknown key's error, and the missing fields those hints explain.

    A required field missing beside a close unknown key is that key misspelt; missing elsewhere
    under the same name, it is that key indented into the wrong mapping. Either way the pair is
    one mistake, reported once at the key. Otherwise: a did-you-mean from the key's own model.
    """
    hints: dict[tuple[Any, ...], str] = {}
    explained: set[tuple[Any, ...]] = set()
    for loc in unknown:
        parent, name = loc[:-1], str(loc[-1])
        absent = [str(m[-1]) for m in missing - explained if m[:-1] == parent]
        close = did_you_mean(name, absent, cutoff=0.6)
        misplaced = sorted((m for m in missing - explained if str(m[-1]) == name), key=str)
        if close:
            explained.add((*parent, close))
            hints[loc] = f"; did you mean {close!r}?"
        elif misplaced:
            explained.add(misplaced[0])
            owner = dotted(misplaced[0][:-1]) or "the top level"
            hints[loc] = f"; {owner} is missing {name!r}: check the indentation of this line"
        else:
            model = _model_at(parent)
            fields = sorted(model.model_fields) if model else _KNOWN_FIELDS
            guess = did_you_mean(name, fields, cutoff=0.7)
            if guess:
                hints[loc] = f"; did you mean {guess!r}?"
    return hints, explained


def _written_elsewhere(loc: tuple[Any, ...], document: YamlDocument) -> str:
    """A missing key that is written deeper in the file was likely indented too far."""
    deeper = sorted(
        path
        for path in document.key_positions
        if path[-1] == loc[-1] and path[: len(loc) - 1] == loc[:-1] and len(path) > len(loc)
    )
    if not deeper:
        return ""
    line, _ = document.key_positions[deeper[0]]
    return f" (there is one in {dotted(deeper[0][:-1])} at line {line}: check its indentation)"


def _kind_of(value: Any) -> str:
    """How YAML wrote `value`, in the words of the error messages."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"the text {str(value)!r}"


def _model_at(loc: tuple[Any, ...]) -> type[pydantic.BaseModel] | None:
    """The schema model whose fields are the keys of the mapping at `loc`, if there is one."""
    annotation: Any = Manifest
    for part in loc:
        model = _model_in(annotation)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return None
    return _model_in(annotation)


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model an annotation stands for, seeing through `Annotated` and `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _model_in(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        models = [m for m in map(_model_in, get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for problem in problems:
        ident = (problem.message, str(problem.location), problem.field_path)
        if ident not in seen:
            seen.add(ident)
            unique.append(problem)
    return unique


def _cross_field_problems(loaded: LoadedManifest) -> list[Problem]:
    m = loaded.manifest
    problems: list[Problem] = []

    def at(path: Path_, message: str, *, key: bool = False) -> None:
        problems.append(Problem(message, loaded.location(path, key=key), dotted(path)))

    for issue in matrix_problems(m.matrix):
        at(("matrix", *issue.path), issue.message, key=len(issue.path) == 1)

    known_markets = ", ".join(m.markets) or "none defined"
    market_values: list[tuple[Path_, Any]] = [
        (("matrix", "market", i), v) for i, v in enumerate(m.matrix.get("market", []))
    ]
    for section in RESERVED:
        for i, entry in enumerate(m.matrix.get(section, [])):
            if isinstance(entry, dict) and "market" in entry:
                market_values.append((("matrix", section, i, "market"), entry["market"]))
    for where, value in market_values:
        if not isinstance(value, str) or value not in m.markets:
            market = did_you_mean(str(value), list(m.markets), cutoff=0.6)
            hint = f"; did you mean {market!r}?" if market else ""
            at(where, f"unknown market {value!r} (markets: {known_markets}){hint}")
    if (
        m.markets
        and "market" not in m.matrix
        and not any(isinstance(e, dict) and "market" in e for e in m.matrix.get("include", []))
    ):
        at(
            ("markets",),
            "markets are defined but the matrix has no `market` axis to select them",
            key=True,
        )

    shot_ids: dict[str, int] = {}
    for i, shot in enumerate(m.shots):
        if shot.id in shot_ids:
            at(
                ("shots", i, "id"),
                f"duplicate shot id {shot.id!r} (also shots[{shot_ids[shot.id]}])",
            )
        shot_ids.setdefault(shot.id, i)
        if shot.storyboard is not None and "multi_prompt" in shot.inputs:
            at(
                ("shots", i, "inputs", "multi_prompt"),
                "the shot has a storyboard, which becomes multi_prompt: remove multi_prompt",
                key=True,
            )
        for name in ("prompt", "negative_prompt"):
            if name in shot.inputs:
                at(
                    ("shots", i, "inputs", name),
                    f"set {name} on the shot itself, not in inputs",
                    key=True,
                )

    axes = {k for k in m.matrix if k not in RESERVED} | {
        k for e in m.matrix.get("include", []) if isinstance(e, dict) for k in e
    }
    cut_ids: set[str] = set()
    for i, cut in enumerate(m.cuts):
        if cut.id in cut_ids:
            at(("cuts", i, "id"), f"duplicate cut id {cut.id!r}")
        cut_ids.add(cut.id)
        for j, shot_id in enumerate(cut.shots):
            if shot_id not in shot_ids:
                guess = did_you_mean(shot_id, shot_ids)
                hint = f"; did you mean {guess!r}?" if guess else ""
                at(("cuts", i, "shots", j), f"unknown shot {shot_id!r}{hint}")
        for j, axis in enumerate(cut.per or []):
            if axis not in axes:
                at(
                    ("cuts", i, "per", j),
                    f"{axis!r} is not a matrix axis (axes: {', '.join(sorted(axes)) or 'none'})",
                )
        if cut.transition.kind != "cut" and cut.transition.seconds <= 0:
            at(
                ("cuts", i, "transition", "seconds"),
                f"a {cut.transition.kind} transition needs seconds > 0",
            )
    return problems
