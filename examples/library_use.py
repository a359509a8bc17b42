"""Using kling-pipe from Python: plan a campaign, look at what would change, run it offline,
following the run's progress events.

python examples/library_use.py pipelines/spring-launch.yaml

Inside an event loop (a web service, a notebook) use `await kling_pipe.run(...)` instead of
`run_sync`, and cancel it with your own cancel scope.
"""

from __future__ import annotations

import sys

from kling_pipe import Campaign, ManifestError, RunEvent, RunOptions, UnitFinished, run_sync


def main(manifest: str) -> int:
    try:
        campaign = Campaign.open(manifest)
    except ManifestError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2

    plan = campaign.plan()
    for planned in plan.jobs:
        if planned.status != "unchanged":
            print(
                f"{planned.job.id:24} {planned.status:9} ${planned.cost_usd:5.2f}  {planned.reason}"
            )
    summary = plan.summary
    print(f"{summary.generations} generations, estimated ${summary.cost_usd:.2f}")

    def show(event: RunEvent) -> None:
        if isinstance(event, UnitFinished):
            print(f"  {event.result.status:7} {', '.join(event.result.unit.job_ids)}")

    # The preview backend renders local animatics: free, offline, deterministic per job key.
    result = run_sync(campaign, RunOptions(backend="preview", preview_height=240), on_event=show)
    print(f"{result.record.status}: clips in {result.output_dir}")
    return result.record.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "pipelines/previs.yaml"))
