"""Ctrl-C for the command line: the first one cancels the work (the library then cancels its
predictions on the provider and records everything), a second one leaves at once.

Signals belong to the application, not the library: this is the only place that touches them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")


def run_until_interrupted(work: Callable[[], Awaitable[T]]) -> T | None:
    """Run `work` in a new event loop; None when SIGINT or SIGTERM cancelled it."""

    async def main() -> T | None:
        done: list[T] = []
        work_scope = anyio.CancelScope()

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    if work_scope.cancel_called:
                        os._exit(130)  # a second Ctrl-C: the journal is consistent, leave now
                    work_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            try:
                with work_scope:
                    done.append(await work())
            finally:
                group.cancel_scope.cancel()
        return done[0] if done else None

    try:
        return anyio.run(main)
    except BaseExceptionGroup as group:
        raise _single(group) from None


def _single(error: BaseException) -> BaseException:
    """The one exception inside nested groups of one (task groups wrap what they raise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
