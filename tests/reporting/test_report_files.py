"""report.html written beside real preview clips: sources, posters, cuts, changes, no run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe
from kling_pipe.reporting import write_report
from tests.conftest import kling
from tests.reporting.conftest import JOB_IDS, NAME, lock_as_if_generated
from tests.reporting.test_report_contents import parse, shown


def out_dir(project: Path) -> Path:
    return project / "out" / NAME


def report_page(project: Path, *args: str) -> str:
    result = kling("report", "campaign.yaml", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    assert f"out/{NAME}/report.html" in result.stdout
    return shown((out_dir(project) / "report.html").read_text("utf-8"))


def videos(page: str) -> dict[str, dict[str, str | None]]:
    return {a["aria-label"] or "": a for t, a in parse(page).tags if t == "video"}


def psnr(poster: Path, clip: Path, at_seconds: float) -> float:
    graph = "[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]psnr"
    result = run_ffmpeg(
        [
            *("-i", poster, "-ss", f"{at_seconds}", "-i", clip),
            *("-frames:v", "1", "-lavfi", graph, "-f", "null", "-"),
        ]
    )
    match = re.search(r"PSNR .*average:(\S+)", result.stderr.decode())
    assert match, result.stderr.decode()
    return float(match.group(1))


def card_of(page: str, job_id: str) -> str:
    match = re.search(rf'<article[^>]*id="job-{re.escape(job_id)}".*?</article>', page, re.S)
    assert match, job_id
    return match.group(0)


def test_report_command_plays_every_clip_from_the_folder_beside_the_page(project: Path) -> None:
    page = report_page(project)
    found = videos(page)
    assert sorted(found) == sorted(JOB_IDS)
    for job_id, attrs in found.items():
        assert attrs["src"] == f"{job_id}.mp4"
        clip = probe(out_dir(project) / str(attrs["src"]))
        assert clip.video is not None and clip.duration > 4.5
    assert "http://" not in page and "https://" not in page


def test_each_poster_is_a_frame_of_its_own_clip_at_the_clips_size(project: Path) -> None:
    page = report_page(project)
    for job_id, attrs in videos(page).items():
        poster = out_dir(project) / str(attrs["poster"])
        clip = out_dir(project) / f"{job_id}.mp4"
        image, video = probe(poster).video, probe(clip).video
        assert image is not None and video is not None
        assert (image.width, image.height) == (video.width, video.height)
        neighbour = out_dir(project) / f"{next(j for j in JOB_IDS if j != job_id)}.mp4"
        if probe(neighbour).video == video:  # same size: compare what a viewer sees
            assert psnr(poster, clip, 1.0) > 30 > psnr(poster, neighbour, 1.0)
        else:
            assert psnr(poster, clip, 1.0) > 30


def test_a_second_report_reuses_the_posters_it_made(project: Path) -> None:
    campaign = Campaign.open(project / "campaign.yaml")
    write_report(campaign)
    posters = sorted((out_dir(project) / "posters").iterdir())
    assert len(posters) == len(JOB_IDS)
    made = {p: p.stat().st_mtime_ns for p in posters}
    write_report(campaign)
    assert {p: p.stat().st_mtime_ns for p in sorted((out_dir(project) / "posters").iterdir())} == (
        made
    )


def test_without_run_json_the_cards_show_the_plan_and_say_not_run(project: Path) -> None:
    (out_dir(project) / "run.json").unlink()
    page = report_page(project)
    assert page.count('data-status="not run"') == len(JOB_IDS)
    assert "Not run yet" in page
    assert len(videos(page)) == len(JOB_IDS)  # the clips on disk still play


def test_since_an_older_lock_the_cards_of_the_market_that_changed_say_why(project: Path) -> None:
    manifest = project / "campaign.yaml"
    lock_as_if_generated(manifest, project / "base.lock.json")
    manifest.write_text(
        manifest.read_text("utf-8").replace("アクメケトル", "アクメ電気ケトル"), "utf-8"
    )
    lock_as_if_generated(manifest)  # the lock after the change was generated
    against_lock = report_page(project)
    assert against_lock.count('class="badge ch-unchanged"') == len(JOB_IDS)
    page = report_page(project, "--since", "base.lock.json")
    for job_id in JOB_IDS:
        card = card_of(page, job_id)
        if "/jp/" in job_id:
            assert "changed: prompt changed" in card and "アクメ電気ケトル" in card
        else:
            assert 'class="badge ch-unchanged"' in card and "changed:" not in card


def test_cut_files_on_disk_appear_with_their_captions_when_run_json_lists_none(
    project: Path,
) -> None:
    cut = out_dir(project) / "cuts/spot/us/16x9.mp4"
    cut.parent.mkdir(parents=True)
    shutil.copyfile(out_dir(project) / "pour/us/16x9.mp4", cut)
    cut.with_suffix(".srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nBoils fast.\n", "utf-8")
    page = report_page(project)
    (attrs,) = [a for label, a in videos(page).items() if label == "spot/us/16x9"]
    assert attrs["src"] == "cuts/spot/us/16x9.mp4"
    assert (out_dir(project) / str(attrs["poster"])).is_file()
    assert 'href="cuts/spot/us/16x9.srt"' in page
    assert 'data-market="us" data-ratio="16:9" data-status="done"' in page


@pytest.mark.parametrize("base", ["", f"out/{NAME}/"], ids=["out-relative", "cwd-relative"])
def test_cuts_listed_in_run_json_show_their_status_and_why_one_is_missing(
    project: Path, base: str
) -> None:
    cut = out_dir(project) / "cuts/spot/jp/9x16.mp4"
    cut.parent.mkdir(parents=True)
    shutil.copyfile(out_dir(project) / "pour/jp/9x16.mp4", cut)
    run_json = out_dir(project) / "run.json"
    record = json.loads(run_json.read_text("utf-8"))
    record["cuts"] = [
        {
            "id": "spot/jp/9x16",
            "cut": "spot",
            "values": {"market": "jp", "aspect_ratio": "9:16"},
            "status": "done",
            "output": f"{base}cuts/spot/jp/9x16.mp4",
            "seconds": 5.0,
        },
        {
            "id": "spot/us/9x16",
            "cut": "spot",
            "values": {"market": "us", "aspect_ratio": "9:16"},
            "status": "missing",
            "missing": ["pour/us/9x16"],
        },
    ]
    run_json.write_text(json.dumps(record), "utf-8")
    page = report_page(project)
    assert videos(page)["spot/jp/9x16"]["src"] == "cuts/spot/jp/9x16.mp4"
    assert "spot/us/9x16" not in videos(page)
    assert "no clip for pour/us/9x16" in page
    assert 'data-market="us" data-ratio="9:16" data-status="missing"' in page
