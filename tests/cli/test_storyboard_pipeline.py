"""pipelines/storyboard-v3.yaml as a user runs it offline: plan, preview, stitch; the preview
cuts at the storyboard's durations exactly, seen from the frames themselves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from tests.conftest import REPO, kling

EXAMPLE = REPO / "pipelines/storyboard-v3.yaml"
FPS = 24
STORYBOARD_SECONDS = (2, 4, 2)
PACKSHOT_SECONDS = 3


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example copied into a repository of its own, previewed and stitched once."""
    root = tmp_path_factory.mktemp("storyboard")
    (root / ".git").mkdir()
    (root / "pipelines").mkdir()
    shutil.copy(EXAMPLE, root / "pipelines" / EXAMPLE.name)
    result = kling(
        "run", "pipelines/storyboard-v3.yaml", "--backend", "preview", "--preview-height", "144",
        "--stitch", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return root


def corner_colours(video: Path) -> list[bytes]:
    """Each frame's top-left corner averaged to one pixel: clear of the text and the label."""
    raw = run_ffmpeg(
        ["-i", video, "-vf", "crop=iw/6:ih/6:0:0,scale=1:1:flags=area", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"]
    ).stdout  # fmt: skip
    return [raw[i : i + 3] for i in range(0, len(raw), 3)]


def cut_points(colours: list[bytes]) -> list[int]:
    return [
        i
        for i in range(1, len(colours))
        if sum(abs(a - b) for a, b in zip(colours[i], colours[i - 1], strict=True)) > 30
    ]


def boundaries(seconds: tuple[int, ...]) -> list[int]:
    ends, total = [], 0
    for shot in seconds[:-1]:
        total += shot
        ends.append(total * FPS)
    return ends


def test_the_plan_costs_each_job_at_its_mode_and_audio_and_dates_the_prices() -> None:
    result = kling("plan", EXAMPLE, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    costs = {job["id"]: job["cost_usd"] for job in plan["jobs"]}
    assert costs["morning/us/16x9"] == pytest.approx(8 * 0.252)  # standard, with audio
    assert costs["packshot/jp/9x16"] == pytest.approx(3 * 0.168)  # standard, silent
    assert plan["summary"]["prices_as_of"] == "2026-03-13"
    board = json.loads(plan["jobs"][0]["inputs"]["multi_prompt"])
    assert [shot["duration"] for shot in board] == list(STORYBOARD_SECONDS)
    assert "Acme Kettle" in board[0]["prompt"]


def test_each_storyboard_preview_cuts_at_its_shots_exact_to_the_frame(project: Path) -> None:
    clips = sorted((project / "out/storyboard-v3").rglob("morning/*/*.mp4"))
    assert len(clips) == 4, clips
    for clip in clips:
        colours = corner_colours(clip)
        assert len(colours) == sum(STORYBOARD_SECONDS) * FPS
        assert cut_points(colours) == boundaries(STORYBOARD_SECONDS), clip
        assert probe(clip).audio is not None  # generate_audio: true


def test_the_stitched_spot_keeps_the_storyboard_cuts_then_the_pack_shot(project: Path) -> None:
    spots = sorted((project / "out/storyboard-v3/cuts/spot").rglob("*.mp4"))
    assert len(spots) == 4, spots
    for spot in spots:
        frames = scan_packets(spot)["video"].packets
        assert frames == (sum(STORYBOARD_SECONDS) + PACKSHOT_SECONDS) * FPS
        points = cut_points(corner_colours(spot))
        storyboard_end = sum(STORYBOARD_SECONDS) * FPS
        assert [p for p in points if p < storyboard_end] == boundaries(STORYBOARD_SECONDS)
        assert storyboard_end in points  # then the pack shot
