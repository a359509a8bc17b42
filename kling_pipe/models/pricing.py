"""What a generation costs, estimated before it is submitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kling_pipe.models.spec import ModelSpec


def estimate_cost(spec: ModelSpec, inputs: Mapping[str, Any]) -> float:
    """Estimated price in USD of one generation with `inputs` (defaults applied by the caller)."""
    seconds = duration_seconds(inputs)
    rate = spec.price_per_second
    mode = inputs.get("mode")
    if isinstance(mode, str) and mode in spec.mode_prices:
        rate = spec.mode_prices[mode]
    if inputs.get("generate_audio") is True and spec.price_per_second_with_audio is not None:
        rate = spec.price_per_second_with_audio
    return round(seconds * rate, 4)


def duration_seconds(inputs: Mapping[str, Any]) -> float:
    """Seconds of video `inputs` ask for: their `duration` when it is a number, else 5."""
    duration = inputs.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration:
        return float(duration)
    return 5.0
