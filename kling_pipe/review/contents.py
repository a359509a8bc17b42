"""What the review page shows: every job with its takes, prompt, localized line, cost, status
and the review's decisions, plus the rough cuts with the take each uses. Pure.

Media are named by job id and take number (`/take/<job id>/<n>`), never by path (a job's
upstream clips too, by the upstream job and take): the server
maps those names to files itself (see `files`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kling_pipe.planning.cuts import PlannedCut
from kling_pipe.planning.jobs import Job
from kling_pipe.planning.picks import ReviewState
from kling_pipe.reporting.contents import GRID_AXES, describe_value


def take_url(job_id: str, take: int) -> str:
    """The page's address of a take's video."""
    return f"/take/{quote(job_id, safe='/')}/{take}"


def poster_url(job_id: str, take: int) -> str:
    """The page's address of a take's poster frame."""
    return f"/poster/{quote(job_id, safe='/')}/{take}"


@dataclass(frozen=True)
class JobFacts:
    """What the campaign knows of a job beyond its plan and lock: the last run's outcome."""

    run_status: str  # done, cached, failed, … or "not run"
    spent_usd: float | None
    error: str | None


NOT_RUN = JobFacts("not run", None, None)


def market_line(markets: Mapping[str, Mapping[str, Any]], market: str | None) -> tuple[str, str]:
    """The market's localized `line` and its `locale` ("" when the manifest has none)."""
    values = markets.get(market or "", {})
    line, locale = values.get("line", ""), values.get("locale", "")
    return (line if isinstance(line, str) else "", locale if isinstance(locale, str) else "")


def decisions_view(state: ReviewState, made: Collection[int]) -> dict[str, Any]:
    """The fields of a job's JSON that a decision changes: takes, pick, rejections, note."""
    job_id = state.job.id
    return {
        "id": job_id,
        "takes": [
            {
                "n": take.take,
                "video": take_url(job_id, take.take) if take.take in made else None,
                "poster": poster_url(job_id, take.take) if take.take in made else None,
                "rerolled": take.rerolled,
            }
            for take in state.takes
        ],
        "picked": state.picked,
        "rejected": list(state.rejected),
        "note": state.note or "",
        "status": state.status,
        "chosen": state.chosen(made.__contains__),
        "history": state.previous_pick.take if state.previous_pick is not None else None,
    }


def upstream_view(job: Job, kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """The clips a downstream job was made from (`{from: SHOT}`), by input name: the upstream
    job, the take that feeds it, its media by name, and whether it is an image or a video
    (`kinds`: job id → what its model makes)."""
    return [
        {
            "input": name,
            "job": source.job_id,
            "take": source.take,
            "picked": source.picked,
            "kind": kinds.get(source.job_id, "video"),
            "video": take_url(source.job_id, source.take),
            "poster": poster_url(source.job_id, source.take),
        }
        for name, source in sorted(job.upstream.items())
    ]


def job_view(
    state: ReviewState,
    made: Collection[int],
    facts: JobFacts,
    markets: Mapping[str, Mapping[str, Any]],
    kinds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One job as the page's JSON."""
    job = state.job
    line, locale = market_line(markets, job.market)
    return {
        "shot": job.shot,
        "market": job.market or "",
        "ratio": job.aspect_ratio,
        "axes": {
            axis: describe_value(value).title
            for axis, value in job.values.items()
            if axis not in GRID_AXES
        },
        "prompt": str(job.inputs.get("prompt", "")),
        "negative": str(job.inputs.get("negative_prompt", "") or ""),
        "line": line,
        "locale": locale,
        "duration": job.duration,
        "estimate": round(job.cost_usd, 4),
        "spent": facts.spent_usd,
        "run": facts.run_status,
        "error": facts.error,
        "upstream": upstream_view(job, kinds or {}),
        **decisions_view(state, made),
    }


def cut_view(
    cut: PlannedCut, index: int, on_disk: bool, chosen: Mapping[str, int | None], picked: set[str]
) -> dict[str, Any]:
    """One cut as the page's JSON: its clips and the take each uses now."""
    label = "/".join(str(describe_value(v).title) for v in cut.values.values())
    return {
        "id": f"{cut.cut.id}/{label}" if label else cut.cut.id,
        "market": str(cut.values.get("market", "")),
        "ratio": cut.aspect_ratio,
        "video": f"/cut/{index}" if on_disk else None,
        "clips": [
            {"job": c.job.id, "take": chosen.get(c.job.id), "picked": c.job.id in picked}
            for c in cut.clips
        ],
    }


def board(
    name: str,
    states: Sequence[ReviewState],
    made: Mapping[str, Collection[int]],
    facts: Mapping[str, JobFacts],
    markets: Mapping[str, Mapping[str, Any]],
    cuts: Sequence[tuple[PlannedCut, bool]],
    kinds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data; `kinds` says which jobs make images
    (job id → "image" or "video"; a job not in it makes video)."""
    chosen = {s.job.id: s.chosen(made.get(s.job.id, ()).__contains__) for s in states}
    picked = {s.job.id for s in states if s.picked is not None}
    return {
        "name": name,
        "jobs": [
            job_view(s, made.get(s.job.id, ()), facts.get(s.job.id, NOT_RUN), markets, kinds)
            for s in states
        ],
        "cuts": [
            cut_view(cut, i, on_disk, chosen, picked) for i, (cut, on_disk) in enumerate(cuts)
        ],
    }
