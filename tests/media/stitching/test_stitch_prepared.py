"""Cuts prepared as their clips arrive: the stitch that follows finds its material ready."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kling_pipe.errors import MediaError
from kling_pipe.media.cards import Card
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import scan_packets
from kling_pipe.media.stitch import (
    CutClip,
    CutRequest,
    Prepared,
    Transition,
    prepare_cut,
    stitch_cut,
)
from tests.media.stitching.conftest import render_marked_clip
from tests.media.stitching.measure import decode_errors, flash_frames, mean_psnr, psnr_per_frame

HOUSE = HouseFormat(320, 180)
FPS = 30
FADE_FRAMES = 6
FADE = Transition("fade", 0.2)


def _clips(folder: Path, count: int) -> list[Path]:
    return [
        render_marked_clip(folder / f"shot{i}.mp4", mark=0.3 + 0.1 * i, tone=600 + 100 * i).path
        for i in range(count)
    ]


def _request(clips: list[Path | None], out: Path, transition: Transition = FADE) -> CutRequest:
    """The cut of `clips` with a title card; a clip not there yet (None) stands as a slate."""
    parts = tuple(
        CutClip(path, label=f"shot{i}")
        if path is not None
        else CutClip(None, label=f"shot{i}", slate=Card("MISSING", 1.0))
        for i, path in enumerate(clips)
    )
    return CutRequest(
        clips=parts, house=HOUSE, out_path=out, transition=transition, title=Card("Acme", 0.5)
    )


def _encoded(cache: Path) -> set[Path]:
    """The intermediates and blends in a cache."""
    return {*cache.rglob("*.mov"), *(cache / "blends").rglob("*.mp4")}


def _prepare_as_they_arrive(
    clips: list[Path], order: list[int], cache: Path, out: Path
) -> list[Prepared]:
    known: list[Path | None] = [None] * len(clips)
    made = []
    for index in order:
        known[index] = clips[index]
        # One thread, as the cold stitch's encoders use when they fill the cores: the same
        # x264 threading gives the same bytes.
        made.append(prepare_cut(_request(known, out), cache, [clips[index]], threads=1))
    return made


def test_a_cut_prepared_clip_by_clip_is_byte_identical_to_one_made_cold(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 4)
    cold = stitch_cut(_request(clips, tmp_path / "cold.mp4"), tmp_path / "cold", workers=2)

    cache = tmp_path / "prepared"
    out = tmp_path / "prepared.mp4"
    made = _prepare_as_they_arrive(clips, [2, 0, 3, 1], cache, out)
    # Each arrival makes its own intermediate (the first also the title card's) and the fades
    # with the neighbours already there: none beside a clip still missing.
    assert made == [Prepared(2, 0), Prepared(1, 1), Prepared(1, 1), Prepared(1, 2)]
    ready = _encoded(cache)
    cut = stitch_cut(_request(clips, out), cache, workers=2)

    assert _encoded(cache) == ready, "the stitch encoded nothing"
    assert cut.reused_intermediates == 5
    assert out.read_bytes() == cold.path.read_bytes()
    assert cut.frames == cold.frames == 15 + 4 * FPS - 4 * FADE_FRAMES
    assert decode_errors(out) == ""


def test_a_new_take_prepared_on_arrival_leaves_the_recut_nothing_to_encode(
    tmp_path: Path,
) -> None:
    clips = _clips(tmp_path, 3)
    cache = tmp_path / "cache"
    out = tmp_path / "cut.mp4"
    first = stitch_cut(_request(clips, out), cache)
    before = Path(shutil.copy(first.path, tmp_path / "first.mp4"))
    take2 = render_marked_clip(tmp_path / "shot1-take2.mp4", mark=0.6, pattern="rgbtestsrc").path
    clips[1] = take2

    made = prepare_cut(_request(clips, out), cache, [take2])
    assert made == Prepared(1, 2), "its intermediate and the fades either side"
    assert prepare_cut(_request(clips, out), cache, [take2]) == Prepared(0, 0)
    ready = _encoded(cache)
    recut = stitch_cut(_request(clips, out), cache)

    assert _encoded(cache) == ready
    assert not recut.reused and recut.reused_intermediates == 4
    starts = [s.start_frame for s in recut.segments]
    assert flash_frames(out) == [starts[1] + 9, starts[2] + 18, starts[3] + 15]
    assert scan_packets(out)["video"].packets == recut.frames == first.frames
    # Outside the fades: the new take where it changed, the first cut's picture elsewhere.
    body = 30 - 2 * FADE_FRAMES
    assert mean_psnr(psnr_per_frame(out, starts[2] + 6, before, starts[2] + 6, body)) < 25
    for segment in (1, 3):
        start = starts[segment] + FADE_FRAMES
        assert mean_psnr(psnr_per_frame(out, start, before, start, body)) >= 60


def test_nothing_is_made_of_a_slate_nor_of_a_fade_into_one(tmp_path: Path) -> None:
    clips = _clips(tmp_path, 3)
    cache = tmp_path / "cache"
    made = prepare_cut(
        _request([None, clips[1], None], tmp_path / "cut.mp4"), cache, [clips[1]], threads=1
    )
    assert made == Prepared(2, 0), "the clip and the title card, no slate, no fade"
    assert len(list(cache.rglob("*.mov"))) == 2 and not (cache / "blends").exists()


def test_a_hard_cut_prepared_ahead_is_joined_from_the_prepared_intermediates(
    tmp_path: Path,
) -> None:
    clips = _clips(tmp_path, 2)
    cache = tmp_path / "cache"
    out = tmp_path / "cut.mp4"
    for clip in clips:
        prepare_cut(_request(clips, out, Transition()), cache, [clip])
    ready = _encoded(cache)
    assert len(ready) == 3
    cut = stitch_cut(_request(clips, out, Transition()), cache)
    assert _encoded(cache) == ready and cut.reused_intermediates == 3
    assert flash_frames(out) == [15 + 9, 15 + FPS + 12]


def test_a_clip_that_is_not_a_video_fails_its_preparation_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    clips = _clips(tmp_path, 2)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    cache = tmp_path / "cache"
    with pytest.raises(MediaError):
        prepare_cut(_request([clips[0], broken], tmp_path / "cut.mp4"), cache, [broken])
    assert not _encoded(cache)
    assert not [p for p in cache.rglob("*") if "partial" in p.name]
