"""Stitching fixtures: synthetic clips with a white flash and a beep at a known instant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from kling_pipe.media.ffmpeg import run_ffmpeg


@dataclass(frozen=True)
class MarkedClip:
    """A fixture clip and where its flash and beep are (the same instant, on a frame boundary)."""

    path: Path
    fps: Fraction
    seconds: float
    mark: float
    """Seconds from the clip's start to its flash and beep."""
    has_audio: bool


MakeMarkedClip = Callable[..., MarkedClip]


def render_marked_clip(
    out: Path,
    *,
    size: str = "320x180",
    fps: str = "30",
    seconds: float = 1.0,
    mark: float = 0.5,
    audio_rate: int | None = 48000,
    audio_seconds: float | None = None,
    channels: int = 2,
    sar: str | None = None,
    pattern: str = "testsrc2",
    rotation: int | None = None,
    tone: int = 1000,
) -> MarkedClip:
    """Render moving video with a two-frame white flash and a 150 ms beep at `mark` seconds."""
    rate = Fraction(fps)
    flash_frame = round(mark * rate)
    mark = float(flash_frame / rate)
    video_filter = f"drawbox=c=white:t=fill:enable='between(n,{flash_frame},{flash_frame + 1})'"
    if sar:
        video_filter += f",setsar={sar}"
    args: list[str | Path] = ["-y", "-f", "lavfi", "-i", f"{pattern}=s={size}:r={fps}:d={seconds}"]
    if audio_rate is not None:
        length = audio_seconds if audio_seconds is not None else seconds
        args += ["-f", "lavfi", "-i", f"sine=f={tone}:r={audio_rate}:d={length}"]
        audio_filter = f"volume=volume=0:enable='not(between(t,{mark},{mark + 0.15}))'"
        args += ["-af", audio_filter, "-c:a", "aac", "-ac", str(channels)]
    args += ["-vf", video_filter, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10"]
    args += ["-pix_fmt", "yuv420p", out]
    run_ffmpeg(args)
    if rotation is not None:
        rotated = out.with_name(f"rotated-{out.name}")
        run_ffmpeg(["-y", "-display_rotation", str(rotation), "-i", out, "-c", "copy", rotated])
        rotated.replace(out)
    return MarkedClip(out, rate, seconds, mark, audio_rate is not None)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of fixture clips shared by a module's tests (rendering is the slow part)."""
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def mixed_clips(clip_dir: Path) -> list[MarkedClip]:
    """Six clips as mixed as real ones: sizes, rates, sample rates, silent, short audio, SAR."""
    return [
        render_marked_clip(clip_dir / "wide30.mp4", size="320x180", fps="30", mark=0.4),
        render_marked_clip(
            clip_dir / "tall24.mp4", size="180x320", fps="24", mark=0.5, audio_rate=None
        ),
        render_marked_clip(
            clip_dir / "square25.mp4",
            size="240x240",
            fps="25",
            mark=0.6,
            audio_rate=44100,
            channels=1,
        ),
        render_marked_clip(
            clip_dir / "anamorphic.mp4", size="240x180", fps="30000/1001", mark=0.3, sar="4/3"
        ),
        render_marked_clip(
            clip_dir / "shortaudio.mp4",
            size="320x180",
            fps="30",
            seconds=1.5,
            mark=0.7,
            audio_seconds=1.0,
        ),
        render_marked_clip(
            clip_dir / "rotated.mp4",
            size="320x180",
            fps="30",
            mark=0.5,
            rotation=90,
            pattern="testsrc2",
        ),
    ]
