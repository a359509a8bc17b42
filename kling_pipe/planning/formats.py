"""The plan as others read it: the documented `plan --json` object, a Markdown table for pull
request comments, a one-line summary. These are contracts: CI parses them."""

from __future__ import annotations

from typing import Any

from kling_pipe.planning.diff import Plan


def plan_json(the_plan: Plan) -> dict[str, Any]:
    """The plan as the documented `plan --json` object."""
    summary = the_plan.summary
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
            "prices_as_of": prices_as_of(the_plan),
        },
    }


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
    return (
        f"{s.jobs} jobs: {s.new} new, {s.changed} changed, {s.unchanged} unchanged{lost}, "
        f"{s.removed} removed; {s.generations} generations, estimated ${s.cost_usd:.2f}"
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
            lines.append(f"| `{p.job.id}` | {p.status} | {reason} | ${p.cost_usd:.2f} |")
        for removed in the_plan.removed:
            lines.append(f"| `{removed}` | removed | gone from the manifest | $0.00 |")
    else:
        lines.append("Nothing to generate: every job is unchanged.")
    if note := prices_note(the_plan):
        lines += ["", f"_{note}_"]
    lines += ["", f"**{plan_summary_line(the_plan)}**"]
    return "\n".join(lines)
