"""Writing the lock as clips land, in batches.

Each write rewrites the whole lock (read, merge with what other runs added, write atomically),
so writing it once per clip costs a run of n clips O(n²): at 10,000 clips, hours of rewriting
a lock of several megabytes. Entries are gathered instead and written by a thread of their own
at most once per `every` seconds, and once more when the run ends; as the lock grows, the
writes are spaced out so that writing takes about a tenth of the run's time at most.

Between batches the writer keeps the lock as it wrote it, as text (`LockText`): a batch
re-renders only its entries and streams the file out, instead of parsing, validating and
dumping the whole lock each time (at 10,000 entries each such write took about 100 MB for a
moment). Whenever the file is not the one this writer last wrote (another writer took its turn
meanwhile), it is read again first: nothing another writer added is lost.

A clip whose entry a killed run never wrote is not lost: the journal holds its output, and the
next plan records it at no cost ("already in the store from an earlier run").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kling_pipe.durable import write_atomically
from kling_pipe.lock import LockedOutput, LockText, lock_turn, read_lock

TakeOutputs = Mapping[tuple[str, int], tuple[str, Mapping[str, Any], LockedOutput]]
"""What `record_take` records: (job id, take) → (job key, job key material, the output)."""

_SPACING = 10.0
"""A batch waits at least this many times as long as the last write took."""


class LockWriter:
    """Gathers lock entries (`add`) and writes them in batches from `start` until `close`,
    which writes what is left and raises the first error any write met."""

    def __init__(self, path: Path, manifest: str, *, every: float = 1.0) -> None:
        self._path = path
        self._manifest = manifest
        self._every = every
        self._interval = every
        self._pending: dict[tuple[str, int], tuple[str, Mapping[str, Any], LockedOutput]] = {}
        self._mutex = threading.Lock()  # guards `_pending`
        self._writing = threading.Lock()  # one write at a time, batches in order
        self._closing = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="lock-writer", daemon=True)
        self._text: LockText | None = None  # the lock as this writer last wrote it
        self._written: tuple[int, ...] | None = None  # and the file it wrote then
        self.writes = 0

    def start(self) -> None:
        """Start writing batches."""
        self._thread.start()

    def close(self) -> None:
        """Stop the batches, write what is left, and raise the first error a write met."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()
        if self._error is not None:
            raise self._error

    def flush(self) -> None:
        """Write what was added so far, now."""
        self._write()

    def add(self, outputs: TakeOutputs) -> None:
        """Takes to record with the next batch (a later output for a take wins)."""
        with self._mutex:
            self._pending.update(outputs)

    def _work(self) -> None:
        while not self._closing.wait(self._interval):
            started = time.monotonic()
            self._write()
            self._interval = max(self._every, _SPACING * (time.monotonic() - started))

    def _write(self) -> None:
        with self._writing:
            with self._mutex:
                batch, self._pending = self._pending, {}
            if not batch:
                return
            try:
                self._record(batch)
                self.writes += 1
            except BaseException as exc:  # kept for the exit to raise; tried again later
                self._text = None  # read the file again next time
                with self._mutex:
                    self._pending = {**batch, **self._pending}
                if self._error is None:
                    self._error = exc

    def _record(
        self, batch: Mapping[tuple[str, int], tuple[str, Mapping[str, Any], LockedOutput]]
    ) -> None:
        """`record_take`, from the text kept since the last write when the file is still the
        one this writer wrote."""
        with lock_turn(self._path):
            text = self._text
            if text is None or _identity(self._path) != self._written:
                text = LockText(read_lock(self._path, self._manifest))
            self._text = None
            if text.record(batch) or not self._path.exists():
                write_atomically(self._path, text.pieces())
            self._written = _identity(self._path)
            self._text = text


def _identity(path: Path) -> tuple[int, ...] | None:
    """What tells one written file from another: each write replaces the file by a new one."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)
