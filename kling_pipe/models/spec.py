"""What a model is to kling-pipe: its inputs, their limits, the rules that span inputs, what it
outputs (a video or an image), its price, and a registry of models looked up by
`owner/name[:version]`.

A model's schema can be pulled from the API into a local registry (`kling-pipe models pull`),
which is read through `ModelSpec.from_openapi`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

InputType = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]
OutputKind = Literal["video", "image"]
"""What a model's output is: a clip, or a still picture."""


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
class Requires:
    """`input` only works together with `needs` (Kling: an end image needs a start image)."""

    input: str
    needs: str


@dataclass(frozen=True)
class OneOf:
    """Exactly one of `inputs` must be given (lip-sync: `text` or `audio_file`)."""

    inputs: tuple[str, ...]
    why: str = ""


@dataclass(frozen=True)
class MaxLength:
    """A length limit the model enforces although its published schema does not say it."""

    input: str
    limit: int
    what: str = "characters"


@dataclass(frozen=True)
class MaxItems:
    """At most `limit` items in `input`, or `limit_with` of them when `with_input` is set."""

    input: str
    limit: int
    with_input: str | None = None
    limit_with: int | None = None


@dataclass(frozen=True)
class NotWith:
    """`input` must not be `value` while `other` is set (omni: no generated audio with a
    reference video)."""

    input: str
    value: Any
    other: str


@dataclass(frozen=True)
class PromptReferences:
    """Tags like `<<<image_2>>>` in the prompt name the n-th item of an input: each tag's
    kind maps to the input whose items it counts."""

    inputs: Mapping[str, str]


@dataclass(frozen=True)
class Storyboard:
    """`input` takes a multi-shot storyboard: a JSON list of `{prompt, duration}` shots, at
    most `max_shots`, each at least `min_seconds`, summing to the `duration` input."""

    input: str = "multi_prompt"
    max_shots: int = 6
    min_seconds: int = 1


@dataclass(frozen=True)
class InputVideo:
    """The limits of a video the model takes as input (checked where the file can be read)."""

    input: str
    min_seconds: float
    max_seconds: float
    min_side: int
    max_side: int


Rule = (
    Requires | OneOf | MaxLength | MaxItems | NotWith | PromptReferences | Storyboard | InputVideo
)
"""A constraint spanning or beyond one input's schema, checked before anything is spent."""


@dataclass(frozen=True)
class ModelSpec:
    """A model: its inputs, rules, output kind and price.

    Video models are priced per second of output: `price_per_second`, or per `mode` from
    `mode_prices`, and with `generate_audio` on from the `..._with_audio` rates. A model whose
    output is as long as an input video (lip-sync) names that input in `seconds_from`. Image
    models are priced per output with `price_per_image`. `prices_as_of` dates the price table.
    """

    ref: str  # owner/name
    inputs: Mapping[str, InputSpec]
    price_per_second: float
    price_per_second_with_audio: float | None = None
    mode_prices: Mapping[str, float] = field(default_factory=dict)
    ignores_aspect_ratio_with_start_image: bool = False
    summary: str = ""
    mode_prices_with_audio: Mapping[str, float] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    output_kind: OutputKind = "video"
    price_per_image: float | None = None
    seconds_from: str | None = None
    prices_as_of: str | None = None

    def rule(self, kind: type[Rule]) -> Rule | None:
        """The model's first rule of `kind`, or None."""
        return next((r for r in self.rules if isinstance(r, kind)), None)

    @property
    def storyboard(self) -> Storyboard | None:
        """How the model takes a multi-shot storyboard, if it does."""
        found = self.rule(Storyboard)
        return found if isinstance(found, Storyboard) else None

    @property
    def input_video(self) -> InputVideo | None:
        """The limits of the video the model takes as input, if it takes one."""
        found = self.rule(InputVideo)
        return found if isinstance(found, InputVideo) else None

    @property
    def has_audio(self) -> bool:
        """Whether the model can generate an audio track."""
        return "generate_audio" in self.inputs

    def defaults(self) -> dict[str, Any]:
        """Every input's default value, where it has one."""
        return {n: s.default for n, s in self.inputs.items() if s.default is not None}

    def output_openapi(self) -> dict[str, Any]:
        """The model's `Output` schema: one URI (a video), or a list of URIs (images)."""
        uri = {"type": "string", "format": "uri"}
        if self.output_kind == "image":
            return {"type": "array", "title": "Output", "items": uri}
        return {**uri, "title": "Output"}

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
        output_schema: Mapping[str, Any] | None = None,
        price_per_image: float | None = None,
        prices_as_of: str | None = None,
    ) -> ModelSpec:
        """Build a spec from an `Input` schema pulled from the API (and its `Output` schema,
        which says whether the model makes a video or images: see `output_kind_of`)."""
        required = set(input_schema.get("required", []))
        props: Mapping[str, Any] = input_schema.get("properties", {})
        ordered = sorted(props.items(), key=lambda kv: kv[1].get("x-order", 0))
        kind = output_kind_of(input_schema, output_schema)
        return cls(
            ref=ref,
            inputs={n: InputSpec.from_openapi(n, p, n in required) for n, p in ordered},
            price_per_second=price_per_second,
            price_per_second_with_audio=price_per_second_with_audio,
            output_kind=kind,
            price_per_image=price_per_image,
            prices_as_of=prices_as_of,
        )


_VIDEO_INPUTS = frozenset(
    {"duration", "num_frames", "fps", "frames_per_second", "generate_audio", "video_length"}
)
_IMAGE_FORMATS = frozenset({"png", "jpg", "jpeg", "webp"})


def output_kind_of(
    input_schema: Mapping[str, Any], output_schema: Mapping[str, Any] | None
) -> OutputKind:
    """Whether a model makes a video or an image, from its published schemas.

    Replicate's `Output` schema says only "a URI" or "a list of URIs", never the media type,
    so the decision reads both schemas: a list of URIs is images (Replicate's video models,
    Kling's included, return one URI); one URI is a video when the inputs ask for a length of
    time (duration, frames, fps, audio), an image when an `output_format` offers only picture
    formats, and a video otherwise (the conservative reading for a pipeline of clips).
    """
    output = dict(output_schema or {})
    if output.get("type") == "array":
        return "image"
    props: Mapping[str, Any] = input_schema.get("properties", {})
    if _VIDEO_INPUTS & set(props):
        return "video"
    fmt = props.get("output_format")
    if isinstance(fmt, Mapping):
        choices = {str(c).lower() for c in fmt.get("enum", [])}
        for part in fmt.get("allOf", []):
            if isinstance(part, Mapping):
                choices |= {str(c).lower() for c in part.get("enum", [])}
        if choices and choices <= _IMAGE_FORMATS:
            return "image"
    return "video"


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
