"""Cuts stay in sync whatever the source (streams starting late, a short last VFR frame) and
keep the true-peak ceiling once encoded, whatever loudnorm did."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, CutResult, Transition, stitch_cut
from tests.media.stitching.conftest import MarkedClip, render_marked_clip
from tests.media.stitching.measure import (
    beep_onsets,
    decode_errors,
    flash_frames,
    integrated_loudness,
    video_frame_count,
)
from tests.media.stitching.sources import (
    render_late_stream_clip,
    render_loud_clip,
    render_short_last_frame_clip,
)

HOUSE = HouseFormat(320, 180)
FRAME = 1 / 30


def _cut(clips: list[MarkedClip], folder: Path, name: str, fade: float = 0.0) -> CutResult:
    request = CutRequest(
        clips=tuple(CutClip(c.path, label=c.path.stem) for c in clips),
        house=HOUSE,
        out_path=folder / f"{name}.mp4",
        transition=Transition("fade", fade) if fade else Transition(),
    )
    return stitch_cut(request, folder / "cache")


def _assert_in_sync(result: CutResult, clips: list[MarkedClip]) -> None:
    """Every clip's flash on its planned frame, every beep within a frame of its flash."""
    expected = [
        s.start_frame + round(c.mark * 30) for s, c in zip(result.segments, clips, strict=True)
    ]
    flashes = flash_frames(result.path)
    assert flashes == expected, (flashes, expected)
    beeps = beep_onsets(result.path)
    assert len(beeps) == len(expected), (beeps, expected)
    for flash, beep in zip(expected, beeps, strict=True):
        assert abs(beep - flash * FRAME) < FRAME, (flash * FRAME, beep)
    assert video_frame_count(result.path) == result.frames
    assert decode_errors(result.path) == ""


@pytest.mark.parametrize(
    ("late", "name"),
    [("audio", "late-audio.mp4"), ("audio", "late-audio.mov"), ("video", "late-video.mp4")],
)
@pytest.mark.parametrize("fade", [0.0, 0.2])
def test_a_stream_starting_late_keeps_its_place_at_every_join(
    late: str, name: str, fade: float, tmp_path: Path
) -> None:
    """As a player presents the clip, its flash and beep coincide; so must they in the cut."""
    clips = [
        render_marked_clip(tmp_path / "before.mp4", mark=0.3, tone=600),
        render_late_stream_clip(tmp_path / name, late=late, mark=0.5),
        render_marked_clip(tmp_path / "after.mp4", mark=0.4, tone=1200),
    ]
    result = _cut(clips, tmp_path, "cut", fade)
    # The late clip lasts as long as a player shows it: to its video's end on its timeline.
    assert result.segments[1].frames == (36 if late == "video" else 30)
    _assert_in_sync(result, clips)


def test_a_short_last_frame_of_a_vfr_clip_is_kept_and_later_segments_stay_exact(
    tmp_path: Path,
) -> None:
    vfr = render_short_last_frame_clip(tmp_path / "vfr.mp4", mark=0.5)
    timing = scan_packets(vfr.path)["video"]
    assert timing.end - timing.last == pytest.approx(1 / 120, abs=1e-4)  # the fixture's point
    clips = [
        render_marked_clip(tmp_path / "before.mp4", mark=0.3, tone=600),
        vfr,
        render_marked_clip(tmp_path / "after.mp4", mark=0.4, tone=1200),
    ]
    result = _cut(clips, tmp_path, "cut")
    assert [s.frames for s in result.segments] == [30, 30, 30]
    starts = [s.start_frame for s in result.segments]
    # Flashes: the first clip's, the VFR clip's at its mark and on its last frame (not lost),
    # then the next clip's exactly where the timeline puts it.
    assert flash_frames(result.path) == [9, starts[1] + 15, starts[1] + 29, starts[2] + 12]
    beeps = beep_onsets(result.path)
    assert len(beeps) == 3
    for flash, beep in zip([9, starts[1] + 15, starts[2] + 12], beeps, strict=True):
        assert abs(beep - flash * FRAME) < FRAME, (flash * FRAME, beep)
    assert video_frame_count(result.path) == result.frames == 90
    assert decode_errors(result.path) == ""


def _encoded_peak_and_loudness(path: Path) -> tuple[float, float]:
    stderr = run_ffmpeg(
        ["-i", path, "-vn", "-af", "ebur128=peak=true", "-f", "null", "-"]
    ).stderr.decode()
    peak = re.search(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+) dBFS", stderr)
    assert peak is not None
    return float(peak[1]), integrated_loudness(path)


def test_a_loud_clip_forcing_dynamic_mode_keeps_the_true_peak_ceiling_once_encoded(
    tmp_path: Path,
) -> None:
    loud = render_loud_clip(tmp_path / "loud.mp4")
    request = CutRequest(
        clips=(CutClip(loud),), house=HOUSE, out_path=tmp_path / "cut.mp4", loudness_lufs=-9.0
    )
    result = stitch_cut(request, tmp_path / "cache")
    report = result.loudness
    assert report is not None and report.normalization_type == "dynamic"
    peak, integrated = _encoded_peak_and_loudness(result.path)
    assert peak <= -1.5
    assert report.mode == "corrected" and report.correction_db < 0
    assert report.true_peak == pytest.approx(peak, abs=0.05)
    assert report.output == pytest.approx(integrated, abs=0.1)
    # The ceiling wins over the target, by no more than the correction.
    assert -9.0 + report.correction_db - 0.5 <= integrated <= -9.0 + 0.5
    assert decode_errors(result.path) == ""


def test_a_linear_gain_is_reported_linear_and_read_back_from_the_file(tmp_path: Path) -> None:
    clip = render_marked_clip(tmp_path / "quiet.mp4", mark=0.5)
    request = CutRequest(
        clips=(CutClip(clip.path),), house=HOUSE, out_path=tmp_path / "cut.mp4", loudness_lufs=-20.0
    )
    report = stitch_cut(request, tmp_path / "cache").loudness
    assert report is not None and report.mode == "linear" and report.correction_db == 0
    peak, integrated = _encoded_peak_and_loudness(tmp_path / "cut.mp4")
    assert report.true_peak == pytest.approx(peak, abs=0.05) and peak <= -1.5
    assert integrated == pytest.approx(-20.0, abs=0.5)


def _frame_hashes(path: Path) -> list[str]:
    """The md5 of every decoded frame, in order."""
    text = run_ffmpeg(["-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"]).stdout
    return [
        line.rsplit(",", 1)[1].strip()
        for line in text.decode().splitlines()
        if line and not line.startswith("#")
    ]


def test_every_split_of_awkward_sources_copies_each_frame_once(tmp_path: Path) -> None:
    """Around every keyframe split the cut's frames are the intermediate's own, each once: a
    duplicated or dropped frame at a split would break the run of checksums."""
    clips = [
        render_marked_clip(tmp_path / "first.mp4", mark=0.3, tone=600),
        render_late_stream_clip(tmp_path / "late-video.mp4", late="video", mark=0.5),
        render_short_last_frame_clip(tmp_path / "vfr.mp4", mark=0.5),
        render_late_stream_clip(tmp_path / "late-audio.mov", late="audio", mark=0.6),
    ]
    fade = 6
    result = _cut(clips, tmp_path, "cut", fade / 30)
    cut = _frame_hashes(result.path)
    assert len(cut) == result.frames == 30 + 36 + 30 + 30 - 3 * fade
    intermediates = [_frame_hashes(p) for p in (tmp_path / "cache").rglob("*.k*.mov")]
    last = len(result.segments) - 1
    for index, segment in enumerate(result.segments):
        start = fade if index > 0 else 0
        end = segment.frames - fade if index < last else segment.frames
        body = cut[segment.start_frame + start : segment.start_frame + end]
        assert any(own[start:end] == body for own in intermediates), segment.label
        # The fades either side are new pictures, not a copy of a body frame.
        if index < last:
            blend = cut[segment.start_frame + end + 1 : segment.start_frame + segment.frames]
            assert not set(blend) & set(body), segment.label
    _assert_in_sync(result, clips)
