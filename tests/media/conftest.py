"""Media fixtures: small real clips generated with ffmpeg's lavfi sources."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.media.ffmpeg import run_ffmpeg

MakeClip = Callable[..., Path]


@pytest.fixture
def make_clip(tmp_path: Path) -> MakeClip:
    """Render a small test clip: moving testsrc2 video and/or a sine tone, into tmp_path."""

    def make(
        name: str,
        *,
        size: str = "160x90",
        fps: str = "24",
        seconds: float = 1.0,
        video: bool = True,
        audio_rate: int | None = 48000,
        audio_channels: int = 2,
        sar: str | None = None,
        rotation: int | None = None,
        faststart: bool = False,
    ) -> Path:
        out = tmp_path / name
        args: list[str | Path] = ["-y"]
        if video:
            args += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={fps}:d={seconds}"]
        if audio_rate is not None:
            args += ["-f", "lavfi", "-i", f"sine=f=440:r={audio_rate}:d={seconds}"]
        if video:
            args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
            if sar:
                args += ["-vf", f"setsar={sar}"]
        if audio_rate is not None:
            args += ["-c:a", "aac", "-ac", str(audio_channels)]
        if faststart:
            args += ["-movflags", "+faststart"]
        args.append(out)
        run_ffmpeg(args)
        if rotation is not None:
            rotated = tmp_path / f"rotated-{name}"
            run_ffmpeg(["-y", "-display_rotation", str(rotation), "-i", out, "-c", "copy", rotated])
            rotated.replace(out)
        return out

    return make
