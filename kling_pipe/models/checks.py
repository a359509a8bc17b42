"""The checks made on a job's inputs against its model's schema, before anything is spent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kling_pipe.models.spec import InputSpec, ModelSpec
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
    kind: str  # "unknown", "type", "enum", "range", "length", "required", "deprecated"


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
    return issues
