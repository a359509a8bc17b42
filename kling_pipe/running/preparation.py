"""Cuts prepared as their clips arrive: the per-clip work of a cut, done while a run waits.

A run spends most of its time waiting on the provider (a generation takes about a minute). Each
clip it stores that one of the campaign's planned cuts uses (whatever its take: a pick may
switch to it later) is prepared for that cut while the run waits for the others: normalised
into the intermediates cache with keyframes where the cut splits it, and blended with each
neighbour whose intermediate exists (see `media.stitch.prepare_cut`). The stitch that follows
finds that material ready and only joins.

Bounded and in the background: one ffmpeg at a time, in a worker thread, at lower CPU priority,
so the run's creates and polls never wait for it. A failure only costs the stitch that work
later: it is told as a `Notice`, never fails the run. Everything is written atomically, so a
run killed mid-way leaves nothing half-made. When the run's work is done the clips still queued
are prepared before it returns, at normal priority (the stitch would have to make them anyway);
a cancelled run drops them. On by default for real generations only: previews arrive at once,
so there is no wait to fill.

    preparation = CutPreparation(campaign, on_notice=print)
    async with preparation:
        preparation.arrived("hero/us/16x9", Path("out/spring-launch/hero/us/16x9.mp4"))
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType

import anyio
from anyio.abc import TaskGroup

from kling_pipe.campaign import Campaign
from kling_pipe.media.stitch import Prepared, prepare_cut
from kling_pipe.planning.cuts import PlannedCut
from kling_pipe.running.stitching import build_request
from kling_pipe.takes import split_take_id, take_id

NICENESS = 10
"""How much lower than the run's the CPU priority of preparation's ffmpeg is."""


class CutPreparation:
    """Prepares a campaign's cuts for the clips a run stores, in the background while the run
    goes on (an async context manager around the run's work)."""

    def __init__(self, campaign: Campaign, on_notice: Callable[[str], None]) -> None:
        self._campaign = campaign
        self._notice = on_notice
        self._files: dict[str, dict[int, Path]] = {}
        """Per job id, the file of each take known this run (placed or arrived)."""
        self._lock = threading.Lock()
        self._send, self._receive = anyio.create_memory_object_stream[tuple[str, int, Path]](
            math.inf
        )
        self._group: TaskGroup | None = None
        self._finishing = False
        """The run's own work is over: what is still queued is prepared at full speed."""
        self._stopped = threading.Event()
        """The run was cancelled or failed: a preparation under way stops at its next cut."""
        self._cuts: dict[str, list[PlannedCut]] | None = None

    def known(self, take: str, path: Path) -> None:
        """A clip the run placed without generating it: a neighbour to blend arrivals with."""
        job_id, number = split_take_id(take)
        with self._lock:
            self._files.setdefault(job_id, {})[number] = path

    def arrived(self, take: str, path: Path) -> None:
        """A clip the run has just stored and placed at `path`: prepare its cuts (queued; this
        returns at once)."""
        self.known(take, path)
        job_id, number = split_take_id(take)
        # A unit may still land while a cancelled run winds down, after the queue is gone:
        # then its cut is left to the stitch.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._send.send_nowait((job_id, number, path))

    async def __aenter__(self) -> CutPreparation:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._serve)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        if exc is not None:
            self._stopped.set()  # the thread is abandoned, not waited for: let it end soon
        self._finishing = True
        self._send.close()  # what is queued is still prepared, unless the run is cancelled
        return await self._group.__aexit__(exc_type, exc, traceback)

    async def _serve(self) -> None:
        async with self._receive:
            async for job_id, number, path in self._receive:
                try:
                    await anyio.to_thread.run_sync(
                        self._prepare, job_id, path, abandon_on_cancel=True
                    )
                except Exception as exc:  # a failure here must never fail a paid run
                    lines = str(exc).strip().splitlines() or [type(exc).__name__]
                    # One line: what failed and, for ffmpeg, its last word on why.
                    reason = " ".join(dict.fromkeys([lines[0], lines[-1].strip()]))
                    self._notice(
                        f"{take_id(job_id, number)}: not prepared for its cuts ({reason}); "
                        "`stitch` makes what it needs"
                    )

    def _prepare(self, job_id: str, path: Path) -> Prepared:
        """Prepare every planned cut that uses `job_id`, with `path` as its clip (in a worker
        thread). Each neighbour is tried with every take known of it, so the blends are ready
        whichever the cut ends up using."""
        intermediates = blends = 0
        cuts = self._cuts_of(job_id)
        with self._lock:
            files = {job: dict(takes) for job, takes in self._files.items()}
        cache = self._campaign.workspace.intermediates
        for planned in cuts:
            jobs = [clip.job.id for clip in planned.clips]
            neighbours = sorted(
                {
                    jobs[near]
                    for place, job in enumerate(jobs)
                    if job == job_id
                    for near in (place - 1, place + 1)
                    if 0 <= near < len(jobs) and jobs[near] != job_id
                }
            )
            # Clips not placed yet stand as slates: nothing is made of them.
            rest = {
                job: takes[min(takes)]
                for job, takes in files.items()
                if job in jobs and job != job_id and takes
            }
            choices = [_by_take(files.get(job, {})) or [None] for job in neighbours]
            for chosen in itertools.product(*choices):
                if self._stopped.is_set():
                    return Prepared(intermediates, blends)
                clips = dict(rest)
                for job, file in zip(neighbours, chosen, strict=True):
                    if file is None:
                        clips.pop(job, None)
                    else:
                        clips[job] = file
                clips[job_id] = path
                request, _ = build_request(self._campaign, planned, clips, allow_missing=True)
                assert request is not None  # slates are allowed
                # Once the run has nothing else to do, there is nothing to give way to.
                niceness = 0 if self._finishing else NICENESS
                made = prepare_cut(request, cache, [path], niceness=niceness)
                intermediates += made.intermediates
                blends += made.blends
        return Prepared(intermediates, blends)

    def _cuts_of(self, job_id: str) -> list[PlannedCut]:
        """The planned cuts that use `job_id` (the cut plan is made once, on first use)."""
        if self._cuts is None:
            index: dict[str, list[PlannedCut]] = {}
            for planned in self._campaign.cut_plan().cuts:
                for job in dict.fromkeys(clip.job.id for clip in planned.clips):
                    index.setdefault(job, []).append(planned)
            self._cuts = index
            self._know_locked(index)
        return self._cuts.get(job_id, [])

    def _know_locked(self, jobs: Collection[str]) -> None:
        """Take as neighbours the clips of the cuts' jobs that the lock records and the local
        store holds, though this run did not place them (`run --only`): a new clip is then
        blended with them too."""
        workspace = self._campaign.workspace
        for take, made in self._campaign.lock().outputs().items():
            job_id, number = split_take_id(take)
            if job_id not in jobs or made.output_sha256 is None:
                continue
            path = workspace.object_path(made.output_sha256)
            with self._lock:
                takes = self._files.setdefault(job_id, {})
                if number not in takes and path.is_file():
                    takes[number] = path


def _by_take(takes: dict[int, Path]) -> list[Path | None]:
    return [takes[number] for number in sorted(takes)]
