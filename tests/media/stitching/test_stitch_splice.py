"""A crossfade cut copies the picture between its fades: exact at every split, one clean stream."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kling_pipe.media.cards import Card
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, CutResult, Transition, stitch_cut
from tests.media.stitching.conftest import MarkedClip, render_marked_clip
from tests.media.stitching.measure import (
    beep_onsets,
    decode_errors,
    flash_frames,
    house_reference,
    mean_psnr,
    psnr_per_frame,
    video_frame_count,
)

HOUSE = HouseFormat(320, 180)
FADE = 6  # frames: 0.2 s at 30 fps


@dataclass(frozen=True)
class Spliced:
    """A crossfade cut of three one-second clips, the clips and their house references."""

    result: CutResult
    clips: list[MarkedClip]
    references: list[Path]
    cache: Path


@pytest.fixture(scope="module")
def spliced(tmp_path_factory: pytest.TempPathFactory) -> Spliced:
    folder = tmp_path_factory.mktemp("splice")
    # Each flash sits right at a split: the last copied frame before a fade (frame 23), the
    # first copied frame after one (frame 6), both (the middle clip's at 6 and a second at 33).
    clips = [
        render_marked_clip(folder / "a.mp4", mark=23 / 30, tone=600),
        render_marked_clip(folder / "b.mp4", seconds=40 / 30, mark=6 / 30, tone=800),
        render_marked_clip(folder / "c.mp4", mark=6 / 30, tone=1000),
    ]
    request = CutRequest(
        clips=tuple(CutClip(c.path, label=c.path.stem) for c in clips),
        house=HOUSE,
        out_path=folder / "cut.mp4",
        transition=Transition("fade", FADE / 30),
    )
    result = stitch_cut(request, folder / "cache")
    references = [
        house_reference(
            c.path,
            folder / f"ref-{c.path.stem}.mkv",
            width=HOUSE.width,
            height=HOUSE.height,
            fps=HOUSE.fps,
            frames=s.frames,
        )
        for c, s in zip(clips, result.segments, strict=True)
    ]
    return Spliced(result, clips, references, folder / "cache")


def test_the_cut_has_every_planned_frame_and_decodes_without_an_error(spliced: Spliced) -> None:
    path = spliced.result.path
    assert spliced.result.frames == 30 + 40 + 30 - 2 * FADE
    assert scan_packets(path)["video"].packets == spliced.result.frames
    assert video_frame_count(path) == spliced.result.frames
    assert decode_errors(path) == ""


def test_flashes_at_the_splits_land_on_their_exact_frame_and_beeps_with_them(
    spliced: Spliced,
) -> None:
    starts = [s.start_frame for s in spliced.result.segments]
    assert flash_frames(spliced.result.path) == [23, starts[1] + 6, starts[2] + 6]
    for flash, beep in zip(
        flash_frames(spliced.result.path), beep_onsets(spliced.result.path), strict=True
    ):
        assert abs(beep - flash / 30) < 1 / 30


def test_frames_either_side_of_every_split_are_their_own_source_frame(spliced: Spliced) -> None:
    """A duplicated or dropped frame at a split would shift one side by a frame: on moving
    pictures that drops PSNR against the source from ~40+ dB to ~25 dB."""
    path = spliced.result.path
    segments = spliced.result.segments
    refs = spliced.references
    for index in range(len(segments) - 1):
        offset = segments[index + 1].start_frame  # where the fade starts in the cut
        tail = segments[index].frames - FADE  # the outgoing clip's frame there
        last_copied = psnr_per_frame(path, offset - 2, refs[index], tail - 2, 2)
        first_copied = psnr_per_frame(path, offset + FADE, refs[index + 1], FADE, 2)
        assert min(last_copied) >= 40 and min(first_copied) >= 40, (
            index,
            last_copied,
            first_copied,
        )
        # The measure tells a frame from its neighbours (the flash's two frames are alike).
        moving = offset + FADE + 2
        for neighbour in (FADE + 1, FADE + 3):
            shifted = psnr_per_frame(path, moving, refs[index + 1], neighbour, 1)
            assert shifted[0] < 30, (index, neighbour, shifted)


def test_each_fade_is_the_xfade_of_exactly_the_frames_the_timeline_overlaps(
    spliced: Spliced, tmp_path: Path
) -> None:
    path = spliced.result.path
    segments = spliced.result.segments
    refs = spliced.references
    for index in range(len(segments) - 1):
        offset = segments[index + 1].start_frame
        tail = segments[index].frames - FADE
        expected = [
            _xfade(refs[index], start, refs[index + 1], tmp_path / f"x{index}-{start}.mkv")
            for start in (tail, tail + 1)
        ]
        exact = psnr_per_frame(path, offset, expected[0], 0, FADE)
        shifted = psnr_per_frame(path, offset, expected[1], 0, FADE)
        assert min(exact) >= 35, (index, exact)
        # One frame off shows while the outgoing picture still dominates: the first half.
        assert mean_psnr(shifted[: FADE // 2]) < 30, (index, exact, shifted)


def _xfade(outgoing: Path, tail: int, incoming: Path, out: Path) -> Path:
    """The fade drawn by hand: xfade of `outgoing` from frame `tail` with `incoming`'s start."""
    graph = (
        f"[0:v]trim=start_frame={tail}:end_frame={tail + FADE},setpts=PTS-STARTPTS[a];"
        f"[1:v]trim=end_frame={FADE},setpts=PTS-STARTPTS[b];"
        f"[a][b]xfade=transition=fade:duration={FADE / 30}:offset=0,format=yuv420p[v]"
    )
    run_ffmpeg(
        ["-y", "-v", "error", "-i", outgoing, "-i", incoming, "-filter_complex", graph,
         "-map", "[v]", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", out]
    )  # fmt: skip
    return out


def test_copied_stretches_are_the_intermediates_frames_bit_for_bit(spliced: Spliced) -> None:
    """Only the fades are encoded: elsewhere the cut's frames are the intermediates' own."""
    path = spliced.result.path
    segments = spliced.result.segments
    cut = _frame_hashes(path)
    intermediates = {
        p.name.split(".k")[1].removesuffix(".mov"): p for p in spliced.cache.rglob("*.k*.mov")
    }
    assert sorted(intermediates) == ["24", "6", "6-34"]
    bodies = [
        ("24", 0, 0, 24),
        ("6-34", 6, segments[1].start_frame + 6, 28),
        ("6", 6, segments[2].start_frame + 6, 24),
    ]
    for name, first, at, count in bodies:
        own = _frame_hashes(intermediates[name])
        assert cut[at : at + count] == own[first : first + count], name
    # ...and the fades are not: they are new pictures.
    fade = segments[1].start_frame
    assert all(h not in _frame_hashes(intermediates["24"]) for h in cut[fade + 1 : fade + FADE])


def test_the_picture_is_one_stream_with_one_codec_configuration(spliced: Spliced) -> None:
    path = spliced.result.path
    header = run_ffmpeg(["-i", path], check=False).stderr.decode()
    videos = re.findall(r"Stream #0:\d+.*: Video: (.*)", header)
    assert len(videos) == 1 and videos[0].startswith("h264 (High)") and "yuv420p" in videos[0]
    annexb = run_ffmpeg(
        ["-v", "error", "-i", path, "-map", "0:v", "-c", "copy", "-bsf:v", "h264_mp4toannexb",
         "-f", "h264", "-"]
    ).stdout  # fmt: skip
    units = [u for u in re.split(rb"\x00\x00\x01", annexb) if u]
    sps = {u.rstrip(b"\x00") for u in units if u[0] & 0x1F == 7}
    pps = {u.rstrip(b"\x00") for u in units if u[0] & 0x1F == 8}
    assert len(sps) == 1 and len(pps) == 1


def test_the_cut_plays_from_the_start_in_a_web_player(spliced: Spliced) -> None:
    """Players that stream a file need its index (moov) before the media (mdat)."""
    data = spliced.result.path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")
    # And a decoder held to the strictest standard conformance still reads it cleanly.
    strict = run_ffmpeg(
        ["-v", "error", "-strict", "strict", "-err_detect", "explode", "-i", spliced.result.path,
         "-f", "null", "-"],
        check=False,
    )  # fmt: skip
    assert strict.returncode == 0 and strict.stderr.decode().strip() == ""


def test_a_middle_segment_exactly_two_fades_long_is_all_fade(tmp_path: Path) -> None:
    clips = [
        render_marked_clip(tmp_path / f"{n}.mp4", mark=0.5, tone=600 + 200 * n).path
        for n in range(2)
    ]
    request = CutRequest(
        clips=(CutClip(clips[0]), CutClip(clips[1], seconds=2 * FADE / 30), CutClip(clips[0])),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
        transition=Transition("wipeleft", FADE / 30),
        end=Card("end", 0.5),
    )
    result = stitch_cut(request, tmp_path / "cache")
    assert result.frames == 30 + 2 * FADE + 30 + 15 - 3 * FADE
    assert scan_packets(result.path)["video"].packets == result.frames
    assert video_frame_count(result.path) == result.frames
    assert decode_errors(result.path) == ""


def test_fades_overlapping_inside_a_short_segment_are_still_drawn_exactly(tmp_path: Path) -> None:
    clips = [
        render_marked_clip(tmp_path / f"{n}.mp4", mark=0.5, tone=600 + 200 * n).path
        for n in range(2)
    ]
    request = CutRequest(
        clips=(CutClip(clips[0]), CutClip(clips[1], seconds=10 / 30), CutClip(clips[0])),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
        transition=Transition("fade", FADE / 30),
    )
    result = stitch_cut(request, tmp_path / "cache")
    assert result.frames == 30 + 10 + 30 - 2 * FADE
    assert video_frame_count(result.path) == result.frames
    assert decode_errors(result.path) == ""
    assert flash_frames(result.path) == [15, result.segments[2].start_frame + 15]


def _frame_hashes(path: Path) -> list[str]:
    """The md5 of every decoded frame, in order."""
    text = run_ffmpeg(["-v", "error", "-i", path, "-map", "0:v", "-f", "framemd5", "-"]).stdout
    return [
        line.rsplit(",", 1)[1].strip()
        for line in text.decode().splitlines()
        if line and not line.startswith("#")
    ]


def test_a_recut_encodes_only_the_fades_beside_the_changed_clip(tmp_path: Path) -> None:
    clips = [
        render_marked_clip(tmp_path / f"{n}.mp4", mark=0.5, tone=600 + 200 * n).path
        for n in range(4)
    ]
    request = CutRequest(
        clips=tuple(CutClip(c) for c in clips),
        house=HOUSE,
        out_path=tmp_path / "cut.mp4",
        transition=Transition("fade", FADE / 30),
    )
    cache = tmp_path / "cache"
    first = stitch_cut(request, cache)
    blends = set((cache / "blends").rglob("*.mp4"))
    assert len(blends) == 3
    render_marked_clip(clips[3], mark=0.2, tone=1500)  # the last clip: one fade beside it
    second = stitch_cut(request, cache)
    assert second.reused_intermediates == 3
    new = set((cache / "blends").rglob("*.mp4")) - blends
    assert len(new) == 1
    assert video_frame_count(second.path) == second.frames == first.frames
    assert decode_errors(second.path) == ""
    starts = [s.start_frame for s in second.segments]
    assert flash_frames(second.path) == [15, starts[1] + 15, starts[2] + 15, starts[3] + 6]
