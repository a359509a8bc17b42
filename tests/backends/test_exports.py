"""The import paths other packages use stay where they were when replicate.py was split."""

from __future__ import annotations

import kling_pipe.backends as backends
from kling_pipe.backends import answers, downloads, webhooks
from kling_pipe.backends import replicate as replicate_backend


def test_the_split_keeps_the_old_import_paths() -> None:
    assert replicate_backend.ReplicateBackend.name == "replicate"
    assert replicate_backend.WebhookReceiver is webhooks.WebhookReceiver
    assert replicate_backend.prediction_from_json is answers.prediction_from_json
    assert replicate_backend.retry_after_seconds is answers.retry_after_seconds
    assert callable(downloads.download)


def test_the_package_exports_the_protocol_and_the_factory() -> None:
    assert set(backends.__all__) == {
        "BACKEND_NAMES",
        "Backend",
        "BackendFacts",
        "FailureKind",
        "Fetched",
        "Prediction",
        "Request",
        "describe_backend",
        "made_for_free",
        "make_backend",
    }
