"""Re-cutting, parallel cuts, captions and refusals."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kling_pipe.errors import InputError, MediaError
from kling_pipe.media.cards import Card
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, Transition, stitch_cut, stitch_cuts
from tests.media.stitching.conftest import render_marked_clip
from tests.media.stitching.measure import flash_frames, mean_psnr, psnr_per_frame

HOUSE = HouseFormat(320, 180)


def _clips(folder: Path, count: int) -> list[Path]:
    return [
        render_marked_clip(folder / f"shot{i}.mp4", mark=0.2 + 0.1 * i, tone=600 + 100 * i).path
        for i in range(count)
    ]


def test_recut_after_one_clip_changed_reencodes_only_that_clip(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 3)
    request = CutRequest(
        clips=tuple(CutClip(p) for p in paths), house=HOUSE, out_path=tmp_path / "cut.mp4"
    )
    first = stitch_cut(request, tmp_path / "cache")
    assert first.reused_intermediates == 0
    before = Path(shutil.copy(first.path, tmp_path / "first.mp4"))
    # Regenerate the middle shot: a different picture with its flash elsewhere.
    render_marked_clip(paths[1], mark=0.8, pattern="rgbtestsrc")
    second = stitch_cut(request, tmp_path / "cache")
    assert second.reused_intermediates == 2
    assert second.frames == first.frames == 90
    assert flash_frames(second.path) == [6, 30 + 24, 60 + 12]
    # The unchanged segments are still exactly the first cut's picture.
    for start in (0, 60):
        same = psnr_per_frame(second.path, start, first.path, start, 30)
        assert mean_psnr(same) >= 60
    changed = psnr_per_frame(second.path, 30, before, 30, 30)
    assert mean_psnr(changed) < 25


def test_cuts_for_several_ratios_run_together_and_share_clip_work(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 2)
    formats = [HouseFormat(320, 180), HouseFormat(180, 320), HouseFormat(240, 240, fit="crop")]
    requests = [
        CutRequest(
            clips=tuple(CutClip(p) for p in paths),
            house=house,
            out_path=tmp_path / f"cut-{house.width}x{house.height}.mp4",
            transition=Transition("dissolve", 0.1),
        )
        for house in formats
    ] + [
        CutRequest(
            clips=(CutClip(paths[1]), CutClip(paths[0])),
            house=formats[0],
            out_path=tmp_path / "reversed.mp4",
        )
    ]
    results = stitch_cuts(requests, tmp_path / "cache", workers=2)
    assert [r.path for r in results] == [r.out_path for r in requests]
    for result, house in zip(results, [*formats, formats[0]], strict=True):
        info = probe(result.path)
        assert info.video is not None
        assert (info.video.width, info.video.height) == (house.width, house.height)
        assert scan_packets(result.path)["video"].packets == result.frames
    assert results[0].frames == 60 - 3 and results[3].frames == 60
    # The reversed cut reuses the two intermediates the first 16:9 cut made (or vice versa).
    cached = list((tmp_path / "cache").rglob("*.mov"))
    assert len(cached) == 2 * len(formats)


def test_srt_lists_each_line_of_dialogue_inside_its_shot(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 3)
    request = CutRequest(
        clips=(
            CutClip(paths[0]),
            CutClip(paths[1], dialogue=("Fresh from the kettle.", "Try it!")),
            CutClip(paths[2]),
        ),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
    )
    result = stitch_cut(request, tmp_path / "cache")
    text = result.srt_path.read_text(encoding="utf-8")
    cues = re.findall(r"(\d+)\n(\S+) --> (\S+)\n(.+)\n", text)
    assert [cue[3] for cue in cues] == ["Fresh from the kettle.", "Try it!"]
    shot = result.segments[1]
    for _, start, end, _ in cues:
        assert shot.start <= _srt_seconds(start) < _srt_seconds(end) <= shot.end


def test_burned_captions_appear_only_during_the_dialogue_at_the_bottom(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 2)
    clips = (CutClip(paths[0]), CutClip(paths[1], dialogue=("Hello there, kettle",)))
    plain = stitch_cut(
        CutRequest(clips=clips, house=HOUSE, out_path=tmp_path / "plain.mp4"), tmp_path / "cache"
    )
    burned = stitch_cut(
        CutRequest(clips=clips, house=HOUSE, out_path=tmp_path / "burned.mp4", burn_captions=True),
        tmp_path / "cache",
    )
    assert burned.reused_intermediates == 1  # the first shot has no dialogue: same intermediate
    caption = burned.captions[0]
    inside = round((caption.start + caption.end) / 2 * 30)
    bottom = "crop=iw:ih/4:0:ih*3/4"
    top = "crop=iw:ih/2:0:0"
    assert psnr_per_frame(burned.path, inside, plain.path, inside, 1, bottom)[0] < 30
    # Elsewhere the picture differs only by the intermediate's re-encode.
    assert psnr_per_frame(burned.path, inside, plain.path, inside, 1, top)[0] >= 40
    before = round(caption.start * 30) - 2
    assert psnr_per_frame(burned.path, before, plain.path, before, 1, bottom)[0] >= 40


def test_a_take_longer_than_its_clip_is_refused_before_any_work(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 1)
    request = CutRequest(
        clips=(CutClip(paths[0], seconds=3.0, label="hero"),),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
    )
    with pytest.raises(InputError, match=r"hero: a take of 3\.0 s is longer than the clip"):
        stitch_cut(request, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_missing_clip_is_named_in_the_error(tmp_path: Path) -> None:
    request = CutRequest(
        clips=(CutClip(tmp_path / "nope.mp4", label="pour"),),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
    )
    with pytest.raises(InputError, match=r"clip pour: .*nope\.mp4 does not exist"):
        stitch_cut(request, tmp_path / "cache")


def test_a_failed_cut_leaves_no_output_and_no_partial_file(tmp_path: Path) -> None:
    silent = render_marked_clip(tmp_path / "silent.mp4", audio_rate=None).path
    request = CutRequest(
        clips=(CutClip(silent),),
        house=HOUSE,
        out_path=tmp_path / "out" / "cut.mp4",
        loudness_lufs=-14.0,
    )
    with pytest.raises(MediaError, match="silent"):
        stitch_cut(request, tmp_path / "cache")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_transition_as_long_as_a_clip_is_refused(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 2)
    request = CutRequest(
        clips=(CutClip(paths[0], seconds=0.3), CutClip(paths[1])),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
        transition=Transition("fade", 0.5),
    )
    with pytest.raises(InputError, match="shorten the transition"):
        stitch_cut(request, tmp_path / "cache")


def _srt_seconds(stamp: str) -> float:
    hours, minutes, rest = stamp.split(":")
    seconds, millis = rest.split(",")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def test_an_image_end_card_shows_the_image_letterboxed_for_its_seconds(tmp_path: Path) -> None:
    paths = _clips(tmp_path, 1)
    image = tmp_path / "logo.png"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "color=c=red:s=90x90", "-frames:v", "1", image])
    result = stitch_cut(
        CutRequest(
            clips=(CutClip(paths[0]),),
            house=HOUSE,
            out_path=tmp_path / "cut.mp4",
            end=Card("", 0.5, background="black", image=image),
        ),
        tmp_path / "cache",
    )
    end = result.segments[-1]
    assert (end.kind, end.start_frame, end.frames) == ("end", 30, 15)
    assert scan_packets(result.path)["video"].packets == 45
    # Red square in the middle, black bars at the sides: read the centre and the left edge.
    centre = run_ffmpeg(
        ["-v", "error", "-i", result.path, "-vf", "crop=20:20:150:80,scale=1:1,format=rgb24",
         "-f", "rawvideo", "-"]
    ).stdout  # fmt: skip
    left = run_ffmpeg(
        ["-v", "error", "-i", result.path, "-vf", "crop=20:20:0:80,scale=1:1,format=rgb24",
         "-f", "rawvideo", "-"]
    ).stdout  # fmt: skip
    red_frames = [i for i in range(45) if centre[3 * i] > 200 and centre[3 * i + 1] < 60]
    assert red_frames == list(range(30, 45))
    assert all(max(left[3 * i : 3 * i + 3]) < 30 for i in range(30, 45))
