"""A review session: one campaign, its decisions and its files, as the server needs them.

Decisions go through `kling_pipe.running.decisions` (one atomic read-merge-write of the lock
each, checked against the lock as it is then), so a `kling-pipe pick` from a terminal between
two clicks is kept. Blocking (files, the lock, the journal, ffmpeg for posters): the server
calls it from worker threads, one at a time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError, MediaError
from kling_pipe.media.poster import poster_frame
from kling_pipe.planning.picks import ReviewState
from kling_pipe.review.contents import JobFacts, board, decisions_view
from kling_pipe.review.files import ServedFiles
from kling_pipe.running import decisions
from kling_pipe.running.record import read_record

ACTIONS = ("pick", "unpick", "reject", "unreject", "note", "reroll")
"""What the page may ask for."""


@dataclass
class ReviewSession:
    """The campaign under review; its lock and store are read afresh for every page load."""

    campaign: Campaign
    _clips: dict[tuple[str, int], Path] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _board_guard: threading.Lock = field(default_factory=threading.Lock)
    _board: tuple[tuple[tuple[int, int, int] | None, ...], bytes] | None = None

    def __post_init__(self) -> None:
        workspace = self.campaign.workspace
        self._files = ServedFiles(
            [workspace.objects, workspace.previews, workspace.output_dir, workspace.posters]
        )
        self._cuts = self.campaign.cut_plan().cuts

    # ------------------------------------------------------------------ files by name

    def _learn_clips(self, states: Sequence[ReviewState]) -> dict[str, set[int]]:
        found = decisions.take_clips(self.campaign, states)
        with self._guard:
            for state in states:
                for take in state.takes:
                    self._clips.pop((state.job.id, take.take), None)
            self._clips.update(found)
        made: dict[str, set[int]] = {}
        for job_id, number in found:
            made.setdefault(job_id, set()).add(number)
        return made

    def take_file(self, job_id: str, take: int) -> Path | None:
        """The video of take `take` of `job_id`, if the campaign has it (else None)."""
        with self._guard:
            known = self._clips.get((job_id, take))
        if known is None:
            try:
                state = decisions.job_review(self.campaign, job_id)
            except InputError:
                return None
            self._learn_clips([state])
            with self._guard:
                known = self._clips.get((job_id, take))
        return self._files.confined(known)

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

    def _facts(self) -> dict[str, JobFacts]:
        record = read_record(self.campaign.workspace.run_json)
        if record is None:
            return {}
        return {run.id: JobFacts(run.status, run.cost_usd, run.error) for run in record.jobs}

    def _identity(self) -> tuple[tuple[int, int, int] | None, ...]:
        """What the board is made from, as file identities: it is remade when one changes."""
        workspace = self.campaign.workspace
        found: list[tuple[int, int, int] | None] = []
        for path in (self.campaign.lock_path, workspace.journal, workspace.run_json):
            try:
                stat = path.stat()
            except OSError:
                found.append(None)
            else:
                found.append((stat.st_ino, stat.st_size, stat.st_mtime_ns))
        return tuple(found)

    def board_json(self) -> bytes:
        """`board()` as compact JSON, remade only when the lock, the journal or the run record
        changed since the last time (a 2,000-job board takes about a second to make)."""
        with self._board_guard:
            identity = self._identity()
            if self._board is None or self._board[0] != identity:
                data = json.dumps(self.board(), ensure_ascii=False, separators=(",", ":"))
                self._board = (identity, data.encode("utf-8"))
            return self._board[1]

    def board(self) -> dict[str, Any]:
        """Every job, its takes and decisions, and the cuts: the page's JSON."""
        states = decisions.review_states(self.campaign)
        made = self._learn_clips(states)
        workspace = self.campaign.workspace
        cuts = [
            (cut, self._files.confined(workspace.cut_path(cut.output)) is not None)
            for cut in self._cuts
        ]
        return board(
            self.campaign.name,
            states,
            made,
            self._facts(),
            self.campaign.loaded.manifest.markets,
            cuts,
            self._kinds(),
        )

    def _kinds(self) -> dict[str, str]:
        """Job id → what its model makes ("image" or "video"), for the jobs that feed others."""
        jobs = {job.id: job for job in self.campaign.job_plan.jobs}
        feeding = {source.job_id for job in jobs.values() for source in job.upstream.values()}
        kinds: dict[str, str] = {}
        for job_id in feeding:
            spec = self.campaign.registry.get(jobs[job_id].model) if job_id in jobs else None
            kinds[job_id] = spec.output_kind if spec is not None else "video"
        return kinds

    def texts(self) -> list[str]:
        """Every text the page shows from the manifest (for the embedded font's subset)."""
        markets = self.campaign.loaded.manifest.markets
        found = [str(v) for values in markets.values() for v in values.values()]
        found += [str(job.inputs.get("prompt", "")) for job in self.campaign.job_plan.jobs]
        found += [entry.note for entry in self.campaign.lock().jobs.values() if entry.note]
        return found

    # ------------------------------------------------------------------ decisions

    def decide(self, job_id: str, action: str, take: int | None, note: str) -> dict[str, Any]:
        """Apply one decision to the lock; InputError (the lock unchanged) when it cannot be."""
        if action in ("pick", "reject", "unreject") and take is None:
            raise InputError(f"{action} needs a take")
        campaign = self.campaign
        if action == "pick" and take is not None:
            state = decisions.pick(campaign, job_id, take)
        elif action == "reject" and take is not None:
            state = decisions.reject(campaign, job_id, take)
        elif action == "unreject" and take is not None:
            state = decisions.unreject(campaign, job_id, take)
        elif action == "unpick":
            state = decisions.unpick(campaign, job_id)
        elif action == "note":
            state = decisions.annotate(campaign, job_id, note)
        elif action == "reroll":
            decisions.reroll(campaign, [job_id])
            state = decisions.job_review(campaign, job_id)
        else:
            raise InputError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        made = self._learn_clips([state]).get(job_id, set())
        return decisions_view(state, made)
