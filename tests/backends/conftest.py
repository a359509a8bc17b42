"""A running emulator for the backends, and a way to drive a backend from a test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import anyio
import pytest

from kling_pipe.backends.protocol import Prediction
from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

TOKEN = "r8_backend_test_token"
T = TypeVar("T")


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """An emulator whose predictions end in a fraction of a second, with tiny renders."""
    config = EmulatorConfig(latency=LatencyRange(0.1, 0.2), render_height=96, token=TOKEN, seed=11)
    with Emulator(config) as emu:
        yield emu


def with_backend(emu: Emulator, scenario: Callable[[ReplicateBackend], Awaitable[T]]) -> T:
    """Run `scenario` with a fresh replicate backend on the emulator (a new process, as far as
    the backend can tell: no uploads remembered)."""

    async def go() -> T:
        async with ReplicateBackend(token=TOKEN, base_url=emu.base_url) as backend:
            return await scenario(backend)

    return anyio.run(go)


async def finish(backend: ReplicateBackend, prediction_id: str) -> Prediction:
    """Poll until the prediction is done (a deadline, not a sleep as synchronisation)."""
    with anyio.fail_after(20):
        while True:
            prediction = await backend.poll(prediction_id)
            if prediction.done:
                return prediction
            await anyio.sleep(0.02)
