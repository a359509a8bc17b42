"""report.html shows every take of a job on its card, with the picks, rejections and notes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import kling
from tests.reporting.test_report_contents import parse, shown
from tests.review.conftest import (  # noqa: F401  (fixtures)
    NAME,
    generated_review_project,
    review_project,
)


def card_of(page: str, job_id: str) -> str:
    match = re.search(rf'<article[^>]*id="job-{re.escape(job_id)}".*?</article>', page, re.S)
    assert match, job_id
    return match.group(0)


def test_cards_show_every_take_and_the_decisions_from_the_lock(
    review_project: Path,  # noqa: F811  (the fixture imported above)
) -> None:
    for decision in (
        ("pick", "pour/jp/9x16", "2", "--note", "湯気がいい"),
        ("reject", "pour/jp/9x16", "1"),
        ("reject", "pour/us/16x9", "2"),
    ):
        done = kling(decision[0], "campaign.yaml", *decision[1:], cwd=review_project)
        assert done.returncode == 0, done.stderr
    made = kling("report", "campaign.yaml", cwd=review_project)
    assert made.returncode == 0, made.stderr
    page = shown((review_project / "out" / NAME / "report.html").read_text("utf-8"))
    card = card_of(page, "pour/jp/9x16")
    sources = [a["src"] for t, a in parse(card).tags if t == "video"]
    assert sources == ["pour/jp/9x16.mp4", "pour/jp/9x16.take2.mp4"]
    takes = re.findall(r'<div class="take( picked| rejected)?">', card)
    assert takes == [" rejected", " picked"]
    assert 'data-review="picked"' in card and "湯気がいい" in card
    assert 'data-review="rejected"' in card_of(page, "pour/us/16x9")
    assert "data-review" not in card_of(page, "pour/us/9x16")  # nothing decided
    options = [a["value"] for t, a in parse(page).tags if t == "option"]
    assert options[-3:] == ["", "rejected", "picked"]  # the review filter
    for job_id in ("pour/us/16x9", "pour/us/9x16", "pour/jp/16x9"):
        assert len(re.findall("<video", card_of(page, job_id))) == 2


def test_a_failed_later_take_is_listed_as_not_generated_and_leaves_the_card_as_it_was(
    review_project: Path,  # noqa: F811  (the fixture imported above)
) -> None:
    run_json = review_project / "out" / NAME / "run.json"
    record = json.loads(run_json.read_text("utf-8"))
    takes = {(j["id"], j["take"]) for j in record["jobs"]}
    assert {("pour/jp/9x16", 1), ("pour/jp/9x16", 2)} <= takes
    for job in record["jobs"]:
        if (job["id"], job["take"]) == ("pour/jp/9x16", 2):
            job.update(status="failed", error="content policy (take two)", output=None)
    run_json.write_text(json.dumps(record), "utf-8")
    made = kling("report", "campaign.yaml", cwd=review_project)
    assert made.returncode == 0, made.stderr
    page = shown((review_project / "out" / NAME / "report.html").read_text("utf-8"))
    problems = re.search(r'<section class="problems".*?</section>', page, re.S)
    assert problems, "no Not generated section"
    listed = re.findall(r"<code>([^<]+)</code>", problems.group(0))
    assert listed == ["pour/jp/9x16#2"]
    assert "content policy (take two)" in problems.group(0)
    assert "Not generated (1)" in problems.group(0)
    # The card's status is its first take's, which was made.
    assert 'data-status="failed"' not in card_of(page, "pour/jp/9x16")
