"""The plan as others read it: the documented `plan --json` object, a Markdown table for pull
request comments, a one-line summary. These are contracts: CI parses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kling_pipe.lock import LockedOutput
from kling_pipe.planning.cuts import CutChange
from kling_pipe.planning.diff import PickChange, Plan


def plan_json(the_plan: Plan, cuts: Sequence[CutChange] = ()) -> dict[str, Any]:
    """The plan as the documented `plan --json` object; `cuts` adds each cut's status."""
    summary = the_plan.summary
    cut_entries = [
        {"id": c.id, "cut": c.cut.cut.id, "status": c.status, "reason": c.reason} for c in cuts
    ]
    return {
        "manifest": the_plan.manifest,
        "jobs": [
            {
                "id": p.job.id,
                "take": p.job.take,
                "key": p.job.key,
                "shot": p.job.shot,
                "values": dict(p.job.values),
                "model": p.job.model,
                "inputs": dict(p.job.inputs),
                "status": p.status,
                "reason": p.reason,
                "cost_usd": p.job.cost_usd,
                "generates": p.generates,
                **({"lost": _lost_json(p.lost)} if p.lost else {}),
            }
            for p in the_plan.jobs
        ],
        "removed": list(the_plan.removed),
        **({"cuts": cut_entries} if cut_entries else {}),
        "picks": [
            {"job": p.job_id, "before": p.before, "after": p.after, "cuts": list(p.cuts)}
            for p in the_plan.picks
        ],
        "summary": {
            "jobs": summary.jobs,
            "takes": summary.takes,
            "picks": summary.picks,
            "new": summary.new,
            "changed": summary.changed,
            "unchanged": summary.unchanged,
            "removed": summary.removed,
            "generations": summary.generations,
            "cost_usd": summary.cost_usd,
            "lost": summary.lost,
            "lost_cost_usd": summary.lost_cost_usd,
            "prices_as_of": prices_as_of(the_plan),
        },
    }


def _lost_json(lost: LockedOutput) -> dict[str, Any]:
    """What was paid for: the output fields (and take 1's key material), no decisions."""
    data = lost.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in data.items() if k in LockedOutput.model_fields or k == "material"}


def prices_as_of(the_plan: Plan) -> str | None:
    """The date of the oldest price table the plan's estimate uses (the manifest's own
    `prices:` read as "manifest"), or None when it uses none."""
    dates = {p.job.prices_as_of for p in the_plan.jobs if p.job.prices_as_of}
    if not dates:
        return None
    days = sorted(d for d in dates if d != "manifest")
    return days[0] if days else "manifest"


def plan_summary_line(the_plan: Plan) -> str:
    s = the_plan.summary
    lost = f", {s.lost} lost (${s.lost_cost_usd:.2f} to generate again)" if s.lost else ""
    takes = f" ({s.takes} takes)" if s.takes != s.jobs else ""
    picks = f"; {s.picks} pick(s) changed, re-cut" if s.picks else ""
    return (
        f"{s.jobs} jobs{takes}: {s.new} new, {s.changed} changed, {s.unchanged} unchanged"
        f"{lost}, {s.removed} removed; {s.generations} generations, estimated "
        f"${s.cost_usd:.2f}{picks}"
    )


def prices_note(the_plan: Plan) -> str:
    """Where the estimate's prices come from, for people: "prices as of 2026-03-13", or ""."""
    dated = prices_as_of(the_plan)
    if dated is None:
        return ""
    if dated == "manifest":
        return "prices from the manifest's `prices:`"
    return f"prices as of {dated}; `kling-pipe models list` shows them"


def plan_markdown(the_plan: Plan) -> str:
    """New and changed jobs as a Markdown table with reasons and cost, for a PR comment."""
    lines = [f"### kling-pipe plan: `{the_plan.manifest}`", ""]
    todo = [p for p in the_plan.jobs if p.status != "unchanged"]
    if todo or the_plan.removed:
        lines += ["| job | status | reason | est. cost |", "|---|---|---|---:|"]
        for p in todo:
            reason = p.reason.replace("|", "\\|")
            lines.append(f"| `{p.take_id}` | {p.status} | {reason} | ${p.cost_usd:.2f} |")
        for removed in the_plan.removed:
            lines.append(f"| `{removed}` | removed | gone from the manifest | $0.00 |")
    else:
        lines.append("Nothing to generate: every job is unchanged.")
    if note := prices_note(the_plan):
        lines += ["", f"_{note}_"]
    if the_plan.picks:
        lines += ["", "Picks (re-cut, nothing generated):", ""]
        lines += [f"- {_pick_markdown(p)}" for p in the_plan.picks]
    lines += ["", f"**{plan_summary_line(the_plan)}**"]
    return "\n".join(lines)


def _pick_markdown(change: PickChange) -> str:
    """`pick `hero/jp/9x16`: take 1 → 3, re-cuts `spot/jp/9x16``."""
    text = change.describe().replace(change.job_id, f"`{change.job_id}`", 1)
    for cut in change.cuts:
        text = text.replace(f" {cut}", f" `{cut}`")
    return text
