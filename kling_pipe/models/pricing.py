"""What a generation costs, estimated before it is submitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kling_pipe.models.spec import ModelSpec


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
