"""What a video model is to kling-pipe: its inputs, their limits, its price, and a registry
of models looked up by `owner/name[:version]`.

A model's schema can be pulled from the API into a local registry (`kling-pipe models pull`),
which is read through `ModelSpec.from_openapi`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

InputType = Literal["string", "integer", "number", "boolean", "uri", "uri_list"]


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
