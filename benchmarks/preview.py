"""Preview rendering and probing speed against ffmpeg's own floor, measured in the same run.

The baseline encodes a plain `testsrc2` clip of the same size, length and audio with the same
encoder settings: the cost any 5 s preview must pay. The ratio says what the preview's look
(key gradient, camera move, text, dialogue tones) adds on top. Probing is compared the same way
with a bare `ffmpeg -i` on the same file.

    python benchmarks/preview.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kling_pipe.canonical import sha256_hex
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.preview import render_preview
from kling_pipe.media.probe import probe, verify_video

INPUTS = {
    "prompt": 'Slow push-in on a barista at dawn. She says "Good morning! 100% fresh today."',
    "negative_prompt": "",
    "aspect_ratio": "16:9",
    "duration": 5,
    "generate_audio": True,
}


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """Median wall time of `repeats` runs of `work`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def baseline_encode(out: Path, size: str, seconds: int) -> None:
    run_ffmpeg(
        [
            "-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r=24:d={seconds}",
            "-f", "lavfi", "-i", f"sine=r=48000:d={seconds}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-threads", "1", "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-movflags", "+faststart", out,
        ]
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    key = sha256_hex("benchmark job")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        out = folder / "preview.mp4"
        base = folder / "baseline.mp4"
        render = best_of(args.repeats, lambda: render_preview(INPUTS, key, out))
        floor = best_of(args.repeats, lambda: baseline_encode(base, "640x360", 5))
        render_hd = best_of(1, lambda: render_preview(INPUTS, key, out, height=1080))
        floor_hd = best_of(1, lambda: baseline_encode(base, "1920x1080", 5))
        probe_s = best_of(args.repeats * 4, lambda: probe(out))
        bare_probe = best_of(args.repeats * 4, lambda: run_ffmpeg(["-i", out], check=False))
        verify_s = best_of(args.repeats * 4, lambda: verify_video(out, duration=5, audio=True))
    print(f"preview 5 s 640x360 with audio: {render:.3f} s (baseline encode {floor:.3f} s)")
    print(f"  ratio to baseline: {render / floor:.2f}x; {5 / render:.1f}x real time")
    print(f"preview 5 s 1920x1080: {render_hd:.3f} s (baseline {floor_hd:.3f} s)")
    print(f"probe {probe_s * 1000:.1f} ms (bare ffmpeg -i {bare_probe * 1000:.1f} ms)")
    print(f"verify_video {verify_s * 1000:.1f} ms")
    print(
        f"BENCH preview render_s={render:.3f} baseline_s={floor:.3f} "
        f"ratio={render / floor:.2f} render_1080p_s={render_hd:.3f} "
        f"ratio_1080p={render_hd / floor_hd:.2f} probe_ms={probe_s * 1000:.1f} "
        f"probe_ratio={probe_s / bare_probe:.2f} verify_ms={verify_s * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
