"""`kling-pipe run` prepares the manifest's cuts as clips arrive; `stitch` then only joins.

By default for real generations (here the replicate backend against the emulator); previews
arrive at once, so a preview run prepares only when asked (`--prepare-cuts`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.emulator import Emulator
from kling_pipe.media.probe import scan_packets
from tests.conftest import kling
from tests.emulated import env_for

FPS = 12
MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: true}
markets:
  us: {line: "Boils fast."}
matrix:
  market: [us]
  aspect_ratio: ["16:9"]
shots:
  - id: hero
    prompt: A kettle on a counter, slow push-in.
  - id: pour
    prompt: 'A barista pours and says "{{ line }}"'
  - id: logo
    prompt: The Acme logo on white.
cuts:
  - id: spot
    shots: [hero, pour, logo]
    fps: 12
    sizes: {"16:9": 320x180}
    transition: {kind: fade, seconds: 0.5}
    title: {text: "Acme {{ market | upper }}", seconds: 1}
limits: {concurrency: 3, creates_per_minute: 600, budget_usd: 50}
"""
SEGMENTS = 4  # title, hero, pour, logo
CUT_FRAMES = FPS + 3 * 5 * FPS - 3 * FPS // 2


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(MANIFEST.lstrip(), "utf-8")
    return tmp_path


def intermediates(project: Path) -> Path:
    return Campaign.open(project / "campaign.yaml").workspace.intermediates


def encoded(cache: Path) -> set[Path]:
    """The intermediates and blends in the cache."""
    return {*cache.rglob("*.mov"), *(cache / "blends").rglob("*.mp4")}


def preview_run(project: Path, *args: str) -> str:
    """`kling-pipe run` with small previews, which must succeed; its stderr."""
    result = kling(
        "run", "campaign.yaml", "--backend", "preview", "--preview-height", "144", *args,
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


def stitch_reuses_every_segment(project: Path, backend: str) -> None:
    """`stitch` encodes nothing new: every intermediate and fade was ready."""
    cache = intermediates(project)
    ready = encoded(cache)
    assert list((cache / "blends").rglob("*.mp4")), "fades were made ahead"
    result = kling("stitch", "campaign.yaml", "--backend", backend, cwd=project)
    assert result.returncode == 0, result.stderr
    assert encoded(cache) == ready, "the stitch found every intermediate and fade ready"
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    (cut,) = record["cuts"]
    assert cut["status"] == "done" and cut["reused_segments"] == SEGMENTS
    assert cut["frames"] == CUT_FRAMES
    assert scan_packets(project / "out/demo" / cut["output"])["video"].packets == CUT_FRAMES


def test_a_run_of_real_generations_prepares_its_cut_and_stitch_only_joins(
    project: Path, emulator: Emulator
) -> None:
    result = kling("run", "campaign.yaml", "--yes", cwd=project, env=env_for(emulator))
    assert result.returncode == 0, result.stderr
    assert emulator.stats()["creates"] == 3
    # (The emulator renders the same picture for every job of a ratio: segments share files.)
    stitch_reuses_every_segment(project, "replicate")


def test_a_clip_regenerated_alone_is_prepared_beside_its_unchanged_neighbours(
    project: Path, emulator: Emulator
) -> None:
    env = env_for(emulator)
    assert kling("run", "campaign.yaml", "--yes", cwd=project, env=env).returncode == 0
    assert kling("stitch", "campaign.yaml", cwd=project).returncode == 0
    manifest = project / "campaign.yaml"
    text = manifest.read_text("utf-8")
    # A longer logo shot: the emulator renders a new clip for it.
    manifest.write_text(
        text.replace(
            "The Acme logo on white.", "The Acme logo on white.\n    inputs: {duration: 10}"
        ),
        "utf-8",
    )
    again = kling("run", "campaign.yaml", "--yes", "--only", "logo/*", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert emulator.stats()["creates"] == 4
    cache = intermediates(project)
    ready = encoded(cache)
    result = kling("stitch", "campaign.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert encoded(cache) == ready, "the new clip and its fade were ready"
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    (cut,) = record["cuts"]
    assert not cut["reused"] and cut["reused_segments"] == SEGMENTS
    assert cut["frames"] == CUT_FRAMES + 5 * FPS


def test_a_preview_run_prepares_its_cut_when_asked(project: Path) -> None:
    preview_run(project, "--prepare-cuts")
    cache = intermediates(project)
    # Preview clips all differ: an intermediate per segment, a fade per join.
    assert len(list(cache.rglob("*.mov"))) == SEGMENTS
    assert len(list((cache / "blends").rglob("*.mp4"))) == SEGMENTS - 1
    stitch_reuses_every_segment(project, "preview")


def test_a_preview_run_leaves_the_cut_to_the_stitch_by_default(project: Path) -> None:
    preview_run(project)
    assert not encoded(intermediates(project))


def test_no_prepare_cuts_leaves_the_work_to_the_stitch(project: Path, emulator: Emulator) -> None:
    result = kling(
        "run", "campaign.yaml", "--yes", "--no-prepare-cuts", cwd=project, env=env_for(emulator)
    )
    assert result.returncode == 0, result.stderr
    assert not encoded(intermediates(project))


def test_a_failed_preparation_is_a_warning_and_the_run_still_succeeds(project: Path) -> None:
    cache = intermediates(project)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("a file where the cache folder should be", "utf-8")
    stderr = preview_run(project, "--prepare-cuts")
    assert "not prepared for its cuts" in stderr
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    assert record["status"] == "ok" and record["summary"]["done"] == 3
    assert any("not prepared for its cuts" in warning for warning in record["warnings"])
    assert all((project / "out/demo" / job["output"]).is_file() for job in record["jobs"])
