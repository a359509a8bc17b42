"""The dependency gate: a unit that takes another job's output starts once that output is
stored, and ends as its upstream did when that one cannot give it.

The scheduler settles each key as its unit finishes; a downstream unit awaits `files`, which
answers with the stored file of every upstream output, or raises `Failed` (the upstream
failed, or has no output anywhere) or `Refused` (the upstream was refused: budget, account,
an output not paid for again), naming the upstream job and its reason. Nothing is created
for a unit whose upstream never produced, so nothing is paid for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from kling_pipe.running.run_plan import Unit, UpstreamInput


@dataclass(frozen=True)
class _Settled:
    status: str
    sha256: str | None
    error: str | None


StoredOutput = Callable[[str, "str | None"], "Path | None"]
"""(key, sha256 the lock records or None) → the stored output file, or None."""


class UpstreamGate:
    """Where downstream units wait for the outputs of the units of this run they take."""

    class Failed(Exception):
        """The upstream ended without an output: the downstream fails with this reason."""

    class Refused(Exception):
        """The upstream was refused: the downstream is refused with this reason."""

    def __init__(self, keys: Iterable[str]) -> None:
        """A gate for the units of `keys` (those that downstream units of this run take)."""
        self._events = {key: anyio.Event() for key in keys}
        self._sent = {key: anyio.Event() for key in self._events}
        self._settled: dict[str, _Settled] = {}

    @classmethod
    def of(cls, units: Sequence[Unit]) -> UpstreamGate:
        """The gate of a run of `units`: events only for the keys another unit of the run
        takes. Most units have no downstream, and two events each for 10,000 units took
        18 MB; a key no unit waits for is settled to no one."""
        keys = {unit.key for unit in units}
        return cls({up.key for unit in units for up in unit.upstream if up.key in keys})

    def pending(self, unit: Unit) -> bool:
        """Whether `unit` will wait for an upstream of this run that has not finished."""
        return any(up.key in self._events and up.key not in self._settled for up in unit.upstream)

    def sent(self, key: str) -> None:
        """The unit of `key` has a prediction (created, re-attached or adopted): it is paid
        for, or being paid for, before any of its downstream units holds money."""
        if key in self._sent:
            self._sent[key].set()

    async def upstream_sent(self, unit: Unit) -> None:
        """Wait until every upstream of this run that `unit` takes is sent or finished."""
        for up in unit.upstream:
            if up.key in self._sent:
                await self._sent[up.key].wait()

    def settle(self, key: str, status: str, output: Any, error: str | None) -> None:
        """The unit of `key` finished: `output` is its OutputRecord (or None)."""
        if key not in self._events or key in self._settled:
            return
        sha256 = getattr(output, "sha256", None)
        self._settled[key] = _Settled(status, sha256, error)
        self._sent[key].set()
        self._events[key].set()

    async def files(self, unit: Unit, stored: StoredOutput) -> dict[str, Path]:
        """Input name → stored file of each of `unit`'s upstream outputs, once all are stored."""
        files: dict[str, Path] = {}
        for up in unit.upstream:
            files[up.input] = await self._file(up, stored)
        return files

    async def _file(self, up: UpstreamInput, stored: StoredOutput) -> Path:
        if up.key in self._events:
            await self._events[up.key].wait()
            settled = self._settled[up.key]
            if settled.status == "refused":
                raise UpstreamGate.Refused(f"upstream {up.job_id} was refused: {settled.error}")
            if settled.status not in ("done", "cached"):
                why = settled.error or settled.status
                raise UpstreamGate.Failed(f"upstream {up.job_id} {settled.status}: {why}")
            path = stored(up.key, settled.sha256)
        else:
            path = stored(up.key, up.sha256)
        if path is None:
            raise UpstreamGate.Failed(
                f"upstream {up.job_id} has no output in the store and is not part of this "
                "run: run it first (widen --only)"
            )
        return path
