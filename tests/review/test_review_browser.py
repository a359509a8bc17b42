"""The review app in headless Chromium: decisions by keyboard and mouse land in the lock, stay
after a reload and alongside a concurrent CLI edit; takes play in sync; CJK lines have glyphs."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Browser, Page

from kling_pipe.campaign import Campaign
from kling_pipe.lock import lock_bytes, read_lock
from kling_pipe.running import decisions
from tests.conftest import kling
from tests.reporting.test_gallery_browser import assert_drawn_with_glyphs
from tests.review.conftest import NAME, ReviewApp, open_review

TAKES_TIMES = "[...document.querySelectorAll('#job video')].map(v => v.currentTime)"


def saved(page: Page, count: int) -> None:
    """Wait until the page has had `count` decisions answered by the server."""
    page.wait_for_selector(f'body[data-saved="{count}"]', state="attached")


def current_job(page: Page) -> str:
    return page.locator("#job h1").inner_text()


def lock_of(project: Path) -> dict[str, dict[str, object]]:
    lock = read_lock(project / "campaign.lock.json", NAME)
    return {job_id: entry.model_dump(exclude_none=True) for job_id, entry in lock.jobs.items()}


def test_keyboard_decisions_land_in_the_lock_byte_stably_and_survive_a_reload(
    browser: Browser, review_app: ReviewApp, tmp_path: Path
) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    assert current_job(page) == "pour/us/16x9"
    assert page.locator("#left").inner_text().startswith("4 left")
    page.keyboard.press("2")  # pick take 2
    saved(page, 1)
    page.keyboard.press("j")
    assert current_job(page) == "pour/us/9x16"
    page.keyboard.press("x")
    page.keyboard.press("1")  # reject take 1
    saved(page, 2)
    page.keyboard.press("r")  # one more take
    saved(page, 3)
    assert page.locator("#job figure.take").count() == 3
    assert "rerolled" in page.locator('#job figure[data-take="3"]').inner_text()
    page.keyboard.press("n")
    page.keyboard.type("湯気をもっと: warmer steam")
    page.keyboard.press("Enter")
    saved(page, 4)
    assert page.locator("#note").inner_text() == "湯気をもっと: warmer steam"
    assert page.locator("#left").inner_text().startswith("2 left")

    # The same decisions made through the library on a copy give the same bytes.
    twin = tmp_path / "twin"
    shutil.copytree(review_app.project, twin, symlinks=True)
    (twin / "campaign.lock.json").unlink()
    campaign = Campaign.open(twin / "campaign.yaml")
    decisions.pick(campaign, "pour/us/16x9", 2)
    decisions.reject(campaign, "pour/us/9x16", 1)
    decisions.reroll(campaign, ["pour/us/9x16"])
    decisions.annotate(campaign, "pour/us/9x16", "湯気をもっと: warmer steam")
    written = (review_app.project / "campaign.lock.json").read_bytes()
    assert written == (twin / "campaign.lock.json").read_bytes()
    assert written == lock_bytes(read_lock(review_app.project / "campaign.lock.json", NAME))

    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    assert current_job(page) == "pour/us/9x16"  # the address keeps the job
    assert page.locator("#job figure.take.rejected").get_attribute("data-take") == "1"
    assert page.locator("#note").inner_text() == "湯気をもっと: warmer steam"
    page.keyboard.press("k")
    assert page.locator("#job figure.take.picked").get_attribute("data-take") == "2"
    assert page.locator('.row[data-job="pour/us/16x9"]').inner_text().endswith("#2")
    page.select_option("#f-status", "picked")
    assert page.locator("#left").inner_text() == "0 left · 1 shown of 4"
    assert problems == []


def test_mouse_decisions_land_in_the_lock(browser: Browser, review_app: ReviewApp) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.locator('.row[data-job="pour/jp/9x16"]').click()
    assert current_job(page) == "pour/jp/9x16"
    page.locator('#job figure[data-take="1"] button.pick').click()
    saved(page, 1)
    page.locator('#job figure[data-take="2"] button.reject').click()
    saved(page, 2)
    page.locator("#reroll").click()
    saved(page, 3)
    page.locator("#edit-note").click()
    page.locator("#note-box").fill("keep")
    page.locator("#note-box").press("Enter")
    saved(page, 4)
    entry = lock_of(review_app.project)["pour/jp/9x16"]
    assert entry["picked"]["take"] == 1  # type: ignore[index]
    assert [d["take"] for d in entry["rejected"]] == [2]  # type: ignore[attr-defined]
    assert (entry["rerolls"], entry["note"]) == (1, "keep")
    page.locator('#job figure[data-take="2"] button.reject').click()  # "Unreject"
    saved(page, 5)
    assert lock_of(review_app.project)["pour/jp/9x16"].get("rejected", ()) == ()
    assert problems == []


def test_a_pick_from_the_cli_meanwhile_is_kept_and_shown_after_reload(
    browser: Browser, review_app: ReviewApp
) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.keyboard.press("1")
    saved(page, 1)
    cli = kling("pick", "campaign.yaml", "pour/jp/16x9", "2", cwd=review_app.project)
    assert cli.returncode == 0, cli.stderr
    page.keyboard.press("j")
    page.keyboard.press("2")  # the page's view of the lock is older than the CLI's pick
    saved(page, 2)
    picks = {
        job_id: entry["picked"]["take"]  # type: ignore[index]
        for job_id, entry in lock_of(review_app.project).items()
        if "picked" in entry
    }
    assert picks == {"pour/us/16x9": 1, "pour/us/9x16": 2, "pour/jp/16x9": 2}
    page.reload()
    page.wait_for_selector("body[data-ready]", state="attached")
    page.locator('.row[data-job="pour/jp/16x9"]').click()
    assert page.locator("#job figure.take.picked").get_attribute("data-take") == "2"
    assert problems == []


def test_a_decision_the_lock_refuses_is_reported_and_nothing_is_written(
    browser: Browser, review_app: ReviewApp
) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.keyboard.press("r")
    saved(page, 1)
    before = (review_app.project / "campaign.lock.json").read_bytes()
    page.keyboard.press("3")  # take 3 is asked for, not made
    page.wait_for_selector("#toast:not([hidden])")
    assert "take 3 is not made yet" in page.locator("#toast").inner_text()
    assert (review_app.project / "campaign.lock.json").read_bytes() == before
    assert [p for p in problems if "409" not in p] == []


def test_takes_play_pause_and_scrub_in_sync(browser: Browser, review_app: ReviewApp) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.locator('.row[data-job="pour/jp/9x16"]').click()
    assert page.locator("#job video").count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('#job video')].every(v => v.readyState >= 2)"
    )
    box = page.locator("#job video").first.bounding_box()
    assert box is not None and box["height"] >= 400  # a 9:16 take big enough to watch
    page.locator("#play").click()
    page.wait_for_function("document.querySelector('#job video').currentTime > 1.5")
    playing = page.evaluate(TAKES_TIMES)
    assert max(playing) - min(playing) < 0.2, playing
    assert page.evaluate("[...document.querySelectorAll('#job video')].every(v => !v.paused)")
    page.keyboard.press(" ")  # pause
    page.wait_for_function("[...document.querySelectorAll('#job video')].every(v => v.paused)")
    paused = page.evaluate(TAKES_TIMES)
    assert max(paused) - min(paused) < 0.05, paused
    page.locator("#scrub").evaluate(
        "s => { s.value = 3.25; s.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    page.wait_for_function("[...document.querySelectorAll('#job video')].every(v => !v.seeking)")
    scrubbed = page.evaluate(TAKES_TIMES)
    assert all(abs(t - 3.25) < 0.05 for t in scrubbed), scrubbed
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("[...document.querySelectorAll('#job video')].every(v => !v.seeking)")
    assert all(abs(t - 2.25) < 0.05 for t in page.evaluate(TAKES_TIMES))
    assert problems == []


def test_the_japanese_line_is_drawn_with_glyphs_not_boxes(
    browser: Browser, review_app: ReviewApp
) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.locator('.row[data-job="pour/jp/16x9"]').click()
    assert page.locator("#line").inner_text() == "すぐ沸く。"
    assert page.locator("#line").get_attribute("lang") == "ja-JP"
    assert_drawn_with_glyphs(page, "#line")
    # A note in characters the page's subset lacks: the whole face is fetched for them.
    page.keyboard.press("n")
    page.keyboard.type("麦茶の湯気")
    page.keyboard.press("Enter")
    saved(page, 1)
    assert_drawn_with_glyphs(page, "#note")
    assert problems == []


def test_filters_and_the_cut_view_show_the_takes_the_cut_uses(
    browser: Browser, review_app: ReviewApp
) -> None:
    problems: list[str] = []
    page = open_review(browser, review_app.url, problems)
    page.select_option("#f-market", "jp")
    page.select_option("#f-ratio", "9:16")
    assert page.locator("#left").inner_text() == "1 left · 1 shown of 4"
    assert current_job(page) == "pour/jp/9x16"
    page.locator("#job").click(position={"x": 5, "y": 5})  # keys go to the page, not a select
    page.keyboard.press("2")
    saved(page, 1)
    page.keyboard.press("c")
    cut = page.locator('section.cut[data-cut="spot/jp/9:16"]')
    assert cut.locator("video").get_attribute("src") == "/cut/3"
    assert cut.locator("li").inner_text() == "pour/jp/9x16: take 2 (picked)"
    cut.locator("li").click()
    assert current_job(page) == "pour/jp/9x16"
    assert problems == []
