"""The checks made on a job's inputs against its model's schema, before anything is spent."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kling_pipe.models.spec import (
    InputSpec,
    MaxItems,
    MaxLength,
    ModelSpec,
    NotWith,
    OneOf,
    PromptReferences,
    Requires,
    Storyboard,
)
from kling_pipe.spelling import did_you_mean

# Names people reach for that a model calls something else.
_ALIASES = {
    "audio": "generate_audio",
    "sound": "generate_audio",
    "image": "start_image",
    "first_frame": "start_image",
    "last_frame": "end_image",
    "ratio": "aspect_ratio",
    "aspect": "aspect_ratio",
    "length": "duration",
    "seconds": "duration",
    "negative": "negative_prompt",
}


@dataclass(frozen=True)
class InputIssue:
    """A problem with one input value; `field` is the input's name."""

    field: str
    message: str
    kind: str  # "unknown", "type", "enum", "range", "length", "required", "deprecated", "rule"


def _type_ok(spec: InputSpec, value: Any) -> bool:
    if spec.type in ("string", "uri"):
        return isinstance(value, str)
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_TYPE_WORDS = {
    "string": "a string",
    "uri": "a URL or a local file path",
    "boolean": "true or false",
    "integer": "a whole number",
    "number": "a number",
    "uri_list": "a list of URLs or local file paths",
}


def check_inputs(spec: ModelSpec, inputs: Mapping[str, Any]) -> list[InputIssue]:
    """Every problem with `inputs` for `spec`, in input order; empty when all is well."""
    issues: list[InputIssue] = []
    for name, value in inputs.items():
        ispec = spec.inputs.get(name)
        if ispec is None:
            guess = did_you_mean(name, spec.inputs, aliases=_ALIASES)
            hint = f"; did you mean '{guess}'?" if guess else ""
            issues.append(
                InputIssue(
                    name,
                    f"unknown input for {spec.ref}{hint} (it takes: {', '.join(spec.inputs)})",
                    "unknown",
                )
            )
            continue
        if value is None:
            continue
        if not _type_ok(ispec, value):
            issues.append(
                InputIssue(
                    name,
                    f"must be {_TYPE_WORDS[ispec.type]}, got {type(value).__name__} {value!r}",
                    "type",
                )
            )
            continue
        if ispec.choices and value not in ispec.choices:
            allowed = ", ".join(repr(c) for c in ispec.choices)
            issues.append(
                InputIssue(name, f"{value!r} is not allowed; use one of {allowed}", "enum")
            )
        if ispec.minimum is not None and value < ispec.minimum:
            issues.append(
                InputIssue(name, f"{value!r} is below the minimum {ispec.minimum:g}", "range")
            )
        if ispec.maximum is not None and value > ispec.maximum:
            issues.append(
                InputIssue(name, f"{value!r} is above the maximum {ispec.maximum:g}", "range")
            )
        if ispec.max_length is not None and len(value) > ispec.max_length:
            issues.append(
                InputIssue(
                    name,
                    f"is {len(value)} characters long; {spec.ref} takes at most {ispec.max_length}",
                    "length",
                )
            )
        if ispec.max_items is not None and len(value) > ispec.max_items:
            issues.append(
                InputIssue(name, f"has {len(value)} items; at most {ispec.max_items}", "length")
            )
        if ispec.deprecated:
            issues.append(InputIssue(name, f"is deprecated: {ispec.description}", "deprecated"))
    for name, ispec in spec.inputs.items():
        if ispec.required and inputs.get(name) in (None, ""):
            issues.append(InputIssue(name, f"is required by {spec.ref}", "required"))
    if not any(issue.kind == "type" for issue in issues):
        issues.extend(check_rules(spec, inputs))
    return issues


def _given(inputs: Mapping[str, Any], name: str) -> bool:
    return inputs.get(name) not in (None, "", [])


def check_rules(spec: ModelSpec, inputs: Mapping[str, Any]) -> list[InputIssue]:
    """Problems with the rules that span inputs (`spec.rules`), kind "rule"."""
    issues: list[InputIssue] = []
    for rule in spec.rules:
        if isinstance(rule, Requires):
            if _given(inputs, rule.input) and not _given(inputs, rule.needs):
                issues.append(
                    InputIssue(
                        rule.input,
                        f"needs {rule.needs}: {spec.ref} takes {rule.input} only together with "
                        f"{rule.needs}; add {rule.needs} or remove {rule.input}",
                        "rule",
                    )
                )
        elif isinstance(rule, OneOf):
            given = [name for name in rule.inputs if _given(inputs, name)]
            names = " or ".join(rule.inputs)
            why = f" ({rule.why})" if rule.why else ""
            if not given:
                issues.append(
                    InputIssue(rule.inputs[0], f"{spec.ref} needs one of {names}{why}", "required")
                )
            for extra in given[1:]:
                issues.append(
                    InputIssue(
                        extra,
                        f"give {names}, not both{why}: {spec.ref} takes one of them",
                        "rule",
                    )
                )
        elif isinstance(rule, MaxLength):
            value = inputs.get(rule.input)
            if isinstance(value, str) and len(value) > rule.limit:
                issues.append(
                    InputIssue(
                        rule.input,
                        f"is {len(value)} {rule.what} long; {spec.ref} takes at most "
                        f"{rule.limit}: shorten it",
                        "rule",
                    )
                )
        elif isinstance(rule, MaxItems):
            issues.extend(_max_items(spec, rule, inputs))
        elif isinstance(rule, NotWith):
            if inputs.get(rule.input) == rule.value and _given(inputs, rule.other):
                issues.append(
                    InputIssue(
                        rule.input,
                        f"cannot be {json.dumps(rule.value)} with a {rule.other}: {spec.ref} "
                        f"does not generate audio from a {rule.other} (keep_original_sound "
                        "keeps its sound instead); turn it off or drop the reference",
                        "rule",
                    )
                )
        elif isinstance(rule, PromptReferences):
            issues.extend(_prompt_references(spec, rule, inputs))
        elif isinstance(rule, Storyboard):
            value = inputs.get(rule.input)
            if isinstance(value, str) and value:
                issues.extend(
                    InputIssue(rule.input, message, "rule")
                    for _, message in _raw_storyboard_problems(spec, rule, value, inputs)
                )
    return issues


def _max_items(spec: ModelSpec, rule: MaxItems, inputs: Mapping[str, Any]) -> list[InputIssue]:
    value = inputs.get(rule.input)
    if not isinstance(value, list):
        return []
    with_other = rule.with_input is not None and _given(inputs, rule.with_input)
    limit = rule.limit_with if with_other and rule.limit_with is not None else rule.limit
    if len(value) <= limit:
        return []
    context = f" with a {rule.with_input}" if with_other else ""
    other = (
        f" ({rule.limit_with} with a {rule.with_input})"
        if rule.with_input and rule.limit_with is not None and not with_other
        else ""
    )
    return [
        InputIssue(
            rule.input,
            f"has {len(value)} items; {spec.ref} takes at most {limit}{context}{other}",
            "rule",
        )
    ]


REFERENCE_TAG = re.compile(r"<<<([A-Za-z]+)_(\d+)>>>")
"""An omni prompt's reference to an input's item: `<<<image_2>>>`, `<<<video_1>>>`."""


def reference_problems(
    spec: ModelSpec, rule: PromptReferences, text: str, inputs: Mapping[str, Any]
) -> list[str]:
    """What is wrong with the `<<<kind_N>>>` tags in `text`, given the inputs they count."""
    problems: list[str] = []
    for match in REFERENCE_TAG.finditer(text):
        kind, number = match.group(1), int(match.group(2))
        name = rule.inputs.get(kind)
        if name is None:
            kinds = ", ".join(f"<<<{k}_N>>>" for k in rule.inputs)
            problems.append(f"{match.group(0)} is not a reference {spec.ref} takes ({kinds})")
            continue
        value = inputs.get(name)
        count = len(value) if isinstance(value, list) else (1 if _given(inputs, name) else 0)
        if number < 1 or number > count:
            has = f"has {count}" if count else "has none"
            problems.append(
                f"{match.group(0)} names {kind} {number} but {name} {has}: "
                f"add it to {name} or fix the number"
            )
    return problems


def _prompt_references(
    spec: ModelSpec, rule: PromptReferences, inputs: Mapping[str, Any]
) -> list[InputIssue]:
    issues = [
        InputIssue("prompt", message, "rule")
        for message in reference_problems(spec, rule, str(inputs.get("prompt") or ""), inputs)
    ]
    board = spec.storyboard
    raw = inputs.get(board.input) if board is not None else None
    if board is not None and isinstance(raw, str):
        shots = _parse_storyboard(raw)
        for index, (prompt, _) in enumerate(shots or []):
            for message in reference_problems(spec, rule, str(prompt), inputs):
                issues.append(InputIssue(board.input, f"shot {index + 1}: {message}", "rule"))
    return issues


def _parse_storyboard(raw: str) -> list[tuple[Any, Any]] | None:
    try:
        shots = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(shots, list) or not all(isinstance(s, dict) for s in shots):
        return None
    return [(s.get("prompt"), s.get("duration")) for s in shots]


def _raw_storyboard_problems(
    spec: ModelSpec, rule: Storyboard, raw: str, inputs: Mapping[str, Any]
) -> list[tuple[int | None, str]]:
    shots = _parse_storyboard(raw)
    if shots is None:
        return [
            (
                None,
                'must be a JSON list of {"prompt": "...", "duration": N} shots; write it as '
                "the shot's `storyboard:` instead",
            )
        ]
    return storyboard_problems(spec, rule, shots, inputs.get("duration"))


def storyboard_problems(
    spec: ModelSpec, rule: Storyboard, shots: Sequence[tuple[Any, Any]], duration: Any
) -> list[tuple[int | None, str]]:
    """Problems with a storyboard's `(prompt, duration)` shots for a clip of `duration` s:
    each as (index of the shot at fault, or None for the whole board; message)."""
    problems: list[tuple[int | None, str]] = []
    if not shots:
        problems.append((None, "a storyboard needs at least one shot"))
    for index in range(rule.max_shots, len(shots)):
        problems.append(
            (index, f"shot {index + 1} is one too many: {spec.ref} takes at most {rule.max_shots}")
        )
    total = 0
    for index, (prompt, seconds) in enumerate(shots):
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append((index, f"shot {index + 1} needs a prompt"))
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            problems.append(
                (index, f"shot {index + 1}'s duration must be a whole number of seconds")
            )
            continue
        if seconds < rule.min_seconds:
            problems.append(
                (
                    index,
                    f"shot {index + 1} lasts {seconds} s; each lasts at least {rule.min_seconds} s",
                )
            )
        total += seconds
    if isinstance(duration, int) and not isinstance(duration, bool) and shots and total != duration:
        problems.append(
            (
                None,
                f"the shots last {total} s in all but the clip's duration is {duration} s: "
                "they must add up to it",
            )
        )
    return problems


def check_input_video(spec: ModelSpec, seconds: float, width: int, height: int) -> list[InputIssue]:
    """Problems with the input video the model re-works (lip-sync: 2–10 s, 720–1920 px)."""
    video = spec.input_video
    if video is None:
        return []
    issues: list[InputIssue] = []
    if not video.min_seconds <= seconds <= video.max_seconds:
        issues.append(
            InputIssue(
                video.input,
                f"the video lasts {seconds:.2f} s; {spec.ref} takes "
                f"{video.min_seconds:g}–{video.max_seconds:g} s",
                "rule",
            )
        )
    if not all(video.min_side <= side <= video.max_side for side in (width, height)):
        issues.append(
            InputIssue(
                video.input,
                f"the video is {width}x{height}; {spec.ref} takes "
                f"{video.min_side}–{video.max_side} px a side (720p to 1080p)",
                "rule",
            )
        )
    return issues
