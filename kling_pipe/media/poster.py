"""Poster frames: one still JPEG per clip, for a gallery to show before the video plays.

Posters are cached by the clip's sha256 (`<cache>/<sha>.jpg`), so a re-report of unchanged
clips runs no ffmpeg at all, and two jobs that share an output share a poster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kling_pipe.canonical import file_sha256
from kling_pipe.durable import write_atomically
from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg

POSTER_AT_SECONDS = 1.0
POSTER_MAX_HEIGHT = 360


LINKED_POSTER_TIMEOUT = 60.0  # s: a stalled connection leaves a card without a poster


def poster_args(clip: Path | str, at_seconds: float, max_height: int) -> list[str]:
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
    return _poster(clip, cache_dir / f"{file_sha256(clip)}.jpg", at_seconds, max_height)


def _poster(
    clip: Path | str,
    target: Path,
    at_seconds: float,
    max_height: int,
    timeout: float | None = None,
    name: str | None = None,
) -> Path:
    if target.is_file() and target.stat().st_size > 0:
        return target
    image = run_ffmpeg(poster_args(clip, at_seconds, max_height), timeout=timeout).stdout
    if not image and at_seconds > 0:
        # Seeking past the end of a short clip yields no frame rather than an error.
        image = run_ffmpeg(poster_args(clip, 0.0, max_height), timeout=timeout).stdout
    if not image:
        raise MediaError(
            f"{name or clip}: no video frame to make a poster from; is it a video file?"
        )
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


def linked_posters(
    links: Mapping[str, str], cache_dir: Path, workers: int = 2
) -> dict[str, Path | None]:
    """Posters of stored objects by sha256, read from their links (`sha256 → URL`): ffmpeg
    fetches the clip's index and the frames near the poster's time with range requests, not
    the whole clip. Cached like `poster_frame` (by the object's hash, so a poster already made
    costs no request); None for one that cannot be made."""

    def one(sha256: str) -> Path | None:
        try:
            return _poster(
                links[sha256],
                cache_dir / f"{sha256}.jpg",
                POSTER_AT_SECONDS,
                POSTER_MAX_HEIGHT,
                timeout=LINKED_POSTER_TIMEOUT,
                name=sha256,
            )
        except MediaError:
            return None

    hashes = sorted(links)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip(hashes, pool.map(one, hashes), strict=True))
