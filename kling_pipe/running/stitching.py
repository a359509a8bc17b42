"""Rough cuts of a campaign: its planned cuts, made from the clips the store holds, recorded.

stitch_campaign(Campaign.open("pipelines/spring-launch.yaml"), StitchOptions())
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError, KlingPipeError
from kling_pipe.manifest.schema import Cut
from kling_pipe.media.cards import Card
from kling_pipe.media.house import HouseFormat, house_format_for_ratio
from kling_pipe.media.stitch import CutClip, CutRequest, CutResult, Transition, stitch_cuts
from kling_pipe.planning.cuts import CardText, PlannedCut
from kling_pipe.planning.picks import ReviewState
from kling_pipe.planning.shards import Shard
from kling_pipe.running.decisions import chosen_takes, review_states, take_objects
from kling_pipe.running.journal import Journal
from kling_pipe.running.record import CutRun, write_cuts
from kling_pipe.running.selection import check_cut_glob
from kling_pipe.running.store import Store, open_store

SLATE_BACKGROUND = "#5a1e1e"


@dataclass(frozen=True)
class StitchOptions:
    """Which cuts to make and from which clips; None means: take it from the manifest."""

    cut: str | None = None
    """Only this cut id (as in the manifest's `cuts:`)."""
    only: str | None = None
    """Only cuts whose id (`spot/us/16x9`) matches this glob."""
    allow_missing: bool = False
    """Put a slate where a clip is missing instead of leaving the cut out."""
    backend: str | None = None
    """Whose clips: `replicate`, `preview`, or None for real generations first, else previews."""
    workers: int | None = None
    picked_only: bool = False
    """Make only cuts whose every job has a picked take (finals); list the others' unpicked
    jobs."""
    shard: Shard | None = None
    """Only the cuts of this shard (`stitch --shard K/N`)."""


@dataclass
class StitchResult:
    """What was stitched, what could not be, and where it was recorded."""

    cuts: list[CutRun]
    run_json: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every cut was made (slates included), 1 otherwise."""
        return 0 if all(c.status == "done" for c in self.cuts) else 1


def cut_id(planned: PlannedCut) -> str:
    """A cut's id for people and globs: its path under `cuts/` without the suffix."""
    return planned.output.relative_to("cuts").with_suffix("").as_posix()


def select_cuts(
    planned: Sequence[PlannedCut], cut: str | None, only: str | None
) -> list[PlannedCut]:
    """The planned cuts `--cut` and `--only` ask for; InputError when they name nothing."""
    chosen = list(planned)
    if cut is not None:
        known = sorted({p.cut.id for p in planned})
        if cut not in known:
            raise InputError(
                f"no cut {cut!r} in the manifest; cuts: {', '.join(known) or '(none)'}"
            )
        chosen = [p for p in chosen if p.cut.id == cut]
    if only is not None:
        chosen = [p for p in chosen if fnmatch.fnmatchcase(cut_id(p), only)]
        if not chosen:
            check_cut_glob([cut_id(p) for p in planned], only)
    return chosen


def house_format(cut: Cut, ratio: str) -> HouseFormat:
    """The cut's house format at `ratio`: its own size for the ratio, else the default."""
    size = next((s for r, s in cut.sizes.items() if r == ratio), None)
    if size is None:
        return house_format_for_ratio(ratio, fps=cut.fps, fit=cut.fit)
    width, height = (int(n) for n in size.split("x"))
    return HouseFormat(width=width, height=height, fps=Fraction(cut.fps), fit=cut.fit)


def build_request(
    campaign: Campaign,
    planned: PlannedCut,
    clips: Mapping[str, Path],
    allow_missing: bool,
    takes: Mapping[str, int] | None = None,
    unpicked: Collection[str] = (),
) -> tuple[CutRequest | None, CutRun]:
    """The stitch request for a planned cut, given the clip file of each job id that has one
    (and the take it is, `takes`); None (and a `missing` record) when clips are missing and
    slates are not allowed, or (an `unpicked` record) when a job of it is in `unpicked`."""
    cut = planned.cut
    takes = takes or {}
    record = CutRun(
        id=cut_id(planned),
        cut=cut.id,
        values={k: v for k, v in planned.values.items()},
        status="done",
        clips=[c.job.id for c in planned.clips],
        takes=[takes.get(c.job.id, 0) if c.job.id in clips else 0 for c in planned.clips],
    )
    not_picked = [c.job.id for c in planned.clips if c.job.id in unpicked]
    if not_picked:
        record.status = "unpicked"
        record.unpicked = not_picked
        record.error = (
            f"--picked-only: no pick for {', '.join(not_picked)} (`kling-pipe pick JOB TAKE`)"
        )
        return None, record
    missing = [c.job.id for c in planned.clips if c.job.id not in clips]
    if missing and not allow_missing:
        record.status = "missing"
        record.missing = missing
        record.error = f"no clip yet for {', '.join(missing)}"
        return None, record
    record.slates = missing
    parts = []
    for clip in planned.clips:
        path = clips.get(clip.job.id)
        if path is None:
            slate = Card(
                text=f"MISSING CLIP\n{clip.job.id}",
                seconds=clip.job.duration,
                background=SLATE_BACKGROUND,
            )
            parts.append(CutClip(None, label=clip.job.id, slate=slate))
        else:
            parts.append(CutClip(path, dialogue=clip.dialogue, label=clip.job.id))
    transition = Transition(cut.transition.kind, cut.transition.seconds)
    request = CutRequest(
        clips=tuple(parts),
        house=house_format(cut, planned.aspect_ratio),
        out_path=campaign.workspace.cut_path(planned.output),
        transition=transition,
        title=_card(campaign, planned.title),
        end=_card(campaign, planned.end_card),
        loudness_lufs=cut.loudness_lufs,
        burn_captions=cut.captions == "burn",
    )
    return request, record


def _card(campaign: Campaign, card: CardText | None) -> Card | None:
    if card is None:
        return None
    spec = card.card
    image = campaign.sources.resolve(spec.image) if spec.image else None
    return Card(card.text, spec.seconds, spec.background, spec.color, image)


def chosen_clips(
    campaign: Campaign,
    journal: Journal | None,
    store: Store,
    planned: Sequence[PlannedCut],
    backend: str | None,
) -> tuple[dict[str, Path], dict[str, int], list[ReviewState]]:
    """Per job id in `planned`: a verified local file of the take its cuts use (the picked
    one, else the first not rejected that has an output: the lock's first, what was paid for,
    else the journal's newest, previews and rehearsals), and that take; and the jobs' review
    states. From a bucket, only these clips are fetched (once: they are cached)."""
    wanted = {clip.job.id for cut in planned for clip in cut.clips}
    lock = campaign.lock()
    states = [s for s in review_states(campaign, lock) if s.job.id in wanted]
    objects = take_objects(campaign, states, store, backend, journal)
    chosen = chosen_takes(states, objects)
    files: dict[str, Path] = {}
    for job_id, take in chosen.items():
        path = store.local_copy(objects[(job_id, take)])
        if path is not None:
            files[job_id] = path
    return files, {job_id: chosen[job_id] for job_id in files}, states


def stitch_campaign(
    campaign: Campaign,
    options: StitchOptions,
    *,
    on_cut: Callable[[CutRun], None] | None = None,
) -> StitchResult:
    """Stitch the campaign's cuts from stored clips; record them in `out/<name>/run.json`."""
    cut_plan = campaign.cut_plan()
    warnings = [str(w) for w in cut_plan.warnings]
    chosen = select_cuts(cut_plan.cuts, options.cut, options.only)
    if options.shard is not None:
        shard = options.shard
        chosen = [p for p in chosen if shard.takes_cut(cut_id(p))]
    workspace = campaign.workspace
    run_json = workspace.run_json
    if not chosen:
        return StitchResult([], run_json, warnings)
    store = open_store(workspace)
    journal = Journal(workspace.journal) if workspace.journal.is_file() else None
    try:
        clips, takes, states = chosen_clips(campaign, journal, store, chosen, options.backend)
    finally:
        if journal is not None:
            journal.close()
    unpicked = {s.job.id for s in states if s.picked is None} if options.picked_only else set()

    records: list[CutRun] = []
    requests: list[CutRequest] = []
    pending: list[CutRun] = []
    for planned in chosen:
        request, record = build_request(
            campaign, planned, clips, options.allow_missing, takes, unpicked
        )
        records.append(record)
        if request is None:
            if on_cut is not None:
                on_cut(record)
            continue
        requests.append(request)
        pending.append(record)

    finished = 0

    def made(result: CutResult) -> None:
        nonlocal finished
        record = pending[finished]
        finished += 1
        record.output = _relative(result.path, workspace.output_dir)
        record.srt = _relative(result.srt_path, workspace.output_dir)
        record.frames = result.frames
        record.seconds = round(result.seconds, 3)
        record.reused_segments = result.reused_intermediates
        record.reused = result.reused
        if result.loudness is not None:
            record.loudness_mode = result.loudness.mode
            record.integrated_lufs = result.loudness.output
            record.true_peak_dbtp = result.loudness.true_peak
        if on_cut is not None:
            on_cut(record)

    try:
        stitch_cuts(requests, workspace.intermediates, options.workers, on_cut=made)
    except KlingPipeError as exc:
        for record in pending[finished:]:
            record.status = "failed"
            record.error = str(exc)
            if on_cut is not None:
                on_cut(record)
    for record in records:
        if record.slates:
            warnings.append(f"cut {record.id}: slate in place of {', '.join(record.slates)}")
    write_cuts(run_json, campaign.name, records)
    return StitchResult(records, run_json, warnings)


def _relative(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(path, folder)).as_posix()
