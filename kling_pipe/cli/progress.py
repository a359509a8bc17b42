"""Rendering a run's events: a live line on a terminal, plain periodic lines elsewhere (CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from kling_pipe.running.events import (
    Notice,
    ProgressChanged,
    RunEvent,
    RunFinished,
    RunProgress,
    RunStarted,
    UnitFinished,
)


def progress_line(progress: RunProgress, free: bool) -> str:
    """One line: how far the run is, and what it spent."""
    money = "" if free else f"; spent ${progress.spent_usd:.2f}"
    throttled = f"; throttled {progress.throttled}x" if progress.throttled else ""
    return (
        f"[{progress.elapsed:6.0f}s] {progress.done + progress.cached}/{progress.total} done "
        f"({progress.cached} cached), {progress.running} running, {progress.queued} queued, "
        f"{progress.failed} failed, {progress.refused} refused{money}{throttled}"
    )


class RunDisplay:
    """Consumes run events (`display.on_event`) and shows them on `stream`."""

    def __init__(self, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self._stream = stream or sys.stderr
        self._interval = interval
        self._console = Console(
            file=self._stream, highlight=False, markup=False, emoji=False, soft_wrap=True
        )
        self._live: Live | None = None
        self._last_line = 0.0
        self._free = False
        self.progress = RunProgress()
        self.finished: RunFinished | None = None
        self._closed = False
        self.interactive = self._stream.isatty()

    def on_event(self, event: RunEvent) -> None:
        """Show one event."""
        if isinstance(event, RunStarted):
            self._free = event.free
            self.progress = RunProgress(total=event.units)
            if self.interactive and event.units:
                self._live = Live(Text(self._line()), console=self._console, refresh_per_second=4)
                self._live.start()
        elif isinstance(event, ProgressChanged):
            self.progress = event.progress
            self._show()
        elif isinstance(event, Notice):
            self._console.print(f"warning: {event.message}", style="yellow")
        elif isinstance(event, UnitFinished) and event.result.status == "failed":
            ids = ", ".join(event.result.unit.job_ids)
            self._console.print(f"failed: {ids}: {event.result.error}", style="red")
        elif isinstance(event, RunFinished):
            self.finished = event
            self.close()

    def _line(self) -> str:
        return progress_line(self.progress, self._free)

    def _show(self) -> None:
        if self._live is not None:
            self._live.update(Text(self._line()))
            return
        now = time.monotonic()
        if now - self._last_line >= self._interval:
            self._last_line = now
            print(self._line(), file=self._stream, flush=True)

    def close(self) -> None:
        """End the live line, leaving the last state on screen (once)."""
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.update(Text(self._line()))
            self._live.stop()
            self._live = None
        elif self.progress.total:
            print(self._line(), file=self._stream, flush=True)
