"""What a viewer would see and hear in a cut, measured with ffmpeg: flashes, beeps, PSNR, LUFS."""

from __future__ import annotations

import array
import re
from fractions import Fraction
from pathlib import Path

from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.loudness import parse_integrated

FLASH_LUMA = 200
"""Mean luma of the frame's centre above which a frame is the fixture's white flash."""
BEEP_LEVEL = 1500
"""Sample magnitude (s16) above which the fixture's beep is sounding; the rest is silence."""


def flash_frames(path: Path) -> list[int]:
    """Indices of the first frame of each white flash (read at the centre, clear of any bars)."""
    raw = run_ffmpeg(
        [
            "-v",
            "error",
            "-i",
            path,
            "-vf",
            "crop=iw/8:ih/8,scale=1:1,format=gray",
            "-f",
            "rawvideo",
            "-",
        ]
    ).stdout
    starts = []
    for index, luma in enumerate(raw):
        if luma > FLASH_LUMA and (index == 0 or raw[index - 1] <= FLASH_LUMA):
            starts.append(index)
    return starts


def beep_onsets(path: Path, rate: int = 48000) -> list[float]:
    """Seconds at which each beep starts (after at least 50 ms of quiet)."""
    raw = run_ffmpeg(
        ["-v", "error", "-i", path, "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"]
    ).stdout
    samples = array.array("h", raw)
    onsets: list[float] = []
    last_loud = -rate
    for index, value in enumerate(samples):
        if abs(value) > BEEP_LEVEL:
            if index - last_loud > rate // 20:
                onsets.append(index / rate)
            last_loud = index
    return onsets


def video_frame_count(path: Path) -> int:
    """Frames the file really decodes to."""
    stderr = run_ffmpeg(["-i", path, "-map", "0:v", "-f", "null", "-"]).stderr.decode()
    return int(re.findall(r"frame=\s*(\d+)", stderr)[-1])


def psnr_per_frame(
    path: Path, start: int, reference: Path, ref_start: int, count: int, crop: str | None = None
) -> list[float]:
    """PSNR (dB, inf if identical) of `count` frames of `path` from `start` against `reference`."""
    region = f",{crop}" if crop else ""
    graph = (
        f"[0:v]trim=start_frame={start}:end_frame={start + count},setpts=N/(30*TB){region}[a];"
        f"[1:v]trim=start_frame={ref_start}:end_frame={ref_start + count},"
        f"setpts=N/(30*TB){region}[b];"
        "[a][b]psnr=stats_file=-"
    )
    out = run_ffmpeg(
        ["-v", "error", "-i", path, "-i", reference, "-lavfi", graph, "-f", "null", "-"]
    )
    values = re.findall(r"psnr_avg:(\S+)", out.stdout.decode())
    return [float(v) for v in values]


def mean_psnr(values: list[float]) -> float:
    """Mean of per-frame PSNRs, capped at 100 dB so identical frames count as 'very high'."""
    return sum(min(v, 100.0) for v in values) / len(values)


def integrated_loudness(path: Path) -> float:
    """The file's integrated loudness (LUFS) by the ebur128 filter."""
    stderr = run_ffmpeg(["-i", path, "-vn", "-af", "ebur128", "-f", "null", "-"]).stderr
    return parse_integrated(stderr.decode())


def decode_errors(path: Path) -> str:
    """What `ffmpeg -v error` prints decoding the whole file (nothing for a clean file)."""
    completed = run_ffmpeg(["-v", "error", "-i", path, "-f", "null", "-"], check=False)
    return completed.stderr.decode().strip()


def house_reference(
    source: Path, out: Path, *, width: int, height: int, fps: Fraction, frames: int
) -> Path:
    """The source through the notes' hand-written normalisation chain, encoded losslessly."""
    chain = (
        f"scale=trunc(iw*sar/2)*2:ih,setsar=1,scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p,"
        f"tpad=stop_mode=clone:stop_duration=10,trim=end_frame={frames},setpts=PTS-STARTPTS"
    )
    run_ffmpeg(
        [
            "-y",
            "-i",
            source,
            "-vf",
            chain,
            "-an",
            "-c:v",
            "libx264",
            "-qp",
            "0",
            "-preset",
            "ultrafast",
            out,
        ]
    )
    return out
