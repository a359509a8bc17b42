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


def first_frame(video: Path, out: Path) -> Path:
    """Frame 0, above the key label in the bottom corner."""
    run_ffmpeg(["-y", "-i", video, "-vf", "select=eq(n\\,0),crop=144:200:0:0",
                "-frames:v", "1", out])  # fmt: skip
    return out


def test_a_downstream_preview_is_made_over_its_upstream_clip(tmp_path: Path) -> None:
    backend = PreviewBackend(tmp_path / "previews", height=144, workers=1)
    masters = [
        render(
            backend,
            Request(f"k-master-{n}", "kwaivgi/kling-v2.6", {"prompt": "", "aspect_ratio": "9:16"}),
        )
        for n in (1, 2)
    ]
    dubbed = render(
        backend,
        Request(
            "k-dub", "kwaivgi/kling-lip-sync", {"text": "Bonjour"}, {"video_url": masters[0]},
            duration=5.0,
        ),
    )  # fmt: skip
    info = probe(dubbed)
    assert info.video is not None and info.audio is not None and info.duration == 5.0
    assert (info.video.display_width, info.video.display_height) == (144, 256)  # the master's
    dub_frame = first_frame(dubbed, tmp_path / "dub.png")
    over_own = psnr(dub_frame, first_frame(masters[0], tmp_path / "own.png"))
    over_other = psnr(dub_frame, first_frame(masters[1], tmp_path / "other.png"))
    assert over_own > over_other + 5
