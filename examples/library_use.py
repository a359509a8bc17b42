"""Using kling-pipe from Python: plan a campaign, look at what would change, run it offline.

python examples/library_use.py pipelines/spring-launch.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path

from kling_pipe import Campaign, ManifestError, RunOptions, run_campaign


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

    # The preview backend renders local animatics: free, offline, deterministic per job key.
    result = run_campaign(
        campaign, RunOptions(backend="preview", output=Path("out"), preview_height=240)
    )
    print(f"{result.record.status}: clips in {result.output_dir}")
    return result.record.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "pipelines/previs.yaml"))
