"""The gallery shows a clip made from another shot's clip beside that clip."""

from __future__ import annotations

from kling_pipe.campaign import Campaign
from kling_pipe.reporting.contents import Media, UpstreamClip, build_gallery
from kling_pipe.reporting.gallery import render_gallery
from tests.conftest import REPO
from tests.reporting.test_report_contents import parse


def test_a_lip_sync_card_shows_its_master_beside_it() -> None:
    campaign = Campaign.open(REPO / "pipelines/dubbed-launch.yaml")
    media = {
        "master/9x16": Media("master/9x16.mp4", "posters/master.jpg"),
        "dub/cn/9x16": Media("dub/cn/9x16.mp4", "posters/dub.jpg"),
    }
    gallery = build_gallery(campaign.plan(), None, media)
    dub = next(c for c in gallery.cards if c.job_id == "dub/cn/9x16")
    assert dub.upstream == (UpstreamClip("video_url", "master/9x16", media["master/9x16"]),)
    master = next(c for c in gallery.cards if c.job_id == "master/9x16")
    assert master.upstream == ()

    page = parse(render_gallery(gallery))
    links = [a.get("href") for tag, a in page.tags if tag == "a"]
    assert "#job-master/9x16" in links
    images = [a.get("src") for tag, a in page.tags if tag == "img"]
    assert "posters/master.jpg" in images
    ids = {a.get("id") for tag, a in page.tags if tag == "article"}
    assert "job-master/9x16" in ids  # the link lands on the master's card
