"""The preview renderer, checked as a viewer would: shape, length, sound, look and motion."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kling_pipe.canonical import file_sha256, sha256_hex
from kling_pipe.dialogue import speaking_seconds
from kling_pipe.errors import InputError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.preview import (
    CJK_FONT_FILE,
    FONT_FILE,
    camera_motion,
    escape_filter_value,
    frame_size,
    layout_tones,
    plan_preview,
    render_preview,
    wrap_text,
)
from kling_pipe.media.probe import probe, scan_packets, verify_video

KEY_A = sha256_hex("job a")
KEY_B = sha256_hex("job b")
SMALL = 90
"""Short side for rendered tests: tiny frames keep the suite fast."""


def kling_inputs(**overrides: Any) -> dict[str, Any]:
    """Kling v2.6-style inputs after defaults."""
    inputs: dict[str, Any] = {
        "prompt": "A lighthouse at dusk, waves rolling in",
        "negative_prompt": "",
        "aspect_ratio": "16:9",
        "duration": 1,
        "generate_audio": False,
    }
    inputs.update(overrides)
    return inputs


def frame_png(video: Path, index: int, out: Path, then: str = "null") -> Path:
    """Decode frame `index` of `video` to a PNG, through the filter `then`."""
    chain = f"select=eq(n\\,{index}),{then}"
    run_ffmpeg(["-y", "-i", video, "-vf", chain, "-frames:v", "1", out])
    return out


def psnr(first: Path, second: Path) -> float:
    """Average PSNR in dB between two pictures or videos of one size (inf when identical)."""
    text = run_ffmpeg(
        ["-i", first, "-i", second, "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"]
    ).stderr.decode()
    value = re.findall(r"average:(\S+)", text)[-1]
    return float("inf") if value == "inf" else float(value)


def silences(video: Path) -> list[tuple[float, float]]:
    """(start, end) of every stretch quieter than -35 dB lasting 0.1 s or more."""
    text = run_ffmpeg(
        ["-i", video, "-af", "silencedetect=n=-35dB:d=0.1", "-f", "null", "-"]
    ).stderr.decode()
    starts = [float(s) for s in re.findall(r"silence_start: (-?[\d.]+)", text)]
    ends = [float(e) for e in re.findall(r"silence_end: (-?[\d.]+)", text)]
    ends += [probe(video).duration] * (len(starts) - len(ends))
    return list(zip(starts, ends, strict=True))


# Pure planning


@pytest.mark.parametrize(
    ("prompt", "motion"),
    [
        ("Slow push-in on the barista's face", "push_in"),
        ("The camera zooms in on the logo", "push_in"),
        ("Dolly in through the door", "push_in"),
        ("Zoom out to reveal the valley", "pull_out"),
        ("camera pulls back from the crowd", "pull_out"),
        ("Camera pans left across the skyline", "pan_left"),
        ("pan to the right, following the runner", "pan_right"),
        ("Tilt up from the shoes to the face", "tilt_up"),
        ("The camera tilts down to the street", "tilt_down"),
        ("A still life of lemons on a table", "static"),
        ("Panorama of a pantry, a tilted frame", "static"),
        ("It pans left, then zooms in on the door", "pan_left"),
    ],
)
def test_camera_direction_in_the_prompt_sets_the_motion(prompt: str, motion: str) -> None:
    assert camera_motion(prompt) == motion


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (640, 360)), ("9:16", (360, 640)), ("1:1", (360, 360))]
)
def test_frame_size_puts_the_height_on_the_short_side(ratio: str, size: tuple[int, int]) -> None:
    assert frame_size(ratio, 360) == size


def test_start_image_shape_overrides_the_aspect_ratio_with_even_sides() -> None:
    assert frame_size("16:9", 360, image_size=(300, 400)) == (360, 480)
    assert frame_size("16:9", 91, image_size=(333, 100)) == (304, 92)


def test_unreadable_aspect_ratio_is_an_input_error() -> None:
    with pytest.raises(InputError, match="aspect_ratio must look like 16:9"):
        frame_size("wide", 360)


@pytest.mark.parametrize("duration", [0, -5, "five"])
def test_unusable_duration_is_an_input_error(duration: object) -> None:
    with pytest.raises(InputError, match="duration"):
        plan_preview(kling_inputs(duration=duration), KEY_A)


def test_plan_has_exactly_duration_times_24_frames() -> None:
    plan = plan_preview(kling_inputs(duration=10), KEY_A)
    assert (plan.frames, plan.fps, plan.duration) == (240, 24, 10.0)


def test_plan_is_a_function_of_inputs_and_key() -> None:
    assert plan_preview(kling_inputs(), KEY_A) == plan_preview(kling_inputs(), KEY_A)
    assert (
        plan_preview(kling_inputs(), KEY_A).colours != plan_preview(kling_inputs(), KEY_B).colours
    )


def test_plan_shows_the_keys_first_eight_hex_characters() -> None:
    assert plan_preview(kling_inputs(), KEY_A).label == KEY_A[:8]


def test_japanese_prompt_uses_the_font_with_cjk_glyphs() -> None:
    assert plan_preview(kling_inputs(prompt="海辺の灯台"), KEY_A).font_file == CJK_FONT_FILE
    assert plan_preview(kling_inputs(prompt="A lighthouse"), KEY_A).font_file == FONT_FILE
    assert FONT_FILE.is_file() and CJK_FONT_FILE.is_file()


def test_tones_follow_quotes_in_order_proportional_to_their_length() -> None:
    lines = ["Hi", "We open at nine every single morning, come early"]
    spans = layout_tones(lines, 5.0)
    assert [s.line for s in spans] == lines
    assert 0 < spans[0].start < spans[0].end < spans[1].start < spans[1].end < 5.0
    lengths = [s.end - s.start for s in spans]
    weights = [max(speaking_seconds(line), 0.3) for line in lines]
    assert lengths[1] / lengths[0] == pytest.approx(weights[1] / weights[0], rel=0.02)


def test_tones_are_squeezed_into_a_clip_too_short_for_the_lines() -> None:
    spans = layout_tones(["one two three four five six seven eight"] * 3, 2.0)
    assert spans[0].start > 0 and spans[-1].end < 2.0
    assert all(a.end < b.start for a, b in itertools.pairwise(spans))


def test_no_tones_without_generate_audio_even_with_quotes() -> None:
    plan = plan_preview(kling_inputs(prompt='She says "hello"', generate_audio=False), KEY_A)
    assert plan.tones == () and not plan.audio


def test_plan_lays_out_every_quote_style_when_audio_is_on() -> None:
    prompt = 'He says "Hello" and she says “Bye” then 「おはよう」'
    plan = plan_preview(kling_inputs(prompt=prompt, generate_audio=True, duration=5), KEY_A)
    assert [t.line for t in plan.tones] == ["Hello", "Bye", "おはよう"]


def test_wrap_keeps_lines_within_the_width_and_marks_cut_text() -> None:
    text = "word " * 60
    lines = wrap_text(text, 20, 3)
    assert len(lines) == 3
    assert all(len(line) <= 20 for line in lines)
    assert lines[-1].endswith("…")


def test_wrap_breaks_japanese_between_characters_and_keeps_spaces_around_it() -> None:
    lines = wrap_text("She says 「おはようございます」 loudly", 14, 5)
    assert lines == ["She says 「お", "はようございま", "す」 loudly"]


@given(
    text=st.text(alphabet=st.sampled_from('ab cd%:\\"おは「」한'), max_size=80),
    columns=st.integers(min_value=2, max_value=30),
)
def test_wrapped_lines_fit_and_keep_every_character_when_nothing_is_cut(
    text: str, columns: int
) -> None:
    lines = wrap_text(text, columns, max_lines=1000)
    cells = [sum(2 if c in "おは「」한" else 1 for c in line) for line in lines]
    assert all(width <= columns for width in cells)
    assert "".join("".join(lines).split()) == "".join(text.split())


# Rendering, checked on the output


def test_filter_escaping_survives_paths_with_quotes_colons_and_brackets(tmp_path: Path) -> None:
    odd = tmp_path / "it's: [odd], dir; 100%"
    odd.mkdir()
    text_file = odd / "text's.txt"
    text_file.write_text("x", "utf-8")
    out = tmp_path / "frame.png"
    graph = (
        f"color=c=black:s=32x32,drawtext=fontfile={escape_filter_value(str(FONT_FILE))}"
        f":textfile={escape_filter_value(str(text_file))}:fontcolor=white:fontsize=24"
    )
    run_ffmpeg(["-y", "-filter_complex", graph, "-frames:v", "1", out])
    assert out.is_file()


@pytest.mark.parametrize(
    ("ratio", "size"), [("16:9", (160, 90)), ("9:16", (90, 160)), ("1:1", (90, 90))]
)
def test_rendered_frame_size_follows_the_aspect_ratio(
    tmp_path: Path, ratio: str, size: tuple[int, int]
) -> None:
    out = render_preview(kling_inputs(aspect_ratio=ratio), KEY_A, tmp_path / "p.mp4", height=SMALL)
    info = verify_video(out, duration=1, width=size[0], height=size[1], audio=False)
    assert info.video is not None
    assert (info.video.codec, info.video.pix_fmt) == ("h264", "yuv420p")


def test_render_has_exactly_duration_times_24_frames_and_no_audio_unless_asked(
    tmp_path: Path,
) -> None:
    out = render_preview(kling_inputs(duration=2), KEY_A, tmp_path / "p.mp4", height=SMALL)
    timings = scan_packets(out)
    assert timings["video"].packets == 48
    assert timings["video"].end == pytest.approx(2.0)
    assert "audio" not in timings
    assert probe(out).audio is None


def test_audio_when_asked_is_48k_stereo_aac_as_long_as_the_video(tmp_path: Path) -> None:
    inputs = kling_inputs(duration=2, generate_audio=True)
    out = render_preview(inputs, KEY_A, tmp_path / "p.mp4", height=SMALL)
    info = verify_video(out, duration=2, audio=True)
    assert info.audio is not None
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (48000, 2, "aac")
    timings = scan_packets(out)
    assert timings["audio"].end == pytest.approx(timings["video"].end, abs=1 / 24)


def test_same_inputs_and_key_render_byte_identical_files(tmp_path: Path) -> None:
    inputs = kling_inputs(prompt='Push in. "Hi there"', generate_audio=True)
    first = render_preview(inputs, KEY_A, tmp_path / "one.mp4", height=SMALL)
    second = render_preview(inputs, KEY_A, tmp_path / "two.mp4", height=SMALL)
    assert file_sha256(first) == file_sha256(second)


def test_different_keys_look_clearly_different(tmp_path: Path) -> None:
    first = render_preview(kling_inputs(), KEY_A, tmp_path / "a.mp4", height=SMALL)
    second = render_preview(kling_inputs(), KEY_B, tmp_path / "b.mp4", height=SMALL)
    assert psnr(first, second) < 20


def test_awkward_prompt_text_renders_on_screen(tmp_path: Path) -> None:
    awkward = 'Sign reads "50% off: today\'s deal" \\o/ {x} [y]; 「いらっしゃいませ」 %{pts}'
    with_text = render_preview(
        kling_inputs(prompt=awkward), KEY_A, tmp_path / "text.mp4", height=SMALL
    )
    without = render_preview(kling_inputs(prompt=""), KEY_A, tmp_path / "blank.mp4", height=SMALL)
    verify_video(with_text, duration=1, audio=False)
    assert psnr(with_text, without) < 30


def test_start_image_sets_the_frame_shape_and_shows_as_background(tmp_path: Path) -> None:
    image = tmp_path / "portrait.png"
    ramps = "color=s=120x160,format=rgb24,geq=r='2*X':g='1.5*Y':b='255-2*X'"
    run_ffmpeg(["-f", "lavfi", "-i", ramps, "-frames:v", "1", image])
    inputs = kling_inputs(prompt="", aspect_ratio="16:9", start_image="https://x/portrait.png")
    out = render_preview(inputs, KEY_A, tmp_path / "p.mp4", height=SMALL, start_image=image)
    verify_video(out, duration=1, width=90, height=120, audio=False)
    expected = tmp_path / "expected.png"
    # The frame is the centre of the image scaled to cover a canvas 1.25x the frame.
    # Compared above the key label in the bottom corner.
    run_ffmpeg(["-i", image, "-vf", "scale=112:150,crop=90:120,crop=90:90:0:0", expected])
    first = frame_png(out, 0, tmp_path / "first.png", then="crop=90:90:0:0")
    assert psnr(first, expected) > 30


def test_push_in_moves_the_picture_and_a_static_shot_does_not(tmp_path: Path) -> None:
    moving = render_preview(
        kling_inputs(prompt="Slow push-in"), KEY_A, tmp_path / "m.mp4", height=SMALL
    )
    still = render_preview(kling_inputs(prompt="Still"), KEY_A, tmp_path / "s.mp4", height=SMALL)
    moved = psnr(
        frame_png(moving, 0, tmp_path / "m0.png"), frame_png(moving, 23, tmp_path / "m1.png")
    )
    held = psnr(frame_png(still, 0, tmp_path / "s0.png"), frame_png(still, 23, tmp_path / "s1.png"))
    assert moved < 30
    assert held > 45


def test_dialogue_tone_sounds_where_the_quote_is_laid_out(tmp_path: Path) -> None:
    inputs = kling_inputs(
        prompt='She says "Good morning everyone"', duration=3, generate_audio=True
    )
    (tone,) = plan_preview(inputs, KEY_A).tones
    out = render_preview(inputs, KEY_A, tmp_path / "p.mp4", height=SMALL)
    quiet = silences(out)
    assert len(quiet) == 2
    (_, before_end), (after_start, after_end) = quiet
    assert before_end == pytest.approx(tone.start, abs=1 / 24)
    assert after_start == pytest.approx(tone.end, abs=1 / 24)
    assert after_end == pytest.approx(3.0, abs=1 / 24)


def test_audio_without_dialogue_is_quiet_room_tone_not_digital_silence(tmp_path: Path) -> None:
    inputs = kling_inputs(prompt="A quiet beach", duration=1, generate_audio=True)
    out = render_preview(inputs, KEY_A, tmp_path / "p.mp4", height=SMALL)
    text = run_ffmpeg(["-i", out, "-af", "astats", "-f", "null", "-"]).stderr.decode()
    peak = float(re.findall(r"Peak level dB: (-?[\d.]+|-inf)", text)[-1])
    assert -70 < peak < -30


def test_render_leaves_only_the_finished_file_behind(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    render_preview(kling_inputs(), KEY_A, out_dir / "clip.mp4", height=SMALL)
    assert [p.name for p in out_dir.iterdir()] == ["clip.mp4"]
