"""What a report shows: the plan, the run record and the files on disk folded into cells. Pure.

A shot becomes a grid of markets × aspect ratios; each grid cell holds one card per job (more
than one when the matrix has other axes, e.g. ten `variant`s of a previs shot, captioned with
the values that tell them apart). Rough cuts and failures are listed on their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kling_pipe.planning.diff import Plan, PlannedJob
from kling_pipe.running.record import JobRun, RunRecord

NOT_RUN = "not run"
NOT_MADE = ("failed", "refused", "canceled")
"""Run statuses of a take that did not produce a clip."""
GRID_AXES = ("market", "aspect_ratio")
_RATIO_SLUG = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True)
class Caption:
    """The values that tell a card apart from its neighbours: a title and labelled details."""

    title: str
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Media:
    """A playable file and its poster, as paths relative to the report (the file may instead
    be an http(s) URL: a signed link to its object in the bucket store)."""

    video: str | None = None
    poster: str | None = None


@dataclass(frozen=True)
class UpstreamClip:
    """The clip a downstream job was made from (`{from: SHOT}`), shown beside it."""

    input: str
    job_id: str
    media: Media


@dataclass(frozen=True)
class TakeCard:
    """One take of a job as the report shows it: its media and what the review decided."""

    number: int
    media: Media
    picked: bool = False
    rejected: bool = False


@dataclass(frozen=True)
class TakeFailure:
    """A take beyond the first that the run did not make, and why."""

    number: int
    status: str  # failed, refused or canceled
    error: str | None


@dataclass(frozen=True)
class JobReview:
    """A job's takes and the review's decisions, as read from the lock."""

    takes: tuple[TakeCard, ...]
    status: str  # picked, rejected, rerolled, unreviewed; "" when nothing was decided
    note: str = ""


@dataclass(frozen=True)
class ClipCard:
    """One job: its clip, what it was asked for, what happened and what it cost."""

    job_id: str
    shot: str
    market: str | None
    aspect_ratio: str
    caption: Caption | None
    model: str
    duration: float
    prompt: str
    negative_prompt: str
    status: str  # the run's status (done, cached, failed, refused, canceled) or "not run"
    change: str  # new, changed or unchanged: against the lock the plan was made with
    reason: str  # why it is new or changed
    estimate_usd: float
    cost_usd: float | None  # what the run spent on it; None when not run
    prediction_id: str | None
    error: str | None
    attempts: int
    media: Media
    upstream: tuple[UpstreamClip, ...] = ()
    line: str = ""  # the market's localized line
    locale: str = ""
    axes: tuple[tuple[str, str], ...] = ()  # matrix values beyond market and ratio, as titles
    takes: tuple[TakeCard, ...] = ()  # every take (take 1's media is `media`)
    note: str = ""
    review: str = ""  # picked, rejected, unreviewed; "" when nothing was reviewed
    failed_takes: tuple[TakeFailure, ...] = ()  # takes 2+ the run did not make


@dataclass(frozen=True)
class NotGenerated:
    """One take that was not generated: its job's card, which take, what happened."""

    card: ClipCard
    take: int
    status: str
    error: str | None

    @property
    def label(self) -> str:
        """The take's id: the job's, with `#k` beyond the first take."""
        return self.card.job_id if self.take == 1 else f"{self.card.job_id}#{self.take}"


@dataclass(frozen=True)
class ShotGrid:
    """A shot's cards laid out by market (rows) and aspect ratio (columns)."""

    shot: str
    markets: tuple[str | None, ...]
    ratios: tuple[str, ...]
    cards: tuple[ClipCard, ...]

    def at(self, market: str | None, ratio: str) -> tuple[ClipCard, ...]:
        """The cards of one grid cell, in manifest order."""
        return tuple(c for c in self.cards if c.market == market and c.aspect_ratio == ratio)


@dataclass(frozen=True)
class CutCard:
    """One rough cut: where it is, for which market and ratio, and whether it was made."""

    id: str
    cut: str
    market: str | None
    aspect_ratio: str | None
    status: str  # done, failed or missing
    seconds: float | None
    error: str | None
    srt: str | None
    media: Media


@dataclass(frozen=True)
class RunFacts:
    """The run as a whole: backend, outcome, counts and money."""

    backend: str
    status: str
    summary: str
    spent_usd: float
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Gallery:
    """Everything report.html shows."""

    manifest: str
    run: RunFacts | None
    plan_summary: str
    shots: tuple[ShotGrid, ...]
    cuts: tuple[CutCard, ...]
    removed: tuple[str, ...]

    @property
    def cards(self) -> tuple[ClipCard, ...]:
        """Every job's card, shot by shot."""
        return tuple(card for shot in self.shots for card in shot.cards)

    @property
    def problems(self) -> tuple[NotGenerated, ...]:
        """The takes that did not produce a clip in the run, with their reasons, job by job."""
        found: list[NotGenerated] = []
        for card in self.cards:
            if card.status in NOT_MADE:
                found.append(NotGenerated(card, 1, card.status, card.error))
            found += [NotGenerated(card, t.number, t.status, t.error) for t in card.failed_takes]
        return tuple(found)

    def axes(self) -> dict[str, tuple[str, ...]]:
        """Matrix axes beyond market and ratio whose values differ (a previs `variant`), with
        their values in order: the page filters by them too."""
        values: dict[str, dict[str, None]] = {}  # dicts as ordered sets: hundreds of values
        for card in self.cards:
            for axis, value in card.axes:
                values.setdefault(axis, {})[value] = None
        return {axis: tuple(v) for axis, v in values.items() if len(v) > 1}

    def choices(self, facet: str) -> tuple[str, ...]:
        """The distinct values of `market`, `ratio` or `status` across cards and cuts, or of
        `review` (picked, rejected, …) across cards."""
        items: list[str | None] = []
        if facet == "review":
            items += [card.review or None for card in self.cards]
        else:
            for card in self.cards:
                items.append(
                    {"market": card.market, "ratio": card.aspect_ratio}.get(facet, card.status)
                )
            for cut in self.cuts:
                items.append(
                    {"market": cut.market, "ratio": cut.aspect_ratio}.get(facet, cut.status)
                )
        return tuple(item for item in dict.fromkeys(items) if item is not None)


def describe_value(value: Any) -> Caption:
    """A matrix value as a caption: a mapping by its `id` (or `name`) and its other fields."""
    if isinstance(value, Mapping):
        title = value.get("id", value.get("name"))
        details = tuple(
            (str(k), _plain(v))
            for k, v in value.items()
            if k not in ("id", "name") or title is None
        )
        return Caption(_plain(title) if title is not None else "", details)
    return Caption(_plain(value))


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return str(value)


def distinguishing_captions(jobs: Sequence[PlannedJob]) -> dict[str, Caption | None]:
    """Per job id, the caption made of the matrix values (beyond market and ratio) that vary."""
    axes: list[str] = []
    for planned in jobs:
        for axis in planned.job.values:
            if axis not in GRID_AXES and axis not in axes:
                axes.append(axis)
    varying = [a for a in axes if len({repr(p.job.values.get(a)) for p in jobs}) > 1]
    captions: dict[str, Caption | None] = {}
    for planned in jobs:
        parts = [describe_value(planned.job.values[a]) for a in varying if a in planned.job.values]
        if not parts:
            captions[planned.job.id] = None
            continue
        title = " · ".join(p.title for p in parts if p.title)
        details = tuple(d for p in parts for d in p.details)
        captions[planned.job.id] = Caption(title, details)
    return captions


def _card(
    planned: PlannedJob,
    take_runs: Sequence[JobRun],
    caption: Caption | None,
    media: Mapping[str, Media],
    markets: Mapping[str, Mapping[str, Any]],
    review: JobReview | None = None,
) -> ClipCard:
    job = planned.job
    run = next((r for r in take_runs if r.take == 1), None)
    own = media.get(job.id, Media())
    market_values = markets.get(job.market or "", {})
    line, locale = market_values.get("line", ""), market_values.get("locale", "")
    return ClipCard(
        job_id=job.id,
        shot=job.shot,
        market=job.market,
        aspect_ratio=job.aspect_ratio,
        caption=caption,
        model=job.model,
        duration=job.duration,
        prompt=str(job.inputs.get("prompt", "")),
        negative_prompt=str(job.inputs.get("negative_prompt", "") or ""),
        status=run.status if run is not None else NOT_RUN,
        change=planned.status,
        reason=planned.reason,
        estimate_usd=job.cost_usd,
        cost_usd=run.cost_usd if run is not None else None,
        prediction_id=run.prediction_id if run is not None else None,
        error=run.error if run is not None else None,
        attempts=run.attempts if run is not None else 0,
        media=own,
        upstream=tuple(
            UpstreamClip(name, source.job_id, media.get(source.job_id, Media()))
            for name, source in sorted(job.upstream.items())
        ),
        line=line if isinstance(line, str) else "",
        locale=locale if isinstance(locale, str) else "",
        axes=tuple(
            (axis, describe_value(value).title)
            for axis, value in job.values.items()
            if axis not in GRID_AXES
        ),
        takes=review.takes if review is not None else (TakeCard(1, own),),
        note=review.note if review is not None else "",
        review=review.status if review is not None else "",
        failed_takes=tuple(
            TakeFailure(r.take, r.status, r.error)
            for r in sorted(take_runs, key=lambda r: r.take)
            if r.take > 1 and r.status in NOT_MADE
        ),
    )


def _ordered(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def shot_grids(
    plan: Plan,
    record: RunRecord | None,
    media: Mapping[str, Media],
    markets: Mapping[str, Mapping[str, Any]] | None = None,
    reviews: Mapping[str, JobReview] | None = None,
) -> tuple[ShotGrid, ...]:
    """Cards for every planned job, grouped by shot in manifest order."""
    # A job's takes each have their own run; the card's status is its first take's.
    runs: dict[str, list[JobRun]] = {}
    for run in record.jobs if record is not None else ():
        runs.setdefault(run.id, []).append(run)
    shots = _ordered([p.job.shot for p in plan.jobs])
    grids: list[ShotGrid] = []
    for shot in shots:
        # One card per job; its other takes are on the card (`reviews`).
        jobs = [p for p in plan.jobs if p.job.shot == shot and p.job.take == 1]
        captions = distinguishing_captions(jobs)
        cards = tuple(
            _card(
                p,
                runs.get(p.job.id, ()),
                captions[p.job.id],
                media,
                markets or {},
                (reviews or {}).get(p.job.id),
            )
            for p in jobs
        )
        grids.append(
            ShotGrid(
                shot=shot,
                markets=_ordered([c.market for c in cards]),
                ratios=_ordered([c.aspect_ratio for c in cards]),
                cards=cards,
            )
        )
    return tuple(grids)


def ratio_of_slug(slug: str) -> str | None:
    """`16x9` → `16:9`; None when `slug` is not a ratio."""
    match = _RATIO_SLUG.fullmatch(slug)
    return f"{match.group(1)}:{match.group(2)}" if match else None


def cut_card(entry: Mapping[str, Any], media: Media) -> CutCard:
    """A cut from a `run.json` `cuts` entry (id, cut, values, status, output, srt, seconds)."""
    values: Mapping[str, Any] = entry.get("values") or {}
    cut_id = str(entry.get("id", ""))
    market = values.get("market")
    ratio = values.get("aspect_ratio")
    seconds = entry.get("seconds")
    error = entry.get("error")
    if not error and entry.get("missing"):
        error = "no clip for " + ", ".join(map(str, entry["missing"]))
    if entry.get("slates"):
        slated = "slates stand in for " + ", ".join(map(str, entry["slates"]))
        error = f"{error}; {slated}" if error else slated
    return CutCard(
        id=cut_id,
        cut=str(entry.get("cut") or cut_id.split("/")[0]),
        market=str(market) if market is not None else None,
        aspect_ratio=str(ratio) if ratio is not None else None,
        status=str(entry.get("status", "done")),
        seconds=float(seconds) if seconds is not None else None,
        error=str(error) if error else None,
        srt=entry.get("srt"),
        media=media,
    )


def cut_entry_from_path(relative: str) -> dict[str, Any]:
    """A `cuts` entry inferred from a file found at `cuts/<cut>/<market>/<ratio>.mp4`."""
    parts = relative.removesuffix(".mp4").split("/")[1:]
    values: dict[str, Any] = {}
    if parts and (ratio := ratio_of_slug(parts[-1])) is not None:
        values["aspect_ratio"] = ratio
        if len(parts) == 3:
            values["market"] = parts[1]
    return {
        "id": "/".join(parts),
        "cut": parts[0] if parts else "",
        "values": values,
        "status": "done",
        "output": relative,
        "srt": relative.removesuffix(".mp4") + ".srt",
    }


def run_facts(record: RunRecord) -> RunFacts:
    """The run's outcome in one line, for the report's header."""
    s = record.summary
    summary = (
        f"{s.done} generated, {s.cached} already stored, {s.failed} failed, {s.refused} refused, "
        f"{s.canceled} canceled; spent ${s.spent_usd:.2f} in {s.seconds:.1f}s"
    )
    return RunFacts(record.backend, record.status, summary, s.spent_usd, tuple(record.warnings))


def plan_summary(plan: Plan) -> str:
    """The plan's counts and estimated cost in one line."""
    s = plan.summary
    return (
        f"{s.jobs} jobs: {s.new} new, {s.changed} changed, {s.unchanged} unchanged, "
        f"{s.removed} removed; {s.generations} to generate, estimated ${s.cost_usd:.2f}"
    )


def build_gallery(
    plan: Plan,
    record: RunRecord | None,
    clip_media: Mapping[str, Media],
    cuts: Sequence[CutCard] = (),
    markets: Mapping[str, Mapping[str, Any]] | None = None,
    reviews: Mapping[str, JobReview] | None = None,
) -> Gallery:
    """The whole report from the plan, the run (None when not run yet) and the media found;
    `markets` (the manifest's) gives each card its market's localized `line`, `reviews` its
    takes and the decisions about them."""
    return Gallery(
        manifest=plan.manifest,
        run=run_facts(record) if record is not None else None,
        plan_summary=plan_summary(plan),
        shots=shot_grids(plan, record, clip_media, markets, reviews),
        cuts=tuple(cuts),
        removed=plan.removed,
    )
