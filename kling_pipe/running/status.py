"""Each job's state, derived from the lock, the store and the journal: what `status` shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from kling_pipe.backends import made_for_free
from kling_pipe.campaign import Campaign
from kling_pipe.running.journal import Journal
from kling_pipe.running.store import open_store

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
    states: list[JobState] = []
    for job in campaign.job_plan.jobs:
        entry = lock.jobs.get(job.id)
        record = records.get(job.id)
        if (
            record is not None
            and record.key == job.key
            and record.prediction_status in ("starting", "processing")
        ):
            states.append(
                JobState(
                    job.id,
                    "in flight",
                    record.prediction_status,
                    record.prediction_id,
                    record.attempts,
                )
            )
            continue
        if entry is not None and entry.key == job.key and entry.output_sha256:
            if store.holds(entry.output_sha256):
                states.append(JobState(job.id, "done", "", entry.prediction_id))
            else:
                states.append(
                    JobState(job.id, "lost", "in the lock, in no store", entry.prediction_id)
                )
            continue
        if record is not None and record.key == job.key:
            state: State = "done" if record.status in ("done", "cached") else "not run"
            if state == "done" and record.backend and made_for_free(record.backend):
                state = "previewed"  # a preview is not a generation
            if record.status in ("failed", "refused", "canceled"):
                state = record.status  # type: ignore[assignment]
            states.append(
                JobState(job.id, state, record.error or "", record.prediction_id, record.attempts)
            )
        elif entry is not None or record is not None:
            states.append(JobState(job.id, "changed", "inputs changed since its output was made"))
        else:
            states.append(JobState(job.id, "not run"))
    return states
