"""Planning speed: a generated manifest of 10,000+ jobs against bare Jinja2 rendering.

The baseline renders the same prompts with a plain `jinja2.Environment` (no sandbox, no
validation, no keys) in the same run, so the ratio says what kling-pipe's planning costs on top
of the templating it cannot avoid.

    python benchmarks/plan.py [--markets 40] [--variants 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jinja2
import yaml

from kling_pipe.campaign import Campaign

PROMPT = (
    "{{ brand }} {{ product }} in {{ setting }}, {{ variant }} camera, {{ look }}. "
    'A barista says "{{ line }}"'
)
NEGATIVE = "blurry, low quality, {{ avoid }}"


def manifest(markets: int, variants: int) -> dict[str, object]:
    return {
        "version": 1,
        "name": "bench",
        "model": "kwaivgi/kling-v2.6",
        "defaults": {"duration": 5, "generate_audio": True},
        "vars": {"brand": "Acme", "look": "soft light, 35mm", "avoid": "text"},
        "markets": {
            f"m{i:03d}": {
                "product": f"Kettle {i}",
                "setting": f"kitchen number {i}",
                "line": f"Boils in {i} seconds.",
            }
            for i in range(markets)
        },
        "matrix": {
            "market": [f"m{i:03d}" for i in range(markets)],
            "aspect_ratio": ["16:9", "9:16", "1:1"],
            "variant": [f"v{i}" for i in range(variants)],
            "exclude": [{"market": "m000", "aspect_ratio": "1:1"}],
        },
        "shots": [
            {"id": "hero", "prompt": PROMPT, "negative_prompt": NEGATIVE},
            {"id": "pour", "prompt": PROMPT.replace("barista", "chef")},
        ],
        "limits": {"max_jobs": 1_000_000},  # past the default 10,000 on purpose
    }


def bare_jinja(data: dict[str, object], combos: list[dict[str, object]]) -> None:
    env = jinja2.Environment()
    shots = data["shots"]
    assert isinstance(shots, list)
    markets = data["markets"]
    assert isinstance(markets, dict)
    for shot in shots:
        prompt = env.from_string(shot["prompt"])
        negative = env.from_string(shot.get("negative_prompt") or "")
        for combo in combos:
            context = {**data["vars"], **markets[combo["market"]], **combo}  # type: ignore[dict-item]
            prompt.render(context)
            negative.render(context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=40)
    parser.add_argument("--variants", type=int, default=45)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data = manifest(args.markets, args.variants)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        ours, theirs, jobs = [], [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            campaign = Campaign.open(path)
            plan = campaign.plan()
            ours.append(time.perf_counter() - started)
            jobs = len(plan.jobs)
            combos = [dict(j.values) for j in campaign.job_plan.jobs if j.shot == "hero"]
            started = time.perf_counter()
            bare_jinja(data, combos)
            theirs.append(time.perf_counter() - started)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    print(f"jobs planned:             {jobs}")
    print(f"kling-pipe plan (median): {ours_s:.3f} s  ({ours_s / jobs * 1e6:.0f} µs/job)")
    print(f"bare jinja2 (median):     {theirs_s:.3f} s  ({theirs_s / jobs * 1e6:.0f} µs/job)")
    print(f"ratio vs bare jinja2:     {ratio:.2f}x")
    print(f"BENCH plan jobs={jobs} ratio_vs_jinja={ratio:.2f}")


if __name__ == "__main__":
    main()
