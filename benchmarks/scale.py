"""Runs of 10,000: memory, pace, plan time and the report at the scale of a localization
campaign, all through the `kling-pipe` command as a user runs it.

- run: a manifest of `--jobs` jobs (10 markets × takes × 3 ratios) run with `kling-pipe run`
  against the emulator, time-scaled (latency `--latency` seconds) so that it takes a few
  minutes. Printed: the peak RSS of the `kling-pipe` process (its own `ru_maxrss`, and RSS
  sampled at each quarter of the run to show it stays flat), and its makespan (the whole
  process, start-up and plan included) over the create-rate bound: the least time in which
  `--cpm` creates a minute (with the usual burst) can send every create and the last can finish.
- plan: `kling-pipe plan --json` wall time at 1k, 10k and 100k jobs; `plan_growth` is the time
  per job from 10k to 100k over the time per job from 1k to 10k (1.0: linear, about 10:
  quadratic). Start-up cancels out.
- report: `kling-pipe report` on the run's record, then `report.html` opened from disk in
  headless Chromium (the system one, as the tests use): time until the page has loaded and a
  market filter has been applied and counted, for the big run against a 24-job run of the
  same manifest; `report_ratio` is big over small (target ≤ 3).

    python benchmarks/scale.py [--jobs 10000] [--cpm 1800] [--latency 1-2] [--concurrency 96]
    python benchmarks/scale.py --report-only 10000   # the report part alone, from plans (no run)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

TOKEN = "r8_benchmark_token"
MARKETS = 10
RATIOS = ["16:9", "9:16", "1:1"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def manifest(jobs: int, cpm: float, concurrency: int, label: str) -> dict[str, object]:
    """About `jobs` jobs: up to ten markets with their own lines, × takes × three ratios."""
    count = min(MARKETS, max(1, -(-jobs // len(RATIOS))))
    markets = {
        f"m{i:02d}": {"product": f"Acme Kettle {i}", "line": f"Boils in {50 + i} seconds."}
        for i in range(count)
    }
    takes = max(1, -(-jobs // (count * len(RATIOS))))
    return {
        "version": 1,
        "name": "scale",
        "model": "kwaivgi/kling-v2.6",
        "defaults": {"duration": 5, "generate_audio": False},
        "markets": markets,
        "matrix": {"market": list(markets), "take": list(range(takes)), "aspect_ratio": RATIOS},
        "shots": [
            {
                "id": "shot",
                "prompt": f"The {{{{ product }}}} on a counter, {label} take {{{{ take }}}}. "
                '"{{ line }}"',
            }
        ],
        "limits": {
            "concurrency": concurrency,
            "creates_per_minute": cpm,
            "max_jobs": count * len(RATIOS) * takes,
        },
    }


def project(root: Path, jobs: int, cpm: float, concurrency: int) -> Path:
    """A project folder holding the manifest; returns the manifest's path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    path = root / "campaign.yaml"
    data = manifest(jobs, cpm, concurrency, root.name)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "kling_pipe", *args]


def job_count(path: Path) -> int:
    data = yaml.safe_load(path.read_text("utf-8"))
    matrix = data["matrix"]
    return len(matrix["market"]) * len(matrix["take"]) * len(matrix["aspect_ratio"])


def create_bound(jobs: int, cpm: float, latency_low: float) -> float:
    """No run can send `jobs` creates faster than the rate (after the burst) and see the last
    one finish sooner than the shortest latency."""
    burst = max(1, round(cpm / 20))
    return max(0, jobs - burst) / (cpm / 60.0) + latency_low


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_campaign(
    path: Path, emu: Emulator, *, concurrency: int, cpm: float
) -> tuple[float, float, list[tuple[int, float]], int, str, float]:
    """`kling-pipe run` to the end: seconds, peak RSS (MB, the process's own `ru_maxrss`),
    RSS sampled at each quarter of the clips, exit status, the end of its stderr, and the CPU
    seconds it and its children (ffprobe) used: a figure a busy machine does not inflate."""
    env = {
        **os.environ,
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": emu.base_url,
        "CI": "1",  # plain progress lines, as in CI
    }
    started = time.monotonic()
    process = subprocess.Popen(
        command(
            "run",
            path.name,
            "--yes",
            "--concurrency",
            str(concurrency),
            "--creates-per-minute",
            f"{cpm:g}",
        ),
        cwd=path.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tail: list[str] = []

    def keep_tail() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            tail.append(line)
            del tail[:-20]

    reader = threading.Thread(target=keep_tail, daemon=True)
    reader.start()
    total = job_count(path)
    samples: list[tuple[int, float]] = []
    quarter = 1
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        done = emu.stats()["finished"].get("succeeded", 0)
        if quarter <= 4 and done >= quarter * total // 4:
            rss = rss_mb(process.pid)
            if rss is not None:
                samples.append((done, rss))
            quarter += 1
        time.sleep(0.1)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, usage.ru_maxrss / 1024, samples, process.returncode, "".join(tail), cpu


def plan_seconds(root: Path, jobs: int) -> float:
    """Wall time of `kling-pipe plan --json` on a manifest of `jobs` jobs."""
    path = project(root, jobs, 600, 8)
    started = time.monotonic()
    result = subprocess.run(
        command("plan", "--json", path.name),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"plan of {jobs} jobs failed:\n{result.stderr}")
    return seconds


def report_figures(path: Path, timeout: float) -> tuple[int, float | None]:
    """`kling-pipe report`, then (report.html bytes, seconds until it is loaded and filtered
    in headless Chromium; None past `timeout`)."""
    result = subprocess.run(
        command("report", path.name),
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"report failed:\n{result.stderr}")
    html = path.parent / "out/scale/report.html"
    return html.stat().st_size, time_to_interactive(html, timeout)


def time_to_interactive(html: Path, timeout: float, tries: int = 3) -> float | None:
    """Seconds from navigation until the page has loaded and the first market filter has
    been applied (its count shown): the best of `tries`, each in a fresh page; None when the
    first does not get there within `timeout` seconds."""
    from playwright.sync_api import Error, sync_playwright

    timings = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for _ in range(tries):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(timeout * 1000)
                started = time.monotonic()
                try:
                    page.goto(html.as_uri(), wait_until="load")
                    market = page.locator("#filter-market option").nth(1).get_attribute("value")
                    before = page.locator("#filter-count").inner_text()
                    page.select_option("#filter-market", market)
                    page.wait_for_function(
                        "before => document.querySelector('#filter-count').innerText !== before",
                        arg=before,
                    )
                except Error:
                    return None
                timings.append(time.monotonic() - started)
                page.close()
        finally:
            browser.close()
    return min(timings)


def report_only(jobs: int, small_jobs: int, timeout: float) -> None:
    """The report part alone: `kling-pipe report` of the big and the small manifest, not run
    (every card a plan card), each page loaded and filtered in Chromium."""
    with tempfile.TemporaryDirectory(prefix="kling-scale-report-") as scratch:
        root = Path(scratch)
        big = project(root / "big", jobs, 1800, 96)
        small = project(root / "small", small_jobs, 1800, 96)
        big_jobs, small_jobs = job_count(big), job_count(small)
        big_bytes, big_tti = report_figures(big, timeout)
        small_bytes, small_tti = report_figures(small, timeout)

    def shown(seconds: float | None) -> str:
        return f"{seconds:.2f} s" if seconds is not None else f"over {timeout:g} s"

    print(
        f"report.html (plans, not run): {big_jobs} jobs {big_bytes} bytes, loaded and filtered "
        f"in {shown(big_tti)}; {small_jobs} jobs {small_bytes} bytes, {shown(small_tti)}"
    )
    if big_tti is not None and small_tti is not None:
        ratio = f"{big_tti / small_tti:.2f}"
    else:
        ratio = f">{timeout / (small_tti or 1.0):.0f}"
    print(f"BENCH scale jobs={big_jobs} report_only=1 report_ratio={ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--cpm", type=float, default=1800, help="creates per minute")
    parser.add_argument("--latency", default="1-2", help="seconds, A-B")
    parser.add_argument("--concurrency", type=int, default=96)
    parser.add_argument("--plan-sizes", default="1000,10000,100000")
    parser.add_argument("--small", type=int, default=24, help="jobs in the small report")
    parser.add_argument(
        "--report-timeout", type=float, default=180, help="seconds to wait for a page"
    )
    parser.add_argument(
        "--report-only",
        type=int,
        metavar="JOBS",
        help="skip the runs and the plans: report the manifests of JOBS and --small jobs (not run)",
    )
    args = parser.parse_args()
    if args.report_only:
        report_only(args.report_only, args.small, args.report_timeout)
        return
    latency = LatencyRange.parse(args.latency)
    config = EmulatorConfig(
        latency=latency,
        creates_per_minute=args.cpm * 1.25,  # the server's limit, above the runner's own
        render_height=144,
        token=TOKEN,
        seed=1,
    )
    with tempfile.TemporaryDirectory(prefix="kling-scale-") as scratch:
        root = Path(scratch)
        sizes = [int(n) for n in args.plan_sizes.split(",")]
        plans = {n: plan_seconds(root / f"plan-{n}", n) for n in sizes}
        with Emulator(config) as emu:
            big = project(root / "big", args.jobs, args.cpm, args.concurrency)
            jobs = job_count(big)
            seconds, peak, samples, code, tail, cpu = run_campaign(
                big, emu, concurrency=args.concurrency, cpm=args.cpm
            )
            if code != 0:
                raise SystemExit(f"the run of {jobs} jobs exited {code}:\n{tail}")
            run_json_bytes = (big.parent / "out/scale/run.json").stat().st_size
            lock_bytes = (big.parent / "campaign.lock.json").stat().st_size
            small = project(root / "small", args.small, args.cpm, args.concurrency)
            small_jobs = job_count(small)
            small_run = run_campaign(small, emu, concurrency=args.concurrency, cpm=args.cpm)
            if small_run[3] != 0:
                raise SystemExit(f"the small run exited {small_run[3]}:\n{small_run[4]}")
            stats = emu.stats()
        big_bytes, big_tti = report_figures(big, args.report_timeout)
        small_bytes, small_tti = report_figures(small, args.report_timeout)
    bound = create_bound(jobs, args.cpm, latency.low)
    a, b, c = (plans[n] for n in sizes[:3]) if len(sizes) >= 3 else (0.0, 0.0, 0.0)
    growth = ((c - b) / (sizes[2] - sizes[1])) / ((b - a) / (sizes[1] - sizes[0])) if c else 0.0
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(
        f"{jobs} jobs, latency {args.latency} s, concurrency {args.concurrency}, "
        f"{args.cpm:g} creates/min; create-rate bound {bound:.1f} s; load average {load}"
    )
    print(
        f"run: {seconds:.1f} s ({seconds / bound:.3f}x bound), {cpu:.0f} CPU s, "
        f"peak RSS {peak:.0f} MB; "
        "RSS at each quarter: " + ", ".join(f"{done} clips {rss:.0f} MB" for done, rss in samples)
    )
    print(
        f"requests/clip {stats['requests_total'] / (jobs + small_jobs):.2f}, "
        f"429s {stats['throttled']}, duplicate creates {stats['duplicate_creates']}"
    )
    print(f"run.json {run_json_bytes} bytes, lock {lock_bytes} bytes")
    print("plan --json: " + ", ".join(f"{n} jobs {t:.2f} s" for n, t in plans.items()))

    def shown(seconds: float | None) -> str:
        return f"{seconds:.2f} s" if seconds is not None else f"over {args.report_timeout:g} s"

    print(
        f"report.html: {jobs} jobs {big_bytes} bytes, loaded and filtered in {shown(big_tti)}; "
        f"{small_jobs} jobs {small_bytes} bytes, {shown(small_tti)}"
    )
    if big_tti is not None and small_tti is not None:
        report_ratio = f"{big_tti / small_tti:.2f}"
    else:
        report_ratio = f">{args.report_timeout / (small_tti or 1.0):.0f}"
    print(
        f"BENCH scale jobs={jobs} rss_mb={peak:.0f} makespan_ratio={seconds / bound:.3f} "
        f"plan_growth={growth:.2f} report_ratio={report_ratio}"
    )


if __name__ == "__main__":
    main()
