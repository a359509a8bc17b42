"""`report --link-store`: a gallery whose clips are signed links to the bucket store (moto's S3
server), not copies in out/<name>/; a folder store refuses."""

from __future__ import annotations

import hashlib
import json
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import kling_pipe
from kling_pipe.campaign import Campaign
from kling_pipe.emulator import Emulator
from kling_pipe.errors import InputError
from kling_pipe.media.probe import content_type
from kling_pipe.running.remote_store import BucketStore
from tests.bucket import ACCESS_KEY, SECRET_KEY, Bucket
from tests.conftest import kling
from tests.emulated import CAMPAIGN, env_for
from tests.reporting.test_report_contents import parse, shown

JOBS = ["pour/jp/16x9", "pour/jp/9x16", "pour/us/16x9", "pour/us/9x16"]


def videos(page: str) -> dict[str, tuple[str, str | None]]:
    """Each player on the page, every block shown: its label → (src, poster), as a browser
    reads them."""
    return {
        a["aria-label"] or "": (a["src"] or "", a.get("poster"))
        for t, a in parse(page).tags
        if t == "video"
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The emulated demo campaign (not this folder's preview-made gallery project)."""
    folder = tmp_path / "project"
    (folder / ".git").mkdir(parents=True)
    (folder / "campaign.yaml").write_text(CAMPAIGN.lstrip(), "utf-8")
    return folder


def fresh_clone(project: Path) -> Path:
    """Another machine: the manifest and the lock, no store, no out/."""
    clone = project.parent / f"{project.name}-viewer"
    clone.mkdir()
    (clone / ".git").mkdir()
    for name in ("campaign.yaml", "campaign.lock.json"):
        shutil.copy(project / name, clone / name)
    return clone


def test_report_link_store_links_every_clip_to_its_object_and_copies_none(
    project: Path, emulator: Emulator, bucket: Bucket, tmp_path: Path
) -> None:
    env = {**env_for(emulator), **bucket.env()}
    ran = kling("run", "campaign.yaml", "--yes", "--store", bucket.url, cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    lock = json.loads((project / "campaign.lock.json").read_text())
    client = bucket.client()
    for key in (k for k in bucket.names() if k.startswith("campaigns/objects/")):
        assert client.head_object(Bucket=bucket.name, Key=key)["ContentType"] == "video/mp4"

    clone = fresh_clone(project)
    reported = kling(
        "report",
        "campaign.yaml",
        "--store",
        bucket.url,
        "--link-store",
        "--link-expiry",
        "2",
        cwd=clone,
        env=bucket.env(),
    )
    assert reported.returncode == 0, reported.stderr
    assert "links valid until" in reported.stdout

    out = clone / "out/demo"
    assert (out / "report.html").is_file()
    assert not list(clone.rglob("*.mp4"))  # no clip copied into out/, nor downloaded to a cache
    page = (out / "report.html").read_text("utf-8")
    players = videos(page)
    assert sorted(players) == JOBS
    for job in JOBS:
        src, poster = players[job]
        sha256 = lock["jobs"][job]["output_sha256"]
        url = urlsplit(src)
        assert f"{url.scheme}://{url.netloc}" == bucket.endpoint
        assert url.path == f"/{bucket.name}/campaigns/objects/{sha256[:2]}/{sha256}.mp4"
        query = parse_qs(url.query)
        assert query["X-Amz-Expires"] == ["7200"]
        assert query["X-Amz-Credential"][0].startswith(ACCESS_KEY + "/")
        assert "X-Amz-Signature" in query
        # The poster is a local JPEG read through the link, not the clip.
        assert poster is not None and (out / poster).read_bytes()[:3] == b"\xff\xd8\xff"

    src, _ = players[JOBS[0]]
    with urllib.request.urlopen(src, timeout=10) as response:  # no credentials: the link
        body = response.read()
        served_as = response.headers["Content-Type"]
    assert hashlib.sha256(body).hexdigest() == lock["jobs"][JOBS[0]]["output_sha256"]
    assert served_as == "video/mp4"

    # The secret key is in no file of either machine, nor in any output.
    texts = [p.stdout + p.stderr for p in (ran, reported)] + [shown(page)]  # cards unpacked
    for path in tmp_path.rglob("*"):  # both machines: out/, .kling-pipe/, the lock
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    assert len(texts) > 10
    assert not [t for t in texts if SECRET_KEY in t]


def test_the_library_links_for_as_long_as_asked_and_the_link_plays(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    env = {**env_for(emulator), **bucket.env()}
    ran = kling("run", "campaign.yaml", "--yes", "--store", bucket.url, cwd=project, env=env)
    assert ran.returncode == 0, ran.stderr
    options = kling_pipe.ReportOptions(link_store=True, link_expiry_hours=0.5)
    path = kling_pipe.report_sync(project / "campaign.yaml", options, store=bucket.url)
    src, _ = videos(path.read_text("utf-8"))[JOBS[0]]
    assert parse_qs(urlsplit(src).query)["X-Amz-Expires"] == ["1800"]
    with urllib.request.urlopen(src, timeout=10) as response:
        assert response.read()[4:8] == b"ftyp"


def test_new_objects_are_stored_with_the_media_type_of_their_bytes(
    project: Path, bucket: Bucket, tmp_path: Path
) -> None:
    campaign = Campaign.open(project / "campaign.yaml", store=bucket.url)
    store = BucketStore(campaign.workspace)
    starts = {b"\x00\x00\x00\x20ftypisom": "video/mp4", b"\x89PNG\r\n\x1a\n": "image/png"}
    for head, expected in starts.items():
        source = tmp_path / "download.part"  # a name that says nothing of what it holds
        source.write_bytes(head + b"\x00" * 64)
        sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
        store.put(source, sha256)
        key = campaign.workspace.remote_object(sha256).removeprefix(f"s3://{bucket.name}/")
        stored = bucket.client().head_object(Bucket=bucket.name, Key=key)
        assert stored["ContentType"] == expected


def test_report_link_store_refuses_a_folder_store_with_what_to_do(
    project: Path, emulator: Emulator
) -> None:
    ran = kling("run", "campaign.yaml", "--yes", cwd=project, env=env_for(emulator))
    assert ran.returncode == 0, ran.stderr
    reported = kling("report", "campaign.yaml", "--link-store", cwd=project)
    assert reported.returncode == 2
    assert "is a folder: only a bucket store (s3://, gs://)" in reported.stderr
    assert "Traceback" not in reported.stderr
    with pytest.raises(InputError, match="is a folder"):
        kling_pipe.report_sync(project / "campaign.yaml", link_store=True)


def test_a_link_expiry_past_seven_days_is_refused(
    project: Path, emulator: Emulator, bucket: Bucket
) -> None:
    env = {**env_for(emulator), **bucket.env()}
    args = ("--store", bucket.url, "--link-store", "--link-expiry", "200")
    reported = kling("report", "campaign.yaml", *args, cwd=project, env=env)
    assert reported.returncode == 2
    assert "link expiry 200 h" in reported.stderr and "168 hours" in reported.stderr
    assert "Traceback" not in reported.stderr


def test_content_type_is_read_from_the_bytes(tmp_path: Path) -> None:
    starts = {
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00": "video/mp4",
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00": "video/quicktime",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR": "image/png",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00": "image/jpeg",
        b"RIFF\x24\x00\x00\x00WEBPVP8 ": "image/webp",
        b"not media at all": "application/octet-stream",
    }
    for number, (head, expected) in enumerate(starts.items()):
        path = tmp_path / f"object{number}.mp4"
        path.write_bytes(head + b"\x00" * 64)
        assert content_type(path) == expected
