"""Previews of the new stages against the plain animatic, measured in the same run.

The user's path: `kling-pipe run pipelines/storyboard-v3.yaml --backend preview` as a whole
process, against the same campaign with its storyboard removed (one plain animatic per job, the
baseline). Then the renderers alone: a lip-sync preview over a 5 s clip and an image model's
still, each against a plain 5 s preview at the same size.

    python benchmarks/stage_previews.py [--repeats 3]
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
from collections.abc import Callable
from pathlib import Path

from kling_pipe.canonical import sha256_hex
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.preview import render_image_preview, render_lip_sync_preview, render_preview

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "pipelines/storyboard-v3.yaml"


def median_time(repeats: int, work: Callable[[], object]) -> float:
    """Median wall time of `repeats` runs of `work`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_previews(manifest_text: str) -> None:
    """A fresh repository holding the manifest, previewed by a `kling-pipe` process."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / ".git").mkdir()
        (root / "campaign.yaml").write_text(manifest_text, "utf-8")
        subprocess.run(
            [sys.executable, "-m", "kling_pipe", "run", "campaign.yaml", "--backend", "preview"],
            cwd=root,
            check=True,
            capture_output=True,
        )


def without_storyboard(text: str) -> str:
    """The example with its storyboard entries removed: one animatic per job instead."""
    return re.sub(r"    storyboard:\n(?:      .*\n|        .*\n)+", "", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    example = EXAMPLE.read_text("utf-8")
    plain = without_storyboard(example)
    assert plain != example and "\n    storyboard:" not in plain
    board_s = median_time(args.repeats, lambda: run_previews(example))
    plain_s = median_time(args.repeats, lambda: run_previews(plain))

    key = sha256_hex("benchmark job")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        master = folder / "master.mp4"
        inputs = {"prompt": "a kettle", "duration": 5, "aspect_ratio": "16:9"}
        render_preview(inputs, key, master)
        run_ffmpeg(["-y", "-i", master, "-c", "copy", folder / "input.mp4"])
        shutil.move(folder / "input.mp4", master)
        animatic_s = median_time(
            args.repeats, lambda: render_preview(inputs, key, folder / "a.mp4")
        )
        line = {"text": "Boils in sixty seconds.", "voice_id": "en_AOT"}
        lip_s = median_time(
            args.repeats, lambda: render_lip_sync_preview(master, line, key, folder / "l.mp4")
        )
        still_s = median_time(
            args.repeats, lambda: render_image_preview(inputs, key, folder / "s.png")
        )
    print(f"run --backend preview, storyboard example (8 jobs): {board_s:.2f} s")
    print(f"  same campaign without storyboards (baseline): {plain_s:.2f} s")
    print(f"  ratio: {board_s / plain_s:.2f}x")
    print(f"lip-sync preview of 5 s: {lip_s:.3f} s; plain 5 s animatic {animatic_s:.3f} s")
    print(f"image still: {still_s:.3f} s")
    print(
        f"BENCH stage_previews run_storyboard_s={board_s:.2f} run_plain_s={plain_s:.2f} "
        f"ratio={board_s / plain_s:.2f} lip_sync_s={lip_s:.3f} animatic_s={animatic_s:.3f} "
        f"lip_sync_ratio={lip_s / animatic_s:.2f} still_s={still_s:.3f} "
        f"still_ratio={still_s / animatic_s:.2f}"
    )


if __name__ == "__main__":
    main()
