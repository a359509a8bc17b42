"""Poster frames: one still JPEG per clip, for a gallery to show before the video plays.

Posters are cached by the clip's sha256 (`<cache>/<sha>.jpg`), so a re-report of unchanged
clips runs no ffmpeg at all, and two jobs that share an output share a poster.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kling_pipe.canonical import file_sha256
from kling_pipe.durable import write_atomically
from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg

POSTER_AT_SECONDS = 1.0
POSTER_MAX_HEIGHT = 360


def poster_args(clip: Path, at_seconds: float, max_height: int) -> list[str]:
    """ffmpeg arguments that write one JPEG frame of `clip` at `at_seconds` to stdout."""
    return [
        "-v",
        "error",
        *(["-ss", f"{at_seconds:g}"] if at_seconds > 0 else []),
        "-i",
        str(clip),
        "-frames:v",
        "1",
        "-an",
        "-vf",
        f"scale=-2:'min(ih,{max_height})',setsar=1",
        "-q:v",
        "4",
        "-f",
        "image2pipe",
        "-c:v",
        "mjpeg",
        "-",
    ]


def poster_frame(
    clip: Path,
    cache_dir: Path,
    *,
    at_seconds: float = POSTER_AT_SECONDS,
    max_height: int = POSTER_MAX_HEIGHT,
) -> Path:
    """The poster of `clip`: `<cache_dir>/<clip sha256>.jpg`, extracted only when not cached.

    The frame is taken `at_seconds` in (past fade-ins), or the first frame when the clip is
    shorter. Raises MediaError when the clip cannot be decoded.
    """
    target = cache_dir / f"{file_sha256(clip)}.jpg"
    if target.is_file() and target.stat().st_size > 0:
        return target
    image = run_ffmpeg(poster_args(clip, at_seconds, max_height)).stdout
    if not image and at_seconds > 0:
        # Seeking past the end of a short clip yields no frame rather than an error.
        image = run_ffmpeg(poster_args(clip, 0.0, max_height)).stdout
    if not image:
        raise MediaError(f"{clip}: no video frame to make a poster from; is it a video file?")
    write_atomically(target, image)
    return target


def poster_frames(
    clips: Sequence[Path], cache_dir: Path, workers: int = 2
) -> dict[Path, Path | None]:
    """Posters of many clips, extracted in parallel; None for a clip that cannot be decoded."""

    def one(clip: Path) -> Path | None:
        try:
            return poster_frame(clip, cache_dir)
        except MediaError:
            return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip(clips, pool.map(one, clips), strict=True))
