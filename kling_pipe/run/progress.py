"""Progress of a run: counters the scheduler updates, shown live on a terminal, as plain
periodic lines elsewhere (CI logs)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text


@dataclass
class RunProgress:
    """What the scheduler has done so far."""

    total: int
    done: int = 0
    cached: int = 0
    failed: int = 0
    refused: int = 0
    running: int = 0
    spent_usd: float = 0.0
    throttled: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def queued(self) -> int:
        """Units not started and not finished."""
        return max(
            0, self.total - self.done - self.cached - self.failed - self.refused - self.running
        )

    def line(self) -> str:
        """One line summary."""
        elapsed = time.monotonic() - self.started
        return (
            f"[{elapsed:6.0f}s] {self.done + self.cached}/{self.total} done "
            f"({self.cached} cached), {self.running} running, {self.queued} queued, "
            f"{self.failed} failed, {self.refused} refused; spent ${self.spent_usd:.2f}"
            + (f"; throttled {self.throttled}x" if self.throttled else "")
        )


class ProgressDisplay:
    """A live line on a terminal; a plain line every `interval` seconds otherwise."""

    def __init__(self, progress: RunProgress, stream: TextIO | None = None, interval: float = 10.0):
        self.progress = progress
        self._stream = stream or sys.stderr
        self._interval = interval
        self._live: Live | None = None
        self._last = 0.0
        self.interactive = self._stream.isatty()

    def __enter__(self) -> ProgressDisplay:
        if self.interactive:
            self._live = Live(
                Text(self.progress.line()),
                console=Console(file=self._stream),
                refresh_per_second=4,
                transient=False,
            )
            self._live.__enter__()
        return self

    def refresh(self) -> None:
        """Show the current state (rate-limited off a terminal)."""
        if self._live is not None:
            self._live.update(Text(self.progress.line()))
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            print(self.progress.line(), file=self._stream, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(Text(self.progress.line()))
            self._live.__exit__(None, None, None)
        else:
            print(self.progress.line(), file=self._stream, flush=True)
