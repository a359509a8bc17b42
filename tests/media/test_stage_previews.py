"""Previews of the other stages, checked as a viewer would: a storyboard cuts exactly at its
shots' durations; a lip-sync is the input clip with the line on screen and a tone; an image
model's preview is a still."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kling_pipe.canonical import sha256_hex
from kling_pipe.errors import InputError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.preview import (
    FPS,
    plan_preview,
    render_lip_sync_preview,
    render_model_preview,
    render_preview,
    storyboard_shots,
)
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.models import bundled_registry
from kling_pipe.models.spec import ModelSpec

from .conftest import MakeClip

KEY = sha256_hex("storyboard job")
SMALL = 72


def corner_colours(video: Path) -> list[tuple[int, int, int]]:
    """The average colour of every frame's top-left corner (clear of text and label)."""
    raw = run_ffmpeg(
        ["-i", video, "-vf", "crop=iw/6:ih/6:0:0,scale=1:1:flags=area", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
    ).stdout  # fmt: skip
    return [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]  # type: ignore[misc]


def cut_points(colours: list[tuple[int, int, int]]) -> list[int]:
    """Frames whose colour jumps away from the frame before: where the picture cuts."""
    return [
        i
        for i in range(1, len(colours))
        if sum(abs(a - b) for a, b in zip(colours[i], colours[i - 1], strict=True)) > 30
    ]


def board(*shots: tuple[str, int]) -> str:
    return json.dumps([{"prompt": p, "duration": d} for p, d in shots])


def test_storyboard_preview_cuts_exactly_at_the_shot_durations(tmp_path: Path) -> None:
    inputs = {
        "prompt": "three beats",
        "aspect_ratio": "16:9",
        "duration": 6,
        "multi_prompt": board(("Wide: a kettle", 2), ("Close: steam", 1), ("Logo", 3)),
    }
    out = render_preview(inputs, KEY, tmp_path / "board.mp4", height=SMALL)
    colours = corner_colours(out)
    assert len(colours) == 6 * FPS
    assert cut_points(colours) == [2 * FPS, 3 * FPS]
    assert scan_packets(out)["video"].packets == 6 * FPS


def test_storyboard_preview_shows_each_shots_text() -> None:
    inputs = {"prompt": "p", "duration": 3, "multi_prompt": board(("Wide", 1), ("Close", 2))}
    plan = plan_preview(inputs, KEY, height=SMALL)
    assert [s.frames for s in plan.segments] == [FPS, 2 * FPS]
    assert [s.text for s in plan.segments] == ["1/2 Wide", "2/2 Close"]
    assert len({s.colour for s in plan.segments}) == 2


def test_a_storyboard_that_does_not_fill_the_clip_previews_as_one_shot() -> None:
    assert storyboard_shots(board(("a", 1), ("b", 1)), 5) == []
    assert storyboard_shots("not json", 5) == []
    assert storyboard_shots(board(("a", 2), ("b", 3)), 5) == [("a", 2), ("b", 3)]


def spec(ref: str) -> ModelSpec:
    found = bundled_registry().get(ref)
    assert found is not None
    return found


def mean_volume(path: Path, start: float, end: float) -> float:
    text = run_ffmpeg(
        ["-i", path, "-af", f"atrim={start}:{end},volumedetect", "-vn", "-f", "null", "-"]
    ).stderr.decode()
    match = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", text)
    assert match, text
    return float(match.group(1)) if match.group(1) != "-inf" else -200.0


def test_lip_sync_preview_is_the_input_clip_with_a_tone_for_the_voice(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    master = make_clip("master.mp4", size="128x72", seconds=2.0)
    inputs = {"text": "Boils in sixty seconds.", "voice_id": "en_AOT", "voice_speed": 1}
    out = render_model_preview(
        spec("kwaivgi/kling-lip-sync"),
        inputs,
        KEY,
        tmp_path / "dub.mp4",
        height=SMALL,
        files={"video_url": master},
    )
    info = probe(out)
    assert info.video is not None and info.audio is not None
    assert (info.video.display_width, info.video.display_height) == (128, 72)
    assert scan_packets(out)["video"].packets == scan_packets(master)["video"].packets == 48
    # the master's own sound (a continuous sine) is gone: silence, then the voice's tone
    assert mean_volume(master, 0.0, 0.05) > -30
    assert mean_volume(out, 0.0, 0.05) < -40
    assert mean_volume(out, 0.8, 1.0) > -30


def psnr(first: Path, second: Path) -> float:
    text = run_ffmpeg(
        ["-i", first, "-i", second, "-lavfi", "psnr", "-f", "null", "-"]
    ).stderr.decode()
    match = re.search(r"average:(inf|[\d.]+)", text)
    assert match, text
    return float("inf") if match.group(1) == "inf" else float(match.group(1))


def test_lip_sync_preview_puts_the_line_on_screen_over_the_master(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    master = make_clip("master.mp4", size="128x72", seconds=2.0)
    out = render_lip_sync_preview(
        master, {"text": "Hallo!"}, KEY, tmp_path / "dub.mp4", height=SMALL
    )
    region = {"top": "crop=iw/2:ih/3:iw/2:0", "bottom": "crop=iw:ih/4:0:ih*3/4"}
    scores = {}
    for name, crop in region.items():
        pictures = []
        for source in (master, out):
            picture = tmp_path / f"{name}-{source.stem}.png"
            run_ffmpeg(["-y", "-i", source, "-vf", f"select=eq(n\\,10),{crop}", "-frames:v", "1",
                        picture])  # fmt: skip
            pictures.append(picture)
        scores[name] = psnr(*pictures)
    # the master's picture (re-encoded at a tiny size) above, the line written over it below
    assert scores["top"] > 18
    assert scores["bottom"] < scores["top"] - 5


def test_lip_sync_preview_from_an_audio_file_uses_that_audio(
    make_clip: MakeClip, tmp_path: Path
) -> None:
    master = make_clip("master.mp4", size="128x72", seconds=2.0, audio_rate=None)
    voice = tmp_path / "line.wav"
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "sine=f=300:d=1", voice])
    out = render_lip_sync_preview(
        master, {}, KEY, tmp_path / "dub.mp4", height=SMALL, audio_file=voice
    )
    assert mean_volume(out, 0.1, 0.9) > -30  # the recorded line
    assert mean_volume(out, 1.2, 1.9) < -60  # padded with silence to the clip's end
    assert scan_packets(out)["video"].packets == 48


def test_lip_sync_preview_needs_the_input_clip_as_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="video_url as a local file"):
        render_model_preview(
            spec("kwaivgi/kling-lip-sync"), {"text": "x"}, KEY, tmp_path / "x.mp4", files={}
        )


def test_image_model_preview_is_a_still_with_its_shape(tmp_path: Path) -> None:
    image = ModelSpec.from_openapi(
        "acme/stills",
        {"properties": {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string"}}},
        0.0,
        output_schema={"type": "array", "items": {"type": "string", "format": "uri"}},
    )
    out = render_model_preview(
        image, {"prompt": "A kettle", "aspect_ratio": "9:16"}, KEY, tmp_path / "still.png",
        height=SMALL,
    )  # fmt: skip
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = probe(out)
    assert info.video is not None
    assert (info.video.display_width, info.video.display_height) == (72, 128)
