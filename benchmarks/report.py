"""Gallery report: a cold report (every poster extracted) against a re-report (posters cached).

The spring-launch example (24 clips) is generated with the preview backend in a scratch copy.
Baselines from the same run: hashing every clip (the least a poster cache keyed by content
must do) and the cold report; a re-report should cost about the hashing plus the page.

    python benchmarks/report.py [--height 144] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kling_pipe.campaign import Campaign
from kling_pipe.canonical import file_sha256
from kling_pipe.reporting import write_report

REPO = Path(__file__).resolve().parents[1]


def best_of(repeats: int, work: Callable[[], object], before: Callable[[], object]) -> float:
    """The fastest of `repeats` timings of `work`, each after `before` (not timed)."""
    timings = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        work()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    """Generate the example with the preview backend, then time cold and warm reports."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=144, help="preview render height")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kling-report-bench-") as scratch:
        project = Path(scratch)
        for folder in ("pipelines", "templates", "examples"):
            shutil.copytree(REPO / folder, project / folder)
        (project / ".git").mkdir()
        manifest = project / "pipelines/spring-launch.yaml"
        subprocess.run(
            [
                *(sys.executable, "-m", "kling_pipe", "run", str(manifest)),
                *("--backend", "preview", "--preview-height", str(args.height)),
            ],
            cwd=project,
            check=True,
            capture_output=True,
        )
        campaign = Campaign.open(manifest)
        output_dir = project / "out" / campaign.name
        clips = sorted(output_dir.glob("**/*.mp4"))
        posters = output_dir / "posters"

        def forget_posters() -> None:
            shutil.rmtree(posters, ignore_errors=True)

        def report() -> None:
            write_report(campaign)

        hashing = best_of(args.repeats, lambda: [file_sha256(c) for c in clips], lambda: None)
        cold = best_of(args.repeats, report, forget_posters)
        warm = best_of(args.repeats, report, lambda: None)
    print(f"clips: {len(clips)} at {args.height}p")
    print(f"hash every clip (baseline): {hashing * 1000:8.1f} ms")
    print(f"cold report (posters made):  {cold * 1000:8.1f} ms")
    print(f"re-report (posters cached):  {warm * 1000:8.1f} ms")
    print(f"re-report is {cold / warm:.1f}x faster than cold; {warm / hashing:.1f}x the hashing")
    print(
        f"BENCH report clips={len(clips)} cold_ms={cold * 1000:.0f} warm_ms={warm * 1000:.0f} "
        f"hash_ms={hashing * 1000:.0f} cold_over_warm={cold / warm:.1f} "
        f"warm_over_hash={warm / hashing:.1f}"
    )


if __name__ == "__main__":
    main()
