"""Stitching speed: a rough cut of six 5 s 1080p clips with 0.5 s fades against one ffmpeg command.

The baseline is the single command from the stitching notes: every input normalised (square
pixels, letterbox, 30 fps, yuv420p, 48 kHz stereo, silence for the silent clip, exact frame and
sample trims) and joined by an xfade/acrossfade chain, with the same encoder settings as
kling-pipe. Both sides encode every frame once, so from scratch kling-pipe cannot be much
cheaper than the command; what it can do is the per-clip work while a run waits on the provider
for the other clips (a generation takes about a minute), as `kling-pipe run` does.

The figures, each the median of `--repeats` runs:

- `ratio_vs_ffmpeg`: the cut the user waits for after a run. `stitch_cut` of a cut never made
  (no cut record), of clips that were prepared as they arrived (`prepare_cut`, called untimed
  in an arrival order, the clips not there yet standing as slates, with the run's priority and
  threads, exactly as `kling-pipe run` calls it), against the hand-written command.
- `recut_ratio`: the re-cut after one clip changed (regenerated, and prepared on its arrival,
  untimed), against the from-scratch cold cut.
- `noop_s`: `kling-pipe stitch` of the spring-launch example (previews) when every cut is
  already made: the whole CLI process.
- `scratch_ratio`: `stitch_cut` with an empty cache (nothing prepared: every clip normalised,
  every fade encoded, then joined) against the command.
- `scratch_recut_ratio`: the re-cut after one clip changed with nothing prepared (the new clip
  normalised and its fades encoded by the stitch), against that cold cut.

The time of the preparation itself is printed per clip, so nothing is hidden: it is work done
while the run waits, not work avoided. The in-process memory of clip facts is emptied before
each timed stitch, as a separate `kling-pipe stitch` process starts without it. The CPU time of
the child processes is printed too: wall-time ratios move when other work shares the machine,
CPU time does not.

    python benchmarks/stitch.py [--repeats 2] [--no-noop]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kling_pipe.media import stitch as stitch_module
from kling_pipe.media.cards import Card
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import house_format_for_ratio
from kling_pipe.media.normalise import VIDEO_ENCODING
from kling_pipe.media.probe import scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, Transition, prepare_cut, stitch_cut
from kling_pipe.running.preparation import NICENESS

REPO = Path(__file__).resolve().parents[1]

# (size, fps, audio sample rate or None): 1080p clips as a generator hands them over, mixed.
CLIPS = [
    ("1920x1080", "30", 48000),
    ("1920x1080", "24", 48000),
    ("1920x1080", "30", None),
    ("1920x1080", "25", 44100),
    ("1080x1920", "30", 48000),
    ("1920x1080", "30000/1001", 48000),
]
SECONDS = 5
FADE = 0.5
ARRIVALS = [2, 0, 5, 1, 4, 3]
"""The order the clips arrive from the provider in (any order: each waits for none)."""


CPU_SECONDS: dict[str, float] = {}
"""Median CPU time (user + system) of each measure's ffmpeg and kling-pipe child processes:
unlike wall time, it does not move when other work shares the machine."""


def median_time(
    repeats: int,
    work: Callable[[], object],
    before: Callable[[], object],
    name: str = "",
) -> float:
    """Median wall time of `repeats` runs of `work`, each after an untimed `before`; the median
    CPU time of its child processes goes to `CPU_SECONDS[name]`."""
    times = []
    cpu = []
    for _ in range(repeats):
        before()
        used = _children_cpu()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - used)
    CPU_SECONDS[name] = statistics.median(cpu)
    return statistics.median(times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def render_clip(out: Path, size: str, fps: str, rate: int | None, tone: int = 440) -> None:
    args: list[str | Path] = ["-y", "-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={SECONDS}"]
    if rate:
        args += ["-f", "lavfi", "-i", f"sine=f={tone}:r={rate}:d={SECONDS}", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out]
    run_ffmpeg(args)


def baseline(clips: list[Path], out: Path) -> None:
    """The notes' one-command normalise-and-crossfade, written by hand."""
    inputs: list[str | Path] = []
    chains = []
    silent_input = len(clips)
    for index, (path, (_, _, rate)) in enumerate(zip(clips, CLIPS, strict=True)):
        inputs += ["-i", path]
        chains.append(
            f"[{index}:v]scale=trunc(iw*sar/2)*2:ih,setsar=1,"
            "scale=1920:1080:force_original_aspect_ratio=decrease,"
            "pad=1920:1080:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p,"
            f"tpad=stop_mode=clone:stop_duration=1,trim=end_frame={30 * SECONDS},"
            f"setpts=PTS-STARTPTS[v{index}]"
        )
        if rate:
            chains.append(
                f"[{index}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
                f"apad,atrim=end_sample={48000 * SECONDS},asetpts=PTS-STARTPTS[a{index}]"
            )
        else:
            chains.append(
                f"[{silent_input}:a]atrim=end_sample={48000 * SECONDS},"
                f"asetpts=PTS-STARTPTS[a{index}]"
            )
    video, audio = "[v0]", "[a0]"
    for index in range(1, len(clips)):
        # Each offset is the output so far less the fade (all clips are SECONDS long).
        offset = index * (SECONDS - FADE)
        chains.append(
            f"{video}[v{index}]xfade=transition=fade:duration={FADE}:offset={offset}[xv{index}]"
        )
        chains.append(f"{audio}[a{index}]acrossfade=ns={int(FADE * 48000)}[xa{index}]")
        video, audio = f"[xv{index}]", f"[xa{index}]"
    graph = ";".join(chains)
    run_ffmpeg(
        [
            "-y", *inputs, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
            "-filter_complex", graph, "-map", video, "-map", audio,
            "-c:v", "libx264", "-preset", str(VIDEO_ENCODING["preset"]),
            "-crf", str(VIDEO_ENCODING["crf"]), "-c:a", "aac", "-b:a", "192k",
            "-movflags", "+faststart", out,
        ]
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--no-noop", action="store_true", help="skip the spring-launch no-op stitch (slow setup)"
    )
    args = parser.parse_args()
    preparing: list[float] = []
    preparing_cpu: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        clips = [folder / f"clip{i}.mp4" for i in range(len(CLIPS))]
        for path, (size, fps, rate) in zip(clips, CLIPS, strict=True):
            render_clip(path, size, fps, rate)
        cache = folder / "cache"
        house = house_format_for_ratio("16:9")

        def cut_of(present: list[Path | None]) -> CutRequest:
            """The cut as a run sees it: a clip not there yet stands as a slate."""
            parts = tuple(
                CutClip(p) if p else CutClip(None, label=f"clip{i}", slate=Card("MISSING", SECONDS))
                for i, p in enumerate(present)
            )
            return CutRequest(
                clips=parts,
                house=house,
                out_path=folder / "cut.mp4",
                transition=Transition("fade", FADE),
            )

        request = cut_of(list(clips))

        def clear_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        def stitch() -> None:
            stitch_module._known_facts.clear()  # as a new `kling-pipe stitch` process
            stitch_cut(request, cache)

        def arrived(index: int, present: list[Path | None]) -> None:
            """Prepare a clip as `kling-pipe run` does when it arrives; timed on its own."""
            used = _children_cpu()
            start = time.perf_counter()
            prepare_cut(cut_of(present), cache, [clips[index]], niceness=NICENESS)
            preparing.append(time.perf_counter() - start)
            preparing_cpu.append(_children_cpu() - used)

        def prepared_as_they_arrived() -> None:
            clear_cache()
            present: list[Path | None] = [None] * len(clips)
            for index in ARRIVALS:
                present[index] = clips[index]
                arrived(index, present)

        tones = iter(range(500, 5000, 100))

        def regenerate_one() -> None:
            size, fps, rate = CLIPS[3]
            render_clip(clips[3], size, fps, rate, tone=next(tones))

        def regenerate_one_prepared() -> None:
            regenerate_one()
            arrived(3, list(clips))

        hand = median_time(
            args.repeats, lambda: baseline(clips, folder / "hand.mp4"), lambda: 0, "hand"
        )
        full = median_time(args.repeats, stitch, clear_cache, "cold")
        recut = median_time(args.repeats, stitch, regenerate_one, "recut")
        cold_prepared = median_time(args.repeats, stitch, prepared_as_they_arrived, "prepared")
        arrival_times = list(preparing[-len(ARRIVALS) :])
        arrival_cpu = list(preparing_cpu[-len(ARRIVALS) :])
        preparing.clear()
        preparing_cpu.clear()
        recut_prepared = median_time(
            args.repeats, stitch, regenerate_one_prepared, "recut_prepared"
        )
        result = stitch_cut(request, cache)
        frames = scan_packets(result.path)["video"].packets
        hand_frames = scan_packets(folder / "hand.mp4")["video"].packets
    noop = float("nan") if args.no_noop else noop_stitch(args.repeats)
    ratio = cold_prepared / hand
    recut_ratio = recut_prepared / full
    scratch_ratio = full / hand
    scratch_recut_ratio = recut / full
    cpu = CPU_SECONDS
    print(f"six 5 s 1080p clips, mixed rates and audio; {frames} frames (hand: {hand_frames})")
    print(f"hand-written single ffmpeg command:        {hand:6.2f} s  CPU {cpu['hand']:.1f} s")
    print("from scratch (nothing prepared):")
    print(
        f"  cold cut:                                {full:6.2f} s  CPU {cpu['cold']:.1f} s "
        f"({scratch_ratio:.2f}x the command)"
    )
    print(
        f"  re-cut after one clip changed:           {recut:6.2f} s  CPU {cpu['recut']:.1f} s "
        f"({scratch_recut_ratio:.2f}x the cold cut)"
    )
    print("with the clips prepared as they arrived (what `kling-pipe run` does while it waits):")
    print(
        f"  cold cut (a cut never made):             {cold_prepared:6.2f} s  "
        f"CPU {cpu['prepared']:.1f} s ({ratio:.2f}x the command)"
    )
    print(
        f"  re-cut after one clip changed:           {recut_prepared:6.2f} s  "
        f"CPU {cpu['recut_prepared']:.1f} s ({recut_ratio:.2f}x the from-scratch cold cut)"
    )
    print(
        "  preparation on arrival, per clip in arrival order "
        f"{ARRIVALS}: "
        + ", ".join(f"{t:.2f}" for t in arrival_times)
        + f" s (total {sum(arrival_times):.2f} s, CPU {sum(arrival_cpu):.1f} s)"
    )
    print(
        "  preparation of the changed clip on its arrival: "
        + ", ".join(f"{t:.2f}" for t in preparing)
        + f" s (CPU {statistics.median(preparing_cpu):.1f} s)"
    )
    print(f"no-op stitch of spring-launch (CLI):       {noop:6.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"BENCH stitch ratio_vs_ffmpeg={ratio:.2f} recut_ratio={recut_ratio:.2f} "
        f"noop_s={noop:.2f} scratch_ratio={scratch_ratio:.2f} "
        f"scratch_recut_ratio={scratch_recut_ratio:.2f}"
    )


def noop_stitch(repeats: int) -> float:
    """Median wall time of `kling-pipe stitch` of the spring-launch previews, all cuts made."""
    with tempfile.TemporaryDirectory(prefix="kling-stitch-bench-") as scratch:
        project = Path(scratch)
        for folder in ("pipelines", "templates", "examples"):
            shutil.copytree(REPO / folder, project / folder)
        (project / ".git").mkdir()
        manifest = "pipelines/spring-launch.yaml"
        cli = [sys.executable, "-m", "kling_pipe"]

        def kling(*args: str) -> None:
            subprocess.run([*cli, *args], cwd=project, check=True, capture_output=True)

        kling("run", manifest, "--backend", "preview")
        kling("stitch", manifest, "--backend", "preview")  # the cuts, made once
        return median_time(
            repeats, lambda: kling("stitch", manifest, "--backend", "preview"), lambda: 0, "noop"
        )


if __name__ == "__main__":
    main()
