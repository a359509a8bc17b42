"""The emulator serves Kling v3, v3 omni, lip-sync and a pulled image model through the real
`replicate` client: each validated against its schema, each output what the model makes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from kling_pipe.emulator import Emulator, EmulatorConfig
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.models import bundled_registry
from kling_pipe.models.spec import ModelSpec

Poll = Callable[..., None]
AUTH = {"Authorization": "Bearer r8_test"}
TERMINAL = ("succeeded", "failed", "canceled")
IMAGE_MODEL = ModelSpec.from_openapi(
    "acme/stills",
    {
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "x-order": 0},
            "aspect_ratio": {"type": "string", "enum": ["1:1", "16:9"], "x-order": 1},
        },
    },
    0.0,
    output_schema={"type": "array", "items": {"type": "string", "format": "uri"}},
    price_per_image=0.03,
)


@pytest.fixture
def emulator(fast_config: EmulatorConfig) -> Iterator[Emulator]:
    """The bundled Kling models plus a pulled image model."""
    with Emulator(fast_config, registry=bundled_registry().with_specs([IMAGE_MODEL])) as emu:
        yield emu


def _finish(prediction: Prediction, poll: Poll) -> Prediction:
    def done() -> bool:
        prediction.reload()
        return prediction.status in TERMINAL

    poll(done)
    return prediction


def _download(url: str, path: Path) -> Path:
    response = httpx.get(url)
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


def _mean_volume(path: Path, start: float, end: float) -> float:
    text = run_ffmpeg(
        ["-i", path, "-af", f"atrim={start}:{end},volumedetect", "-vn", "-f", "null", "-"]
    ).stderr.decode()
    match = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", text)
    assert match, text
    return float(match.group(1)) if match.group(1) != "-inf" else -200.0


def test_v3_returns_a_clip_of_the_asked_duration_and_ratio(
    client: replicate.Client, poll: Poll, tmp_path: Path
) -> None:
    inputs = {"prompt": "a kettle", "duration": 3, "aspect_ratio": "9:16", "mode": "standard"}
    prediction = _finish(
        client.models.predictions.create("kwaivgi/kling-v3-video", input=inputs), poll
    )
    assert prediction.status == "succeeded"
    video = _download(prediction.output, tmp_path / "v3.mp4")
    info = probe(video)
    assert info.video is not None and info.audio is None
    assert info.video.display_width / info.video.display_height == pytest.approx(9 / 16, abs=0.02)
    assert scan_packets(video)["video"].packets == 3 * 24


def test_v3_storyboard_clip_cuts_between_its_shots(
    client: replicate.Client, poll: Poll, tmp_path: Path
) -> None:
    board = json.dumps([{"prompt": "wide", "duration": 1}, {"prompt": "close", "duration": 2}])
    inputs = {"prompt": "story", "duration": 3, "multi_prompt": board}
    prediction = _finish(
        client.models.predictions.create("kwaivgi/kling-v3-video", input=inputs), poll
    )
    video = _download(prediction.output, tmp_path / "board.mp4")
    raw = run_ffmpeg(
        ["-i", video, "-vf", "crop=iw/6:ih/6:0:0,scale=1:1:flags=area", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"]
    ).stdout  # fmt: skip
    colours = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    jumps = [
        i
        for i in range(1, len(colours))
        if sum(abs(a - b) for a, b in zip(colours[i], colours[i - 1], strict=True)) > 30
    ]
    assert jumps == [24]


@pytest.mark.parametrize(
    ("model", "inputs", "fields"),
    [
        ("kwaivgi/kling-v3-video", {"prompt": "x", "mode": "4k"}, {("input.mode", "enum")}),
        (
            "kwaivgi/kling-v3-video",
            {"prompt": "x", "duration": 16},
            {("input.duration", "number_lte")},
        ),
        (
            "kwaivgi/kling-lip-sync",
            {"video_url": "https://x/v.mp4", "text": "hi", "voice_speed": 3},
            {("input.voice_speed", "number_lte")},
        ),
        (
            "kwaivgi/kling-lip-sync",
            {"video_url": "https://x/v.mp4", "text": "hi", "voice_id": "de_bob"},
            {("input.voice_id", "enum")},
        ),
        (
            "acme/stills",
            {"aspect_ratio": "3:2"},
            {("input.prompt", "required"), ("input.aspect_ratio", "enum")},
        ),
    ],
)
def test_schema_violations_get_replicates_422_shape(
    emulator: Emulator, model: str, inputs: dict[str, Any], fields: set[tuple[str, str]]
) -> None:
    response = httpx.post(
        f"{emulator.base_url}/v1/models/{model}/predictions", headers=AUTH, json={"input": inputs}
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body) == {"title", "detail", "status", "invalid_fields"}
    assert body["title"] == "Input validation failed" and body["status"] == 422
    assert {(f["field"], f["type"]) for f in body["invalid_fields"]} == fields
    for entry in body["invalid_fields"]:
        assert f"- {entry['field']}: {entry['description']}" in body["detail"]


def test_the_real_client_raises_on_a_422(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.models.predictions.create(
            "kwaivgi/kling-v3-omni-video", input={"prompt": "x", "mode": "turbo"}
        )
    assert raised.value.status == 422
    assert raised.value.detail is not None and "input.mode" in raised.value.detail


@pytest.mark.parametrize(
    ("model", "inputs", "said"),
    [
        (
            "kwaivgi/kling-lip-sync",
            {"video_url": "https://x/v.mp4", "text": "x" * 121},
            "121 characters",
        ),
        (
            "kwaivgi/kling-v3-video",
            {"prompt": "x", "end_image": "https://x/e.png"},
            "needs start_image",
        ),
        (
            "kwaivgi/kling-v3-omni-video",
            {"prompt": "x", "reference_video": "https://x/v.mp4", "generate_audio": True},
            "generate_audio cannot be true",
        ),
    ],
)
def test_model_rules_fail_the_prediction_as_kling_would(
    client: replicate.Client, poll: Poll, model: str, inputs: dict[str, Any], said: str
) -> None:
    prediction = _finish(client.models.predictions.create(model, input=inputs), poll)
    assert prediction.status == "failed"
    assert prediction.error is not None
    assert prediction.error.startswith("Invalid input:") and said in prediction.error


def test_lip_sync_returns_the_uploaded_video_re_voiced_with_a_tone(
    client: replicate.Client, emulator: Emulator, poll: Poll, tmp_path: Path
) -> None:
    master = tmp_path / "master.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=3", "-f", "lavfi", "-i",
         "sine=f=1000:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", master]
    )  # fmt: skip
    inputs = {"video_url": master, "text": "Boils in sixty seconds.", "voice_id": "en_AOT"}
    prediction = _finish(
        client.models.predictions.create("kwaivgi/kling-lip-sync", input=inputs), poll
    )
    assert prediction.status == "succeeded", prediction.error
    assert prediction.input is not None
    assert prediction.input["video_url"].startswith(f"{emulator.base_url}/v1/files/")
    out = _download(prediction.output, tmp_path / "dub.mp4")
    assert scan_packets(out)["video"].packets == 3 * 24  # the master, frame for frame
    info = probe(out)
    assert info.video is not None and info.audio is not None
    assert info.video.display_width / info.video.display_height == pytest.approx(16 / 9, abs=0.02)
    assert _mean_volume(master, 0.0, 0.1) > -30
    assert _mean_volume(out, 0.0, 0.1) < -40  # the master's sound is replaced by the line's tone
    assert _mean_volume(out, 1.0, 1.3) > -30


def test_lip_sync_of_a_video_too_short_fails_the_prediction(
    client: replicate.Client, poll: Poll, tmp_path: Path
) -> None:
    short = tmp_path / "short.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=24:d=1", "-pix_fmt", "yuv420p", short])
    inputs = {"video_url": short, "text": "Hi"}
    prediction = _finish(
        client.models.predictions.create("kwaivgi/kling-lip-sync", input=inputs), poll
    )
    assert prediction.status == "failed"
    assert prediction.error is not None and "lasts 1.00 s" in prediction.error


def test_an_image_model_returns_a_list_with_one_png(
    client: replicate.Client, poll: Poll, tmp_path: Path
) -> None:
    inputs = {"prompt": "a kettle on a counter", "aspect_ratio": "16:9"}
    prediction = _finish(client.models.predictions.create("acme/stills", input=inputs), poll)
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, list) and len(prediction.output) == 1
    response = httpx.get(prediction.output[0])
    assert response.headers["content-type"] == "image/png"
    still = tmp_path / "still.png"
    still.write_bytes(response.content)
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    info = probe(still)
    assert info.video is not None
    assert info.video.display_width / info.video.display_height == pytest.approx(16 / 9, abs=0.02)


def test_the_image_models_version_publishes_a_list_output(client: replicate.Client) -> None:
    model = client.models.get("acme/stills")
    assert model.latest_version is not None
    output = model.latest_version.openapi_schema["components"]["schemas"]["Output"]
    assert output["type"] == "array"
    assert (
        ModelSpec.from_openapi(
            "acme/stills",
            model.latest_version.openapi_schema["components"]["schemas"]["Input"],
            0.0,
            output_schema=output,
        ).output_kind
        == "image"
    )
