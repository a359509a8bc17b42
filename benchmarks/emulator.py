"""Emulator throughput: create + poll requests a second against a hello-world aiohttp server.

Both servers run in their own process (as `kling-pipe emulate` would), driven by the same
load generator: `--workers` concurrent loops, each creating a prediction and polling it once.
The baseline answers the same two requests with a constant JSON body on the same stack
(aiohttp), so the ratio says what validation, the lifecycle and the bookkeeping cost.

    python benchmarks/emulator.py [--seconds 4] [--workers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import httpx

HELLO_WORLD = """
import sys
from aiohttp import web

async def create(request):
    await request.json()
    return web.json_response({"id": "abc", "status": "starting"}, status=201)

async def get(request):
    return web.json_response({"id": request.match_info["id"], "status": "processing"})

app = web.Application()
app.router.add_post("/v1/models/{owner}/{name}/predictions", create)
app.router.add_get("/v1/predictions/{id}", get)
runner = web.AppRunner(app, access_log=None)

async def main():
    import asyncio
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()

import asyncio
asyncio.run(main())
"""

EMULATOR = [
    sys.executable, "-m", "kling_pipe", "emulate", "--port", "0",
    "--latency", "5-10", "--render-height", "96",
]  # fmt: skip


@contextmanager
def server(command: list[str]) -> Iterator[str]:
    """Start a server process and yield its base URL (read from its first stdout lines)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "http://" in line:
                yield "http://" + line.split("http://", 1)[1].split()[0]
                break
        else:
            raise RuntimeError(f"{command[:3]} exited before listening")
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _load(base_url: str, seconds: float, workers: int) -> tuple[int, int]:
    # aiohttp's client, not httpx: httpx's async pool, not the servers, capped the rate.
    headers = {"Authorization": "Bearer bench"}
    connector = aiohttp.TCPConnector(limit=workers)
    done = 0
    errors = 0
    async with aiohttp.ClientSession(base_url, headers=headers, connector=connector) as client:
        stop_at = time.monotonic() + seconds

        async def worker(index: int) -> None:
            nonlocal done, errors
            serial = 0
            while time.monotonic() < stop_at:
                serial += 1
                body = {"input": {"prompt": f"shot {index}-{serial}", "duration": 5}}
                async with client.post(
                    "/v1/models/kwaivgi/kling-v2.6/predictions", json=body
                ) as created:
                    prediction = await created.json()
                    errors += created.status != 201
                async with client.get(f"/v1/predictions/{prediction['id']}") as polled:
                    await polled.read()
                    errors += polled.status != 200
                done += 2

        await asyncio.gather(*(worker(i) for i in range(workers)))
    return done, errors


def measure(base_url: str, seconds: float, workers: int) -> float:
    """Requests a second sustained against `base_url` (after a short warm-up)."""
    asyncio.run(_load(base_url, min(1.0, seconds / 4), workers))
    started = time.monotonic()
    done, errors = asyncio.run(_load(base_url, seconds, workers))
    if errors:
        raise RuntimeError(f"{errors} requests failed against {base_url}")
    return done / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()

    with server([sys.executable, "-c", HELLO_WORLD]) as url:
        baseline = measure(url, args.seconds, args.workers)
    with server(EMULATOR) as url:
        emulated = measure(url, args.seconds, args.workers)
        stats = httpx.get(f"{url}/_emulator/stats").json()
    ratio = emulated / baseline
    print(f"hello-world aiohttp baseline: {baseline:8.0f} requests/s")
    print(f"emulator (create + poll):     {emulated:8.0f} requests/s  ({ratio:.2f}x baseline)")
    print(f"emulator served {stats['creates']} creates with {stats['renders']} render(s)")
    print(
        f"BENCH emulator requests_per_s={emulated:.0f} "
        f"baseline_requests_per_s={baseline:.0f} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
