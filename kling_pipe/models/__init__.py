"""What kling-pipe knows about each model: its inputs, their limits and its price."""

from kling_pipe.models.registry import (
    InputSpec,
    ModelRegistry,
    ModelSpec,
    bundled_registry,
    check_inputs,
    estimate_cost,
)

__all__ = [
    "InputSpec",
    "ModelRegistry",
    "ModelSpec",
    "bundled_registry",
    "check_inputs",
    "estimate_cost",
]
