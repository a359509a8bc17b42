"""A rough cut of six mixed clips: exact length, in sync, each segment its own clip, clean."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from kling_pipe.media.cards import Card
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, CutResult, Transition, stitch_cut
from tests.media.stitching.conftest import MarkedClip
from tests.media.stitching.measure import (
    beep_onsets,
    decode_errors,
    flash_frames,
    house_reference,
    integrated_loudness,
    mean_psnr,
    psnr_per_frame,
    video_frame_count,
)

HOUSE = HouseFormat(320, 180)
FRAME = 1 / 30


@dataclass(frozen=True)
class Made:
    """A stitched cut and the clips it was made from."""

    result: CutResult
    clips: list[MarkedClip]
    references: list[Path]


def _references(clips: list[MarkedClip], result: CutResult, folder: Path) -> list[Path]:
    clip_segments = [s for s in result.segments if s.kind == "clip"]
    return [
        house_reference(
            clip.path,
            folder / f"ref-{clip.path.stem}.mkv",
            width=HOUSE.width,
            height=HOUSE.height,
            fps=HOUSE.fps,
            frames=segment.frames,
        )
        for clip, segment in zip(clips, clip_segments, strict=True)
    ]


@pytest.fixture(scope="module")
def hard_cut(mixed_clips: list[MarkedClip], clip_dir: Path) -> Made:
    request = CutRequest(
        clips=tuple(CutClip(c.path, label=c.path.stem) for c in mixed_clips),
        house=HOUSE,
        out_path=clip_dir / "cuts" / "hard.mp4",
        title=Card("Spring launch: 100% 'new'", 0.5, background="#102030"),
        end=Card("kettle.example", 0.4),
    )
    result = stitch_cut(request, clip_dir / "cache")
    return Made(result, mixed_clips, _references(mixed_clips, result, clip_dir))


@pytest.fixture(scope="module")
def fade_cut(mixed_clips: list[MarkedClip], clip_dir: Path) -> Made:
    request = CutRequest(
        clips=tuple(CutClip(c.path, label=c.path.stem) for c in mixed_clips),
        house=HOUSE,
        out_path=clip_dir / "cuts" / "fade.mp4",
        transition=Transition("fade", 0.2),
        loudness_lufs=-16.0,
    )
    result = stitch_cut(request, clip_dir / "cache")
    return Made(result, mixed_clips, _references(mixed_clips, result, clip_dir))


@pytest.mark.parametrize("name", ["hard_cut", "fade_cut"])
def test_cut_has_exactly_the_planned_frames_and_audio_ends_with_the_video(
    name: str, request: pytest.FixtureRequest
) -> None:
    made: Made = request.getfixturevalue(name)
    result = made.result
    lengths = [round(c.seconds * 30) for c in made.clips]
    cards = 15 + 12 if name == "hard_cut" else 0
    overlap = 0 if name == "hard_cut" else 6 * (len(lengths) - 1)
    assert result.frames == sum(lengths) + cards - overlap
    assert result.seconds == pytest.approx(result.frames / 30)
    timing = scan_packets(result.path)
    assert timing["video"].packets == result.frames
    assert video_frame_count(result.path) == result.frames
    assert timing["video"].end == pytest.approx(result.seconds, abs=1e-6)
    assert abs(timing["audio"].end - timing["video"].end) < FRAME
    info = probe(result.path)
    assert (info.video and info.video.width, info.video and info.video.height) == (320, 180)
    assert info.video is not None and info.video.sar == 1 and info.video.pix_fmt == "yuv420p"
    assert info.audio is not None and info.audio.sample_rate == 48000 and info.audio.channels == 2
    assert info.streams == ("video", "audio")


@pytest.mark.parametrize("name", ["hard_cut", "fade_cut"])
def test_every_segments_flash_is_where_planned_and_its_beep_within_a_frame(
    name: str, request: pytest.FixtureRequest
) -> None:
    made: Made = request.getfixturevalue(name)
    segments = [s for s in made.result.segments if s.kind == "clip"]
    expected = [
        s.start_frame + round(c.mark * 30) for s, c in zip(segments, made.clips, strict=True)
    ]
    flashes = flash_frames(made.result.path)
    assert len(flashes) == len(expected)
    assert all(abs(f - e) <= 1 for f, e in zip(flashes, expected, strict=True)), (flashes, expected)
    beeps = beep_onsets(made.result.path)
    audible = [f for f, c in zip(flashes, made.clips, strict=True) if c.has_audio]
    assert len(beeps) == len(audible), "the silent clip must stay silent, the others beep once"
    for flash, beep in zip(audible, beeps, strict=True):
        assert abs(beep - flash * FRAME) < FRAME, (flash, beep)


def test_each_segment_matches_its_own_clip_and_not_its_neighbour(hard_cut: Made) -> None:
    segments = [s for s in hard_cut.result.segments if s.kind == "clip"]
    for index, segment in enumerate(segments):
        own = psnr_per_frame(
            hard_cut.result.path, segment.start_frame, hard_cut.references[index], 0, 30
        )
        neighbour = hard_cut.references[(index + 1) % len(segments)]
        other = psnr_per_frame(hard_cut.result.path, segment.start_frame, neighbour, 0, 30)
        assert len(own) == 30 and len(other) == 30
        assert mean_psnr(own) >= 40, (segment.label, mean_psnr(own))
        assert mean_psnr(other) < 25, (segment.label, mean_psnr(other))


def test_fades_sit_exactly_at_the_offsets_the_frame_counts_give(fade_cut: Made) -> None:
    segments = [s for s in fade_cut.result.segments if s.kind == "clip"]
    path = fade_cut.result.path
    for index in range(len(segments) - 1):
        offset = segments[index + 1].start_frame
        outgoing, incoming = fade_cut.references[index], fade_cut.references[index + 1]
        last_out = segments[index].frames - 1
        # The frame before the offset is all outgoing clip; the fade's middle is neither clip;
        # the first frame after the 6-frame fade is all incoming clip.
        before = psnr_per_frame(path, offset - 1, outgoing, last_out - 6, 1)
        middle_out = psnr_per_frame(path, offset + 3, outgoing, last_out - 2, 1)
        middle_in = psnr_per_frame(path, offset + 3, incoming, 3, 1)
        after = psnr_per_frame(path, offset + 6, incoming, 6, 1)
        assert before[0] >= 35 and after[0] >= 35, (index, before, after)
        assert middle_out[0] < 30 and middle_in[0] < 30, (index, middle_out, middle_in)


def test_segments_outside_fades_still_match_their_clip(fade_cut: Made) -> None:
    segments = [s for s in fade_cut.result.segments if s.kind == "clip"]
    for index, segment in enumerate(segments):
        own = psnr_per_frame(
            fade_cut.result.path, segment.start_frame + 6, fade_cut.references[index], 6, 18
        )
        assert mean_psnr(own) >= 40, (segment.label, mean_psnr(own))


def test_loudness_lands_on_the_target_in_linear_mode(fade_cut: Made) -> None:
    report = fade_cut.result.loudness
    assert report is not None and report.normalization_type == "linear"
    assert report.measured < -20  # the fixtures are quiet: the gain really did something
    assert integrated_loudness(fade_cut.result.path) == pytest.approx(-16.0, abs=0.5)


@pytest.mark.parametrize("name", ["hard_cut", "fade_cut"])
def test_ffmpeg_decodes_the_cut_without_a_single_message(
    name: str, request: pytest.FixtureRequest
) -> None:
    made: Made = request.getfixturevalue(name)
    assert decode_errors(made.result.path) == ""


def test_title_and_end_cards_frame_the_clips(hard_cut: Made) -> None:
    kinds = [(s.kind, s.frames) for s in hard_cut.result.segments]
    assert kinds[0] == ("title", 15) and kinds[-1] == ("end", 12)
    assert [s.start_frame for s in hard_cut.result.segments][1] == 15
    # The title card is its flat background with text, not a clip: far from the first clip.
    first = psnr_per_frame(hard_cut.result.path, 0, hard_cut.references[0], 0, 15)
    assert mean_psnr(first) < 20
