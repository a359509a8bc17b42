"""What the review page shows: every job with its takes, prompt, localized line, cost, status
and the reviewer's decisions, plus the rough cuts with the take each uses. Pure.

Media are named by job id and take number (`/take/<job id>/<n>`), never by path: the server
maps those names to files itself (see `files`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from kling_pipe.planning.cuts import PlannedCut
from kling_pipe.planning.jobs import Job
from kling_pipe.reporting.contents import GRID_AXES, describe_value
from kling_pipe.review.decisions import JobDecisions

ReviewStatus = Literal["unreviewed", "picked", "rejected", "rerolled"]
REVIEW_STATUSES: tuple[ReviewStatus, ...] = ("unreviewed", "picked", "rejected", "rerolled")


def review_status(decisions: JobDecisions) -> ReviewStatus:
    """Where a job stands: picked; else waiting for a rerolled take; else rejected (some take
    refused, none picked); else unreviewed."""
    if decisions.picked is not None:
        return "picked"
    if decisions.rerolled:
        return "rerolled"
    if decisions.rejected:
        return "rejected"
    return "unreviewed"


def chosen_take(decisions: JobDecisions) -> int | None:
    """The take a cut uses: the pick, else the first take not rejected (None: all rejected)."""
    if decisions.picked is not None:
        return decisions.picked
    return next((t for t in range(1, decisions.takes + 1) if t not in decisions.rejected), None)


def take_url(job_id: str, take: int) -> str:
    """The page's address of a take's video."""
    return f"/take/{quote(job_id, safe='/')}/{take}"


def poster_url(job_id: str, take: int) -> str:
    """The page's address of a take's poster frame."""
    return f"/poster/{quote(job_id, safe='/')}/{take}"


@dataclass(frozen=True)
class JobFacts:
    """What the campaign knows of a job beyond its plan: run status, money, which takes exist."""

    run_status: str  # done, cached, failed, … or "not run"
    spent_usd: float | None
    error: str | None
    takes_on_disk: frozenset[int]


def market_line(markets: Mapping[str, Mapping[str, Any]], market: str | None) -> tuple[str, str]:
    """The market's localized `line` and its `locale` ("" when the manifest has none)."""
    values = markets.get(market or "", {})
    line, locale = values.get("line", ""), values.get("locale", "")
    return (line if isinstance(line, str) else "", locale if isinstance(locale, str) else "")


def job_view(
    job: Job,
    decisions: JobDecisions,
    facts: JobFacts,
    markets: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One job as the page's JSON."""
    line, locale = market_line(markets, job.market)
    axes = {
        axis: describe_value(value).title
        for axis, value in job.values.items()
        if axis not in GRID_AXES
    }
    takes = [
        {
            "n": n,
            "video": take_url(job.id, n) if n in facts.takes_on_disk else None,
            "poster": poster_url(job.id, n) if n in facts.takes_on_disk else None,
        }
        for n in range(1, decisions.takes + 1)
    ]
    return {
        "id": job.id,
        "shot": job.shot,
        "market": job.market or "",
        "ratio": job.aspect_ratio,
        "axes": axes,
        "prompt": str(job.inputs.get("prompt", "")),
        "negative": str(job.inputs.get("negative_prompt", "") or ""),
        "line": line,
        "locale": locale,
        "duration": job.duration,
        "estimate": round(job.cost_usd, 4),
        "spent": facts.spent_usd,
        "run": facts.run_status,
        "error": facts.error,
        "takes": takes,
        **decisions_view(decisions),
    }


def decisions_view(decisions: JobDecisions) -> dict[str, Any]:
    """The decision fields of a job's JSON (what changes when the reviewer acts)."""
    return {
        "picked": decisions.picked,
        "rejected": sorted(decisions.rejected),
        "note": decisions.note,
        "status": review_status(decisions),
        "chosen": chosen_take(decisions),
        "count": decisions.takes,
    }


@dataclass(frozen=True)
class CutView:
    """A rough cut of one combination, and whether its file exists."""

    planned: PlannedCut
    index: int
    on_disk: bool


def cut_view(cut: CutView, decisions: Mapping[str, JobDecisions]) -> dict[str, Any]:
    """One cut as the page's JSON: its clips and the take each uses now."""
    values = cut.planned.values
    label = "/".join(str(describe_value(v).title) for v in values.values())
    return {
        "id": f"{cut.planned.cut.id}/{label}" if label else cut.planned.cut.id,
        "market": str(values.get("market", "")),
        "ratio": cut.planned.aspect_ratio,
        "video": f"/cut/{cut.index}" if cut.on_disk else None,
        "clips": [
            {
                "job": clip.job.id,
                "take": chosen_take(decisions.get(clip.job.id, JobDecisions())),
                "picked": decisions.get(clip.job.id, JobDecisions()).picked is not None,
            }
            for clip in cut.planned.clips
        ],
    }


def board(
    jobs: Sequence[Job],
    decisions: Mapping[str, JobDecisions],
    facts: Mapping[str, JobFacts],
    markets: Mapping[str, Mapping[str, Any]],
    cuts: Sequence[CutView],
    name: str,
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data."""
    none = JobFacts("not run", None, None, frozenset())
    return {
        "name": name,
        "jobs": [
            job_view(job, decisions.get(job.id, JobDecisions()), facts.get(job.id, none), markets)
            for job in jobs
        ],
        "cuts": [cut_view(cut, decisions) for cut in cuts],
    }
