"""pipelines/dubbed-launch.yaml rehearsed offline through the CLI: planned, previewed (each
lip-sync made over its master's preview) and stitched into a spot per market and ratio."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from kling_pipe.media.probe import probe, scan_packets
from tests.conftest import kling

REPO = Path(__file__).resolve().parents[2]
MARKETS = ("us", "cn", "de")
FPS = 12


def small_project(tmp_path: Path) -> Path:
    """The shipped pipeline and its asset, with the cut made small and at a low frame rate."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "examples/assets").mkdir(parents=True)
    shutil.copy(REPO / "examples/assets/line_de.m4a", tmp_path / "examples/assets")
    text = (REPO / "pipelines/dubbed-launch.yaml").read_text()
    marker = "    transition: {kind: fade, seconds: 0.5}\n"
    assert marker in text
    text = text.replace(
        marker, marker + f'    fps: {FPS}\n    sizes: {{"16:9": 320x180, "9:16": 180x320}}\n'
    )
    manifest = tmp_path / "pipelines/dubbed-launch.yaml"
    manifest.write_text(text)
    return manifest


def test_the_dubbed_launch_plans_previews_and_stitches_offline(tmp_path: Path) -> None:
    manifest = small_project(tmp_path)
    plan = kling("plan", manifest, "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["summary"]["generations"] == 10
    assert sorted(c["id"] for c in data["cuts"]) == sorted(
        f"spot/{m}/{r}" for m in MARKETS for r in ("16x9", "9x16")
    )

    result = kling(
        "run", manifest, "--backend", "preview", "--stitch", "--yes", "--preview-height", "144",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    out = tmp_path / "out/dubbed-launch"
    for market in MARKETS:
        dub = probe(out / f"dub/{market}/9x16.mp4")
        assert dub.video is not None and dub.audio is not None
        assert dub.video.display_height > dub.video.display_width  # its master's shape
        for ratio, size in (("16x9", (320, 180)), ("9x16", (180, 320))):
            cut = out / f"cuts/spot/{market}/{ratio}.mp4"
            info = probe(cut)
            assert info.video is not None and info.audio is not None
            assert (info.video.display_width, info.video.display_height) == size
            # dub 5 s, fade 0.5 s into the pack shot 5 s, fade 0.5 s into a 2 s end card
            packets = scan_packets(cut)
            assert packets["video"].packets == 11 * FPS
    record = json.loads((out / "run.json").read_text())
    statuses = {j["id"]: j["status"] for j in record["jobs"]}
    assert all(status == "done" for status in statuses.values()), statuses
