"""report.html opened from disk in a real headless Chromium: loads clean, plays, filters."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import REPO, kling
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
    opened.wait_for_selector("body[data-ready]", state="attached")
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
    # Nothing is fetched before it is asked for: a page of 10,000 clips stays light.
    assert opened.evaluate("[...document.querySelectorAll('video')].map(v => v.preload)") == [
        "none"
    ] * len(JOB_IDS)
    opened.evaluate("document.querySelectorAll('video').forEach(v => v.load())")
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


def test_play_under_the_poster_plays_the_clip_and_the_controls_leave_the_poster_whole(
    page: tuple[Page, list[str]],
) -> None:
    opened, problems = page
    card = opened.locator('article[id="job-pour/jp/9x16"]')
    video = card.locator("video")
    frame = video.bounding_box()
    controls = card.locator(".controls").bounding_box()
    assert frame is not None and controls is not None
    assert controls["y"] >= frame["y"] + frame["height"] - 1  # below the picture, not over it
    assert frame["height"] > frame["width"] * 1.7  # a 9:16 clip shown tall, not letterboxed small
    assert frame["height"] >= 300
    card.locator("button.play").click()
    opened.wait_for_function(
        "document.querySelector('article[id=\"job-pour/jp/9x16\"] video').currentTime > 0.3",
        timeout=15_000,
    )
    card.locator("button.play").click()
    assert video.evaluate("v => v.paused")
    assert problems == []


def test_a_full_page_screenshot_is_a_real_png(page: tuple[Page, list[str]], tmp_path: Path) -> None:
    opened, _ = page
    opened.wait_for_function(
        "[...document.querySelectorAll('video')].every(v => !v.poster || v.offsetWidth > 0)",
        timeout=15_000,
    )
    target = tmp_path / "gallery.png"
    opened.screenshot(path=str(target), full_page=True)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 1280 and height >= 900
    assert len(data) > 20_000


GLYPH_WIDTHS = """(selector) => {
  const node = document.querySelector(selector);
  const width = (element) => {
    const range = document.createRange();
    range.selectNodeContents(element);
    return range.getBoundingClientRect().width;
  };
  // U+E000 is in no font: it is drawn as a box, the width tofu would have.
  const probe = node.cloneNode();
  probe.textContent = "\\uE000".repeat([...node.textContent].length);
  node.after(probe);
  const result = [width(node), width(probe), parseFloat(getComputedStyle(node).fontSize),
                  [...node.textContent].length];
  probe.remove();
  return result;
}"""


def assert_drawn_with_glyphs(page: Page, selector: str) -> None:
    """The text of `selector` (CJK) is drawn one em a character by the embedded font, not as
    boxes."""
    page.evaluate("document.fonts.ready.then(() => true)")
    text_width, tofu_width, font_size, characters = page.evaluate(GLYPH_WIDTHS, selector)
    assert abs(text_width - characters * font_size) < 0.1 * characters * font_size, (
        text_width,
        font_size,
    )
    assert text_width > 1.3 * tofu_width, (text_width, tofu_width)


def test_the_localized_japanese_line_is_on_the_card_drawn_with_glyphs(
    page: tuple[Page, list[str]],
) -> None:
    opened, problems = page
    line = opened.locator('article[id="job-pour/jp/9x16"] .line')
    assert line.inner_text() == "すぐ沸く。"
    assert_drawn_with_glyphs(opened, 'article[id="job-pour/jp/9x16"] .line')
    assert problems == []


def test_a_previs_manifest_filters_by_its_variant_axis(browser: Browser, tmp_path: Path) -> None:
    project = tmp_path / "previs"
    shutil.copytree(REPO / "pipelines", project / "pipelines")
    (project / ".git").mkdir()
    made = kling("report", "pipelines/previs.yaml", cwd=project)
    assert made.returncode == 0, made.stderr
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        opened = context.new_page()
        opened.goto((project / "out/previs/report.html").as_uri())
        opened.wait_for_selector("body[data-ready]", state="attached")
        assert opened.locator("#filter-axis-variant option").count() == 11  # all + ten
        opened.select_option("#filter-axis-variant", "v07-orbit")
        assert opened.locator("#filter-count").inner_text() == "1 shown"
        # Blocks are drawn as they come near the screen, after the count is updated.
        opened.wait_for_selector('article.card[data-axis-variant="v07-orbit"]', state="visible")
        shown = [c for c in opened.locator("article.card").all() if c.is_visible()]
        assert [c.get_attribute("data-axis-variant") for c in shown] == ["v07-orbit"]
        assert "half orbit" in shown[0].inner_text()
    finally:
        context.close()


MANY_MARKETS = 60


def test_a_large_campaign_renders_only_the_cards_near_the_screen(
    browser: Browser, tmp_path: Path
) -> None:
    markets = "\n".join(f"  m{i:02d}: {{line: 'Line {i}'}}" for i in range(MANY_MARKETS))
    manifest = f"""\
version: 1
name: many
model: kwaivgi/kling-v2.6
defaults: {{duration: 5}}
markets:
{markets}
matrix:
  market: [{", ".join(f"m{i:02d}" for i in range(MANY_MARKETS))}]
  aspect_ratio: ["16:9", "9:16", "1:1"]
shots:
  - id: a
    prompt: 'Shot a, {{{{ line }}}}'
  - id: b
    prompt: 'Shot b, {{{{ line }}}}'
"""
    (tmp_path / ".git").mkdir()
    (tmp_path / "many.yaml").write_text(manifest, "utf-8")
    made = kling("report", "many.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    jobs = 2 * 3 * MANY_MARKETS
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        opened = context.new_page()
        opened.goto((tmp_path / "out/many/report.html").as_uri())
        opened.wait_for_selector("body[data-ready]", state="attached")
        assert opened.locator("#filter-count").inner_text() == f"{jobs} shown"
        at_first = opened.locator("article.card").count()
        assert 0 < at_first < jobs / 4, at_first
        assert opened.locator('article[id="job-a/m00/16x9"]').count() == 1
        opened.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        opened.wait_for_selector('article[id="job-b/m59/1x1"]', state="attached")
        assert opened.locator('article[id="job-a/m00/16x9"]').count() == 0  # left the screen
        assert opened.locator("article.card").count() < jobs / 4
        opened.select_option("#filter-market", "m42")
        assert opened.locator("#filter-count").inner_text() == "6 shown"
        opened.evaluate("window.scrollTo(0, 0)")
        opened.wait_for_selector('article[id="job-b/m42/9x16"]', state="visible")
        shown = [c for c in opened.locator("article.card").all() if c.is_visible()]
        assert sorted(str(c.get_attribute("id")) for c in shown) == sorted(
            f"job-{shot}/m42/{ratio}" for shot in "ab" for ratio in ("16x9", "9x16", "1x1")
        )
    finally:
        context.close()


MANY_TAKES = 200


def test_a_many_valued_third_axis_keeps_the_cards_in_the_page_few(
    browser: Browser, tmp_path: Path
) -> None:
    # Hundreds of cards in each market × ratio cell: the page must not lay them all out.
    manifest = f"""\
version: 1
name: takes
model: kwaivgi/kling-v2.6
defaults: {{duration: 5}}
markets:
  us: {{line: 'Boils fast.'}}
  jp: {{line: 'すぐ沸く。'}}
  de: {{line: 'Kocht schnell.'}}
matrix:
  market: [us, jp, de]
  take: [{", ".join(str(i) for i in range(MANY_TAKES))}]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: pour
    prompt: 'Take {{{{ take }}}}, {{{{ line }}}}'
limits: {{max_jobs: 10000}}
"""
    (tmp_path / ".git").mkdir()
    (tmp_path / "takes.yaml").write_text(manifest, "utf-8")
    made = kling("report", "takes.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    jobs = 3 * MANY_TAKES * 2
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        opened = context.new_page()
        opened.goto((tmp_path / "out/takes/report.html").as_uri())
        opened.wait_for_selector("body[data-ready]", state="attached")
        assert opened.locator("#filter-count").inner_text() == f"{jobs} shown"
        assert opened.locator("#filter-axis-take option").count() == MANY_TAKES + 1
        at_first = opened.locator("article.card").count()
        assert 0 < at_first <= 64, at_first
        # A cell's cards wrap onto further rows rather than making a column hundreds wide.
        assert opened.evaluate("document.documentElement.scrollWidth") < 3 * 1280
        opened.select_option("#filter-market", "jp")
        assert opened.locator("#filter-count").inner_text() == f"{jobs // 3} shown"
        assert 0 < opened.locator("article.card").count() <= 64
        assert opened.locator('article[id="job-pour/jp/0/16x9"]').is_visible()
        opened.select_option("#filter-market", "")
        opened.select_option("#filter-axis-take", "150")
        assert opened.locator("#filter-count").inner_text() == "6 shown"
        opened.wait_for_selector('article[id="job-pour/de/150/9x16"]', state="visible")
        assert opened.locator("article.card").count() <= 64
        shown = [c for c in opened.locator("article.card").all() if c.is_visible()]
        assert sorted(str(c.get_attribute("id")) for c in shown) == sorted(
            f"job-pour/{m}/150/{r}" for m in ("us", "jp", "de") for r in ("16x9", "9x16")
        )
    finally:
        context.close()
