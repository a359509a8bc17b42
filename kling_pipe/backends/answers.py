"""Replicate's answers in the backend's terms: prediction objects become `Prediction`s with a
`FailureKind`, API errors become the `BackendError` family.

This is the one place that reads Replicate's words. A failed prediction is not an HTTP error:
its status is `failed` and its `error` is free text, so the kind is read from that text, in
this order (first match wins, else `model_error`):

- content_policy: the safety filters' answers, e.g. Replicate's "The input or output was
  flagged as sensitive. Please try again with different inputs. (E005)", Kling's "risk
  control", "NSFW", "content policy", "moderation", "safety system".
- invalid_input: the model refused the inputs themselves ("invalid input", an image too small
  or of a wrong size or format).
- transient: the platform, not the job: "Prediction interrupted; please retry (code: PA)",
  E1000 (unknown error) and E6716 (timeout starting), timeouts, "try again later".

An `aborted` prediction (it never started, e.g. its deadline passed) is `transient`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from kling_pipe.backends.protocol import TERMINAL, Prediction, Status
from kling_pipe.errors import (
    AccountError,
    BackendError,
    ContentPolicyError,
    FailureKind,
    InvalidInputError,
    JobRejectedError,
    RateLimitedError,
    TransientError,
)

_CONTENT_POLICY = re.compile(
    r"\bE005\b|flagged|sensitive|nsfw|not safe for work|content[ _-]?polic|moderat"
    r"|safety (?:system|filter|check|review)|risk[ _-]?control|inappropriate|prohibited content"
    r"|violat\w* (?:our |the )?(?:polic|guideline|terms|usage)",
    re.IGNORECASE,
)
_INVALID_INPUT = re.compile(
    r"invalid input|input validation|invalid (?:image|video|audio|parameter|argument|value)"
    r"|(?:image|video|file) (?:is )?too (?:small|large|big|short|long)"
    r"|unsupported (?:image|video|file|format|aspect ratio)"
    r"|(?:resolution|dimensions|aspect ratio) (?:of|is|must|should)",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"interrupted|please retry|try again later|\bE1000\b|\bE6716\b|timed? ?out|temporar"
    r"|unavailable|overloaded|server is busy|internal (?:server )?error|connection (?:reset|error)",
    re.IGNORECASE,
)
_RESETS_IN = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_DEFAULT_RETRY_AFTER = 10.0
_STATUSES: frozenset[str] = TERMINAL | {"starting", "processing"}


def failure_kind(status: str, error: str | None) -> FailureKind | None:
    """The kind of a prediction's failure from its status and `error` text (see the module)."""
    if status == "aborted":
        return "transient"
    if status != "failed":
        return None
    text = error or ""
    if _CONTENT_POLICY.search(text):
        return "content_policy"
    if _INVALID_INPUT.search(text):
        return "invalid_input"
    if _TRANSIENT.search(text):
        return "transient"
    return "model_error"


def retry_after_seconds(detail: str | None, header: float | None) -> float:
    """How long a 429 asks to wait: the header, else the body's "resets in ~Ns", else 10 s."""
    if header is not None and header >= 0:
        return header
    match = _RESETS_IN.search(detail or "")
    return float(match.group(1)) if match else _DEFAULT_RETRY_AFTER


def api_error(
    status: int, title: str | None, detail: str | None, retry_after: float | None = None
) -> BackendError:
    """The `BackendError` for an HTTP error answer of Replicate's API (RFC 7807 body)."""
    detail = detail or ""
    text = f"{title or 'error'}: {detail}".strip(": ")
    said = f"Replicate answered {status} {text}"
    if status == 429:
        return RateLimitedError(text, retry_after_seconds(detail, retry_after))
    if status in (401, 402, 403):
        return AccountError(said)
    if status >= 500 or status in (408, 409, 425):
        return TransientError(said)
    if _CONTENT_POLICY.search(text):
        return ContentPolicyError(said)
    if status in (400, 404, 413, 422):
        return InvalidInputError(said)
    return JobRejectedError(said)


def epoch(stamp: str | None) -> float | None:
    """An RFC 3339 time (`2025-05-01T12:00:00.123Z`) in seconds since the epoch; None if absent
    or unreadable."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _output_url(output: Any) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    url = getattr(output, "url", output)
    return url if isinstance(url, str) else None


def prediction_from_json(data: dict[str, Any]) -> Prediction:
    """A prediction object of Replicate's API (from the client, a listing or a webhook) as a
    `Prediction`. Every status is accepted, `aborted` included; an unknown one reads as failed."""
    metrics = data.get("metrics") or {}
    latency = metrics.get("total_time") if isinstance(metrics, dict) else None
    created, completed = data.get("created_at"), data.get("completed_at")
    if not isinstance(latency, int | float):
        start, end = epoch(created), epoch(completed)
        latency = max(0.0, end - start) if start is not None and end is not None else None
    raw_status = data.get("status")
    status: Status = raw_status if raw_status in _STATUSES else "failed"
    version = data.get("version")
    output = data.get("output")
    error = str(data["error"]) if data.get("error") else None
    if status == "failed" and raw_status not in _STATUSES:
        error = error or f"unknown prediction status {raw_status!r}"
    return Prediction(
        id=str(data["id"]),
        status=status,
        output=_output_url(output),
        error=error,
        model_version=version if isinstance(version, str) and version != "hidden" else None,
        created_at=created if isinstance(created, str) else None,
        completed_at=completed if isinstance(completed, str) else None,
        data_removed=bool(data.get("data_removed")) or (status == "succeeded" and output is None),
        latency=float(latency) if latency is not None else None,
        failure=failure_kind(status, error),
    )
