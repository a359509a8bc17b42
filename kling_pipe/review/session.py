"""A review session: one campaign, its decisions and its files, as the server needs them.

Blocking (files, the lock, ffmpeg for posters): the server calls it from worker threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError, MediaError
from kling_pipe.lock import LockEntry
from kling_pipe.media.poster import poster_frame
from kling_pipe.planning.jobs import Job
from kling_pipe.review.contents import CutView, JobFacts, board, decisions_view
from kling_pipe.review.decisions import DecisionBook, JobDecisions
from kling_pipe.review.files import ServedFiles
from kling_pipe.running.record import read_record

ACTIONS = ("pick", "unpick", "reject", "unreject", "note", "reroll")
"""What the page may ask for."""


@dataclass
class ReviewSession:
    """The campaign under review, read afresh on every page load."""

    campaign: Campaign
    book: DecisionBook

    def __post_init__(self) -> None:
        workspace = self.campaign.workspace
        self._jobs: dict[str, Job] = {job.id: job for job in self.campaign.job_plan.jobs}
        self._files = ServedFiles(
            [workspace.objects, workspace.previews, workspace.output_dir, workspace.posters]
        )
        self._cuts = self.campaign.cut_plan().cuts

    # ------------------------------------------------------------------ files by name

    def take_file(
        self, job_id: str, take: int, lock: Mapping[str, LockEntry] | None = None
    ) -> Path | None:
        """The video of take `take` of `job_id`, if the campaign has it (else None)."""
        if job_id not in self._jobs:
            return None
        workspace = self.campaign.workspace
        candidates: list[Path] = []
        if take == 1:
            entries = lock if lock is not None else self.campaign.lock().jobs
            entry = entries.get(job_id)
            if entry is not None and entry.output_sha256:
                candidates.append(workspace.object_path(entry.output_sha256))
            with contextlib.suppress(InputError):  # a job id that is no safe path has no clip
                candidates.append(workspace.clip_path(job_id))
        for candidate in candidates:
            if (found := self._files.confined(candidate)) is not None:
                return found
        return None

    def poster_file(self, job_id: str, take: int) -> Path | None:
        """A poster frame of the take, made (and cached) on first request."""
        clip = self.take_file(job_id, take)
        if clip is None:
            return None
        try:
            return poster_frame(clip, self.campaign.workspace.posters)
        except MediaError:
            return None

    def cut_file(self, index: int) -> Path | None:
        """The stitched file of the `index`th planned cut, if it exists."""
        if not 0 <= index < len(self._cuts):
            return None
        workspace = self.campaign.workspace
        return self._files.confined(workspace.cut_path(self._cuts[index].output))

    # ------------------------------------------------------------------ the page's data

    def _facts(self, decisions: Mapping[str, JobDecisions]) -> dict[str, JobFacts]:
        record = read_record(self.campaign.workspace.run_json)
        runs = {run.id: run for run in record.jobs} if record is not None else {}
        lock = self.campaign.lock().jobs
        facts: dict[str, JobFacts] = {}
        for job_id in self._jobs:
            run = runs.get(job_id)
            entry = lock.get(job_id)
            count = decisions.get(job_id, JobDecisions()).takes
            on_disk = frozenset(t for t in range(1, count + 1) if self.take_file(job_id, t, lock))
            if run is not None:
                facts[job_id] = JobFacts(run.status, run.cost_usd, run.error, on_disk)
            elif entry is not None and entry.output_sha256:
                facts[job_id] = JobFacts("done", entry.cost_usd, None, on_disk)
            else:
                facts[job_id] = JobFacts("not run", None, None, on_disk)
        return facts

    def board(self) -> dict[str, Any]:
        """Every job, its takes and decisions, and the cuts: the page's JSON."""
        decisions = self.book.read()
        workspace = self.campaign.workspace
        cuts = [
            CutView(cut, i, self._files.confined(workspace.cut_path(cut.output)) is not None)
            for i, cut in enumerate(self._cuts)
        ]
        return board(
            self.campaign.job_plan.jobs,
            decisions,
            self._facts(decisions),
            self.campaign.loaded.manifest.markets,
            cuts,
            self.campaign.name,
        )

    def texts(self) -> list[str]:
        """Every text the page shows from the manifest (for the embedded font's subset)."""
        markets = self.campaign.loaded.manifest.markets
        found = [str(v) for values in markets.values() for v in values.values()]
        found += [str(job.inputs.get("prompt", "")) for job in self._jobs.values()]
        return found

    # ------------------------------------------------------------------ decisions

    def decide(self, job_id: str, action: str, take: int | None, note: str) -> dict[str, Any]:
        """Apply one decision through the lock's API; InputError when it cannot be."""
        if job_id not in self._jobs:
            raise InputError(f"no job {job_id!r} in {self.campaign.name}")
        if action in ("pick", "reject", "unreject") and take is None:
            raise InputError(f"{action} needs a take")
        if action == "pick":
            assert take is not None
            decided = self.book.pick(job_id, take)
        elif action == "reject":
            assert take is not None
            decided = self.book.reject(job_id, take)
        elif action == "unreject":
            assert take is not None
            decided = self.book.unreject(job_id, take)
        elif action == "unpick":
            decided = self.book.unpick(job_id)
        elif action == "note":
            decided = self.book.note(job_id, note)
        elif action == "reroll":
            decided = self.book.reroll(job_id)
        else:
            raise InputError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        return {"id": job_id, **decisions_view(decided)}
