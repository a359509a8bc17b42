"""A downstream take beside its upstream: the review page of pipelines/dubbed-launch.yaml
(previewed offline) shows each dub's master clip, served by name, and jumps to the master."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.cli.test_dubbed_launch_cli import small_project
from tests.conftest import kling
from tests.review.conftest import ReviewApp, open_review, start_review_app

MANIFEST = "pipelines/dubbed-launch.yaml"


@pytest.fixture(scope="module")
def dubbed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewApp]:
    """The review app of the dubbed launch, its ten clips made by the preview backend."""
    project = tmp_path_factory.mktemp("dubbed")
    small_project(project)
    made = kling(
        "run", MANIFEST, "--backend", "preview", "--yes", "--preview-height", "144", cwd=project
    )
    assert made.returncode == 0, made.stderr + made.stdout
    app = start_review_app(project, manifest=MANIFEST)
    try:
        yield app
    finally:
        app.process.terminate()
        app.process.wait(timeout=10)


def test_a_dub_shows_its_master_clip_and_jumps_to_it(
    browser: Browser, dubbed_app: ReviewApp
) -> None:
    problems: list[str] = []
    page = open_review(browser, dubbed_app.url + "#job=dub/de/9x16", problems)
    assert page.inner_text("h1") == "dub/de/9x16"
    clip = page.locator(".upstream-clip[data-job='master/9x16']")
    assert clip.locator("figcaption").inner_text() == "video_url from master/9x16 take 1"
    src = clip.locator("video").get_attribute("src")
    assert src == "/take/master/9x16/1"
    # Not one of the takes the transport plays in sync.
    assert page.locator(".takes video").count() == 1

    with urllib.request.urlopen(dubbed_app.url.rstrip("/") + src) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "video/mp4"
        served = answer.read()
    stored = dubbed_app.project / "out/dubbed-launch/master/9x16.mp4"
    assert served == stored.read_bytes()
    # The browser played it from there too: its length is known.
    page.wait_for_function(
        "document.querySelector('.upstream-clip video').readyState >= 1", timeout=10_000
    )

    clip.locator("a.to-upstream").click()
    page.wait_for_function("document.querySelector('h1').textContent === 'master/9x16'")
    assert page.locator(".row.current").get_attribute("data-job") == "master/9x16"
    assert page.locator(".upstream-clip").count() == 0  # a master has none
    assert not problems, problems


def test_the_board_names_each_dubs_master_by_take(dubbed_app: ReviewApp) -> None:
    with urllib.request.urlopen(dubbed_app.url.rstrip("/") + "/api/board") as answer:
        board = json.loads(answer.read())
    jobs = {job["id"]: job for job in board["jobs"]}
    for market in ("us", "cn", "de"):
        for ratio in ("16x9", "9x16"):
            (up,) = jobs[f"dub/{market}/{ratio}"]["upstream"]
            assert (up["input"], up["job"], up["take"], up["kind"]) == (
                "video_url",
                f"master/{ratio}",
                1,
                "video",
            )
    assert jobs["pack/16x9"]["upstream"] == []
