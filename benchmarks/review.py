"""Review app: time for the page of a 2,000-job × 3-take campaign to open and become interactive
in headless Chromium, against a page of 24 jobs measured in the same run (target: ≤ 3×).

Both campaigns are real manifests in one scratch project. Three clips are generated with the
preview backend; the big campaign's lock records them as every job's takes (the lock a paid run
leaves, the store holding its outputs), so the app serves real media for any job. Each page is
served by `kling-pipe review` in its own process (the user's path); a sample is the time from
navigation until the page has its data, shows the first job and has answered the `j` key by
showing the second. The first open after the app starts is printed on its own: the app makes
the page's data while it starts, and again only when the lock, journal or run record change.

    python benchmarks/review.py [--jobs 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from kling_pipe.campaign import Campaign
from kling_pipe.lock import LockEntry, LockFile, TakeEntry, write_lock
from kling_pipe.running.journal import Journal

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
RATIOS = ("16:9", "9:16")


def manifest(name: str, shots: int, markets: int, takes: int) -> str:
    """A campaign of shots × markets × two ratios, each job with `takes` takes."""
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
defaults: {{duration: 5, takes: {takes}}}
markets:
{market_lines}
matrix:
  market: [{", ".join(f"m{i:04d}" for i in range(markets))}]
  aspect_ratio: ["{'", "'.join(RATIOS)}"]
shots:
{shot_lines}
limits: {{max_jobs: 100000}}
"""


def kling(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`kling-pipe ARGS`, checked."""
    return subprocess.run(
        [sys.executable, "-m", "kling_pipe", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )


def lock_with_takes(project: Path, name: str, outputs: dict[str, list[str]]) -> None:
    """Write the lock of `name`.yaml recording `outputs[ratio]` as every job's takes."""
    campaign = Campaign.open(project / f"{name}.yaml")
    jobs: dict[str, LockEntry] = {}
    for job in campaign.job_plan.jobs:
        if job.take != 1:
            continue
        shas = outputs[job.aspect_ratio]
        jobs[job.id] = LockEntry(
            key=job.key,
            material=job.key_material(),
            output_sha256=shas[0],
            duration=5.0,
            cost_usd=0.7,
            takes=tuple(
                TakeEntry(take=t, key=job.for_take(t).key, output_sha256=shas[t - 1], cost_usd=0.7)
                for t in range(2, job.takes + 1)
            ),
        )
    write_lock(campaign.lock_path, LockFile(manifest=name, jobs=jobs))


def serve(project: Path, name: str) -> tuple[subprocess.Popen[str], str]:
    """`kling-pipe review` of `name`.yaml, and its address once it prints it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kling_pipe", "review", f"{name}.yaml", "--no-open"],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if found := re.search(r"http://\S+", line):
            return process, found.group(0)
    raise RuntimeError(f"kling-pipe review {name}.yaml did not start")


def time_to_interactive(browser: Browser, url: str) -> float:
    """Seconds from navigation until the page shows a job and has moved to the next on `j`."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-ready]", state="attached")
        first = page.locator("#job h1").inner_text()
        page.keyboard.press("j")
        page.wait_for_selector(f"#job h1:not(:text-is('{first}'))")
        return time.perf_counter() - start
    finally:
        context.close()


def main() -> None:
    """Make both campaigns, serve each, and time their pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs of the large campaign")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    shots = 5
    markets = max(1, args.jobs // (shots * len(RATIOS)))
    with tempfile.TemporaryDirectory(prefix="kling-review-bench-") as scratch:
        project = Path(scratch)
        (project / ".git").mkdir()
        (project / "clips.yaml").write_text(manifest("clips", 1, 1, 3), "utf-8")
        kling("run", "clips.yaml", "--backend", "preview", "--preview-height", "144", cwd=project)
        outputs: dict[str, list[str]] = {}
        journal = Journal(project / ".kling-pipe" / "journal.sqlite")
        try:
            clips = Campaign.open(project / "clips.yaml")
            for job in clips.job_plan.jobs:
                for take in range(1, 4):
                    (record,) = journal.outputs_for(job.for_take(take).key)[:1]
                    outputs.setdefault(job.aspect_ratio, [""] * 3)[take - 1] = record.sha256
        finally:
            journal.close()
        (project / "small.yaml").write_text(manifest("small", 2, 6, 3), "utf-8")
        (project / "large.yaml").write_text(manifest("large", shots, markets, 3), "utf-8")
        for name in ("small", "large"):
            lock_with_takes(project, name, outputs)
        jobs = {
            n: len(Campaign.open(project / f"{n}.yaml").lock().jobs) for n in ("small", "large")
        }
        timings: dict[str, list[float]] = {}
        starts: dict[str, float] = {}
        firsts: dict[str, float] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                for name in ("small", "large"):
                    began = time.perf_counter()
                    process, url = serve(project, name)
                    starts[name] = time.perf_counter() - began
                    try:
                        firsts[name] = time_to_interactive(browser, url)
                        timings[name] = [
                            time_to_interactive(browser, url) for _ in range(args.repeats)
                        ]
                    finally:
                        process.terminate()
                        process.wait()
            finally:
                browser.close()
        shutil.rmtree(project / "out", ignore_errors=True)
    small = statistics.median(timings["small"])
    large = statistics.median(timings["large"])
    for name, seconds in (("small", small), ("large", large)):
        print(
            f"{name:5}: {jobs[name]:5} jobs × 3 takes: page interactive in "
            f"{seconds * 1000:7.1f} ms (median of {args.repeats} opens; the first "
            f"{firsts[name] * 1000:.0f} ms); app started in {starts[name]:.2f} s"
        )
    print(f"large page / small page: {large / small:.2f}x (target ≤ 3x)")
    print(f"first open, large / small: {firsts['large'] / firsts['small']:.2f}x")
    print(f"BENCH review jobs={jobs['large']} ratio={large / small:.2f}")


if __name__ == "__main__":
    main()
