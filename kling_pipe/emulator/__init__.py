"""A local HTTP server that speaks Replicate's predictions API, for rehearsals and tests.

Inputs are validated against the same model registry the planner uses, predictions move through
Replicate's lifecycle on a latency distribution, outputs are preview renders, and faults (429s,
5xx, dropped connections, failed or aborted predictions, broken downloads) come on demand.
"""

from kling_pipe.emulator.config import (
    ROUTES,
    EmulatorConfig,
    Faults,
    LatencyRange,
    parse_route_shares,
)
from kling_pipe.emulator.runtime import Emulator, serve
from kling_pipe.emulator.server import EmulatorServer
from kling_pipe.emulator.stats import create_key

__all__ = [
    "ROUTES",
    "Emulator",
    "EmulatorConfig",
    "EmulatorServer",
    "Faults",
    "LatencyRange",
    "create_key",
    "parse_route_shares",
    "serve",
]
