"""Webhook signatures as Replicate makes them (Standard Webhooks), and which events to send."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from kling_pipe.emulator.lifecycle import Event

SECRET_PREFIX = "whsec_"
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


def secret_from_bytes(key: bytes) -> str:
    """A signing secret as `GET /v1/webhooks/default/secret` returns it: `whsec_<base64>`."""
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    key = base64.b64decode(secret[len(SECRET_PREFIX) :])
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """Every header of one delivery: id, timestamp, signature and content type."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def wanted(event: Event, events_filter: Sequence[str] | None) -> bool:
    """Whether a webhook asked for `event`; without a filter every event is sent."""
    if event not in WEBHOOK_EVENTS:
        return False
    return events_filter is None or event in events_filter
