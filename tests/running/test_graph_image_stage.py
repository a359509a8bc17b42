"""End-to-end: an image model (pulled with `models pull`) as a stage making key frames, each
animated downstream by Kling's image-to-video (`start_image: {from: keyframe}`), against the
emulator over real HTTP and with the preview backend offline."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from kling_pipe.emulator import Emulator, EmulatorConfig, LatencyRange
from kling_pipe.media.probe import probe
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.spec import InputSpec, ModelSpec
from kling_pipe.reporting.gallery import unpack_blocks
from tests.conftest import kling
from tests.emulated import TOKEN, env_for

STILLS = ModelSpec(
    ref="acme/stills",
    inputs={
        "prompt": InputSpec("prompt", "string", required=True),
        "aspect_ratio": InputSpec(
            "aspect_ratio", "string", default="1:1", choices=("1:1", "16:9", "9:16")
        ),
    },
    price_per_second=0.0,
    output_kind="image",
)

GRAPH = """
version: 1
name: keys
model: kwaivgi/kling-v2.1
matrix:
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: keyframe
    model: acme/stills
    prompt: "The Acme kettle on white, {{ aspect_ratio }}"
  - id: animate
    prompt: "The kettle starts to steam, slow push-in"
    inputs: {start_image: {from: keyframe}, duration: 5}
limits: {concurrency: 4, creates_per_minute: 600, budget_usd: 50}
"""

KEYFRAMES = ["keyframe/16x9", "keyframe/9x16"]
ANIMATIONS = ["animate/16x9", "animate/9x16"]


@pytest.fixture
def stills_emulator() -> Any:
    """An emulator that also serves the image model."""
    config = EmulatorConfig(latency=LatencyRange(0.1, 0.3), render_height=144, token=TOKEN, seed=7)
    registry = bundled_registry().with_specs([STILLS])
    with Emulator(config, registry=registry) as emu:
        yield emu


@pytest.fixture
def keys_project(tmp_path: Path, stills_emulator: Emulator) -> Path:
    """A project with the image model pulled from the emulator and the key-frame graph."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(GRAPH.lstrip(), "utf-8")
    pulled = kling(
        "models", "pull", "acme/stills", "--price-per-image", "0.03",
        cwd=tmp_path, env=env_for(stills_emulator),
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    return tmp_path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_key_frames_run_as_images_and_are_animated_from_their_uploads(
    keys_project: Path, stills_emulator: Emulator
) -> None:
    env = env_for(stills_emulator)
    result = kling("run", "campaign.yaml", "--yes", cwd=keys_project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    stats = stills_emulator.stats()
    assert stats["creates"] == 4 and stats["duplicate_creates"] == 0
    lock = json.loads((keys_project / "campaign.lock.json").read_text())["jobs"]
    assert sorted(lock) == sorted(KEYFRAMES + ANIMATIONS)
    # Each key frame is stored as an image, and uploaded byte for byte as its start_image.
    store = keys_project / ".kling-pipe/objects"
    frames = {lock[k]["output_sha256"] for k in KEYFRAMES}
    assert sorted(stats["uploads"]) == sorted(frames)
    # Sent as what it is: a stored object is named by its hash, not its format.
    assert all(stats["upload_types"][sha] == "image/png" for sha in frames)
    for sha in frames:
        assert len(list((store / sha[:2]).glob(f"{sha}.*"))) == 1
    out = keys_project / "out/keys"
    for job in KEYFRAMES:
        shot, ratio = job.split("/")
        still = out / shot / f"{ratio}.png"
        assert sha256_of(still) == lock[job]["output_sha256"]
        media = probe(still)
        assert media.video is not None and media.audio is None
        assert media.video.codec == "png"
    for job in ANIMATIONS:
        shot, ratio = job.split("/")
        clip = probe(out / shot / f"{ratio}.mp4")
        assert clip.video is not None and clip.duration == pytest.approx(5, abs=0.2)
        assert lock[job]["material"]["inputs"]["start_image"] == {
            "upstream": lock["keyframe/" + ratio]["key"]
        }
    report = json.loads((out / "run.json").read_text())
    outputs = {j["id"]: (j["status"], j["output"]) for j in report["jobs"]}
    assert outputs == {
        **{job: ("done", f"{job}.png") for job in KEYFRAMES},
        **{job: ("done", f"{job}.mp4") for job in ANIMATIONS},
    }
    # A still lasts no time: the lock says so, and the animation its own 5 s.
    assert [lock[job]["duration"] for job in KEYFRAMES] == [0, 0]
    assert [lock[job]["duration"] for job in ANIMATIONS] == pytest.approx([5, 5], abs=0.2)

    again = kling("run", "campaign.yaml", "--yes", cwd=keys_project, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert stills_emulator.stats()["creates"] == 4
    assert stills_emulator.stats()["duplicate_creates"] == 0


def test_the_key_frame_graph_previews_offline_with_stills_and_animations(
    keys_project: Path,
) -> None:
    result = kling("run", "campaign.yaml", "--yes", "--backend", "preview", cwd=keys_project)
    assert result.returncode == 0, result.stdout + result.stderr
    out = keys_project / "out/keys"
    for ratio, shape in (("16x9", 16 / 9), ("9x16", 9 / 16)):
        still = probe(out / "keyframe" / f"{ratio}.png")
        assert still.video is not None and still.video.codec == "png"
        assert still.video.width / still.video.height == pytest.approx(shape, rel=0.02)
        clip = probe(out / "animate" / f"{ratio}.mp4")
        assert clip.video is not None and clip.duration == pytest.approx(5, abs=0.2)
    record = json.loads((out / "run.json").read_text())
    outputs = {j["id"]: j["output"] for j in record["jobs"]}
    assert outputs["keyframe/16x9"].endswith("keyframe/16x9.png")
    assert outputs["animate/16x9"].endswith("animate/16x9.mp4")
    assert (out / "report.html").is_file()
    packed = re.search(r'id="gallery-blocks">([^<]*)<', (out / "report.html").read_text("utf-8"))
    assert packed is not None
    page = "".join(unpack_blocks(packed[1]))
    # The key frame is shown as a still, and beside its animation as its upstream.
    assert '<img class="frame" src="keyframe/16x9.png"' in page
    assert page.count('src="keyframe/16x9.png"') >= 2
