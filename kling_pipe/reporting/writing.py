"""Writing `out/<name>/report.html`: read run.json, find clips and cuts, make posters, render.

This is the IO edge of the report; what the page shows is decided in `contents` and `gallery`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from kling_pipe.campaign import Campaign
from kling_pipe.durable import write_atomically
from kling_pipe.errors import InputError
from kling_pipe.lock import read_lock
from kling_pipe.media.poster import linked_posters, poster_frames
from kling_pipe.planning.diff import Plan, diff_plan
from kling_pipe.planning.picks import ReviewState, review_state
from kling_pipe.reporting.contents import (
    CutCard,
    JobReview,
    Media,
    TakeCard,
    build_gallery,
    cut_card,
    cut_entry_from_path,
)
from kling_pipe.reporting.gallery import gallery_pieces
from kling_pipe.running.record import RunRecord
from kling_pipe.running.store import Store, open_store
from kling_pipe.takes import split_take_id, take_id

DEFAULT_LINK_EXPIRY_HOURS = 24.0
_POSTERS_AT_ONCE = 256  # clips handed to the poster workers at a time, not 10,000 futures


@dataclass(frozen=True)
class ReportOptions:
    """How `report` writes the page."""

    since: Path | None = None
    """Show what changed since this older lock (e.g. the main branch's), not since the lock."""
    link_store: bool = False
    """Point each clip at a signed URL of its object in the bucket store instead of at a copy
    in the output folder (InputError for a folder store). Rough cuts, which are not in the
    store, stay files in the output folder."""
    link_expiry_hours: float = DEFAULT_LINK_EXPIRY_HOURS
    """How long the signed links work (at most 168 hours)."""


def read_run_json(path: Path) -> tuple[RunRecord | None, list[Mapping[str, Any]] | None]:
    """The run record at `path` and its `cuts` (None when it lists none)."""
    try:
        raw: Any = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, None
    except ValueError as exc:
        raise InputError(f"{path}: not JSON ({exc}); run again to rewrite it") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: not a kling-pipe run record; run again to rewrite it")
    cuts = raw.get("cuts")
    # Only the fields this version knows: a newer run.json still reports what it can.
    known = {k: v for k, v in raw.items() if k in RunRecord.model_fields and k != "cuts"}
    try:
        record = RunRecord.model_validate(known)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{path}: not a kling-pipe run record ({where}: {first['msg']}); "
            "run again to rewrite it"
        ) from None
    # An empty list means the run did not stitch: cuts made by `stitch` may still be on disk.
    return record, cuts if isinstance(cuts, list) and cuts else None


def _relative(path: Path, output_dir: Path) -> str:
    return Path(os.path.relpath(path, output_dir)).as_posix()


def locate(recorded: object, output_dir: Path) -> Path | None:
    """A file named in run.json: relative to the output folder, else to the working directory."""
    if not isinstance(recorded, str) or not recorded:
        return None
    for candidate in (output_dir / recorded, Path(recorded)):
        if candidate.is_file():
            return candidate
    return None


def plan_since(campaign: Campaign, base_lock: Path) -> Plan:
    """The campaign's jobs compared with an older lock (e.g. the one on the main branch)."""
    return diff_plan(
        campaign.name,
        campaign.job_plan.jobs,
        read_lock(base_lock, campaign.name),
        warnings=campaign.job_plan.warnings,
    )


def write_report(
    campaign: Campaign, *, plan: Plan | None = None, link_expiry_hours: float | None = None
) -> Path:
    """Write the campaign's report.html (posters beside it) and return its path.

    `plan` says what changed and why: pass the plan the run executed; by default the manifest
    is compared with its lock now. Works without run.json (cards say "not run") and without
    clips. With `link_expiry_hours`, each clip the lock records and the store holds is linked
    by a URL signed for that long (see `ReportOptions.link_store`), not read from the output
    folder; its poster is read through that link.
    """
    workspace = campaign.workspace
    output_dir = workspace.output_dir
    store = open_store(workspace)
    the_plan = plan if plan is not None else campaign.plan(held=store.holds)
    linked: dict[str, Media] = {}
    if link_expiry_hours is not None:
        shown = {p.job.id for p in the_plan.jobs}
        linked = _linked_media(campaign, store, link_expiry_hours, shown)
    record, cut_entries = read_run_json(workspace.run_json)
    clips = {
        p.job.id: placed
        for p in the_plan.jobs
        if link_expiry_hours is None and (placed := workspace.placed_output(p.job.id)) is not None
    }
    if cut_entries is None:
        cut_entries = [
            cut_entry_from_path(_relative(path, output_dir))
            for path in sorted((output_dir / "cuts").glob("**/*.mp4"))
        ]
    cut_files = {
        str(entry.get("id")): found
        for entry in cut_entries
        if (found := locate(entry.get("output"), output_dir)) is not None
    }
    lock = campaign.lock()
    takes_of: dict[str, list[int]] = {}
    for planned in the_plan.jobs:
        takes_of.setdefault(planned.job.id, []).append(planned.job.take)
    states: dict[str, ReviewState] = {}
    for planned in the_plan.jobs:
        locked = lock.jobs.get(planned.job.id) if planned.job.take == 1 else None
        if locked is None:
            continue
        if locked.takes_era:
            state = states[planned.job.id] = review_state(planned.job, locked)
            numbers = [t.take for t in state.takes]
        else:  # no takes, rerolls or decisions: nothing reviewed, the manifest's takes
            numbers = list(range(1, planned.job.takes + 1))
        takes_of[planned.job.id] = sorted({*takes_of[planned.job.id], *numbers})
    # A review state holds its entry: only reviewed jobs keep theirs, and the lock (about
    # 27 MB at 10,000 jobs) is let go before the page is made.
    del lock
    take_files = {
        (job_id, take): path
        for job_id, numbers in takes_of.items()
        for take in numbers
        if take > 1
        and link_expiry_hours is None
        and (path := workspace.placed_output(take_id(job_id, take))) is not None
    }
    posters: dict[Path, Path | None] = {
        # A still (an image model's output) is its own poster.
        path: path
        for path in [*clips.values(), *take_files.values()]
        if path.suffix != ".mp4"
    }
    wanted = [
        p for p in [*clips.values(), *take_files.values(), *cut_files.values()] if p not in posters
    ]
    for start in range(0, len(wanted), _POSTERS_AT_ONCE):
        posters.update(poster_frames(wanted[start : start + _POSTERS_AT_ONCE], workspace.posters))
    del wanted

    def media(path: Path) -> Media:
        poster = posters.get(path)
        return Media(
            video=_relative(path, output_dir),
            poster=_relative(poster, output_dir) if poster is not None else None,
        )

    cuts: list[CutCard] = []
    for entry in cut_entries:
        cut_id = str(entry.get("id"))
        found = cut_files.get(cut_id)
        srt = locate(entry.get("srt"), output_dir)
        cuts.append(
            cut_card(
                {**entry, "srt": _relative(srt, output_dir) if srt is not None else None},
                media(found) if found is not None else Media(),
            )
        )
    reviews: dict[str, JobReview] = {}
    for job_id, numbers in takes_of.items():
        decided = states.get(job_id)
        takes = []
        for take in numbers:
            file = clips.get(job_id) if take == 1 else take_files.get((job_id, take))
            takes.append(
                TakeCard(
                    take,
                    media(file) if file is not None else linked.get(take_id(job_id, take), Media()),
                    picked=decided is not None and decided.picked == take,
                    rejected=decided is not None and take in decided.rejected,
                )
            )
        reviewed = decided is not None and bool(
            decided.picked is not None or decided.rejected or decided.rerolls or decided.note
        )
        reviews[job_id] = JobReview(
            takes=tuple(takes),
            status=decided.status if decided is not None and reviewed else "",
            note=(decided.note or "") if decided is not None else "",
        )
    gallery = build_gallery(
        the_plan,
        record,
        {
            **{job_id: media(path) for job_id, path in clips.items()},
            **{take: shown for take, shown in linked.items() if split_take_id(take)[1] == 1},
        },
        cuts,
        campaign.loaded.manifest.markets,
        reviews,
    )
    target = workspace.report
    write_atomically(
        target, (piece.encode("utf-8") for piece in gallery_pieces(gallery, workspace.fonts))
    )
    return target


def _linked_media(
    campaign: Campaign, store: Store, expiry_hours: float, job_ids: set[str]
) -> dict[str, Media]:
    """Each take of `job_ids` the lock records an output for, whose object the store holds,
    as a signed link (and a poster read through it), by take id."""
    outputs = {
        take: out.output_sha256
        for take, out in campaign.lock().outputs().items()
        if out.output_sha256 is not None and split_take_id(take)[0] in job_ids
    }
    held = store.holds_all(set(outputs.values()))
    seconds = round(expiry_hours * 3600)
    links = {sha256: store.link(sha256, seconds) for sha256 in sorted(held)}
    if not links:
        # A store that cannot link (a folder) refuses with its reason even when it holds none
        # of the clips yet; signing is local arithmetic, no request.
        store.link("0" * 64, seconds)
    workspace = campaign.workspace
    posters = linked_posters(links, workspace.posters)
    output_dir = workspace.output_dir
    return {
        take: Media(
            video=links[sha256],
            poster=_relative(poster, output_dir) if (poster := posters[sha256]) else None,
        )
        for take, sha256 in outputs.items()
        if sha256 in held
    }
