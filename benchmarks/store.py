"""The store in a bucket against the store in a folder, through the whole `kling-pipe` process.

A campaign (markets × ratios × shots, one cut per market and ratio) is generated once on the
emulator into a bucket (moto's S3 server on loopback, behind a counter of requests and body
bytes). Then, each in a fresh clone holding only the manifest and the lock:

- plan: `kling-pipe plan` with the store in the bucket, against the same objects pulled into a
  local folder (median of three);
- stitch: `kling-pipe stitch` of every cut from a cold clone, the bucket (clips fetched, then
  cached) against the folder;
- no-op re-run: `kling-pipe run` again where everything is done, counting what the bucket
  served (the target: object heads only, no body downloaded).

Ends with `BENCH store plan_ratio=X stitch_ratio=Y noop_bytes=Z` (ratios: bucket / folder).

    python benchmarks/store.py [--markets 3] [--shots 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange

REPO = Path(__file__).resolve().parents[1]
TOKEN = "r8_benchmark_token"
MARKETS = ["us", "jp", "de", "fr", "br", "in"]


class Counting:
    """WSGI middleware: requests by method and the body bytes in both directions."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.requests: Counter[str] = Counter()
        self.bytes_in = 0
        self.bytes_out = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        with self.lock:
            self.requests[method] += 1
            self.bytes_in += length
        for chunk in self.app(environ, start_response):
            with self.lock:
                self.bytes_out += len(chunk)
            yield chunk

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bytes_in = self.bytes_out = 0


def s3_server() -> tuple[str, Counting]:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    counting = Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", counting


def manifest(markets: int, shots: int) -> dict[str, Any]:
    chosen = MARKETS[:markets]
    return {
        "version": 1,
        "name": "bench",
        "model": "kwaivgi/kling-v2.6",
        "defaults": {"duration": 5, "generate_audio": True},
        "markets": {m: {"line": f"Hello from {m}."} for m in chosen},
        "matrix": {"market": chosen, "aspect_ratio": ["16:9", "9:16", "1:1"]},
        "shots": [
            {"id": f"shot{i}", "prompt": f'Take {i}: a kettle. A barista says "{{{{ line }}}}"'}
            for i in range(shots)
        ],
        "cuts": [{"id": "spot", "shots": [f"shot{i}" for i in range(shots)]}],
        "limits": {"concurrency": 8, "creates_per_minute": 600, "budget_usd": 500},
    }


def kling(where: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kling_pipe", *args],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"kling-pipe {' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started


def clone(origin: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    (where / ".git").mkdir()
    for name in ("campaign.yaml", "campaign.lock.json"):
        shutil.copy(origin / name, where / name)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=3)
    parser.add_argument("--shots", type=int, default=2)
    args = parser.parse_args()

    endpoint, counting = s3_server()
    bucket_env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_credentials(bucket_env)).create_bucket(
        Bucket="bench"
    )
    url = "s3://bench/store"
    config = EmulatorConfig(latency=LatencyRange(0.2, 0.4), render_height=144, token=TOKEN)
    with Emulator(config) as emulator, tempfile.TemporaryDirectory() as tmp:
        env = {**bucket_env, "REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": emulator.base_url}
        root = Path(tmp)
        origin = root / "origin"
        (origin / ".git").mkdir(parents=True)
        data = manifest(args.markets, args.shots)
        (origin / "campaign.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
        kling(origin, env, "run", "campaign.yaml", "--yes", "--store", url)
        jobs = args.markets * 3 * args.shots
        print(f"campaign: {jobs} jobs, {args.markets * 3} cuts, generated into {url}")

        def local_clone(name: str) -> Path:
            where = clone(origin, root / name)
            kling(where, env, "store", "pull", "campaign.yaml", "--store", url)
            return where

        local = local_clone("local")
        remote = clone(origin, root / "remote")

        def plan_time(where: Path, *store: str) -> float:
            return statistics.median(
                kling(where, env, "plan", "campaign.yaml", "--json", *store) for _ in range(3)
            )

        plan_local = plan_time(local)
        plan_bucket = plan_time(remote, "--store", url)
        # Cold stitches (a fresh clone each: nothing normalised yet), in alternating order so
        # that the load of the machine weighs on both alike.
        local_times: list[float] = []
        bucket_times: list[float] = []
        fetched = 0
        for attempt, order in enumerate((("bucket", "folder"), ("folder", "bucket"))):
            for kind in order:
                if kind == "folder":
                    where = local_clone(f"local-stitch-{attempt}")
                    local_times.append(kling(where, env, "stitch", "campaign.yaml"))
                else:
                    where = remote if attempt == 0 else clone(origin, root / "remote-stitch")
                    counting.reset()
                    bucket_times.append(
                        kling(where, env, "stitch", "campaign.yaml", "--store", url)
                    )
                    fetched = max(fetched, counting.bytes_out)
        stitch_local = statistics.median(local_times)
        stitch_bucket = statistics.median(bucket_times)
        kling(remote, env, "run", "campaign.yaml", "--yes", "--store", url)  # places clips
        counting.reset()
        kling(remote, env, "run", "campaign.yaml", "--yes", "--store", url)  # the no-op
        noop = counting.bytes_in + counting.bytes_out
        requests = dict(sorted(counting.requests.items()))

    plan_ratio = plan_bucket / plan_local
    stitch_ratio = stitch_bucket / stitch_local
    print(f"plan:   folder {plan_local:.2f} s, bucket {plan_bucket:.2f} s ({plan_ratio:.2f}x)")
    print(
        f"stitch: folder {stitch_local:.2f} s, bucket {stitch_bucket:.2f} s "
        f"({stitch_ratio:.2f}x; {fetched / 2**20:.1f} MiB fetched)"
    )
    print(f"no-op re-run: requests {requests}, body bytes {noop} (target: heads only, 0)")
    print(
        f"BENCH store plan_ratio={plan_ratio:.2f} stitch_ratio={stitch_ratio:.2f} noop_bytes={noop}"
    )


def _credentials(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


if __name__ == "__main__":
    main()
