"""The plan as others read it: the documented `plan --json` object, a Markdown table for pull
request comments, a one-line summary. These are contracts: CI parses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kling_pipe.planning.cuts import CutChange
from kling_pipe.planning.diff import Plan


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
                "key": p.job.key,
                "shot": p.job.shot,
                "values": dict(p.job.values),
                "model": p.job.model,
                "inputs": dict(p.job.inputs),
                "status": p.status,
                "reason": p.reason,
                "cost_usd": p.job.cost_usd,
                "generates": p.generates,
                **({"lost": p.lost.model_dump(mode="json", exclude_none=True)} if p.lost else {}),
            }
            for p in the_plan.jobs
        ],
        "removed": list(the_plan.removed),
        **({"cuts": cut_entries} if cut_entries else {}),
        "summary": {
            "jobs": summary.jobs,
            "new": summary.new,
            "changed": summary.changed,
            "unchanged": summary.unchanged,
            "removed": summary.removed,
            "generations": summary.generations,
            "cost_usd": summary.cost_usd,
            "lost": summary.lost,
            "lost_cost_usd": summary.lost_cost_usd,
        },
    }


def plan_summary_line(the_plan: Plan) -> str:
    s = the_plan.summary
    lost = f", {s.lost} lost (${s.lost_cost_usd:.2f} to generate again)" if s.lost else ""
    return (
        f"{s.jobs} jobs: {s.new} new, {s.changed} changed, {s.unchanged} unchanged{lost}, "
        f"{s.removed} removed; {s.generations} generations, estimated ${s.cost_usd:.2f}"
    )


def plan_markdown(the_plan: Plan) -> str:
    """New and changed jobs as a Markdown table with reasons and cost, for a PR comment."""
    lines = [f"### kling-pipe plan: `{the_plan.manifest}`", ""]
    todo = [p for p in the_plan.jobs if p.status != "unchanged"]
    if todo or the_plan.removed:
        lines += ["| job | status | reason | est. cost |", "|---|---|---|---:|"]
        for p in todo:
            reason = p.reason.replace("|", "\\|")
            lines.append(f"| `{p.job.id}` | {p.status} | {reason} | ${p.cost_usd:.2f} |")
        for removed in the_plan.removed:
            lines.append(f"| `{removed}` | removed | gone from the manifest | $0.00 |")
    else:
        lines.append("Nothing to generate: every job is unchanged.")
    lines += ["", f"**{plan_summary_line(the_plan)}**"]
    return "\n".join(lines)
