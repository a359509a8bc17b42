"""What the gallery shows, decided without a disk or a browser: cards, captions, escaping."""

from __future__ import annotations

import base64
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from kling_pipe.campaign import Campaign
from kling_pipe.reporting.contents import (
    NOT_RUN,
    Caption,
    Media,
    build_gallery,
    cut_card,
    cut_entry_from_path,
    describe_value,
)
from kling_pipe.reporting.gallery import pack_blocks, render_gallery, unpack_blocks
from kling_pipe.running.record import JobRun, RunRecord, RunSummary
from tests.conftest import REPO

MANIFEST = """\
version: 1
name: escapes
model: kwaivgi/kling-v2.6
defaults: {duration: 5}
markets:
  us: {product: 'Acme "Kettle" <script>alert(1)</script> & Co'}
  jp: {product: "アクメケトル"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: pour
    prompt: 'The {{ product }} pours.'
"""


def campaign_at(tmp_path: Path) -> Campaign:
    (tmp_path / ".git").mkdir(exist_ok=True)
    path = tmp_path / "campaign.yaml"
    path.write_text(MANIFEST, "utf-8")
    return Campaign.open(path)


def record_for(jobs: list[JobRun]) -> RunRecord:
    return RunRecord(
        manifest="escapes",
        backend="replicate",
        status="failed",
        exit_code=1,
        jobs=jobs,
        summary=RunSummary(
            jobs=len(jobs),
            done=1,
            cached=0,
            failed=1,
            refused=0,
            canceled=0,
            generations=2,
            spent_usd=0.7,
            seconds=40.0,
        ),
    )


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


PACKED = re.compile(r'<script type="application/gzip;base64" id="gallery-blocks">(.*?)</script>')
PLACEHOLDER = re.compile(r'<div class="block" data-block="(\d+)"[^>]*></div>')


def shown(page: str) -> str:
    """The page as a browser shows it once every block of cards has been on screen."""
    packed = PACKED.search(page)
    if packed is None:
        return page
    sources = unpack_blocks(packed.group(1))
    page = PACKED.sub("", page)
    return PLACEHOLDER.sub(lambda m: sources[int(m.group(1))], page)


def parse(page: str) -> Elements:
    """The tags and text of the page with every block of cards shown."""
    parser = Elements()
    parser.feed(shown(page))
    return parser


def test_a_previs_axis_becomes_side_by_side_cards_captioned_with_what_differs() -> None:
    campaign = Campaign.open(REPO / "pipelines/previs.yaml")
    gallery = build_gallery(campaign.plan(), None, {})
    (grid,) = gallery.shots
    assert (grid.markets, grid.ratios) == ((None,), ("16:9",))
    cards = grid.at(None, "16:9")
    assert len(cards) == 10
    first = cards[0].caption
    assert first == Caption(
        "v01-push-in", (("camera", "slow push-in"), ("mood", "golden hour, warm"))
    )
    assert len({c.caption for c in cards}) == 10
    page = shown(render_gallery(gallery))
    assert page.count('<article class="card"') == 10
    assert 'class="cards variations"' in page


def test_market_and_ratio_grid_has_one_card_per_cell_and_no_caption(tmp_path: Path) -> None:
    gallery = build_gallery(campaign_at(tmp_path).plan(), None, {})
    (grid,) = gallery.shots
    assert grid.markets == ("us", "jp")
    assert grid.ratios == ("16:9", "9:16")
    assert [len(grid.at(m, r)) for m in grid.markets for r in grid.ratios] == [1, 1, 1, 1]
    assert all(card.caption is None for card in grid.cards)


def test_without_a_run_every_card_says_not_run_with_its_estimate(tmp_path: Path) -> None:
    gallery = build_gallery(campaign_at(tmp_path).plan(), None, {})
    assert {c.status for c in gallery.cards} == {NOT_RUN}
    assert all(c.cost_usd is None and c.estimate_usd > 0 for c in gallery.cards)
    page = shown(render_gallery(gallery))
    assert page.count("not run yet") == 4
    assert "<video" not in page
    assert "Not run yet" in page


def test_prompts_and_server_errors_are_escaped_and_japanese_kept(tmp_path: Path) -> None:
    campaign = campaign_at(tmp_path)
    record = record_for(
        [
            JobRun(id="pour/us/16x9", key="k", status="done", prediction_id="p<1>", cost_usd=0.7),
            JobRun(
                id="pour/jp/16x9",
                key="k2",
                status="failed",
                error='E005: "prompt" <flagged> & rejected',
                prediction_id="p2",
            ),
        ]
    )
    media = {"pour/us/16x9": Media("pour/us/16x9.mp4", "posters/abc.jpg")}
    page = shown(render_gallery(build_gallery(campaign.plan(), record, media)))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = parse(page)
    text = "".join(parsed.text)
    assert 'The Acme "Kettle" <script>alert(1)</script> & Co pours.' in text
    assert "The アクメケトル pours." in text
    assert 'E005: "prompt" <flagged> & rejected' in text
    scripts = [a.get("type") for t, a in parsed.tags if t == "script"]
    assert scripts == ["application/json", None]  # the filters' index and the page's code
    packed = render_gallery(build_gallery(campaign.plan(), record, media))
    assert packed.count("<script") == 3  # and the cards, packed


def test_failed_jobs_are_listed_with_their_reason_and_linked_to_their_card(
    tmp_path: Path,
) -> None:
    campaign = campaign_at(tmp_path)
    record = record_for(
        [
            JobRun(id="pour/us/16x9", key="k", status="done"),
            JobRun(id="pour/jp/9x16", key="k2", status="failed", error="model raised an error"),
        ]
    )
    gallery = build_gallery(campaign.plan(), record, {})
    assert [p.label for p in gallery.problems] == ["pour/jp/9x16"]
    page = shown(render_gallery(gallery))
    problems = page[page.index('class="problems"') : page.index('id="shot-pour"')]
    assert 'href="#job-pour/jp/9x16"' in problems
    assert "model raised an error" in problems
    assert 'id="job-pour/jp/9x16"' in page


def test_cards_carry_the_run_status_cost_prediction_and_change_reason(tmp_path: Path) -> None:
    campaign = campaign_at(tmp_path)
    record = record_for(
        [JobRun(id="pour/us/9x16", key="k", status="done", prediction_id="pred42", cost_usd=0.7)]
    )
    gallery = build_gallery(campaign.plan(), record, {"pour/us/9x16": Media("pour/us/9x16.mp4")})
    (card,) = [c for c in gallery.cards if c.job_id == "pour/us/9x16"]
    assert (card.status, card.cost_usd, card.prediction_id) == ("done", 0.7, "pred42")
    assert (card.change, card.reason) == ("new", "not in the lock")
    page = shown(render_gallery(gallery))
    article = re.search(r'<article[^>]*id="job-pour/us/9x16".*?</article>', page, re.S)
    assert article is not None
    assert "$0.70 spent" in article.group(0) and "pred42" in article.group(0)
    assert 'data-market="us" data-ratio="9:16" data-status="done"' in article.group(0)
    assert 'src="pour/us/9x16.mp4"' in article.group(0)


def test_filter_choices_list_each_market_ratio_and_status_once(tmp_path: Path) -> None:
    campaign = campaign_at(tmp_path)
    record = record_for([JobRun(id="pour/jp/9x16", key="k", status="failed", error="x")])
    gallery = build_gallery(campaign.plan(), record, {})
    assert gallery.choices("market") == ("us", "jp")
    assert gallery.choices("ratio") == ("16:9", "9:16")
    assert gallery.choices("status") == (NOT_RUN, "failed")
    options = [a["value"] for t, a in parse(render_gallery(gallery)).tags if t == "option"]
    assert options == ["", "us", "jp", "", "16:9", "9:16", "", NOT_RUN, "failed"]


def test_cut_files_found_on_disk_are_read_as_cut_market_and_ratio() -> None:
    entry = cut_entry_from_path("cuts/spot/jp/9x16.mp4")
    assert entry["id"] == "spot/jp/9x16"
    assert entry["values"] == {"market": "jp", "aspect_ratio": "9:16"}
    card = cut_card(entry, Media("cuts/spot/jp/9x16.mp4"))
    assert (card.cut, card.market, card.aspect_ratio, card.status) == ("spot", "jp", "9:16", "done")


def test_a_missing_cut_says_which_clips_kept_it_from_being_made() -> None:
    card = cut_card(
        {"id": "spot/us/1x1", "cut": "spot", "status": "missing", "missing": ["pour/us/1x1"]},
        Media(),
    )
    assert card.error == "no clip for pour/us/1x1"
    assert card.status == "missing"


def test_a_matrix_mapping_value_is_captioned_by_its_id_then_its_fields() -> None:
    assert describe_value({"id": "v1", "camera": "orbit", "lens": [24, 35]}) == Caption(
        "v1", (("camera", "orbit"), ("lens", "24, 35"))
    )
    assert describe_value(True) == Caption("true")


def test_blocks_packed_a_block_at_a_time_are_the_gzip_of_the_whole_array() -> None:
    sources = ['<div class="card">ü 日本 "quoted" \\ </script>\n</div>' * n for n in range(40)]
    whole = json.dumps(sources, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    expected = base64.b64encode(gzip.compress(whole, compresslevel=6, mtime=0)).decode("ascii")
    assert pack_blocks(sources) == expected
    assert unpack_blocks(pack_blocks(sources)) == sources
    assert unpack_blocks(pack_blocks([])) == []
