"""The manifest's shape as pydantic models: the boundary where YAML becomes typed data.

Unknown keys are errors everywhere. Semantic checks that need more than one field (a matrix
naming an unknown market, a cut naming an unknown shot) live in `kling_pipe.manifest.loader`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kling_pipe.takes import MAX_TAKES

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MODEL_REF_PATTERN = r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*(:[0-9a-f]{8,64})?$"
SIZE_PATTERN = r"^[1-9][0-9]*x[1-9][0-9]*$"

Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=64,
        description="Letters, digits, '_', '.', '-'; starts with a letter or digit. Used in paths.",
    ),
]
ModelRef = Annotated[
    str,
    Field(
        pattern=MODEL_REF_PATTERN,
        description="owner/name, or owner/name:version to pin a version.",
        examples=["kwaivgi/kling-v2.6"],
    ),
]
AspectRatio = Literal["16:9", "9:16", "1:1"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoryboardShot(_Strict):
    """One shot of a multi-shot storyboard: what it shows and how long it lasts."""

    prompt: str = Field(min_length=1, description="Jinja2 template of this shot's prompt.")
    duration: int = Field(ge=1, strict=True, description="Whole seconds, at least 1.")


class Shot(_Strict):
    """One shot: a prompt template and its inputs, generated for every matrix combination."""

    id: Identifier
    prompt: str | None = Field(
        None,
        min_length=1,
        description="Jinja2 template of the prompt; required by models that take one "
        "(a lip-sync shot has none: it speaks `text` or `audio_file`).",
    )
    negative_prompt: str | None = Field(None, description="Jinja2 template; overrides defaults.")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Model inputs for this shot, model-native names; they win over everything. "
        "`{from: SHOT}` (optionally `take: N`) is the output of SHOT's job for the same values "
        "of the axes they share.",
    )
    model: ModelRef | None = Field(None, description="Use another model for this shot.")
    per: list[str] | None = Field(
        None,
        description="Matrix axes the shot spans, one job per combination of their values shared "
        "by every other axis (a master per aspect_ratio); default: every axis.",
    )
    storyboard: list[StoryboardShot] | None = Field(
        None,
        min_length=1,
        description="A multi-shot storyboard for models that take one (Kling v3's "
        "multi_prompt): up to six shots whose durations add up to the job's duration.",
    )
    takes: int | None = Field(
        None,
        ge=1,
        le=MAX_TAKES,
        description="Takes (generations) of each of this shot's jobs; wins over `defaults.takes` "
        "and a matrix combination's `takes`. Default 1.",
    )


class Transition(_Strict):
    """How one clip of a cut gives way to the next."""

    kind: Literal[
        "cut",
        "fade",
        "fadeblack",
        "fadewhite",
        "dissolve",
        "wipeleft",
        "wiperight",
        "slideleft",
        "slideright",
        "circleopen",
    ] = "cut"
    seconds: float = Field(0.0, ge=0, le=5)


class Card(_Strict):
    """A title or end card: templated text on a colour or an image."""

    text: str = ""
    seconds: float = Field(2.0, gt=0, le=30)
    background: str = Field("black", description="A colour name or #rrggbb.")
    color: str = Field("white", description="Text colour.")
    image: str | None = Field(None, description="An image file, relative to the manifest.")


class Cut(_Strict):
    """A rough cut: shots in order, stitched once per combination of the axes it spans."""

    id: Identifier
    shots: list[Identifier] = Field(min_length=1)
    transition: Transition = Transition()
    fps: int = Field(30, ge=1, le=120)
    sizes: dict[AspectRatio, Annotated[str, Field(pattern=SIZE_PATTERN)]] = Field(
        default_factory=dict,
        description="Output size per ratio, WIDTHxHEIGHT; default 1920x1080, 1080x1920, 1080x1080.",
    )
    fit: Literal["letterbox", "crop"] = "letterbox"
    loudness_lufs: float | None = Field(None, ge=-40, le=-5)
    title: Card | None = None
    end_card: Card | None = None
    captions: Literal["srt", "burn"] = Field(
        "srt", description="srt: a subtitle file beside the cut; burn: also drawn on the video."
    )
    per: list[str] | None = Field(
        None,
        description="Matrix axes the cut is made for, one cut per combination of their values; "
        "default: market and aspect_ratio, where the matrix has them.",
    )


class Limits(_Strict):
    """How hard a run may push the provider, and how much it may spend."""

    concurrency: int = Field(8, ge=1, le=1000, description="Predictions in flight at once.")
    creates_per_minute: int = Field(60, ge=1, le=6000, description="Prediction creates a minute.")
    budget_usd: float | None = Field(None, ge=0, description="Stop submitting before this.")
    max_jobs: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="The most jobs (shots × matrix combinations) the manifest may expand to; a "
        "guard against a matrix that multiplies out of hand. Raise it deliberately for a larger "
        "campaign.",
    )


class Price(_Strict):
    """A price override for one model, in USD per second of output."""

    per_second: float = Field(ge=0)
    per_second_with_audio: float | None = Field(None, ge=0)


class Manifest(_Strict):
    """A kling-pipe manifest (version 1)."""

    version: Literal[1]
    name: Identifier
    model: ModelRef
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Model inputs for every shot, model-native names; and `takes`, the takes "
        "(generations) of every job (default 1).",
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="Template variables.")
    markets: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict, description="Per-market template variables, selected by `market`."
    )
    matrix: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="GitHub Actions strategy.matrix semantics: axes, include, exclude.",
    )
    shots: list[Shot] = Field(min_length=1)
    cuts: list[Cut] = Field(default_factory=list)
    limits: Limits = Limits()
    prices: dict[ModelRef, Price] = Field(default_factory=dict)
    salt: str = Field("", description="Change to regenerate everything with new takes.")
    output: str | None = Field(
        None,
        description="Output folder, relative to the manifest's folder "
        "(default: out/ at the repository root).",
    )
    store: str | None = Field(
        None,
        description="Store folder, relative to the manifest's folder (default: the nearest "
        ".kling-pipe/ from the manifest's folder up to the repository root, else the root's).",
    )

    @field_validator("vars", "defaults")
    @classmethod
    def _names_are_identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"{name!r} is not a valid name (letters, digits, '_')")
        return value


def manifest_json_schema() -> str:
    """The manifest's JSON Schema (draft 2020-12) as the text editors read, ending in a newline."""
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "kling-pipe manifest",
        **Manifest.model_json_schema(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
