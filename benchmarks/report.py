"""Gallery report: a cold report (every poster extracted) against a re-report (posters cached);
and the page of a 10,000-job campaign in Chromium against a page of 24 jobs.

The spring-launch example (24 clips) is generated with the preview backend in a scratch copy.
Baselines from the same run: hashing every clip (the least a poster cache keyed by content
must do) and the cold report; a re-report should cost about the hashing plus the page.

At scale: `kling-pipe report` of a 10,000-job manifest and of a 24-job one (plans only, no
clips), each page opened in headless Chromium: the time from navigation until its first cards
are shown, and the time a filter takes to show its cards (target: about the small page's).

    python benchmarks/report.py [--height 144] [--repeats 3] [--scale-jobs 10000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from kling_pipe.campaign import Campaign
from kling_pipe.canonical import file_sha256
from kling_pipe.reporting import write_report

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def scale_manifest(name: str, shots: int, markets: int) -> str:
    """A campaign of shots × markets × two ratios, each market with a Japanese line."""
    market_lines = "\n".join(
        f"  m{i:04d}: {{locale: ja-JP, line: 'すぐ沸く {i}'}}" for i in range(markets)
    )
    shot_lines = "\n".join(
        f"  - id: s{i}\n    prompt: 'Shot {i}: the kettle pours, slow push-in. {{{{ line }}}}'"
        for i in range(shots)
    )
    return f"""\
version: 1
name: {name}
model: kwaivgi/kling-v2.6
defaults: {{duration: 5}}
markets:
{market_lines}
matrix:
  market: [{", ".join(f"m{i:04d}" for i in range(markets))}]
  aspect_ratio: ["16:9", "9:16"]
shots:
{shot_lines}
limits: {{max_jobs: 100000}}
"""


def open_page(browser: Browser, page_path: Path) -> tuple[float, float]:
    """Seconds until the page shows its first cards, and until a ratio filter shows its own."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-ready] article.card", state="visible")
        opened = time.perf_counter() - start
        start = time.perf_counter()
        page.select_option("#filter-ratio", "9:16")
        page.wait_for_selector("article.card[data-ratio='9:16']", state="visible")
        page.wait_for_selector("article.card[data-ratio='16:9']", state="hidden")
        return opened, time.perf_counter() - start
    finally:
        context.close()


def at_scale(jobs: int, repeats: int) -> dict[str, tuple[float, float, float, int]]:
    """Per campaign (small, large): report seconds, page-open and filter seconds, page bytes."""
    results: dict[str, tuple[float, float, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="kling-report-scale-") as scratch:
        project = Path(scratch)
        (project / ".git").mkdir()
        sizes = {"small": (2, 6), "large": (10, max(1, jobs // 20))}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                for name, (shots, markets) in sizes.items():
                    (project / f"{name}.yaml").write_text(
                        scale_manifest(name, shots, markets), "utf-8"
                    )
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-m", "kling_pipe", "report", f"{name}.yaml"],
                        cwd=project,
                        check=True,
                        capture_output=True,
                    )
                    written = time.perf_counter() - start
                    page = project / "out" / name / "report.html"
                    open_page(browser, page)  # the browser's own caches, once
                    samples = [open_page(browser, page) for _ in range(repeats)]
                    results[name] = (
                        written,
                        statistics.median(s[0] for s in samples),
                        statistics.median(s[1] for s in samples),
                        page.stat().st_size,
                    )
            finally:
                browser.close()
    return results


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
    parser.add_argument("--scale-jobs", type=int, default=10_000, help="jobs of the large page")
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
    scale = at_scale(args.scale_jobs, args.repeats)
    for name, (written, opened, filtered, size) in scale.items():
        print(
            f"{name:5} page: report written in {written:6.2f} s, {size / 1e6:6.2f} MB; "
            f"opened in {opened * 1000:6.0f} ms, ratio filter in {filtered * 1000:5.0f} ms"
        )
    open_ratio = scale["large"][1] / scale["small"][1]
    filter_ratio = scale["large"][2] / scale["small"][2]
    print(f"{args.scale_jobs} jobs vs 24: open {open_ratio:.2f}x, filter {filter_ratio:.2f}x")
    print(
        f"BENCH report clips={len(clips)} cold_ms={cold * 1000:.0f} warm_ms={warm * 1000:.0f} "
        f"hash_ms={hashing * 1000:.0f} cold_over_warm={cold / warm:.1f} "
        f"warm_over_hash={warm / hashing:.1f} page_open_ratio={open_ratio:.2f} "
        f"page_filter_ratio={filter_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
