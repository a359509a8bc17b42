"""Generation backends: where predictions are made. The scheduler sees only the protocol.

`make_backend` builds one by name and `describe_backend` tells what sets it apart (free,
recorded in the lock, the name its outputs are journaled under) without making one; nothing
outside this package compares backend names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from kling_pipe.backends.protocol import Backend, FailureKind, Fetched, Prediction, Request
from kling_pipe.errors import InputError
from kling_pipe.models.spec import ModelRegistry
from kling_pipe.spelling import did_you_mean

BACKEND_NAMES = ("replicate", "preview")
"""The names `make_backend` knows, the default first."""


@dataclass(frozen=True)
class BackendFacts:
    """What the run core needs to know of a backend before making one (no token needed)."""

    name: str
    """The name its outputs are journaled under: `replicate`, `replicate@127.0.0.1:8787` for
    an emulator or proxy (never mistaken for real generations), `preview`."""
    free: bool
    records_to_lock: bool
    outputs_kept_for: timedelta | None = None
    """How long the provider serves a finished prediction's output (None: as long as the
    prediction exists)."""


def journal_name(base_url: str | None) -> str:
    """The name Replicate outputs from `base_url` are journaled under: an emulator's or a
    proxy's must never pass for real generations."""
    if base_url and "api.replicate.com" not in base_url:
        return f"replicate@{urlsplit(base_url).netloc}"
    return "replicate"


def describe_backend(name: str) -> BackendFacts:
    """The facts of the backend called `name`; InputError for an unknown name."""
    if name == "preview":
        return BackendFacts("preview", free=True, records_to_lock=False)
    if name == "replicate":
        return BackendFacts(
            journal_name(os.environ.get("REPLICATE_BASE_URL")),
            free=False,
            records_to_lock=True,
            outputs_kept_for=timedelta(hours=1),  # then Replicate deletes them
        )
    raise _unknown(name)


def made_for_free(journal: str) -> bool:
    """Whether an output journaled under `journal` (a `BackendFacts.name`) was free to make,
    a preview rather than a generation."""
    base = journal.partition("@")[0]
    return base in BACKEND_NAMES and describe_backend(base).free


def _unknown(name: str) -> InputError:
    close = did_you_mean(name, BACKEND_NAMES)
    hint = f"did you mean '{close}'? " if close else ""
    return InputError(f"unknown backend {name!r}; {hint}choose one of: {', '.join(BACKEND_NAMES)}")


def make_backend(
    name: str,
    *,
    previews: Path,
    preview_height: int = 360,
    webhook_url: str | None = None,
    webhook_listen: tuple[str, int] | None = None,
    registry: ModelRegistry | None = None,
) -> Backend:
    """The backend called `name`: `replicate` (token from REPLICATE_API_TOKEN, else
    `MissingTokenError`; webhooks when `webhook_url` is given) or `preview` (renders into
    `previews` at `preview_height` pixels, each model's kind of preview as `registry`, by
    default the bundled models, describes it). An unknown name raises `InputError`."""
    if name == "preview":
        from kling_pipe.backends.preview import PreviewBackend

        return PreviewBackend(previews, height=preview_height, registry=registry)
    if name == "replicate":
        from kling_pipe.backends.replicate import ReplicateBackend

        return ReplicateBackend(webhook_url=webhook_url, webhook_listen=webhook_listen)
    raise _unknown(name)


__all__ = [
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
]
