"""The review app serves only this campaign's files, to the page on the bound address."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import anyio

from kling_pipe.campaign import Campaign
from kling_pipe.review.server import is_loopback, start_review
from kling_pipe.review.session import ReviewSession
from tests.review.conftest import NAME, ReviewApp


def get(
    url: str,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes = b"",
) -> tuple[int, bytes]:
    """A raw request: the path is sent exactly as given (no client-side normalisation)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_take_is_served_by_name_with_ranges_for_seeking(review_app: ReviewApp) -> None:
    status, data = get(review_app.url, "/take/pour/jp/9x16/1")
    assert status == 200 and data[4:8] == b"ftyp"
    status, part = get(review_app.url, "/take/pour/jp/9x16/1", {"Range": "bytes=0-99"})
    assert status == 206 and part == data[:100]
    assert get(review_app.url, "/take/pour/jp/9x16/2")[0] == 200
    assert get(review_app.url, "/take/pour/jp/9x16/3")[0] == 404  # no such take
    assert get(review_app.url, "/take/pour/xx/9x16/1")[0] == 404  # no such job


def test_path_traversal_is_refused_however_it_is_spelled(review_app: ReviewApp) -> None:
    secret = review_app.project / "campaign.yaml"
    for path in (
        "/take/../../campaign.yaml",
        "/take/%2e%2e/%2e%2e/campaign.yaml/1",
        "/take/..%2f..%2fcampaign.yaml/1",
        f"/take/{secret}/1",
        f"/take//{secret}/1",
        "/../campaign.yaml",
        "/%2e%2e/campaign.yaml",
        f"/poster/%2e%2e/{NAME}/1",
        "/cut/-1",
        "/cut/99",
        "/static/review.js",
    ):
        status, body = get(review_app.url, path)
        assert status in (400, 403, 404), path
        assert b"aspect_ratio" not in body, path


def test_a_clip_that_links_out_of_the_campaign_is_refused(review_project: Path) -> None:
    outside = review_project.parent / "private.mp4"
    clip = review_project / "out" / NAME / "pour/us/16x9.mp4"
    outside.write_bytes(clip.read_bytes())
    clip.unlink()
    clip.symlink_to(outside)
    campaign = Campaign.open(review_project / "campaign.yaml")
    session = ReviewSession(campaign)
    assert session.take_file("pour/us/16x9", 1) is not None  # the store's copy
    for stored in (review_project / ".kling-pipe").rglob("*.mp4"):
        if stored.read_bytes() == outside.read_bytes():
            stored.unlink()
            stored.symlink_to(outside)
    session = ReviewSession(campaign)
    assert session.take_file("pour/us/16x9", 1) is None
    assert session.take_file("pour/us/9x16", 1) is not None


def test_requests_need_the_bound_host_and_decisions_the_pages_header(
    review_app: ReviewApp,
) -> None:
    assert get(review_app.url, "/", {"Host": "attacker.example"})[0] == 403
    decision = json.dumps({"job": "pour/us/16x9", "action": "pick", "take": 1}).encode()
    headers = {"Content-Type": "application/json"}
    assert get(review_app.url, "/api/decide", headers, "POST", decision)[0] == 403
    status, body = get(
        review_app.url, "/api/decide", {**headers, "X-Kling-Review": "1"}, "POST", decision
    )
    assert status == 200, body
    assert json.loads(body)["picked"] == 1


def test_with_a_token_every_request_needs_it(review_project: Path) -> None:
    async def main() -> None:
        campaign = Campaign.open(review_project / "campaign.yaml")
        running = await start_review(ReviewSession(campaign), token="s3cret-t0ken")
        try:
            assert running.url.endswith("/?token=s3cret-t0ken")
            base = running.url.split("?")[0]
            statuses = await anyio.to_thread.run_sync(
                lambda: [
                    get(base, "/")[0],
                    get(base, "/api/board")[0],
                    get(base, "/take/pour/jp/9x16/1")[0],
                    get(base, "/?token=wrong")[0],
                    get(base, "/?token=s3cret-t0ken")[0],
                    get(base, "/api/board", {"Cookie": "kling_review=s3cret-t0ken"})[0],
                ]
            )
            assert statuses == [403, 403, 403, 403, 200, 200]
        finally:
            await running.close()

    anyio.run(main)


def test_only_loopback_binds_go_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
