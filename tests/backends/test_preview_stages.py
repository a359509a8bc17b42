"""The preview backend rehearses a graph: a job made from another job's clip previews over
that clip."""

from __future__ import annotations

from pathlib import Path

import anyio

from kling_pipe.backends.preview import PreviewBackend
from kling_pipe.backends.protocol import Request
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe
from tests.media.test_preview import psnr


def render(backend: PreviewBackend, request: Request) -> Path:
    async def go() -> Path:
        async with backend:
            prediction = await backend.submit(request)
        return Path(prediction.output or "")

    return anyio.run(go)


def test_a_downstream_preview_is_made_over_its_upstream_clip(tmp_path: Path) -> None:
    backend = PreviewBackend(tmp_path / "previews", height=144, workers=1)
    master = render(
        backend,
        Request("k-master", "kwaivgi/kling-v2.6", {"prompt": "", "aspect_ratio": "9:16"}),
    )
    inputs = {"text": "Bonjour"}
    dubbed = render(
        backend,
        Request("k-dub", "kwaivgi/kling-lip-sync", inputs, {"video_url": master}, duration=5.0),
    )
    alone = render(backend, Request("k-alone", "kwaivgi/kling-lip-sync", inputs, duration=5.0))
    info = probe(dubbed)
    assert info.video is not None and info.duration == 5.0
    assert (info.video.display_width, info.video.display_height) == (144, 256)  # the master's

    # Its first frame is the master's first frame, as the preview frames a start image:
    # scaled to cover a canvas 1.25 times the frame, centred.
    def first_frame(video: Path, name: str) -> Path:
        out = tmp_path / name
        chain = "select=eq(n\\,0),crop=144:200:0:0"  # above the key label
        run_ffmpeg(["-y", "-i", video, "-vf", chain, "-frames:v", "1", out])
        return out

    expected = tmp_path / "expected.png"
    run_ffmpeg(
        ["-y", "-i", master, "-vf", "select=eq(n\\,0),scale=180:320,crop=144:256,crop=144:200:0:0",
         "-frames:v", "1", expected]
    )  # fmt: skip
    over_master = psnr(first_frame(dubbed, "dubbed.png"), expected)
    control = tmp_path / "control.png"
    run_ffmpeg(["-y", "-i", alone, "-vf", "select=eq(n\\,0),scale=144:256,crop=144:200:0:0",
                "-frames:v", "1", control])  # fmt: skip
    assert over_master > psnr(control, expected) + 5
