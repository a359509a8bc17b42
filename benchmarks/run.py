"""Running at volume: kling-pipe's scheduler against what a user would otherwise write.

Both drive the emulator over real HTTP with the same latency distribution, concurrency and
create limit:

- kling-pipe: `run_sync` (journal, adaptive polling learnt from server timestamps, token
  bucket, verification of every clip);
- baseline: `replicate.run` in a thread pool of the same width, each output then downloaded.

Printed: makespan over the theoretical lower bound for those limits, and API requests per clip
(every request the emulator served, downloads included), for both. Beside each, the floor for
the latencies the emulator actually drew in that run: what a runner with no overhead at all
would take, creating the moment a slot frees (the emulator draws each prediction's latency in
the order creates arrive, so no runner that cannot see the future does better), and the CPU
seconds used (the process, with the emulator in it, and its ffmpeg children).

    python benchmarks/run.py [--jobs 300] [--latency 2-4] [--concurrency 16] [--cpm 480]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import heapq
import os
import socket
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import replicate
import yaml

from kling_pipe import RunOptions, run_sync
from kling_pipe.campaign import Campaign
from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

TOKEN = "r8_benchmark_token"


def manifest(jobs: int) -> dict[str, object]:
    variants = -(-jobs // 3)
    return {
        "version": 1,
        "name": "bench",
        "model": "kwaivgi/kling-v2.6",
        "defaults": {"duration": 5, "generate_audio": False},
        "matrix": {
            "variant": list(range(variants)),
            "aspect_ratio": ["16:9", "9:16", "1:1"],
        },
        "shots": [{"id": "shot", "prompt": "A kettle, take {{ variant }}"}],
    }


def lower_bound(jobs: int, low: float, high: float, concurrency: int, cpm: float) -> float:
    """No schedule can beat both: slots busy for the mean latency each, and the create rate."""
    rate = cpm / 60.0
    burst = max(1, round(cpm / 20))
    by_slots = jobs * (low + high) / 2 / concurrency
    by_creates = max(0, jobs - burst) / rate + low
    return max(by_slots, by_creates)


def greedy_floor(latencies: list[float], concurrency: int, cpm: float) -> float:
    """The makespan of `latencies` (in create order) with no overhead: each create sent the
    moment a slot frees and the create bucket (the bound's rate and burst) allows it."""
    rate = cpm / 60.0
    burst = max(1, round(cpm / 20))
    tokens, last = float(burst), 0.0
    slots = [0.0] * concurrency
    end = 0.0
    for latency in latencies:
        free = heapq.heappop(slots)
        tokens = min(burst, tokens + (free - last) * rate) - 1.0
        last = free
        start = free + (-tokens / rate if tokens < 0 else 0.0)
        heapq.heappush(slots, start + latency)
        end = max(end, start + latency)
    return end


def drawn_latencies(emu: Emulator, since: float, until: float) -> list[float]:
    """Seconds from create to completion of the predictions created between two epoch times,
    oldest first, read from the emulator's listing as any API client would."""
    found: list[tuple[str, float]] = []
    window = {
        "created_after": datetime.fromtimestamp(since, UTC).isoformat(),
        "created_before": datetime.fromtimestamp(until, UTC).isoformat(),
    }
    url: str | None = str(httpx.URL(f"{emu.base_url}/v1/predictions", params=window))
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        while url is not None:  # each page's `next` carries the window and its cursor
            page = client.get(url).raise_for_status().json()
            for prediction in page["results"]:
                total = (prediction.get("metrics") or {}).get("total_time")
                if total is not None:
                    found.append((prediction["created_at"], float(total)))
            url = page["next"]
    return [latency for _, latency in sorted(found)]


def cpu_seconds() -> float:
    """CPU time of this process (the emulator's thread included) and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_kling_pipe(
    emu: Emulator, jobs: int, concurrency: int, cpm: float, *, webhooks: bool = False
) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()
        path = root / "bench.yaml"
        path.write_text(yaml.safe_dump(manifest(jobs)))
        campaign = Campaign.open(path, store=root / "store", output=root / "out")
        os.environ["REPLICATE_API_TOKEN"] = TOKEN
        os.environ["REPLICATE_BASE_URL"] = emu.base_url
        before = emu.stats()["requests_total"]
        started = time.monotonic()
        result = run_sync(
            campaign,
            RunOptions(
                backend="replicate",
                concurrency=concurrency,
                creates_per_minute=cpm,
                webhook_url=f"http://127.0.0.1:{free_port()}/hook" if webhooks else None,
            ),
        )
        makespan = time.monotonic() - started
        done = result.record.summary.done
        assert done == jobs, f"only {done} of {jobs} clips were made: {result.record.summary}"
        return makespan, emu.stats()["requests_total"] - before


def run_baseline(emu: Emulator, jobs: int, concurrency: int) -> tuple[float, int]:
    client = replicate.Client(api_token=TOKEN, base_url=emu.base_url)
    downloads = httpx.Client()
    before = emu.stats()["requests_total"]

    def one(i: int) -> None:
        ratio = ["16:9", "9:16", "1:1"][i % 3]
        output = client.run(
            "kwaivgi/kling-v2.6",
            input={
                "prompt": f"Baseline kettle {i}",
                "aspect_ratio": ratio,
                "duration": 5,
                "generate_audio": False,
            },
        )
        url = getattr(output, "url", output)
        with tempfile.NamedTemporaryFile() as handle:
            handle.write(downloads.get(str(url)).raise_for_status().content)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(jobs)))
    return time.monotonic() - started, emu.stats()["requests_total"] - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--latency", default="2-4", help="seconds, A-B")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--cpm", type=float, default=480, help="creates per minute")
    args = parser.parse_args()
    latency = LatencyRange.parse(args.latency)
    config = EmulatorConfig(
        latency=latency,
        creates_per_minute=args.cpm * 1.25,  # the server's limit, above the runner's own
        render_height=144,
        token=TOKEN,
        seed=1,
    )
    bound = lower_bound(args.jobs, latency.low, latency.high, args.concurrency, args.cpm)
    n = args.jobs
    runs: dict[str, tuple[float, int, float, float, float]] = {}
    with Emulator(config) as emu:
        for name in ("kling-pipe", "webhooks", "baseline"):
            since, cpu = time.time(), cpu_seconds()
            if name == "baseline":
                makespan, requests = run_baseline(emu, n, args.concurrency)
            else:
                makespan, requests = run_kling_pipe(
                    emu, n, args.concurrency, args.cpm, webhooks=name == "webhooks"
                )
            runs[name] = (makespan, requests, since, time.time(), cpu_seconds() - cpu)
        throttled = emu.stats()["throttled"]
        floors = {
            name: greedy_floor(drawn_latencies(emu, since, until), args.concurrency, args.cpm)
            for name, (_, _, since, until, _) in runs.items()
        }
    ours, our_requests = runs["kling-pipe"][:2]
    hooked, hooked_requests = runs["webhooks"][:2]
    theirs, their_requests = runs["baseline"][:2]
    print(
        f"{n} jobs, latency {args.latency} s, concurrency {args.concurrency}, "
        f"{args.cpm:g} creates/min; lower bound {bound:.1f} s"
    )
    labels = {
        "kling-pipe": "kling-pipe:",
        "webhooks": "kling-pipe with --webhook-url:",
        "baseline": "baseline:  ",
    }
    for name, (makespan, requests, _, _, cpu) in runs.items():
        floor = floors[name]
        print(
            f"{labels[name]} makespan {makespan:.1f} s ({makespan / bound:.3f}x bound), "
            f"{requests / n:.2f} requests/clip; floor for its draws {floor:.1f} s "
            f"({floor / bound:.3f}x bound, {makespan - floor:+.2f} s); CPU {cpu:.1f} s"
            + (f" (replicate.run in {args.concurrency} threads)" if name == "baseline" else "")
        )
    print(f"429s served: {throttled}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"BENCH run jobs={n} makespan_ratio={ours / bound:.3f} "
        f"requests_per_clip={our_requests / n:.2f} "
        f"baseline_makespan_ratio={theirs / bound:.3f} "
        f"baseline_requests_per_clip={their_requests / n:.2f} "
        f"webhook_makespan_ratio={hooked / bound:.3f} "
        f"webhook_requests_per_clip={hooked_requests / n:.2f}"
    )


if __name__ == "__main__":
    main()
