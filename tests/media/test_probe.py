"""Probing with ffmpeg alone: header parsing, packet scans and output verification."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import (
    StreamTiming,
    VideoStream,
    check_timing,
    frame_rate_from_text,
    parse_framecrc,
    parse_probe_output,
    probe,
    scan_packets,
    verify_video,
)

MakeClip = Callable[..., Path]


def ffmpeg_header(path: Path) -> str:
    """What `ffmpeg -i` prints about a file, captured for the pure parser."""
    return run_ffmpeg(["-i", path], check=False).stderr.decode()


def test_header_of_an_h264_clip_with_stereo_audio(make_clip: MakeClip) -> None:
    clip = make_clip("plain.mp4", size="160x90", fps="24", seconds=2)
    info = parse_probe_output(ffmpeg_header(clip), clip)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.streams == ("video", "audio")
    assert info.video == VideoStream(
        width=160, height=90, sar=Fraction(1), fps=Fraction(24), codec="h264",
        pix_fmt="yuv420p", rotation=0,
    )  # fmt: skip
    assert info.audio is not None
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (48000, 2, "aac")


def test_anamorphic_clip_displays_wider_than_its_pixels(make_clip: MakeClip) -> None:
    clip = make_clip("ana.mp4", size="120x90", fps="30000/1001", sar="4/3", audio_rate=None)
    video = probe(clip).video
    assert video is not None
    assert video.sar == Fraction(4, 3)
    assert video.fps == Fraction(30000, 1001)
    assert (video.display_width, video.display_height) == (160, 90)


def test_rotated_clip_reports_rotation_and_portrait_display_size(make_clip: MakeClip) -> None:
    clip = make_clip("rot.mp4", size="160x90", rotation=90)
    video = probe(clip).video
    assert video is not None
    assert (video.width, video.height, video.rotation) == (160, 90, 90)
    assert (video.display_width, video.display_height) == (90, 160)


def test_clockwise_rotate_tag_of_older_files_reads_as_counter_clockwise_degrees() -> None:
    text = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n"
        "  Duration: 00:00:05.00, start: 0.000000, bitrate: 100 kb/s\n"
        "  Stream #0:0(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), "
        "1920x1080 [SAR 1:1 DAR 16:9], 90 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)\n"
        "    Metadata:\n"
        "      rotate          : 90\n"
    )
    video = parse_probe_output(text, Path("x.mp4")).video
    assert video is not None
    assert (video.rotation, video.pix_fmt, video.fps) == (270, "yuv420p", Fraction(30000, 1001))
    assert (video.display_width, video.display_height) == (1080, 1920)


def test_mono_audio_at_44100_hz_without_video(make_clip: MakeClip) -> None:
    clip = make_clip("mono.m4a", video=False, audio_rate=44100, audio_channels=1)
    info = probe(clip)
    assert info.video is None
    assert info.streams == ("audio",)
    assert info.audio is not None
    assert (info.audio.sample_rate, info.audio.channels) == (44100, 1)


def test_clip_without_audio_has_no_audio_stream(make_clip: MakeClip) -> None:
    info = probe(make_clip("silent.mp4", audio_rate=None))
    assert info.audio is None
    assert info.streams == ("video",)


def test_still_image_has_a_size_and_no_duration(tmp_path: Path) -> None:
    image = tmp_path / "still.png"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", image])
    info = probe(image)
    assert info.duration == 0.0
    assert info.video is not None
    assert (info.video.width, info.video.height) == (64, 48)


@pytest.mark.parametrize("content", [b"", b"not a video at all\n", bytes(range(256)) * 40])
def test_garbage_file_is_a_media_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(content)
    with pytest.raises(MediaError, match=r"garbage\.mp4: not a media file"):
        probe(garbage)


def test_missing_file_is_a_media_error_that_says_so(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="No such file"):
        probe(tmp_path / "absent.mp4")


@pytest.mark.parametrize(
    ("printed", "exact"),
    [
        (24.0, Fraction(24)),
        (25.0, Fraction(25)),
        (23.98, Fraction(24000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (12.5, Fraction(25, 2)),
    ],
)
def test_rounded_frame_rates_map_back_to_exact_fractions(printed: float, exact: Fraction) -> None:
    assert frame_rate_from_text(printed) == exact


def test_packet_scan_counts_frames_and_finds_stream_ends(make_clip: MakeClip) -> None:
    clip = make_clip("two.mp4", fps="24", seconds=2)
    timings = scan_packets(clip)
    assert timings["video"].packets == 48
    assert timings["video"].start == pytest.approx(0.0)
    assert timings["video"].end == pytest.approx(2.0)
    # AAC priming starts audio ~21 ms early; it still ends with the video.
    assert timings["audio"].start < 0
    assert timings["audio"].end == pytest.approx(2.0, abs=1 / 24)


def test_framecrc_parser_uses_each_streams_timebase_and_presentation_order() -> None:
    text = (
        "#tb 0: 1/12288\n#media_type 0: video\n#tb 1: 1/48000\n#media_type 1: audio\n"
        "0,      -1024,          0,      512,     4468, 0xe5923193\n"
        "0,       -512,       1024,      512,     1904, 0x1796ad7d, F=0x0\n"
        "1,      -1024,      -1024,     1024,      286, 0xac9088cd\n"
        "0,          0,        512,      512,     1050, 0xd1390b37, F=0x0\n"
        "1,          0,          0,      976,      363, 0xa31eb49f\n"
    )
    timings = parse_framecrc(text)
    assert timings["video"] == StreamTiming(packets=3, start=0.0, end=1536 / 12288)
    assert timings["audio"] == StreamTiming(packets=2, start=-1024 / 48000, end=976 / 48000)


def test_verify_accepts_a_whole_clip_and_returns_its_header(make_clip: MakeClip) -> None:
    clip = make_clip("ok.mp4", size="160x90", seconds=2)
    info = verify_video(clip, duration=2, width=160, height=90, audio=True)
    assert info.video is not None and info.video.fps == 24


def test_verify_catches_a_truncated_download_whose_header_claims_full_length(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    clip = make_clip("whole.mp4", seconds=2, faststart=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    assert probe(cut).duration == pytest.approx(2.0, abs=0.05)
    with pytest.raises(MediaError, match="truncated"):
        verify_video(cut, duration=2)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"duration": 3}, "expected 72"),
        ({"duration": 2, "width": 320}, "frame size is 160x90, expected 320x"),
        ({"duration": 2, "height": 180}, "expected \\*x180"),
        ({"duration": 2, "audio": False}, "expected no audio"),
    ],
)
def test_verify_explains_what_differs(
    make_clip: MakeClip, kwargs: dict[str, int], reason: str
) -> None:
    clip = make_clip("clip.mp4", size="160x90", seconds=2)
    with pytest.raises(MediaError, match=reason):
        verify_video(clip, **kwargs)  # type: ignore[arg-type]


def test_verify_rejects_missing_audio_when_audio_was_asked(make_clip: MakeClip) -> None:
    clip = make_clip("silent.mp4", seconds=1, audio_rate=None)
    with pytest.raises(MediaError, match="expected one audio stream, found video"):
        verify_video(clip, duration=1, audio=True)


def test_verify_rejects_audio_only_files(make_clip: MakeClip) -> None:
    clip = make_clip("sound.m4a", video=False)
    with pytest.raises(MediaError, match="has no video stream"):
        verify_video(clip, duration=1)


def test_audio_ending_early_is_reported_in_seconds() -> None:
    timings = {
        "video": StreamTiming(packets=120, start=0.0, end=5.0),
        "audio": StreamTiming(packets=200, start=-0.021, end=4.2),
    }
    problems = check_timing(timings, fps=Fraction(24), duration=5, has_audio=True)
    assert problems == ["audio ends at 4.200 s but video at 5.000 s (more than 1 frame(s) apart)"]
