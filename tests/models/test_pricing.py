"""Prices per mode, per audio setting, per second of input video and per image."""

from __future__ import annotations

import pytest

from kling_pipe.models import bundled_registry, estimate_cost
from kling_pipe.models.spec import ModelSpec, output_kind_of

REGISTRY = bundled_registry()


def spec(ref: str) -> ModelSpec:
    found = REGISTRY.get(ref)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("mode", "audio", "rate"),
    [
        ("standard", False, 0.168),
        ("standard", True, 0.252),
        ("pro", False, 0.224),
        ("pro", True, 0.336),
    ],
)
@pytest.mark.parametrize("ref", ["kwaivgi/kling-v3-video", "kwaivgi/kling-v3-omni-video"])
def test_v3_is_priced_per_mode_with_and_without_audio(
    ref: str, mode: str, audio: bool, rate: float
) -> None:
    inputs = {"mode": mode, "generate_audio": audio, "duration": 10}
    assert estimate_cost(spec(ref), inputs) == pytest.approx(10 * rate)


def test_lip_sync_is_priced_per_second_of_its_input_video() -> None:
    lip = spec("kwaivgi/kling-lip-sync")
    assert estimate_cost(lip, {"text": "hi"}, input_seconds=5) == pytest.approx(5 * 0.014)
    # not known yet: the longest video it takes, so a budget is never underestimated
    assert estimate_cost(lip, {"text": "hi"}) == pytest.approx(10 * 0.014)


def test_every_bundled_price_is_dated() -> None:
    for ref in REGISTRY.refs():
        assert spec(ref).prices_as_of, ref


def test_an_image_model_is_priced_per_image() -> None:
    image = ModelSpec.from_openapi(
        "acme/stills",
        {"properties": {"prompt": {"type": "string"}}},
        0.0,
        output_schema={"type": "array", "items": {"type": "string", "format": "uri"}},
        price_per_image=0.03,
    )
    assert image.output_kind == "image"
    assert estimate_cost(image, {"prompt": "x", "duration": 10}) == 0.03


@pytest.mark.parametrize(
    ("inputs", "output", "kind"),
    [
        ({}, {"type": "array", "items": {"type": "string", "format": "uri"}}, "image"),
        ({"duration": {"type": "integer"}}, {"type": "string", "format": "uri"}, "video"),
        (
            {"output_format": {"enum": ["webp", "jpg", "png"]}},
            {"type": "string", "format": "uri"},
            "image",
        ),
        (
            {"output_format": {"allOf": [{"enum": ["png"]}]}},
            {"type": "string", "format": "uri"},
            "image",
        ),
        ({"prompt": {"type": "string"}}, {"type": "string", "format": "uri"}, "video"),
        ({}, None, "video"),
    ],
)
def test_output_kind_is_read_from_the_schemas(
    inputs: dict[str, object], output: dict[str, object] | None, kind: str
) -> None:
    assert output_kind_of({"properties": inputs}, output) == kind


def test_bundled_kling_models_make_videos_and_publish_one_uri() -> None:
    for ref in REGISTRY.refs():
        model = spec(ref)
        assert model.output_kind == "video"
        assert model.output_openapi() == {"type": "string", "format": "uri", "title": "Output"}
