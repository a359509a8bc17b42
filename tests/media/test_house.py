"""House format arithmetic, timelines, captions, loudnorm reports, graphs: pure, no ffmpeg."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from kling_pipe.errors import InputError, MediaError
from kling_pipe.media import loudness
from kling_pipe.media.captions import Caption, layout_captions, srt_text
from kling_pipe.media.house import (
    HouseFormat,
    frame_count,
    house_format_for_ratio,
    plan_timeline,
    sample_count,
)
from kling_pipe.media.normalise import Segment, normalise_args


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (1920, 1080)), ("9:16", (1080, 1920)), ("1:1", (1080, 1080))]
)
def test_each_kling_ratio_has_its_default_size(ratio: str, size: tuple[int, int]) -> None:
    house = house_format_for_ratio(ratio)
    assert (house.width, house.height) == size
    assert house.fps == 30 and house.sample_rate == 48000 and house.fit == "letterbox"


def test_an_unknown_ratio_names_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"'4:3'.*16:9, 9:16, 1:1"):
        house_format_for_ratio("4:3")


def test_an_odd_frame_size_is_refused_because_yuv420p_needs_even() -> None:
    with pytest.raises(InputError, match="must be positive and even"):
        HouseFormat(1919, 1080)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [(5.0, Fraction(30), 150), (5.0, Fraction(24), 120), (5.005, Fraction(30000, 1001), 150)],
)
def test_frame_count_is_the_nearest_whole_frame(seconds: float, fps: Fraction, frames: int) -> None:
    assert frame_count(seconds, fps) == frames


def test_samples_last_exactly_as_long_as_the_frames() -> None:
    assert sample_count(150, Fraction(30), 48000) == 240000
    assert sample_count(1, Fraction(24), 48000) == 2000
    assert sample_count(150, Fraction(30000, 1001), 48000) == 240240


def test_hard_cuts_lay_segments_end_to_end() -> None:
    timeline = plan_timeline([150, 120, 300])
    assert timeline.starts == (0, 150, 270)
    assert timeline.total_frames == 570
    assert timeline.transition_frames == 0


def test_crossfade_offsets_are_accumulated_length_minus_the_transition() -> None:
    # Six 5 s clips at 30 fps with 0.5 s (15-frame) fades, as in the stitching notes.
    timeline = plan_timeline([150] * 6, 15)
    assert timeline.offsets == (135, 270, 405, 540, 675)
    assert timeline.total_frames == 6 * 150 - 5 * 15


def test_a_single_segment_has_no_transition() -> None:
    timeline = plan_timeline([10], 15)
    assert timeline.total_frames == 10 and timeline.transition_frames == 0


def test_a_segment_no_longer_than_the_transition_is_refused() -> None:
    with pytest.raises(InputError, match="segment 2 lasts 15 frames"):
        plan_timeline([150, 15, 150], 15)


def test_captions_spread_over_their_shot_and_stay_inside_it() -> None:
    captions = layout_captions(["Fresh from the kettle.", "Try it!"], 5.0, offset=10.0)
    assert [c.text for c in captions] == ["Fresh from the kettle.", "Try it!"]
    assert 10.0 <= captions[0].start < captions[0].end <= captions[1].start < captions[1].end
    assert captions[1].end <= 15.0


def test_srt_numbers_cues_in_time_order_with_comma_milliseconds() -> None:
    text = srt_text([Caption("second", 65.5, 67.25), Caption("first", 1.0, 2.0)])
    assert text == (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n2\n00:01:05,500 --> 00:01:07,250\nsecond\n"
    )


FIRST_PASS = """[Parsed_loudnorm_0 @ 0x55]
{
	"input_i" : "-26.27",
	"input_tp" : "-17.80",
	"input_lra" : "0.00",
	"input_thresh" : "-36.27",
	"output_i" : "-16.51",
	"output_tp" : "-7.61",
	"output_lra" : "0.00",
	"output_thresh" : "-26.51",
	"normalization_type" : "dynamic",
	"target_offset" : "0.51"
}
"""


def test_first_pass_measurement_feeds_a_linear_second_pass() -> None:
    measured = loudness.parse_measurement(FIRST_PASS)
    assert measured.integrated == -26.27 and measured.offset == 0.51
    options = loudness.normalise_options(-16.0, measured)
    assert options["linear"] == "true" and options["measured_I"] == "-26.27"
    assert options["I"] == "-16" and float(options["LRA"]) >= measured.lra


def test_a_second_pass_that_misses_the_target_is_an_error_saying_by_how_much() -> None:
    measured = loudness.parse_measurement(FIRST_PASS)
    with pytest.raises(MediaError, match=r"landed at -16\.5 LUFS, not -14"):
        loudness.parse_outcome(FIRST_PASS, -14.0, measured)
    report = loudness.parse_outcome(FIRST_PASS, -16.3, measured)
    assert report.normalization_type == "dynamic" and report.output == -16.51


def test_silence_has_no_loudness_to_normalise() -> None:
    with pytest.raises(MediaError, match="silent"):
        loudness.parse_measurement(FIRST_PASS.replace('"-26.27"', '"-inf"'))


def test_loudness_targets_outside_loudnorms_range_are_refused() -> None:
    with pytest.raises(InputError, match="between -70 and -5"):
        loudness.check_target(0.0)


def test_a_clip_is_trimmed_to_exact_frames_and_samples_and_squared() -> None:
    segment = Segment("hero", frames=150, clip=Path("hero.mp4"), clip_hash="x", has_audio=True)
    args = normalise_args(segment, HouseFormat(1920, 1080), Path("out.mov"))
    graph = args[args.index("-filter_complex") + 1]
    assert "trim=end_frame=150" in graph and "atrim=end_sample=240000" in graph
    assert "scale=trunc(iw*sar/2)*2:ih" in graph and "pad=1920:1080" in graph
    assert "anullsrc" not in " ".join(args)


def test_a_silent_clip_gets_exactly_as_much_silence() -> None:
    segment = Segment("pour", frames=120, clip=Path("pour.mp4"), clip_hash="x", has_audio=False)
    args = normalise_args(segment, HouseFormat(1080, 1080, fit="crop"), Path("out.mov"))
    assert "anullsrc=r=48000:cl=stereo" in args
    graph = args[args.index("-filter_complex") + 1]
    assert "atrim=end_sample=192000" in graph and "crop=1080:1080" in graph


def test_an_intermediate_key_changes_with_clip_format_length_and_captions() -> None:
    house = HouseFormat(320, 180)
    base = Segment("a", frames=30, clip=Path("a.mp4"), clip_hash="h1", has_audio=True)
    keys = {
        base.cache_key(house),
        base.cache_key(HouseFormat(180, 320)),
        Segment("a", 31, Path("a.mp4"), "h1", True).cache_key(house),
        Segment("a", 30, Path("a.mp4"), "h2", True).cache_key(house),
        Segment("a", 30, Path("a.mp4"), "h1", True, burned=(Caption("hi", 0, 1),)).cache_key(house),
    }
    assert len(keys) == 5
    # The label and the file's location are not part of what is rendered.
    assert Segment("b", 30, Path("elsewhere.mp4"), "h1", True).cache_key(house) == (
        base.cache_key(house)
    )
