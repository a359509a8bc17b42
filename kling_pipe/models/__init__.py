"""What kling-pipe knows about each model: its inputs, their limits and its price."""

from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.checks import check_inputs
from kling_pipe.models.pricing import estimate_cost
from kling_pipe.models.spec import InputSpec, ModelRegistry, ModelSpec

__all__ = [
    "InputSpec",
    "ModelRegistry",
    "ModelSpec",
    "bundled_registry",
    "check_inputs",
    "estimate_cost",
]
