"""Error bodies exactly as Replicate shapes them (RFC 7807 problem details)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kling_pipe.models.checks import InputIssue
from kling_pipe.models.spec import ModelSpec


@dataclass(frozen=True)
class InvalidField:
    """One entry of a 422's `invalid_fields`: the validator's error type, field and message."""

    type: str
    field: str
    description: str

    def to_json(self) -> dict[str, str]:
        """The entry as Replicate serialises it."""
        return {"type": self.type, "field": self.field, "description": self.description}


def _issue_type(spec: ModelSpec, issue: InputIssue, value: Any) -> str:
    # Replicate validates with a JSON-schema validator; these are its error type names.
    if issue.kind == "range":
        minimum = spec.inputs[issue.field].minimum
        return "number_gte" if minimum is not None and value < minimum else "number_lte"
    if issue.kind == "length":
        return "array_max_items" if isinstance(value, list) else "string_lte"
    return {
        "type": "invalid_type",
        "enum": "enum",
        "required": "required",
        "unknown": "additional_property_not_allowed",
    }.get(issue.kind, issue.kind)


def input_fields(
    spec: ModelSpec, issues: Sequence[InputIssue], inputs: Mapping[str, Any]
) -> list[InvalidField]:
    """The invalid fields for the input issues that Replicate rejects."""
    return [
        InvalidField(_issue_type(spec, i, inputs.get(i.field)), f"input.{i.field}", i.message)
        for i in issues
    ]


def validation_failed(fields: Sequence[InvalidField]) -> dict[str, Any]:
    """A 422 body: `title`, a `detail` with one line per field, `status`, `invalid_fields`."""
    return {
        "title": "Input validation failed",
        "detail": "\n".join(f"- {f.field}: {f.description}" for f in fields),
        "status": 422,
        "invalid_fields": [f.to_json() for f in fields],
    }


def throttled(per_minute: float, burst: int, wait_s: float) -> dict[str, Any]:
    """A 429 body for the create rate limit; `retry_after` is whole seconds, at least 1."""
    seconds = max(1, math.ceil(wait_s))
    return {
        "title": "Request was throttled",
        "detail": (
            "Request was throttled. Your rate limit for creating predictions is "
            f"{per_minute:g} requests per minute with a burst of {burst} requests. "
            f"Your rate limit resets in ~{seconds}s."
        ),
        "status": 429,
        "retry_after": seconds,
    }


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """Any other error body."""
    return {"title": title, "detail": detail, "status": status}


def unauthenticated() -> dict[str, Any]:
    """The 401 body for a missing or wrong token."""
    return problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def insufficient_credit() -> dict[str, Any]:
    """The 402 body a create gets when the account has run out of credit."""
    return problem(
        402,
        "Insufficient credit",
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again.",
    )


SERVER_ERROR_TITLES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
