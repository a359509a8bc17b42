"""Review decisions on takes, recorded in the lock: pick, reject, unpick, note, reroll; and
the review state of every job, which the CLI, the review app and the gallery read.

    campaign = Campaign.open("pipelines/spring-launch.yaml")
    pick(campaign, "hero/jp/9x16", 3, note="the steam reads best")
    reject(campaign, "hero/us/16x9", 1)
    reroll(campaign, ["hero/us/*"])            # → [("hero/us/16x9", 2), …]: run makes them
    for state in review_states(campaign):       # a ReviewState per job, in plan order
        print(state.job.id, state.status, state.picked, state.needs_review)
    files = take_clips(campaign, review_states(campaign))   # (job id, take) → clip in the store
    annotate(campaign, "hero/jp/9x16", "steam too thin")     # the job's note ("" clears it)

Every edit is one atomic read-merge-write of the lock (`kling_pipe.lock.edit_lock`) that
checks the take against the lock as it is at that moment, so a CLI edit, the review app and a
run writing the same lock never lose a decision. A decision names its take's key: when the
job's inputs change it stays in the lock as history and the job needs review again.
Unknown jobs and takes are InputErrors that name close ids and the takes there are.

`pick_changes` (against the cuts last made, in run.json) and `pick_changes_since` (against an
older lock) say which jobs' cuts a pick moves to another take; `plan` shows them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

from kling_pipe.backends import made_for_free
from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError
from kling_pipe.lock import Decision, LockEntry, LockFile, edit_lock
from kling_pipe.planning.diff import PickChange
from kling_pipe.planning.jobs import Job
from kling_pipe.planning.picks import ReviewState, review_state, take_count
from kling_pipe.running.journal import Journal, OutputRecord
from kling_pipe.running.record import read_record
from kling_pipe.running.selection import check_glob, close_ids
from kling_pipe.running.store import Store, open_store

MAX_NOTE = 2000
"""The longest note a job may carry, in characters."""


def review_states(campaign: Campaign, lock: LockFile | None = None) -> list[ReviewState]:
    """Every job's review state, in plan order (`lock`: as read already, else from disk)."""
    lock = lock if lock is not None else campaign.lock()
    return [review_state(job, lock.jobs.get(job.id)) for job in campaign.job_plan.jobs]


def job_review(campaign: Campaign, job_id: str) -> ReviewState:
    """One job's review state; InputError naming close ids when there is no such job."""
    job = _job(campaign, job_id)
    return review_state(job, campaign.lock().jobs.get(job.id))


def pick(campaign: Campaign, job_id: str, take: int, note: str | None = None) -> ReviewState:
    """Pick `take` of a job for its cuts (replacing an earlier pick; a rejection of the take
    is withdrawn). `note`, when given, replaces the job's note. The take must be made."""
    job = _job(campaign, job_id)

    def change(entry: LockEntry) -> LockEntry:
        decision = _decision(campaign, job, entry, take)
        rejected = tuple(d for d in entry.rejected if d.take != take)
        return entry.model_copy(update={"picked": decision, "rejected": rejected, **_note(note)})

    return _edit(campaign, job, change)


def reject(campaign: Campaign, job_id: str, take: int, note: str | None = None) -> ReviewState:
    """Reject `take` of a job: cuts skip it (and it is no longer picked)."""
    job = _job(campaign, job_id)

    def change(entry: LockEntry) -> LockEntry:
        decision = _decision(campaign, job, entry, take)
        rejected = tuple(
            sorted({*(d for d in entry.rejected if d.take != take), decision}, key=_by_take)
        )
        picked = None if entry.picked is not None and entry.picked.take == take else entry.picked
        return entry.model_copy(update={"picked": picked, "rejected": rejected, **_note(note)})

    return _edit(campaign, job, change)


def unreject(campaign: Campaign, job_id: str, take: int) -> ReviewState:
    """Withdraw the rejection of one take (the other decisions stay)."""
    job = _job(campaign, job_id)
    return _edit(
        campaign,
        job,
        lambda entry: entry.model_copy(
            update={"rejected": tuple(d for d in entry.rejected if d.take != take)}
        ),
    )


def unpick(campaign: Campaign, job_id: str) -> ReviewState:
    """Withdraw a job's pick (and its rejections): its cuts go back to the first take made."""
    job = _job(campaign, job_id)
    return _edit(
        campaign, job, lambda entry: entry.model_copy(update={"picked": None, "rejected": ()})
    )


def annotate(campaign: Campaign, job_id: str, note: str | None) -> ReviewState:
    """Set (or, with None or "", clear) a job's note."""
    job = _job(campaign, job_id)
    return _edit(campaign, job, lambda entry: entry.model_copy(update=_note(note or "")))


def reroll(campaign: Campaign, globs: Sequence[str]) -> list[tuple[str, int]]:
    """Ask for one more take of each job matching any of `globs` (ids, with `*` and `?`):
    recorded in the lock, so that the next run (anyone's, CI's) makes it. Touches no other
    job. Returns (job id, the new take's number) per job, in plan order; InputError (with close
    ids) when a glob matches no job."""
    if not globs:
        raise InputError("name the jobs to reroll: ids or globs, e.g. 'hero/jp/*'")
    for glob in globs:
        check_glob(campaign, glob, "reroll")
    jobs = [j for j in campaign.job_plan.jobs if any(fnmatch.fnmatchcase(j.id, g) for g in globs)]
    added: list[tuple[str, int]] = []

    def change(lock: LockFile) -> LockFile:
        added.clear()
        entries = dict(lock.jobs)
        for job in jobs:
            entry = entries.get(job.id) or LockEntry(key=job.key, material=job.key_material())
            entry = entry.model_copy(update={"rerolls": entry.rerolls + 1})
            entries[job.id] = entry
            added.append((job.id, take_count(job, entry)))
        return lock.model_copy(update={"jobs": entries})

    edit_lock(campaign.lock_path, campaign.name, change)
    return added


def take_objects(
    campaign: Campaign,
    states: Iterable[ReviewState],
    store: Store,
    backend: str | None = None,
    journal: Journal | None = None,
) -> dict[tuple[str, int], str]:
    """The sha256 of the stored object of every take of `states` that has one, by (job id,
    take): the lock's output (what was paid for), else the journal's newest (`backend`'s if
    named; previews, rehearsals). Asks only whether the store holds them: nothing is fetched.
    `journal`: an open one, else it is opened (when there is one) and closed."""
    opened = journal is None and campaign.workspace.journal.is_file()
    if opened:
        journal = Journal(campaign.workspace.journal)
    try:
        objects: dict[tuple[str, int], str] = {}
        for state in states:
            for take in state.takes:
                locked = take.output
                if (
                    backend in (None, "replicate")
                    and locked is not None
                    and locked.output_sha256 is not None
                    and store.holds(locked.output_sha256)
                ):
                    objects[(state.job.id, take.take)] = locked.output_sha256
                    continue
                if journal is None:
                    continue
                output = choose_output(journal.outputs_for(take.key), backend)
                if output is not None and store.holds(output.sha256):
                    objects[(state.job.id, take.take)] = output.sha256
        return objects
    finally:
        if opened and journal is not None:
            journal.close()


def take_clips(
    campaign: Campaign,
    states: Iterable[ReviewState],
    backend: str | None = None,
    journal: Journal | None = None,
    store: Store | None = None,
) -> dict[tuple[str, int], Path]:
    """A verified local file of every take of `states` that the store holds, by (job id,
    take), chosen as `take_objects` chooses (from a bucket, each is fetched once and cached)."""
    store = store or open_store(campaign.workspace)
    objects = take_objects(campaign, states, store, backend, journal)
    clips: dict[tuple[str, int], Path] = {}
    for where, sha256 in objects.items():
        path = store.local_copy(sha256)
        if path is not None:
            clips[where] = path
    return clips


def choose_output(records: Sequence[OutputRecord], backend: str | None) -> OutputRecord | None:
    """The stored output to use: the named backend's (`replicate` covers every Replicate
    endpoint), else the newest real generation, else the newest preview. Records newest first."""
    if backend is not None:
        mine = [r for r in records if r.backend == backend or r.backend.startswith(f"{backend}@")]
        return mine[0] if mine else None
    real = [r for r in records if not made_for_free(r.backend)]
    newest = real or list(records)
    return newest[0] if newest else None


def chosen_takes(
    states: Iterable[ReviewState], clips: Collection[tuple[str, int]]
) -> dict[str, int]:
    """The take each job's cuts use, given the takes that have a clip: the picked one, else
    the first not rejected that has a clip. Jobs with none are left out."""
    made: dict[str, set[int]] = {}
    for job_id, take in clips:
        made.setdefault(job_id, set()).add(take)
    chosen: dict[str, int] = {}
    for state in states:
        use = state.chosen(made.get(state.job.id, set()).__contains__)
        if use is not None:
            chosen[state.job.id] = use
    return chosen


# -- the edits ---------------------------------------------------------------------------


def _job(campaign: Campaign, job_id: str) -> Job:
    for job in campaign.job_plan.jobs:
        if job.id == job_id:
            return job
    near = close_ids(job_id, [j.id for j in campaign.job_plan.jobs])
    hint = f"; did you mean {', '.join(repr(i) for i in near)}?" if near else ""
    raise InputError(f"no job {job_id!r} in {campaign.name}{hint}")


def _edit(campaign: Campaign, job: Job, change: Callable[[LockEntry], LockEntry]) -> ReviewState:
    def apply(lock: LockFile) -> LockFile:
        entry = lock.jobs.get(job.id) or LockEntry(key=job.key, material=job.key_material())
        return lock.model_copy(update={"jobs": {**lock.jobs, job.id: change(entry)}})

    lock = edit_lock(campaign.lock_path, campaign.name, apply)
    return review_state(job, lock.jobs.get(job.id))


def _decision(campaign: Campaign, job: Job, entry: LockEntry, take: int) -> Decision:
    """A decision about `take`, checked against the lock as it is now: the take must be one
    of the job's and made (in the lock, or in the store as a preview) for its current inputs."""
    count = take_count(job, entry)
    takes = "take 1" if count == 1 else f"takes 1-{count}"
    if not 1 <= take <= count:
        raise InputError(
            f"{job.id} has no take {take}: it has {takes} "
            f"(`kling-pipe reroll {job.id}` asks for one more)"
        )
    state = review_state(job, entry)
    locked = state.takes[take - 1].output
    paid_for = locked is not None and locked.output_sha256 is not None
    if not paid_for and (job.id, take) not in take_clips(campaign, [state]):
        if entry.key != job.key and entry.outputs():
            why = "its takes were made for inputs that have changed since"
        else:
            why = f"take {take} is not made yet"
        raise InputError(
            f"{job.id}: {why}; `kling-pipe run {campaign.loaded.path}` makes it, then review it"
        )
    return Decision(take=take, key=job.for_take(take).key)


def _note(note: str | None) -> dict[str, str | None]:
    if note is None:
        return {}
    if len(note) > MAX_NOTE:
        raise InputError(f"a note is at most {MAX_NOTE} characters, this one {len(note)}")
    return {"note": note.strip() or None}


def _by_take(decision: Decision) -> int:
    return decision.take


def pick_changes(campaign: Campaign) -> tuple[PickChange, ...]:
    """Jobs whose cuts, as last made (run.json), used another take than the lock's decisions
    and the store now give: each with the cuts a `stitch` makes again. Nothing is generated
    for them. Empty when no cut was made yet."""
    record = read_record(campaign.workspace.run_json)
    if record is None or record.manifest != campaign.name:
        return ()
    made = [c for c in record.cuts if c.status == "done" and c.clips]
    if not made:
        return ()
    planned = {
        p.output.relative_to("cuts").with_suffix("").as_posix() for p in campaign.cut_plan().cuts
    }
    made = [c for c in made if c.id in planned]
    wanted = {job_id for c in made for job_id in c.clips}
    states = [s for s in review_states(campaign) if s.job.id in wanted]
    chosen = chosen_takes(states, take_clips(campaign, states))
    changes: dict[tuple[str, int, int | None], list[str]] = {}
    for cut in made:
        takes = cut.takes or [1] * len(cut.clips)  # cut before takes: take 1 of each
        for job_id, before in zip(cut.clips, takes, strict=False):
            after = chosen.get(job_id)
            if before and after != before and job_id in wanted:
                changes.setdefault((job_id, before, after), []).append(cut.id)
    return tuple(
        PickChange(job_id, before, after, tuple(sorted(cuts)))
        for (job_id, before, after), cuts in sorted(
            changes.items(), key=lambda item: (item[0][0], item[0][1])
        )
    )


def pick_changes_since(campaign: Campaign, old: LockFile) -> tuple[PickChange, ...]:
    """Jobs whose cuts use another take under the lock now than under `old` (e.g. the main
    branch's lock, for a pull request's plan), with the cuts that contain them. A take counts
    as made when either lock records it or the store holds it."""
    new = campaign.lock()
    cuts_of: dict[str, list[str]] = {}
    for planned in campaign.cut_plan().cuts:
        cut = planned.output.relative_to("cuts").with_suffix("").as_posix()
        for clip in planned.clips:
            cuts_of.setdefault(clip.job.id, []).append(cut)
    states = review_states(campaign, new)
    stored = take_clips(campaign, states)
    changes = []
    for state in states:
        job = state.job
        earlier = review_state(job, old.jobs.get(job.id))

        def made(take: int, earlier: ReviewState = earlier, state: ReviewState = state) -> bool:
            return (state.job.id, take) in stored or any(
                s.take == take and s.output is not None for s in (*earlier.takes, *state.takes)
            )

        before, after = earlier.chosen(made), state.chosen(made)
        # A job made since `old` is new, not a pick, unless it was picked too.
        if before != after and (before is not None or state.picked is not None):
            cuts = tuple(sorted(cuts_of.get(job.id, [])))
            changes.append(PickChange(job.id, before, after, cuts))
    return tuple(changes)
