"""The preview backend makes each model's kind of preview: a still for an image model, the
input clip re-voiced for a lip-sync, a storyboard's cut for Kling v3."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from kling_pipe.backends.preview import PreviewBackend
from kling_pipe.backends.protocol import Fetched, Request
from kling_pipe.errors import InvalidInputError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.models import bundled_registry
from kling_pipe.models.spec import InputSpec, ModelSpec

STILLS = ModelSpec(
    ref="acme/stills",
    inputs={"prompt": InputSpec("prompt", "string", required=True)},
    price_per_second=0.0,
    output_kind="image",
)
REGISTRY = bundled_registry().with_specs([STILLS])


def preview(tmp_path: Path, request: Request) -> Fetched:
    async def go() -> Fetched:
        async with PreviewBackend(tmp_path / "previews", height=72, registry=REGISTRY) as backend:
            prediction = await backend.submit(request)
            assert prediction.status == "succeeded"
            again = await backend.poll(prediction.id)
            assert again.output == prediction.output
            return await backend.fetch(prediction, tmp_path / "fetched")

    return anyio.run(go)


def test_an_image_model_previews_as_a_png(tmp_path: Path) -> None:
    fetched = preview(
        tmp_path, Request(key="a" * 64, model="acme/stills", inputs={"prompt": "a kettle"})
    )
    assert fetched.path.read_bytes()[:4] == b"\x89PNG"
    assert list((tmp_path / "previews").glob("*.png"))


def test_a_lip_sync_previews_over_its_input_clip(tmp_path: Path) -> None:
    master = tmp_path / "master.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=128x72:r=24:d=2", "-pix_fmt", "yuv420p", master])
    request = Request(
        key="b" * 64,
        model="kwaivgi/kling-lip-sync",
        inputs={"video_url": "master.mp4", "text": "Hallo!", "voice_id": "en_AOT"},
        local_files={"video_url": master},
    )
    fetched = preview(tmp_path, request)
    assert scan_packets(fetched.path)["video"].packets == 48
    assert probe(fetched.path).audio is not None


def test_a_lip_sync_without_its_clip_on_disk_is_invalid_input(tmp_path: Path) -> None:
    request = Request(
        key="c" * 64,
        model="kwaivgi/kling-lip-sync",
        inputs={"video_url": "https://example.com/master.mp4", "text": "Hallo!"},
    )
    with pytest.raises(InvalidInputError, match="video_url as a local file"):
        preview(tmp_path, request)


def test_a_v3_storyboard_previews_at_its_full_length(tmp_path: Path) -> None:
    board = json.dumps([{"prompt": "wide", "duration": 1}, {"prompt": "close", "duration": 2}])
    request = Request(
        key="d" * 64,
        model="kwaivgi/kling-v3-video",
        inputs={"prompt": "story", "duration": 3, "multi_prompt": board, "aspect_ratio": "1:1"},
    )
    fetched = preview(tmp_path, request)
    assert scan_packets(fetched.path)["video"].packets == 72
