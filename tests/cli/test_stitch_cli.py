"""`kling-pipe stitch` and `run --stitch` on preview clips, checked as a viewer would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from tests.conftest import kling

FPS = 12
SIZES = {"16:9": (320, 180), "9:16": (180, 320)}

MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: true}
markets:
  us: {line: "Boils fast."}
  jp: {line: "すぐ沸く。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: hero
    prompt: A kettle on a counter, slow push-in.
  - id: pour
    prompt: 'A barista pours and says "{{ line }}"'
cuts:
  - id: spot
    shots: [hero, pour]
    fps: 12
    sizes: {"16:9": 320x180, "9:16": 180x320}
    title: {text: "Acme {{ market | upper }}", seconds: 1}
"""
CLIP_FRAMES = 5 * FPS
CUT_FRAMES = FPS + 2 * CLIP_FRAMES
CUT_IDS = ["spot/jp/16x9", "spot/jp/9x16", "spot/us/16x9", "spot/us/9x16"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(MANIFEST.lstrip(), "utf-8")
    return tmp_path


def cuts_in_run_json(project: Path) -> dict[str, dict[str, Any]]:
    record = json.loads((project / "out/demo/run.json").read_text("utf-8"))
    return {cut["id"]: cut for cut in record["cuts"]}


def preview_run(project: Path, *args: str) -> None:
    """`kling-pipe run` with small previews, which must succeed."""
    result = kling(
        "run",
        "campaign.yaml",
        "--backend",
        "preview",
        "--preview-height",
        "144",
        *args,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert "(free)" in result.stderr and "$" not in result.stderr + result.stdout


def mean_rgb(path: Path, seconds: float) -> tuple[float, float, float]:
    """The average colour of the frame shown at `seconds`."""
    raw = run_ffmpeg(
        [
            "-ss",
            f"{seconds}",
            "-i",
            path,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]
    ).stdout
    pixels = len(raw) // 3
    return tuple(sum(raw[c::3]) / pixels for c in range(3))  # type: ignore[return-value]


def test_stitch_before_any_run_lists_the_missing_clips_and_makes_nothing(project: Path) -> None:
    result = kling("stitch", "campaign.yaml", cwd=project)
    assert result.returncode == 1, result.stderr
    for job in ("hero/us/16x9", "pour/jp/9x16"):
        assert job in result.stderr
    assert "--allow-missing" in result.stderr
    assert not list((project / "out").rglob("*.mp4"))
    cuts = cuts_in_run_json(project)
    assert sorted(cuts) == CUT_IDS
    assert all(c["status"] == "missing" and len(c["missing"]) == 2 for c in cuts.values())


def test_allow_missing_puts_a_slate_of_the_clips_length_where_it_is_missing(
    project: Path,
) -> None:
    preview_run(project, "--only", "hero/us/*")
    result = kling(
        "stitch", "campaign.yaml", "--only", "spot/us/16x9", "--allow-missing", cwd=project
    )
    assert result.returncode == 0, result.stderr
    cut = project / "out/demo/cuts/spot/us/16x9.mp4"
    assert scan_packets(cut)["video"].packets == CUT_FRAMES
    record = cuts_in_run_json(project)["spot/us/16x9"]
    assert record["slates"] == ["pour/us/16x9"] and record["status"] == "done"
    red, green, blue = mean_rgb(cut, (FPS + CLIP_FRAMES + CLIP_FRAMES / 2) / FPS)
    assert red > green + 30 and red > blue + 30, "the slate's red is on screen"
    hero = mean_rgb(cut, (FPS + CLIP_FRAMES / 2) / FPS)
    assert not (hero[0] > hero[1] + 30 and hero[0] > hero[2] + 30), "the hero clip is not a slate"


def test_run_with_stitch_makes_each_market_and_ratio_frame_exact_in_sync_with_captions(
    project: Path,
) -> None:
    preview_run(project, "--stitch")
    cuts = cuts_in_run_json(project)
    assert sorted(cuts) == CUT_IDS
    for cut_id, record in cuts.items():
        path = project / "out/demo" / record["output"]  # relative to the output folder
        ratio = "16:9" if cut_id.endswith("16x9") else "9:16"
        video = probe(path).video
        assert video is not None and (video.width, video.height) == SIZES[ratio]
        timing = scan_packets(path)
        assert timing["video"].packets == record["frames"] == CUT_FRAMES
        assert abs(timing["audio"].end - timing["video"].end) <= 1 / FPS
        assert record["clips"] == [f"hero/{cut_id[5:]}", f"pour/{cut_id[5:]}"]
        decode = run_ffmpeg(["-v", "error", "-i", path, "-f", "null", "-"])
        assert decode.stderr.decode() == ""
    srt = (project / "out/demo/cuts/spot/jp/16x9.srt").read_text("utf-8")
    assert "すぐ沸く。" in srt and "Boils fast." not in srt
    first_caption = srt.splitlines()[1]
    starts_at = first_caption.split(" --> ")[0]
    hours, minutes, rest = starts_at.split(":")
    seconds = int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))
    assert (FPS + CLIP_FRAMES) / FPS <= seconds < CUT_FRAMES / FPS, "caption in the pour shot"


def test_after_one_market_changed_only_its_segments_are_encoded_again(project: Path) -> None:
    preview_run(project, "--stitch")
    manifest = project / "campaign.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace("すぐ沸く。", "一分で沸く。"), "utf-8")
    preview_run(project, "--stitch")
    cuts = cuts_in_run_json(project)
    segments = 3  # title, hero, pour
    assert cuts["spot/us/16x9"]["reused_segments"] == segments
    assert cuts["spot/us/9x16"]["reused_segments"] == segments
    assert cuts["spot/jp/16x9"]["reused_segments"] == segments - 1
    assert cuts["spot/jp/9x16"]["reused_segments"] == segments - 1
    srt = (project / "out/demo/cuts/spot/jp/9x16.srt").read_text("utf-8")
    assert "一分で沸く。" in srt


def test_stitching_again_with_nothing_changed_keeps_every_cut(project: Path) -> None:
    preview_run(project, "--stitch")
    made = {p: p.stat().st_mtime_ns for p in (project / "out/demo/cuts").rglob("*.mp4")}
    assert len(made) == len(CUT_IDS)
    result = kling("stitch", "campaign.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    cuts = cuts_in_run_json(project)
    assert all(c["reused"] and c["frames"] == CUT_FRAMES for c in cuts.values())
    assert {p: p.stat().st_mtime_ns for p in made} == made
    # A cut deleted by hand is made again; the others are still kept.
    (project / "out/demo/cuts/spot/jp/9x16.mp4").unlink()
    result = kling("stitch", "campaign.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    cuts = cuts_in_run_json(project)
    assert [cut for cut, c in cuts.items() if not c["reused"]] == ["spot/jp/9x16"]
    assert scan_packets(project / "out/demo/cuts/spot/jp/9x16.mp4")["video"].packets == CUT_FRAMES


def test_an_unknown_cut_is_refused_naming_the_cuts_there_are(project: Path) -> None:
    result = kling("stitch", "campaign.yaml", "--cut", "trailer", cwd=project)
    assert result.returncode == 2
    assert "no cut 'trailer'" in result.stderr and "spot" in result.stderr
    result = kling("stitch", "campaign.yaml", "--only", "spot/fr/*", cwd=project)
    assert result.returncode == 2
    assert "matches no cut" in result.stderr and "spot/us/16x9" in result.stderr


def test_stitch_reports_how_each_cut_reached_its_loudness_target(project: Path) -> None:
    manifest = project / "campaign.yaml"
    manifest.write_text(
        MANIFEST.lstrip().replace("    fps: 12\n", "    fps: 12\n    loudness_lufs: -16\n"), "utf-8"
    )
    preview_run(project, "--only", "*/us/16x9")
    result = kling("stitch", "campaign.yaml", "--only", "spot/us/16x9", cwd=project)
    assert result.returncode == 0, result.stderr
    cut = cuts_in_run_json(project)["spot/us/16x9"]
    assert cut["loudness_mode"] in ("linear", "dynamic", "corrected")
    assert cut["true_peak_dbtp"] <= -1.5
    assert f"LUFS, peak {cut['true_peak_dbtp']:.1f} dBTP ({cut['loudness_mode']})" in result.stdout
    # A cut kept unchanged still says how its sound was made.
    again = kling("stitch", "campaign.yaml", "--only", "spot/us/16x9", cwd=project)
    assert f"({cut['loudness_mode']})" in again.stdout and "unchanged, kept" in again.stdout
    kept = cuts_in_run_json(project)["spot/us/16x9"]
    assert kept["reused"] and kept["loudness_mode"] == cut["loudness_mode"]
