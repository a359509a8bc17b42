"""The rule that recognises a lost create's prediction in the account's listing."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kling_pipe.backends.protocol import Prediction, Request
from kling_pipe.backends.recovery import (
    CLOCK_SKEW_S,
    choose,
    created_since,
    data_url_sha256,
    files_api_id,
    same_request,
)

REQUEST = Request(
    key="k",
    model="kwaivgi/kling-v2.6",
    inputs={"prompt": "a kettle", "duration": 5, "start_image": "assets/kettle.png"},
    local_files={"start_image": Path("assets/kettle.png")},
)


def _listed(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "p1",
        "model": "kwaivgi/kling-v2.6",
        "version": "hidden",
        "status": "processing",
        "input": {"prompt": "a kettle", "duration": 5.0, "start_image": "https://x/v1/files/f1"},
    }
    entry.update(changes)
    return entry


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_same_model_and_inputs_match_and_leave_the_files_to_check() -> None:
    assert same_request(REQUEST, _listed()) == {"start_image": "https://x/v1/files/f1"}


def test_another_model_another_input_or_an_extra_input_does_not_match() -> None:
    assert same_request(REQUEST, _listed(model="kwaivgi/kling-v2.1")) is None
    other = {"prompt": "a teapot", "duration": 5, "start_image": "https://x/v1/files/f1"}
    assert same_request(REQUEST, _listed(input=other)) is None
    extra = {**_listed()["input"], "negative_prompt": "blur"}
    assert same_request(REQUEST, _listed(input=extra)) is None
    no_file = {"prompt": "a kettle", "duration": 5}
    assert same_request(REQUEST, _listed(input=no_file)) is None


def test_a_pinned_version_matches_on_the_version_id() -> None:
    pinned = Request(key="k", model="kwaivgi/kling-v2.6:abc123", inputs={"prompt": "p"})
    assert same_request(pinned, _listed(version="abc123", input={"prompt": "p"})) == {}
    assert same_request(pinned, _listed(version="def456", input={"prompt": "p"})) is None


def test_creation_before_since_less_the_clock_skew_is_too_old() -> None:
    since = time.time()
    assert created_since(_listed(created_at=_stamp(since - CLOCK_SKEW_S + 1)), since) is True
    assert created_since(_listed(created_at=_stamp(since - CLOCK_SKEW_S - 1)), since) is False
    assert created_since(_listed(), since) is None


def test_data_urls_are_hashed_and_only_api_file_urls_name_a_file() -> None:
    raw = b"\x89PNG not really"
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    assert data_url_sha256(url) == hashlib.sha256(raw).hexdigest()
    assert data_url_sha256("https://x/y.png") is None
    api = "https://api.replicate.com"
    assert files_api_id(f"{api}/v1/files/abc", api) == "abc"
    assert files_api_id("https://replicate.delivery/abc/kettle.png", api) is None
    assert files_api_id("https://evil.example/v1/files/abc", api) is None


def test_the_newest_match_still_usable_is_chosen() -> None:
    failed = Prediction("new", "failed")
    running = Prediction("older", "processing")
    assert choose([failed, running]) is running
    assert choose([failed]) is failed
    assert choose([]) is None
