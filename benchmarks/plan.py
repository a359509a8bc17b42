"""Planning speed: a generated manifest of 10,000+ jobs against bare Jinja2 rendering.

Two ratios, both against baselines measured in the same run:

- in-process: `Campaign.open(path).plan()` against a plain `jinja2.Environment` (no sandbox, no
  validation, no keys) rendering the same prompts, so the ratio says what kling-pipe's planning
  costs on top of the templating it cannot avoid;
- whole process, as a user or CI runs it: `kling-pipe plan FILE --json` with stdout written to a
  file, against a Python process that reads the same manifest, renders the same prompts (same
  templates, same include) with bare Jinja2 and writes them to stdout as JSON. Start-up, imports
  and output count here, not only the planning.

    python benchmarks/plan.py [--markets 40] [--variants 45] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jinja2
import yaml

from kling_pipe.campaign import Campaign

REPO = Path(__file__).resolve().parents[1]

PROMPT = (
    "{{ brand }} {{ product }} in {{ setting }}, {% include 'camera.j2' %}. "
    'A barista says "{{ line }}"'
)
CAMERA = "{{ variant }} camera, {{ look }}"
NEGATIVE = "blurry, low quality, {{ avoid }}"

# The baseline process: what a user would write with Jinja2 alone to get the prompts as JSON.
BARE_JINJA_PROCESS = """
import itertools, json, sys
import jinja2, yaml

with open(sys.argv[1], encoding="utf-8") as handle:
    data = yaml.safe_load(handle)
env = jinja2.Environment(loader=jinja2.FileSystemLoader(sys.argv[2]))
matrix = data["matrix"]
axes = [axis for axis in matrix if axis not in ("include", "exclude")]
combos = [
    dict(zip(axes, values)) for values in itertools.product(*(matrix[axis] for axis in axes))
]
combos = [
    combo for combo in combos
    if not any(all(combo[k] == v for k, v in rule.items()) for rule in matrix["exclude"])
]
rendered = []
for shot in data["shots"]:
    prompt = env.from_string(shot["prompt"])
    negative = env.from_string(shot.get("negative_prompt") or "")
    for combo in combos:
        context = {**data["vars"], **data["markets"][combo["market"]], **combo}
        rendered.append({
            "shot": shot["id"],
            "values": combo,
            "prompt": prompt.render(context),
            "negative_prompt": negative.render(context),
        })
sys.stdout.write(json.dumps(rendered, indent=2, ensure_ascii=False) + "\\n")
"""


def manifest(markets: int, variants: int) -> dict[str, object]:
    """A campaign of 2 shots × `markets` × 3 ratios × `variants`, less one market's 1:1."""
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


def bare_jinja(data: dict[str, object], combos: list[dict[str, object]], templates: Path) -> None:
    """Render every shot's prompts for `combos` with a plain Jinja2 environment."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates))
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


def timed_process(argv: list[str], output: Path) -> float:
    """Seconds a whole process takes with its stdout written to `output`; it must succeed."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": pythonpath}
    with output.open("wb") as stdout:
        started = time.perf_counter()
        subprocess.run(argv, stdout=stdout, cwd=REPO, env=environment, check=True)
        return time.perf_counter() - started


def main() -> None:
    """Time planning in-process and as a whole command, each against bare Jinja2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=40)
    parser.add_argument("--variants", type=int, default=45)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    data = manifest(args.markets, args.variants)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "bench.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
        templates = folder / "templates"
        templates.mkdir()
        (templates / "camera.j2").write_text(CAMERA, "utf-8")

        ours, theirs, jobs = [], [], 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            campaign = Campaign.open(path)
            plan = campaign.plan()
            ours.append(time.perf_counter() - started)
            jobs = len(plan.jobs)
            combos = [dict(j.values) for j in campaign.job_plan.jobs if j.shot == "hero"]
            started = time.perf_counter()
            bare_jinja(data, combos, templates)
            theirs.append(time.perf_counter() - started)

        script = folder / "bare_jinja.py"
        script.write_text(BARE_JINJA_PROCESS, "utf-8")
        cli_argv = [sys.executable, "-m", "kling_pipe", "plan", str(path), "--json"]
        jinja_argv = [sys.executable, str(script), str(path), str(templates)]
        cli_out, jinja_out = folder / "plan.json", folder / "prompts.json"
        cli, jinja = [], []
        for _ in range(args.repeat + 1):  # the first round warms caches and is not counted
            cli.append(timed_process(cli_argv, cli_out))
            jinja.append(timed_process(jinja_argv, jinja_out))
        cli, jinja = cli[1:], jinja[1:]

        planned = json.loads(cli_out.read_text("utf-8"))["jobs"]
        rendered = json.loads(jinja_out.read_text("utf-8"))
        assert sorted(j["inputs"]["prompt"] for j in planned) == sorted(
            r["prompt"] for r in rendered
        ), "the baseline must render exactly the prompts kling-pipe plans"

    # The best of each: noise on a shared machine only ever adds time.
    ours_s, theirs_s, cli_s, jinja_s = min(ours), min(theirs), min(cli), min(jinja)
    ratio, cli_ratio = ours_s / theirs_s, cli_s / jinja_s
    rows = [
        ("jobs planned", f"{jobs}  (best of {args.repeat} runs each)"),
        ("kling-pipe plan, in-process", f"{ours_s:.3f} s  ({ours_s / jobs * 1e6:.0f} µs a job)"),
        ("bare jinja2, in-process", f"{theirs_s:.3f} s  ({theirs_s / jobs * 1e6:.0f} µs a job)"),
        ("ratio vs bare jinja2", f"{ratio:.2f}x"),
        ("`kling-pipe plan --json` process", f"{cli_s:.3f} s"),
        ("bare jinja2 to JSON process", f"{jinja_s:.3f} s"),
        ("process ratio vs bare jinja2", f"{cli_ratio:.2f}x"),
    ]
    for label, value in rows:
        print(f"{label + ':':34}{value}")
    print(f"BENCH plan jobs={jobs} ratio_vs_jinja={ratio:.2f} cli_ratio_vs_jinja={cli_ratio:.2f}")


if __name__ == "__main__":
    main()
