"""An image model's output checked as a still: a PNG, JPEG or WebP that decodes, of its shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import image_suffix, verify_image


def still(folder: Path, name: str, size: str = "64x36") -> Path:
    path = folder / name
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={size}", "-frames:v", "1", "-y", path])
    return path


@pytest.mark.parametrize(("name", "suffix"), [("a.png", ".png"), ("a.jpg", ".jpg")])
def test_a_still_is_told_by_its_bytes_and_passes_as_an_image(
    tmp_path: Path, name: str, suffix: str
) -> None:
    made = still(tmp_path, name)
    # Named by a hash in the store, whatever it holds: the bytes say what it is.
    stored = made.rename(tmp_path / "0123abcd.mp4")
    assert image_suffix(stored) == suffix
    info = verify_image(stored, aspect_ratio="16:9")
    assert info.video is not None and (info.video.width, info.video.height) == (64, 36)


def test_a_still_of_the_wrong_shape_is_refused_saying_both(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="image is 64x36, not 9:16"):
        verify_image(still(tmp_path, "a.png"), aspect_ratio="9:16")


def test_a_truncated_png_does_not_pass(tmp_path: Path) -> None:
    whole = still(tmp_path, "a.png", "320x180").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(MediaError):
        verify_image(cut)


def test_a_clip_is_not_an_image(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=64x36:d=1", "-y", clip])
    assert image_suffix(clip) is None
    with pytest.raises(MediaError, match="expected a PNG, JPEG or WebP image, found h264"):
        verify_image(clip)
