"""Replicate's answers read into failure kinds and errors: the words its API and models use."""

from __future__ import annotations

import pytest

from kling_pipe.backends.answers import api_error, failure_kind, prediction_from_json
from kling_pipe.emulator.lifecycle import CONTENT_POLICY_ERROR, INTERRUPTED_ERROR, MODEL_ERROR
from kling_pipe.errors import (
    AccountError,
    ContentPolicyError,
    InvalidInputError,
    JobRejectedError,
    RateLimitedError,
    TransientError,
)


@pytest.mark.parametrize(
    "error",
    [
        CONTENT_POLICY_ERROR,
        "The input or output was flagged as sensitive. Please try again with different inputs.",
        "Content was flagged by the safety system. Try different prompts or inputs.",
        "NSFW content detected. Try running it again, or try a different prompt.",
        "Kling API error: Failure to pass the risk control system",
        "Your prompt violates our content policy",
    ],
)
def test_safety_filter_answers_are_content_policy_failures(error: str) -> None:
    assert failure_kind("failed", error) == "content_policy"


@pytest.mark.parametrize(
    "error",
    [
        INTERRUPTED_ERROR,
        "Unknown error (E1000)",
        "Timeout starting prediction (E6716)",
        "internal error, please try again later",
    ],
)
def test_platform_failures_are_transient(error: str) -> None:
    assert failure_kind("failed", error) == "transient"


@pytest.mark.parametrize(
    "error",
    ["Invalid input: start_image could not be decoded", "image is too small (min 300px)"],
)
def test_inputs_the_model_refuses_are_invalid_input(error: str) -> None:
    assert failure_kind("failed", error) == "invalid_input"


def test_anything_else_a_model_says_when_it_fails_is_a_model_error() -> None:
    assert failure_kind("failed", MODEL_ERROR) == "model_error"
    assert failure_kind("failed", None) == "model_error"


def test_only_failed_and_aborted_predictions_have_a_failure_kind() -> None:
    assert failure_kind("aborted", None) == "transient"
    for status in ("starting", "processing", "succeeded", "canceled"):
        assert failure_kind(status, "flagged as sensitive") is None


def test_a_prediction_object_carries_its_failure_kind_and_every_status() -> None:
    aborted = prediction_from_json(
        {"id": "p1", "status": "aborted", "created_at": "2026-01-01T00:00:00.5Z", "error": None}
    )
    assert (aborted.status, aborted.failure, aborted.done) == ("aborted", "transient", True)
    flagged = prediction_from_json({"id": "p2", "status": "failed", "error": CONTENT_POLICY_ERROR})
    assert flagged.failure == "content_policy"
    odd = prediction_from_json({"id": "p3", "status": "paused"})
    assert odd.status == "failed" and odd.error is not None and "paused" in odd.error


def test_api_errors_become_the_error_of_their_kind() -> None:
    invalid = api_error(422, "Input validation failed", "- input.aspect_ratio: must be one of")
    assert type(invalid) is InvalidInputError and invalid.failure == "invalid_input"
    assert isinstance(invalid, JobRejectedError)
    flagged = api_error(400, "Bad request", "The prompt was flagged by our safety filter")
    assert type(flagged) is ContentPolicyError and flagged.failure == "content_policy"
    for status in (401, 402, 403):
        assert type(api_error(status, "Insufficient credit", "")) is AccountError
    for status in (500, 502, 503, 408):
        assert type(api_error(status, "Service Unavailable", "")) is TransientError
    throttled = api_error(429, "Request was throttled", "Your rate limit resets in ~7s.")
    assert isinstance(throttled, RateLimitedError) and throttled.retry_after == 7.0
    by_header = api_error(429, None, "resets in ~7s", retry_after=2.0)
    assert isinstance(by_header, RateLimitedError) and by_header.retry_after == 2.0
