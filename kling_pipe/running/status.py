"""Each job's state, derived from the lock, the store and the journal: what `status` shows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from kling_pipe.backends import made_for_free
from kling_pipe.campaign import Campaign
from kling_pipe.lock import LockedOutput
from kling_pipe.planning.jobs import Job
from kling_pipe.planning.picks import review_state, take_count
from kling_pipe.running.journal import JobRecord, Journal
from kling_pipe.running.store import Store, open_store

State = Literal[
    "done", "previewed", "lost", "in flight", "failed", "refused", "canceled", "changed", "not run"
]


@dataclass(frozen=True)
class JobState:
    """A job of the manifest and where it stands."""

    job_id: str
    state: State
    detail: str = ""
    prediction_id: str | None = None
    attempts: int = 0
    take: int = 1
    """Which take of the job (`kling_pipe.takes`); a job with several has a state per take."""
    picked: bool = False
    """This take is the job's pick (`kling-pipe pick`)."""


def job_states(campaign: Campaign) -> list[JobState]:
    """Every job of the campaign, in plan order: done (the lock's output is in the store),
    previewed (only a free preview exists), lost (paid for, in no store), in flight,
    failed/refused/canceled (and why), changed since its output was made, or not run."""
    lock = campaign.lock()
    store = open_store(campaign.workspace)
    journal_path = campaign.workspace.journal
    records = {}
    if journal_path.is_file():
        journal = Journal(journal_path)
        try:
            records = {r.job_id: r for r in journal.jobs(campaign.name)}
        finally:
            journal.close()
    recorded = lock.outputs()
    states: list[JobState] = []
    for base in campaign.job_plan.jobs:
        entry = lock.jobs.get(base.id)
        review = review_state(base, entry)
        for take in range(1, take_count(base, entry) + 1):
            job = base.for_take(take)
            state = _take_state(job, recorded.get(job.take_id), records.get(job.take_id), store)
            states.append(replace(state, take=take, picked=review.picked == take))
    return states


def _take_state(
    job: Job, locked: LockedOutput | None, record: JobRecord | None, store: Store
) -> JobState:
    if (
        record is not None
        and record.key == job.key
        and record.prediction_status in ("starting", "processing")
    ):
        return JobState(
            job.id, "in flight", record.prediction_status, record.prediction_id, record.attempts
        )
    if locked is not None and locked.key == job.key and locked.output_sha256:
        if store.holds(locked.output_sha256):
            return JobState(job.id, "done", "", locked.prediction_id)
        return JobState(job.id, "lost", "in the lock, in no store", locked.prediction_id)
    if record is not None and record.key == job.key:
        state: State = "done" if record.status in ("done", "cached") else "not run"
        if state == "done" and record.backend and made_for_free(record.backend):
            state = "previewed"  # a preview is not a generation
        if record.status in ("failed", "refused", "canceled"):
            state = record.status  # type: ignore[assignment]
        return JobState(job.id, state, record.error or "", record.prediction_id, record.attempts)
    if locked is not None or record is not None:
        return JobState(job.id, "changed", "inputs changed since its output was made")
    return JobState(job.id, "not run")
