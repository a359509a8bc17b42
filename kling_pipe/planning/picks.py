"""The review state of a job: its takes, which is picked, which are rejected, and the take its
cuts use. Pure: built from a planned job and its lock entry.

A decision (`kling_pipe.lock.Decision`) names a take and the key the take had when it was
made. It counts only while the job's inputs still give that key; after a change it is history
(`ReviewState.previous_pick`) and the job needs review again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from kling_pipe.lock import Decision, LockedOutput, LockEntry
from kling_pipe.planning.jobs import Job

TakeStatus = Literal["picked", "rejected", "unreviewed", "not made"]
ReviewStatus = Literal["unreviewed", "picked", "rejected", "rerolled"]


@dataclass(frozen=True)
class TakeState:
    """One take of a job as a reviewer sees it."""

    take: int
    key: str
    status: TakeStatus
    output: LockedOutput | None
    """The lock's record of the take's output (None: not made, or made only as a preview)."""
    rerolled: bool
    """The take was asked for by a reroll, beyond the manifest's `takes`."""


@dataclass(frozen=True)
class ReviewState:
    """A job's takes and the decisions about them: what the review app and the gallery show."""

    job: Job
    takes: tuple[TakeState, ...]
    picked: int | None
    """The picked take, when it was picked for the job's current inputs."""
    rejected: tuple[int, ...]
    """Takes rejected for the job's current inputs."""
    note: str | None
    rerolls: int
    previous_pick: Decision | None
    """A pick made for inputs that have since changed: history only."""

    @property
    def needs_review(self) -> bool:
        """No take of the job's current inputs is picked (never reviewed, or picked before
        its inputs changed: see `previous_pick`)."""
        return self.picked is None

    @property
    def status(self) -> ReviewStatus:
        """For filters: picked; else rerolled (a take asked for is not made yet); else
        rejected (some take rejected); else unreviewed."""
        if self.picked is not None:
            return "picked"
        if any(t.rerolled and t.status == "not made" for t in self.takes):
            return "rerolled"
        if self.rejected:
            return "rejected"
        return "unreviewed"

    def chosen(self, made: Callable[[int], bool] | None = None) -> int | None:
        """The take a cut uses: the picked one, else the first take not rejected that is made
        (`made(take)`; default: the lock records its output). None when there is none."""
        if self.picked is not None:
            return self.picked
        is_made = made or (lambda take: self.takes[take - 1].output is not None)
        for state in self.takes:
            if state.take not in self.rejected and is_made(state.take):
                return state.take
        return None


def take_count(job: Job, entry: LockEntry | None) -> int:
    """How many takes a job has: the manifest's `takes` and the lock's rerolls."""
    return job.takes + (entry.rerolls if entry is not None else 0)


def review_state(job: Job, entry: LockEntry | None) -> ReviewState:
    """The review state of `job` (take 1, as planned) given its lock entry."""
    outputs = entry.outputs() if entry is not None else {}
    current = entry is not None and entry.key == job.key
    takes = [job.for_take(t) for t in range(1, take_count(job, entry) + 1)]
    keys = {t.take: t.key for t in takes}

    def holds(decision: Decision | None) -> bool:
        return decision is not None and keys.get(decision.take) == decision.key

    picked = entry.picked if entry is not None and holds(entry.picked) else None
    rejected = tuple(sorted({d.take for d in (entry.rejected if entry else ()) if holds(d)}))
    states = []
    for take in takes:
        output = outputs.get(take.take) if current else None
        if output is not None and output.key != take.key:
            output = None
        status: TakeStatus
        if picked is not None and picked.take == take.take:
            status = "picked"
        elif take.take in rejected:
            status = "rejected"
        elif output is None:
            status = "not made"
        else:
            status = "unreviewed"
        states.append(TakeState(take.take, take.key, status, output, take.take > job.takes))
    previous = entry.picked if entry is not None and picked is None else None
    return ReviewState(
        job=job,
        takes=tuple(states),
        picked=picked.take if picked is not None else None,
        rejected=rejected,
        note=entry.note if entry is not None else None,
        rerolls=entry.rerolls if entry is not None else 0,
        previous_pick=previous,
    )
