"""report.html opened from disk in a real headless Chromium: loads clean, plays, filters."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import kling
from tests.reporting.conftest import JOB_IDS, NAME

CHROMIUM = Path("/usr/bin/chromium")
FAILED = "pour/us/9x16"
REASON = 'Prediction failed: input flagged as "sensitive" <E005>'
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # The system Chromium only: playwright must never download a browser.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def report(project: Path) -> Path:
    """The generated project's report, with one job failed and one rough cut beside the clips."""
    cut = project / "out" / NAME / "cuts/spot/jp/9x16.mp4"
    cut.parent.mkdir(parents=True)
    shutil.copyfile(project / "out" / NAME / "pour/jp/9x16.mp4", cut)
    out = project / "out" / NAME
    record = json.loads((out / "run.json").read_text("utf-8"))
    for job in record["jobs"]:
        if job["id"] == FAILED:
            job.update(status="failed", output=None, error=REASON)
    (out / "run.json").write_text(json.dumps(record), "utf-8")
    (out / f"{FAILED}.mp4").unlink()
    result = kling("report", "campaign.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    return project / "out" / NAME / "report.html"


@pytest.fixture
def page(browser: Browser, report: Path) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    # A media element aborts its request once it has the metadata it preloads: not a failure.
    opened.on(
        "requestfailed",
        lambda r: (
            None
            if r.failure == "net::ERR_ABORTED" and r.resource_type == "media"
            else problems.append(f"request failed: {r.url} ({r.failure})")
        ),
    )
    opened.goto(report.as_uri())
    try:
        yield opened, problems
    finally:
        context.close()


def visible_cards(page: Page) -> list[str]:
    cards = page.locator("article.card")
    return [
        str(cards.nth(i).get_attribute("data-market"))
        + " "
        + str(cards.nth(i).get_attribute("data-ratio"))
        for i in range(cards.count())
        if cards.nth(i).is_visible()
    ]


def test_page_loads_from_disk_with_no_console_error_and_every_video_loads(
    page: tuple[Page, list[str]],
) -> None:
    opened, problems = page
    videos = opened.locator("video")
    assert videos.count() == len(JOB_IDS)  # three clips (one job failed) and one cut
    opened.wait_for_function(
        "[...document.querySelectorAll('video')].every(v => v.readyState >= 1)", timeout=15_000
    )
    durations = opened.evaluate("[...document.querySelectorAll('video')].map(v => v.duration)")
    assert all(4.5 < d < 5.5 for d in durations), durations
    posters = opened.evaluate(
        "Promise.all([...document.querySelectorAll('video')].map(v => new Promise(done => {"
        "  const image = new Image(); image.onload = () => done(image.naturalWidth);"
        "  image.onerror = () => done(0); image.src = v.poster; })))"
    )
    assert all(width > 0 for width in posters), posters
    assert problems == []


def test_filters_hide_and_show_cards_by_market_ratio_and_status(
    page: tuple[Page, list[str]],
) -> None:
    opened, problems = page
    assert len(visible_cards(opened)) == len(JOB_IDS) + 1
    opened.select_option("#filter-market", "jp")
    assert sorted(visible_cards(opened)) == ["jp 16:9", "jp 9:16", "jp 9:16"]
    assert opened.locator("#filter-count").inner_text() == "3 shown"
    opened.select_option("#filter-ratio", "9:16")
    assert visible_cards(opened) == ["jp 9:16", "jp 9:16"]
    opened.select_option("#filter-market", "us")
    assert visible_cards(opened) == ["us 9:16"]
    assert not opened.locator("section.cuts").is_visible()  # no cut for us 9:16 on disk
    opened.select_option("#filter-status", "done")
    assert visible_cards(opened) == []
    assert not opened.locator("section.shot").is_visible()
    opened.select_option("#filter-status", "failed")
    assert visible_cards(opened) == ["us 9:16"]
    assert REASON in opened.locator(f'article[id="job-{FAILED}"]').inner_text()
    assert REASON in opened.locator("section.problems").inner_text()
    for facet in ("market", "ratio", "status"):
        opened.select_option(f"#filter-{facet}", "")
    assert len(visible_cards(opened)) == len(JOB_IDS) + 1
    assert problems == []


def test_a_full_page_screenshot_is_a_real_png(page: tuple[Page, list[str]], tmp_path: Path) -> None:
    opened, _ = page
    opened.wait_for_function(
        "[...document.querySelectorAll('video')].every(v => v.readyState >= 1)", timeout=15_000
    )
    target = tmp_path / "gallery.png"
    opened.screenshot(path=str(target), full_page=True)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height >= 900
    assert len(data) > 20_000
