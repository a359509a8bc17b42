"""What a generation costs, estimated before it is submitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kling_pipe.models.spec import ModelSpec


def estimate_cost(
    spec: ModelSpec, inputs: Mapping[str, Any], *, input_seconds: float | None = None
) -> float:
    """Estimated price in USD of one generation with `inputs` (defaults applied by the caller).

    Video models: seconds × the rate for the job's `mode` and audio setting. A model whose
    output is as long as its input video (`spec.seconds_from`, lip-sync) is billed on
    `input_seconds`, that video's length, or on the longest video it takes when the length is
    not known yet. Image models: `price_per_image` a run.
    """
    if spec.output_kind == "image":
        return round(spec.price_per_image or spec.price_per_second, 4)
    seconds = billed_seconds(spec, inputs, input_seconds)
    return round(seconds * rate_per_second(spec, inputs), 4)


def rate_per_second(spec: ModelSpec, inputs: Mapping[str, Any]) -> float:
    """USD per second of output for `inputs`' mode and audio setting."""
    mode = inputs.get("mode")
    audio = inputs.get("generate_audio") is True
    if isinstance(mode, str):
        if audio and mode in spec.mode_prices_with_audio:
            return spec.mode_prices_with_audio[mode]
        if not audio and mode in spec.mode_prices:
            return spec.mode_prices[mode]
    if audio and spec.price_per_second_with_audio is not None:
        return spec.price_per_second_with_audio
    if isinstance(mode, str) and mode in spec.mode_prices:
        return spec.mode_prices[mode]
    return spec.price_per_second


def billed_seconds(
    spec: ModelSpec, inputs: Mapping[str, Any], input_seconds: float | None = None
) -> float:
    """Seconds of output a generation is billed for."""
    if spec.seconds_from is not None:
        if input_seconds is not None:
            return float(input_seconds)
        video = spec.input_video
        return float(video.max_seconds) if video is not None else duration_seconds(inputs)
    return duration_seconds(inputs)


def duration_seconds(inputs: Mapping[str, Any]) -> float:
    """Seconds of video `inputs` ask for: their `duration` when it is a number, else 5."""
    duration = inputs.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration:
        return float(duration)
    return 5.0
