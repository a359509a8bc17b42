"""Model descriptions (inputs, limits, prices) and the pure checks made before anything is spent.

The bundled descriptions follow Replicate's published schemas for the Kling models (see the
project's notes). A model's schema can also be pulled from the API into a local registry
(`kling-pipe models pull`), which is read through `ModelSpec.from_openapi`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

InputType = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]

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
class InputSpec:
    """One model input as the model's API schema declares it."""

    name: str
    type: InputType
    description: str = ""
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    max_items: int | None = None
    deprecated: bool = False

    @property
    def is_file(self) -> bool:
        """Whether the input takes a file (a URI, or a local path kling-pipe uploads)."""
        return self.type in ("uri", "uri_list")

    def to_openapi(self) -> dict[str, Any]:
        """This input as a property of an OpenAPI `Input` schema, as Replicate publishes it."""
        prop: dict[str, Any] = {"title": self.name.replace("_", " ").title()}
        if self.description:
            prop["description"] = self.description
        if self.type == "uri":
            prop.update(type="string", format="uri")
        elif self.type == "uri_list":
            prop.update(type="array", items={"type": "string", "format": "uri"})
        else:
            prop["type"] = self.type
        if self.default is not None:
            prop["default"] = self.default
        if self.choices:
            prop["enum"] = list(self.choices)
        if self.minimum is not None:
            prop["minimum"] = self.minimum
        if self.maximum is not None:
            prop["maximum"] = self.maximum
        if self.max_length is not None:
            prop["maxLength"] = self.max_length
        if self.max_items is not None:
            prop["maxItems"] = self.max_items
        if self.deprecated:
            prop["deprecated"] = True
        return prop

    @classmethod
    def from_openapi(cls, name: str, prop: Mapping[str, Any], required: bool) -> InputSpec:
        """Read one property of an OpenAPI `Input` schema (enums may come through `allOf`)."""
        merged: dict[str, Any] = dict(prop)
        for part in prop.get("allOf", []):
            if isinstance(part, Mapping):
                merged.update({k: v for k, v in part.items() if k not in merged})
        raw_type = merged.get("type", "string")
        kind: InputType
        if raw_type == "array":
            kind = "uri_list"
        elif raw_type == "string" and merged.get("format") == "uri":
            kind = "uri"
        elif raw_type in ("string", "integer", "number", "boolean"):
            kind = raw_type
        else:
            kind = "string"
        return cls(
            name=name,
            type=kind,
            description=str(merged.get("description", "")),
            default=merged.get("default"),
            required=required,
            choices=tuple(merged.get("enum", ())),
            minimum=merged.get("minimum"),
            maximum=merged.get("maximum"),
            max_length=merged.get("maxLength"),
            max_items=merged.get("maxItems"),
            deprecated=bool(merged.get("deprecated", False)),
        )


@dataclass(frozen=True)
class ModelSpec:
    """A video model: its inputs, limits and price per second of output."""

    ref: str  # owner/name
    inputs: Mapping[str, InputSpec]
    price_per_second: float
    price_per_second_with_audio: float | None = None
    mode_prices: Mapping[str, float] = field(default_factory=dict)
    ignores_aspect_ratio_with_start_image: bool = False
    summary: str = ""

    @property
    def has_audio(self) -> bool:
        """Whether the model can generate an audio track."""
        return "generate_audio" in self.inputs

    def defaults(self) -> dict[str, Any]:
        """Every input's default value, where it has one."""
        return {n: s.default for n, s in self.inputs.items() if s.default is not None}

    def to_openapi(self) -> dict[str, Any]:
        """The model's `Input` schema as Replicate publishes it in a version's openapi_schema."""
        ordered = list(self.inputs.values())
        return {
            "type": "object",
            "title": "Input",
            "required": [s.name for s in ordered if s.required],
            "properties": {s.name: {**s.to_openapi(), "x-order": i} for i, s in enumerate(ordered)},
        }

    @classmethod
    def from_openapi(
        cls,
        ref: str,
        input_schema: Mapping[str, Any],
        price_per_second: float,
        price_per_second_with_audio: float | None = None,
    ) -> ModelSpec:
        """Build a spec from an `Input` schema pulled from the API."""
        required = set(input_schema.get("required", []))
        props: Mapping[str, Any] = input_schema.get("properties", {})
        ordered = sorted(props.items(), key=lambda kv: kv[1].get("x-order", 0))
        return cls(
            ref=ref,
            inputs={n: InputSpec.from_openapi(n, p, n in required) for n, p in ordered},
            price_per_second=price_per_second,
            price_per_second_with_audio=price_per_second_with_audio,
        )


class ModelRegistry:
    """The models kling-pipe can validate and price, looked up by `owner/name[:version]`."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs = {s.ref: s for s in specs}

    def __contains__(self, ref: str) -> bool:
        return split_model_ref(ref)[0] in self._specs

    def get(self, ref: str) -> ModelSpec | None:
        """The spec of `ref` (a pinned version shares its model's spec), or None."""
        return self._specs.get(split_model_ref(ref)[0])

    def refs(self) -> list[str]:
        """Every known model, sorted."""
        return sorted(self._specs)

    def with_specs(self, specs: Iterable[ModelSpec]) -> ModelRegistry:
        """A registry where `specs` replace or add to these."""
        return ModelRegistry([*self._specs.values(), *specs])


def split_model_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name:version` → (`owner/name`, `version`); version is None when not pinned."""
    name, _, version = ref.partition(":")
    return name, version or None


# ---------------------------------------------------------------- the bundled Kling models

_ASPECT = ("16:9", "9:16", "1:1")
_NEG = InputSpec("negative_prompt", "string", "Things you do not want to see.", default="")
_START = InputSpec("start_image", "uri", "First frame of the video (image-to-video).")
_END = InputSpec("end_image", "uri", "Last frame of the video.")


def _prompt(max_length: int | None = None) -> InputSpec:
    return InputSpec(
        "prompt",
        "string",
        "Text prompt for video generation.",
        required=True,
        max_length=max_length,
    )


def _ratio() -> InputSpec:
    return InputSpec(
        "aspect_ratio",
        "string",
        "Aspect ratio; ignored when start_image is set.",
        default="16:9",
        choices=_ASPECT,
    )


def _spec(ref: str, summary: str, inputs: list[InputSpec], **kw: Any) -> ModelSpec:
    return ModelSpec(ref=ref, inputs={i.name: i for i in inputs}, summary=summary, **kw)


_BUNDLED = [
    _spec(
        "kwaivgi/kling-v2.6",
        "Text/image to video with native audio and lip-synced dialogue.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
            InputSpec("generate_audio", "boolean", "Generate audio and dialogue.", default=True),
        ],
        price_per_second=0.07,
        price_per_second_with_audio=0.14,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v2.5-turbo-pro",
        "Fast text/image to video, no audio.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _END,
            InputSpec("image", "uri", "Deprecated: use start_image.", deprecated=True),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
        ],
        price_per_second=0.07,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v2.1",
        "Image to video; 720p standard or 1080p pro.",
        [
            _prompt(2500),
            InputSpec("start_image", "uri", "First frame of the video.", required=True),
            InputSpec("end_image", "uri", "Last frame (pro mode only)."),
            InputSpec(
                "mode",
                "string",
                "standard (720p) or pro (1080p).",
                default="standard",
                choices=("standard", "pro"),
            ),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
            _NEG,
        ],
        price_per_second=0.05,
        mode_prices={"standard": 0.05, "pro": 0.09},
    ),
    _spec(
        "kwaivgi/kling-v3-video",
        "Text/image to video, 3–15 s, multi-shot prompts, optional audio.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _END,
            InputSpec(
                "mode", "string", "Quality mode.", default="pro", choices=("standard", "pro")
            ),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, minimum=3, maximum=15),
            InputSpec("generate_audio", "boolean", "Generate audio.", default=False),
            InputSpec("multi_prompt", "string", "JSON list of up to 6 shots summing to duration."),
        ],
        price_per_second=0.10,
        price_per_second_with_audio=0.15,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v3-omni-video",
        "Video from references (images, a video), 3–15 s, optional audio.",
        [
            _prompt(2500),
            _START,
            _END,
            InputSpec("reference_images", "uri_list", "Up to 7 reference images.", max_items=7),
            InputSpec("reference_video", "uri", "A reference video."),
            InputSpec(
                "video_reference_type",
                "string",
                "How the reference video is used.",
                choices=("feature", "base"),
            ),
            InputSpec("keep_original_sound", "boolean", "Keep the reference video's sound."),
            InputSpec("generate_audio", "boolean", "Generate audio.", default=False),
            InputSpec(
                "mode", "string", "Quality mode.", default="pro", choices=("standard", "pro")
            ),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, minimum=3, maximum=15),
            InputSpec("multi_prompt", "string", "JSON list of up to 6 shots summing to duration."),
        ],
        price_per_second=0.10,
        price_per_second_with_audio=0.15,
        ignores_aspect_ratio_with_start_image=True,
    ),
]


def bundled_registry() -> ModelRegistry:
    """The Kling models on Replicate that kling-pipe knows without any network."""
    return ModelRegistry(_BUNDLED)


# ---------------------------------------------------------------- pure checks and pricing


@dataclass(frozen=True)
class InputIssue:
    """A problem with one input value; `field` is the input's name."""

    field: str
    message: str
    kind: str  # "unknown", "type", "enum", "range", "length", "required", "deprecated"


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` most likely meant, or None."""
    known = list(known)
    alias = _ALIASES.get(name.lower())
    if alias in known:
        return alias
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    contains = [k for k in known if name.lower() in k or k in name.lower()]
    return contains[0] if len(contains) == 1 else None


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
            guess = did_you_mean(name, spec.inputs)
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


def estimate_cost(spec: ModelSpec, inputs: Mapping[str, Any]) -> float:
    """Estimated price in USD of one generation with `inputs` (defaults applied by the caller)."""
    seconds = float(inputs.get("duration") or 5)
    rate = spec.price_per_second
    mode = inputs.get("mode")
    if isinstance(mode, str) and mode in spec.mode_prices:
        rate = spec.mode_prices[mode]
    if inputs.get("generate_audio") is True and spec.price_per_second_with_audio is not None:
        rate = spec.price_per_second_with_audio
    return round(seconds * rate, 4)
